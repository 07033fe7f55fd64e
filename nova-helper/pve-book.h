/* pve-book.h: bookings of Proxmox VMs when no kvmtuned keeps them: a state
 * directory (default /var/lib/kvmtune/pve) with one file per booked VM,
 * "<vmid>.xml", holding its KtPlacement as <kvmtune:placement> (the same
 * format libvirt domains carry in their metadata).  Each file is replaced
 * atomically; the set of files is the ledger the next placement starts
 * from.  Callers hold kt_pve_book_lock() around load, place and save so
 * two VMs starting at once cannot book the same CPU. */
#pragma once

#include <glib.h>

#include "ledger.h"
#include "placement.h"

/* Bound on one booking file. */
#define KT_PVE_BOOK_MAX (256 * 1024)
/* Bound on the number of booked VMs read from the directory. */
#define KT_PVE_BOOK_MAX_VMS 100000

/* Exclusive lock on "<dir>/.lock" (the directory is created 0700 if
 * missing).  Returns the fd to close, or -1 + @error. */
int kt_pve_book_lock(const char *dir, GError **error);

/* Every booking: vmid (GUINT_TO_POINTER) -> KtPlacement*.  A file that
 * does not parse is an error naming it: a booking is never dropped
 * silently.  A missing directory is an empty set. */
GHashTable *kt_pve_book_load_all(const char *dir, GError **error);

/* The booking of @vmid; NULL + KT_ERROR_NOT_FOUND when it has none. */
KtPlacement *kt_pve_book_load(const char *dir, guint vmid, GError **error);

gboolean kt_pve_book_save(const char *dir, guint vmid, const KtPlacement *pl,
                          GError **error);
/* Removing a booking that does not exist is not an error. */
gboolean kt_pve_book_remove(const char *dir, guint vmid, GError **error);

/* A ledger of @bookings (from kt_pve_book_load_all) keyed by
 * kt_pve_vm_booking_id(), all committed. */
KtLedger *kt_pve_book_ledger(GHashTable *bookings, GError **error);
