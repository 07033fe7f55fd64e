/* fake-qemu: stands in for a Proxmox QEMU process in the pinning tests.
 *
 *   fake-qemu -id VMID -pidfile PATH [-vcpus N]
 *
 * Names its main thread "kvm", starts N vCPU threads named "CPU n/KVM"
 * and a few others the way QEMU does ("call_rcu", "IO mon_iothread",
 * "vnc_worker"), writes its pid file atomically, prints "ready" on stdout
 * and waits for a signal.  The "-id VMID" argument is what the hook looks
 * for before it pins anything. */
#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_THREADS 64

static pthread_barrier_t named;

static void *
thread_main(void *data)
{
    char *name = data;

    prctl(PR_SET_NAME, name, 0, 0, 0);
    pthread_barrier_wait(&named);
    for (;;)
        pause();
    return NULL;
}

int
main(int argc, char **argv)
{
    static const char *const others[] = { "call_rcu", "IO mon_iothread", "vnc_worker" };
    const char *pidfile = NULL;
    const char *vmid = NULL;
    guint64 nvcpus = 2;
    guint nthreads;
    g_autofree char *tmp = NULL;
    g_autofree char *pid = NULL;
    pthread_t tids[MAX_THREADS];
    sigset_t set;
    guint i;
    int sig;

    for (i = 1; i + 1 < (guint)argc; i += 2) {
        if (strcmp(argv[i], "-id") == 0)
            vmid = argv[i + 1];
        else if (strcmp(argv[i], "-pidfile") == 0)
            pidfile = argv[i + 1];
        else if (strcmp(argv[i], "-vcpus") == 0 &&
                 g_ascii_string_to_unsigned(argv[i + 1], 10, 1, 32, &nvcpus, NULL))
            continue;
    }
    if (!vmid || !pidfile) {
        fprintf(stderr, "usage: fake-qemu -id VMID -pidfile PATH [-vcpus N]\n");
        return 2;
    }

    /* Signals go to the main thread only, which waits for them below. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    prctl(PR_SET_NAME, "kvm", 0, 0, 0);
    nthreads = (guint)nvcpus + G_N_ELEMENTS(others);
    pthread_barrier_init(&named, NULL, nthreads + 1);
    for (i = 0; i < nthreads; i++) {
        char *name = i < nvcpus ? g_strdup_printf("CPU %u/KVM", i)
                                : g_strdup(others[i - nvcpus]);

        if (pthread_create(&tids[i], NULL, thread_main, name) != 0) {
            perror("pthread_create");
            return 2;
        }
    }
    pthread_barrier_wait(&named);

    pid = g_strdup_printf("%ld\n", (long)getpid());
    tmp = g_strdup_printf("%s.tmp", pidfile);
    if (!g_file_set_contents(tmp, pid, -1, NULL) || rename(tmp, pidfile) != 0) {
        perror(pidfile);
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    sigwait(&set, &sig);
    unlink(pidfile);
    return 0;
}
