/*
 * itest_agent_recovery: a checkpointing framework's tasks survive kill -9 of the agent.
 *
 * - kill -9 while a task runs -> restart -> the task finishes and the framework receives
 *   every update in order, each acknowledged once; the agent keeps its id;
 * - the kill at each step of a launch: right after the ACCEPT (before the executor starts),
 *   after RUNNING, after FINISHED but before the framework's ACK (the update is re-sent);
 * - --recover=cleanup kills the old executor and starts a new agent;
 * - a corrupt task.info: --strict (default) refuses to start with a clear error; with
 *   --no-strict the other task (whose update stream has a torn tail) is not lost;
 * - changed --resources: a clear message and a non-zero exit.
 */
#include "harness_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_HEADER 12

static const char *const FAST[] = {"--registration_backoff_factor=100ms", NULL};

/* The master may admit an agent before the agent has read REGISTERED and checkpointed its id;
 * a kill -9 in between would restart it as a new agent. Waits for the agent's own log line,
 * which it writes after the checkpoint. */
static int wait_agent_checkpointed(const struct itest_cluster *c, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        char *text = itest_read_file(itest_agent_log(c), NULL);
        int done = text && strstr(text, "with master") && strstr(text, "as agent '");
        free(text);
        if (done)
            return 0;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "itest: the agent never logged its registration\n");
    return -1;
}

static int start(struct itest_cluster *c, struct itest_fw **fw)
{
    struct itest_cluster_opts o = {.no_agent = 1};
    int rc = itest_cluster_start(c, &o);
    if (rc == 0)
        rc = itest_agent_spawn(c, NULL, FAST);
    if (rc == 0)
        rc = itest_agent_wait_registered(c, ITEST_WAIT_MS);
    if (rc == 0)
        rc = wait_agent_checkpointed(c, ITEST_WAIT_MS);
    if (rc)
        return rc;
    struct itest_fw_opts fo = {.checkpoint = 1, .failover_timeout = 60};
    *fw = itest_fw_start(c->master_port, ITEST_PROTOBUF, &fo);
    return *fw ? 0 : -1;
}

static int launch(struct itest_cluster *c, struct itest_fw *fw, const struct itest_task *t,
                  size_t n)
{
    struct itest_offers off;
    int rc = itest_fw_wait_offer(fw, 0.2 * (double)n, 32.0 * (double)n, ITEST_WAIT_MS, &off);
    if (rc)
        return rc;
    return itest_fw_accept(fw, off.idv, off.n, c->agent_id, t, n, 0) == 202 ? 0 : -1;
}

/* What the framework saw of one task. */
struct seen {
    int states[64];
    uint8_t uuids[64][16];
    int has_uuid[64];
    size_t n;
};

static int rank(int state)
{
    switch (state) {
    case MESOS__V1__TASK_STATE__TASK_STAGING: return 0;
    case MESOS__V1__TASK_STATE__TASK_STARTING: return 1;
    case MESOS__V1__TASK_STATE__TASK_RUNNING: return 2;
    default: return 3;
    }
}

static int terminal(int state)
{
    return rank(state) == 3;
}

/* Reads UPDATEs of task until a terminal one (acknowledging each one with a uuid unless
 * ack is false for the terminal one). Returns the terminal state or -1. */
static int collect(struct itest_fw *fw, const char *task, struct seen *s, int ack_terminal,
                   int timeout_ms)
{
    struct itest_event ev;
    while (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task, timeout_ms, &ev) ==
           0) {
        if (s->n < 64) {
            s->states[s->n] = ev.status.state;
            s->has_uuid[s->n] = ev.status.has_uuid;
            if (ev.status.has_uuid && ev.status.uuid_len == 16)
                memcpy(s->uuids[s->n], ev.status.uuid, 16);
            s->n++;
        }
        fprintf(stderr, "  %s: %s%s\n", task, itest_state_name(ev.status.state),
                ev.status.has_uuid ? "" : " (no uuid)");
        int term = terminal(ev.status.state);
        if (ev.status.has_uuid && (!term || ack_terminal))
            itest_fw_ack(fw, &ev.status);
        if (term)
            return ev.status.state;
    }
    return -1;
}

/* Every update in order: distinct uuids never go back in the task's life cycle, and a uuid
 * repeats only right after itself (a retry of the head before its ack got through). */
static int in_order(const struct seen *s)
{
    int last = -1;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->has_uuid[i])
            continue;
        for (size_t j = 0; j + 1 < i; j++) {
            int later_distinct = 0;
            for (size_t k = j + 1; k < i; k++)
                if (s->has_uuid[k] && memcmp(s->uuids[k], s->uuids[j], 16) != 0)
                    later_distinct = 1;
            if (later_distinct && s->has_uuid[j] && memcmp(s->uuids[j], s->uuids[i], 16) == 0) {
                fprintf(stderr, "update %zu repeats update %zu after a newer one\n", i, j);
                return 0;
            }
        }
        if (rank(s->states[i]) < last) {
            fprintf(stderr, "update %zu (%s) goes back in time\n", i,
                    itest_state_name(s->states[i]));
            return 0;
        }
        last = rank(s->states[i]);
    }
    return 1;
}

static void restart(struct itest_cluster *c, const char *const *extra)
{
    int rc = itest_agent_spawn(c, NULL, extra ? extra : FAST);
    CHECK_INT(rc, 0);
}

static void test_kill_while_running(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    char old_id[256];
    snprintf(old_id, sizeof old_id, "%s", c.agent_id);
    struct itest_task t = {"long", "sleep 3; echo done", 0.1, 32};
    REQUIRE(launch(&c, fw, &t, 1) == 0);
    struct seen s = {0};
    struct itest_event ev;
    /* Up to RUNNING, acknowledging. */
    while (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "long", ITEST_WAIT_MS,
                         &ev) == 0) {
        s.states[s.n] = ev.status.state;
        s.has_uuid[s.n] = ev.status.has_uuid;
        memcpy(s.uuids[s.n], ev.status.uuid, 16);
        s.n++;
        itest_fw_ack(fw, &ev.status);
        if (ev.status.state == MESOS__V1__TASK_STATE__TASK_RUNNING || s.n >= 8)
            break;
    }
    REQUIRE(s.n > 0 && s.states[s.n - 1] == MESOS__V1__TASK_STATE__TASK_RUNNING);
    usleep(300 * 1000); /* let the ack reach the agent */
    itest_agent_kill9(&c);
    usleep(300 * 1000);
    restart(&c, NULL);
    CHECK_INT(collect(fw, "long", &s, 1, ITEST_WAIT_MS), MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK(in_order(&s));
    CHECK_INT(itest_agent_wait_registered(&c, ITEST_WAIT_MS), 0);
    CHECK_STR(c.agent_id, old_id);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* The kill right after the ACCEPT: whatever step the launch reached, the framework gets a
 * terminal update for the task (FINISHED if the executor survived, else FAILED/LOST). */
static void test_kill_during_launch(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_task t = {"early", "sleep 1", 0.1, 32};
    REQUIRE(launch(&c, fw, &t, 1) == 0);
    usleep(20 * 1000);
    itest_agent_kill9(&c);
    restart(&c, NULL);
    struct seen s = {0};
    int st = collect(fw, "early", &s, 1, ITEST_WAIT_MS);
    CHECK(st >= 0 && terminal(st));
    CHECK(in_order(&s));
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* FINISHED reached the framework but was not acknowledged when the agent died: the restarted
 * agent re-sends it (same uuid) and cleans the task up once it is acknowledged. */
static void test_kill_before_terminal_ack(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_task t = {"quick", "true", 0.1, 32};
    REQUIRE(launch(&c, fw, &t, 1) == 0);
    struct seen s = {0};
    REQUIRE(collect(fw, "quick", &s, 0, ITEST_WAIT_MS) == MESOS__V1__TASK_STATE__TASK_FINISHED);
    uint8_t first[16];
    memcpy(first, s.uuids[s.n - 1], 16);
    itest_agent_kill9(&c);
    restart(&c, NULL);
    struct itest_event ev;
    REQUIRE(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "quick", ITEST_WAIT_MS,
                          &ev) == 0);
    CHECK_STR(itest_state_name(ev.status.state), "TASK_FINISHED");
    CHECK(ev.status.has_uuid && memcmp(ev.status.uuid, first, 16) == 0);
    CHECK_INT(itest_fw_ack(fw, &ev.status), 202);
    /* Once acknowledged, the task's checkpoints go away. */
    char meta[1000];
    snprintf(meta, sizeof meta, "%s/meta/slaves/%s/frameworks/%s", c.agent_work, c.agent_id,
             fw->framework_id);
    /* The ack travels scheduler -> master -> agent, whose loop then removes them: how soon
     * depends on the machine's load, so poll toward the harness's deadline. */
    int gone = 0;
    for (int waited = 0; waited < ITEST_WAIT_MS && !gone; waited += 50) {
        struct stat sb;
        gone = stat(meta, &sb) != 0;
        if (!gone)
            usleep(50 * 1000);
    }
    CHECK(gone);
    /* And it is not sent again. */
    CHECK_INT(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "quick", 1500, &ev),
              -ETIMEDOUT);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* Reads "<pid> <start>" from a forked.pid checkpoint. */
static int read_forked_pid(const struct itest_cluster *c, const char *fid, const char *eid)
{
    char *argv[] = {"/bin/sh", "-c", NULL, NULL};
    char script[1500];
    snprintf(script, sizeof script,
             "tail -c +%d %s/meta/slaves/%s/frameworks/%s/executors/%s/runs/*/pids/forked.pid",
             CKPT_HEADER + 1, c->agent_work, c->agent_id, fid, eid);
    argv[2] = script;
    int status = 0;
    char *out = NULL;
    if (itest_run(argv, 5000, &status, &out) != 0 || !out) {
        free(out);
        return -1;
    }
    int pid = atoi(out);
    free(out);
    return pid;
}

static void test_recover_cleanup(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    char old_id[256];
    snprintf(old_id, sizeof old_id, "%s", c.agent_id);
    struct itest_task t = {"victim", "sleep 60", 0.1, 32};
    REQUIRE(launch(&c, fw, &t, 1) == 0);
    REQUIRE(itest_fw_wait_state(fw, "victim", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    int pid = read_forked_pid(&c, fw->framework_id, "victim");
    REQUIRE(pid > 1);
    CHECK(kill(pid, 0) == 0);
    itest_agent_kill9(&c);
    const char *flags[] = {"--registration_backoff_factor=100ms", "--recover=cleanup", NULL};
    restart(&c, flags);
    c.agent_id[0] = '\0';
    /* A new agent id: wait for an active agent that is not the old one. */
    int fresh = 0;
    for (int i = 0; i < 200 && !fresh; i++) {
        c.agent_id[0] = '\0';
        if (itest_agent_wait_registered(&c, 200) == 0 && strcmp(c.agent_id, old_id) != 0)
            fresh = 1;
    }
    CHECK(fresh);
    /* The new agent's orphan cleanup kills it: poll toward the deadline (a loaded machine). */
    int dead = 0;
    for (int waited = 0; waited < ITEST_WAIT_MS && !dead; waited += 50) {
        dead = kill(pid, 0) != 0;
        if (!dead)
            usleep(50 * 1000);
    }
    CHECK(dead);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static int contains(const char *path, const char *needle)
{
    char *text = itest_read_file(path, NULL);
    int found = text && strstr(text, needle);
    if (!found)
        fprintf(stderr, "'%s' not found in %s\n", needle, path);
    free(text);
    return found;
}

static void test_corrupt_checkpoints(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_task t[2] = {{"bad", "sleep 4", 0.1, 32}, {"good", "sleep 4", 0.1, 32}};
    REQUIRE(launch(&c, fw, t, 2) == 0);
    REQUIRE(itest_fw_wait_state(fw, "bad", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    REQUIRE(itest_fw_wait_state(fw, "good", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    usleep(300 * 1000);
    itest_agent_kill9(&c);

    /* Flip a byte of bad's task.info; give good's update stream a torn tail. */
    char script[1500];
    snprintf(script, sizeof script,
             "set -e; base=%s/meta/slaves/%s/frameworks/%s/executors; "
             "f=$(echo $base/bad/runs/*/tasks/bad/task.info); "
             "printf 'X' | dd of=$f bs=1 seek=14 conv=notrunc 2>/dev/null; "
             "g=$(echo $base/good/runs/*/tasks/good/task.updates); printf 'CMCK\\040' >> $g",
             c.agent_work, c.agent_id, fw->framework_id);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    int status = -1;
    char *out = NULL;
    CHECK(itest_run(argv, 5000, &status, &out) == 0 && status == 0);
    free(out);

    /* --strict (the default): a clear error and a non-zero exit. */
    int rc = itest_agent_spawn(&c, NULL, FAST);
    if (rc == 0)
        CHECK_INT(itest_proc_wait(&c.agent, ITEST_WAIT_MS, &status), 0);
    CHECK(c.agent.exited && WIFEXITED(c.agent.status) && WEXITSTATUS(c.agent.status) != 0);
    CHECK(contains(itest_agent_log(&c), "is corrupt"));
    CHECK(contains(itest_agent_log(&c), "--no-strict"));

    /* --no-strict: bad is skipped, good finishes. */
    const char *flags[] = {"--registration_backoff_factor=100ms", "--no-strict", NULL};
    restart(&c, flags);
    struct seen s = {0};
    CHECK_INT(collect(fw, "good", &s, 1, ITEST_WAIT_MS), MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK(in_order(&s));
    CHECK(contains(itest_agent_log(&c), "skipping task 'bad'"));
    CHECK(contains(itest_agent_log(&c), "partial record"));
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_changed_resources(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    itest_agent_kill9(&c);
    int status = 0;
    int rc = itest_agent_spawn(&c, "cpus:3;mem:1024;disk:1024", FAST);
    if (rc == 0)
        CHECK_INT(itest_proc_wait(&c.agent, ITEST_WAIT_MS, &status), 0);
    CHECK(c.agent.exited && WIFEXITED(c.agent.status) && WEXITSTATUS(c.agent.status) != 0);
    CHECK(contains(itest_agent_log(&c), "Incompatible agent info detected"));
    CHECK(contains(itest_agent_log(&c), "meta/slaves/latest"));
    CHECK(contains(itest_agent_log(&c), "restore the old --resources"));
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_kill_while_running), TEST(test_kill_during_launch),
           TEST(test_kill_before_terminal_ack), TEST(test_recover_cleanup),
           TEST(test_corrupt_checkpoints), TEST(test_changed_resources))
