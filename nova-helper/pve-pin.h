/* pve-pin.h: pinning a running Proxmox VM's QEMU threads to its booking.
 *
 * QEMU names its vCPU threads "CPU <n>/KVM" (Proxmox starts it with
 * -name ...,debug-threads=on); every other thread (main loop, I/O, workers,
 * SPICE, vhost) is an emulator thread.  The plan is pure; reading /proc and
 * sched_setaffinity() are the edge. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "placement.h"

typedef struct {
    pid_t tid;
    char *comm;           /* /proc/<pid>/task/<tid>/comm, without '\n' */
    int vcpu;             /* n of "CPU n/KVM", -1 for other threads */
} KtPveThread;

typedef struct {
    pid_t tid;
    int vcpu;             /* -1: emulator thread */
    KtCpuset *cpus;       /* the CPUs it gets */
} KtPvePin;

void kt_pve_thread_free(KtPveThread *t);
void kt_pve_pin_free(KtPvePin *p);

/* n of a "CPU n/KVM" thread name, -1 for anything else. */
int kt_pve_vcpu_from_comm(const char *comm);

/* Reads "<run_dir>/qemu-server/<vmid>.pid" and checks that the process is
 * QEMU for that VM (its command line has "-id <vmid>"), so a stale pid
 * file never makes us pin a stranger.  @proc_root is "/proc" normally. */
gboolean kt_pve_find_qemu(const char *run_dir, const char *proc_root, guint vmid,
                          pid_t *ret_pid, GError **error);

/* The threads of @pid (KtPveThread*), sorted by tid. */
GPtrArray *kt_pve_list_threads(const char *proc_root, pid_t pid, GError **error);

/* Pure: which thread goes where.  Dedicated: vCPU n to vcpu_pins[n], other
 * threads to the emulator set (else the union of the pins).  Shared: vCPUs
 * to the shared pool, other threads to the emulator set (else the pool).
 * Returns KtPvePin*; empty when the placement leaves CPUs alone.  FALSE +
 * @error when a vCPU thread has no booked CPU (KT_ERROR_INVALID) or, for a
 * dedicated booking, no thread is a vCPU thread (KT_ERROR_NOT_FOUND). */
gboolean kt_pve_pin_plan(const GPtrArray *threads, const KtPlacement *pl,
                         GPtrArray **ret_pins, GError **error);

/* sched_setaffinity() for each pin.  A thread that exited meanwhile is
 * skipped; any other failure is an error naming the thread. */
gboolean kt_pve_pin_apply(const GPtrArray *pins, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPveThread, kt_pve_thread_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPvePin, kt_pve_pin_free)
