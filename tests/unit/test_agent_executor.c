/* Executor environment construction and executor API call validation. */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "executor_api.h"
#include "executor_env.h"
#include "http_server.h"
#include "test.h"

static void test_env_inherited(void)
{
    char *inherited[] = {"PATH=/usr/bin", "HOME=/root", "MESOS_SLAVE_ID=stale", NULL};
    struct cm_executor_env_params p = {
        .framework_id = "F-0001",
        .executor_id = "task-1",
        .agent_id = "M-S0",
        .agent_ip = "127.0.0.1",
        .agent_port = 5051,
        .directory = "/w/sandbox",
        .checkpoint = false,
        .shutdown_grace_period = 5,
        .inherited = inherited,
    };
    char **env = cm_executor_env_build(&p);
    CHECK_STR(cm_executor_env_get(env, "PATH"), "/usr/bin");
    CHECK_STR(cm_executor_env_get(env, "HOME"), "/root");
    CHECK_STR(cm_executor_env_get(env, "MESOS_FRAMEWORK_ID"), "F-0001");
    CHECK_STR(cm_executor_env_get(env, "MESOS_EXECUTOR_ID"), "task-1");
    CHECK_STR(cm_executor_env_get(env, "MESOS_SLAVE_ID"), "M-S0"); /* overrides inherited */
    CHECK_STR(cm_executor_env_get(env, "MESOS_SLAVE_PID"), "slave(1)@127.0.0.1:5051");
    CHECK_STR(cm_executor_env_get(env, "MESOS_AGENT_ENDPOINT"), "127.0.0.1:5051");
    CHECK_STR(cm_executor_env_get(env, "MESOS_DIRECTORY"), "/w/sandbox");
    CHECK_STR(cm_executor_env_get(env, "MESOS_SANDBOX"), "/w/sandbox");
    CHECK_STR(cm_executor_env_get(env, "MESOS_CHECKPOINT"), "0");
    CHECK_STR(cm_executor_env_get(env, "MESOS_HTTP_COMMAND_EXECUTOR"), "1");
    CHECK_STR(cm_executor_env_get(env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"), "5secs");
    CHECK_STR(cm_executor_env_get(env, "LIBPROCESS_PORT"), "0");
    CHECK(cm_executor_env_get(env, "MESOS_RECOVERY_TIMEOUT") == NULL);
    int count = 0;
    for (char **e = env; *e; e++)
        count += strncmp(*e, "MESOS_SLAVE_ID=", 15) == 0;
    CHECK_INT(count, 1);
    cm_executor_env_free(env);
}

/* A large inherited environment (past the first growth) with duplicates, names that prefix
 * each other, and a token variable removed from the middle: the last assignment of a name
 * wins, each name appears once, and lookups after the removal still find every variable. */
static void test_env_many_and_duplicates(void)
{
    enum { N = 150 };
    static char vars[N + 6][48];
    char *inherited[N + 7];
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        snprintf(vars[k], sizeof vars[k], "V%d=%d", i, i);
        inherited[k] = vars[k];
        k++;
    }
    snprintf(vars[k], sizeof vars[k], "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=old");
    inherited[k] = vars[k];
    k++;
    snprintf(vars[k], sizeof vars[k], "V1=again"); /* replaces V1=1 */
    inherited[k] = vars[k];
    k++;
    snprintf(vars[k], sizeof vars[k], "V=short"); /* a prefix of every V<i> */
    inherited[k] = vars[k];
    k++;
    snprintf(vars[k], sizeof vars[k], "V14=x=y"); /* value holding '=' */
    inherited[k] = vars[k];
    k++;
    inherited[k] = NULL;
    struct cm_executor_env_params p = {
        .framework_id = "F",
        .executor_id = "E",
        .agent_id = "A",
        .agent_ip = "127.0.0.1",
        .agent_port = 5051,
        .directory = "/d",
        .inherited = inherited,
    };
    char **env = cm_executor_env_build(&p);
    CHECK(cm_executor_env_get(env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN") == NULL);
    CHECK_STR(cm_executor_env_get(env, "V1"), "again");
    CHECK_STR(cm_executor_env_get(env, "V"), "short");
    CHECK_STR(cm_executor_env_get(env, "V14"), "x=y");
    CHECK_STR(cm_executor_env_get(env, "V0"), "0");
    CHECK_STR(cm_executor_env_get(env, "V149"), "149");
    CHECK_STR(cm_executor_env_get(env, "MESOS_EXECUTOR_ID"), "E");
    size_t n = 0, v1 = 0;
    for (char **e = env; *e; e++) {
        n++;
        v1 += strncmp(*e, "V1=", 3) == 0;
    }
    CHECK_INT(v1, 1);
    /* N + "V" + the ten MESOS_* variables of a command executor and LIBPROCESS_PORT. */
    CHECK_INT(n, N + 1 + 11);
    cm_executor_env_free(env);

    /* With a token the variable is set once, in place of the inherited one. */
    p.auth_token = "tok";
    env = cm_executor_env_build(&p);
    CHECK_STR(cm_executor_env_get(env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"), "tok");
    n = 0;
    for (char **e = env; *e; e++)
        n += strncmp(*e, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=", 36) == 0;
    CHECK_INT(n, 1);
    cm_executor_env_free(env);
}

static void test_env_flag(void)
{
    char why[256];
    CHECK(cm_executor_env_parse_flag("[1]", why, sizeof why) == NULL);
    CHECK(cm_executor_env_parse_flag("{\"A\":1}", why, sizeof why) == NULL);
    CHECK(cm_executor_env_parse_flag("not json", why, sizeof why) == NULL);
    json_t *flag = cm_executor_env_parse_flag("{\"PATH\":\"/bin\",\"X\":\"y\"}", why, sizeof why);
    REQUIRE(flag != NULL);
    char *inherited[] = {"PATH=/usr/bin", "SECRET=1", "LIBPROCESS_IP=10.0.0.1", NULL};
    struct cm_executor_env_params p = {
        .framework_id = "F",
        .executor_id = "E",
        .agent_id = "A",
        .agent_ip = "10.0.0.1",
        .agent_port = 1,
        .directory = "/d",
        .sandbox = "/mnt/mesos/sandbox",
        .checkpoint = true,
        .shutdown_grace_period = 90,
        .env_flag = flag,
        .inherited = inherited,
    };
    char **env = cm_executor_env_build(&p);
    CHECK_STR(cm_executor_env_get(env, "PATH"), "/bin");
    CHECK_STR(cm_executor_env_get(env, "X"), "y");
    CHECK(cm_executor_env_get(env, "SECRET") == NULL);
    CHECK_STR(cm_executor_env_get(env, "LIBPROCESS_IP"), "10.0.0.1");
    CHECK_STR(cm_executor_env_get(env, "MESOS_SANDBOX"), "/mnt/mesos/sandbox");
    CHECK_STR(cm_executor_env_get(env, "MESOS_CHECKPOINT"), "1");
    CHECK_STR(cm_executor_env_get(env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"), "1.5mins");
    CHECK(cm_executor_env_get(env, "MESOS_RECOVERY_TIMEOUT") != NULL);
    cm_executor_env_free(env);
    json_decref(flag);
}

static Mesos__V1__Executor__Call *decode(const char *json, int *rc)
{
    Mesos__V1__Executor__Call *c = NULL;
    char why[512];
    *rc = cm_executor_call_decode(CM_MEDIA_JSON, json, strlen(json), &c, why, sizeof why);
    return c;
}

static int validate(const char *json)
{
    int rc;
    Mesos__V1__Executor__Call *c = decode(json, &rc);
    if (rc != 0)
        return 1000 + rc;
    char why[512] = "";
    rc = cm_executor_call_validate(c, why, sizeof why);
    if (rc != 0)
        CHECK(why[0] != '\0');
    protobuf_c_message_free_unpacked(&c->base, NULL);
    return rc;
}

#define IDS "\"executor_id\":{\"value\":\"e\"},\"framework_id\":{\"value\":\"f\"}"
/* 16 bytes, base64. */
#define UUID16 "AAECAwQFBgcICQoLDA0ODw=="

static void test_validation(void)
{
    CHECK(validate("{" IDS ",\"type\":\"SUBSCRIBE\",\"subscribe\":{}}") == 0);
    CHECK(validate("{" IDS ",\"type\":\"SUBSCRIBE\"}") == CM_EINVAL);
    CHECK(validate("{" IDS ",\"type\":\"HEARTBEAT\"}") == 0);
    CHECK(validate("{" IDS "}") == CM_EINVAL); /* no type */
    CHECK(validate("{\"executor_id\":{\"value\":\"../x\"},\"framework_id\":{\"value\":\"f\"},"
                   "\"type\":\"HEARTBEAT\"}") == CM_EINVAL);
    /* Missing required ids fail at decode. */
    CHECK(validate("{\"type\":\"HEARTBEAT\"}") != 0);
    CHECK(validate("{" IDS ",\"type\":\"MESSAGE\",\"message\":{\"data\":\"aGk=\"}}") == 0);
    CHECK(validate("{" IDS ",\"type\":\"MESSAGE\"}") == CM_EINVAL);

    const char *ok =
        "{" IDS ",\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
        "\"t\"},\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"" UUID16
        "\"}}}";
    CHECK(validate(ok) == 0);
    /* 40-byte uuid (the upstream doc example) is refused. */
    CHECK(validate("{" IDS ",\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
                   "\"t\"},\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":"
                   "\"ZGY1ZjM1YzMtNjg2Ny00YzAzLTk1NmItODM4MDY4MjY1ZmJk\"}}}") == CM_EINVAL);
    /* No uuid. */
    CHECK(validate("{" IDS ",\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
                   "\"t\"},\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\"}}}") ==
          CM_EINVAL);
    /* Wrong source. */
    CHECK(
        validate("{" IDS ",\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
                 "\"t\"},\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_AGENT\",\"uuid\":\"" UUID16
                 "\"}}}") == CM_EINVAL);
    /* TASK_STAGING refused. */
    CHECK(validate(
              "{" IDS ",\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
              "\"t\"},\"state\":\"TASK_STAGING\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"" UUID16
              "\"}}}") == CM_EINVAL);
    /* executor_id mismatch. */
    CHECK(validate("{" IDS ",\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
                   "\"t\"},\"executor_id\":{\"value\":\"other\"},\"state\":\"TASK_RUNNING\","
                   "\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"" UUID16 "\"}}}") == CM_EINVAL);
    /* Matching executor_id is fine. */
    CHECK(validate("{" IDS ",\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":"
                   "\"t\"},\"executor_id\":{\"value\":\"e\"},\"state\":\"TASK_RUNNING\","
                   "\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"" UUID16 "\"}}}") == 0);
    /* Not JSON at all. */
    int rc;
    CHECK(decode("nope", &rc) == NULL && rc != 0);
}

static void test_protobuf_decode(void)
{
    Mesos__V1__Executor__Call c = MESOS__V1__EXECUTOR__CALL__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    eid.value = "e";
    fid.value = "f";
    c.executor_id = &eid;
    c.framework_id = &fid;
    c.has_type = 1;
    c.type = MESOS__V1__EXECUTOR__CALL__TYPE__HEARTBEAT;
    uint8_t buf[256];
    size_t len = protobuf_c_message_pack(&c.base, buf);
    Mesos__V1__Executor__Call *out = NULL;
    char why[256];
    REQUIRE(cm_executor_call_decode(CM_MEDIA_PROTOBUF, buf, len, &out, why, sizeof why) == 0);
    CHECK(cm_executor_call_validate(out, why, sizeof why) == 0);
    protobuf_c_message_free_unpacked(&out->base, NULL);
    uint8_t junk[] = {0xff, 0xff, 0xff};
    CHECK(cm_executor_call_decode(CM_MEDIA_PROTOBUF, junk, sizeof junk, &out, why, sizeof why) !=
          0);
}

TEST_MAIN(TEST(test_env_inherited), TEST(test_env_many_and_duplicates), TEST(test_env_flag),
          TEST(test_validation), TEST(test_protobuf_decode))
