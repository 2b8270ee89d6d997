/* test_master_checks.c: the master refuses tasks with an invalid health check or check at
 * ACCEPT (TASK_ERROR, REASON_TASK_INVALID, the field named), and broadcasts a changed
 * FrameworkInfo (UPDATE_FRAMEWORK, re-SUBSCRIBE) to exactly the agents holding the framework's
 * tasks. No sockets: capture sinks and a fake clock. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "agent_link.h"
#include "master.h"
#include "scheduler_calls.h"
#include "pbjson.h"
#include "test.h"

struct capture {
    ProtobufCMessage *msgs[128];
    size_t n;
};

static void cap_cb(void *arg, const ProtobufCMessage *msg)
{
    struct capture *c = arg;
    if (c->n < 128)
        c->msgs[c->n++] = cm_pb_dup(msg);
}

static void cap_end(void *arg)
{
    (void)arg;
}

static void cap_clear(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        protobuf_c_message_free_unpacked(c->msgs[i], NULL);
    c->n = 0;
}

static struct cm_sink cap_sink(struct capture *c, int media)
{
    struct cm_sink s = {.cb = cap_cb, .end_cb = cap_end, .arg = c, .media = media};
    return s;
}

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct capture fw_ev, fw_ev2, agent_ev[2];
    struct cm_framework *fw;
    struct cm_agent *agent[2];
};

static struct cm_sched_result post(struct fixture *f, const char *sid, const char *body)
{
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .stream_id = sid,
                                   .body = (const uint8_t *)body,
                                   .body_len = strlen(body)};
    struct cm_sched_result res;
    cm_master_scheduler_request(f->m, &req, &res);
    return res;
}

static int fw_call(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fw_call(struct fixture *f, const char *fmt, ...)
{
    char body[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    struct cm_sched_result r = post(f, f->fw->stream_id, body);
    if (r.code >= 400)
        fprintf(stderr, "call failed %d: %s\n", r.code, r.text);
    if (r.call)
        protobuf_c_message_free_unpacked(&r.call->base, NULL);
    return r.code;
}

static struct cm_framework *subscribe(struct fixture *f, const char *json, struct capture *cap,
                                      const char *sid)
{
    struct cm_sched_result r = post(f, NULL, json);
    if (r.code != 200 || !r.call) {
        fprintf(stderr, "subscribe failed %d: %s\n", r.code, r.text);
        return NULL;
    }
    struct cm_sink s = cap_sink(cap, CM_MEDIA_JSON);
    struct cm_framework *fw = cm_master_subscribe(f->m, r.call, &s, sid);
    protobuf_c_message_free_unpacked(&r.call->base, NULL);
    return fw;
}

static struct cm_agent *register_agent(struct fixture *f, int i)
{
    char json[1024], why[256];
    snprintf(json, sizeof json,
             "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"a%d\","
             "\"port\":5051,\"resources\":["
             "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]},"
             "\"pid\":\"slave(1)@10.0.0.%d:5051\",\"address_ip\":\"10.0.0.%d\"}}",
             i, i + 2, i + 2);
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                            (ProtobufCMessage **)&call, why, sizeof why) != 0) {
        fprintf(stderr, "agent call JSON: %s\n", why);
        return NULL;
    }
    struct cm_sink s = cap_sink(&f->agent_ev[i], CM_MEDIA_PROTOBUF);
    char sid[32];
    snprintf(sid, sizeof sid, "agent-stream-%d", i);
    struct cm_agent *a = NULL;
    int code = cm_master_agent_call(f->m, call, &s, sid, &a, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    if (code != 200)
        fprintf(stderr, "register failed %d: %s\n", code, why);
    return a;
}

/* nagents agents registered; a framework (failover_timeout so it can re-subscribe) with an
 * offer from each. */
static struct fixture *setup(int nagents)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    for (int i = 0; i < nagents; i++)
        f->agent[i] = register_agent(f, i);
    f->fw = subscribe(f,
                      "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\","
                      "\"name\":\"fw one\",\"failover_timeout\":60}}}",
                      &f->fw_ev, "stream-1");
    cm_master_allocate(f->m);
    return f;
}

static void fixture_free(struct fixture *f)
{
    cm_master_free(f->m);
    cap_clear(&f->fw_ev);
    cap_clear(&f->fw_ev2);
    cap_clear(&f->agent_ev[0]);
    cap_clear(&f->agent_ev[1]);
    free(f);
}

/* The id of the outstanding offer from agent a (NULL if none). */
static const char *offer_of(struct fixture *f, const struct cm_agent *a)
{
    for (size_t i = f->fw_ev.n; i-- > 0;) {
        Mesos__V1__Scheduler__Event *e = (Mesos__V1__Scheduler__Event *)f->fw_ev.msgs[i];
        if (e->type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
            continue;
        for (size_t j = 0; j < e->offers->n_offers; j++)
            if (strcmp(e->offers->offers[j]->agent_id->value, a->id) == 0 &&
                cm_strmap_get(&f->m->offers, e->offers->offers[j]->id->value))
                return e->offers->offers[j]->id->value;
    }
    return NULL;
}

/* ACCEPTs a's offer launching task tid with the extra TaskInfo fields in extra. */
static int launch(struct fixture *f, const struct cm_agent *a, const char *tid, const char *extra)
{
    const char *oid = offer_of(f, a);
    if (!oid) {
        fprintf(stderr, "no offer from agent %s\n", a->id);
        return -1;
    }
    return fw_call(f,
                   "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                   "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
                   "\"launch\":{\"task_infos\":[{\"name\":\"t\",\"task_id\":{\"value\":\"%s\"},"
                   "\"agent_id\":{\"value\":\"%s\"},\"command\":{\"value\":\"sleep 100\"},"
                   "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
                   "1}}]%s}]}}]}}",
                   f->fw->id, oid, tid, a->id, extra);
}

static Mesos__V1__TaskStatus *last_update(struct capture *c)
{
    for (size_t i = c->n; i-- > 0;) {
        Mesos__V1__Scheduler__Event *e = (Mesos__V1__Scheduler__Event *)c->msgs[i];
        if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE)
            return e->update->status;
    }
    return NULL;
}

static size_t count_agent_events(struct capture *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)((Cmesos__Internal__AgentEvent *)c->msgs[i])->type == type;
    return n;
}

static Cmesos__Internal__AgentEvent *last_agent_event(struct capture *c, int type)
{
    for (size_t i = c->n; i-- > 0;) {
        Cmesos__Internal__AgentEvent *e = (Cmesos__Internal__AgentEvent *)c->msgs[i];
        if ((int)e->type == type)
            return e;
    }
    return NULL;
}

static void expect_invalid(struct fixture *f, const char *tid, const char *extra,
                           const char *message)
{
    size_t runs =
        count_agent_events(&f->agent_ev[0], CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK);
    CHECK_INT(launch(f, f->agent[0], tid, extra), 202);
    Mesos__V1__TaskStatus *st = last_update(&f->fw_ev);
    REQUIRE(st != NULL);
    CHECK_STR(st->task_id->value, tid);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_ERROR);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
    CHECK_INT(st->source, MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER);
    CHECK_STR(st->message, message);
    CHECK(cm_strmap_get(&f->fw->tasks, tid) == NULL);
    CHECK_INT(count_agent_events(&f->agent_ev[0], CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK),
              runs);
    /* The offer's resources came back behind the default 5 s filter. */
    cm_fake_clock_advance(&f->clock, 6);
    cm_master_allocate(f->m);
}

static void test_accept_validates_checks(void)
{
    struct fixture *f = setup(1);
    REQUIRE(f->fw && f->agent[0]);
    expect_invalid(f, "tcp0", ",\"health_check\":{\"type\":\"TCP\",\"tcp\":{\"port\":0}}",
                   "Task uses invalid health check: health_check.tcp.port 0 is not in 1..65535");
    expect_invalid(f, "notype", ",\"health_check\":{\"delay_seconds\":1}",
                   "Task uses invalid health check: health_check.type must be set to COMMAND, "
                   "HTTP or TCP");
    expect_invalid(f, "neg",
                   ",\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":\"true\"},"
                   "\"interval_seconds\":-1}",
                   "Task uses invalid health check: health_check.interval_seconds must be a "
                   "non-negative number, not -1");
    expect_invalid(f, "chk", ",\"check\":{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"x\"}}",
                   "Task uses invalid check: check.http.path 'x' must start with '/'");
    expect_invalid(f, "chkcmd",
                   ",\"check\":{\"type\":\"COMMAND\",\"command\":{\"command\":{\"value\":\"\"}}}",
                   "Task uses invalid check: check.command.command: command.value must be set");

    /* Valid ones launch. */
    CHECK_INT(launch(f, f->agent[0], "good",
                     ",\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":8080,\"path\":"
                     "\"/health\"}},\"check\":{\"type\":\"TCP\",\"tcp\":{\"port\":9090}}"),
              202);
    Cmesos__Internal__AgentEvent *run =
        last_agent_event(&f->agent_ev[0], CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK);
    REQUIRE(run != NULL);
    CHECK_STR(run->run_task->task->task_id->value, "good");
    CHECK(run->run_task->task->health_check != NULL && run->run_task->task->check != NULL);
    CHECK(cm_strmap_get(&f->fw->tasks, "good") != NULL);
    fixture_free(f);
}

static void test_framework_update_broadcast(void)
{
    struct fixture *f = setup(2);
    REQUIRE(f->fw && f->agent[0] && f->agent[1]);
    /* Tasks on agent 0 only (two of them: the agent still gets one event). */
    CHECK_INT(launch(f, f->agent[0], "t1", ""), 202);
    cm_fake_clock_advance(&f->clock, 6);
    cm_master_allocate(f->m);
    CHECK_INT(launch(f, f->agent[0], "t2", ""), 202);
    REQUIRE(cm_strmap_count(&f->fw->tasks) == 2);
    const int UF = CMESOS__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK;

    CHECK_INT(fw_call(f,
                      "{\"type\":\"UPDATE_FRAMEWORK\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"update_framework\":{\"framework_info\":{\"id\":{\"value\":\"%s\"},"
                      "\"user\":\"u\",\"name\":\"renamed\",\"failover_timeout\":60,"
                      "\"webui_url\":\"http://ui\",\"labels\":{\"labels\":[{\"key\":\"k\","
                      "\"value\":\"v\"}]}}}}",
                      f->fw->id, f->fw->id),
              200);
    CHECK_INT(count_agent_events(&f->agent_ev[0], UF), 1);
    CHECK_INT(count_agent_events(&f->agent_ev[1], UF), 0);
    Cmesos__Internal__AgentEvent *e = last_agent_event(&f->agent_ev[0], UF);
    REQUIRE(e != NULL && e->update_framework && e->update_framework->framework_info);
    const Mesos__V1__FrameworkInfo *fi = e->update_framework->framework_info;
    CHECK_STR(fi->name, "renamed");
    CHECK_STR(fi->id->value, f->fw->id);
    CHECK_STR(fi->webui_url, "http://ui");
    CHECK(fi->labels && fi->labels->n_labels == 1);

    /* A refused update sends nothing. */
    CHECK_INT(fw_call(f,
                      "{\"type\":\"UPDATE_FRAMEWORK\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"update_framework\":{\"framework_info\":{\"id\":{\"value\":\"%s\"},"
                      "\"user\":\"other\",\"name\":\"x\"}}}",
                      f->fw->id, f->fw->id),
              400);
    CHECK_INT(count_agent_events(&f->agent_ev[0], UF), 1);

    /* Re-SUBSCRIBE (failover) with another name: broadcast again, to agent 0 only. */
    char json[512];
    snprintf(json, sizeof json,
             "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"%s\"},\"subscribe\":{"
             "\"framework_info\":{\"user\":\"u\",\"name\":\"third\",\"id\":{\"value\":\"%s\"},"
             "\"failover_timeout\":60}}}",
             f->fw->id, f->fw->id);
    REQUIRE(subscribe(f, json, &f->fw_ev2, "stream-2") == f->fw);
    CHECK_INT(count_agent_events(&f->agent_ev[0], UF), 2);
    CHECK_INT(count_agent_events(&f->agent_ev[1], UF), 0);
    e = last_agent_event(&f->agent_ev[0], UF);
    CHECK_STR(e->update_framework->framework_info->name, "third");

    /* A framework without tasks anywhere: nobody is told. */
    struct capture other = {0};
    struct cm_framework *fw2 = subscribe(f,
                                         "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_"
                                         "info\":{\"user\":\"u\",\"name\":\"two\"}}}",
                                         &other, "stream-3");
    REQUIRE(fw2 != NULL);
    cm_master_send_framework_update(f->m, fw2);
    CHECK_INT(count_agent_events(&f->agent_ev[0], UF), 2);
    CHECK_INT(count_agent_events(&f->agent_ev[1], UF), 0);
    fixture_free(f);
    cap_clear(&other);
}

TEST_MAIN(TEST(test_accept_validates_checks), TEST(test_framework_update_broadcast))
