/* test_master_executors.c: custom executors and task groups in the master core, without
 * sockets (test sinks, fake clock): ACCEPT validation, resource accounting of a new executor,
 * offers' executor_ids, EXITED_EXECUTOR giving the executor's resources back, and LAUNCH_GROUP
 * sent to the agent as one RUN_TASK_GROUP. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_link.h"
#include "errors.h"
#include "master.h"
#include "pbjson.h"
#include "scheduler_calls.h"
#include "test.h"

struct capture {
    ProtobufCMessage *msgs[256];
    size_t n;
};

static void cap_cb(void *arg, const ProtobufCMessage *msg)
{
    struct capture *c = arg;
    if (c->n < 256)
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

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct capture fw_ev, agent_ev;
    struct cm_framework *fw;
    struct cm_agent *agent;
};

static struct cm_sched_result request(struct fixture *f, const char *sid, const char *body)
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
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    struct cm_sched_result r = request(f, f->fw->stream_id, body);
    if (r.code >= 400)
        fprintf(stderr, "call failed %d: %s\n", r.code, r.text);
    if (r.call)
        protobuf_c_message_free_unpacked(&r.call->base, NULL);
    return r.code;
}

static int agent_call(struct fixture *f, const char *json)
{
    Cmesos__Internal__AgentCall *call = NULL;
    char why[256];
    if (cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                            (ProtobufCMessage **)&call, why, sizeof why) != 0) {
        fprintf(stderr, "agent call JSON: %s\n", why);
        return -1;
    }
    struct cm_sink s = {.cb = cap_cb, .end_cb = cap_end, .arg = &f->agent_ev};
    s.media = CM_MEDIA_PROTOBUF;
    bool reg = call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER;
    int code = cm_master_agent_call(f->m, call, reg ? &s : NULL, "agent-stream",
                                    reg ? &f->agent : NULL, why, sizeof why);
    if (code >= 400)
        fprintf(stderr, "agent call %d: %s\n", code, why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

static struct fixture *setup(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    agent_call(f, "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"a1\","
                  "\"port\":5051,\"resources\":["
                  "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
                  "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}},"
                  "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]},"
                  "\"pid\":\"slave(1)@10.0.0.2:5051\",\"address_ip\":\"10.0.0.2\"}}");
    struct cm_sched_result r = request(
        f, NULL,
        "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":"
        "\"fw\"}}}");
    if (r.code == 200 && r.call) {
        struct cm_sink s = {.cb = cap_cb, .end_cb = cap_end, .arg = &f->fw_ev};
        f->fw = cm_master_subscribe(f->m, r.call, &s, "stream-1");
    }
    if (r.call)
        protobuf_c_message_free_unpacked(&r.call->base, NULL);
    cm_master_allocate(f->m);
    return f;
}

static void teardown(struct fixture *f)
{
    cm_master_free(f->m);
    cap_clear(&f->fw_ev);
    cap_clear(&f->agent_ev);
    free(f);
}

static Mesos__V1__Scheduler__Event *last_of(struct capture *c, int type)
{
    for (size_t i = c->n; i-- > 0;) {
        Mesos__V1__Scheduler__Event *e = (Mesos__V1__Scheduler__Event *)c->msgs[i];
        if ((int)e->type == type)
            return e;
    }
    return NULL;
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

static double offered(const Mesos__V1__Offer *o, const char *name)
{
    double v = 0;
    for (size_t i = 0; i < o->n_resources; i++)
        if (strcmp(o->resources[i]->name, name) == 0)
            v += o->resources[i]->scalar->value;
    return v;
}

#define RES(cpus, mem)                                                                             \
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" cpus "}},"                    \
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" mem "}}]"
#define EXEC(id, cmd)                                                                              \
    "{\"executor_id\":{\"value\":\"" id "\"},\"command\":{\"value\":\"" cmd                        \
    "\"},\"resources\":" RES("0.5", "64") "}"
#define TASK(id, exec)                                                                             \
    "{\"name\":\"t\",\"task_id\":{\"value\":\"" id "\"},\"agent_id\":{\"value\":\"%s\"},"          \
    "\"executor\":" exec ",\"resources\":" RES("1", "128") "}"

static void test_custom_executor_accounting(void)
{
    struct fixture *f = setup();
    REQUIRE(f->fw && f->agent);
    Mesos__V1__Scheduler__Event *oe = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    REQUIRE(oe && oe->offers->n_offers == 1);
    CHECK_INT(oe->offers->offers[0]->n_executor_ids, 0);
    char offer[128];
    snprintf(offer, sizeof offer, "%s", oe->offers->offers[0]->id->value);
    /* Two tasks on one new executor (charged once), one with a changed ExecutorInfo. */
    CHECK_INT(
        fw_call(
            f,
            "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
            "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
            "\"launch\":{\"task_infos\":[" TASK("t1", EXEC("ex", "run")) "," TASK(
                "t2",
                EXEC("ex", "run")) "," TASK("t3",
                                            EXEC("ex",
                                                 "other")) "]}}],"
                                                           "\"filters\":{\"refuse_seconds\":0}}}",
            f->fw->id, offer, f->agent->id, f->agent->id, f->agent->id),
        202);
    Mesos__V1__Scheduler__Event *u = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE);
    REQUIRE(u != NULL);
    CHECK_STR(u->update->status->task_id->value, "t3");
    CHECK_INT(u->update->status->state, MESOS__V1__TASK_STATE__TASK_ERROR);
    CHECK(strstr(u->update->status->message, "not compatible") != NULL);
    struct cm_executor *e = cm_master_executor(f->agent, f->fw->id, "ex");
    REQUIRE(e != NULL);
    CHECK_STR(e->info->framework_id->value, f->fw->id);
    CHECK_INT(cm_resources_scalar(&f->fw->used, "cpus"), 2500); /* 2 tasks + the executor */
    CHECK_INT(cm_resources_scalar(&f->agent->used, "mem"), 320000);
    Cmesos__Internal__AgentEvent *run =
        last_agent_event(&f->agent_ev, CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK);
    REQUIRE(run != NULL);
    REQUIRE(run->run_task->task->executor != NULL);
    CHECK_STR(run->run_task->task->executor->framework_id->value, f->fw->id);

    /* The next offer names the executor and holds the rest: 4 - 2.5 cpus. */
    cap_clear(&f->fw_ev);
    cm_master_allocate(f->m);
    oe = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    REQUIRE(oe && oe->offers->n_offers == 1);
    REQUIRE(oe->offers->offers[0]->n_executor_ids == 1);
    CHECK_STR(oe->offers->offers[0]->executor_ids[0]->value, "ex");
    CHECK(offered(oe->offers->offers[0], "cpus") > 1.49 &&
          offered(oe->offers->offers[0], "cpus") < 1.51);
    snprintf(offer, sizeof offer, "%s", oe->offers->offers[0]->id->value);
    CHECK_INT(fw_call(f,
                      "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"%s\"},\"decline\":{"
                      "\"offer_ids\":[{\"value\":\"%s\"}],\"filters\":{\"refuse_seconds\":0}}}",
                      f->fw->id, offer),
              202);

    /* The executor exits: its 0.5 cpus come back (the tasks' stay until their updates). */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"type\":\"EXITED_EXECUTOR\",\"agent_id\":{\"value\":\"%s\"},\"exited_executor\":{"
             "\"framework_id\":{\"value\":\"%s\"},\"executor_id\":{\"value\":\"ex\"},"
             "\"status\":256}}",
             f->agent->id, f->fw->id);
    CHECK_INT(agent_call(f, body), 202);
    CHECK(cm_master_executor(f->agent, f->fw->id, "ex") == NULL);
    CHECK_INT(cm_resources_scalar(&f->fw->used, "cpus"), 2000);
    Mesos__V1__Scheduler__Event *fe =
        last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE);
    REQUIRE(fe != NULL);
    CHECK_STR(fe->failure->executor_id->value, "ex");
    cap_clear(&f->fw_ev);
    cm_fake_clock_advance(&f->clock, 1);
    cm_master_allocate(f->m);
    oe = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    REQUIRE(oe && oe->offers->n_offers >= 1);
    double cpus = 0;
    for (size_t i = 0; i < oe->offers->n_offers; i++) {
        cpus += offered(oe->offers->offers[i], "cpus");
        CHECK_INT(oe->offers->offers[i]->n_executor_ids, 0);
    }
    CHECK(cpus > 1.99 && cpus < 2.01);
    teardown(f);
}

#define GTASK(id)                                                                                  \
    "{\"name\":\"g\",\"task_id\":{\"value\":\"" id "\"},\"agent_id\":{\"value\":\"%s\"},"          \
    "\"command\":{\"value\":\"sleep 9\"},\"resources\":" RES("1", "128") "}"

static void test_launch_group(void)
{
    struct fixture *f = setup();
    REQUIRE(f->fw && f->agent);
    Mesos__V1__Scheduler__Event *oe = last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    REQUIRE(oe && oe->offers->n_offers == 1);
    char offer[128];
    snprintf(offer, sizeof offer, "%s", oe->offers->offers[0]->id->value);
    CHECK_INT(
        fw_call(f,
                "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH_GROUP\","
                "\"launch_group\":{\"executor\":{\"executor_id\":{\"value\":\"pod\"},\"type\":"
                "\"DEFAULT\",\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
                "\"value\":0.1}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}},"
                "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10}}]},"
                "\"task_group\":{\"tasks\":[" GTASK("g1") "," GTASK("g2") "]}}}]}}",
                f->fw->id, offer, f->agent->id, f->agent->id),
        202);
    CHECK(last_of(&f->fw_ev, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE) == NULL);
    Cmesos__Internal__AgentEvent *rg =
        last_agent_event(&f->agent_ev, CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK_GROUP);
    REQUIRE(rg != NULL);
    CHECK_STR(rg->run_task_group->executor->executor_id->value, "pod");
    CHECK_INT(rg->run_task_group->executor->type, MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT);
    REQUIRE(rg->run_task_group->task_group->n_tasks == 2);
    CHECK(rg->run_task_group->task_group->tasks[0]->executor == NULL);
    CHECK(rg->run_task_group->task_group->tasks[1]->resources[0]->allocation_info != NULL);
    struct cm_task *t = cm_strmap_get(&f->fw->tasks, "g2");
    REQUIRE(t != NULL && t->info->executor != NULL);
    CHECK_STR(t->info->executor->executor_id->value, "pod");
    CHECK(cm_master_executor(f->agent, f->fw->id, "pod") != NULL);
    CHECK_INT(cm_resources_scalar(&f->fw->used, "cpus"), 2100);
    /* A re-send (the agent re-registers without the tasks) goes as RUN_TASK_GROUP too. */
    size_t before = f->agent_ev.n;
    cm_master_send_run_task(f->m, t);
    REQUIRE(f->agent_ev.n == before + 1);
    Cmesos__Internal__AgentEvent *again = (Cmesos__Internal__AgentEvent *)f->agent_ev.msgs[before];
    CHECK_INT(again->type, CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK_GROUP);
    CHECK_INT(again->run_task_group->task_group->n_tasks, 1);
    teardown(f);
}

TEST_MAIN(TEST(test_custom_executor_accounting), TEST(test_launch_group))
