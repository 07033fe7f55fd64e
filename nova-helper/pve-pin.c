/* pve-pin.c: QEMU thread discovery and sched_setaffinity() pinning. */
#include "pve-pin.h"
#include "kt-error.h"
#include "pve-file.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

/* QEMU's command line runs to a few KiB; a pid file is one number. */
#define CMDLINE_MAX (1024 * 1024)
#define PIDFILE_MAX 64
#define COMM_MAX 64
/* vCPU threads plus QEMU's own: far below this even with 1024 vCPUs. */
#define THREADS_MAX 65536

void
kt_pve_thread_free(KtPveThread *t)
{
    if (!t)
        return;
    g_free(t->comm);
    g_free(t);
}

void
kt_pve_pin_free(KtPvePin *p)
{
    if (!p)
        return;
    kt_cpuset_free(p->cpus);
    g_free(p);
}

int
kt_pve_vcpu_from_comm(const char *comm)
{
    const char *p;
    guint64 n;
    g_autofree char *num = NULL;

    if (!g_str_has_prefix(comm, "CPU ") || !g_str_has_suffix(comm, "/KVM"))
        return -1;
    p = comm + strlen("CPU ");
    num = g_strndup(p, strlen(p) - strlen("/KVM"));
    if (!g_ascii_string_to_unsigned(num, 10, 0, KT_CPUSET_MAX - 1, &n, NULL))
        return -1;
    return (int)n;
}

static gboolean
read_pid_file(const char *path, pid_t *ret_pid, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    guint64 pid;

    if (!kt_pve_file_read(path, PIDFILE_MAX, &text, NULL, &err)) {
        if (g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND))
            g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                        "no QEMU pid file %s: is the VM running?", path);
        else
            g_propagate_error(error, g_steal_pointer(&err));
        return FALSE;
    }
    g_strstrip(text);
    if (!g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT32, &pid, NULL)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: '%s' is not a pid", path, text);
        return FALSE;
    }
    *ret_pid = (pid_t)pid;
    return TRUE;
}

gboolean
kt_pve_find_qemu(const char *run_dir, const char *proc_root, guint vmid,
                 pid_t *ret_pid, GError **error)
{
    g_autofree char *vmid_str = g_strdup_printf("%u.pid", vmid);
    g_autofree char *pidfile = g_build_filename(run_dir, "qemu-server", vmid_str, NULL);
    g_autofree char *cmdline_path = NULL;
    g_autofree char *pid_str = NULL;
    g_autofree char *cmdline = NULL;
    g_autofree char *want = g_strdup_printf("%u", vmid);
    gsize len = 0;
    gsize pos = 0;
    bool prev_id = false;
    pid_t pid;

    if (!read_pid_file(pidfile, &pid, error))
        return FALSE;
    pid_str = g_strdup_printf("%ld", (long)pid);
    cmdline_path = g_build_filename(proc_root, pid_str, "cmdline", NULL);
    if (!kt_pve_file_read(cmdline_path, CMDLINE_MAX, &cmdline, &len, NULL)) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                    "VM %u: QEMU pid %ld from %s is not running", vmid, (long)pid, pidfile);
        return FALSE;
    }
    while (pos < len) {
        const char *arg = cmdline + pos;

        if (prev_id && strcmp(arg, want) == 0) {
            *ret_pid = pid;
            return TRUE;
        }
        prev_id = strcmp(arg, "-id") == 0;
        pos += strlen(arg) + 1;
    }
    g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                "VM %u: pid %ld from %s is not QEMU of this VM (no '-id %u')",
                vmid, (long)pid, pidfile, vmid);
    return FALSE;
}

static gint
cmp_thread(gconstpointer a, gconstpointer b)
{
    const KtPveThread *x = *(KtPveThread *const *)a;
    const KtPveThread *y = *(KtPveThread *const *)b;

    return (x->tid > y->tid) - (x->tid < y->tid);
}

GPtrArray *
kt_pve_list_threads(const char *proc_root, pid_t pid, GError **error)
{
    g_autofree char *pid_str = g_strdup_printf("%ld", (long)pid);
    g_autofree char *task_dir = g_build_filename(proc_root, pid_str, "task", NULL);
    g_autoptr(GPtrArray) threads =
        g_ptr_array_new_with_free_func((GDestroyNotify)kt_pve_thread_free);
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GError) err = NULL;
    const char *name;

    dir = g_dir_open(task_dir, 0, &err);
    if (!dir) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND, "cannot list threads of pid %ld: %s",
                    (long)pid, err->message);
        return NULL;
    }
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *comm_path = g_build_filename(task_dir, name, "comm", NULL);
        g_autofree char *comm = NULL;
        KtPveThread *t;
        guint64 tid;

        if (!g_ascii_string_to_unsigned(name, 10, 1, G_MAXINT32, &tid, NULL))
            continue;
        /* A thread that ended since the listing is simply not there. */
        if (!kt_pve_file_read(comm_path, COMM_MAX, &comm, NULL, NULL))
            continue;
        if (threads->len >= THREADS_MAX) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                        "pid %ld has more than %d threads", (long)pid, THREADS_MAX);
            return NULL;
        }
        g_strchomp(comm);
        t = g_new0(KtPveThread, 1);
        t->tid = (pid_t)tid;
        t->comm = g_steal_pointer(&comm);
        t->vcpu = kt_pve_vcpu_from_comm(t->comm);
        g_ptr_array_add(threads, t);
    }
    g_ptr_array_sort(threads, cmp_thread);
    return g_steal_pointer(&threads);
}

static void
add_pin(GPtrArray *pins, const KtPveThread *t, const KtCpuset *cpus)
{
    KtPvePin *p = g_new0(KtPvePin, 1);

    p->tid = t->tid;
    p->vcpu = t->vcpu;
    p->cpus = kt_cpuset_copy(cpus);
    g_ptr_array_add(pins, p);
}

gboolean
kt_pve_pin_plan(const GPtrArray *threads, const KtPlacement *pl,
                GPtrArray **ret_pins, GError **error)
{
    g_autoptr(GPtrArray) pins = g_ptr_array_new_with_free_func((GDestroyNotify)kt_pve_pin_free);
    g_autoptr(KtCpuset) emulator = kt_cpuset_new();
    guint i;

    if (pl->cpu_policy == KT_CPU_POLICY_DEDICATED) {
        for (i = 0; i < pl->nvcpus && pl->vcpu_pins; i++) {
            if (pl->vcpu_pins[i])
                kt_cpuset_union(emulator, pl->vcpu_pins[i]);
        }
    } else if (pl->cpu_policy == KT_CPU_POLICY_SHARED && pl->shared_cpus) {
        kt_cpuset_union(emulator, pl->shared_cpus);
    } else {
        *ret_pins = g_steal_pointer(&pins);
        return TRUE;
    }
    if (pl->emulator_cpus && !kt_cpuset_is_empty(pl->emulator_cpus)) {
        g_clear_pointer(&emulator, kt_cpuset_free);
        emulator = kt_cpuset_copy(pl->emulator_cpus);
    }
    if (kt_cpuset_is_empty(emulator)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "the booking has no CPUs");
        return FALSE;
    }
    /* Without debug-threads=on every QEMU thread is called "kvm": pinning
     * them all to the emulator set would starve the guest. */
    for (i = 0; i < threads->len; i++) {
        const KtPveThread *t = g_ptr_array_index((GPtrArray *)threads, i);

        if (t->vcpu >= 0)
            break;
    }
    if (i == threads->len && pl->cpu_policy == KT_CPU_POLICY_DEDICATED) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                    "no thread named 'CPU n/KVM' among %u: is QEMU running "
                    "without -name ...,debug-threads=on?", threads->len);
        return FALSE;
    }

    for (i = 0; i < threads->len; i++) {
        const KtPveThread *t = g_ptr_array_index((GPtrArray *)threads, i);

        if (t->vcpu < 0) {
            add_pin(pins, t, emulator);
        } else if (pl->cpu_policy == KT_CPU_POLICY_SHARED) {
            add_pin(pins, t, pl->shared_cpus);
        } else if ((guint)t->vcpu < pl->nvcpus && pl->vcpu_pins &&
                   pl->vcpu_pins[t->vcpu] && !kt_cpuset_is_empty(pl->vcpu_pins[t->vcpu])) {
            add_pin(pins, t, pl->vcpu_pins[t->vcpu]);
        } else {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "thread %ld '%s': vCPU %d has no booked CPU (%u booked)",
                        (long)t->tid, t->comm, t->vcpu, pl->nvcpus);
            return FALSE;
        }
    }
    *ret_pins = g_steal_pointer(&pins);
    return TRUE;
}

gboolean
kt_pve_pin_apply(const GPtrArray *pins, GError **error)
{
    guint i;

    for (i = 0; i < pins->len; i++) {
        const KtPvePin *p = g_ptr_array_index((GPtrArray *)pins, i);
        int last = kt_cpuset_last(p->cpus);
        cpu_set_t *mask;
        size_t size;
        int cpu;
        int r;

        if (last < 0)
            continue;
        mask = CPU_ALLOC(last + 1);
        size = CPU_ALLOC_SIZE(last + 1);
        CPU_ZERO_S(size, mask);
        for (cpu = kt_cpuset_first(p->cpus); cpu >= 0; cpu = kt_cpuset_next(p->cpus, cpu + 1))
            CPU_SET_S(cpu, size, mask);
        r = sched_setaffinity(p->tid, size, mask);
        if (r < 0)
            r = -errno;
        CPU_FREE(mask);
        if (r == -ESRCH)
            continue;
        if (r < 0) {
            g_autofree char *cpus = kt_cpuset_format(p->cpus);

            g_set_error(error, KT_ERROR, KT_ERROR_IO,
                        "cannot pin thread %ld to CPUs %s: %s",
                        (long)p->tid, cpus, g_strerror(-r));
            return FALSE;
        }
    }
    return TRUE;
}
