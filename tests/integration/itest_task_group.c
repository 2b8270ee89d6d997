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

#include "jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *group_task(const char *tid, const char *agent_id, const char *action)
{
    char *data = itest_b64_encode((const uint8_t *)action, strlen(action));
    json_t *t = json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o, s:s}", "name", tid, "task_id",
                          "value", tid, "agent_id", "value", agent_id, "command", "value",
                          "sleep 1000", "resources", itest_json_resources(0.1, 32), "data", data);
    free(data);
    return t;
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
    CHECK_INT(itest_fw_launch_group_json(fw, &off, itest_json_executor("pod", "DEFAULT"), tasks),
              202);
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
                       "executor", itest_json_executor("e1", "CUSTOM"), "task_group", "tasks", t1));
    /* Duplicate task ids: the whole group is refused. */
    json_t *t2 = json_array();
    json_array_append_new(t2, group_task("d1", c.agent_id, "run"));
    json_array_append_new(t2, group_task("d1", c.agent_id, "run"));
    json_array_append_new(ops, json_pack("{s:s, s:{s:o, s:{s:o}}}", "type", "LAUNCH_GROUP",
                                         "launch_group", "executor",
                                         itest_json_executor("e2", "DEFAULT"), "task_group",
                                         "tasks", t2));
    /* More than offered. */
    json_t *t3 = json_array();
    json_t *big = group_task("b1", c.agent_id, "run");
    json_object_set_new(big, "resources", itest_json_resources(0.5, 4096));
    json_array_append_new(t3, big);
    json_array_append_new(t3, group_task("b2", c.agent_id, "run"));
    json_array_append_new(ops, json_pack("{s:s, s:{s:o, s:{s:o}}}", "type", "LAUNCH_GROUP",
                                         "launch_group", "executor",
                                         itest_json_executor("e3", "DEFAULT"), "task_group",
                                         "tasks", t3));
    /* A DEFAULT executor without a disk entry. */
    json_t *t4 = json_array();
    json_array_append_new(t4, group_task("nd1", c.agent_id, "run"));
    json_t *nodisk = json_pack("{s:{s:s}, s:s, s:o}", "executor_id", "value", "e4", "type",
                               "DEFAULT", "resources", itest_json_resources(0.1, 32));
    json_array_append_new(ops,
                          json_pack("{s:s, s:{s:o, s:{s:o}}}", "type", "LAUNCH_GROUP",
                                    "launch_group", "executor", nodisk, "task_group", "tasks", t4));
    CHECK_INT(itest_fw_post_call(fw, json_pack("{s:s, s:{s:s}, s:{s:o, s:o}}", "type", "ACCEPT",
                                               "framework_id", "value", fw->framework_id, "accept",
                                               "offer_ids", ids, "operations", ops)),
              202);
    expect_group_error(fw, "c1", "'ExecutorInfo.type' must be 'DEFAULT'");
    expect_group_error(fw, "c2", "'ExecutorInfo.type' must be 'DEFAULT'");
    expect_group_error(fw, "d1", "Duplicate task ID 'd1'");
    expect_group_error(fw, "b1", "more resources");
    expect_group_error(fw, "b2", "more resources");
    expect_group_error(fw, "nd1", "'disk' entry");
    json_t *ms = itest_get_json(c.master_port, "/master/state");
    json_t *mf = json_array_get(json_object_get(ms, "frameworks"), 0);
    CHECK_INT((int)json_array_size(json_object_get(mf, "executors")), 0);
    CHECK_INT((int)json_array_size(json_object_get(mf, "tasks")), 0);
    json_decref(ms);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

/* One agent v1 operator call (JSON) with an optional bearer token; returns the status and
 * the parsed body (NULL when not JSON). */
static int op_call(int port, const char *token, json_t *call, json_t **out)
{
    char *body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    char auth[2048];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *h[] = {"Content-Type: application/json", "Accept: application/json",
                       token ? auth : NULL, NULL};
    struct itest_http_resp r;
    int rc = itest_http(port, "POST", "/api/v1", h, body, strlen(body), &r, 10000);
    free(body);
    if (rc != 0)
        return rc;
    if (r.status != 200 && r.status != 202)
        fprintf(stderr, "  operator call -> %d %s", r.status, (const char *)r.body);
    if (out)
        *out = r.body_len ? json_loadb((const char *)r.body, r.body_len, 0, NULL) : NULL;
    int status = r.status;
    itest_http_resp_cleanup(&r);
    return status;
}

static json_t *nested_id(const char *child, const char *parent)
{
    return json_pack("{s:s, s:{s:s}}", "value", child, "parent", "value", parent);
}

static int launch_nested(int port, const char *token, const char *child, const char *parent,
                         const char *cmd)
{
    return op_call(port, token,
                   json_pack("{s:s, s:{s:o, s:{s:s}}}", "type", "LAUNCH_NESTED_CONTAINER",
                             "launch_nested_container", "container_id", nested_id(child, parent),
                             "command", "value", cmd),
                   NULL);
}

/* WAIT_NESTED_CONTAINER: returns the HTTP status and the exit status (-1 when absent). */
static int wait_nested(int port, const char *token, const char *child, const char *parent,
                       int *exit_status)
{
    json_t *out = NULL;
    int rc = op_call(port, token,
                     json_pack("{s:s, s:{s:o}}", "type", "WAIT_NESTED_CONTAINER",
                               "wait_nested_container", "container_id", nested_id(child, parent)),
                     &out);
    json_t *es = json_object_get(json_object_get(out, "wait_nested_container"), "exit_status");
    *exit_status = json_is_integer(es) ? (int)json_integer_value(es) : -1;
    json_decref(out);
    return rc;
}

static const char KEY[] = "nested-container-test-key-0123456789abcdef";

/* Nested containers under a running executor's container through the agent's operator API:
 * launch, wait (exit status), kill, remove, the errors, and an executor token limited to its
 * own container's children. */
static void test_nested_containers(void)
{
    char dir[256], keypath[300], keyflag[400], ldir[256], lflag[400];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(keypath, sizeof keypath, "%s/jwt.key", dir);
    FILE *kf = fopen(keypath, "w");
    REQUIRE(kf != NULL);
    fputs(KEY, kf);
    fclose(kf);
    REQUIRE(chmod(keypath, 0600) == 0);
    snprintf(keyflag, sizeof keyflag, "--jwt_secret_key=%s", keypath);
    REQUIRE(make_launcher_dir(ldir, sizeof ldir) == 0);
    snprintf(lflag, sizeof lflag, "--launcher_dir=%s", ldir);
    const char *const flags[] = {lflag, keyflag, "--authenticate_http_executors", NULL};
    struct itest_cluster_opts o = {.agent_flags = flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    json_t *tasks = json_array();
    json_array_append_new(tasks, group_task("p1", c.agent_id, "run"));
    CHECK_INT(itest_fw_launch_group_json(fw, &off, itest_json_executor("nest", "DEFAULT"), tasks),
              202);
    REQUIRE(itest_fw_wait_state(fw, "p1", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    json_t *as = itest_get_json(c.agent_port, "/state");
    json_t *ae = json_array_get(
        json_object_get(json_array_get(json_object_get(as, "frameworks"), 0), "executors"), 0);
    char cid[64], sandbox[512];
    snprintf(cid, sizeof cid, "%s", json_string_value(json_object_get(ae, "container")));
    snprintf(sandbox, sizeof sandbox, "%s", json_string_value(json_object_get(ae, "directory")));
    json_decref(as);
    char *tok = NULL, *other = NULL, jwhy[128];
    REQUIRE(cm_jwt_executor_token(KEY, strlen(KEY), fw->framework_id, "nest", cid, &tok, jwhy,
                                  sizeof jwhy) == 0);
    REQUIRE(cm_jwt_executor_token(KEY, strlen(KEY), fw->framework_id, "nest",
                                  "00000000-0000-0000-0000-000000000000", &other, jwhy,
                                  sizeof jwhy) == 0);

    /* A command that exits 3: its status and its own sandbox under the executor's. */
    CHECK_INT(launch_nested(c.agent_port, tok, "n1", cid, "echo nested-out; exit 3"), 200);
    int es = -2;
    CHECK_INT(wait_nested(c.agent_port, tok, "n1", cid, &es), 200);
    CHECK(es >= 0 && WIFEXITED(es) && WEXITSTATUS(es) == 3);
    char path[700];
    snprintf(path, sizeof path, "%s/containers/n1/stdout", sandbox);
    char *outp = itest_read_file(path, NULL);
    CHECK(outp && strstr(outp, "nested-out") != NULL);
    free(outp);
    /* Same id again; no parent; an unknown parent; a token for another container. */
    CHECK_INT(launch_nested(c.agent_port, tok, "n1", cid, "true"), 400);
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:{s:s}, s:{s:s}}}", "type", "LAUNCH_NESTED_CONTAINER",
                                "launch_nested_container", "container_id", "value", "n9", "command",
                                "value", "true"),
                      NULL),
              400);
    CHECK_INT(launch_nested(c.agent_port, NULL, "n3", "no-such-parent", "true"), 404);
    CHECK_INT(launch_nested(c.agent_port, other, "n4", cid, "true"), 403);
    CHECK_INT(wait_nested(c.agent_port, other, "n1", cid, &es), 403);

    /* KILL ends a long one; WAIT sees it gone. */
    CHECK_INT(launch_nested(c.agent_port, tok, "n2", cid, "sleep 100"), 200);
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:o, s:i}}", "type", "KILL_NESTED_CONTAINER",
                                "kill_nested_container", "container_id", nested_id("n2", cid),
                                "signal", 9),
                      NULL),
              200);
    CHECK_INT(wait_nested(c.agent_port, tok, "n2", cid, &es), 200);
    CHECK(es > 0);
    /* REMOVE forgets an exited one. */
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:o}}", "type", "REMOVE_NESTED_CONTAINER",
                                "remove_nested_container", "container_id", nested_id("n1", cid)),
                      NULL),
              200);
    CHECK_INT(wait_nested(c.agent_port, tok, "n1", cid, &es), 404);
    /* The newer calls name nested containers by their parent too: LAUNCH_CONTAINER with
     * resources (200, then 202 for the same id), WAIT_CONTAINER answered as wait_container,
     * KILL_CONTAINER, REMOVE_CONTAINER; without a parent LAUNCH_CONTAINER is 501. */
    json_t *res =
        json_pack("[{s:s, s:s, s:{s:f}}, {s:s, s:s, s:{s:f}}]", "name", "cpus", "type", "SCALAR",
                  "scalar", "value", 0.1, "name", "mem", "type", "SCALAR", "scalar", "value", 40.0);
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:o, s:{s:s}, s:O}}", "type", "LAUNCH_CONTAINER",
                                "launch_container", "container_id", nested_id("n5", cid), "command",
                                "value", "touch started; exec sleep 100", "resources", res),
                      NULL),
              200);
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:o, s:{s:s}, s:O}}", "type", "LAUNCH_CONTAINER",
                                "launch_container", "container_id", nested_id("n5", cid), "command",
                                "value", "sleep 100", "resources", res),
                      NULL),
              202);
    CHECK_INT(op_call(c.agent_port, NULL,
                      json_pack("{s:s, s:{s:{s:s}, s:{s:s}}}", "type", "LAUNCH_CONTAINER",
                                "launch_container", "container_id", "value", "standalone",
                                "command", "value", "true"),
                      NULL),
              501);
    json_decref(res);
    /* SIGTERM only once the command runs (before that only its namespace's init exists, and
     * an init ignores signals it has no handler for). */
    snprintf(path, sizeof path, "%s/containers/n5/started", sandbox);
    for (int waited = 0; waited < ITEST_WAIT_MS && access(path, F_OK) != 0; waited += 20)
        usleep(20 * 1000);
    CHECK(access(path, F_OK) == 0);
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:o, s:i}}", "type", "KILL_CONTAINER", "kill_container",
                                "container_id", nested_id("n5", cid), "signal", 15),
                      NULL),
              200);
    json_t *wout = NULL;
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:o}}", "type", "WAIT_CONTAINER", "wait_container",
                                "container_id", nested_id("n5", cid)),
                      &wout),
              200);
    CHECK_STR(json_string_value(json_object_get(wout, "type")), "WAIT_CONTAINER");
    json_t *wes = json_object_get(json_object_get(wout, "wait_container"), "exit_status");
    CHECK(json_is_integer(wes) && json_integer_value(wes) > 0);
    json_decref(wout);
    CHECK_INT(op_call(c.agent_port, tok,
                      json_pack("{s:s, s:{s:o}}", "type", "REMOVE_CONTAINER", "remove_container",
                                "container_id", nested_id("n5", cid)),
                      NULL),
              200);
    CHECK_INT(wait_nested(c.agent_port, tok, "n5", cid, &es), 404);
    /* linux_info.share_cgroups false is what a nested container gets; true is refused. */
    for (int share = 0; share < 2; share++)
        CHECK_INT(
            op_call(c.agent_port, tok,
                    json_pack("{s:s, s:{s:o, s:{s:s}, s:{s:s, s:{s:b}}}}", "type",
                              "LAUNCH_CONTAINER", "launch_container", "container_id",
                              nested_id(share ? "n7" : "n6", cid), "command", "value", "true",
                              "container", "type", "MESOS", "linux_info", "share_cgroups", share),
                    NULL),
            share ? 400 : 200);
    CHECK_INT(wait_nested(c.agent_port, tok, "n6", cid, &es), 200);
    CHECK_INT(es, 0);
    /* Streaming sessions are not implemented. */
    CHECK_INT(
        op_call(c.agent_port, tok,
                json_pack("{s:s, s:{s:o, s:{s:s}}}", "type", "LAUNCH_NESTED_CONTAINER_SESSION",
                          "launch_nested_container_session", "container_id", nested_id("s1", cid),
                          "command", "value", "true"),
                NULL),
        501);
    free(tok);
    free(other);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_group_runs_on_one_executor), TEST(test_invalid_groups),
           TEST(test_nested_containers))
