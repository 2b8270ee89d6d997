/*
 * itest_custom_executor_recovery: an agent restarted (kill -9) while a checkpointing
 * framework's custom executor runs. The executor (itest-custom-executor, MESOS_CHECKPOINT=1)
 * re-subscribes to the new agent, which re-registers with the master reporting it: the master
 * still lists the executor once, framework messages reach it again, and its task can be killed.
 * And a master killed and restarted: the agent's re-registration brings the executor back into
 * the new master's state.
 */
#include "harness.h"
#include "harness_agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const FAST[] = {"--registration_backoff_factor=100ms", NULL};

/* The agent checkpoints its id after REGISTERED; a kill -9 before would make a new agent. */
static int wait_agent_checkpointed(const struct itest_cluster *c, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        char *text = itest_read_file(itest_agent_log(c), NULL);
        int done = text && strstr(text, "as agent '");
        free(text);
        if (done)
            return 0;
        usleep(20 * 1000);
    }
    return -1;
}

static int count_master_executors(struct itest_cluster *c)
{
    json_t *state = itest_get_json(c->master_port, "/master/state");
    json_t *fws = json_object_get(state, "frameworks");
    int n = (int)json_array_size(json_object_get(json_array_get(fws, 0), "executors"));
    json_decref(state);
    return n;
}

static int message_round_trip(struct itest_fw *fw, const char *agent_id)
{
    static const uint8_t msg[] = {'a', 0, 'b'};
    char *b64 = itest_b64_encode(msg, sizeof msg);
    int rc = itest_fw_post_call(fw, json_pack("{s:s, s:{s:s}, s:{s:{s:s}, s:{s:s}, s:s}}", "type",
                                              "MESSAGE", "framework_id", "value", fw->framework_id,
                                              "message", "agent_id", "value", agent_id,
                                              "executor_id", "value", "rex", "data", b64));
    free(b64);
    if (rc != 202)
        return -1;
    struct itest_event ev;
    if (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE, NULL, ITEST_WAIT_MS, &ev))
        return -1;
    return ev.data_len == 5 + sizeof msg && memcmp(ev.data + 5, msg, sizeof msg) == 0 ? 0 : -1;
}

static void test_agent_restart_with_custom_executor(void)
{
    char exec_path[512];
    itest_bin("itest-custom-executor", exec_path, sizeof exec_path);
    REQUIRE(access(exec_path, X_OK) == 0);
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    REQUIRE(itest_agent_spawn(&c, NULL, FAST) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    REQUIRE(wait_agent_checkpointed(&c, ITEST_WAIT_MS) == 0);
    struct itest_fw_opts fo = {.checkpoint = 1, .failover_timeout = 60};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    json_t *ids = json_array();
    for (size_t i = 0; i < off.n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off.ids[i]));
    char *data = itest_b64_encode((const uint8_t *)"run", 3);
    json_t *exec =
        json_pack("{s:{s:s}, s:s, s:{s:s}, s:o}", "executor_id", "value", "rex", "type", "CUSTOM",
                  "command", "value", exec_path, "resources", itest_json_resources(0.1, 32));
    json_t *task = json_pack("{s:s, s:{s:s}, s:{s:s}, s:o, s:o, s:s}", "name", "rt", "task_id",
                             "value", "rt", "agent_id", "value", c.agent_id, "executor", exec,
                             "resources", itest_json_resources(0.1, 32), "data", data);
    free(data);
    CHECK_INT(itest_fw_post_call(
                  fw, json_pack("{s:s, s:{s:s}, s:{s:o, s:[{s:s, s:{s:[o]}}]}}", "type", "ACCEPT",
                                "framework_id", "value", fw->framework_id, "accept", "offer_ids",
                                ids, "operations", "type", "LAUNCH", "launch", "task_infos", task)),
              202);
    struct itest_status st;
    REQUIRE(itest_fw_wait_state(fw, "rt", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &st) == 0);
    CHECK_INT(message_round_trip(fw, c.agent_id), 0);
    usleep(300 * 1000); /* the acknowledgement reaches the agent */

    itest_agent_kill9(&c);
    usleep(300 * 1000);
    REQUIRE(itest_agent_spawn(&c, NULL, FAST) == 0);
    CHECK_INT(itest_agent_wait_registered(&c, ITEST_WAIT_MS), 0);
    /* The executor re-subscribed: the recovered agent logs it, and it answers messages. */
    int resubscribed = 0;
    for (int i = 0; i < 200 && !resubscribed; i++) {
        char *text = itest_read_file(itest_agent_log(&c), NULL);
        resubscribed = text && strstr(text, "Recovered executor 'rex'") != NULL;
        free(text);
        if (!resubscribed)
            usleep(50 * 1000);
    }
    CHECK(resubscribed);
    CHECK_INT(message_round_trip(fw, c.agent_id), 0);
    CHECK_INT(count_master_executors(&c), 1);
    CHECK_INT(itest_fw_kill(fw, "rt", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "rt", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* The master is killed and restarted: the agent re-registers reporting the executor, which the
 * new master lists again (and the task names it), and messages and kills work as before. */
static void test_master_restart_with_custom_executor(void)
{
    char exec_path[512];
    itest_bin("itest-custom-executor", exec_path, sizeof exec_path);
    REQUIRE(access(exec_path, X_OK) == 0);
    const char *mflags[] = {"--agent_reregister_timeout=20secs", NULL};
    struct itest_cluster c;
    struct itest_cluster_opts o = {.master_flags = mflags};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    struct itest_fw_opts fo = {.failover_timeout = 60};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
    REQUIRE(fw != NULL);
    char fid[ITEST_ID];
    snprintf(fid, sizeof fid, "%s", fw->framework_id);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    json_t *ids = json_array();
    for (size_t i = 0; i < off.n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off.ids[i]));
    char *data = itest_b64_encode((const uint8_t *)"run", 3);
    json_t *exec =
        json_pack("{s:{s:s}, s:s, s:{s:s}, s:o}", "executor_id", "value", "rex", "type", "CUSTOM",
                  "command", "value", exec_path, "resources", itest_json_resources(0.1, 32));
    json_t *task = json_pack("{s:s, s:{s:s}, s:{s:s}, s:o, s:o, s:s}", "name", "mt", "task_id",
                             "value", "mt", "agent_id", "value", c.agent_id, "executor", exec,
                             "resources", itest_json_resources(0.1, 32), "data", data);
    free(data);
    CHECK_INT(itest_fw_post_call(
                  fw, json_pack("{s:s, s:{s:s}, s:{s:o, s:[{s:s, s:{s:[o]}}]}}", "type", "ACCEPT",
                                "framework_id", "value", fw->framework_id, "accept", "offer_ids",
                                ids, "operations", "type", "LAUNCH", "launch", "task_infos", task)),
              202);
    REQUIRE(itest_fw_wait_state(fw, "mt", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);

    CHECK_INT(itest_proc_signal(&c.master, SIGKILL), 0);
    int status = 0;
    CHECK_INT(itest_proc_wait(&c.master, 5000, &status), 0);
    itest_fw_free(fw);
    REQUIRE(itest_cluster_restart_master(&c, mflags) == 0);
    fo.framework_id = fid;
    fw = NULL;
    for (int i = 0; i < 100 && !fw; i++) {
        fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
        if (!fw)
            usleep(200 * 1000);
    }
    REQUIRE(fw != NULL);
    /* The re-registered agent's report brings the executor back. */
    int listed = 0;
    const char *task_exec = NULL;
    json_t *state = NULL;
    for (int i = 0; i < 150 && !listed; i++) {
        json_decref(state);
        state = itest_get_json(c.master_port, "/master/state");
        json_t *f0 = json_array_get(json_object_get(state, "frameworks"), 0);
        json_t *ex = json_object_get(f0, "executors");
        listed = json_array_size(ex) == 1 &&
                 json_string_value(json_object_get(json_array_get(ex, 0), "executor_id")) &&
                 strcmp(json_string_value(json_object_get(json_array_get(ex, 0), "executor_id")),
                        "rex") == 0;
        task_exec = json_string_value(
            json_object_get(json_array_get(json_object_get(f0, "tasks"), 0), "executor_id"));
        if (!listed)
            usleep(100 * 1000);
    }
    CHECK(listed);
    CHECK(task_exec && strcmp(task_exec, "rex") == 0);
    json_decref(state);
    CHECK_INT(message_round_trip(fw, c.agent_id), 0);
    CHECK_INT(itest_fw_kill(fw, "mt", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "mt", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_agent_restart_with_custom_executor),
           TEST(test_master_restart_with_custom_executor))
