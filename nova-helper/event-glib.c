/* event-glib.c: libvirt's client event loop on GLib (see event-glib.h).
 *
 * Contract libvirt expects (virEventRegisterImpl): handles and timers may
 * be added, updated and removed from any thread; callbacks run on the loop
 * thread; a free callback never runs inside the remove call (libvirt
 * removes while holding locks the free callback takes), so it is deferred
 * to an idle on the loop.  A timer of interval 0 fires on every iteration
 * until changed, one of N ms every N ms, one of -1 never. */
#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "event-glib.h"

typedef struct {
    GSource source;
    int watch;
    int fd;
    int events;                /* VIR_EVENT_HANDLE_* asked for; under lock */
    gpointer tag;              /* g_source_add_unix_fd's GPollFD */
    virEventHandleCallback cb;
    void *opaque;
    virFreeCallback ff;
} Handle;

typedef struct {
    int id;
    int interval;              /* ms; -1 off */
    gint64 due;                /* monotonic us */
    virEventTimeoutCallback cb;
    void *opaque;
    virFreeCallback ff;
} Timer;

typedef struct {
    void *opaque;
    virFreeCallback ff;
} Release;

static GMutex lock;
static GMainContext *ctx;
static GHashTable *handles;     /* watch -> Handle* (a source reference) */
static GPtrArray *timers;       /* Timer*, live ones only */
static int next_watch = 1;
static int next_timer = 1;

/* An update made on the loop thread is seen by the next prepare; one made
 * elsewhere must interrupt a poll that may already be sleeping. */
static void
wake_if_foreign(void)
{
    if (!g_main_context_is_owner(ctx))
        g_main_context_wakeup(ctx);
}

static gboolean
release_idle(gpointer data)
{
    Release *r = data;

    if (r->ff)
        r->ff(r->opaque);
    g_free(r);
    return G_SOURCE_REMOVE;
}

static void
release_later(void *opaque, virFreeCallback ff)
{
    Release *r;
    GSource *idle;

    if (!ff)
        return;
    r = g_new0(Release, 1);
    r->opaque = opaque;
    r->ff = ff;
    idle = g_idle_source_new();
    g_source_set_callback(idle, release_idle, r, NULL);
    g_source_attach(idle, ctx);
    g_source_unref(idle);
}

/* ---- handles ------------------------------------------------------------- */

static GIOCondition
events_to_cond(int events)
{
    GIOCondition c = 0;

    if (events & VIR_EVENT_HANDLE_READABLE)
        c |= G_IO_IN;
    if (events & VIR_EVENT_HANDLE_WRITABLE)
        c |= G_IO_OUT;
    /* poll reports these whatever was asked; ask so GLib passes them on */
    if (events)
        c |= G_IO_ERR | G_IO_HUP;
    return c;
}

static int
cond_to_events(GIOCondition c, int wanted)
{
    int e = 0;

    if (c & G_IO_IN)
        e |= VIR_EVENT_HANDLE_READABLE;
    if (c & G_IO_OUT)
        e |= VIR_EVENT_HANDLE_WRITABLE;
    if (c & (G_IO_ERR | G_IO_NVAL))
        e |= VIR_EVENT_HANDLE_ERROR;
    if (c & G_IO_HUP)
        e |= VIR_EVENT_HANDLE_HANGUP;
    /* readable/writable only when asked: an update may have raced the poll */
    return e & (wanted | VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP);
}

static void timers_run(gint64 now, bool immediate_only);

static gboolean
handle_dispatch(GSource *source, GSourceFunc unused, gpointer data)
{
    Handle *h = (Handle *)source;
    GIOCondition got = 0;
    int wanted;

    g_mutex_lock(&lock);
    wanted = h->events;
    if (h->tag)
        got = g_source_query_unix_fd(source, h->tag);
    g_mutex_unlock(&lock);
    if (!wanted || !cond_to_events(got, wanted))
        return G_SOURCE_CONTINUE;
    h->cb(h->watch, h->fd, cond_to_events(got, wanted), h->opaque);
    /* A message read here usually arms a timer of interval 0 (libvirt
     * flushes queued events from one): fire it now rather than in an
     * iteration of its own, which would cost another poll. */
    timers_run(g_get_monotonic_time(), true);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs handle_funcs = {
    .dispatch = handle_dispatch,
};

/* Under lock.  Events 0 takes the fd out of the poll set: left in, a hung
 * up socket would make every poll return at once while libvirt does not
 * want to hear about it (its RPC calls from other threads set 0 while they
 * read the socket themselves). */
static void
handle_set_events(Handle *h, int events)
{
    GIOCondition cond = events_to_cond(events);

    h->events = events;
    if (!events) {
        if (h->tag)
            g_source_remove_unix_fd((GSource *)h, h->tag);
        h->tag = NULL;
    } else if (!h->tag) {
        h->tag = g_source_add_unix_fd((GSource *)h, h->fd, cond);
    } else if (g_main_context_is_owner(ctx)) {
        /* GLib copies each GPollFD's events into the poll set at every
         * iteration, and on the loop thread no poll is running that
         * g_source_modify_unix_fd's eventfd write would need to interrupt */
        ((GPollFD *)h->tag)->events = (gushort)cond;
    } else {
        g_source_modify_unix_fd((GSource *)h, h->tag, cond);
    }
}

static int
handle_add(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff)
{
    Handle *h = (Handle *)g_source_new(&handle_funcs, sizeof(Handle));
    int watch;

    g_source_set_name((GSource *)h, "libvirt fd");
    /* a recursive source is not blocked and unblocked around its dispatch,
     * which in GLib means taking its fd out of the poll set and back, and
     * waking the loop each time */
    g_source_set_can_recurse((GSource *)h, TRUE);
    h->fd = fd;
    h->cb = cb;
    h->opaque = opaque;
    h->ff = ff;
    g_mutex_lock(&lock);
    handle_set_events(h, events);
    watch = h->watch = next_watch++;
    g_hash_table_insert(handles, GINT_TO_POINTER(watch), h);
    g_mutex_unlock(&lock);
    g_source_attach((GSource *)h, ctx);
    return watch;
}

static void
handle_update(int watch, int events)
{
    Handle *h;

    g_mutex_lock(&lock);
    h = g_hash_table_lookup(handles, GINT_TO_POINTER(watch));
    if (h && h->events != events)
        handle_set_events(h, events);
    g_mutex_unlock(&lock);
}

static int
handle_remove(int watch)
{
    Handle *h;

    g_mutex_lock(&lock);
    h = g_hash_table_lookup(handles, GINT_TO_POINTER(watch));
    if (h)
        g_hash_table_steal(handles, GINT_TO_POINTER(watch));
    g_mutex_unlock(&lock);
    if (!h)
        return -1;
    g_source_destroy((GSource *)h);
    release_later(h->opaque, h->ff);
    g_source_unref((GSource *)h);
    return 0;
}

/* ---- timers ---------------------------------------------------------------- */

static Timer *
timer_find(int id)
{
    guint i;

    for (i = 0; i < timers->len; i++) {
        Timer *t = g_ptr_array_index(timers, i);

        if (t->id == id)
            return t;
    }
    return NULL;
}

/* Earliest due time of the enabled timers, or -1.  Under lock. */
static gint64
timers_next_due(void)
{
    gint64 next = -1;
    guint i;

    for (i = 0; i < timers->len; i++) {
        Timer *t = g_ptr_array_index(timers, i);

        if (t->interval >= 0 && (next < 0 || t->due < next))
            next = t->due;
    }
    return next;
}

static gboolean
timer_prepare(GSource *source, gint *timeout)
{
    gint64 next;
    gint64 now;

    g_mutex_lock(&lock);
    next = timers_next_due();
    g_mutex_unlock(&lock);
    if (next < 0) {
        *timeout = -1;
        return FALSE;
    }
    now = g_source_get_time(source);
    if (next <= now) {
        *timeout = 0;
        return TRUE;
    }
    *timeout = (gint)MIN((next - now + 999) / 1000, G_MAXINT);
    return FALSE;
}

static gboolean
timer_check(GSource *source)
{
    gint64 next;

    g_mutex_lock(&lock);
    next = timers_next_due();
    g_mutex_unlock(&lock);
    return next >= 0 && next <= g_source_get_time(source);
}

/* Due at @now; with @immediate_only, of interval 0 (due at once by
 * definition) whatever @now says. */
static bool
timer_due(const Timer *t, gint64 now, bool immediate_only)
{
    return immediate_only ? t->interval == 0 : t->interval >= 0 && t->due <= now;
}

/* Fires the timers timer_due() names.  Called after every handle dispatch,
 * so the common case (nothing due) allocates nothing. */
static void
timers_run(gint64 now, bool immediate_only)
{
    g_autoptr(GArray) due = NULL;
    guint i;

    g_mutex_lock(&lock);
    for (i = 0; i < timers->len; i++) {
        Timer *t = g_ptr_array_index(timers, i);

        if (!timer_due(t, now, immediate_only))
            continue;
        if (!due)
            due = g_array_new(FALSE, FALSE, sizeof(int));
        g_array_append_val(due, t->id);
    }
    g_mutex_unlock(&lock);
    if (!due)
        return;
    /* A callback may update or remove any timer, this one included: look
     * each up again rather than hold pointers across the calls. */
    for (i = 0; i < due->len; i++) {
        int id = g_array_index(due, int, i);
        virEventTimeoutCallback cb = NULL;
        void *opaque = NULL;
        Timer *t;

        g_mutex_lock(&lock);
        t = timer_find(id);
        if (t && timer_due(t, now, immediate_only)) {
            t->due = now + (gint64)t->interval * 1000;
            cb = t->cb;
            opaque = t->opaque;
        }
        g_mutex_unlock(&lock);
        if (cb)
            cb(id, opaque);
    }
}

static gboolean
timer_dispatch(GSource *source, GSourceFunc unused, gpointer data)
{
    timers_run(g_source_get_time(source), false);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
    .prepare = timer_prepare,
    .check = timer_check,
    .dispatch = timer_dispatch,
};

static int
timeout_add(int interval, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
    Timer *t = g_new0(Timer, 1);
    int id;

    t->interval = interval;
    t->due = g_get_monotonic_time() + (gint64)MAX(interval, 0) * 1000;
    t->cb = cb;
    t->opaque = opaque;
    t->ff = ff;
    g_mutex_lock(&lock);
    id = t->id = next_timer++;
    g_ptr_array_add(timers, t);
    g_mutex_unlock(&lock);
    if (interval >= 0)
        wake_if_foreign();
    return id;
}

static void
timeout_update(int id, int interval)
{
    Timer *t;
    bool enabled = false;

    g_mutex_lock(&lock);
    t = timer_find(id);
    if (t) {
        t->interval = interval;
        t->due = g_get_monotonic_time() + (gint64)MAX(interval, 0) * 1000;
        enabled = interval >= 0;
    }
    g_mutex_unlock(&lock);
    if (enabled)
        wake_if_foreign();
}

static int
timeout_remove(int id)
{
    Timer *t;

    g_mutex_lock(&lock);
    t = timer_find(id);
    if (t)
        g_ptr_array_remove_fast(timers, t);
    g_mutex_unlock(&lock);
    if (!t)
        return -1;
    release_later(t->opaque, t->ff);
    g_free(t);
    return 0;
}

static gpointer
register_once(gpointer unused)
{
    /* kept, like the registration itself, for the life of the process */
    GSource *timer_source = g_source_new(&timer_funcs, sizeof(GSource));

    ctx = g_main_context_ref(g_main_context_default());
    handles = g_hash_table_new(g_direct_hash, g_direct_equal);
    timers = g_ptr_array_new();
    g_source_set_name(timer_source, "libvirt timers");
    g_source_set_can_recurse(timer_source, TRUE);
    g_source_attach(timer_source, ctx);
    virEventRegisterImpl(handle_add, handle_update, handle_remove,
                         timeout_add, timeout_update, timeout_remove);
    return NULL;
}

void
kt_event_glib_register(void)
{
    static GOnce once = G_ONCE_INIT;

    g_once(&once, register_once, NULL);
}
