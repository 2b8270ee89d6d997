/*
 * bench-tasks: real trivial tasks end to end on one agent (issue 15's per-task targets).
 *
 * Real mesos-master, mesos-agent (default isolation unless flags say otherwise) and one
 * mesos-executor per task, started through the integration harness; a protobuf framework
 * launches `true` tasks (0.01 cpus, 1 MB each) and acknowledges every update. It prints:
 *  - latency: one task at a time, from the ACCEPT that launches it to its TASK_FINISHED at the
 *    framework, p50 and p90 over `single` tasks (default 30);
 *  - throughput: `n` tasks (default 500) launched into the offers as they come, from the first
 *    ACCEPT to the last TASK_FINISHED;
 *  - CPU per task during the throughput run: the agent's own CPU, that of its live helper
 *    processes (launch helper, cgroup janitor: /proc/<agent>/task/<agent>/children), that of
 *    its reaped descendants (executors, tasks: /proc/<agent>/stat utime+stime+cutime+cstime),
 *    and the master's, each divided by n.
 * and what the framework asked of the master per task during that run: calls (ACCEPT, DECLINE,
 * ACKNOWLEDGE), OFFERS events and offers, TCP connections, and the master's read and write
 * syscalls (/proc/<master>/io).
 *
 * Once every task of the throughput run is launched, the framework sends SUPPRESS: otherwise
 * the resources freed by finishing tasks come back in an offer every allocation (10 ms) to be
 * declined until the last task ends, and the master's CPU per task grows with the run's
 * length (about 1.2-2.9 offers and declines per task at 3-9 s). BENCH_TASKS_OFFERS=decline
 * declines them instead (the behaviour before).
 * The master allocates every 10 ms here (--allocation_interval), so offers are not the bound.
 *
 * The framework sends its calls on one keep-alive connection (itest_fw_keepalive), as a real
 * scheduler would, so the master's CPU is not mostly accepting and closing the harness's
 * connections. BENCH_TASKS_CONNECTION=close sends each call on a new connection with
 * Connection: close instead (the harness's default, for comparison).
 *
 * Usage: bench-tasks [n=500] [single=30] [extra agent flags...]
 * Not a ctest test; run by hand (it needs what the agent's isolation needs, e.g. root for
 * cgroups; --isolation=posix/cpu,posix/mem runs anywhere).
 *
 * The work dir is under /tmp. Where /tmp is ext4 without a journal and the machine creates
 * and deletes many files, every new inode (each sandbox makes six: executors/<id>, runs,
 * runs/<container>, runs/latest, stdout, stderr) costs a scan past recently deleted inodes
 * (ext4's recently_deleted), which can be most of a task's CPU. To see the agent's own cost
 * apart from that, run it with /tmp on a private tmpfs:
 *   unshare -m sh -c 'mount --make-rprivate / && mount -t tmpfs tmpfs /tmp &&
 *                     build/bin/bench-tasks 300 20'
 */
#define ITEST_HARNESS_IMPL /* no test cases here: test.h is not needed */
#include "harness_agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"

#define MAX_TASKS 20000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

/* CPU seconds of pid and of its waited-for descendants; *own gets pid's own share. */
static double proc_cpu2(pid_t pid, double *own);

static double proc_cpu(pid_t pid)
{
    double own;
    return proc_cpu2(pid, &own);
}

static double proc_cpu2(pid_t pid, double *own)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* Fields after the comm: state(3) ... utime(14) stime(15) cutime(16) cstime(17). */
    unsigned long long v[20] = {0};
    int field = 2;
    for (char *tok = strtok(p + 2, " "); tok && field < 17; tok = strtok(NULL, " ")) {
        field++;
        if (field >= 14 && field <= 17)
            v[field] = strtoull(tok, NULL, 10);
    }
    double tck = (double)sysconf(_SC_CLK_TCK);
    *own = (double)(v[14] + v[15]) / tck;
    return (double)(v[14] + v[15] + v[16] + v[17]) / tck;
}

/* CPU seconds of pid's live children (the agent's launch helper and cgroup janitor, which
 * live as long as the agent and so never show in its reaped descendants' times). */
static double live_children_cpu(pid_t pid)
{
    char path[96], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    double sum = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        double c = proc_cpu((pid_t)atoi(tok));
        if (c > 0)
            sum += c;
    }
    return sum;
}

/* The master's read and write syscalls so far (syscr + syscw of /proc/<pid>/io), or -1. */
static long long proc_rw_syscalls(pid_t pid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long sum = 0, v;
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "syscr: %lld", &v) == 1 || sscanf(line, "syscw: %lld", &v) == 1) {
            sum += v;
            seen++;
        }
    }
    fclose(f);
    return seen == 2 ? sum : -1;
}

/* What the framework did during the throughput run. */
struct counts {
    long offer_events, offers, accepts, declines, acks, suppresses;
};

static int is_terminal(int s)
{
    return s != MESOS__V1__TASK_STATE__TASK_STARTING && s != MESOS__V1__TASK_STATE__TASK_RUNNING &&
           s != MESOS__V1__TASK_STATE__TASK_STAGING && s != MESOS__V1__TASK_STATE__TASK_KILLING;
}

/* Launches as many of the remaining tasks as fit into the offers; returns how many. */
static int launch_into(struct itest_fw *fw, const struct itest_event *ev, int *next, int n,
                       char ids[][24], double *launched, struct counts *k)
{
    k->offer_events++;
    k->offers += (long)ev->n_offers;
    int total = 0;
    for (size_t o = 0; o < ev->n_offers; o++) {
        const struct itest_offer *of = &ev->offers[o];
        struct itest_task batch[256];
        size_t nb = 0;
        double cpus = of->cpus, mem = of->mem;
        while (*next < n && nb < 256 && cpus >= 0.01 - 1e-9 && mem >= 1) {
            batch[nb].id = ids[*next];
            batch[nb].command = "true";
            batch[nb].cpus = 0.01;
            batch[nb].mem = 1;
            launched[*next] = now_s();
            (*next)++;
            nb++;
            cpus -= 0.01;
            mem -= 1;
        }
        const char *oid = of->id;
        if (nb == 0) {
            itest_fw_decline(fw, oid, 0);
            k->declines++;
            continue;
        }
        k->accepts++;
        if (itest_fw_accept(fw, &oid, 1, of->agent_id, batch, nb, 0) != 202)
            *next -= (int)nb; /* rescinded or refused: launch them again later */
        else
            total += (int)nb;
    }
    return total;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 500;
    int single = argc > 2 ? atoi(argv[2]) : 30;
    if (n < 1 || n > MAX_TASKS || single < 1 || single > MAX_TASKS) {
        fprintf(stderr, "usage: bench-tasks [n=500 (1..%d)] [single=30] [agent flags...]\n",
                MAX_TASKS);
        return 2;
    }
    itest_init();
    const char *agent_flags[32] = {"--registration_backoff_factor=100ms"};
    size_t na = 1;
    for (int i = 3; i < argc && na < 31; i++)
        agent_flags[na++] = argv[i];
    agent_flags[na] = NULL;
    static const char *const master_flags[] = {"--allocation_interval=10ms", NULL};
    struct itest_cluster c;
    struct itest_cluster_opts co = {.master_flags = master_flags,
                                    .agent_resources = "cpus:64;mem:65536;disk:1024",
                                    .agent_flags = agent_flags};
    if (itest_cluster_start(&c, &co) != 0) {
        fprintf(stderr, "failed to start the cluster\n");
        itest_case_end("tasks", 1);
        return 1;
    }
    struct itest_fw_opts fo = {.name = "bench-tasks"};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, &fo);
    if (!fw) {
        itest_case_end("tasks", 1);
        return 1;
    }
    const char *conn_mode = getenv("BENCH_TASKS_CONNECTION");
    int keepalive = !(conn_mode && strcmp(conn_mode, "close") == 0);
    if (keepalive && itest_fw_keepalive(fw) != 0) {
        itest_case_end("tasks", 1);
        return 1;
    }
    const char *offers_mode = getenv("BENCH_TASKS_OFFERS");
    int suppress = !(offers_mode && strcmp(offers_mode, "decline") == 0);
    printf("framework calls  %s; once all are launched, offers are %s\n",
           keepalive ? "on one keep-alive connection" : "each on a new connection (close)",
           suppress ? "suppressed" : "declined as they come");
    struct counts k_single = {0}, k = {0};
    static char ids[MAX_TASKS][24];
    static double launched[MAX_TASKS], ended[MAX_TASKS];
    int failed = 0;

    /* Latency: one task at a time. */
    double *lat = calloc((size_t)single, sizeof *lat);
    for (int i = 0; i < single; i++) {
        snprintf(ids[0], sizeof ids[0], "one-%d", i);
        int next = 0;
        double deadline = now_s() + 30;
        while (next == 0 && now_s() < deadline) {
            struct itest_event ev;
            if (itest_fw_next(fw, 100, &ev) == 0 &&
                ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
                launch_into(fw, &ev, &next, 1, ids, launched, &k_single);
        }
        struct itest_status st;
        if (next == 0 || itest_fw_wait_state(fw, ids[0], MESOS__V1__TASK_STATE__TASK_FINISHED,
                                             30000, &st) != 0) {
            fprintf(stderr, "task %s did not finish\n", ids[0]);
            failed = 1;
            break;
        }
        lat[i] = (now_s() - launched[0]) * 1e3;
    }
    if (!failed)
        printf("latency  ACCEPT -> TASK_FINISHED, %d tasks one at a time: p50 %.1f ms, p90 %.1f "
               "ms\n",
               single, pct(lat, (size_t)single, 0.5), pct(lat, (size_t)single, 0.9));

    /* Throughput and CPU per task. */
    for (int i = 0; i < n; i++)
        snprintf(ids[i], sizeof ids[i], "many-%d", i);
    double own0, own1;
    double cpu_agent0 = proc_cpu2(c.agent.pid, &own0), cpu_master0 = proc_cpu(c.master.pid);
    double cpu_live0 = live_children_cpu(c.agent.pid);
    long long sys0 = proc_rw_syscalls(c.master.pid);
    unsigned long conn0 = 0;
    if (fw->conn)
        itest_conn_stats(fw->conn, NULL, &conn0);
    int next = 0, done = 0, finished = 0, suppressed = 0;
    double t0 = now_s(), deadline = t0 + 300;
    while (!failed && done < n && now_s() < deadline) {
        struct itest_event ev;
        int rc = itest_fw_next(fw, 100, &ev);
        if (rc == CM_ECLOSED)
            break;
        if (rc != 0)
            continue;
        if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) {
            launch_into(fw, &ev, &next, n, ids, launched, &k);
            /* Nothing left to launch: stop the offers, as a framework that needs nothing
             * does, rather than decline one every allocation (10 ms) until the end. */
            if (next == n && !suppressed && suppress) {
                suppressed = 1;
                k.suppresses++;
                if (itest_fw_suppress(fw) != 202)
                    fprintf(stderr, "SUPPRESS refused: declining offers instead\n");
            }
        } else if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE) {
            if (ev.status.has_uuid) {
                itest_fw_ack(fw, &ev.status);
                k.acks++;
            }
            if (!is_terminal(ev.status.state) || strncmp(ev.status.task_id, "many-", 5) != 0)
                continue;
            int t = atoi(ev.status.task_id + 5);
            if (t < 0 || t >= n || ended[t] > 0)
                continue;
            ended[t] = now_s();
            done++;
            if (ev.status.state == MESOS__V1__TASK_STATE__TASK_FINISHED)
                finished++;
            else if (failed < 5)
                fprintf(stderr, "task %s: %s %s\n", ev.status.task_id,
                        itest_state_name(ev.status.state), ev.status.message);
        }
    }
    double t1 = now_s();
    /* The executors of the last tasks may still be exiting: let the agent reap them. */
    usleep(1500 * 1000);
    double cpu_live = live_children_cpu(c.agent.pid) - cpu_live0;
    double cpu_agent = proc_cpu2(c.agent.pid, &own1) - cpu_agent0;
    double cpu_agent_own = own1 - own0;
    double cpu_master = proc_cpu(c.master.pid) - cpu_master0;
    long long sys1 = proc_rw_syscalls(c.master.pid);
    unsigned long conn1 = 0;
    if (fw->conn)
        itest_conn_stats(fw->conn, NULL, &conn1);
    printf("throughput  %d tasks (%d finished) in %.2f s: %.0f tasks/s\n", done, finished, t1 - t0,
           (double)done / (t1 - t0));
    if (done > 0) {
        double *e2e = calloc((size_t)n, sizeof *e2e);
        size_t ne = 0;
        for (int i = 0; i < n; i++)
            if (ended[i] > 0)
                e2e[ne++] = (ended[i] - launched[i]) * 1e3;
        printf("under load  ACCEPT -> TASK_FINISHED: p50 %.1f ms, p99 %.1f ms\n", pct(e2e, ne, 0.5),
               pct(e2e, ne, 0.99));
        printf("cpu per task  agent + helpers + executors + tasks %.2f ms (agent itself %.2f ms, "
               "its live helpers %.2f ms, its reaped descendants %.2f ms), master %.2f ms\n",
               (cpu_agent + cpu_live) * 1e3 / done, cpu_agent_own * 1e3 / done,
               cpu_live * 1e3 / done, (cpu_agent - cpu_agent_own) * 1e3 / done,
               cpu_master * 1e3 / done);
        double dn = (double)done;
        long calls = k.accepts + k.declines + k.acks + k.suppresses;
        /* Without keep-alive every call is a connection of its own. */
        double conns = fw->conn ? (double)(conn1 - conn0) : (double)calls;
        printf("per task  %.2f calls (ACCEPT %.2f, DECLINE %.2f, ACKNOWLEDGE %.2f), %.3f new "
               "connections; %.2f offers in %.2f OFFERS events",
               (double)calls / dn, (double)k.accepts / dn, (double)k.declines / dn,
               (double)k.acks / dn, conns / dn, (double)k.offers / dn, (double)k.offer_events / dn);
        if (sys0 >= 0 && sys1 >= sys0)
            printf("; master read+write syscalls %.1f", (double)(sys1 - sys0) / dn);
        printf("\n");
        free(e2e);
    }
    free(lat);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
    int bad = failed || done < n || finished < n;
    itest_case_end("tasks", bad);
    return bad;
}
