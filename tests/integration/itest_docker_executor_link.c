/*
 * itest_docker_executor_link: mesos-docker-executor's link to its agent (libcmexecutor), with
 * no dockerd. The test plays the agent: a cm_http_server on 127.0.0.1 serves
 * /api/v1/executor, answers SUBSCRIBE with a protobuf RecordIO event stream, UPDATEs with 202,
 * and records every call. The executor is the real program, started with the executor
 * environment and a --docker_socket where no dockerd listens, so a launch fails in a known way.
 *
 *  - launch_failure_then_exit: SUBSCRIBE (with the bearer token), LAUNCH -> TASK_STARTING, then
 *    TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED naming dockerd; every UPDATE carries a
 *    16-byte uuid, SOURCE_EXECUTOR, the executor and agent ids. Once the terminal update is
 *    acknowledged the executor exits 0.
 *  - resubscribe_carries_unacknowledged: with checkpointing, a stream the agent ends is
 *    re-subscribed and the new SUBSCRIBE carries both unacknowledged updates and the task.
 *  - agent_gone_without_checkpoint: the stream ends after SUBSCRIBED: the executor exits 1.
 *  - shutdown_and_launch_group: LAUNCH_GROUP gets TASK_FAILED for each of its tasks; SHUTDOWN
 *    with no task running ends the executor with 0.
 *  - https_agent: the agent serves TLS only (a certificate made with the openssl CLI, verified
 *    by the executor); the executor subscribes and updates over https, with the environment
 *    spelled LIBPROCESS_SSL_* and with Mesos's legacy SSL_* names.
 */
#include "harness.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "http_server.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "recordio.h"

#define MAXU 32

struct agent {
    struct event_base *base;
    struct cm_http_server *srv;
    uint16_t port;
    struct cm_http_stream *stream;
    int subscribes;
    size_t sub_updates, sub_tasks; /* what the last SUBSCRIBE carried */
    char sub_authz[128];
    char upd_authz[128];
    /* UPDATEs received, in order */
    Mesos__V1__TaskStatus *updates[MAXU];
    size_t n_updates;
    bool launch_on_subscribe; /* send LAUNCH after the first SUBSCRIBED */
};

static struct agent ag;
static char tmp[256];

static void stream_closed(struct cm_http_stream *s, void *arg)
{
    (void)s;
    struct agent *a = arg;
    a->stream = NULL;
}

static void send_event(struct agent *a, const Mesos__V1__Executor__Event *ev)
{
    if (!a->stream)
        return;
    size_t len = mesos__v1__executor__event__get_packed_size(ev);
    uint8_t *buf = malloc(len + 32);
    char hdr[32];
    size_t h = cm_recordio_header(len, hdr);
    memcpy(buf, hdr, h);
    mesos__v1__executor__event__pack(ev, buf + h);
    cm_http_stream_send(a->stream, buf, h + len);
    free(buf);
}

static Mesos__V1__TaskInfo *docker_task(const char *id)
{
    static Mesos__V1__TaskInfo t;
    static Mesos__V1__TaskID tid;
    static Mesos__V1__AgentID aid;
    static Mesos__V1__CommandInfo cmd;
    static Mesos__V1__ContainerInfo ci;
    static Mesos__V1__ContainerInfo__DockerInfo di;
    mesos__v1__task_info__init(&t);
    mesos__v1__task_id__init(&tid);
    mesos__v1__agent_id__init(&aid);
    mesos__v1__command_info__init(&cmd);
    mesos__v1__container_info__init(&ci);
    mesos__v1__container_info__docker_info__init(&di);
    tid.value = (char *)id;
    aid.value = "agent-S0";
    cmd.value = "true";
    di.image = "localhost/none";
    ci.type = MESOS__V1__CONTAINER_INFO__TYPE__DOCKER;
    ci.docker = &di;
    t.name = "t";
    t.task_id = &tid;
    t.agent_id = &aid;
    t.command = &cmd;
    t.container = &ci;
    return &t;
}

static void send_launch(struct agent *a, const char *id)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Launch l = MESOS__V1__EXECUTOR__EVENT__LAUNCH__INIT;
    l.task = docker_task(id);
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH;
    ev.launch = &l;
    send_event(a, &ev);
}

static void send_ack(struct agent *a, const Mesos__V1__TaskStatus *st)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Acknowledged k = MESOS__V1__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
    k.task_id = st->task_id;
    k.uuid = st->uuid;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
    ev.acknowledged = &k;
    send_event(a, &ev);
}

static void send_simple(struct agent *a, Mesos__V1__Executor__Event__Type type)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    ev.has_type = 1;
    ev.type = type;
    send_event(a, &ev);
}

static void on_executor_api(struct cm_http_request *req, void *arg)
{
    struct agent *a = arg;
    Mesos__V1__Executor__Call *call =
        mesos__v1__executor__call__unpack(NULL, req->body_len, req->body);
    if (!call) {
        cm_http_respond_text(req, 400, "not a Call");
        return;
    }
    const char *authz = cm_http_request_header(req, "Authorization");
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE) {
        a->subscribes++;
        a->sub_updates = call->subscribe ? call->subscribe->n_unacknowledged_updates : 0;
        a->sub_tasks = call->subscribe ? call->subscribe->n_unacknowledged_tasks : 0;
        snprintf(a->sub_authz, sizeof a->sub_authz, "%s", authz ? authz : "");
        if (a->stream)
            cm_http_stream_end(a->stream);
        a->stream = cm_http_stream_start(req, 200, "application/x-protobuf", stream_closed, a);
        Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Subscribed s = MESOS__V1__EXECUTOR__EVENT__SUBSCRIBED__INIT;
        Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
        Mesos__V1__ExecutorInfo ei = MESOS__V1__EXECUTOR_INFO__INIT;
        Mesos__V1__AgentInfo ai = MESOS__V1__AGENT_INFO__INIT;
        Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
        fi.user = "root";
        fi.name = "fw";
        eid.value = "dex-1";
        ei.executor_id = &eid;
        ai.hostname = "localhost";
        s.framework_info = &fi;
        s.executor_info = &ei;
        s.agent_info = &ai;
        ev.has_type = 1;
        ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
        ev.subscribed = &s;
        send_event(a, &ev);
        if (a->launch_on_subscribe && a->subscribes == 1)
            send_launch(a, "task-1");
    } else if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE && call->update &&
               call->update->status && a->n_updates < MAXU) {
        snprintf(a->upd_authz, sizeof a->upd_authz, "%s", authz ? authz : "");
        /* A copy through pack/unpack: the call is freed below. */
        size_t len = mesos__v1__task_status__get_packed_size(call->update->status);
        uint8_t *buf = malloc(len ? len : 1);
        mesos__v1__task_status__pack(call->update->status, buf);
        a->updates[a->n_updates] = mesos__v1__task_status__unpack(NULL, len, buf);
        if (a->updates[a->n_updates])
            a->n_updates++;
        free(buf);
        cm_http_respond(req, 202, NULL, NULL, 0);
    } else
        cm_http_respond(req, 202, NULL, NULL, 0);
    mesos__v1__executor__call__free_unpacked(call, NULL);
}

static int agent_start(struct agent *a, bool tls)
{
    memset(a, 0, sizeof *a);
    a->base = event_base_new();
    a->srv = a->base ? cm_http_server_new(a->base, "slave(1)", 16u << 20) : NULL;
    if (!a->srv || cm_http_server_bind(a->srv, "127.0.0.1", 0, &a->port) != 0)
        return -1;
    char why[256];
    if (tls && cm_http_server_tls_from_env(a->srv, why, sizeof why) != 0) {
        fprintf(stderr, "agent TLS: %s\n", why);
        return -1;
    }
    cm_http_server_route(a->srv, "/api/v1/executor", on_executor_api, a);
    return 0;
}

static void agent_stop(struct agent *a)
{
    cm_http_server_free(a->srv);
    for (size_t i = 0; i < a->n_updates; i++)
        mesos__v1__task_status__free_unpacked(a->updates[i], NULL);
    event_base_free(a->base);
    memset(a, 0, sizeof *a);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Serves the agent until n updates arrived (or 10 s passed). */
static bool wait_updates(struct agent *a, size_t n)
{
    double end = now_s() + 10;
    while (a->n_updates < n && now_s() < end)
        itest_loop_for(a->base, 0.05);
    return a->n_updates >= n;
}

static bool wait_subscribes(struct agent *a, int n)
{
    double end = now_s() + 10;
    while (a->subscribes < n && now_s() < end)
        itest_loop_for(a->base, 0.05);
    return a->subscribes >= n;
}

/* Serves the agent until the executor exits (or 10 s passed); returns its exit code or -1. */
static int wait_exit(struct agent *a, struct itest_proc *p)
{
    double end = now_s() + 10;
    while (itest_proc_alive(p) && now_s() < end)
        itest_loop_for(a->base, 0.05);
    if (itest_proc_alive(p))
        return -1;
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

/* Starts mesos-docker-executor against the fake agent. */
static int spawn_executor(struct itest_proc *p, bool checkpoint)
{
    char bin[512], ep[64], container[64], sock[320], sandbox[320], log[320];
    itest_bin("mesos-docker-executor", bin, sizeof bin);
    snprintf(ep, sizeof ep, "127.0.0.1:%u", (unsigned)ag.port);
    snprintf(container, sizeof container, "--container=mesos-c%ld", (long)getpid());
    snprintf(sock, sizeof sock, "--docker_socket=%s/no-dockerd.sock", tmp);
    snprintf(sandbox, sizeof sandbox, "--sandbox_directory=%s", tmp);
    snprintf(log, sizeof log, "%s/executor.log", tmp);
    setenv("MESOS_FRAMEWORK_ID", "fw-1", 1);
    setenv("MESOS_EXECUTOR_ID", "dex-1", 1);
    setenv("MESOS_SLAVE_ID", "agent-S0", 1);
    setenv("MESOS_AGENT_ENDPOINT", ep, 1);
    setenv("MESOS_CHECKPOINT", checkpoint ? "1" : "0", 1);
    setenv("MESOS_SUBSCRIPTION_BACKOFF_MAX", "200ms", 1);
    setenv("MESOS_RECOVERY_TIMEOUT", "15secs", 1);
    setenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "secret.tok", 1);
    char *argv[] = {bin, container, "--docker=/bin/false", sock, sandbox, NULL};
    int rc = itest_proc_spawn(p, "docker-executor", argv, log);
    const char *vars[] = {"MESOS_FRAMEWORK_ID",     "MESOS_EXECUTOR_ID",
                          "MESOS_SLAVE_ID",         "MESOS_AGENT_ENDPOINT",
                          "MESOS_CHECKPOINT",       "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                          "MESOS_RECOVERY_TIMEOUT", "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return rc;
}

static void setup(void)
{
    REQUIRE(itest_tmpdir(tmp, sizeof tmp) == 0);
    REQUIRE(agent_start(&ag, false) == 0);
}

static void dump_log(void)
{
    char log[320];
    snprintf(log, sizeof log, "%s/executor.log", tmp);
    itest_dump_file("mesos-docker-executor", log, 4000);
}

/* The end of a case: the executor's log when the case failed, then no process or server left. */
static void teardown(int failed, struct itest_proc *p)
{
    if (cm_test_failures > failed)
        dump_log();
    itest_proc_stop(p);
    agent_stop(&ag);
}

/* The agent ends the event stream (as an agent that restarts or goes away). */
static void end_stream(void)
{
    if (ag.stream)
        cm_http_stream_end(ag.stream);
    ag.stream = NULL;
}

static void test_launch_failure_then_exit(void)
{
    int failed = cm_test_failures;
    setup();
    ag.launch_on_subscribe = true;
    struct itest_proc p;
    REQUIRE(spawn_executor(&p, false) == 0);
    CHECK(wait_updates(&ag, 2));
    CHECK_STR(ag.sub_authz, "Bearer secret.tok");
    CHECK_INT(ag.sub_updates, 0);
    CHECK_INT(ag.sub_tasks, 0);
    if (ag.n_updates >= 2) {
        Mesos__V1__TaskStatus *s0 = ag.updates[0], *s1 = ag.updates[1];
        CHECK_INT(s0->state, MESOS__V1__TASK_STATE__TASK_STARTING);
        CHECK_INT(s1->state, MESOS__V1__TASK_STATE__TASK_FAILED);
        CHECK(s1->has_reason &&
              s1->reason == MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
        CHECK(s1->message && strstr(s1->message, "Failed to launch container") &&
              strstr(s1->message, "dockerd"));
        for (size_t i = 0; i < 2; i++) {
            Mesos__V1__TaskStatus *s = ag.updates[i];
            CHECK(s->has_uuid && s->uuid.len == 16);
            CHECK(s->has_source && s->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
            CHECK(s->executor_id && strcmp(s->executor_id->value, "dex-1") == 0);
            CHECK(s->agent_id && strcmp(s->agent_id->value, "agent-S0") == 0);
            CHECK(s->task_id && strcmp(s->task_id->value, "task-1") == 0);
        }
        CHECK_STR(ag.upd_authz, "Bearer secret.tok");
        /* Not acknowledged yet: the executor stays. */
        itest_loop_for(ag.base, 1.5);
        CHECK(itest_proc_alive(&p));
        send_ack(&ag, s0);
        send_ack(&ag, s1);
    }
    CHECK_INT(wait_exit(&ag, &p), 0);
    teardown(failed, &p);
}

static void test_resubscribe_carries_unacknowledged(void)
{
    int failed = cm_test_failures;
    setup();
    ag.launch_on_subscribe = true;
    struct itest_proc p;
    REQUIRE(spawn_executor(&p, true) == 0);
    CHECK(wait_updates(&ag, 2));
    /* The agent ends the stream without acknowledging anything (as an agent that restarts). */
    end_stream();
    CHECK(wait_subscribes(&ag, 2));
    CHECK_INT(ag.sub_updates, 2);
    CHECK_INT(ag.sub_tasks, 1);
    CHECK(itest_proc_alive(&p));
    /* No update of it is POSTed again: the SUBSCRIBE carried them. */
    itest_loop_for(ag.base, 0.5);
    CHECK_INT(ag.n_updates, 2);
    if (ag.n_updates >= 2) {
        send_ack(&ag, ag.updates[0]);
        send_ack(&ag, ag.updates[1]);
    }
    CHECK_INT(wait_exit(&ag, &p), 0);
    teardown(failed, &p);
}

static void test_agent_gone_without_checkpoint(void)
{
    int failed = cm_test_failures;
    setup();
    struct itest_proc p;
    REQUIRE(spawn_executor(&p, false) == 0);
    CHECK(wait_subscribes(&ag, 1));
    itest_loop_for(ag.base, 0.3);
    end_stream();
    CHECK_INT(wait_exit(&ag, &p), 1);
    CHECK_INT(ag.subscribes, 1);
    teardown(failed, &p);
}

static void test_shutdown_and_launch_group(void)
{
    int failed = cm_test_failures;
    setup();
    struct itest_proc p;
    REQUIRE(spawn_executor(&p, false) == 0);
    CHECK(wait_subscribes(&ag, 1));
    itest_loop_for(ag.base, 0.2);
    Mesos__V1__TaskInfo *t1 = docker_task("g-1");
    Mesos__V1__TaskInfo copy1 = *t1;
    Mesos__V1__TaskID id2 = MESOS__V1__TASK_ID__INIT;
    id2.value = "g-2";
    Mesos__V1__TaskInfo copy2 = *t1;
    copy2.task_id = &id2;
    Mesos__V1__TaskInfo *tasks[] = {&copy1, &copy2};
    Mesos__V1__TaskGroupInfo g = MESOS__V1__TASK_GROUP_INFO__INIT;
    g.n_tasks = 2;
    g.tasks = tasks;
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__LaunchGroup lg = MESOS__V1__EXECUTOR__EVENT__LAUNCH_GROUP__INIT;
    lg.task_group = &g;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP;
    ev.launch_group = &lg;
    send_event(&ag, &ev);
    CHECK(wait_updates(&ag, 2));
    for (size_t i = 0; i < ag.n_updates && i < 2; i++) {
        CHECK_INT(ag.updates[i]->state, MESOS__V1__TASK_STATE__TASK_FAILED);
        CHECK(ag.updates[i]->message &&
              strstr(ag.updates[i]->message, "LAUNCH_GROUP is not supported"));
        send_ack(&ag, ag.updates[i]);
    }
    if (ag.n_updates >= 2)
        CHECK(strcmp(ag.updates[0]->task_id->value, "g-1") == 0 &&
              strcmp(ag.updates[1]->task_id->value, "g-2") == 0);
    /* Those were not its task: it stays until told otherwise. */
    itest_loop_for(ag.base, 1.5);
    CHECK(itest_proc_alive(&p));
    send_simple(&ag, MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN);
    CHECK_INT(wait_exit(&ag, &p), 0);
    teardown(failed, &p);
}

/* Sets (value != NULL) or clears the TLS variables under prefix ("LIBPROCESS_SSL_" or "SSL_"). */
static void tls_env(const char *prefix, const char *cert, const char *key)
{
    static const char *const names[] = {"ENABLED", "CERT_FILE", "KEY_FILE", "CA_FILE",
                                        "VERIFY_CERT"};
    const char *values[] = {"true", cert, key, cert, "true"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix, names[i]);
        if (cert)
            setenv(name, values[i], 1);
        else
            unsetenv(name);
    }
}

/* One launch over https: the two updates arrive, are acknowledged, and the executor exits 0. */
static void run_over_https(const char *what)
{
    ag.launch_on_subscribe = true;
    ag.subscribes = 0;
    struct itest_proc p;
    REQUIRE(spawn_executor(&p, false) == 0);
    bool got = wait_updates(&ag, 2);
    if (!got)
        fprintf(stderr, "%s: no updates over https\n", what);
    CHECK(got);
    CHECK_STR(ag.sub_authz, "Bearer secret.tok");
    for (size_t i = 0; i < ag.n_updates; i++)
        send_ack(&ag, ag.updates[i]);
    CHECK_INT(wait_exit(&ag, &p), 0);
    itest_proc_stop(&p);
    for (size_t i = 0; i < ag.n_updates; i++)
        mesos__v1__task_status__free_unpacked(ag.updates[i], NULL);
    ag.n_updates = 0;
}

static void test_https_agent(void)
{
    int failed = cm_test_failures;
    if (access("/usr/bin/openssl", X_OK) != 0)
        SKIP_CASE("no openssl CLI");
    REQUIRE(itest_tmpdir(tmp, sizeof tmp) == 0);
    char cert[320], key[320];
    snprintf(cert, sizeof cert, "%s/agent.crt", tmp);
    snprintf(key, sizeof key, "%s/agent.key", tmp);
    char *mk[] = {"/usr/bin/openssl",
                  "req",
                  "-x509",
                  "-newkey",
                  "rsa:2048",
                  "-nodes",
                  "-days",
                  "1",
                  "-subj",
                  "/CN=127.0.0.1",
                  "-addext",
                  "subjectAltName=IP:127.0.0.1",
                  "-keyout",
                  key,
                  "-out",
                  cert,
                  NULL};
    int status = -1;
    char *out = NULL;
    REQUIRE(itest_run(mk, 30000, &status, &out) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "openssl: %s\n", out ? out : "");
    free(out);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tls_env("LIBPROCESS_SSL_", cert, key);
    int rc = agent_start(&ag, true);
    if (rc == 0)
        run_over_https("LIBPROCESS_SSL_*");
    /* Mesos's legacy names: the executor alone sees them (the agent's context is made). */
    tls_env("LIBPROCESS_SSL_", NULL, NULL);
    tls_env("SSL_", cert, key);
    if (rc == 0)
        run_over_https("SSL_*");
    tls_env("SSL_", NULL, NULL);
    CHECK_INT(rc, 0);
    if (cm_test_failures > failed)
        dump_log();
    agent_stop(&ag);
}

ITEST_MAIN(TEST(test_launch_failure_then_exit), TEST(test_resubscribe_carries_unacknowledged),
           TEST(test_agent_gone_without_checkpoint), TEST(test_shutdown_and_launch_group),
           TEST(test_https_agent))
