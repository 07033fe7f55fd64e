/* engine.h: KtEngine, the one place that turns a domain XML into a decision:
 * match (policy) -> allocate (inventory minus ledger) -> apply (libvirt-xml),
 * with the booking kept pending until the caller knows libvirt's answer.
 * Used by kvmtuned (proxy), `kvmtune rewrite/explain/simulate` and the hook's
 * place-incoming path.  Pure apart from the objects it is given. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "inventory.h"
#include "policy.h"
#include "placement.h"

typedef struct _KtEngine KtEngine;

typedef enum {
    KT_VERDICT_PASS,        /* no profile matched (or profile "none"): forward untouched */
    KT_VERDICT_REWRITE,     /* *ret_xml holds the rewritten XML; booking pending */
    KT_VERDICT_LAST
} KtVerdict;

/* Takes references: @inv and @policy are not copied and must outlive the engine. */
KtEngine *kt_engine_new(const KtInventory *inv, const KtPolicy *policy);
void kt_engine_free(KtEngine *engine);

/* Decide for one definition.  On REWRITE the booking is pending under
 * *ret_uuid until kt_engine_commit/kt_engine_abort.  A redefinition of a
 * UUID that holds a booking reuses it (same flavor) or re-places (resize).
 * FALSE + @error (KT_ERROR_NO_CAPACITY, KT_ERROR_PARSE, ...) is a refusal:
 * the message names the resource and the free amounts per node. */
gboolean kt_engine_rewrite(KtEngine *engine, const char *xml, gsize len,
                           KtVerdict *ret_verdict, char **ret_xml, gsize *ret_len,
                           char **ret_uuid, GError **error);
void kt_engine_commit(KtEngine *engine, const char *uuid);
void kt_engine_abort(KtEngine *engine, const char *uuid);
/* Undefine / transient stop: forget the booking. */
void kt_engine_release(KtEngine *engine, const char *uuid);

/* Ledger rebuild: books the <kvmtune:placement> of an existing domain (and,
 * for domains without one, the CPUs Nova pinned itself).  Returns FALSE with
 * @error when the XML is unusable or double-books something. */
gboolean kt_engine_load_domain(KtEngine *engine, const char *xml, gsize len, GError **error);
/* Drops all bookings (before a rebuild). */
void kt_engine_reset(KtEngine *engine);

/* Human explanation of what kt_engine_rewrite would do (dry run, nothing
 * booked).  Caller frees. */
char *kt_engine_explain(KtEngine *engine, const char *xml, gsize len, GError **error);

/* Bookings per node, free capacity, pending count: text or JSON. */
char *kt_engine_status_text(KtEngine *engine);
char *kt_engine_status_json(KtEngine *engine);

/* Counters since the engine was made (status, metrics). */
typedef struct {
    guint64 rewrites;       /* REWRITE verdicts */
    guint64 reused;         /* ... that kept an existing booking */
    guint64 passes;         /* PASS verdicts */
    guint64 refusals;       /* FALSE returns of kt_engine_rewrite */
    guint64 fallbacks;      /* best-effort parts that fell back */
} KtEngineCounters;

const KtEngineCounters *kt_engine_counters(const KtEngine *engine);
/* The bookings, read-only (tests, simulate). */
struct _KtLedger;
const struct _KtLedger *kt_engine_ledger(const KtEngine *engine);
/* After a SIGHUP reload: decide with the new objects from now on; bookings
 * stay as they are (running domains are not moved). */
void kt_engine_set_policy(KtEngine *engine, const KtInventory *inv, const KtPolicy *policy);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtEngine, kt_engine_free)
