/*
 * bench-launch: container launch latency and throughput with the default isolation.
 *
 * Latency: from the call to cm_containerizer_launch (cgroups created and limited, clone into
 * new pid + mount namespaces, cgroups joined before exec, /proc mounted, executor started under
 * the namespace's init) to the task's successful execve of /bin/true (the launcher returns on
 * the EOF of a close-on-exec pipe). Beside it, in the same run, the bare floor: a minimal C
 * sequence of cgroup mkdir + clone(new pid, mount, ipc, uts namespaces) + join + exec
 * /bin/true, timed to the same close-on-exec EOF. Latencies are measured twice: back to back
 * (the next launch as soon as the previous task was reaped) and spaced 10 and 100 ms apart, as
 * tasks trickle in. Spacing matters on cgroup v1: the first cgroup.procs write after a pause waits
 * for an RCU grace period (the kernel's cgroup_threadgroup_rwsem), 7-23 ms, which launches in
 * quick succession share. Then launches per second for 200 tasks one after the other and 50
 * at a time (launch, reap, remove the cgroups).
 *
 * Needs root and cgroups; prints a message and exits 0 elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerizer/cgroups.h"
#include "containerizer/containerizer.h"
#include "log.h"

#define N 200
#define PARALLEL 50

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* The floor: one cgroup (pids), a clone into four new namespaces, the child joins the cgroup
 * itself and execs. Returns the latency in ms, or -1. */
static double floor_once(const char *cgdir, int i)
{
    char dir[512], procs[600];
    snprintf(dir, sizeof dir, "%s/floor-%d", cgdir, i);
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    double t0 = now_ms();
    if (mkdir(dir, 0755) != 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    long pid =
        syscall(SYS_clone,
                (unsigned long)SIGCHLD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS,
                NULL, NULL, NULL, NULL);
    if (pid == 0) {
        int fd = open(procs, O_WRONLY);
        if (fd < 0 || write(fd, "0", 1) != 1)
            _exit(126);
        close(fd);
        char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(p[1]);
    char b;
    while (read(p[0], &b, 1) < 0 && errno == EINTR)
        ;
    double t1 = now_ms();
    close(p[0]);
    int st;
    waitpid((pid_t)pid, &st, 0);
    rmdir(dir);
    return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t1 - t0 : -1;
}

struct bench {
    struct cm_containerizer *c;
    char tmp[256];
    int seq;
};

static int launch_true(struct bench *b, char *id, size_t idlen, pid_t *pid)
{
    snprintf(id, idlen, "bench-%d", b->seq++);
    char out[512];
    snprintf(out, sizeof out, "%s/out", b->tmp);
    char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
    struct cm_resources r;
    cm_resources_init(&r);
    cm_resources_parse(&r, "cpus:0.1;mem:32", "*", NULL, 0);
    struct cm_launch_spec spec = {
        .container_id = id,
        .argv = argv,
        .envp = envp,
        .cwd = b->tmp,
        .stdout_path = out,
        .stderr_path = out,
        .resources = &r,
    };
    char why[256];
    int rc = cm_containerizer_launch(b->c, &spec, pid, why, sizeof why);
    cm_resources_cleanup(&r);
    if (rc)
        fprintf(stderr, "launch failed: %s\n", why);
    return rc;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("bench-launch: needs root (cgroups and namespaces); skipped\n");
        return 0;
    }
    cm_log_set_level(CM_LOG_WARNING);
    struct bench b = {.seq = 0};
    snprintf(b.tmp, sizeof b.tmp, "/tmp/cm-bench-launch-XXXXXX");
    if (!mkdtemp(b.tmp))
        return 1;
    char root[64];
    snprintf(root, sizeof root, "cmesos-bench-%d", (int)getpid());
    struct cm_containerizer_options o = {.cgroups_root = root};
    char why[512];
    if (cm_containerizer_new(&o, &b.c, why, sizeof why) != 0) {
        fprintf(stderr, "bench-launch: %s\n", why);
        return 1;
    }
    printf("bench-launch: %s\n", cm_containerizer_describe(b.c));
    if (strstr(cm_containerizer_describe(b.c), "Falling back"))
        printf(
            "bench-launch: (not the full default isolation here; figures are for the fallback)\n");

    /* The floor's cgroup lives in the pids hierarchy (v1) or the cgroup2 root. */
    struct cm_cgroups cg;
    struct cm_cgroups_options co = {.cgroups_root = root};
    char floordir[CM_CGROUPS_PATH_MAX] = "";
    if (cm_cgroups_detect(&co, &cg, why, sizeof why) == 0) {
        enum cm_cgroups_ctl ctl = (cg.usable & CM_CG_BIT(CM_CG_PIDS)) ? CM_CG_PIDS : CM_CG_MEMORY;
        if (cm_cgroups_path(&cg, ctl, NULL, floordir, sizeof floordir) == 0)
            mkdir(floordir, 0755);
    }

    /* Back to back, 10 ms apart, 100 ms apart (fewer: it takes 10 s). */
    static const int spacing_ms[] = {0, 10, 100}, count[] = {N, N, 50};
    for (int k = 0; k < 3; k++) {
        static double floor_ms[N], ours_ms[N];
        size_t nf = 0, no = 0;
        useconds_t pause = (useconds_t)spacing_ms[k] * 1000;
        /* Interleave the two so that both see the same machine state. */
        for (int i = 0; i < count[k]; i++) {
            if (pause)
                usleep(pause);
            if (*floordir) {
                double f = floor_once(floordir, i);
                if (f >= 0)
                    floor_ms[nf++] = f;
            }
            if (pause)
                usleep(pause);
            char id[64];
            pid_t pid;
            double t0 = now_ms();
            if (launch_true(&b, id, sizeof id, &pid) != 0)
                return 1;
            ours_ms[no++] = now_ms() - t0;
            int st;
            waitpid(pid, &st, 0);
            cm_containerizer_reaped(b.c, id);
        }
        double f50 = nf ? pct(floor_ms, nf, 0.5) : 0, f99 = nf ? pct(floor_ms, nf, 0.99) : 0;
        double o50 = pct(ours_ms, no, 0.5), o99 = pct(ours_ms, no, 0.99);
        if (pause)
            printf("launch -> execve latency over %d launches, spaced %d ms apart:\n", count[k],
                   spacing_ms[k]);
        else
            printf("launch -> execve latency over %d launches, back to back:\n", count[k]);
        printf("  floor (mkdir cgroup + clone 4 namespaces + join + exec): p50 %.3f ms  p99 %.3f "
               "ms\n",
               f50, f99);
        printf("  cmesos containerizer (default isolation):             p50 %.3f ms  p99 %.3f "
               "ms\n",
               o50, o99);
        if (f50 > 0)
            printf("  ratio p50: %.2fx the floor (target <= 2.5x)\n", o50 / f50);
    }

    /* Throughput, sequential: launch, wait, clean up. */
    double t0 = now_ms();
    for (int i = 0; i < N; i++) {
        char id[64];
        pid_t pid;
        if (launch_true(&b, id, sizeof id, &pid) != 0)
            return 1;
        int st;
        waitpid(pid, &st, 0);
        cm_containerizer_reaped(b.c, id);
    }
    double seq_s = (now_ms() - t0) / 1e3;
    printf("throughput: %d tasks sequentially in %.2f s = %.0f launches/s\n", N, seq_s, N / seq_s);

    /* Throughput, 50 in flight: as each exits it is reaped and replaced. */
    static char ids[N][64];
    static pid_t pids[N];
    int launched = 0, done = 0, inflight = 0;
    t0 = now_ms();
    while (done < N) {
        while (inflight < PARALLEL && launched < N) {
            if (launch_true(&b, ids[launched], sizeof ids[launched], &pids[launched]) != 0)
                return 1;
            launched++;
            inflight++;
        }
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0)
            break;
        for (int i = 0; i < launched; i++)
            if (pids[i] == p) {
                cm_containerizer_reaped(b.c, ids[i]);
                pids[i] = 0;
                done++;
                inflight--;
                break;
            }
    }
    double par_s = (now_ms() - t0) / 1e3;
    printf("throughput: %d tasks %d at a time in %.2f s = %.0f launches/s\n", N, PARALLEL, par_s,
           N / par_s);

    cm_containerizer_free(b.c);
    static const char *const ctls[] = {"cpu", "cpuacct", "memory", "pids", "freezer"};
    for (size_t i = 0; i < sizeof ctls / sizeof ctls[0]; i++) {
        char d[CM_CGROUPS_PATH_MAX + 128];
        snprintf(d, sizeof d, "%s/%s/%s", cg.root, ctls[i], root);
        rmdir(d);
    }
    if (*floordir)
        rmdir(floordir);
    char out[512];
    snprintf(out, sizeof out, "%s/out", b.tmp);
    unlink(out);
    rmdir(b.tmp);
    return 0;
}
