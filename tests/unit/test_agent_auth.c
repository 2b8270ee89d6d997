/* test_agent_auth.c: executor authentication in the agent core (agent_auth.h), without a
 * master or sockets: the agent's link is a stub, the clock is fake and the executor is a
 * script that writes the MESOS_EXECUTOR_AUTHENTICATION_TOKEN it was started with to a file.
 * Covers: the token's claims name the executor's framework, executor and container and verify
 * with the key; executor calls whose claims are missing or name someone else are 403 while
 * the executor's own claims are accepted; the environment carries the token only when the
 * agent has a key (never an inherited one); and the flags that need one another. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_internal.h"
#include "agent_link.h"
#include "agent_xapi.h"
#include "codec.h"
#include "executor_env.h"
#include "jwt.h"
#include "log.h"
#include "test.h"

#define FID "fw-1"
#define AID "agent-1"
#define KEY "unit-test-key"

static int stub_open(void *arg, const char *leader, const Cmesos__Internal__AgentCall *reg,
                     char *why, size_t whylen)
{
    (void)leader;
    (void)reg;
    (void)why;
    (void)whylen;
    (*(int *)arg)++;
    return 0;
}

static int stub_send(void *arg, const Cmesos__Internal__AgentCall *call)
{
    (void)arg;
    (void)call;
    return 0;
}

static void stub_close(void *arg)
{
    (void)arg;
}

struct fx {
    char dir[64], work[128], bin[128], key[128], token_file[128];
    struct cm_agent_flags flags;
    struct cm_fake_clock clock;
    struct event_base *base;
    struct cm_agent *a;
    int opens;
};

#define PUMP_UNTIL(f, cond, ms)                                                                    \
    do {                                                                                           \
        for (int i_ = 0; i_ < (ms) / 5 && !(cond); i_++) {                                         \
            event_base_loop((f)->base, EVLOOP_NONBLOCK);                                           \
            usleep(5000);                                                                          \
        }                                                                                          \
    } while (0)

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        abort();
    fputs(text, fp);
    fclose(fp);
    chmod(path, mode);
}

/* Starts an agent with extra flags (NULL-terminated); returns 0 or -1 with why printed. */
static int fx_start(struct fx *f, const char *const *extra, char *why, size_t whylen)
{
    char a_work[160], a_bin[160];
    const char *argv[24];
    int n = 0;
    argv[n++] = "mesos-agent";
    argv[n++] = "--master=127.0.0.1:5050";
    snprintf(a_work, sizeof a_work, "--work_dir=%s", f->work);
    snprintf(a_bin, sizeof a_bin, "--launcher_dir=%s", f->bin);
    argv[n++] = a_work;
    argv[n++] = a_bin;
    argv[n++] = "--ip=127.0.0.1";
    argv[n++] = "--hostname=localhost";
    argv[n++] = "--port=0";
    argv[n++] = "--launcher=posix";
    argv[n++] = "--isolation=posix/cpu,posix/mem";
    argv[n++] = "--resources=cpus:4;mem:2048;disk:1024";
    argv[n++] = "--logging_level=ERROR";
    for (size_t i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    cm_agent_flags_init(&f->flags);
    if (cm_agent_flags_parse(&f->flags, n, (char **)argv, why, whylen) != 0)
        return -1;
    struct cm_agent_link link = {stub_open, stub_send, stub_close, &f->opens};
    if (cm_agent_new_with(f->base, &f->flags, &f->clock.clock, &link, &f->a, why, whylen) != 0) {
        cm_agent_flags_cleanup(&f->flags);
        return -1;
    }
    return 0;
}

static int fx_init(struct fx *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/agent-auth-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->work, sizeof f->work, "%s/work", f->dir);
    snprintf(f->bin, sizeof f->bin, "%s/bin", f->dir);
    snprintf(f->key, sizeof f->key, "%s/jwt.key", f->dir);
    snprintf(f->token_file, sizeof f->token_file, "%s/token", f->dir);
    mkdir(f->bin, 0755);
    char path[256], script[512];
    snprintf(path, sizeof path, "%s/mesos-executor", f->bin);
    snprintf(script, sizeof script,
             "#!/bin/sh\nprintf %%s \"$MESOS_EXECUTOR_AUTHENTICATION_TOKEN\" > %s.tmp\n"
             "mv %s.tmp %s\nexec sleep 60\n",
             f->token_file, f->token_file, f->token_file);
    write_text(path, script, 0755);
    write_text(f->key, KEY, 0600);
    cm_fake_clock_init(&f->clock, 1000000);
    f->base = event_base_new();
    cm_log_set_level(CM_LOG_ERROR);
    return 0;
}

static void fx_cleanup(struct fx *f)
{
    if (f->a) {
        cm_agent_free(f->a);
        cm_agent_flags_cleanup(&f->flags);
    }
    f->a = NULL;
    event_base_free(f->base);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
}

static int inject(struct fx *f, Cmesos__Internal__AgentEvent *ev)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&ev->base, CM_MEDIA_PROTOBUF, &buf, &len);
    int rc = cm_agent_link_record(f->a, buf, len);
    free(buf);
    return rc;
}

static void ev_registered(struct fx *f)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__Registered r = CMESOS__INTERNAL__AGENT_EVENT__REGISTERED__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = AID;
    r.agent_id = &aid;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED;
    ev.registered = &r;
    inject(f, &ev);
}

static void ev_run_task(struct fx *f, const char *tid)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__RunTask rt = CMESOS__INTERNAL__AGENT_EVENT__RUN_TASK__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__Resource cpus = MESOS__V1__RESOURCE__INIT;
    Mesos__V1__Value__Scalar s1 = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__Resource *res[] = {&cpus};
    fwid.value = FID;
    fi.id = &fwid;
    fi.user = getenv("USER") ? getenv("USER") : "root";
    fi.name = "test";
    taskid.value = (char *)tid;
    aid.value = AID;
    ti.name = (char *)tid;
    ti.task_id = &taskid;
    ti.agent_id = &aid;
    cmd.value = "true";
    ti.command = &cmd;
    cpus.name = "cpus";
    cpus.type = MESOS__V1__VALUE__TYPE__SCALAR;
    s1.value = 0.1;
    cpus.scalar = &s1;
    ti.resources = res;
    ti.n_resources = 1;
    rt.framework_info = &fi;
    rt.task = &ti;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK;
    ev.run_task = &rt;
    inject(f, &ev);
    PUMP_UNTIL(f, f->a->launch_head == NULL, 2000);
}

static void ignore_event(void *arg, const Mesos__V1__Executor__Event *ev)
{
    (void)arg;
    (void)ev;
}

static int subscribe(struct fx *f, const char *eid, const json_t *claims, char *why, size_t whylen)
{
    Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
    Mesos__V1__Executor__Call__Subscribe sub = MESOS__V1__EXECUTOR__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__ExecutorID exid = MESOS__V1__EXECUTOR_ID__INIT;
    fwid.value = FID;
    exid.value = (char *)eid;
    call.framework_id = &fwid;
    call.executor_id = &exid;
    call.has_type = 1;
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&call.base, CM_MEDIA_PROTOBUF, &buf, &len);
    struct cm_agent_exec_client c = {.cb = ignore_event, .claims = claims};
    int code = cm_agent_executor_call(f->a, CM_MEDIA_PROTOBUF, buf, len, CM_MEDIA_PROTOBUF, &c, why,
                                      whylen);
    free(buf);
    return code;
}

static struct agent_executor *executor_of(struct fx *f, const char *eid)
{
    struct agent_framework *fw = cm_strmap_get(&f->a->frameworks, FID);
    return fw ? cm_strmap_get(&fw->executors, eid) : NULL;
}

static void test_executor_token_and_claims(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    char keyflag[200], why[512];
    snprintf(keyflag, sizeof keyflag, "--jwt_secret_key=%s", f.key);
    const char *extra[] = {"--authenticate_http_executors", keyflag, NULL};
    if (fx_start(&f, extra, why, sizeof why) != 0) {
        fprintf(stderr, "agent: %s\n", why);
        CHECK(0);
        fx_cleanup(&f);
        return;
    }
    PUMP_UNTIL(&f, f.opens > 0, 2000);
    ev_registered(&f);
    REQUIRE(f.a->registered);
    ev_run_task(&f, "t1");
    struct agent_executor *e = executor_of(&f, "t1");
    REQUIRE(e != NULL);
    PUMP_UNTIL(&f, access(f.token_file, F_OK) == 0, 5000);
    size_t len = 0;
    FILE *fp = fopen(f.token_file, "r");
    REQUIRE(fp != NULL);
    char token[CM_JWT_MAX_TOKEN + 1];
    len = fread(token, 1, CM_JWT_MAX_TOKEN, fp);
    fclose(fp);
    token[len] = '\0';
    CHECK(len > 20);

    /* The token verifies with the key and names this executor. */
    json_t *claims = NULL;
    REQUIRE(cm_jwt_verify(token, KEY, strlen(KEY), 1000000, &claims, why, sizeof why) == 0);
    CHECK_STR(json_string_value(json_object_get(claims, "fid")), FID);
    CHECK_STR(json_string_value(json_object_get(claims, "eid")), e->id);
    CHECK_STR(json_string_value(json_object_get(claims, "cid")), e->container_id);

    /* No claims, another executor's, another container's: 403 naming the claim. */
    CHECK_INT(subscribe(&f, "t1", NULL, why, sizeof why), 403);
    json_t *other = json_pack("{s:s, s:s, s:s}", "fid", FID, "eid", "t2", "cid", e->container_id);
    CHECK_INT(subscribe(&f, "t1", other, why, sizeof why), 403);
    CHECK(strstr(why, "'eid'") != NULL);
    json_decref(other);
    other = json_pack("{s:s, s:s, s:s}", "fid", "fw-2", "eid", "t1", "cid", e->container_id);
    CHECK_INT(subscribe(&f, "t1", other, why, sizeof why), 403);
    CHECK(strstr(why, "'fid'") != NULL);
    json_decref(other);
    other = json_pack("{s:s, s:s, s:s}", "fid", FID, "eid", "t1", "cid", "old-container");
    CHECK_INT(subscribe(&f, "t1", other, why, sizeof why), 403);
    CHECK(strstr(why, "'cid'") != NULL);
    json_decref(other);
    CHECK(!agent_xapi_connected(e));
    /* Its own claims: subscribed. */
    CHECK_INT(subscribe(&f, "t1", claims, why, sizeof why), 200);
    CHECK(agent_xapi_connected(e));
    json_decref(claims);
    fx_cleanup(&f);
}

static void test_flags_that_need_each_other(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    char why[512];
    const char *no_key[] = {"--authenticate_http_executors", NULL};
    CHECK(fx_start(&f, no_key, why, sizeof why) != 0);
    CHECK(strstr(why, "--jwt_secret_key") != NULL);
    const char *missing[] = {"--jwt_secret_key=/nonexistent/key", NULL};
    CHECK(fx_start(&f, missing, why, sizeof why) != 0);
    CHECK(strstr(why, "/nonexistent/key") != NULL);
    const char *ro[] = {"--authenticate_http_readonly", NULL};
    CHECK(fx_start(&f, ro, why, sizeof why) != 0);
    CHECK(strstr(why, "--http_credentials") != NULL);
    const char *cred[] = {"--credential=/nonexistent/cred", NULL};
    CHECK(fx_start(&f, cred, why, sizeof why) != 0);
    CHECK(strstr(why, "credential") != NULL);
    CHECK(f.a == NULL);
    fx_cleanup(&f);
}

static void test_env_carries_only_the_agents_token(void)
{
    char *inherited[] = {"PATH=/bin", "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=planted", NULL};
    struct cm_executor_env_params p = {
        .framework_id = FID,
        .executor_id = "e1",
        .agent_id = AID,
        .agent_ip = "127.0.0.1",
        .agent_port = 5051,
        .directory = "/tmp/x",
        .inherited = inherited,
    };
    char **env = cm_executor_env_build(&p);
    CHECK(cm_executor_env_get(env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN") == NULL);
    CHECK_STR(cm_executor_env_get(env, "PATH"), "/bin");
    cm_executor_env_free(env);
    p.auth_token = "a.b.c";
    env = cm_executor_env_build(&p);
    CHECK_STR(cm_executor_env_get(env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"), "a.b.c");
    cm_executor_env_free(env);
}

TEST_MAIN(TEST(test_executor_token_and_claims), TEST(test_flags_that_need_each_other),
          TEST(test_env_carries_only_the_agents_token))
