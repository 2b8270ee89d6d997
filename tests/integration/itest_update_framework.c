/*
 * itest_update_framework: UPDATE_FRAMEWORK reaches the agent running the framework's executor
 * (AgentEvent UPDATE_FRAMEWORK): the agent's /state shows the new name and labels, user and
 * checkpoint stay as they were, and a checkpointing framework's framework.info on disk is
 * rewritten with the new info.
 */
#include "harness.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

/* The agent's view of its first framework (a new reference), or NULL. */
static json_t *agent_framework(int port)
{
    json_t *st = itest_get_json(port, "/state");
    json_t *fws = st ? json_object_get(st, "frameworks") : NULL;
    json_t *f = json_array_size(fws) ? json_incref(json_array_get(fws, 0)) : NULL;
    json_decref(st);
    return f;
}

static void test_update_reaches_agent(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw_opts o = {.name = "before", .failover_timeout = 60, .checkpoint = 1};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &o);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"sleeper", "sleep 100", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    REQUIRE(itest_fw_wait_state(fw, "sleeper", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    json_t *before = agent_framework(c.agent_port);
    REQUIRE(before != NULL);
    CHECK_STR(json_string_value(json_object_get(before, "name")), "before");
    char user[128];
    snprintf(user, sizeof user, "%s", json_string_value(json_object_get(before, "user")));
    json_decref(before);

    json_t *call = json_pack(
        "{s:s, s:{s:s}, s:{s:{s:{s:s}, s:s, s:s, s:f, s:b, s:{s:[{s:s, s:s}]}}}}", "type",
        "UPDATE_FRAMEWORK", "framework_id", "value", fw->framework_id, "update_framework",
        "framework_info", "id", "value", fw->framework_id, "user", user, "name", "after",
        "failover_timeout", 120.0, "checkpoint", 1, "labels", "labels", "key", "k", "value", "v");
    REQUIRE(call != NULL);
    char *body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    int code = itest_fw_post(fw, body, strlen(body), 1);
    free(body);
    if (code != 200)
        fprintf(stderr, "UPDATE_FRAMEWORK: %d %s\n", code, fw->last_body);
    CHECK_INT(code, 200);

    /* The agent applies it within a moment. */
    json_t *after = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(after);
        after = agent_framework(c.agent_port);
        const char *name = after ? json_string_value(json_object_get(after, "name")) : NULL;
        if (name && strcmp(name, "after") == 0)
            break;
        usleep(100 * 1000);
    }
    REQUIRE(after != NULL);
    CHECK_STR(json_string_value(json_object_get(after, "name")), "after");
    CHECK_STR(json_string_value(json_object_get(after, "user")), user);
    CHECK(json_is_true(json_object_get(after, "checkpoint")));
    CHECK(json_real_value(json_object_get(after, "failover_timeout")) == 120.0);
    json_decref(after);

    /* The checkpointed copy is the new one (the name is a plain string in the protobuf). */
    char path[1024];
    snprintf(path, sizeof path, "%s/meta/slaves/%s/frameworks/%s/framework.info", c.agent_work,
             c.agent_id, fw->framework_id);
    size_t len = 0;
    char *data = itest_read_file(path, &len);
    REQUIRE(data != NULL);
    CHECK(memmem(data, len, "after", 5) != NULL);
    CHECK(memmem(data, len, "before", 6) == NULL);
    free(data);

    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_update_reaches_agent))
