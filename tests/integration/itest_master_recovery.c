/*
 * itest_master_recovery: what survives on the master side (issue "Nothing lost").
 * - kill -9 of the master, restart on the same port and --work_dir: the agent re-registers on
 *   its own with its running task (same agent id, known from the registry), the framework
 *   re-subscribes with its id, finds the task RUNNING through reconciliation and later gets
 *   TASK_FINISHED.
 * - SIGSTOP of the agent past the ping budget (--agent_ping_timeout=1secs
 *   --max_agent_ping_timeouts=2): TASK_UNREACHABLE for a partition-aware framework, TASK_LOST
 *   for another, FAILURE for both; SIGCONT: the agent re-registers, the partition-aware
 *   framework hears RUNNING (REASON_AGENT_REREGISTERED) and reconciliation says RUNNING.
 * - framework failover: a scheduler replaced within failover_timeout keeps its task; after the
 *   timeout the task is killed and the framework id is refused.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Launches one task (cpus, 32 MB) on the framework's next offer; filters the rest for 60 s so
 * another framework gets it. Returns 0 once the task is RUNNING. */
static int launch(struct itest_fw *fw, const char *agent_id, const char *id, const char *cmd,
                  double cpus)
{
    struct itest_offers off;
    int rc = itest_fw_wait_offer(fw, cpus, 32, ITEST_WAIT_MS, &off);
    if (rc)
        return rc;
    struct itest_task t = {id, cmd, cpus, 32};
    rc = itest_fw_accept(fw, off.idv, off.n, agent_id, &t, 1, 60);
    if (rc != 202)
        return -EPROTO;
    return itest_fw_wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS, NULL);
}

/* Reconciles task_id (explicitly, with agent_id) until an answer comes (the master withholds
 * answers for agents it still expects back); returns the answer's state or -1. */
static int reconcile_until_answer(struct itest_fw *fw, const char *task_id, const char *agent_id,
                                  int timeout_ms, struct itest_status *out)
{
    long long deadline = clock_ms() + timeout_ms;
    while (clock_ms() < deadline) {
        if (itest_fw_reconcile(fw, task_id, agent_id) != 202)
            return -1;
        struct itest_event ev;
        if (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task_id, 700, &ev) == 0) {
            /* A status update the agent re-sends: the killed master may have died with the
             * acknowledgement of it still unsent (a socket closed with unread input is reset,
             * and its queued output is dropped). Acknowledge it and wait for the answer. */
            if (ev.status.has_uuid) {
                if (itest_fw_ack(fw, &ev.status) != 202)
                    return -1;
                continue;
            }
            if (out)
                *out = ev.status;
            return ev.status.state;
        }
    }
    return -1;
}

/* Subscribes with framework_id, retrying while the restarted master is not ready. */
static struct itest_fw *resubscribe(int port, const struct itest_fw_opts *opts)
{
    long long deadline = clock_ms() + ITEST_WAIT_MS;
    while (clock_ms() < deadline) {
        struct itest_fw *fw = itest_fw_start(port, ITEST_JSON, opts);
        if (fw)
            return fw;
        sleep_ms(200);
    }
    return NULL;
}

static int agent_listed(int master_port, const char *agent_id, int timeout_ms)
{
    long long deadline = clock_ms() + timeout_ms;
    while (clock_ms() < deadline) {
        json_t *st = itest_get_json(master_port, "/master/state");
        json_t *slaves = st ? json_object_get(st, "slaves") : NULL;
        size_t i;
        json_t *a;
        int found = 0;
        if (json_is_array(slaves)) {
            json_array_foreach(slaves, i, a)
            {
                const char *id = json_string_value(json_object_get(a, "id"));
                json_t *active = json_object_get(a, "active");
                if (id && strcmp(id, agent_id) == 0 && (!active || json_is_true(active)))
                    found = 1;
            }
        }
        json_decref(st);
        if (found)
            return 1;
        sleep_ms(100);
    }
    return 0;
}

static double metric(int port, const char *name)
{
    json_t *m = itest_get_json(port, "/metrics/snapshot");
    double v = m ? json_number_value(json_object_get(m, name)) : -1;
    json_decref(m);
    return v;
}

static void test_master_kill9_restart(void)
{
    struct itest_cluster c;
    const char *flags[] = {"--agent_reregister_timeout=20secs", NULL};
    struct itest_cluster_opts o = {.master_flags = flags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    struct itest_fw_opts fo = {.name = "survivor", .failover_timeout = 60, .partition_aware = 1};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    char fid[ITEST_ID];
    snprintf(fid, sizeof fid, "%s", fw->framework_id);
    REQUIRE(launch(fw, c.agent_id, "long", "sleep 6", 0.5) == 0);
    long long launched = clock_ms();

    /* kill -9 the master and bring it back on the same port and work dir. */
    CHECK_INT(itest_proc_signal(&c.master, SIGKILL), 0);
    int status = 0;
    CHECK_INT(itest_proc_wait(&c.master, 5000, &status), 0);
    itest_fw_free(fw);
    REQUIRE(itest_cluster_restart_master(&c, flags) == 0);

    /* The framework comes back with its id and asks about its task. */
    fo.framework_id = fid;
    fw = resubscribe(c.master_port, &fo);
    REQUIRE(fw != NULL);
    CHECK_STR(fw->framework_id, fid);
    struct itest_status st;
    int state = reconcile_until_answer(fw, "long", c.agent_id, 15000, &st);
    CHECK_STR(itest_state_name(state), "TASK_RUNNING");
    CHECK(!st.has_uuid);
    /* The agent re-registered with its id (from the registry, not as a new agent). */
    CHECK(agent_listed(c.master_port, c.agent_id, 5000));
    CHECK(metric(c.master_port, "master/slave_reregistrations") >= 1);
    CHECK(metric(c.master_port, "registrar/registry_size_bytes") > 0);
    /* And the task's end still reaches the framework. */
    CHECK_INT(
        itest_fw_wait_state(fw, "long", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, &st),
        0);
    CHECK(st.has_uuid);
    fprintf(stderr, "task finished %lld ms after launch\n", clock_ms() - launched);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_agent_sigstop_partition(void)
{
    struct itest_cluster c;
    const char *flags[] = {"--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2", NULL};
    struct itest_cluster_opts o = {.master_flags = flags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    struct itest_fw_opts pao = {.name = "aware", .partition_aware = 1, .failover_timeout = 60};
    struct itest_fw_opts npo = {.name = "plain", .failover_timeout = 60};
    struct itest_fw *pa = itest_fw_start(c.master_port, ITEST_JSON, &pao);
    REQUIRE(pa != NULL);
    REQUIRE(launch(pa, c.agent_id, "pa-task", "sleep 60", 0.5) == 0);
    struct itest_fw *np = itest_fw_start(c.master_port, ITEST_PROTOBUF, &npo);
    REQUIRE(np != NULL);
    REQUIRE(launch(np, c.agent_id, "np-task", "sleep 60", 0.5) == 0);

    CHECK_INT(itest_proc_signal(&c.agent, SIGSTOP), 0);
    long long stopped = clock_ms();
    struct itest_event ev;
    CHECK_INT(itest_fw_wait(pa, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "pa-task", 15000, &ev),
              0);
    CHECK_STR(itest_state_name(ev.status.state), "TASK_UNREACHABLE");
    CHECK_STR(itest_reason_name(ev.status.reason), "REASON_AGENT_REMOVED");
    CHECK(!ev.status.has_uuid);
    fprintf(stderr, "unreachable %lld ms after SIGSTOP\n", clock_ms() - stopped);
    CHECK_INT(itest_fw_wait(np, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "np-task", 5000, &ev),
              0);
    CHECK_STR(itest_state_name(ev.status.state), "TASK_LOST");
    CHECK_INT(itest_fw_wait(pa, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE, NULL, 5000, &ev), 0);
    CHECK_STR(ev.agent_id, c.agent_id);
    CHECK(metric(c.master_port, "master/slaves_unreachable") == 1);
    CHECK(metric(c.master_port, "master/slave_unreachable_completed") == 1);
    /* Reconciliation while unreachable. */
    CHECK_STR(itest_state_name(reconcile_until_answer(pa, "pa-task", c.agent_id, 5000, NULL)),
              "TASK_UNREACHABLE");
    CHECK_STR(itest_state_name(reconcile_until_answer(np, "np-task", NULL, 5000, NULL)),
              "TASK_LOST");

    /* The agent wakes up, re-registers and its tasks reappear. */
    CHECK_INT(itest_proc_signal(&c.agent, SIGCONT), 0);
    CHECK_INT(itest_fw_wait(pa, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "pa-task", 20000, &ev),
              0);
    CHECK_STR(itest_state_name(ev.status.state), "TASK_RUNNING");
    CHECK_STR(itest_reason_name(ev.status.reason), "REASON_AGENT_REREGISTERED");
    CHECK(agent_listed(c.master_port, c.agent_id, 5000));
    CHECK_STR(itest_state_name(reconcile_until_answer(np, "np-task", c.agent_id, 5000, NULL)),
              "TASK_RUNNING");
    CHECK(metric(c.master_port, "master/slaves_unreachable") == 0);
    itest_fw_free(pa);
    itest_fw_free(np);
    itest_cluster_stop(&c);
}

static int agent_has_framework(int agent_port, const char *fid)
{
    json_t *st = itest_get_json(agent_port, "/state");
    json_t *fws = st ? json_object_get(st, "frameworks") : NULL;
    size_t i;
    json_t *f;
    int found = 0;
    if (json_is_array(fws)) {
        json_array_foreach(fws, i, f)
        {
            const char *id = json_string_value(json_object_get(f, "id"));
            found |= id && strcmp(id, fid) == 0;
        }
    }
    json_decref(st);
    return found;
}

static void test_framework_failover(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw_opts fo = {.name = "failing-over", .failover_timeout = 3};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    char fid[ITEST_ID];
    snprintf(fid, sizeof fid, "%s", fw->framework_id);
    REQUIRE(launch(fw, c.agent_id, "kept", "sleep 60", 0.5) == 0);

    /* The scheduler goes away; a new one takes over within the timeout and finds its task. */
    itest_fw_free(fw);
    sleep_ms(1000);
    fo.framework_id = fid;
    fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, &fo);
    REQUIRE(fw != NULL);
    CHECK_STR(itest_state_name(reconcile_until_answer(fw, "kept", NULL, 5000, NULL)),
              "TASK_RUNNING");
    CHECK(agent_has_framework(c.agent_port, fid));

    /* Gone for longer than failover_timeout: the task is killed and the id is refused. */
    itest_fw_free(fw);
    long long deadline = clock_ms() + 15000;
    while (clock_ms() < deadline && agent_has_framework(c.agent_port, fid))
        sleep_ms(200);
    CHECK(!agent_has_framework(c.agent_port, fid));
    struct itest_fw *again = itest_fw_open(c.master_port, ITEST_JSON, &fo);
    REQUIRE(again != NULL);
    struct itest_event ev;
    CHECK_INT(itest_fw_wait(again, MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR, NULL, 5000, &ev), 0);
    CHECK_STR(ev.message, "Framework has been removed");
    itest_fw_free(again);
    itest_cluster_stop(&c);
}

/* The master's child processes (its registry writer, with the file registry). */
static int children_of(pid_t parent, pid_t *out, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, pid;
    while (n < max && fscanf(f, "%d", &pid) == 1)
        out[n++] = pid;
    fclose(f);
    return n;
}

/*
 * The file registry's writer child killed under a running master: the master reports it, the
 * next change that needs the registry is not acknowledged and the master
 * stops with a failure status, as for any failed registry write; restarted, it has what was
 * stored before.
 */
static void test_registry_writer_killed(void)
{
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    static const char *const json_hdr[] = {"Content-Type: application/json", NULL};
    const char *put = "[{\"role\":\"web\",\"weight\":2.5}]";
    struct itest_http_resp r;
    REQUIRE(itest_http(c.master_port, "PUT", "/master/weights", json_hdr, put, strlen(put), &r,
                       ITEST_WAIT_MS) == 0);
    CHECK_INT(r.status, 200);
    itest_http_resp_cleanup(&r);

    pid_t kids[8];
    int n = children_of(c.master.pid, kids, 8);
    if (n < 0) {
        itest_cluster_stop(&c);
        SKIP_CASE("/proc/<pid>/task/<tid>/children is not available here");
    }
    REQUIRE(n == 1); /* the writer, forked at start */
    REQUIRE(kill(kids[0], SIGKILL) == 0);
    sleep_ms(200);

    /* Never acknowledged: a 503, or no answer at all when the master stops first. */
    const char *put2 = "[{\"role\":\"web\",\"weight\":3.5}]";
    memset(&r, 0, sizeof r);
    int rc = itest_http(c.master_port, "PUT", "/master/weights", json_hdr, put2, strlen(put2), &r,
                        ITEST_WAIT_MS);
    CHECK(rc != 0 || r.status == 503);
    if (rc == 0)
        itest_http_resp_cleanup(&r);
    int st = 0;
    CHECK_INT(itest_proc_wait(&c.master, ITEST_WAIT_MS, &st), 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    size_t len = 0;
    char *log = itest_read_file(c.master.log, &len);
    CHECK(log && strstr(log, "registry writer") && strstr(log, "killed by signal 9"));
    free(log);

    REQUIRE(itest_cluster_restart_master(&c, NULL) == 0);
    json_t *w = itest_get_json(c.master_port, "/master/weights");
    CHECK(json_is_array(w) && json_array_size(w) == 1 &&
          json_real_value(json_object_get(json_array_get(w, 0), "weight")) == 2.5);
    json_decref(w);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_master_kill9_restart), TEST(test_agent_sigstop_partition),
           TEST(test_framework_failover), TEST(test_registry_writer_killed))
