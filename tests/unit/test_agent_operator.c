/* test_agent_operator.c: the agent's v1 operator API in-process (agent_operator.h) on the
 * agent core seam of test_agent_core.c — the master link is a capture, the clock fake, the
 * executor a shell script the tests speak the executor API for — calling cm_agent_op_call
 * directly (no HTTP client). Covers the processing order's codes (405, 400, 415, 501, 406,
 * unknown types named), GET_TASKS/EXECUTORS/FRAMEWORKS/STATE/CONTAINERS/AGENT from the core's
 * records in both encodings, READ_FILE and LIST_FILES through the /files table (confinement,
 * directories, offsets past the end, the 16-page cap), SET_LOGGING_LEVEL and its revert,
 * KILL_CONTAINER and a held WAIT_CONTAINER answered with the exit status, the waiter cap and
 * the 503s at shutdown. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_internal.h"
#include "agent_link.h"
#include "agent_operator.h"
#include "agent_xapi.h"
#include "codec.h"
#include "fuzz_util.h"
#include "log.h"
#include "test.h"

#define FID "fw-1"
#define AID "agent-1"

/* ---- the capture link (the master is not there) ---- */

static int cap_open(void *arg, const char *leader, const Cmesos__Internal__AgentCall *reg,
                    char *why, size_t whylen)
{
    (void)leader;
    (void)reg;
    (void)why;
    (void)whylen;
    (*(int *)arg)++;
    return 0;
}

static int cap_send(void *arg, const Cmesos__Internal__AgentCall *call)
{
    (void)arg;
    (void)call;
    return 0;
}

static void cap_close(void *arg)
{
    (void)arg;
}

/* ---- fixture ---- */

struct fx {
    char dir[64], work[128], launcher[128];
    char *argv[20];
    int argc;
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
        event_base_loop((f)->base, EVLOOP_NONBLOCK);                                               \
    } while (0)

static int fx_init(struct fx *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/agent-op-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->work, sizeof f->work, "%s/work", f->dir);
    snprintf(f->launcher, sizeof f->launcher, "%s/bin", f->dir);
    mkdir(f->launcher, 0755);
    char path[256];
    snprintf(path, sizeof path, "%s/mesos-executor", f->launcher);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    /* The executor only has to live; exit 3 on SIGTERM so the wait status is known. */
    fputs("#!/bin/sh\ntrap 'exit 3' TERM\necho executor-out\nsleep 60 & wait\n", fp);
    fclose(fp);
    chmod(path, 0755);
    cm_fake_clock_init(&f->clock, 1000000);
    f->base = event_base_new();
    cm_log_set_level(CM_LOG_WARNING);

    static char work[160], launcher[160];
    snprintf(work, sizeof work, "--work_dir=%s", f->work);
    snprintf(launcher, sizeof launcher, "--launcher_dir=%s", f->launcher);
    char *args[] = {"mesos-agent",
                    "--master=127.0.0.1:5050",
                    work,
                    launcher,
                    "--ip=127.0.0.1",
                    "--hostname=localhost",
                    "--port=0",
                    "--launcher=posix",
                    "--isolation=posix/cpu,posix/mem",
                    "--resources=cpus:4;mem:2048;disk:1024",
                    "--executor_shutdown_grace_period=2secs",
                    "--logging_level=WARNING",
                    NULL};
    for (f->argc = 0; args[f->argc]; f->argc++)
        f->argv[f->argc] = args[f->argc];
    cm_agent_flags_init(&f->flags);
    char why[512];
    if (cm_agent_flags_parse(&f->flags, f->argc, f->argv, why, sizeof why) != 0) {
        fprintf(stderr, "flags: %s\n", why);
        return -1;
    }
    struct cm_agent_link link = {cap_open, cap_send, cap_close, &f->opens};
    if (cm_agent_new_with(f->base, &f->flags, &f->clock.clock, &link, &f->a, why, sizeof why) !=
        0) {
        fprintf(stderr, "agent: %s\n", why);
        return -1;
    }
    PUMP_UNTIL(f, f->opens > 0, 2000);
    /* REGISTERED from the "master". */
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__Registered r = CMESOS__INTERNAL__AGENT_EVENT__REGISTERED__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = AID;
    r.agent_id = &aid;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED;
    ev.registered = &r;
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&ev.base, CM_MEDIA_PROTOBUF, &buf, &len);
    cm_agent_link_record(f->a, buf, len);
    free(buf);
    return f->a->registered ? 0 : -1;
}

static void fx_cleanup(struct fx *f)
{
    cm_agent_free(f->a);
    cm_agent_flags_cleanup(&f->flags);
    event_base_free(f->base);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    cm_log_set_level(CM_LOG_WARNING);
}

static void run_task(struct fx *f, const char *tid)
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
    fi.name = "op-test";
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
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&ev.base, CM_MEDIA_PROTOBUF, &buf, &len);
    cm_agent_link_record(f->a, buf, len);
    free(buf);
    PUMP_UNTIL(f, f->a->launch_head == NULL, 2000);
}

static struct agent_executor *executor_of(struct fx *f, const char *eid)
{
    struct agent_framework *fw = cm_strmap_get(&f->a->frameworks, FID);
    return fw ? cm_strmap_get(&fw->executors, eid) : NULL;
}

static void exec_cb(void *arg, const Mesos__V1__Executor__Event *ev)
{
    (void)ev;
    (*(int *)arg)++;
}

static int subscribe(struct fx *f, const char *eid, int *events)
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
    struct cm_agent_exec_client c = {.cb = exec_cb, .arg = events};
    char why[512];
    int code = cm_agent_executor_call(f->a, CM_MEDIA_PROTOBUF, buf, len, CM_MEDIA_PROTOBUF, &c, why,
                                      sizeof why);
    free(buf);
    return code;
}

/* ---- calling the API ---- */

struct reply {
    int n;
    int code;
    char ctype[64];
    uint8_t *body;
    size_t len;
};

static void on_reply(void *arg, int code, const char *ctype, const void *body, size_t len)
{
    struct reply *r = arg;
    r->n++;
    r->code = code;
    snprintf(r->ctype, sizeof r->ctype, "%s", ctype ? ctype : "");
    free(r->body);
    r->body = malloc(len + 1);
    if (len)
        memcpy(r->body, body, len);
    r->body[len] = 0;
    r->len = len;
}

static void reply_clear(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int call_raw(struct fx *f, const char *method, const char *ctype, const char *accept,
                    const void *body, size_t len, struct reply *r)
{
    reply_clear(r);
    cm_agent_op_call(f->a->op, method, ctype, accept, body, len, on_reply, r);
    return r->n == 1 ? r->code : -1;
}

static int call_json(struct fx *f, const char *body, json_t **out, struct reply *r)
{
    int code = call_raw(f, "POST", "application/json", NULL, body, strlen(body), r);
    if (out)
        *out = code == 200 && r->len ? json_loadb((char *)r->body, r->len, 0, NULL) : NULL;
    return code;
}

static int call_pb(struct fx *f, const Mesos__V1__Agent__Call *c, Mesos__V1__Agent__Response **out,
                   struct reply *r)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&c->base, CM_MEDIA_PROTOBUF, &buf, &len);
    int code = call_raw(f, "POST", "application/x-protobuf", "application/x-protobuf", buf, len, r);
    free(buf);
    *out = code == 200 ? mesos__v1__agent__response__unpack(NULL, r->len, r->body) : NULL;
    return code;
}

static int call_pb_type(struct fx *f, Mesos__V1__Agent__Call__Type type,
                        Mesos__V1__Agent__Response **out, struct reply *r)
{
    Mesos__V1__Agent__Call c = MESOS__V1__AGENT__CALL__INIT;
    c.has_type = 1;
    c.type = type;
    return call_pb(f, &c, out, r);
}

/* ---- tests ---- */

static void test_processing_order(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    struct reply r = {0};
    const char *health = "{\"type\":\"GET_HEALTH\"}";
    CHECK_INT(call_raw(&f, "GET", "application/json", NULL, health, strlen(health), &r), 405);
    CHECK_INT(call_raw(&f, "POST", NULL, NULL, health, strlen(health), &r), 400);
    CHECK(strstr((char *)r.body, "Content-Type") != NULL);
    CHECK_STR(r.ctype, "text/plain; charset=utf-8");
    CHECK_INT(call_raw(&f, "POST", "text/xml", NULL, health, strlen(health), &r), 415);
    CHECK_INT(call_raw(&f, "POST", "application/recordio", NULL, "1\n{", 3, &r), 501);
    /* Lenient Content-Type: parameters and case do not matter. */
    CHECK_INT(
        call_raw(&f, "POST", "Application/JSON; charset=utf-8", NULL, health, strlen(health), &r),
        200);
    /* Bad bodies. */
    CHECK_INT(call_raw(&f, "POST", "application/json", NULL, "[1]", 3, &r), 400);
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    CHECK_INT(call_raw(&f, "POST", "application/x-protobuf", NULL, junk, sizeof junk, &r), 400);
    CHECK(strstr((char *)r.body, "Failed to parse body into Call protobuf") != NULL);
    /* No type; an undeclared type is named (protobuf after other fields, JSON by name). */
    CHECK_INT(call_json(&f, "{}", NULL, &r), 400);
    CHECK(strstr((char *)r.body, "Expecting 'type' to be present") != NULL);
    const uint8_t pb[] = {0x22, 0x03, 0x0a, 0x01, 'x', 0x08, 0xc8, 0x01}; /* list_files, 200 */
    CHECK_INT(call_raw(&f, "POST", "application/x-protobuf", NULL, pb, sizeof pb, &r), 400);
    CHECK(strstr((char *)r.body, "Unknown call type 200") != NULL);
    CHECK_INT(call_json(&f, "{\"type\":\"DANCE\"}", NULL, &r), 400);
    CHECK(strstr((char *)r.body, "'DANCE'") != NULL);
    /* Sub-messages. */
    CHECK_INT(call_json(&f, "{\"type\":\"READ_FILE\"}", NULL, &r), 400);
    CHECK(strstr((char *)r.body, "'read_file'") != NULL);
    CHECK_INT(call_json(&f, "{\"type\":\"READ_FILE\",\"read_file\":{\"offset\":0}}", NULL, &r),
              400);
    CHECK(strstr((char *)r.body, "path") != NULL);
    /* Accept is checked before the body is read (Mesos's agent order). */
    CHECK_INT(call_raw(&f, "POST", "application/json", "text/html", "{bad", 4, &r), 406);
    CHECK_INT(call_raw(&f, "POST", "application/json", "text/html", health, strlen(health), &r),
              406);
    CHECK_INT(call_raw(&f, "POST", "application/json", "application/x-protobuf", health,
                       strlen(health), &r),
              200);
    CHECK_STR(r.ctype, "application/x-protobuf");
    /* While recovered executors re-attach, every call is 503 (Mesos: RECOVERING). */
    f.a->recovering = true;
    CHECK_INT(call_raw(&f, "POST", "application/json", NULL, health, strlen(health), &r), 503);
    f.a->recovering = false;
    /* Calls with no implementation. */
    CHECK_INT(call_json(&f, "{\"type\":\"UNKNOWN\"}", NULL, &r), 501);
    CHECK_INT(call_json(&f,
                        "{\"type\":\"REMOVE_CONTAINER\",\"remove_container\":{\"container_id\":"
                        "{\"value\":\"c\"}}}",
                        NULL, &r),
              501);
    CHECK(strstr((char *)r.body, "REMOVE_CONTAINER") != NULL);
    CHECK_INT(call_json(&f, "{\"type\":\"GET_OPERATIONS\"}", NULL, &r), 501);
    CHECK_INT(call_json(&f, "{\"type\":\"PRUNE_IMAGES\"}", NULL, &r), 501);
    reply_clear(&r);
    fx_cleanup(&f);
}

static bool json_has_task(json_t *arr, const char *tid)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (strcmp(json_string_value(json_object_get(
                       json_object_get(json_array_get(arr, i), "task_id"), "value")),
                   tid) == 0)
            return true;
    return false;
}

static void test_state_calls(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    struct reply r = {0};
    json_t *j = NULL;
    Mesos__V1__Agent__Response *pb = NULL;

    /* Empty agent. */
    CHECK_INT(call_pb_type(&f, MESOS__V1__AGENT__CALL__TYPE__GET_TASKS, &pb, &r), 200);
    REQUIRE(pb && pb->get_tasks);
    CHECK_INT(pb->get_tasks->n_launched_tasks + pb->get_tasks->n_queued_tasks, 0);
    mesos__v1__agent__response__free_unpacked(pb, NULL);

    /* A task whose executor has not subscribed is queued; once it subscribes, launched. */
    run_task(&f, "t1");
    REQUIRE(executor_of(&f, "t1") != NULL);
    CHECK_INT(call_json(&f, "{\"type\":\"GET_TASKS\"}", &j, &r), 200);
    CHECK(json_has_task(json_object_get(json_object_get(j, "get_tasks"), "queued_tasks"), "t1"));
    json_decref(j);
    int events = 0;
    CHECK_INT(subscribe(&f, "t1", &events), 200);
    CHECK_INT(call_pb_type(&f, MESOS__V1__AGENT__CALL__TYPE__GET_TASKS, &pb, &r), 200);
    REQUIRE(pb && pb->get_tasks);
    CHECK_INT(pb->get_tasks->n_launched_tasks, 1);
    CHECK_INT(pb->get_tasks->n_queued_tasks, 0);
    if (pb->get_tasks->n_launched_tasks == 1) {
        Mesos__V1__Task *t = pb->get_tasks->launched_tasks[0];
        CHECK_STR(t->task_id->value, "t1");
        CHECK_STR(t->framework_id->value, FID);
        CHECK_STR(t->agent_id->value, AID);
        CHECK_INT(t->n_resources, 1);
    }
    mesos__v1__agent__response__free_unpacked(pb, NULL);

    CHECK_INT(call_pb_type(&f, MESOS__V1__AGENT__CALL__TYPE__GET_STATE, &pb, &r), 200);
    REQUIRE(pb && pb->get_state && pb->get_state->get_frameworks && pb->get_state->get_executors);
    CHECK_INT(pb->get_state->get_frameworks->n_frameworks, 1);
    CHECK_STR(pb->get_state->get_frameworks->frameworks[0]->framework_info->name, "op-test");
    CHECK_INT(pb->get_state->get_executors->n_executors, 1);
    CHECK_STR(pb->get_state->get_executors->executors[0]->executor_info->executor_id->value, "t1");
    mesos__v1__agent__response__free_unpacked(pb, NULL);

    CHECK_INT(call_json(&f, "{\"type\":\"GET_CONTAINERS\"}", &j, &r), 200);
    json_t *cs = json_object_get(json_object_get(j, "get_containers"), "containers");
    CHECK_INT(json_array_size(cs), 1);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_array_get(cs, 0), "container_id"), "value")),
              executor_of(&f, "t1")->container_id);
    json_decref(j);

    CHECK_INT(call_json(&f, "{\"type\":\"GET_FRAMEWORKS\"}", &j, &r), 200);
    CHECK_INT(json_array_size(json_object_get(json_object_get(j, "get_frameworks"), "frameworks")),
              1);
    json_decref(j);
    CHECK_INT(call_json(&f, "{\"type\":\"GET_EXECUTORS\"}", &j, &r), 200);
    CHECK_INT(json_array_size(json_object_get(json_object_get(j, "get_executors"), "executors")),
              1);
    json_decref(j);
    CHECK_INT(call_pb_type(&f, MESOS__V1__AGENT__CALL__TYPE__GET_AGENT, &pb, &r), 200);
    REQUIRE(pb && pb->get_agent && pb->get_agent->agent_info);
    CHECK_STR(pb->get_agent->agent_info->hostname, "localhost");
    CHECK_STR(pb->get_agent->agent_info->id->value, AID);
    CHECK(pb->get_agent->agent_info->n_resources >= 1);
    mesos__v1__agent__response__free_unpacked(pb, NULL);
    CHECK_INT(call_pb_type(&f, MESOS__V1__AGENT__CALL__TYPE__GET_FLAGS, &pb, &r), 200);
    REQUIRE(pb && pb->get_flags);
    bool found = false;
    for (size_t i = 0; i < pb->get_flags->n_flags; i++)
        found = found || (strcmp(pb->get_flags->flags[i]->name, "logging_level") == 0 &&
                          strcmp(pb->get_flags->flags[i]->value, "WARNING") == 0);
    CHECK(found);
    mesos__v1__agent__response__free_unpacked(pb, NULL);
    reply_clear(&r);
    fx_cleanup(&f);
}

static void test_files(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    struct reply r = {0};
    run_task(&f, "t1");
    struct agent_executor *e = executor_of(&f, "t1");
    REQUIRE(e && e->directory);
    /* The launched child creates the sandbox (containerizer.h: create_cwd). */
    PUMP_UNTIL(&f, access(e->directory, F_OK) == 0, 3000);
    /* A file in the sandbox, 100 KiB: more than one READ_FILE's 16 pages. */
    char path[512];
    snprintf(path, sizeof path, "%s/big", e->directory);
    FILE *fp = fopen(path, "w");
    REQUIRE(fp != NULL);
    for (int i = 0; i < 100 * 1024; i++)
        fputc('a' + i % 26, fp);
    fclose(fp);
    char vdir[512], body[1024];
    snprintf(vdir, sizeof vdir, "/frameworks/%s/executors/t1/runs/latest", FID);

    Mesos__V1__Agent__Call c = MESOS__V1__AGENT__CALL__INIT;
    Mesos__V1__Agent__Call__ReadFile rf = MESOS__V1__AGENT__CALL__READ_FILE__INIT;
    Mesos__V1__Agent__Response *pb = NULL;
    char vpath[600];
    snprintf(vpath, sizeof vpath, "%s/big", vdir);
    c.has_type = 1;
    c.type = MESOS__V1__AGENT__CALL__TYPE__READ_FILE;
    c.read_file = &rf;
    rf.path = vpath;
    rf.offset = 26 * 10 + 3;
    rf.has_length = 1;
    rf.length = 5;
    CHECK_INT(call_pb(&f, &c, &pb, &r), 200);
    REQUIRE(pb && pb->read_file);
    CHECK_INT(pb->read_file->size, 100 * 1024);
    CHECK_INT(pb->read_file->data.len, 5);
    CHECK(memcmp(pb->read_file->data.data, "defgh", 5) == 0);
    mesos__v1__agent__response__free_unpacked(pb, NULL);
    /* No length: capped at 16 pages. */
    rf.has_length = 0;
    rf.offset = 0;
    CHECK_INT(call_pb(&f, &c, &pb, &r), 200);
    REQUIRE(pb && pb->read_file);
    CHECK_INT(pb->read_file->data.len, (size_t)sysconf(_SC_PAGESIZE) * 16);
    mesos__v1__agent__response__free_unpacked(pb, NULL);
    /* Past the end: the size and no data. */
    rf.offset = 1u << 30;
    CHECK_INT(call_pb(&f, &c, &pb, &r), 200);
    REQUIRE(pb && pb->read_file);
    CHECK_INT(pb->read_file->size, 100 * 1024);
    CHECK_INT(pb->read_file->data.len, 0);
    mesos__v1__agent__response__free_unpacked(pb, NULL);
    /* The real sandbox path works too (it is attached). */
    rf.path = path;
    rf.offset = 0;
    rf.has_length = 1;
    rf.length = 3;
    CHECK_INT(call_pb(&f, &c, &pb, &r), 200);
    REQUIRE(pb && pb->read_file);
    CHECK(pb->read_file->data.len == 3 && memcmp(pb->read_file->data.data, "abc", 3) == 0);
    mesos__v1__agent__response__free_unpacked(pb, NULL);

    /* The /files rules: relative 400, ".." 403, elsewhere 404, a directory 400; a symlink
     * leaving the sandbox 403. */
    snprintf(body, sizeof body,
             "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"%s\","
             "\"offset\":0}}",
             "relative/x");
    CHECK_INT(call_json(&f, body, NULL, &r), 400);
    snprintf(body, sizeof body,
             "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"%s/../../x\","
             "\"offset\":0}}",
             vdir);
    CHECK_INT(call_json(&f, body, NULL, &r), 403);
    CHECK_INT(call_json(&f,
                        "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"/etc/passwd\","
                        "\"offset\":0}}",
                        NULL, &r),
              404);
    snprintf(body, sizeof body,
             "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"%s\","
             "\"offset\":0}}",
             vdir);
    CHECK_INT(call_json(&f, body, NULL, &r), 400);
    CHECK(strstr((char *)r.body, "directory") != NULL);
    char link[600];
    snprintf(link, sizeof link, "%s/escape", e->directory);
    REQUIRE(symlink("/etc/passwd", link) == 0);
    snprintf(body, sizeof body,
             "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"%s/escape\","
             "\"offset\":0}}",
             vdir);
    CHECK_INT(call_json(&f, body, NULL, &r), 403);

    /* LIST_FILES: the entries under the requested (virtual) path, sorted. */
    json_t *j = NULL;
    snprintf(body, sizeof body, "{\"type\":\"LIST_FILES\",\"list_files\":{\"path\":\"%s\"}}", vdir);
    CHECK_INT(call_json(&f, body, &j, &r), 200);
    json_t *fis = json_object_get(json_object_get(j, "list_files"), "file_infos");
    char want[600];
    snprintf(want, sizeof want, "%s/big", vdir);
    bool big = false;
    for (size_t i = 0; i < json_array_size(fis); i++) {
        json_t *fi = json_array_get(fis, i);
        if (strcmp(json_string_value(json_object_get(fi, "path")), want) == 0)
            big = json_integer_value(json_object_get(fi, "size")) == 100 * 1024;
    }
    CHECK(big);
    json_decref(j);
    snprintf(body, sizeof body, "{\"type\":\"LIST_FILES\",\"list_files\":{\"path\":\"/nope\"}}");
    CHECK_INT(call_json(&f, body, NULL, &r), 404);
    reply_clear(&r);
    fx_cleanup(&f);
}

static void test_logging_level_reverts(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    struct reply r = {0};
    json_t *j = NULL;
    CHECK_INT(call_json(&f, "{\"type\":\"GET_LOGGING_LEVEL\"}", &j, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "get_logging_level"), "level")),
              0);
    json_decref(j);
    CHECK_INT(call_json(&f,
                        "{\"type\":\"SET_LOGGING_LEVEL\",\"set_logging_level\":{\"level\":1,"
                        "\"duration\":{\"nanoseconds\":200000000}}}",
                        NULL, &r),
              200);
    CHECK_INT(r.len, 0);
    CHECK_INT(cm_agent_op_logging_level(f.a->op), 1);
    /* A negative duration is refused. */
    CHECK_INT(call_json(&f,
                        "{\"type\":\"SET_LOGGING_LEVEL\",\"set_logging_level\":{\"level\":1,"
                        "\"duration\":{\"nanoseconds\":-5}}}",
                        NULL, &r),
              400);
    PUMP_UNTIL(&f, cm_agent_op_logging_level(f.a->op) == 0, 2000);
    CHECK_INT(cm_agent_op_logging_level(f.a->op), 0);
    reply_clear(&r);
    fx_cleanup(&f);
}

static void test_kill_and_wait_container(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    struct reply r = {0}, w = {0}, w2 = {0};
    run_task(&f, "t1");
    struct agent_executor *e = executor_of(&f, "t1");
    REQUIRE(e && e->pid > 0);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", e->container_id);
    char wait_body[256], kill_body[256];
    snprintf(
        wait_body, sizeof wait_body,
        "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":{\"container_id\":{\"value\":\"%s\"}}}",
        cid);
    /* Held while the container runs: no answer yet, from either encoding. */
    cm_agent_op_call(f.a->op, "POST", "application/json", NULL, wait_body, strlen(wait_body),
                     on_reply, &w);
    Mesos__V1__Agent__Call c = MESOS__V1__AGENT__CALL__INIT;
    Mesos__V1__Agent__Call__WaitContainer wc = MESOS__V1__AGENT__CALL__WAIT_CONTAINER__INIT;
    Mesos__V1__ContainerID pcid = MESOS__V1__CONTAINER_ID__INIT;
    pcid.value = cid;
    wc.container_id = &pcid;
    c.has_type = 1;
    c.type = MESOS__V1__AGENT__CALL__TYPE__WAIT_CONTAINER;
    c.wait_container = &wc;
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&c.base, CM_MEDIA_PROTOBUF, &buf, &len);
    cm_agent_op_call(f.a->op, "POST", "application/x-protobuf", "application/x-protobuf", buf, len,
                     on_reply, &w2);
    free(buf);
    PUMP_UNTIL(&f, w.n > 0, 300);
    CHECK_INT(w.n, 0);
    CHECK_INT(w2.n, 0);
    /* A signal out of range is refused; an unknown container is 404. */
    snprintf(kill_body, sizeof kill_body,
             "{\"type\":\"KILL_CONTAINER\",\"kill_container\":{\"container_id\":{\"value\":\"%s\"},"
             "\"signal\":%d}}",
             cid, 4096);
    CHECK_INT(call_json(&f, kill_body, NULL, &r), 400);
    CHECK_INT(call_json(&f,
                        "{\"type\":\"KILL_CONTAINER\",\"kill_container\":{\"container_id\":"
                        "{\"value\":\"nope\"}}}",
                        NULL, &r),
              404);
    CHECK_INT(call_json(&f,
                        "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":{\"container_id\":"
                        "{\"value\":\"nope\"}}}",
                        NULL, &r),
              404);
    /* SIGTERM: the executor script exits 3; both waiters hear it. */
    snprintf(kill_body, sizeof kill_body,
             "{\"type\":\"KILL_CONTAINER\",\"kill_container\":{\"container_id\":{\"value\":\"%s\"},"
             "\"signal\":%d}}",
             cid, SIGTERM);
    CHECK_INT(call_json(&f, kill_body, NULL, &r), 200);
    PUMP_UNTIL(&f, w.n > 0 && w2.n > 0, 5000);
    CHECK_INT(w.n, 1);
    CHECK_INT(w.code, 200);
    json_t *j = json_loadb((char *)w.body, w.len, 0, NULL);
    json_t *st = json_object_get(json_object_get(j, "wait_container"), "exit_status");
    CHECK(json_is_integer(st));
    int status = (int)json_integer_value(st);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    json_decref(j);
    CHECK_INT(w2.n, 1);
    Mesos__V1__Agent__Response *pb = mesos__v1__agent__response__unpack(NULL, w2.len, w2.body);
    REQUIRE(pb && pb->wait_container);
    CHECK(pb->wait_container->has_exit_status && pb->wait_container->exit_status == status);
    mesos__v1__agent__response__free_unpacked(pb, NULL);
    /* After the exit: answered at once; KILL_CONTAINER is 404 (the containerizer let it go). */
    CHECK_INT(call_json(&f, wait_body, NULL, &r), 200);
    CHECK_INT(call_json(&f, kill_body, NULL, &r), 404);
    reply_clear(&r);
    reply_clear(&w);
    reply_clear(&w2);
    fx_cleanup(&f);
}

static void test_waiter_cap_and_shutdown(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    run_task(&f, "t1");
    struct agent_executor *e = executor_of(&f, "t1");
    REQUIRE(e && e->pid > 0);
    char body[256];
    snprintf(
        body, sizeof body,
        "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":{\"container_id\":{\"value\":\"%s\"}}}",
        e->container_id);
    static struct reply rs[CM_AGENT_OP_MAX_WAITERS + 1];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i <= CM_AGENT_OP_MAX_WAITERS; i++)
        cm_agent_op_call(f.a->op, "POST", "application/json", NULL, body, strlen(body), on_reply,
                         &rs[i]);
    int answered = 0;
    for (int i = 0; i < CM_AGENT_OP_MAX_WAITERS; i++)
        answered += rs[i].n;
    CHECK_INT(answered, 0);
    CHECK_INT(rs[CM_AGENT_OP_MAX_WAITERS].n, 1);
    CHECK_INT(rs[CM_AGENT_OP_MAX_WAITERS].code, 503);
    /* The agent stops: every held call is answered 503, none twice. */
    cm_agent_free(f.a);
    f.a = NULL;
    int ok = 0;
    for (int i = 0; i < CM_AGENT_OP_MAX_WAITERS; i++)
        ok += rs[i].n == 1 && rs[i].code == 503;
    CHECK_INT(ok, CM_AGENT_OP_MAX_WAITERS);
    for (int i = 0; i <= CM_AGENT_OP_MAX_WAITERS; i++)
        reply_clear(&rs[i]);
    fx_cleanup(&f);
}

/* Deterministic fuzzing: mutated JSON and protobuf forms of every kind of call. Each input is
 * answered exactly once with a status the contract names, and nothing crashes (ASan in CI). */
static void test_fuzz_calls(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    static const char *const seeds[] = {
        "{\"type\":\"GET_HEALTH\"}",
        "{\"type\":\"GET_STATE\"}",
        "{\"type\":\"GET_METRICS\",\"get_metrics\":{\"timeout\":{\"nanoseconds\":5}}}",
        "{\"type\":\"SET_LOGGING_LEVEL\",\"set_logging_level\":{\"level\":1,"
        "\"duration\":{\"nanoseconds\":1000}}}",
        "{\"type\":\"LIST_FILES\",\"list_files\":{\"path\":\"/frameworks/x\"}}",
        "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"/slave/log\",\"offset\":0,"
        "\"length\":10}}",
        "{\"type\":\"GET_CONTAINERS\",\"get_containers\":{\"show_nested\":true}}",
        "{\"type\":\"KILL_CONTAINER\",\"kill_container\":{\"container_id\":{\"value\":"
        "\"c1\"},\"signal\":15}}",
        "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":{\"container_id\":{\"value\":"
        "\"c1\"}}}",
        "{\"type\":\"LAUNCH_CONTAINER\",\"launch_container\":{\"container_id\":{\"value\":"
        "\"c2\"},\"command\":{\"value\":\"true\"}}}",
    };
    struct rng rng = {0x5eed0fa9e17ULL};
    struct buf b = {0};
    struct reply r = {0};
    int bad = 0, total = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        for (int i = 0; i < 300; i++) {
            bool pb = i % 2;
            if (pb) {
                ProtobufCMessage *m = NULL;
                char why[256];
                if (cm_pb_decode(&mesos__v1__agent__call__descriptor, CM_MEDIA_JSON, seeds[s],
                                 strlen(seeds[s]), &m, why, sizeof why) != 0)
                    continue;
                uint8_t *enc = NULL;
                size_t len = 0;
                cm_pb_encode(m, CM_MEDIA_PROTOBUF, &enc, &len);
                protobuf_c_message_free_unpacked(m, NULL);
                buf_set(&b, enc, len);
                free(enc);
            } else {
                buf_set(&b, seeds[s], strlen(seeds[s]));
            }
            mutate(&rng, &b);
            int code = call_raw(&f, "POST", pb ? "application/x-protobuf" : "application/json",
                                NULL, b.p, b.len, &r);
            total++;
            bool known = code == 200 || code == 400 || code == 403 || code == 404 || code == 501 ||
                         code == 503;
            if (!known) {
                bad++;
                fprintf(stderr, "fuzz: %d for %.*s\n", code, (int)b.len, b.p);
            }
        }
    }
    CHECK(total > 2000);
    CHECK_INT(bad, 0);
    free(b.p);
    reply_clear(&r);
    fx_cleanup(&f);
}

TEST_MAIN(TEST(test_processing_order), TEST(test_state_calls), TEST(test_files),
          TEST(test_logging_level_reverts), TEST(test_kill_and_wait_container),
          TEST(test_waiter_cap_and_shutdown), TEST(test_fuzz_calls))
