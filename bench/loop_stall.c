/*
 * bench-loop_stall: the agent's longest event-loop stall while containers come and go.
 *
 * In one process, on one libevent loop, as the agent runs them: the containerizer with the
 * default isolation and the loop (asynchronous launch, timer-driven teardown), the agent's
 * reaping path (SIGCHLD via evsignal, waitpid(-1, WNOHANG), cm_containerizer_reaped) and the
 * sandbox GC (each finished sandbox is scheduled for removal at once, so the removals run
 * during the test, in children). A loop probe (src/common/loop_probe.h) ticks every 1 ms and
 * records how late each tick fires: that lateness is the loop's stall.
 *
 * Each container runs sh -c '(sleep 30 &); sleep 0.2 ... ': its leader exits after a moment,
 * leaving a double-forked sleep that only the teardown (kill -> wait for the cgroup to empty
 * -> rmdir) removes. 500 containers are launched, in two runs:
 *   spaced        one launch every 10 ms (a timer), as tasks trickle in;
 *   back to back  one launch per loop turn, as fast as the loop allows.
 * Printed per run: max stall, p99 and p50 of all tick latenesses, ticks later than 1/5/10/50
 * ms, launches/s, the time each launch call holds the loop (p50/p99/max: a batch of N
 * launches in one callback holds it N times that), launch -> exec latency (p50/p99) and
 * reap -> teardown done (p50/p99). The target is a max stall <= 5 ms. Figures, not a pass/fail
 * test. Needs root and cgroups; prints a message and exits 0 elsewhere.
 *
 * On a shared machine the loop also stalls when it simply does not get a CPU. So the run
 * starts with the same probe on an idle loop (the machine's floor), and each launch call's
 * wall time is split, from /proc/self/schedstat and the thread's CPU clock, into on-CPU time,
 * time waiting for a CPU (runnable, preempted) and time blocked in the kernel (the part a
 * change to the code can remove), and the probe reports the stalls also without the waits for
 * a CPU (loop_probe.h).
 *
 * Usage: bench-loop_stall [containers (500)] [spacing ms (10)] [blocking]
 *
 * "blocking" gives the containerizer no loop, which is how the agent drove it before: each
 * launch waits for the exec and each teardown kills, waits and removes in the reaping
 * callback. The comparison shows what the asynchronous paths remove.
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "containerizer/containerizer.h"
#include "gc.h"
#include "log.h"
#include "loop_probe.h"
#include "strmap.h"

struct slot {
    char id[64];
    char sandbox[512];
    pid_t pid;
    double t_launch, t_exec, t_reaped, t_destroyed;
};

struct run {
    struct event_base *base;
    struct cm_containerizer *c;
    struct cm_gc *gc;
    struct cm_loop_probe *probe;
    struct event *launch_timer, *sigchld, *done_timer;
    struct cm_strmap by_pid, by_id;
    struct slot *slots;
    int n, launched, execed, reaped, destroyed, failures;
    double spacing; /* seconds; 0 = one per loop turn */
    bool blocking;  /* the containerizer without the loop */
    double *call_ms;
    double *blocked_ms; /* wall - on CPU - waiting for a CPU, per launch call */
    double max_call_cpu, max_call_runq, max_call_wall;
    double max_reap_wall, max_reap_cpu, max_reap_runq; /* the reaping callback, likewise */
    char tmp[256];
    const char *name;
};

/* Thread CPU time and run-queue wait (schedstat's second field), in seconds. */
static void sched_times(double *cpu, double *runq)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    *cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    *runq = 0;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (!f)
        return;
    unsigned long long run, wait;
    if (fscanf(f, "%llu %llu", &run, &wait) == 2)
        *runq = (double)wait / 1e9;
    fclose(f);
}

/* The stall minus the time the loop's thread waited for a CPU: what the code itself did. */
static void print_self(const struct cm_loop_probe_stats *st)
{
    if (!st->have_self)
        return;
    printf("    without the waits for a CPU: max %.2f ms  p99 %.3f ms; > 1/5/10/50 ms: "
           "%llu/%llu/%llu/%llu\n",
           st->max_self * 1e3, st->p99_self * 1e3, (unsigned long long)st->over_self[0],
           (unsigned long long)st->over_self[1], (unsigned long long)st->over_self[2],
           (unsigned long long)st->over_self[3]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

static void on_launched(void *arg, const char *id, pid_t pid, int rc, const char *why)
{
    (void)pid;
    struct run *r = arg;
    struct slot *s = cm_strmap_get(&r->by_id, id);
    if (!s)
        return;
    s->t_exec = cm_monotonic_secs();
    r->execed++;
    if (rc) {
        r->failures++;
        fprintf(stderr, "%s: %s\n", id, why);
    }
}

static void check_done(struct run *r)
{
    if (r->destroyed == r->n)
        event_base_loopbreak(r->base);
}

static void on_destroyed(void *arg, const char *id, int rc, const char *why)
{
    struct run *r = arg;
    struct slot *s = cm_strmap_get(&r->by_id, id);
    if (rc)
        fprintf(stderr, "teardown of %s: %s\n", id, why);
    if (!s)
        return;
    s->t_destroyed = cm_monotonic_secs();
    r->destroyed++;
    check_done(r);
}

static void launch_one(struct run *r)
{
    struct slot *s = &r->slots[r->launched];
    snprintf(s->id, sizeof s->id, "%s-%d", r->name, r->launched);
    snprintf(s->sandbox, sizeof s->sandbox, "%s/%s", r->tmp, s->id);
    mkdir(s->sandbox, 0755);
    char out[600], err[600];
    snprintf(out, sizeof out, "%s/stdout", s->sandbox);
    snprintf(err, sizeof err, "%s/stderr", s->sandbox);
    char *argv[] = {"/bin/sh", "-c", "(sleep 30 &); echo started; sleep 0.2", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct cm_resources res;
    cm_resources_init(&res);
    cm_resources_parse(&res, "cpus:0.1;mem:32", "*", NULL, 0);
    struct cm_launch_spec spec = {
        .container_id = s->id,
        .argv = argv,
        .envp = envp,
        .cwd = s->sandbox,
        .stdout_path = out,
        .stderr_path = err,
        .resources = &res,
    };
    char why[256];
    cm_strmap_put(&r->by_id, s->id, s);
    double cpu0, runq0, cpu1, runq1;
    sched_times(&cpu0, &runq0);
    s->t_launch = cm_monotonic_secs();
    int rc = cm_containerizer_launch(r->c, &spec, &s->pid, why, sizeof why);
    double wall = cm_monotonic_secs() - s->t_launch;
    sched_times(&cpu1, &runq1);
    r->call_ms[r->launched] = wall * 1e3;
    double blocked = wall - (cpu1 - cpu0) - (runq1 - runq0);
    r->blocked_ms[r->launched] = (blocked > 0 ? blocked : 0) * 1e3;
    if (wall * 1e3 > r->max_call_wall) {
        r->max_call_wall = wall * 1e3;
        r->max_call_cpu = (cpu1 - cpu0) * 1e3;
        r->max_call_runq = (runq1 - runq0) * 1e3;
    }
    cm_resources_cleanup(&res);
    r->launched++;
    if (rc) {
        fprintf(stderr, "launch %s: %s\n", s->id, why);
        r->failures++;
        r->destroyed++; /* nothing to wait for */
        check_done(r);
        return;
    }
    if (r->blocking) {
        s->t_exec = cm_monotonic_secs(); /* the call returned after the exec */
        r->execed++;
    }
    char key[32];
    snprintf(key, sizeof key, "%d", (int)s->pid);
    cm_strmap_put(&r->by_pid, key, s);
}

static void launch_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct run *r = arg;
    if (r->launched >= r->n)
        return;
    launch_one(r);
    if (r->launched < r->n) {
        double d = r->spacing;
        struct timeval tv = {(time_t)d, (suseconds_t)((d - (time_t)d) * 1e6)};
        evtimer_add(r->launch_timer, &tv);
    }
}

/* The agent's reaping path. */
static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct run *r = arg;
    double cpu0, runq0, cpu1, runq1, t0 = cm_monotonic_secs();
    sched_times(&cpu0, &runq0);
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            break;
        char key[32];
        snprintf(key, sizeof key, "%d", (int)pid);
        struct slot *s = cm_strmap_remove(&r->by_pid, key);
        if (!s)
            continue; /* a GC or session-sweep child */
        s->t_reaped = cm_monotonic_secs();
        r->reaped++;
        cm_containerizer_reaped(r->c, s->id);
        cm_gc_schedule(r->gc, 0, s->sandbox);
        if (r->blocking) {
            s->t_destroyed = cm_monotonic_secs(); /* torn down inside the call */
            r->destroyed++;
            check_done(r);
        }
    }
    double wall = (cm_monotonic_secs() - t0) * 1e3;
    sched_times(&cpu1, &runq1);
    if (wall > r->max_reap_wall) {
        r->max_reap_wall = wall;
        r->max_reap_cpu = (cpu1 - cpu0) * 1e3;
        r->max_reap_runq = (runq1 - runq0) * 1e3;
    }
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct run *r = arg;
    fprintf(stderr, "%s: timed out (launched %d, reaped %d, torn down %d)\n", r->name, r->launched,
            r->reaped, r->destroyed);
    event_base_loopbreak(r->base);
}

static int run_one(const char *name, int n, double spacing, bool blocking, const char *cgroot,
                   const char *tmp)
{
    struct run r = {.n = n, .spacing = spacing, .name = name, .blocking = blocking};
    snprintf(r.tmp, sizeof r.tmp, "%s", tmp);
    r.slots = calloc((size_t)n, sizeof *r.slots);
    r.call_ms = calloc((size_t)n, sizeof *r.call_ms);
    r.blocked_ms = calloc((size_t)n, sizeof *r.blocked_ms);
    if (!r.slots || !r.call_ms || !r.blocked_ms)
        abort();
    cm_strmap_init(&r.by_pid);
    cm_strmap_init(&r.by_id);
    struct event_config *cfg = event_config_new();
    /* A timerfd behind the timers: plain epoll_wait timeouts round up to the 4 ms tick of an
     * HZ=250 kernel, which the probe would read as stalls. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    r.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    char runtime[512];
    snprintf(runtime, sizeof runtime, "%s/runtime", tmp);
    struct cm_containerizer_options o = {
        .cgroups_root = cgroot,
        .runtime_dir = runtime,
        .base = blocking ? NULL : r.base,
        .launched = on_launched,
        .destroyed = on_destroyed,
        .cb_arg = &r,
    };
    char why[512];
    if (cm_containerizer_new(&o, &r.c, why, sizeof why) != 0) {
        fprintf(stderr, "bench-loop_stall: %s\n", why);
        return 1;
    }
    struct cm_gc_config gcfg = {.delay = 0, .work_dir = tmp};
    r.gc = cm_gc_new(r.base, &cm_clock_real, &gcfg);
    r.sigchld = evsignal_new(r.base, SIGCHLD, sigchld_cb, &r);
    event_add(r.sigchld, NULL);
    r.launch_timer = evtimer_new(r.base, launch_cb, &r);
    r.done_timer = evtimer_new(r.base, watchdog_cb, &r);
    struct timeval limit = {120, 0};
    evtimer_add(r.done_timer, &limit);
    r.probe = cm_loop_probe_new(r.base, 0.001);

    double t0 = cm_monotonic_secs(), cpu_start, runq_start;
    sched_times(&cpu_start, &runq_start);
    struct timeval zero = {0, 0};
    evtimer_add(r.launch_timer, &zero);
    event_base_dispatch(r.base);
    double t1 = cm_monotonic_secs(), cpu_end, runq_end;
    sched_times(&cpu_end, &runq_end);
    /* Launches end before the teardowns: the rate is over the launch phase. */
    double last_launch = 0;
    for (int i = 0; i < n; i++)
        if (r.slots[i].t_launch > last_launch)
            last_launch = r.slots[i].t_launch;

    struct cm_loop_probe_stats st;
    cm_loop_probe_stats(r.probe, &st);
    double *exec_ms = calloc((size_t)n, sizeof *exec_ms), *td_ms = calloc((size_t)n, sizeof *td_ms);
    size_t ne = 0, nt = 0;
    for (int i = 0; i < n; i++) {
        struct slot *s = &r.slots[i];
        if (s->t_exec > 0)
            exec_ms[ne++] = (s->t_exec - s->t_launch) * 1e3;
        if (s->t_destroyed > 0 && s->t_reaped > 0)
            td_ms[nt++] = (s->t_destroyed - s->t_reaped) * 1e3;
    }
    double call_max = 0, blocked_max = 0;
    for (int i = 0; i < r.launched; i++) {
        if (r.call_ms[i] > call_max)
            call_max = r.call_ms[i];
        if (r.blocked_ms[i] > blocked_max)
            blocked_max = r.blocked_ms[i];
    }
    printf("%s%s: %d containers (%s), %.2f s in all, %d failures\n", name,
           blocking ? " (blocking containerizer)" : "", n,
           spacing > 0 ? "spaced" : "one per loop turn", t1 - t0, r.failures);
    printf("  loop stall: max %.2f ms  p99 %.3f ms  p50 %.3f ms over %llu ticks; "
           "late > 1/5/10/50 ms: %llu/%llu/%llu/%llu\n",
           st.max_stall * 1e3, st.p99 * 1e3, st.p50 * 1e3, (unsigned long long)st.ticks,
           (unsigned long long)st.over[0], (unsigned long long)st.over[1],
           (unsigned long long)st.over[2], (unsigned long long)st.over[3]);
    print_self(&st);
    printf("  launches: %.0f/s; each launch call holds the loop p50 %.3f ms  p99 %.3f ms  "
           "max %.3f ms\n",
           n / (last_launch - t0 > 0 ? last_launch - t0 : 1e-9),
           pct(r.call_ms, (size_t)r.launched, 0.5), pct(r.call_ms, (size_t)r.launched, 0.99),
           call_max);
    printf("  the longest launch call: %.2f ms = %.2f on CPU + %.2f waiting for a CPU + %.2f "
           "blocked; blocked in any call: max %.2f ms  p99 %.3f ms\n",
           r.max_call_wall, r.max_call_cpu, r.max_call_runq,
           r.max_call_wall - r.max_call_cpu - r.max_call_runq, blocked_max,
           pct(r.blocked_ms, (size_t)r.launched, 0.99));
    printf("  the longest reaping callback (reap, teardown start, GC schedule): %.2f ms = %.2f on "
           "CPU + %.2f waiting for a CPU + %.2f blocked\n",
           r.max_reap_wall, r.max_reap_cpu, r.max_reap_runq,
           r.max_reap_wall - r.max_reap_cpu - r.max_reap_runq);
    printf("  the loop's thread over the run: %.0f%% on CPU, %.0f%% waiting for a CPU\n",
           100 * (cpu_end - cpu_start) / (t1 - t0), 100 * (runq_end - runq_start) / (t1 - t0));
    printf("  launch -> exec: p50 %.2f ms  p99 %.2f ms;  reap -> teardown done: p50 %.2f ms  "
           "p99 %.2f ms\n",
           pct(exec_ms, ne, 0.5), pct(exec_ms, ne, 0.99), pct(td_ms, nt, 0.5),
           pct(td_ms, nt, 0.99));
    fflush(stdout);

    cm_loop_probe_free(r.probe);
    /* Let the GC children finish before the loop goes. */
    for (int i = 0; i < 300 && cm_gc_pending(r.gc) + 0 > 0; i++)
        event_base_loop(r.base, EVLOOP_ONCE);
    struct timeval grace = {0, 300000};
    event_base_loopexit(r.base, &grace);
    event_base_dispatch(r.base);
    cm_gc_free(r.gc);
    cm_containerizer_free(r.c);
    event_free(r.sigchld);
    event_free(r.launch_timer);
    event_free(r.done_timer);
    event_base_free(r.base);
    cm_strmap_cleanup(&r.by_pid);
    cm_strmap_cleanup(&r.by_id);
    free(exec_ms);
    free(td_ms);
    free(r.slots);
    free(r.call_ms);
    free(r.blocked_ms);
    return 0;
}

int main(int argc, char **argv)
{
    if (geteuid() != 0) {
        printf("bench-loop_stall: needs root (cgroups and namespaces); skipped\n");
        return 0;
    }
    int n = argc > 1 ? atoi(argv[1]) : 500;
    double spacing = (argc > 2 ? atof(argv[2]) : 10) / 1e3;
    if (n <= 0)
        n = 500;
    cm_log_set_level(CM_LOG_WARNING);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "/tmp/cm-bench-stall-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    char cgroot[64];
    snprintf(cgroot, sizeof cgroot, "cmesos-stall-%d", (int)getpid());
    /* The machine's floor: the same probe on an idle loop for 3 s. */
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *idle = event_base_new_with_config(cfg);
    event_config_free(cfg);
    struct cm_loop_probe *probe = cm_loop_probe_new(idle, 0.001);
    struct timeval three = {3, 0};
    event_base_loopexit(idle, &three);
    event_base_dispatch(idle);
    struct cm_loop_probe_stats st;
    cm_loop_probe_stats(probe, &st);
    printf("idle loop (the machine's floor): max %.2f ms  p99 %.3f ms  p50 %.3f ms over %llu "
           "ticks; late > 1/5/10/50 ms: %llu/%llu/%llu/%llu\n",
           st.max_stall * 1e3, st.p99 * 1e3, st.p50 * 1e3, (unsigned long long)st.ticks,
           (unsigned long long)st.over[0], (unsigned long long)st.over[1],
           (unsigned long long)st.over[2], (unsigned long long)st.over[3]);
    print_self(&st);
    cm_loop_probe_free(probe);
    event_base_free(idle);
    bool blocking = argc > 3 && strcmp(argv[3], "blocking") == 0;
    int rc = run_one("spaced", n, spacing, blocking, cgroot, tmp);
    if (!rc)
        rc = run_one("back-to-back", n, 0, blocking, cgroot, tmp);
    static const char *const ctls[] = {"cpu", "cpuacct", "memory", "pids", "freezer"};
    for (size_t i = 0; i < sizeof ctls / sizeof ctls[0]; i++) {
        char d[512];
        snprintf(d, sizeof d, "/sys/fs/cgroup/%s/%s", ctls[i], cgroot);
        rmdir(d);
    }
    cm_gc_remove_tree(tmp);
    return rc;
}
