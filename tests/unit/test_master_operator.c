/* test_master_operator.c: the master's v1 operator API without sockets — the request checks
 * (decode errors naming the field or the unknown call type), each call's response shape in
 * JSON and protobuf, weights and logging with a fake clock, the SUBSCRIBE events in the order
 * the core reports them (through its observer seam), and the operator's actions on agents
 * (deactivate, drain, mark gone) as the agent link and the allocator see them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_link.h"
#include "errors.h"
#include "json_out.h"
#include "log.h"
#include "master.h"
#include "operator.h"
#include "pbjson.h"
#include "registrar.h"
#include "scheduler_calls.h"
#include "stream.h"
#include "test.h"

/* ---- capture sinks ---- */

struct capture {
    ProtobufCMessage *msgs[512];
    size_t n;
    int ended;
};

static void cap_cb(void *arg, const ProtobufCMessage *msg)
{
    struct capture *c = arg;
    if (c->n < 512)
        c->msgs[c->n++] = cm_pb_dup(msg);
}

static void cap_end(void *arg)
{
    ((struct capture *)arg)->ended++;
}

static void cap_clear(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        protobuf_c_message_free_unpacked(c->msgs[i], NULL);
    c->n = 0;
}

static struct cm_sink cap_sink(struct capture *c)
{
    struct cm_sink s = {.cb = cap_cb, .end_cb = cap_end, .arg = c};
    return s;
}

/* ---- fixture: a master with the operator installed, one agent, one framework ---- */

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct cm_operator *op;
    struct capture fw_ev, agent_ev, op_ev;
    struct cm_framework *fw;
    struct cm_agent *agent;
    char fid[128], aid[128];
};

static int agent_call(struct fixture *f, struct cm_sink *sink, struct cm_agent **out,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int agent_call(struct fixture *f, struct cm_sink *sink, struct cm_agent **out,
                      const char *fmt, ...)
{
    char body[4096], why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    Cmesos__Internal__AgentCall *call = NULL;
    int code = cm_master_agent_decode(CM_MEDIA_JSON, (const uint8_t *)body, strlen(body), &call,
                                      why, sizeof why);
    if (code) {
        fprintf(stderr, "agent call decode %d: %s\n", code, why);
        return code;
    }
    code = cm_master_agent_call(f->m, call, sink, "agent-stream", out, why, sizeof why);
    if (code >= 400)
        fprintf(stderr, "agent call %d: %s\n", code, why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

#define REGISTER_JSON                                                                              \
    "{\"type\":\"REGISTER\",%s\"register\":{\"agent_info\":{\"hostname\":\"a1\",\"port\":5051,"    \
    "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"             \
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]},"                        \
    "\"pid\":\"slave(1)@10.0.0.2:5051\",\"address_ip\":\"10.0.0.2\"}}"

static void register_agent(struct fixture *f)
{
    struct cm_sink s = cap_sink(&f->agent_ev);
    s.media = CM_MEDIA_PROTOBUF;
    if (agent_call(f, &s, &f->agent, REGISTER_JSON, "") == 200 && f->agent)
        snprintf(f->aid, sizeof f->aid, "%s", f->agent->id);
}

static void subscribe_framework(struct fixture *f, bool partition_aware)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\","
             "\"name\":\"fw one\",\"roles\":[\"web\"],\"capabilities\":[{\"type\":"
             "\"MULTI_ROLE\"}%s]}}}",
             partition_aware ? ",{\"type\":\"PARTITION_AWARE\"}" : "");
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .body = (const uint8_t *)json,
                                   .body_len = strlen(json)};
    struct cm_sched_result r;
    cm_master_scheduler_request(f->m, &req, &r);
    if (r.code != 200 || !r.call) {
        fprintf(stderr, "subscribe failed %d: %s\n", r.code, r.text);
        return;
    }
    struct cm_sink s = cap_sink(&f->fw_ev);
    f->fw = cm_master_subscribe(f->m, r.call, &s, "stream-1");
    protobuf_c_message_free_unpacked(&r.call->base, NULL);
    if (f->fw)
        snprintf(f->fid, sizeof f->fid, "%s", f->fw->id);
}

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    f->flags.weights = "web=2";
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    f->op = cm_operator_new(f->m);
    return f;
}

static void fixture_free(struct fixture *f)
{
    cm_master_free(f->m);
    cap_clear(&f->fw_ev);
    cap_clear(&f->agent_ev);
    cap_clear(&f->op_ev);
    free(f);
}

/* Launches task id on the agent through an offer (the framework must hold one). */
static struct cm_task *launch(struct fixture *f, const char *id)
{
    cm_master_allocate(f->m);
    const char *oid = NULL;
    for (size_t i = f->fw_ev.n; i-- > 0 && !oid;) {
        Mesos__V1__Scheduler__Event *e = (Mesos__V1__Scheduler__Event *)f->fw_ev.msgs[i];
        if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS && e->offers->n_offers &&
            cm_strmap_get(&f->m->offers, e->offers->offers[0]->id->value))
            oid = e->offers->offers[0]->id->value;
    }
    if (!oid)
        return NULL;
    char body[2048];
    snprintf(body, sizeof body,
             "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{\"offer_ids\":"
             "[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{"
             "\"task_infos\":[{\"name\":\"t\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{"
             "\"value\":\"%s\"},\"command\":{\"value\":\"sleep 9\"},\"kill_policy\":{"
             "\"grace_period\":{\"nanoseconds\":9000000000}},\"resources\":[{\"name\":"
             "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}]}}]}}",
             f->fid, oid, id, f->aid);
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .stream_id = f->fw->stream_id,
                                   .body = (const uint8_t *)body,
                                   .body_len = strlen(body)};
    struct cm_sched_result r;
    cm_master_scheduler_request(f->m, &req, &r);
    if (r.code != 202)
        fprintf(stderr, "accept %d: %s\n", r.code, r.text);
    return cm_strmap_get(&f->fw->tasks, id);
}

static int status_update(struct fixture *f, const char *task, const char *state)
{
    static int seq;
    seq++;
    return agent_call(f, NULL, NULL,
                      "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},"
                      "\"status_update\":{\"framework_id\":{\"value\":\"%s\"},\"status\":{"
                      "\"task_id\":{\"value\":\"%s\"},\"state\":\"%s\",\"source\":"
                      "\"SOURCE_EXECUTOR\",\"uuid\":\"AAECAwQFBgcICQoLDA0OD%c==\"}}}",
                      f->aid, f->fid, task, state, "AQgw"[seq % 4]);
}

/* ---- operator requests ---- */

struct reply {
    int code;
    char text[1024];
    json_t *json; /* JSON body, or NULL */
    Mesos__V1__Master__Response *pb;
};

static struct reply call(struct fixture *f, const char *method, const char *ct, const char *accept,
                         const void *body, size_t len)
{
    struct cm_operator_request req = {
        .method = method, .content_type = ct, .accept = accept, .body = body, .body_len = len};
    struct cm_operator_result res;
    cm_operator_request(f->op, &req, &res);
    struct reply r = {.code = res.code};
    snprintf(r.text, sizeof r.text, "%s", res.text);
    if (res.body && res.media == CM_MEDIA_JSON)
        r.json = json_loadb((const char *)res.body, res.body_len, 0, NULL);
    if (res.body && res.media == CM_MEDIA_PROTOBUF)
        r.pb = mesos__v1__master__response__unpack(NULL, res.body_len, res.body);
    cm_operator_result_cleanup(&res);
    return r;
}

static struct reply jcall(struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct reply jcall(struct fixture *f, const char *fmt, ...)
{
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    struct reply r = call(f, "POST", "application/json", NULL, body, strlen(body));
    if (r.code != 200)
        fprintf(stderr, "(%s -> %d %s)\n", body, r.code, r.text);
    return r;
}

static void reply_free(struct reply *r)
{
    json_decref(r->json);
    if (r->pb)
        mesos__v1__master__response__free_unpacked(r->pb, NULL);
}

static json_t *at(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && j;
         tok = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return j;
}

static const char *str(json_t *j, const char *path)
{
    json_t *v = at(j, path);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* ---- tests ---- */

static void test_request_checks(void)
{
    struct fixture *f = fixture_new();
    const char *ok = "{\"type\":\"GET_HEALTH\"}";
    struct reply r = call(f, "GET", "application/json", NULL, ok, strlen(ok));
    CHECK_INT(r.code, 405);
    r = call(f, "POST", NULL, NULL, ok, strlen(ok));
    CHECK_INT(r.code, 400);
    CHECK(strstr(r.text, "Content-Type") != NULL);
    r = call(f, "POST", "text/plain", NULL, ok, strlen(ok));
    CHECK_INT(r.code, 415);
    r = call(f, "POST", "application/json", NULL, "{\"type\":", 8);
    CHECK_INT(r.code, 400);
    r = call(f, "POST", "application/x-protobuf", NULL, "\xff\xff\xff", 3);
    CHECK_INT(r.code, 400);
    /* Unknown call types are named, in JSON and in protobuf. */
    r = jcall(f, "{\"type\":\"LAUNCH_ROCKETS\"}");
    CHECK_INT(r.code, 400);
    CHECK(strstr(r.text, "'LAUNCH_ROCKETS'") != NULL);
    const uint8_t pb99[] = {0x08, 99};
    r = call(f, "POST", "application/x-protobuf", NULL, pb99, sizeof pb99);
    CHECK_INT(r.code, 400);
    CHECK(strstr(r.text, "99") != NULL);
    r = jcall(f, "{}");
    CHECK_INT(r.code, 400);
    CHECK(strstr(r.text, "'type'") != NULL);
    /* A call without its body names the field; a body without its required field too. */
    r = jcall(f, "{\"type\":\"SET_LOGGING_LEVEL\"}");
    CHECK_INT(r.code, 400);
    CHECK(strstr(r.text, "'set_logging_level'") != NULL);
    r = jcall(f, "{\"type\":\"TEARDOWN\",\"teardown\":{}}");
    CHECK_INT(r.code, 400);
    CHECK(strstr(r.text, "framework_id") != NULL);
    r = jcall(f,
              "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":\"a/../b\"}}}");
    CHECK_INT(r.code, 400);
    /* 406 after the body is understood. */
    r = call(f, "POST", "application/json", "text/html", ok, strlen(ok));
    CHECK_INT(r.code, 406);
    /* Capabilities cmesos lacks: 501 with a message. */
    const char *nyi[] = {"GET_QUOTA", "GET_MAINTENANCE_STATUS", "GET_MAINTENANCE_SCHEDULE"};
    for (size_t i = 0; i < 3; i++) {
        r = jcall(f, "{\"type\":\"%s\"}", nyi[i]);
        CHECK_INT(r.code, 501);
        CHECK(strstr(r.text, "not implemented") != NULL);
    }
    r = jcall(f,
              "{\"type\":\"CREATE_VOLUMES\",\"create_volumes\":{\"agent_id\":{\"value\":\"x\"}}}");
    CHECK_INT(r.code, 501);
    r = jcall(f, "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[{\"role\":\"r\","
                 "\"guarantees\":{\"cpus\":{\"value\":1}}}]}}");
    CHECK_INT(r.code, 501);
    fixture_free(f);
}

static void test_call_shapes(void)
{
    struct fixture *f = fixture_new();
    register_agent(f);
    subscribe_framework(f, false);
    REQUIRE(f->agent && f->fw);
    REQUIRE(launch(f, "t1") != NULL);
    CHECK_INT(status_update(f, "t1", "TASK_RUNNING"), 202);

    struct reply r = jcall(f, "{\"type\":\"GET_HEALTH\"}");
    CHECK_STR(str(r.json, "type"), "GET_HEALTH");
    CHECK(json_is_true(at(r.json, "get_health.healthy")));
    reply_free(&r);
    r = jcall(f, "{\"type\":\"GET_VERSION\"}");
    CHECK_STR(str(r.json, "get_version.version_info.version"), CMESOS_VERSION);
    reply_free(&r);
    r = jcall(f, "{\"type\":\"GET_FLAGS\"}");
    CHECK(json_array_size(at(r.json, "get_flags.flags")) > 10);
    bool weights = false;
    for (size_t i = 0; i < json_array_size(at(r.json, "get_flags.flags")); i++) {
        json_t *fl = json_array_get(at(r.json, "get_flags.flags"), i);
        weights = weights || (strcmp(str(fl, "name"), "weights") == 0);
    }
    CHECK(weights);
    reply_free(&r);
    r = jcall(f, "{\"type\":\"GET_METRICS\",\"get_metrics\":{\"timeout\":{\"nanoseconds\":1}}}");
    CHECK_INT(r.code, 200);
    bool tasks_running = false;
    for (size_t i = 0; i < json_array_size(at(r.json, "get_metrics.metrics")); i++) {
        json_t *x = json_array_get(at(r.json, "get_metrics.metrics"), i);
        if (strcmp(str(x, "name"), "master/tasks_running") == 0)
            tasks_running = json_number_value(json_object_get(x, "value")) == 1;
    }
    CHECK(tasks_running);
    reply_free(&r);

    /* GET_STATE in protobuf: every part present, the task, its agent and framework. */
    const uint8_t gs[] = {0x08, MESOS__V1__MASTER__CALL__TYPE__GET_STATE};
    r = call(f, "POST", "application/x-protobuf", "application/x-protobuf", gs, sizeof gs);
    CHECK_INT(r.code, 200);
    REQUIRE(r.pb && r.pb->get_state);
    CHECK_INT(r.pb->type, MESOS__V1__MASTER__RESPONSE__TYPE__GET_STATE);
    const Mesos__V1__Master__Response__GetState *s = r.pb->get_state;
    REQUIRE(s->get_tasks && s->get_agents && s->get_frameworks && s->get_executors);
    REQUIRE(s->get_tasks->n_tasks == 1);
    const Mesos__V1__Task *t = s->get_tasks->tasks[0];
    CHECK_STR(t->task_id->value, "t1");
    CHECK_STR(t->framework_id->value, f->fid);
    CHECK_STR(t->agent_id->value, f->aid);
    CHECK_INT(t->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK_INT(t->n_statuses, 1);
    CHECK(t->has_status_update_uuid && t->status_update_uuid.len == 16);
    CHECK_STR(t->user, "u");
    REQUIRE(t->n_resources == 1);
    CHECK_STR(t->resources[0]->allocation_info->role, "web");
    REQUIRE(s->get_agents->n_agents == 1);
    const Mesos__V1__Master__Response__GetAgents__Agent *a = s->get_agents->agents[0];
    CHECK_STR(a->agent_info->id->value, f->aid);
    CHECK(a->active && a->has_deactivated && !a->deactivated);
    CHECK_STR(a->pid, "slave(1)@10.0.0.2:5051");
    CHECK(a->registered_time && a->registered_time->nanoseconds == 1000000000000LL);
    CHECK_INT(a->n_total_resources, 2);
    CHECK(a->drain_info == NULL);
    REQUIRE(s->get_frameworks->n_frameworks == 1);
    const Mesos__V1__Master__Response__GetFrameworks__Framework *fw =
        s->get_frameworks->frameworks[0];
    CHECK_STR(fw->framework_info->id->value, f->fid);
    CHECK(fw->active && fw->connected && !fw->recovered);
    CHECK(fw->n_allocated_resources > 0);
    CHECK_INT(s->get_executors->n_executors, 0);
    reply_free(&r);

    r = jcall(f, "{\"type\":\"GET_ROLES\"}");
    CHECK_STR(str(r.json, "get_roles.roles.0.name"), "web");
    CHECK(json_number_value(at(r.json, "get_roles.roles.0.weight")) == 2.0);
    CHECK_STR(str(r.json, "get_roles.roles.0.frameworks.0.value"), f->fid);
    CHECK_STR(str(r.json, "get_roles.roles.0.resources.0.name"), "cpus");
    reply_free(&r);
    r = jcall(f, "{\"type\":\"GET_OPERATIONS\"}");
    CHECK_INT(r.code, 200);
    CHECK_STR(str(r.json, "type"), "GET_OPERATIONS");
    reply_free(&r);
    r = jcall(f, "{\"type\":\"GET_MASTER\"}");
    CHECK(json_number_value(at(r.json, "get_master.start_time")) > 0);
    reply_free(&r);
    /* No --log_dir: the master's log is not a file to list or read. */
    r = jcall(f, "{\"type\":\"LIST_FILES\",\"list_files\":{\"path\":\"/master/log\"}}");
    CHECK_INT(r.code, 404);
    r = jcall(f, "{\"type\":\"READ_FILE\",\"read_file\":{\"path\":\"/etc/passwd\",\"offset\":0}}");
    CHECK_INT(r.code, 404);

    /* Weights: validated, then visible in GET_WEIGHTS and GET_ROLES. */
    r = jcall(f, "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[{\"role\":"
                 "\"web\",\"weight\":0}]}}");
    CHECK_INT(r.code, 400);
    r = jcall(f, "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[{\"role\":"
                 "\"a\",\"weight\":1},{\"role\":\"a\",\"weight\":2}]}}");
    CHECK_INT(r.code, 400);
    r = jcall(f, "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[{\"role\":"
                 "\"../x\",\"weight\":1}]}}");
    CHECK_INT(r.code, 400);
    r = jcall(f, "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[{\"role\":"
                 "\"web\",\"weight\":3.5}]}}");
    CHECK_INT(r.code, 200);
    CHECK(r.json == NULL);
    r = jcall(f, "{\"type\":\"GET_WEIGHTS\"}");
    CHECK_INT((int)json_array_size(at(r.json, "get_weights.weight_infos")), 1);
    CHECK(json_number_value(at(r.json, "get_weights.weight_infos.0.weight")) == 3.5);
    reply_free(&r);

    /* Logging: level 1 for 10 s, back to 0 once the clock has moved past it. */
    r = jcall(f, "{\"type\":\"SET_LOGGING_LEVEL\",\"set_logging_level\":{\"level\":1,"
                 "\"duration\":{\"nanoseconds\":0}}}");
    CHECK_INT(r.code, 400);
    r = jcall(f, "{\"type\":\"SET_LOGGING_LEVEL\",\"set_logging_level\":{\"level\":1,"
                 "\"duration\":{\"nanoseconds\":10000000000}}}");
    CHECK_INT(r.code, 200);
    r = jcall(f, "{\"type\":\"GET_LOGGING_LEVEL\"}");
    CHECK_INT((int)json_integer_value(at(r.json, "get_logging_level.level")), 1);
    reply_free(&r);
    cm_fake_clock_advance(&f->clock, 9.0);
    cm_operator_tick(f->op);
    CHECK_INT(cm_operator_logging_level(f->op), 1);
    cm_fake_clock_advance(&f->clock, 1.5);
    cm_operator_tick(f->op);
    CHECK_INT(cm_operator_logging_level(f->op), 0);
    cm_log_set_level(CM_LOG_INFO);

    /* TEARDOWN: unknown id 400, then the framework is gone with its task killed. */
    r = jcall(f, "{\"type\":\"TEARDOWN\",\"teardown\":{\"framework_id\":{\"value\":\"nope\"}}}");
    CHECK_INT(r.code, 400);
    r = jcall(f, "{\"type\":\"TEARDOWN\",\"teardown\":{\"framework_id\":{\"value\":\"%s\"}}}",
              f->fid);
    CHECK_INT(r.code, 200);
    CHECK(cm_master_framework(f->m, f->fid) == NULL);
    r = jcall(f, "{\"type\":\"GET_TASKS\"}");
    CHECK_INT((int)json_array_size(at(r.json, "get_tasks.tasks")), 0);
    CHECK_STR(str(r.json, "get_tasks.completed_tasks.0.state"), "TASK_KILLED");
    reply_free(&r);
    r = jcall(f, "{\"type\":\"GET_FRAMEWORKS\"}");
    CHECK_STR(str(r.json, "get_frameworks.completed_frameworks.0.framework_info.id.value"), f->fid);
    reply_free(&r);
    fixture_free(f);
}

static const Mesos__V1__Master__Event *oev(struct fixture *f, size_t i)
{
    return i < f->op_ev.n ? (const Mesos__V1__Master__Event *)f->op_ev.msgs[i] : NULL;
}

static void test_subscribe_events(void)
{
    struct fixture *f = fixture_new();
    struct reply r = jcall(f, "{\"type\":\"SUBSCRIBE\"}");
    CHECK_INT(r.code, 200);
    struct cm_sink s = cap_sink(&f->op_ev);
    REQUIRE(cm_operator_subscribe(f->op, &s) != NULL);
    CHECK_INT(cm_operator_subscribers(f->op), 1);
    register_agent(f);
    subscribe_framework(f, true);
    REQUIRE(f->agent && f->fw);
    REQUIRE(launch(f, "t1") != NULL);
    CHECK_INT(status_update(f, "t1", "TASK_RUNNING"), 202);
    CHECK_INT(status_update(f, "t1", "TASK_RUNNING"), 202); /* no state change: no event */
    cm_operator_heartbeat(f->op);
    CHECK_INT(cm_master_mark_agent_gone(f->m, f->aid, r.text, sizeof r.text), 200);
    struct cm_framework *fw = cm_master_framework(f->m, f->fid);
    REQUIRE(fw != NULL);
    cm_master_remove_framework(f->m, fw);

    static const int want[] = {
        MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED,
        MESOS__V1__MASTER__EVENT__TYPE__AGENT_ADDED,
        MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_ADDED,
        MESOS__V1__MASTER__EVENT__TYPE__TASK_ADDED,
        MESOS__V1__MASTER__EVENT__TYPE__TASK_UPDATED,
        MESOS__V1__MASTER__EVENT__TYPE__HEARTBEAT,
        MESOS__V1__MASTER__EVENT__TYPE__TASK_UPDATED,
        MESOS__V1__MASTER__EVENT__TYPE__AGENT_REMOVED,
        MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_REMOVED,
    };
    size_t n = sizeof want / sizeof want[0];
    CHECK_INT(f->op_ev.n, n);
    for (size_t i = 0; i < n && i < f->op_ev.n; i++) {
        if ((int)oev(f, i)->type != want[i])
            fprintf(stderr, "event %zu: %d, want %d\n", i, oev(f, i)->type, want[i]);
        CHECK_INT(oev(f, i)->type, want[i]);
    }
    REQUIRE(f->op_ev.n >= n);
    CHECK(oev(f, 0)->subscribed->heartbeat_interval_seconds == 15.0);
    CHECK(oev(f, 0)->subscribed->get_state->get_agents != NULL);
    CHECK_STR(oev(f, 1)->agent_added->agent->agent_info->id->value, f->aid);
    CHECK_STR(oev(f, 2)->framework_added->framework->framework_info->id->value, f->fid);
    CHECK_STR(oev(f, 3)->task_added->task->task_id->value, "t1");
    CHECK_INT(oev(f, 3)->task_added->task->state, MESOS__V1__TASK_STATE__TASK_STAGING);
    CHECK_INT(oev(f, 4)->task_updated->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK_STR(oev(f, 4)->task_updated->framework_id->value, f->fid);
    CHECK_INT(oev(f, 6)->task_updated->state, MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR);
    CHECK_INT(oev(f, 6)->task_updated->status->reason,
              MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED_BY_OPERATOR);
    CHECK_STR(oev(f, 7)->agent_removed->agent_id->value, f->aid);
    CHECK_STR(oev(f, 8)->framework_removed->framework_info->id->value, f->fid);
    /* The master's end ends the subscriber's stream. */
    cm_master_free(f->m);
    f->m = NULL;
    CHECK_INT(f->op_ev.ended, 1);
    fixture_free(f);
}

static size_t count_agent_events(struct fixture *f, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < f->agent_ev.n; i++)
        n += (int)((Cmesos__Internal__AgentEvent *)f->agent_ev.msgs[i])->type == type;
    return n;
}

static void test_agent_actions(void)
{
    struct fixture *f = fixture_new();
    register_agent(f);
    subscribe_framework(f, false);
    REQUIRE(f->agent && f->fw);
    struct cm_task *t = launch(f, "t1");
    REQUIRE(t != NULL);
    CHECK_INT(status_update(f, "t1", "TASK_RUNNING"), 202);

    /* DEACTIVATE: the offer goes away, allocation offers nothing; REACTIVATE brings it back.
     * (The launch left a 5 s filter on what its offer did not use.) */
    cm_fake_clock_advance(&f->clock, 6);
    cm_master_allocate(f->m);
    CHECK(cm_strmap_count(&f->m->offers) > 0);
    struct reply r = jcall(
        f, "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
        f->aid);
    CHECK_INT(r.code, 200);
    CHECK_INT(cm_strmap_count(&f->m->offers), 0);
    cm_master_allocate(f->m);
    CHECK_INT(cm_strmap_count(&f->m->offers), 0);
    r = jcall(f, "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":{\"value\":"
                 "\"unknown\"}}}");
    CHECK_INT(r.code, 404);
    r = jcall(
        f, "{\"type\":\"REACTIVATE_AGENT\",\"reactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
        f->aid);
    CHECK_INT(r.code, 200);
    cm_fake_clock_advance(&f->clock, 6);
    cm_master_allocate(f->m);
    CHECK(cm_strmap_count(&f->m->offers) > 0);

    /* DRAIN with a 2 s cap: the task is killed with the smaller grace, the agent is DRAINING
     * until the task ends, then DRAINED; nothing is offered meanwhile. */
    r = jcall(f,
              "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":\"%s\"},"
              "\"max_grace_period\":{\"seconds\":2}}}",
              f->aid);
    CHECK_INT(r.code, 200);
    CHECK_INT(f->agent->drain_state, MESOS__V1__DRAIN_STATE__DRAINING);
    CHECK_INT(cm_strmap_count(&f->m->offers), 0);
    Cmesos__Internal__AgentEvent *kill = NULL;
    for (size_t i = 0; i < f->agent_ev.n; i++) {
        Cmesos__Internal__AgentEvent *e = (Cmesos__Internal__AgentEvent *)f->agent_ev.msgs[i];
        if (e->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK)
            kill = e;
    }
    REQUIRE(kill != NULL);
    REQUIRE(kill->kill_task->kill_policy && kill->kill_task->kill_policy->grace_period);
    CHECK(kill->kill_task->kill_policy->grace_period->nanoseconds == 2000000000LL);
    r = jcall(f, "{\"type\":\"GET_AGENTS\"}");
    CHECK_STR(str(r.json, "get_agents.agents.0.drain_info.state"), "DRAINING");
    CHECK(json_is_true(at(r.json, "get_agents.agents.0.deactivated")));
    reply_free(&r);
    CHECK_INT(status_update(f, "t1", "TASK_KILLED"), 202);
    cm_master_check_drained(f->m, f->aid); /* no loop here: what the deferred check runs */
    CHECK_INT(f->agent->drain_state, MESOS__V1__DRAIN_STATE__DRAINED);
    cm_master_allocate(f->m);
    CHECK_INT(cm_strmap_count(&f->m->offers), 0);

    /* MARK_AGENT_GONE: SHUTDOWN to the agent, agent removed, and it may never come back. */
    r = jcall(
        f, "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
        f->aid);
    CHECK_INT(r.code, 200);
    CHECK_INT(count_agent_events(f, CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN), 1);
    CHECK(cm_master_agent(f->m, f->aid) == NULL);
    CHECK(cm_registrar_gone(f->m->registrar, f->aid, NULL));
    char reg[200];
    snprintf(reg, sizeof reg, "\"agent_id\":{\"value\":\"%s\"},", f->aid);
    struct capture again = {0};
    struct cm_sink s = cap_sink(&again);
    struct cm_agent *back = NULL;
    CHECK_INT(agent_call(f, &s, &back, REGISTER_JSON, reg), 403);
    CHECK(back == NULL);
    cap_clear(&again);
    fixture_free(f);
}

static void test_drain_mark_gone(void)
{
    struct fixture *f = fixture_new();
    register_agent(f);
    subscribe_framework(f, true);
    REQUIRE(f->agent && f->fw);
    REQUIRE(launch(f, "t1") != NULL);
    struct reply r = jcall(f,
                           "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":"
                           "\"%s\"},\"mark_gone\":true}}",
                           f->aid);
    CHECK_INT(r.code, 200);
    /* Without max_grace_period the task's own kill policy is used. */
    Cmesos__Internal__AgentEvent *kill = NULL;
    for (size_t i = 0; i < f->agent_ev.n; i++) {
        Cmesos__Internal__AgentEvent *e = (Cmesos__Internal__AgentEvent *)f->agent_ev.msgs[i];
        if (e->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK)
            kill = e;
    }
    REQUIRE(kill && kill->kill_task->kill_policy && kill->kill_task->kill_policy->grace_period);
    CHECK(kill->kill_task->kill_policy->grace_period->nanoseconds == 9000000000LL);
    CHECK_INT(status_update(f, "t1", "TASK_KILLED"), 202);
    cm_master_check_drained(f->m, f->aid);
    CHECK(cm_master_agent(f->m, f->aid) == NULL);
    CHECK(cm_registrar_gone(f->m->registrar, f->aid, NULL));
    fixture_free(f);
}

/* ---- the large replies written in slices (operator_stream.c) ---- */

/* Registers agent i (hostname h<i>) on its own stream id. */
static struct cm_agent *register_agent_n(struct fixture *f, int i)
{
    char body[4096], why[512], sid[64];
    snprintf(body, sizeof body,
             "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"h%d\","
             "\"port\":5051,\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
             "\"value\":2}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024}},"
             "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
             "\"end\":32000}]}}],\"attributes\":[{\"name\":\"rack\",\"type\":\"TEXT\","
             "\"text\":{\"value\":\"r%d\"}},{\"name\":\"big\",\"type\":\"SCALAR\","
             "\"scalar\":{\"value\":3e15}}]},\"pid\":\"slave(1)@10.0.1.%d:5051\","
             "\"address_ip\":\"10.0.1.%d\"}}",
             i, i % 3, i, i);
    snprintf(sid, sizeof sid, "agent-stream-%d", i);
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_master_agent_decode(CM_MEDIA_JSON, (const uint8_t *)body, strlen(body), &call, why,
                               sizeof why))
        return NULL;
    struct cm_sink s = {.media = CM_MEDIA_PROTOBUF, .cb = cap_cb, .arg = &f->agent_ev};
    struct cm_agent *a = NULL;
    int code = cm_master_agent_call(f->m, call, &s, sid, &a, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    if (code != 200)
        fprintf(stderr, "register %d: %d %s\n", i, code, why);
    return a;
}

/* Launches task id on any agent the framework holds an offer of; its agent id in *aid. */
static bool launch_any(struct fixture *f, const char *id, char *aid, size_t aidlen)
{
    cm_master_allocate(f->m);
    const struct cm_offer *of = f->m->offers_head;
    while (of && of->fw != f->fw)
        of = of->next;
    if (!of)
        return false;
    snprintf(aid, aidlen, "%s", of->agent->id);
    /* Tasks whose id starts with 'x' run under a custom executor of their own. */
    char how[512];
    if (id[0] == 'x')
        snprintf(how, sizeof how,
                 "\"executor\":{\"executor_id\":{\"value\":\"ex-%s\"},\"command\":{\"value\":"
                 "\"./exec\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
                 "\"value\":0.1}}]}",
                 id);
    else
        snprintf(how, sizeof how, "\"command\":{\"value\":\"sleep 9\"}");
    char body[2048];
    snprintf(body, sizeof body,
             "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{\"offer_ids\":"
             "[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{"
             "\"task_infos\":[{\"name\":\"task %s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":"
             "{\"value\":\"%s\"},%s,\"labels\":{\"labels\":[{"
             "\"key\":\"k\",\"value\":\"v\\u00e9\"}]},\"resources\":[{\"name\":\"cpus\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":0.1}}]}]}}]}}",
             f->fid, of->id, id, id, aid, how);
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .stream_id = f->fw->stream_id,
                                   .body = (const uint8_t *)body,
                                   .body_len = strlen(body)};
    struct cm_sched_result r;
    cm_master_scheduler_request(f->m, &req, &r);
    return r.code == 202 && cm_strmap_get(&f->fw->tasks, id);
}

static int status_on(struct fixture *f, const char *aid, const char *task, const char *state)
{
    char body[1024], why[512];
    snprintf(body, sizeof body,
             "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},"
             "\"status_update\":{\"framework_id\":{\"value\":\"%s\"},\"status\":{"
             "\"task_id\":{\"value\":\"%s\"},\"state\":\"%s\",\"source\":"
             "\"SOURCE_EXECUTOR\",\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}}",
             aid, f->fid, task, state);
    const struct cm_agent *a = cm_master_agent(f->m, aid);
    Cmesos__Internal__AgentCall *call = NULL;
    if (!a || cm_master_agent_decode(CM_MEDIA_JSON, (const uint8_t *)body, strlen(body), &call, why,
                                     sizeof why))
        return 0;
    char sid[64];
    snprintf(sid, sizeof sid, "%s", a->stream_id);
    int code = cm_master_agent_call(f->m, call, NULL, sid, NULL, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

/* A master with 24 agents and 40 tasks (some running, some finished) for one framework. */
static struct fixture *big_fixture(void)
{
    struct fixture *f = fixture_new();
    for (int i = 0; i < 24; i++)
        register_agent_n(f, i);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &f->m->agents);
    if (cm_strmap_iter_next(&it))
        snprintf(f->aid, sizeof f->aid, "%s", it.cur->key);
    subscribe_framework(f, true);
    if (!f->fw)
        return f;
    for (int i = 0; i < 40; i++) {
        char id[32], aid[128];
        snprintf(id, sizeof id, "%c%d", i % 7 == 3 ? 'x' : 't', i);
        if (!launch_any(f, id, aid, sizeof aid))
            break;
        if (i % 3 == 0)
            status_on(f, aid, id, "TASK_RUNNING");
        if (i % 5 == 0)
            status_on(f, aid, id, "TASK_FINISHED");
    }
    /* What is left of every agent offered again: more offers than one piece writes. */
    cm_fake_clock_advance(&f->clock, 60);
    cm_master_allocate(f->m);
    return f;
}

/* The one-piece reply to a GET_* call of type name, in media. */
static struct cm_json_out one_piece(struct fixture *f, const char *name, bool pb)
{
    char body[128];
    snprintf(body, sizeof body, "{\"type\":\"%s\"}", name);
    struct cm_operator_request req = {.method = "POST",
                                      .content_type = "application/json",
                                      .accept = pb ? "application/x-protobuf" : NULL,
                                      .body = (const uint8_t *)body,
                                      .body_len = strlen(body)};
    struct cm_operator_result res;
    cm_operator_request(f->op, &req, &res);
    struct cm_json_out out = CM_JSON_OUT_INIT;
    if (res.code == 200 && res.body)
        cm_json_out_raw(&out, (const char *)res.body, res.body_len);
    cm_operator_result_cleanup(&res);
    return out;
}

/* The SUBSCRIBED record as the one-piece path frames it. */
static struct cm_json_out one_piece_subscribed(struct fixture *f, bool pb)
{
    Mesos__V1__Master__Event ev = MESOS__V1__MASTER__EVENT__INIT;
    Mesos__V1__Master__Event__Subscribed sub = MESOS__V1__MASTER__EVENT__SUBSCRIBED__INIT;
    sub.get_state = cm_operator_get_state(f->m);
    sub.has_heartbeat_interval_seconds = 1;
    sub.heartbeat_interval_seconds = CM_OPERATOR_HEARTBEAT_SECS;
    ev.has_type = 1;
    ev.type = MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    uint8_t *frame = NULL;
    size_t len = 0;
    struct cm_json_out out = CM_JSON_OUT_INIT;
    if (cm_stream_frame(pb ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, &ev.base, &frame, &len) == 0)
        cm_json_out_raw(&out, (const char *)frame, len);
    free(frame);
    protobuf_c_message_free_unpacked(&sub.get_state->base, NULL);
    return out;
}

/* Runs a snapshot to its end; mid(f) runs after the mid_at-th call (0: never). Returns the
 * number of calls. */
static size_t run_snap(struct fixture *f, enum cm_operator_snap_kind kind, bool pb, bool rio,
                       struct cm_json_out *out, void (*mid)(struct fixture *), size_t mid_at)
{
    struct cm_operator_snap *s =
        cm_operator_snap_new(f->m, kind, pb ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, rio);
    size_t calls = 1;
    while (cm_operator_snap_produce(s, out) && calls < 1000000) {
        if (calls == mid_at && mid)
            mid(f);
        calls++;
    }
    CHECK(cm_operator_snap_collected(s));
    CHECK(cm_operator_snap_size(s) == out->len);
    cm_operator_snap_free(s);
    return calls;
}

static bool same_bytes(const struct cm_json_out *a, const struct cm_json_out *b)
{
    if (a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0))
        return true;
    size_t i = 0;
    while (i < a->len && i < b->len && a->data[i] == b->data[i])
        i++;
    fprintf(stderr, "bytes differ at %zu (lengths %zu and %zu): ...%.40s... vs ...%.40s...\n", i,
            a->len, b->len, a->data + (i > 20 ? i - 20 : 0), b->data + (i > 20 ? i - 20 : 0));
    return false;
}

static void test_sliced_identity(void)
{
    struct fixture *f = big_fixture();
    REQUIRE(f->fw && cm_strmap_count(&f->m->agents) == 24);
    CHECK(cm_strmap_count(&f->fw->tasks) >= 24);
    CHECK(cm_strmap_count(&f->fw->offers) > 16);
    CHECK(cm_strmap_count(&f->fw->executors) >= 3);
    static const struct {
        const char *name;
        enum cm_operator_snap_kind kind;
    } calls[] = {{"GET_STATE", CM_OPERATOR_SNAP_STATE},
                 {"GET_TASKS", CM_OPERATOR_SNAP_TASKS},
                 {"GET_AGENTS", CM_OPERATOR_SNAP_AGENTS},
                 {"GET_FRAMEWORKS", CM_OPERATOR_SNAP_FRAMEWORKS},
                 {"GET_EXECUTORS", CM_OPERATOR_SNAP_EXECUTORS}};
    for (int pb = 0; pb < 2; pb++) {
        for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            struct cm_json_out ref = one_piece(f, calls[i].name, pb);
            struct cm_json_out got = CM_JSON_OUT_INIT;
            size_t n = run_snap(f, calls[i].kind, pb, false, &got, NULL, 0);
            CHECK(ref.len > 0);
            /* Doubles as cm_pb_encode prints them (15 digits), not as cm_pbjson_write does. */
            if (!pb && calls[i].kind == CM_OPERATOR_SNAP_AGENTS)
                CHECK(strstr(ref.data, "\"value\":3e15}") != NULL);
            if (!pb && calls[i].kind == CM_OPERATOR_SNAP_TASKS)
                CHECK(strstr(ref.data, "\"value\":0.1}") != NULL);
            if (!same_bytes(&ref, &got))
                fprintf(stderr, "%s %s differs\n", calls[i].name, pb ? "protobuf" : "JSON");
            CHECK(same_bytes(&ref, &got));
            /* Written over several calls (so in several slices), not in one. */
            if (calls[i].kind == CM_OPERATOR_SNAP_STATE)
                CHECK(n > 10);
            cm_json_out_cleanup(&ref);
            cm_json_out_cleanup(&got);
        }
        struct cm_json_out ref = one_piece_subscribed(f, pb);
        struct cm_json_out got = CM_JSON_OUT_INIT;
        run_snap(f, CM_OPERATOR_SNAP_SUBSCRIBED, pb, true, &got, NULL, 0);
        CHECK(ref.len > 0 && same_bytes(&ref, &got));
        cm_json_out_cleanup(&ref);
        cm_json_out_cleanup(&got);
    }
    /* Where "e308" appears anywhere, cm_pb_encode prints every double of the reply with 17
     * digits: a task id makes it so, and the sliced reply starts over to do the same. */
    char aid[128];
    REQUIRE(launch_any(f, "e308", aid, sizeof aid));
    for (int pb = 0; pb < 2; pb++) {
        struct cm_json_out ref = one_piece(f, "GET_STATE", pb);
        struct cm_json_out got = CM_JSON_OUT_INIT;
        run_snap(f, CM_OPERATOR_SNAP_STATE, pb, false, &got, NULL, 0);
        CHECK(ref.len > 0 && same_bytes(&ref, &got));
        if (!pb)
            CHECK(strstr(ref.data, "\"value\":0.10000000000000001") != NULL);
        cm_json_out_cleanup(&ref);
        cm_json_out_cleanup(&got);
    }
    /* The HTTP edge asks for slices: the call is answered without a body. */
    const char *body = "{\"type\":\"GET_STATE\"}";
    struct cm_operator_request req = {.method = "POST",
                                      .content_type = "application/json",
                                      .body = (const uint8_t *)body,
                                      .body_len = strlen(body),
                                      .sliced = true};
    struct cm_operator_result res;
    cm_operator_request(f->op, &req, &res);
    CHECK_INT(res.code, 200);
    CHECK_INT(res.snap, CM_OPERATOR_SNAP_STATE);
    CHECK(res.body == NULL);
    cm_operator_result_cleanup(&res);
    fixture_free(f);
}

/* Changes made between slices: the snapshot holds no pointer into the core. */
static void mid_teardown(struct fixture *f)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"TEARDOWN\",\"teardown\":{\"framework_id\":{\"value\":\"%s\"}}}", f->fid);
    struct reply r = jcall(f, "%s", body);
    CHECK_INT(r.code, 200);
    reply_free(&r);
    f->fw = NULL;
}

static void mid_agent_gone(struct fixture *f)
{
    /* Some agent the snapshot has not reached yet: the last in the map's order. */
    char last[128] = "";
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &f->m->agents); cm_strmap_iter_next(&it);)
        snprintf(last, sizeof last, "%s", it.cur->key);
    struct reply r = jcall(f,
                           "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{"
                           "\"value\":\"%s\"}}}",
                           last);
    CHECK_INT(r.code, 200);
    reply_free(&r);
}

static void mid_finish_tasks(struct fixture *f)
{
    /* Every running task ends: they move from the active tasks to the completed ones. */
    struct cm_strmap_iter it;
    char(*ids)[2][128] = calloc(64, sizeof *ids);
    size_t n = 0;
    for (cm_strmap_iter_init(&it, &f->fw->tasks); cm_strmap_iter_next(&it) && n < 64; n++) {
        const struct cm_task *t = it.cur->value;
        snprintf(ids[n][0], sizeof ids[n][0], "%s", t->id);
        snprintf(ids[n][1], sizeof ids[n][1], "%s", t->agent_id);
    }
    for (size_t i = 0; i < n; i++)
        CHECK_INT(status_on(f, ids[i][1], ids[i][0], "TASK_FAILED"), 202);
    free(ids);
}

static void test_sliced_changes(void)
{
    struct {
        enum cm_operator_snap_kind kind;
        const char *name;
        void (*mid)(struct fixture *);
        bool same; /* nothing was written before the change */
    } cases[] = {
        {CM_OPERATOR_SNAP_STATE, "GET_STATE", mid_teardown, true},
        {CM_OPERATOR_SNAP_TASKS, "GET_TASKS", mid_teardown, true},
        /* The framework was written before it was torn down: it is in both lists. */
        {CM_OPERATOR_SNAP_FRAMEWORKS, "GET_FRAMEWORKS", mid_teardown, false},
        {CM_OPERATOR_SNAP_AGENTS, "GET_AGENTS", mid_agent_gone, true},
        {CM_OPERATOR_SNAP_STATE, "GET_STATE", mid_agent_gone, true},
        {CM_OPERATOR_SNAP_TASKS, "GET_TASKS", mid_finish_tasks, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int pb = 0; pb < 2; pb++) {
            struct fixture *f = big_fixture();
            REQUIRE(f->fw);
            struct cm_json_out got = CM_JSON_OUT_INIT;
            /* After the first call: the frameworks' ids (and the first one's task ids) or the
             * agents' ids are taken (and the first few agents written). */
            run_snap(f, cases[i].kind, pb, false, &got, cases[i].mid, 1);
            /* What was not written yet is written as it is now: the reply equals the one-piece
             * one built after the change. */
            struct cm_json_out ref = one_piece(f, cases[i].name, pb);
            if (cases[i].same) {
                if (!same_bytes(&ref, &got))
                    fprintf(stderr, "case %zu (%s, %s)\n", i, cases[i].name, pb ? "pb" : "json");
                CHECK(ref.len > 0 && same_bytes(&ref, &got));
            }
            /* It decodes, whatever changed. */
            Mesos__V1__Master__Response *r = NULL;
            if (pb) {
                r = mesos__v1__master__response__unpack(NULL, got.len, (const uint8_t *)got.data);
            } else {
                ProtobufCMessage *msg = NULL;
                char why[256];
                if (cm_pb_decode(&mesos__v1__master__response__descriptor, CM_MEDIA_JSON,
                                 (const uint8_t *)got.data, got.len, &msg, why, sizeof why) == 0)
                    r = (Mesos__V1__Master__Response *)msg;
            }
            CHECK(r != NULL);
            if (r && cases[i].kind == CM_OPERATOR_SNAP_FRAMEWORKS && !cases[i].same) {
                CHECK(r->get_frameworks && r->get_frameworks->n_frameworks == 1 &&
                      r->get_frameworks->n_completed_frameworks == 1);
            }
            if (r)
                protobuf_c_message_free_unpacked(&r->base, NULL);
            cm_json_out_cleanup(&ref);
            cm_json_out_cleanup(&got);
            fixture_free(f);
        }
    }
}

TEST_MAIN(TEST(test_request_checks), TEST(test_call_shapes), TEST(test_subscribe_events),
          TEST(test_agent_actions), TEST(test_drain_mark_gone), TEST(test_sliced_identity),
          TEST(test_sliced_changes))
