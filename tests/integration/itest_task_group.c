/*
 * itest_task_group: LAUNCH_GROUP through the master and the agent on real daemons.
 *
 * The agent runs a task group's DEFAULT executor as <--launcher_dir>/mesos-default-executor.
 * Here that name points at itest-custom-executor (tests/integration/custom_executor.c), which
 * runs each task of a LAUNCH_GROUP the way it runs a LAUNCH: the cases check what the master
 * and the agent do with a group (validation, one executor getting the whole group in one
 * LAUNCH_GROUP event, statuses, kill, state), not the default executor's own behaviour (nested
 * containers, killing the group when a task fails), which is the default executor's tests'.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *scalar(const char *name, double v)
{
    return json_pack("{s:s, s:s, s:{s:f}}", "name", name, "type", "SCALAR", "scalar", "value", v);
}

static json_t *resources(double cpus, double mem)
{
    json_t *r = json_array();
    json_array_append_new(r, scalar("cpus", cpus));
    json_array_append_new(r, scalar("mem", mem));
    return r;
}

static json_t *group_task(const char *tid, const char *agent_id, const char *action)
{
    char *data = itest_b64_encode((const uint8_t *)action, strlen(action));
    json_t *t = json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o, s:s}", "name", tid, "task_id",
                          "value", tid, "agent_id", "value", agent_id, "command", "value",
                          "sleep 1000", "resources", resources(0.1, 32), "data", data);
    free(data);
    return t;
}

static json_t *default_executor(const char *eid, const char *type)
{
    return json_pack("{s:{s:s}, s:s, s:o}", "executor_id", "value", eid, "type", type, "resources",
                     resources(0.1, 32));
}

static int post_call(struct itest_fw *fw, json_t *call)
{
    char *body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    int rc = itest_fw_post(fw, body, strlen(body), 1);
    free(body);
    return rc;
}

static int accept_group(struct itest_fw *fw, const struct itest_offers *set, json_t *executor,
                        json_t *tasks)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < set->n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", set->ids[i]));
    return post_call(fw, json_pack("{s:s, s:{s:s}, s:{s:o, s:[{s:s, s:{s:o, s:{s:o}}}], s:{s:f}}}",
                                   "type", "ACCEPT", "framework_id", "value", fw->framework_id,
                                   "accept", "offer_ids", ids, "operations", "type", "LAUNCH_GROUP",
                                   "launch_group", "executor", executor, "task_group", "tasks",
                                   tasks, "filters", "refuse_seconds", 0.0));
}

/* A launcher dir whose mesos-default-executor is the test executor (mesos-executor is the
 * real one). Returns 0 and the dir in out. */
static int make_launcher_dir(char *out, size_t outlen)
{
    char dir[256], bin[512], b2[512], link[700];
    if (itest_tmpdir(dir, sizeof dir) != 0)
        return -1;
    snprintf(out, outlen, "%s", dir);
    snprintf(link, sizeof link, "%s/mesos-default-executor", dir);
    if (symlink(itest_bin("itest-custom-executor", bin, sizeof bin), link) != 0)
        return -1;
    snprintf(link, sizeof link, "%s/mesos-executor", dir);
    return symlink(itest_bin("mesos-executor", b2, sizeof b2), link);
}

static int start(struct itest_cluster *c, struct itest_fw **fw)
{
    static char flag[400];
    char dir[256];
    if (make_launcher_dir(dir, sizeof dir) != 0)
        return -1;
    snprintf(flag, sizeof flag, "--launcher_dir=%s", dir);
    const char *const flags[] = {flag, NULL};
    struct itest_cluster_opts o = {.agent_flags = flags};
    if (itest_cluster_start(c, &o) != 0)
        return -1;
    *fw = itest_fw_start(c->master_port, ITEST_JSON, NULL);
    return *fw ? 0 : -1;
}

static int pid_of(const struct itest_status *st)
{
    const char *p = strstr(st->message, "pid=");
    return p ? atoi(p + 4) : -1;
}

static void test_group_runs_on_one_executor(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.3, 96, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, group_task("g1", c.agent_id, "run"));
    json_array_append_new(tasks, group_task("g2", c.agent_id, "run"));
    CHECK_INT(accept_group(fw, &off, default_executor("pod", "DEFAULT"), tasks), 202);
    struct itest_status s1, s2;
    REQUIRE(itest_fw_wait_state(fw, "g1", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &s1) == 0);
    REQUIRE(itest_fw_wait_state(fw, "g2", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &s2) == 0);
    CHECK(pid_of(&s1) > 0);
    CHECK_INT(pid_of(&s1), pid_of(&s2));
    CHECK_STR(s1.executor_id, "pod");

    /* The agent started mesos-default-executor and handed it the group in one event. */
    char *log = itest_read_file(c.agent.log, NULL);
    CHECK(log && strstr(log, "Starting the default executor 'pod'") != NULL);
    free(log);
    json_t *as = itest_get_json(c.agent_port, "/state");
    json_t *ae = json_array_get(
        json_object_get(json_array_get(json_object_get(as, "frameworks"), 0), "executors"), 0);
    CHECK_STR(json_string_value(json_object_get(ae, "id")), "pod");
    CHECK_INT((int)json_array_size(json_object_get(ae, "tasks")), 2);
    const char *dir = json_string_value(json_object_get(ae, "directory"));
    char path[1024];
    snprintf(path, sizeof path, "%s/stderr", dir ? dir : "/nonexistent");
    char *err = itest_read_file(path, NULL);
    CHECK(err && strstr(err, "LAUNCH_GROUP with 2 task(s)") != NULL);
    free(err);
    json_decref(as);

    /* The master: the DEFAULT executor is listed, its tasks name it. */
    json_t *ms = itest_get_json(c.master_port, "/master/state");
    json_t *mf = json_array_get(json_object_get(ms, "frameworks"), 0);
    json_t *ex = json_object_get(mf, "executors");
    CHECK_INT((int)json_array_size(ex), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ex, 0), "type")), "DEFAULT");
    json_t *mt = json_object_get(mf, "tasks");
    CHECK_INT((int)json_array_size(mt), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(mt, 0), "executor_id")), "pod");
    json_decref(ms);

    /* Kill of a group task goes to its executor. */
    CHECK_INT(itest_fw_kill(fw, "g1", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "g1", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void expect_group_error(struct itest_fw *fw, const char *task, const char *needle)
{
    struct itest_event ev;
    CHECK_INT(
        itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task, ITEST_WAIT_MS, &ev), 0);
    CHECK_STR(itest_state_name(ev.status.state), "TASK_ERROR");
    CHECK(ev.status.has_reason &&
          ev.status.reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID);
    if (!strstr(ev.status.message, needle))
        fprintf(stderr, "task %s: message '%s' lacks '%s'\n", task, ev.status.message, needle);
    CHECK(strstr(ev.status.message, needle) != NULL);
}

static void test_invalid_groups(void)
{
    struct itest_cluster c;
    struct itest_fw *fw = NULL;
    REQUIRE(start(&c, &fw) == 0);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 1, 256, ITEST_WAIT_MS, &off) == 0);
    json_t *ids = json_array();
    for (size_t i = 0; i < off.n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off.ids[i]));
    json_t *ops = json_array();
    /* A CUSTOM executor cannot run a group. */
    json_t *t1 = json_array();
    json_array_append_new(t1, group_task("c1", c.agent_id, "run"));
    json_array_append_new(t1, group_task("c2", c.agent_id, "run"));
    json_array_append_new(
        ops, json_pack("{s:s, s:{s:o, s:{s:o}}}", "type", "LAUNCH_GROUP", "launch_group",
                       "executor", default_executor("e1", "CUSTOM"), "task_group", "tasks", t1));
    /* Duplicate task ids: the whole group is refused. */
    json_t *t2 = json_array();
    json_array_append_new(t2, group_task("d1", c.agent_id, "run"));
    json_array_append_new(t2, group_task("d1", c.agent_id, "run"));
    json_array_append_new(
        ops, json_pack("{s:s, s:{s:o, s:{s:o}}}", "type", "LAUNCH_GROUP", "launch_group",
                       "executor", default_executor("e2", "DEFAULT"), "task_group", "tasks", t2));
    /* More than offered. */
    json_t *t3 = json_array();
    json_t *big = group_task("b1", c.agent_id, "run");
    json_object_set_new(big, "resources", resources(0.5, 4096));
    json_array_append_new(t3, big);
    json_array_append_new(t3, group_task("b2", c.agent_id, "run"));
    json_array_append_new(
        ops, json_pack("{s:s, s:{s:o, s:{s:o}}}", "type", "LAUNCH_GROUP", "launch_group",
                       "executor", default_executor("e3", "DEFAULT"), "task_group", "tasks", t3));
    CHECK_INT(post_call(fw, json_pack("{s:s, s:{s:s}, s:{s:o, s:o}}", "type", "ACCEPT",
                                      "framework_id", "value", fw->framework_id, "accept",
                                      "offer_ids", ids, "operations", ops)),
              202);
    expect_group_error(fw, "c1", "'ExecutorInfo.type' must be 'DEFAULT'");
    expect_group_error(fw, "c2", "'ExecutorInfo.type' must be 'DEFAULT'");
    expect_group_error(fw, "d1", "Duplicate task ID 'd1'");
    expect_group_error(fw, "b1", "more resources");
    expect_group_error(fw, "b2", "more resources");
    json_t *ms = itest_get_json(c.master_port, "/master/state");
    json_t *mf = json_array_get(json_object_get(ms, "frameworks"), 0);
    CHECK_INT((int)json_array_size(json_object_get(mf, "executors")), 0);
    CHECK_INT((int)json_array_size(json_object_get(mf, "tasks")), 0);
    json_decref(ms);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_group_runs_on_one_executor), TEST(test_invalid_groups))
