/* test_master_calls.c: the master's scheduler API without sockets — request decisions (§2.1),
 * call validation (§2.2), offers and launches (§2.7), reconciliation (§2.10), status updates and
 * acknowledgements, failover and offer timeouts — with test sinks and a fake clock. */
#include <event2/event.h>
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

/* ---- capture sinks ---- */

struct capture {
    ProtobufCMessage *msgs[256];
    size_t n;
    int ended;
};

static void cap_cb(void *arg, const ProtobufCMessage *msg)
{
    struct capture *c = arg;
    if (c->n < 256)
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

static Mesos__V1__Scheduler__Event *ev_at(struct capture *c, size_t i)
{
    return i < c->n ? (Mesos__V1__Scheduler__Event *)c->msgs[i] : NULL;
}

/* Last event of a type, or NULL. */
static Mesos__V1__Scheduler__Event *last_of(struct capture *c, int type)
{
    for (size_t i = c->n; i-- > 0;) {
        Mesos__V1__Scheduler__Event *e = ev_at(c, i);
        if ((int)e->type == type)
            return e;
    }
    return NULL;
}

static size_t count_of(struct capture *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)ev_at(c, i)->type == type;
    return n;
}

/* ---- fixture ---- */

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct capture fw_ev, agent_ev;
    struct cm_framework *fw;
    struct cm_agent *agent;
    char fid[128], aid[128];
};

static struct fixture *fixture_new(double offer_timeout)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    f->flags.offer_timeout = offer_timeout;
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    return f;
}

static void fixture_free(struct fixture *f)
{
    cm_master_free(f->m);
    cap_clear(&f->fw_ev);
    cap_clear(&f->agent_ev);
    free(f);
}

static struct cm_sched_result request(struct fixture *f, const char *method, const char *ct,
                                      const char *accept, const char *sid, const char *body)
{
    struct cm_sched_request req = {.method = method,
                                   .content_type = ct,
                                   .accept = accept,
                                   .stream_id = sid,
                                   .body = (const uint8_t *)body,
                                   .body_len = body ? strlen(body) : 0};
    struct cm_sched_result res;
    cm_master_scheduler_request(f->m, &req, &res);
    return res;
}

/* A JSON call on the framework's current stream; returns the status code. */
static int fw_call(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fw_call(struct fixture *f, const char *fmt, ...)
{
    char body[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    struct cm_sched_result r = request(f, "POST", "application/json", NULL, f->fw->stream_id, body);
    if (r.code >= 400)
        fprintf(stderr, "call failed %d: %s\n", r.code, r.text);
    if (r.call)
        protobuf_c_message_free_unpacked(&r.call->base, NULL);
    return r.code;
}

static struct cm_framework *subscribe_json(struct fixture *f, const char *json, struct capture *cap,
                                           const char *sid)
{
    struct cm_sched_result r = request(f, "POST", "application/json", NULL, NULL, json);
    if (r.code != 200 || !r.call) {
        fprintf(stderr, "subscribe failed %d: %s\n", r.code, r.text);
        return NULL;
    }
    struct cm_sink s = cap_sink(cap);
    struct cm_framework *fw = cm_master_subscribe(f->m, r.call, &s, sid);
    protobuf_c_message_free_unpacked(&r.call->base, NULL);
    return fw;
}

static void register_agent(struct fixture *f)
{
    Cmesos__Internal__AgentCall *call = NULL;
    char why[256];
    const char *json = "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"a1\","
                       "\"port\":5051,\"resources\":["
                       "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
                       "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]},"
                       "\"pid\":\"slave(1)@10.0.0.2:5051\",\"address_ip\":\"10.0.0.2\"}}";
    int rc = cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                                 (ProtobufCMessage **)&call, why, sizeof why);
    if (rc) {
        fprintf(stderr, "agent call JSON: %s\n", why);
        return;
    }
    struct cm_sink s = cap_sink(&f->agent_ev);
    s.media = CM_MEDIA_PROTOBUF;
    int code = cm_master_agent_call(f->m, call, &s, "agent-stream", &f->agent, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    if (code != 200 || !f->agent) {
        fprintf(stderr, "register failed %d: %s\n", code, why);
        return;
    }
    snprintf(f->aid, sizeof f->aid, "%s", f->agent->id);
}

/* Agent registered, framework subscribed (capabilities as given), one offer outstanding. */
static struct fixture *setup(double offer_timeout, const char *caps)
{
    struct fixture *f = fixture_new(offer_timeout);
    register_agent(f);
    char json[512];
    snprintf(json, sizeof json,
             "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\","
             "\"name\":\"fw one\",\"capabilities\":[%s]}}}",
             caps ? caps : "");
    f->fw = subscribe_json(f, json, &f->fw_ev, "stream-1");
    if (f->fw)
        snprintf(f->fid, sizeof f->fid, "%s", f->fw->id);
    cm_master_allocate(f->m);
    return f;
}

static const char *first_offer_id(struct fixture *f)
{
    Mesos__V1__Scheduler__Event *e = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    return e && e->offers->n_offers ? e->offers->offers[0]->id->value : NULL;
}

static Mesos__V1__TaskStatus *last_update(struct fixture *f)
{
    Mesos__V1__Scheduler__Event *e = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE);
    return e ? e->update->status : NULL;
}

#define TASK_JSON(id, cpus)                                                                        \
    "{\"name\":\"t\",\"task_id\":{\"value\":\"" id "\"},\"agent_id\":{\"value\":\"%s\"},"          \
    "\"command\":{\"value\":\"true\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","      \
    "\"scalar\":{\"value\":" cpus "}}]}"

/* ---- tests ---- */

static void test_validate_call(void)
{
    char why[256];
    Mesos__V1__Scheduler__Call c = MESOS__V1__SCHEDULER__CALL__INIT;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "'type'") != NULL);
    c.has_type = 1;
    c.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "'subscribe'") != NULL);

    Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkID a = MESOS__V1__FRAMEWORK_ID__INIT, b = MESOS__V1__FRAMEWORK_ID__INIT;
    fi.user = "u";
    fi.name = "n";
    sub.framework_info = &fi;
    c.subscribe = &sub;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == 0);
    a.value = "x";
    c.framework_id = &a;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == CM_EINVAL);
    b.value = "x";
    fi.id = &b;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == 0);

    c.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "'accept'") != NULL);
    c.type = MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == 0);
    c.framework_id = NULL;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "'framework_id'") != NULL);

    Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
    uint8_t u[16] = {0};
    c.framework_id = &a;
    c.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
    c.acknowledge = &ack;
    ack.uuid.data = u;
    ack.uuid.len = 15;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == CM_EINVAL);
    ack.uuid.len = 16;
    CHECK(cm_master_validate_call(&c, why, sizeof why) == 0);
}

static void test_request_codes(void)
{
    struct fixture *f = fixture_new(0);
    const char *sub = "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":"
                      "{\"user\":\"u\",\"name\":\"n\"}}}";
    struct cm_sched_result r;
    r = request(f, "GET", "application/json", NULL, NULL, sub);
    CHECK_INT(r.code, 405);
    r = request(f, "POST", NULL, NULL, NULL, sub);
    CHECK_INT(r.code, 400);
    CHECK(strstr(r.text, "Content-Type") != NULL);
    r = request(f, "POST", "text/plain", NULL, NULL, sub);
    CHECK_INT(r.code, 415);
    r = request(f, "POST", "application/json", NULL, NULL, "{\"type\":\"SUBSCRIBE\"");
    CHECK_INT(r.code, 400);
    r = request(f, "POST", "application/json", NULL, NULL,
                "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"name\":\"n\"}}}");
    CHECK_INT(r.code, 400);
    CHECK(strncmp(r.text, "Failed to convert JSON into Call protobuf: ", 43) == 0);
    r = request(f, "POST", "application/x-protobuf", NULL, NULL, "\xff\xff\xff");
    CHECK_INT(r.code, 400);
    r = request(f, "POST", "application/json", NULL, NULL, "{\"type\":\"SUBSCRIBE\"}");
    CHECK_INT(r.code, 400);
    CHECK(strncmp(r.text, "Failed to validate scheduler::Call: ", 36) == 0);
    r = request(f, "POST", "application/json", "text/html", NULL, sub);
    CHECK_INT(r.code, 406);
    r = request(f, "POST", "application/json", NULL, "some-stream", sub);
    CHECK_INT(r.code, 400);
    r = request(f, "POST", "application/json; charset=utf-8", "application/x-protobuf", NULL, sub);
    CHECK_INT(r.code, 200);
    CHECK(r.media == CM_MEDIA_PROTOBUF);
    REQUIRE(r.call != NULL);
    protobuf_c_message_free_unpacked(&r.call->base, NULL);
    r = request(f, "POST", "application/json", NULL, "s",
                "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"nope\"}}");
    CHECK_INT(r.code, 400);
    CHECK_STR(r.text, "Framework cannot be found");

    /* Subscribed framework: stream id checks, then 202 / 501. */
    struct capture cap = {0};
    struct cm_framework *fw = subscribe_json(f, sub, &cap, "sid-1");
    REQUIRE(fw != NULL);
    char body[256];
    snprintf(body, sizeof body, "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
             fw->id);
    r = request(f, "POST", "application/json", NULL, NULL, body);
    CHECK_INT(r.code, 400);
    r = request(f, "POST", "application/json", NULL, "sid-2", body);
    CHECK_INT(r.code, 400);
    r = request(f, "POST", "application/json", NULL, "sid-1", body);
    CHECK_INT(r.code, 202);
    snprintf(body, sizeof body, "{\"type\":\"UNKNOWN\",\"framework_id\":{\"value\":\"%s\"}}",
             fw->id);
    r = request(f, "POST", "application/json", NULL, "sid-1", body);
    CHECK_INT(r.code, 501);
    /* First events: SUBSCRIBED then HEARTBEAT. */
    REQUIRE(cap.n >= 2);
    CHECK_INT(ev_at(&cap, 0)->type, MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED);
    CHECK_INT(ev_at(&cap, 0)->subscribed->heartbeat_interval_seconds, 15);
    CHECK_INT(ev_at(&cap, 1)->type, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    /* Disconnected: 403. */
    cm_master_framework_disconnected(f->m, fw); /* failover_timeout 0: removed at once */
    snprintf(body, sizeof body, "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
             ev_at(&cap, 0)->subscribed->framework_id->value);
    r = request(f, "POST", "application/json", NULL, "sid-1", body);
    CHECK_INT(r.code, 400); /* removed: unknown to the active set */
    cap_clear(&cap);
    fixture_free(f);
}

static void test_framework_info_validation(void)
{
    struct fixture *f = fixture_new(0);
    struct capture cap = {0};
    CHECK(subscribe_json(f,
                         "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
                         "\"u\",\"name\":\"n\",\"roles\":[\"a\"]}}}",
                         &cap, "s") == NULL);
    CHECK(cap.ended == 1);
    Mesos__V1__Scheduler__Event *e = last_of(&cap, MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR);
    CHECK(e && strstr(e->error->message, "roles") != NULL);
    cap_clear(&cap);
    CHECK(subscribe_json(f,
                         "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
                         "\"u\",\"name\":\"n\",\"roles\":[\"a\",\"a\"],\"capabilities\":[{\"type\":"
                         "\"MULTI_ROLE\"}]}}}",
                         &cap, "s") == NULL);
    cap_clear(&cap);
    CHECK(subscribe_json(f,
                         "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
                         "\"u\",\"name\":\"n\",\"role\":\"bad role\"}}}",
                         &cap, "s") == NULL);
    cap_clear(&cap);
    CHECK(subscribe_json(f,
                         "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"..\"},"
                         "\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
                         "\"id\":{\"value\":\"..\"}}}}",
                         &cap, "s") == NULL);
    e = last_of(&cap, MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR);
    CHECK(e && strstr(e->error->message, "id") != NULL);
    cap_clear(&cap);
    CHECK(subscribe_json(f,
                         "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
                         "\"u\",\"name\":\"n\",\"roles\":[\"a\",\"b\"],\"capabilities\":[{\"type\":"
                         "\"MULTI_ROLE\"}]},\"suppressed_roles\":[\"b\"]}}",
                         &cap, "s") != NULL);
    cap_clear(&cap);
    fixture_free(f);
}

static void test_offer_and_launch(void)
{
    struct fixture *f = setup(0, NULL);
    REQUIRE(f->fw && f->agent);
    const char *oid = first_offer_id(f);
    REQUIRE(oid != NULL);
    Mesos__V1__Scheduler__Event *oe = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    /* Non-MULTI_ROLE: no allocation_info anywhere; URL and hostname of the agent. */
    CHECK(oe->offers->offers[0]->allocation_info == NULL);
    CHECK(oe->offers->offers[0]->resources[0]->allocation_info == NULL);
    CHECK_STR(oe->offers->offers[0]->url->address->ip, "10.0.0.2");
    CHECK_STR(oe->offers->offers[0]->url->path, "/slave(1)");
    CHECK_STR(oe->offers->offers[0]->hostname, "a1");
    char offer[128];
    snprintf(offer, sizeof offer, "%s", oid);

    /* More than offered, a bad id, a valid task, a duplicate of it, no resources. */
    CHECK_INT(fw_call(f,
                      "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                      "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
                      "\"launch\":{\"task_infos\":[" TASK_JSON("big", "5") "," TASK_JSON(
                          "a/b", "1") "," TASK_JSON("ok", "1") "," TASK_JSON("ok", "1") "]}}]}}",
                      f->fid, offer, f->aid, f->aid, f->aid, f->aid),
              202);
    size_t nupd = count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE);
    CHECK_INT(nupd, 3);
    for (size_t i = 0; i < f->fw_ev.n; i++) {
        Mesos__V1__Scheduler__Event *e = ev_at(&f->fw_ev, i);
        if (e->type != MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE)
            continue;
        CHECK_INT(e->update->status->state, MESOS__V1__TASK_STATE__TASK_ERROR);
        CHECK_INT(e->update->status->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
        CHECK(!e->update->status->has_uuid);
        CHECK(e->update->status->message != NULL);
    }
    /* The valid task went to the agent as RUN_TASK with allocation_info on its resources. */
    Cmesos__Internal__AgentEvent *run = NULL;
    for (size_t i = 0; i < f->agent_ev.n; i++) {
        Cmesos__Internal__AgentEvent *e = (Cmesos__Internal__AgentEvent *)f->agent_ev.msgs[i];
        if (e->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK)
            run = e;
    }
    REQUIRE(run != NULL);
    CHECK_STR(run->run_task->task->task_id->value, "ok");
    REQUIRE(run->run_task->task->n_resources == 1);
    CHECK(run->run_task->task->resources[0]->allocation_info != NULL);
    struct cm_task *t = cm_strmap_get(&f->fw->tasks, "ok");
    REQUIRE(t != NULL);
    CHECK_INT(t->state, MESOS__V1__TASK_STATE__TASK_STAGING);
    CHECK_INT(cm_strmap_count(&f->m->offers), 0);

    /* The used offer is gone: a second ACCEPT gets TASK_LOST with REASON_INVALID_OFFERS. */
    CHECK_INT(fw_call(f,
                      "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                      "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
                      "\"launch\":{\"task_infos\":[" TASK_JSON("again", "1") "]}}]}}",
                      f->fid, offer, f->aid),
              202);
    Mesos__V1__TaskStatus *st = last_update(f);
    REQUIRE(st != NULL);
    CHECK_STR(st->task_id->value, "again");
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
    CHECK_INT(st->source, MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER);
    CHECK(!st->has_uuid);

    /* The remainder came back behind a 5 s filter: nothing now, an offer after it expires. */
    cap_clear(&f->fw_ev);
    cm_master_allocate(f->m);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS), 0);
    cm_fake_clock_advance(&f->clock, 6);
    cm_master_allocate(f->m);
    REQUIRE(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) == 1);
    Mesos__V1__Scheduler__Event *o2 = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    double cpus = 0;
    for (size_t i = 0; i < o2->offers->offers[0]->n_resources; i++)
        if (strcmp(o2->offers->offers[0]->resources[i]->name, "cpus") == 0)
            cpus = o2->offers->offers[0]->resources[i]->scalar->value;
    CHECK(cpus > 2.99 && cpus < 3.01); /* 4 - the launched task's 1 */

    /* Another framework's offer is foreign. */
    struct capture cap2 = {0};
    struct cm_framework *fw2 = subscribe_json(
        f,
        "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":"
        "\"two\"}}}",
        &cap2, "stream-2");
    REQUIRE(fw2 != NULL);
    const char *oid2 = first_offer_id(f);
    REQUIRE(oid2 != NULL);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{\"offer_ids\":"
             "[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{"
             "\"task_infos\":[" TASK_JSON("x", "1") "]}}]}}",
             fw2->id, oid2, f->aid);
    struct cm_sched_result r = request(f, "POST", "application/json", NULL, "stream-2", body);
    CHECK_INT(r.code, 202);
    Mesos__V1__Scheduler__Event *e2 = last_of(&cap2, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE);
    REQUIRE(e2 != NULL);
    CHECK_INT(e2->update->status->reason, MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
    CHECK(cm_strmap_get(&f->m->offers, oid2) != NULL); /* still the first framework's */
    cap_clear(&cap2);
    fixture_free(f);
}

static void test_updates_acks_reconcile(void)
{
    struct fixture *f = setup(0, NULL);
    REQUIRE(f->fw && f->agent);
    const char *oid = first_offer_id(f);
    REQUIRE(oid != NULL);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                      "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
                      "\"launch\":{\"task_infos\":[" TASK_JSON("t1", "1") "]}}]}}",
                      f->fid, oid, f->aid),
              202);
    /* The agent reports TASK_FINISHED (uuid AAAA...). */
    char json[1024], why[256];
    snprintf(json, sizeof json,
             "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"status_update\":{"
             "\"framework_id\":{\"value\":\"%s\"},\"status\":{\"task_id\":{\"value\":\"t1\"},"
             "\"state\":\"TASK_FINISHED\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":"
             "\"AAECAwQFBgcICQoLDA0ODw==\",\"timestamp\":1000}}}",
             f->aid, f->fid);
    Cmesos__Internal__AgentCall *call = NULL;
    REQUIRE(cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                                (ProtobufCMessage **)&call, why, sizeof why) == 0);
    CHECK_INT(cm_master_agent_call(f->m, call, NULL, "wrong", NULL, why, sizeof why), 400);
    CHECK_INT(cm_master_agent_call(f->m, call, NULL, "agent-stream", NULL, why, sizeof why), 202);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    Mesos__V1__TaskStatus *st = last_update(f);
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK(st->has_uuid && st->uuid.len == 16);
    struct cm_task *t = cm_strmap_get(&f->fw->tasks, "t1");
    REQUIRE(t != NULL);
    CHECK(t->released);

    /* Implicit reconciliation still reports it (terminal, unacknowledged), without uuid. */
    cap_clear(&f->fw_ev);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"reconcile\":{}}",
                      f->fid),
              202);
    st = last_update(f);
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION);
    CHECK(!st->has_uuid);
    CHECK(strncmp(st->message, "Reconciliation: ", 16) == 0);

    /* ACK with the uuid: relayed to the agent, and the task moves to completed. */
    CHECK_INT(fw_call(f,
                      "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"acknowledge\":{\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":"
                      "\"t1\"},\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}",
                      f->fid, f->aid),
              202);
    Cmesos__Internal__AgentEvent *last =
        (Cmesos__Internal__AgentEvent *)f->agent_ev.msgs[f->agent_ev.n - 1];
    CHECK_INT(last->type, CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE);
    CHECK(cm_strmap_get(&f->fw->tasks, "t1") == NULL);
    CHECK_INT(cm_ring_count(&f->fw->completed_tasks), 1);

    /* Explicit: unknown task -> TASK_LOST (not partition-aware); nothing for implicit. */
    cap_clear(&f->fw_ev);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"reconcile\":{}}",
                      f->fid),
              202);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 0);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"reconcile\":{\"tasks\":[{\"task_id\":{\"value\":\"t1\"}},{\"task_id\":"
                      "{\"value\":\"zz\"},\"agent_id\":{\"value\":\"%s\"}}]}}",
                      f->fid, f->aid),
              202);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 2);
    st = last_update(f);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
    /* KILL of an unknown task answers like reconciliation. */
    CHECK_INT(fw_call(f,
                      "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"},\"kill\":{"
                      "\"task_id\":{\"value\":\"nope\"}}}",
                      f->fid),
              202);
    st = last_update(f);
    CHECK_STR(st->task_id->value, "nope");
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
    fixture_free(f);
}

static void test_partition_aware_reconcile(void)
{
    struct fixture *f = setup(0, "{\"type\":\"PARTITION_AWARE\"}");
    REQUIRE(f->fw);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"reconcile\":{\"tasks\":[{\"task_id\":{\"value\":\"a\"}},{\"task_id\":"
                      "{\"value\":\"b\"},\"agent_id\":{\"value\":\"%s\"}}]}}",
                      f->fid, f->aid),
              202);
    REQUIRE(f->fw_ev.n >= 2);
    Mesos__V1__Scheduler__Event *a = ev_at(&f->fw_ev, f->fw_ev.n - 2);
    Mesos__V1__Scheduler__Event *b = ev_at(&f->fw_ev, f->fw_ev.n - 1);
    CHECK_INT(a->update->status->state, MESOS__V1__TASK_STATE__TASK_UNKNOWN);
    CHECK_INT(b->update->status->state, MESOS__V1__TASK_STATE__TASK_GONE);
    fixture_free(f);
}

static void test_offer_timeout(void)
{
    struct fixture *f = setup(10, NULL);
    REQUIRE(f->fw);
    const char *oid = first_offer_id(f);
    REQUIRE(oid != NULL);
    char offer[128];
    snprintf(offer, sizeof offer, "%s", oid);
    cm_fake_clock_advance(&f->clock, 9);
    cm_master_check_timeouts(f->m);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND), 0);
    cm_fake_clock_advance(&f->clock, 2);
    cm_master_check_timeouts(f->m);
    Mesos__V1__Scheduler__Event *e = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND);
    REQUIRE(e != NULL);
    CHECK_STR(e->rescind->offer_id->value, offer);
    CHECK_INT(cm_strmap_count(&f->m->offers), 0);
    CHECK_INT(f->fw->metrics.offers_rescinded, 1);
    /* Resources came back without a filter: re-offered at the next cycle. */
    cm_master_allocate(f->m);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS), 2);
    fixture_free(f);
}

static void test_decline_filter_and_revive(void)
{
    struct fixture *f = setup(0, NULL);
    REQUIRE(f->fw);
    const char *oid = first_offer_id(f);
    REQUIRE(oid != NULL);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"%s\"},\"decline\":{"
                      "\"offer_ids\":[{\"value\":\"%s\"}],\"filters\":{\"refuse_seconds\":100}}}",
                      f->fid, oid),
              202);
    cm_fake_clock_advance(&f->clock, 50);
    cm_master_allocate(f->m);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS), 1);
    CHECK_INT(fw_call(f, "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}", f->fid), 202);
    cm_master_allocate(f->m);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS), 2);
    fixture_free(f);
}

static void test_failover_and_removal(void)
{
    struct fixture *f = setup(0, NULL);
    REQUIRE(f->fw);
    char json[512];
    snprintf(json, sizeof json,
             "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"%s\"},\"subscribe\":{"
             "\"framework_info\":{\"user\":\"u\",\"name\":\"fw one\",\"id\":{\"value\":\"%s\"},"
             "\"failover_timeout\":30}}}",
             f->fid, f->fid);
    struct capture cap2 = {0};
    struct cm_framework *fw = subscribe_json(f, json, &cap2, "stream-2");
    REQUIRE(fw == f->fw);
    Mesos__V1__Scheduler__Event *e = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR);
    REQUIRE(e != NULL);
    CHECK_STR(e->error->message, "Framework failed over");
    CHECK_INT(f->fw_ev.ended, 1);
    CHECK_STR(fw->stream_id, "stream-2");
    /* Outstanding offers were taken back. */
    CHECK_INT(cm_strmap_count(&fw->offers), 0);

    /* Disconnect: inactive until the failover timeout, then removed for good. */
    cm_master_framework_disconnected(f->m, fw);
    CHECK(!fw->connected && !fw->active);
    cm_fake_clock_advance(&f->clock, 20);
    cm_master_check_timeouts(f->m);
    CHECK(cm_master_framework(f->m, f->fid) != NULL);
    cm_fake_clock_advance(&f->clock, 11);
    cm_master_check_timeouts(f->m);
    CHECK(cm_master_framework(f->m, f->fid) == NULL);
    CHECK(cm_strmap_get(&f->m->completed, f->fid) != NULL);
    struct capture cap3 = {0};
    CHECK(subscribe_json(f, json, &cap3, "stream-3") == NULL);
    e = last_of(&cap3, MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR);
    REQUIRE(e != NULL);
    CHECK_STR(e->error->message, "Framework has been removed");
    cap_clear(&cap2);
    cap_clear(&cap3);
    fixture_free(f);
}

static void test_agent_register_validation(void)
{
    struct fixture *f = fixture_new(0);
    char why[256];
    const char *bad[] = {
        "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"\"}}}",
        "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"h\",\"resources\":["
        "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1}}]}}}",
        "{\"type\":\"REGISTER\",\"agent_id\":{\"value\":\"a/b\"},\"register\":{\"agent_info\":{"
        "\"hostname\":\"h\"}}}",
    };
    for (size_t i = 0; i < 3; i++) {
        Cmesos__Internal__AgentCall *call = NULL;
        REQUIRE(cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, bad[i],
                                    strlen(bad[i]), (ProtobufCMessage **)&call, why,
                                    sizeof why) == 0);
        CHECK(cm_master_agent_validate_register(f->m, call, why, sizeof why) == CM_EINVAL);
        protobuf_c_message_free_unpacked(&call->base, NULL);
    }
    /* Calls from an unknown agent are refused with 403. */
    Cmesos__Internal__AgentCall c = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = "nobody";
    c.has_type = 1;
    c.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG;
    c.agent_id = &aid;
    CHECK_INT(cm_master_agent_call(f->m, &c, NULL, "x", NULL, why, sizeof why), 403);
    fixture_free(f);
}

/* An agent call in JSON on stream sid (REGISTER: on sink, the agent in *out). Returns the code. */
static int agent_call(struct fixture *f, const char *sid, struct cm_sink *sink,
                      struct cm_agent **out, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int agent_call(struct fixture *f, const char *sid, struct cm_sink *sink,
                      struct cm_agent **out, const char *fmt, ...)
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
    code = cm_master_agent_call(f->m, call, sink, sid, out, why, sizeof why);
    if (code >= 400)
        fprintf(stderr, "agent call %d: %s\n", code, why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

static size_t count_run_tasks(struct capture *c, const char *task_id)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) {
        Cmesos__Internal__AgentEvent *e = (Cmesos__Internal__AgentEvent *)c->msgs[i];
        if (e->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK &&
            strcmp(e->run_task->task->task_id->value, task_id) == 0)
            n++;
    }
    return n;
}

/* The latest UPDATE for task_id, or NULL. */
static Mesos__V1__TaskStatus *update_for(struct capture *c, const char *task_id)
{
    for (size_t i = c->n; i-- > 0;) {
        Mesos__V1__Scheduler__Event *e = ev_at(c, i);
        if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE &&
            strcmp(e->update->status->task_id->value, task_id) == 0)
            return e->update->status;
    }
    return NULL;
}

/* A RUN_TASK lost with the agent's link is sent again when the agent re-registers without the
 * task; a task whose launch the agent acknowledged (TASK_LAUNCH_ACK or a status update), or
 * that the framework killed meanwhile, is lost as before. */
static void test_launch_survives_link(void)
{
    struct fixture *f = fixture_new(0);
    register_agent(f);
    REQUIRE(f->agent != NULL);
    f->fw = subscribe_json(f,
                           "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
                           "\"u\",\"name\":\"ckpt\",\"checkpoint\":true}}}",
                           &f->fw_ev, "stream-1");
    REQUIRE(f->fw != NULL);
    snprintf(f->fid, sizeof f->fid, "%s", f->fw->id);
    cm_master_allocate(f->m);
    const char *oid = first_offer_id(f);
    REQUIRE(oid != NULL);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                      "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
                      "\"launch\":{\"task_infos\":[" TASK_JSON("acked", "1") "," TASK_JSON(
                          "updated", "1") "," TASK_JSON("lost-link",
                                                        "1") "," TASK_JSON("killed", "1") "]}}]}}",
                      f->fid, oid, f->aid, f->aid, f->aid, f->aid),
              202);
    CHECK_INT(count_run_tasks(&f->agent_ev, "lost-link"), 1);
    struct cm_task *t = cm_strmap_get(&f->fw->tasks, "lost-link");
    REQUIRE(t != NULL);
    CHECK(t->launch_unacked);

    /* The agent confirms two launches: one acknowledged, one with a status update. */
    CHECK_INT(agent_call(f, "agent-stream", NULL, NULL,
                         "{\"type\":\"TASK_LAUNCH_ACK\",\"agent_id\":{\"value\":\"%s\"},"
                         "\"task_launch_acks\":[{\"framework_id\":{\"value\":\"%s\"},\"task_id\":{"
                         "\"value\":\"acked\"}}]}",
                         f->aid, f->fid),
              202);
    CHECK(!((struct cm_task *)cm_strmap_get(&f->fw->tasks, "acked"))->launch_unacked);
    CHECK_INT(agent_call(f, "agent-stream", NULL, NULL,
                         "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},"
                         "\"status_update\":{\"framework_id\":{\"value\":\"%s\"},\"status\":{"
                         "\"task_id\":{\"value\":\"updated\"},\"state\":\"TASK_RUNNING\","
                         "\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}}",
                         f->aid, f->fid),
              202);
    CHECK(!((struct cm_task *)cm_strmap_get(&f->fw->tasks, "updated"))->launch_unacked);
    /* An acknowledgement for someone else's task, or from the wrong agent, changes nothing. */
    CHECK_INT(
        agent_call(f, "agent-stream", NULL, NULL,
                   "{\"type\":\"TASK_LAUNCH_ACK\",\"agent_id\":{\"value\":\"%s\"},"
                   "\"task_launch_acks\":[{\"framework_id\":{\"value\":\"nope\"},\"task_id\":{"
                   "\"value\":\"lost-link\"}}]}",
                   f->aid),
        202);
    CHECK(t->launch_unacked);
    /* An undeclared call type is refused. */
    CHECK_INT(agent_call(f, "agent-stream", NULL, NULL,
                         "{\"type\":\"TASK_LAUNCH_ACK\",\"agent_id\":{\"value\":\"%s\"}}", f->aid),
              400);

    /* The link dies; meanwhile the framework kills one of the unconfirmed tasks. */
    cm_master_agent_disconnected(f->m, f->agent);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"},\"kill\":{"
                      "\"task_id\":{\"value\":\"killed\"}}}",
                      f->fid),
              202);
    cap_clear(&f->fw_ev);
    cm_fake_clock_advance(&f->clock, 5);

    /* Back with the same id, reporting nothing. */
    struct capture agent2 = {0};
    struct cm_sink s2 = cap_sink(&agent2);
    s2.media = CM_MEDIA_PROTOBUF;
    struct cm_agent *again = NULL;
    CHECK_INT(agent_call(f, "agent-stream-2", &s2, &again,
                         "{\"type\":\"REGISTER\",\"agent_id\":{\"value\":\"%s\"},\"register\":{"
                         "\"agent_info\":{\"hostname\":\"a1\",\"port\":5051,\"resources\":[{"
                         "\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},{"
                         "\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]}}}",
                         f->aid),
              200);
    REQUIRE(again == f->agent);
    /* Only the unconfirmed, unkilled launch is sent again; it stays STAGING, not lost. */
    CHECK_INT(count_run_tasks(&agent2, "lost-link"), 1);
    CHECK_INT(count_run_tasks(&agent2, "acked"), 0);
    CHECK_INT(count_run_tasks(&agent2, "updated"), 0);
    CHECK_INT(count_run_tasks(&agent2, "killed"), 0);
    t = cm_strmap_get(&f->fw->tasks, "lost-link");
    REQUIRE(t != NULL);
    CHECK_INT(t->state, MESOS__V1__TASK_STATE__TASK_STAGING);
    CHECK(t->launch_unacked);
    CHECK(update_for(&f->fw_ev, "lost-link") == NULL);
    /* The others are lost, as before. */
    const char *gone[] = {"acked", "updated", "killed"};
    for (size_t i = 0; i < 3; i++) {
        Mesos__V1__TaskStatus *st = update_for(&f->fw_ev, gone[i]);
        REQUIRE(st != NULL);
        CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
        CHECK_STR(st->message, "Task is unknown to the agent");
        CHECK(cm_strmap_get(&f->fw->tasks, gone[i]) == NULL);
    }

    /* This time the agent confirms it: a later re-registration without it loses it. */
    CHECK_INT(agent_call(f, "agent-stream-2", NULL, NULL,
                         "{\"type\":\"TASK_LAUNCH_ACK\",\"agent_id\":{\"value\":\"%s\"},"
                         "\"task_launch_acks\":[{\"framework_id\":{\"value\":\"%s\"},\"task_id\":{"
                         "\"value\":\"lost-link\"}}]}",
                         f->aid, f->fid),
              202);
    CHECK(!t->launch_unacked);
    cm_master_agent_disconnected(f->m, f->agent);
    struct capture agent3 = {0};
    struct cm_sink s3 = cap_sink(&agent3);
    s3.media = CM_MEDIA_PROTOBUF;
    CHECK_INT(agent_call(f, "agent-stream-3", &s3, &again,
                         "{\"type\":\"REGISTER\",\"agent_id\":{\"value\":\"%s\"},\"register\":{"
                         "\"agent_info\":{\"hostname\":\"a1\",\"port\":5051,\"resources\":[{"
                         "\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},{"
                         "\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]}}}",
                         f->aid),
              200);
    CHECK_INT(count_run_tasks(&agent3, "lost-link"), 0);
    Mesos__V1__TaskStatus *st = update_for(&f->fw_ev, "lost-link");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
    fixture_free(f);
    cap_clear(&agent2);
    cap_clear(&agent3);
}

/* Packs msg (protobuf) and frees it. */
static uint8_t *pack_free(ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len + 1);
    protobuf_c_message_pack(msg, buf);
    protobuf_c_message_free_unpacked(msg, NULL);
    return buf;
}

/* Values no descriptor declares, as protobuf-c would store them off the wire: a required enum
 * is refused with 400 naming the field, an optional one arrives unset, a repeated element is
 * dropped — on the agent link and on the scheduler API. */
static void test_unknown_enums(void)
{
    struct fixture *f = setup(0, NULL);
    REQUIRE(f->fw && f->agent);
    char json[1024], why[512];
    ProtobufCMessage *msg = NULL;

    /* Agent link: a status update whose (required) state is 99. */
    snprintf(json, sizeof json,
             "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"status_update\":{"
             "\"framework_id\":{\"value\":\"%s\"},\"status\":{\"task_id\":{\"value\":\"x\"},"
             "\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\"}}}",
             f->aid, f->fid);
    REQUIRE(cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json), &msg,
                                why, sizeof why) == 0);
    ((Cmesos__Internal__AgentCall *)msg)->status_update->status->state = 99;
    size_t len;
    uint8_t *wire = pack_free(msg, &len);
    Cmesos__Internal__AgentCall *call = NULL;
    CHECK_INT(cm_master_agent_decode(CM_MEDIA_PROTOBUF, wire, len, &call, why, sizeof why), 400);
    CHECK(call == NULL);
    CHECK(strstr(why, "status_update.status.state") != NULL);
    CHECK(strstr(why, "99") != NULL);
    free(wire);

    /* The same with a declared state but source 77 (optional): accepted, source unset. */
    REQUIRE(cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json), &msg,
                                why, sizeof why) == 0);
    ((Cmesos__Internal__AgentCall *)msg)->status_update->status->source = 77;
    wire = pack_free(msg, &len);
    CHECK_INT(cm_master_agent_decode(CM_MEDIA_PROTOBUF, wire, len, &call, why, sizeof why), 0);
    REQUIRE(call != NULL);
    CHECK(!call->status_update->status->has_source);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    free(wire);

    /* Scheduler API: a task's resource of (required) type 42 inside an ACCEPT's operation. */
    snprintf(json, sizeof json,
             "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{\"offer_ids\":"
             "[{\"value\":\"o\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":"
             "[" TASK_JSON("t", "1") "]}}]}}",
             f->fid, f->aid);
    REQUIRE(cm_pbjson_from_text(&mesos__v1__scheduler__call__descriptor, json, strlen(json), &msg,
                                why, sizeof why) == 0);
    Mesos__V1__Scheduler__Call *c = (Mesos__V1__Scheduler__Call *)msg;
    c->accept->operations[0]->launch->task_infos[0]->resources[0]->type = 42;
    wire = pack_free(msg, &len);
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/x-protobuf",
                                   .stream_id = f->fw->stream_id,
                                   .body = wire,
                                   .body_len = len};
    struct cm_sched_result res;
    cm_master_scheduler_request(f->m, &req, &res);
    CHECK_INT(res.code, 400);
    CHECK(strstr(res.text, "accept.operations[0].launch.task_infos[0].resources[0].type") != NULL);
    free(wire);

    /* An undeclared operation type (optional) arrives unset and is refused by validation, not
     * looked up by name. */
    REQUIRE(cm_pbjson_from_text(&mesos__v1__scheduler__call__descriptor, json, strlen(json), &msg,
                                why, sizeof why) == 0);
    ((Mesos__V1__Scheduler__Call *)msg)->accept->operations[0]->type = 1234;
    wire = pack_free(msg, &len);
    req.body = wire;
    req.body_len = len;
    cm_master_scheduler_request(f->m, &req, &res);
    CHECK(res.code == 202 || res.code == 400);
    free(wire);
    fixture_free(f);
}

/* A JSON agent call on the agent's current stream; returns the status code, why on error. */
static int agent_json(struct fixture *f, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int agent_json(struct fixture *f, char *why, size_t whylen, const char *fmt, ...)
{
    char json[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                            (ProtobufCMessage **)&call, why, whylen) != 0)
        return -1;
    int code = cm_master_agent_call(f->m, call, NULL, "agent-stream", NULL, why, whylen);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

#define UPDATE_JSON(tid, uuid, extra)                                                              \
    "{\"framework_id\":{\"value\":\"%s\"},\"status\":{\"task_id\":{\"value\":\"" tid "\"},"        \
    "\"state\":\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"" uuid "\"" extra "}}"
#define UUID_A "AAECAwQFBgcICQoLDA0ODw=="
#define UUID_B "EBESExQVFhcYGRobHB0eHw=="
#define UUID_C "ICEiIyQlJicoKSorLC0uLw=="

static const Cmesos__Internal__AgentEvent *agent_event(struct fixture *f, size_t i)
{
    return i < f->agent_ev.n ? (const Cmesos__Internal__AgentEvent *)f->agent_ev.msgs[i] : NULL;
}

/* STATUS_UPDATE with a list: each update handled as if alone, a bad one dropped without the
 * others; ACKNOWLEDGEs of one loop turn go to the agent as one event with a list. */
static void test_batched_updates_and_acks(void)
{
    struct fixture *f = setup(0, NULL);
    REQUIRE(f->fw && f->agent);
    const char *oid = first_offer_id(f);
    REQUIRE(oid != NULL);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                      "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
                      "\"launch\":{\"task_infos\":[" TASK_JSON("t1", "1") "," TASK_JSON(
                          "t2", "1") "," TASK_JSON("t3", "1") "]}}]}}",
                      f->fid, oid, f->aid, f->aid, f->aid),
              202);
    char why[512];
    cap_clear(&f->fw_ev);
    uint64_t invalid0 = f->m->metrics.invalid_status_updates;
    /* t2's uuid is 4 bytes: dropped; t1 and t3 go through. */
    CHECK_INT(agent_json(f, why, sizeof why,
                         "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},"
                         "\"status_updates\":[" UPDATE_JSON("t1", UUID_A, "") "," UPDATE_JSON(
                             "t2", "AAECAw==", "") "," UPDATE_JSON("t3", UUID_C, "") "]}",
                         f->aid, f->fid, f->fid, f->fid),
              202);
    CHECK_INT(count_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 2);
    REQUIRE(f->fw_ev.n == 2);
    CHECK_STR(ev_at(&f->fw_ev, 0)->update->status->task_id->value, "t1");
    CHECK_STR(ev_at(&f->fw_ev, 1)->update->status->task_id->value, "t3");
    CHECK(f->m->metrics.invalid_status_updates == invalid0 + 1);
    struct cm_task *t1 = cm_strmap_get(&f->fw->tasks, "t1");
    struct cm_task *t2 = cm_strmap_get(&f->fw->tasks, "t2");
    struct cm_task *t3 = cm_strmap_get(&f->fw->tasks, "t3");
    REQUIRE(t1 && t2 && t3);
    CHECK_INT(t1->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK_INT(t2->state, MESOS__V1__TASK_STATE__TASK_STAGING);
    CHECK_INT(t3->state, MESOS__V1__TASK_STATE__TASK_RUNNING);

    /* Every update invalid: 400 naming the field; nothing forwarded. */
    CHECK_INT(agent_json(f, why, sizeof why,
                         "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},"
                         "\"status_updates\":[" UPDATE_JSON(
                             "t2", UUID_B, ",\"agent_id\":{\"value\":\"someone-else\"}") "]}",
                         f->aid, f->fid),
              400);
    CHECK(strstr(why, "status.agent_id") != NULL);
    CHECK_INT(f->fw_ev.n, 2);
    /* No update at all. */
    CHECK_INT(agent_json(f, why, sizeof why,
                         "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"}}", f->aid),
              400);
    CHECK(strstr(why, "status_updates") != NULL);
    /* The single form still works. */
    CHECK_INT(agent_json(f, why, sizeof why,
                         "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},"
                         "\"status_update\":" UPDATE_JSON("t2", UUID_B, "") "}",
                         f->aid, f->fid),
              202);
    CHECK_INT(t2->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK_INT(f->fw_ev.n, 3);

    /* With an event loop, the acknowledgements of one turn wait for its end and go as one
     * ACKNOWLEDGE event with a list; a lone one keeps the single form. */
    struct event_base *base = event_base_new();
    REQUIRE(base != NULL);
    f->m->base = base;
    size_t n0 = f->agent_ev.n;
    const char *ack = "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},"
                      "\"acknowledge\":{\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":"
                      "\"%s\"},\"uuid\":\"%s\"}}";
    CHECK_INT(fw_call(f, ack, f->fid, f->aid, "t1", UUID_A), 202);
    CHECK_INT(fw_call(f, ack, f->fid, f->aid, "t3", UUID_C), 202);
    CHECK_INT(f->agent_ev.n, n0); /* held */
    event_base_loop(base, EVLOOP_NONBLOCK);
    REQUIRE(f->agent_ev.n == n0 + 1);
    const Cmesos__Internal__AgentEvent *e = agent_event(f, n0);
    CHECK_INT(e->type, CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE);
    CHECK(e->acknowledge == NULL);
    REQUIRE(e->n_acknowledges == 2);
    CHECK_STR(e->acknowledges[0]->task_id->value, "t1");
    CHECK_STR(e->acknowledges[1]->task_id->value, "t3");
    CHECK_STR(e->acknowledges[0]->framework_id->value, f->fid);
    CHECK_INT(e->acknowledges[1]->uuid.len, 16);
    CHECK_INT(e->acknowledges[1]->uuid.data[0], 32);
    CHECK_INT(fw_call(f, ack, f->fid, f->aid, "t2", UUID_B), 202);
    cm_master_flush_acks(f->m);
    REQUIRE(f->agent_ev.n == n0 + 2);
    e = agent_event(f, n0 + 1);
    REQUIRE(e->acknowledge != NULL);
    CHECK_INT(e->n_acknowledges, 0);
    CHECK_STR(e->acknowledge->task_id->value, "t2");
    event_base_loop(base, EVLOOP_NONBLOCK); /* nothing more */
    CHECK_INT(f->agent_ev.n, n0 + 2);
    /* A batch larger than the ones built on the stack (16). */
    for (int i = 0; i < 20; i++) {
        char tid[16];
        snprintf(tid, sizeof tid, "many-%d", i);
        CHECK_INT(fw_call(f, ack, f->fid, f->aid, tid, UUID_A), 202);
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    REQUIRE(f->agent_ev.n == n0 + 3);
    e = agent_event(f, n0 + 2);
    REQUIRE(e->n_acknowledges == 20);
    CHECK_STR(e->acknowledges[0]->task_id->value, "many-0");
    CHECK_STR(e->acknowledges[19]->task_id->value, "many-19");
    CHECK_STR(e->acknowledges[19]->framework_id->value, f->fid);
    n0++;
    /* Held for an agent that is gone by the end of the turn: dropped, not sent. */
    CHECK_INT(fw_call(f, ack, f->fid, f->aid, "t2", UUID_B), 202);
    f->agent->connected = false;
    uint64_t dropped0 = f->m->metrics.dropped_messages;
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK_INT(f->agent_ev.n, n0 + 2);
    CHECK(f->m->metrics.dropped_messages == dropped0 + 1);
    f->agent->connected = true;
    fixture_free(f);
    event_base_free(base);
}

TEST_MAIN(TEST(test_validate_call), TEST(test_request_codes), TEST(test_framework_info_validation),
          TEST(test_offer_and_launch), TEST(test_updates_acks_reconcile),
          TEST(test_partition_aware_reconcile), TEST(test_offer_timeout),
          TEST(test_decline_filter_and_revive), TEST(test_failover_and_removal),
          TEST(test_agent_register_validation), TEST(test_launch_survives_link),
          TEST(test_unknown_enums), TEST(test_batched_updates_and_acks))
