/*
 * itest_task_group_default: task groups run by the real mesos-default-executor (from the
 * agent's --launcher_dir), which starts each task in a nested container through the agent's
 * operator API (LAUNCH_CONTAINER with the task's resources, WAIT_NESTED_CONTAINER,
 * KILL_NESTED_CONTAINER; namespaces, limits and recovery in itest_task_group_nested.c):
 * - every task of a group finishing;
 * - one task failing: the rest of the group is killed;
 * - a KILL of one task of a group: the whole group ends.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *task(const char *tid, const char *agent_id, const char *cmd)
{
    return json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o}", "name", tid, "task_id", "value", tid,
                     "agent_id", "value", agent_id, "command", "value", cmd, "resources",
                     itest_json_resources(0.1, 32));
}

/* Waits for task's first terminal update (acknowledging on the way); returns its state. */
static int terminal_of(struct itest_fw *fw, const char *tid)
{
    struct itest_event ev;
    for (;;) {
        if (itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, tid, ITEST_WAIT_MS, &ev) !=
            0)
            return -1;
        if (ev.status.has_uuid)
            itest_fw_ack(fw, &ev.status);
        int s = ev.status.state;
        if (s == MESOS__V1__TASK_STATE__TASK_FINISHED || s == MESOS__V1__TASK_STATE__TASK_FAILED ||
            s == MESOS__V1__TASK_STATE__TASK_KILLED || s == MESOS__V1__TASK_STATE__TASK_LOST ||
            s == MESOS__V1__TASK_STATE__TASK_ERROR || s == MESOS__V1__TASK_STATE__TASK_DROPPED) {
            fprintf(stderr, "  %s: %s (%s)\n", tid, itest_state_name(s), ev.status.message);
            return s;
        }
    }
}

static int start(struct itest_cluster *c, struct itest_fw **fw)
{
    char bin[512];
    if (access(itest_bin("mesos-default-executor", bin, sizeof bin), X_OK) != 0) {
        fprintf(stderr, "itest: %s is missing\n", bin);
        return -1;
    }
    if (itest_cluster_start(c, NULL) != 0)
        return -1;
    *fw = itest_fw_start(c->master_port, ITEST_JSON, NULL);
    return *fw ? 0 : -1;
}

static void test_group_finishes(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 96, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("f1", c.agent_id, "echo one > one.txt"));
    json_array_append_new(tasks, task("f2", c.agent_id, "sleep 0.2"));
    CHECK_INT(itest_fw_launch_group_json(fw, &off, itest_json_executor("pod-ok", "DEFAULT"), tasks),
              202);
    CHECK_STR(itest_state_name(terminal_of(fw, "f1")), "TASK_FINISHED");
    CHECK_STR(itest_state_name(terminal_of(fw, "f2")), "TASK_FINISHED");
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_failing_task_kills_group(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 96, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("long", c.agent_id, "sleep 100"));
    json_array_append_new(tasks, task("bad", c.agent_id, "sleep 0.3; exit 3"));
    CHECK_INT(
        itest_fw_launch_group_json(fw, &off, itest_json_executor("pod-fail", "DEFAULT"), tasks),
        202);
    CHECK_STR(itest_state_name(terminal_of(fw, "bad")), "TASK_FAILED");
    CHECK_STR(itest_state_name(terminal_of(fw, "long")), "TASK_KILLED");
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_kill_of_group(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 96, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("k1", c.agent_id, "sleep 100"));
    json_array_append_new(tasks, task("k2", c.agent_id, "sleep 100"));
    CHECK_INT(
        itest_fw_launch_group_json(fw, &off, itest_json_executor("pod-kill", "DEFAULT"), tasks),
        202);
    REQUIRE(itest_fw_wait_state(fw, "k1", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    REQUIRE(itest_fw_wait_state(fw, "k2", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    CHECK_INT(itest_fw_kill(fw, "k1", c.agent_id), 202);
    CHECK_STR(itest_state_name(terminal_of(fw, "k1")), "TASK_KILLED");
    CHECK_STR(itest_state_name(terminal_of(fw, "k2")), "TASK_KILLED");
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_group_finishes), TEST(test_failing_task_kills_group), TEST(test_kill_of_group))
