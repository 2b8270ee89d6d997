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
 * With --async[=MB], instead: the agent's mode (a libevent loop, asynchronous launches) from a
 * process holding a grown heap (MB of touched heap, default 64), one launch at a time, comparing a
 * clone of the caller, the launch helper (spawner.h) and the helper with the cgroup pool
 * (cgpool.h): the loop's time in the call, launch -> cgroups joined (what the agent's launch queue
 * waits for), launch -> exec, and CPU per launch of the caller, its helpers and the containers.
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

#include <sys/resource.h>

#include <event2/event.h>

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

/* ---- the agent's mode: a loop, asynchronous launches ---- */

#define ASYNC_N 150

struct async_run {
    struct event_base *base;
    int joined, launched, destroyed, launched_rc;
};

static void on_joined(void *arg, const char *id)
{
    (void)id;
    ((struct async_run *)arg)->joined = 1;
}

static void on_launched(void *arg, const char *id, pid_t pid, int rc, const char *why)
{
    (void)id;
    (void)pid;
    (void)why;
    struct async_run *r = arg;
    r->launched = 1;
    r->launched_rc = rc;
}

static void on_destroyed(void *arg, const char *id, int rc, const char *why)
{
    (void)id;
    (void)rc;
    (void)why;
    ((struct async_run *)arg)->destroyed++;
}

static void spin(struct async_run *r, const int *flag, int want)
{
    for (int i = 0; i < 5000 && *flag < want; i++) {
        struct timeval tv = {0, 1000};
        event_base_loopexit(r->base, &tv);
        event_base_dispatch(r->base);
    }
}

static double cpu_ms(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* CPU of this process's live children (the launch helper, the cgroup janitor). */
static double live_children_ms(void)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    double sum = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        char sp[64], sb[1024];
        snprintf(sp, sizeof sp, "/proc/%s/stat", t);
        FILE *g = fopen(sp, "r");
        if (!g)
            continue;
        size_t m = fread(sb, 1, sizeof sb - 1, g);
        fclose(g);
        sb[m] = '\0';
        char *rp = strrchr(sb, ')');
        unsigned long long ut, st;
        if (rp &&
            sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            sum += (double)(ut + st) * 1e3 / (double)sysconf(_SC_CLK_TCK);
    }
    return sum;
}

/* One variant: ASYNC_N launches of /bin/true one after the other, as the agent's loop does
 * them. Prints the loop's time in the call, launch -> joined (what the launch queue waits
 * for), launch -> exec, and CPU per launch of this process, of its live helpers and of the
 * reaped containers. */
static void async_variant(const char *name, const char *root, const char *tmp, bool helper,
                          int pool)
{
    struct async_run r = {.base = event_base_new()};
    struct cm_containerizer_options o = {
        .cgroups_root = root,
        .base = r.base,
        .launched = on_launched,
        .joined = on_joined,
        .destroyed = on_destroyed,
        .cb_arg = &r,
        .no_launch_helper = !helper,
        .cgroup_pool = pool,
    };
    char rt[512];
    snprintf(rt, sizeof rt, "%s/runtime-%s", tmp, name);
    o.runtime_dir = rt;
    struct cm_containerizer *c = NULL;
    char why[512];
    if (cm_containerizer_new(&o, &c, why, sizeof why) != 0) {
        fprintf(stderr, "bench-launch: %s\n", why);
        event_base_free(r.base);
        return;
    }
    for (int i = 0; i < 300 && cm_containerizer_pool_ready(c) < (size_t)(pool > 0 ? pool : 0);
         i++) {
        int never = 0;
        spin(&r, &never, 1);
    }
    static double call[ASYNC_N], joined[ASYNC_N], exec[ASYNC_N];
    double self0 = cpu_ms(RUSAGE_SELF), kids0 = cpu_ms(RUSAGE_CHILDREN), live0 = live_children_ms();
    int n = 0;
    for (int i = 0; i < ASYNC_N; i++) {
        char id[64], out[600];
        snprintf(id, sizeof id, "async-%s-%d", name, i);
        snprintf(out, sizeof out, "%s/out", tmp);
        char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
        struct cm_resources res;
        cm_resources_init(&res);
        cm_resources_parse(&res, "cpus:0.1;mem:32", "*", NULL, 0);
        struct cm_launch_spec spec = {.container_id = id,
                                      .argv = argv,
                                      .envp = envp,
                                      .cwd = tmp,
                                      .stdout_path = out,
                                      .stderr_path = out,
                                      .resources = &res};
        r.joined = r.launched = 0;
        pid_t pid;
        double t0 = now_ms();
        int rc = cm_containerizer_launch(c, &spec, &pid, why, sizeof why);
        double t1 = now_ms();
        cm_resources_cleanup(&res);
        if (rc) {
            fprintf(stderr, "launch failed: %s\n", why);
            break;
        }
        spin(&r, &r.joined, 1);
        double t2 = now_ms();
        spin(&r, &r.launched, 1);
        double t3 = now_ms();
        int st;
        waitpid(pid, &st, 0);
        int want = r.destroyed + 1;
        cm_containerizer_reaped(c, id);
        spin(&r, &r.destroyed, want);
        call[n] = t1 - t0;
        joined[n] = t2 - t0;
        exec[n] = t3 - t0;
        n++;
    }
    double self = cpu_ms(RUSAGE_SELF) - self0, kids = cpu_ms(RUSAGE_CHILDREN) - kids0,
           live = live_children_ms() - live0;
    if (n > 0)
        printf("  %-22s in the call p50 %.3f ms | -> joined p50 %.3f p90 %.3f ms | -> exec p50 "
               "%.3f ms | CPU per launch: caller %.3f, its helpers %.3f, containers %.3f ms\n",
               name, pct(call, (size_t)n, 0.5), pct(joined, (size_t)n, 0.5),
               pct(joined, (size_t)n, 0.9), pct(exec, (size_t)n, 0.5), self / n, live / n,
               kids / n);
    cm_containerizer_free(c);
    event_base_free(r.base);
}

static void async_section(const char *root, const char *tmp, int grown_mb)
{
    /* The agent has grown by the time it launches: give this process a heap to copy. */
    size_t grown = (size_t)grown_mb << 20;
    char *heap = malloc(grown);
    if (heap)
        for (size_t i = 0; i < grown; i += 4096)
            heap[i] = (char)i;
    printf("agent mode (a loop; this process holds %d MB of touched heap, as a grown agent): "
           "%d launches of /bin/true one at a time\n",
           grown_mb, ASYNC_N);
    for (int round = 0; round < 2; round++) {
        async_variant("clone from the caller", root, tmp, false, -1);
        async_variant("launch helper", root, tmp, true, -1);
        async_variant("helper + cgroup pool", root, tmp, true, 8);
    }
    free(heap);
}

int main(int argc, char **argv)
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
    if (argc > 1 && strncmp(argv[1], "--async", 7) == 0) {
        async_section(root, b.tmp, argv[1][7] == '=' ? atoi(argv[1] + 8) : 64);
        cm_containerizer_free(b.c);
        return 0;
    }
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
