/* ledger.h: KtLedger, the bookings of this host keyed by domain UUID.
 *
 * A booking holds the committed placement (what libvirt has) and, while a
 * define is in flight, a pending one.  Both count as used, so aborting a
 * resize can always fall back to the committed placement.  The ledger keeps
 * running totals (CPUs, memory, pages, shared vCPUs per node, VFs, mdevs,
 * GPUs) so a query costs the same with 10 or 10,000 bookings.
 *
 * Invariant: no CPU, VF, mdev uuid, GPU or foreign PCI device is held by two
 * bookings; a booking that would break it is refused.  Counted resources
 * (memory, pages, shared vCPUs) are not capped here: capacity is the
 * allocator's business, and a rebuild must book what libvirt already has.
 * Pure: no I/O. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "placement.h"

#define KT_LEDGER_MAX_NODES 64

typedef struct _KtLedger KtLedger;

typedef struct {
    char *uuid;
    char *signature;            /* flavor/size fingerprint; a change re-places */
    KtPlacement *committed;     /* NULL until the first commit */
    KtPlacement *pending;       /* NULL when no define is in flight */
    GPtrArray *foreign_pci;     /* char*: devices the XML brought itself */
} KtBooking;

KtLedger *kt_ledger_new(void);
void kt_ledger_free(KtLedger *ledger);
void kt_ledger_reset(KtLedger *ledger);      /* drops every booking */

/* Books @pl for @uuid, pending or committed (replacing the previous one of
 * that kind).  @foreign_pci (may be NULL) lists PCI devices the domain holds
 * outside kvmtune's placement.  FALSE + KT_ERROR_INVALID naming the resource
 * and its holder when something is already booked by another UUID; the
 * ledger is unchanged then.  @pl is copied. */
gboolean kt_ledger_book(KtLedger *ledger, const char *uuid, const char *signature,
                        const KtPlacement *pl, const GPtrArray *foreign_pci,
                        bool pending, GError **error);
/* Pending becomes committed.  No-op without a pending booking. */
void kt_ledger_commit(KtLedger *ledger, const char *uuid);
/* Drops the pending booking; a UUID with nothing committed disappears. */
void kt_ledger_abort(KtLedger *ledger, const char *uuid);
/* Drops the whole booking.  Returns FALSE when @uuid held nothing. */
bool kt_ledger_release(KtLedger *ledger, const char *uuid);

/* While suspended, a booking's resources count as free (re-placing a domain
 * may reuse its own CPUs); resume restores them.  Nesting is not allowed. */
void kt_ledger_suspend(KtLedger *ledger, const char *uuid);
void kt_ledger_resume(KtLedger *ledger, const char *uuid);

const KtBooking *kt_ledger_lookup(const KtLedger *ledger, const char *uuid);
guint kt_ledger_size(const KtLedger *ledger);
guint kt_ledger_pending_count(const KtLedger *ledger);
/* Booked UUIDs in sorted order; free the container only (g_ptr_array_unref). */
GPtrArray *kt_ledger_uuids(const KtLedger *ledger);

/* Running totals. */
const KtCpuset *kt_ledger_booked_cpus(const KtLedger *ledger);
guint64 kt_ledger_node_memory(const KtLedger *ledger, guint node);  /* KiB, not hugepage-backed */
guint kt_ledger_node_shared_vcpus(const KtLedger *ledger, guint node);
guint64 kt_ledger_node_pages(const KtLedger *ledger, guint node, guint64 size_kib);
/* Holder UUID of a VF, GPU or foreign PCI device / an mdev uuid, or NULL. */
const char *kt_ledger_pci_holder(const KtLedger *ledger, const char *address);
const char *kt_ledger_mdev_holder(const KtLedger *ledger, const char *mdev_uuid);
/* mdev instances of @type booked on @parent; any type when @type is NULL. */
guint kt_ledger_mdev_count(const KtLedger *ledger, const char *parent, const char *type);
/* The holder of booked CPU @cpu, or NULL (slow: for messages). */
const char *kt_ledger_cpu_holder(const KtLedger *ledger, guint cpu);

/* Same bookings (uuid, committed and pending placements, foreign devices)
 * and same totals. */
bool kt_ledger_equal(const KtLedger *a, const KtLedger *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtLedger, kt_ledger_free)
