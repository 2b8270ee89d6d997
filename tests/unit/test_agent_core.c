/* test_agent_core.c: the agent core without a master — its link is a capture (struct
 * cm_agent_link) that records every call and through which the tests inject the master's
 * events, the clock is fake, and executors are a shell script run by the posix launcher that
 * speaks the executor API in-process (cm_agent_executor_call with a callback). Covers
 * registration, RUN_TASK and its TASK_LAUNCH_ACK (including a re-sent launch), KILL_TASK,
 * status update forwarding, retry and acknowledgement, the executor UPDATE checks (the
 * status.state = 99 crash), SHUTDOWN_FRAMEWORK of a finished executor, recovery after a
 * restart, and deterministic fuzzing of the executor API and of the link's records. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"
#include "agent_link.h"
#include "agent_xapi.h"
#include "codec.h"
#include "fuzz_util.h"
#include "log.h"
#include "test.h"
#include "agent_drive.h"

static size_t count_calls(const struct link_cap *c, int type)
{
    cap_sync(c);
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)c->calls[i]->type == type;
    return n;
}

static const Cmesos__Internal__AgentCall *last_call(const struct link_cap *c, int type)
{
    cap_sync(c);
    for (size_t i = c->n; i-- > 0;)
        if ((int)c->calls[i]->type == type)
            return c->calls[i];
    return NULL;
}

/* STATUS_UPDATE calls for a task in a state. */
static size_t count_updates(const struct link_cap *c, const char *tid, int state)
{
    cap_sync(c);
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const Cmesos__Internal__AgentCall *k = c->calls[i];
        if (k->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE &&
            strcmp(k->status_update->status->task_id->value, tid) == 0 &&
            (int)k->status_update->status->state == state)
            n++;
    }
    return n;
}

static const Mesos__V1__TaskStatus *last_update(const struct link_cap *c, const char *tid)
{
    cap_sync(c);
    for (size_t i = c->n; i-- > 0;) {
        const Cmesos__Internal__AgentCall *k = c->calls[i];
        if (k->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE &&
            strcmp(k->status_update->status->task_id->value, tid) == 0)
            return k->status_update->status;
    }
    return NULL;
}

static size_t count_events(const struct exec_cap *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)c->ev[i]->type == type;
    return n;
}

/* ---- fixture ---- */

static void ev_kill(struct fx *f, const char *fid, const char *tid)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__KillTask k = CMESOS__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
    fwid.value = (char *)fid;
    taskid.value = (char *)tid;
    k.framework_id = &fwid;
    k.task_id = &taskid;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK;
    ev.kill_task = &k;
    inject(f, &ev);
}

static void ev_ack(struct fx *f, const char *fid, const char *tid, const uint8_t *uuid)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__Acknowledge k = CMESOS__INTERNAL__AGENT_EVENT__ACKNOWLEDGE__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
    fwid.value = (char *)fid;
    taskid.value = (char *)tid;
    k.framework_id = &fwid;
    k.task_id = &taskid;
    k.uuid.data = (uint8_t *)uuid;
    k.uuid.len = 16;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE;
    ev.acknowledge = &k;
    inject(f, &ev);
}

static void ev_shutdown_framework(struct fx *f, const char *fid)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__ShutdownFramework s =
        CMESOS__INTERNAL__AGENT_EVENT__SHUTDOWN_FRAMEWORK__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    fwid.value = (char *)fid;
    s.framework_id = &fwid;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK;
    ev.shutdown_framework = &s;
    inject(f, &ev);
}

/* An UPDATE from executor eid about task tid; uuid is filled from seed. */
static int update(struct fx *f, const char *fid, const char *eid, const char *tid, int state,
                  uint8_t seed, struct exec_cap *cap, char *why, size_t whylen)
{
    Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__ExecutorID exid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
    uint8_t uuid[16];
    memset(uuid, seed, sizeof uuid);
    fwid.value = (char *)fid;
    exid.value = (char *)eid;
    taskid.value = (char *)tid;
    st.task_id = &taskid;
    st.state = (Mesos__V1__TaskState)state;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.has_uuid = 1;
    st.uuid.data = uuid;
    st.uuid.len = 16;
    up.status = &st;
    call.framework_id = &fwid;
    call.executor_id = &exid;
    call.has_type = 1;
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    call.update = &up;
    return xcall(f, &call, cap, why, whylen);
}

/* ---- tests ---- */

static void test_registers_through_the_link(void)
{
    struct fx f;
    REQUIRE(fx_init(&f) == 0);
    PUMP_UNTIL(&f, f.link.opens > 0, 2000);
    CHECK_INT(f.link.opens, 1);
    REQUIRE(f.link.reg != NULL);
    CHECK_INT(f.link.reg->type, CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER);
    CHECK(f.link.reg->register_->agent_info != NULL);
    CHECK(f.link.reg->agent_id == NULL); /* a new agent */
    CHECK(!f.a->registered);
    /* Events before REGISTERED are dropped. */
    ev_kill(&f, FID, "t0");
    CHECK_INT(f.link.n, 0);
    ev_registered(&f);
    CHECK(f.a->registered);
    CHECK_STR(f.a->agent_id, AID);
    /* The link ends: the agent backs off and registers again, now with its id. */
    cm_agent_link_lost(f.a, "test");
    CHECK(!f.a->registered);
    PUMP_UNTIL(&f, f.link.opens > 1, 3000);
    CHECK_INT(f.link.opens, 2);
    CHECK(f.link.reg->agent_id && strcmp(f.link.reg->agent_id->value, AID) == 0);
    fx_cleanup(&f);
}

/* The one policy of every event stream (stream_client.h): a framed event that does not
 * decode (here a KILL_TASK without its required task_id) is never skipped; the record path
 * answers "drop the link", as the HTTP transport's stream client does. */
static void test_undecodable_event_drops_the_link(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__KillTask k = CMESOS__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    fwid.value = FID;
    k.framework_id = &fwid;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK;
    ev.kill_task = &k;
    CHECK_INT(inject(&f, &ev), 1);
    /* Bytes that are no AgentEvent at all get the same answer. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    CHECK_INT(cm_agent_link_record(f.a, junk, sizeof junk), 1);
    /* A well-formed event is handled as before. */
    Cmesos__Internal__AgentEvent ping = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    ping.has_type = 1;
    ping.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING;
    CHECK_INT(inject(&f, &ping), 0);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG), 1);
    fx_cleanup(&f);
}

static void test_run_task_is_acked_and_resend_is_idempotent(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    ev_run_task(&f, FID, "t1", false);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK), 1);
    const Cmesos__Internal__AgentCall *ack =
        last_call(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK);
    REQUIRE(ack && ack->n_task_launch_acks == 1);
    CHECK_STR(ack->task_launch_acks[0]->framework_id->value, FID);
    CHECK_STR(ack->task_launch_acks[0]->task_id->value, "t1");
    struct agent_executor *e = executor_of(&f, FID, "t1");
    REQUIRE(e != NULL);
    CHECK(e->pid > 0);
    pid_t pid = e->pid;
    /* The master re-sends the launch (our ack was lost): nothing new starts, the ack repeats. */
    ev_run_task(&f, FID, "t1", false);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK), 2);
    CHECK(executor_of(&f, FID, "t1") == e);
    CHECK_INT(e->pid, pid);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE), 0);
    /* A rejected launch is acknowledged too (with its terminal update before it). */
    ev_run_task(&f, FID, "bad/id", false);
    CHECK_INT(count_updates(&f.link, "bad/id", MESOS__V1__TASK_STATE__TASK_ERROR), 1);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK), 3);
    fx_cleanup(&f);
}

/* The crash: an UPDATE whose status.state is no TaskState took the agent down. */
static void test_update_with_undeclared_state_is_400(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    ev_run_task(&f, FID, "t1", false);
    struct exec_cap x = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x) == 200);
    CHECK_INT(count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED), 1);
    CHECK_INT(count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH), 1);
    char why[512];
    CHECK_INT(update(&f, FID, "t1", "t1", 99, 1, &x, why, sizeof why), 400);
    CHECK(strstr(why, "status.state") != NULL);
    CHECK(strstr(why, "99") != NULL);
    /* The same through JSON: an unknown name of a required enum. */
    const char *json = "{\"type\":\"UPDATE\",\"framework_id\":{\"value\":\"" FID "\"},"
                       "\"executor_id\":{\"value\":\"t1\"},\"update\":{\"status\":{"
                       "\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_BOGUS\","
                       "\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}}";
    CHECK_INT(xcall_raw(&f, CM_MEDIA_JSON, json, strlen(json), &x, why, sizeof why), 400);
    CHECK(strstr(why, "state") != NULL);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE), 0);
    /* The agent is alive and takes a good update. */
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, 2, &x, why, sizeof why),
        202);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    exec_clear(&x);
    fx_cleanup(&f);
}

static void test_update_semantics(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    ev_run_task(&f, FID, "t1", false);
    ev_run_task(&f, FID, "t2", false);
    ev_run_task(&f, "fw-2", "t3", false);
    struct exec_cap x1 = {0}, x2 = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x1) == 200);
    REQUIRE(subscribe(&f, FID, "t2", &x2) == 200);
    char why[512];
    /* Another executor's task, another framework's task, an unknown task. */
    CHECK_INT(
        update(&f, FID, "t1", "t2", MESOS__V1__TASK_STATE__TASK_FAILED, 1, &x1, why, sizeof why),
        400);
    CHECK(strstr(why, "belongs to executor 't2'") != NULL);
    CHECK_INT(
        update(&f, FID, "t1", "t3", MESOS__V1__TASK_STATE__TASK_FAILED, 2, &x1, why, sizeof why),
        400);
    CHECK(strstr(why, "not a task of executor") != NULL);
    /* An executor of another framework cannot be named by a framework it is not in. */
    CHECK_INT(
        update(&f, "fw-2", "t1", "t1", MESOS__V1__TASK_STATE__TASK_FAILED, 3, &x1, why, sizeof why),
        400);
    CHECK(strstr(why, "Executor cannot be found") != NULL);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE), 0);
    /* The source must be the executor; the agent id is the agent's. */
    {
        Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
        Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
        Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
        Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
        Mesos__V1__ExecutorID exid = MESOS__V1__EXECUTOR_ID__INIT;
        Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
        uint8_t uuid[16] = {9};
        fwid.value = FID;
        exid.value = "t1";
        taskid.value = "t1";
        st.task_id = &taskid;
        st.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
        st.has_source = 1;
        st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
        st.has_uuid = 1;
        st.uuid.data = uuid;
        st.uuid.len = 16;
        up.status = &st;
        call.framework_id = &fwid;
        call.executor_id = &exid;
        call.has_type = 1;
        call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
        call.update = &up;
        CHECK_INT(xcall(&f, &call, &x1, why, sizeof why), 400);
        CHECK(strstr(why, "source") != NULL);
        /* An undeclared source is unset by the decoder: still not SOURCE_EXECUTOR. */
        st.source = (Mesos__V1__TaskStatus__Source)77;
        CHECK_INT(xcall(&f, &call, &x1, why, sizeof why), 400);
        CHECK(strstr(why, "source") != NULL);
        /* A claimed agent id is not believed: the agent writes its own. */
        Mesos__V1__AgentID liar = MESOS__V1__AGENT_ID__INIT;
        liar.value = "someone-else";
        st.agent_id = &liar;
        st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
        exid.value = "t2";
        taskid.value = "t2";
        CHECK_INT(xcall(&f, &call, &x2, why, sizeof why), 202);
        const Mesos__V1__TaskStatus *fwd = last_update(&f.link, "t2");
        REQUIRE(fwd != NULL);
        CHECK_STR(fwd->agent_id->value, AID);
    }
    /* States an executor cannot know. */
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_STAGING, 6, &x1, why, sizeof why),
        400);
    CHECK_INT(update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_UNREACHABLE, 7, &x1, why,
                     sizeof why),
              400);
    CHECK(strstr(why, "TASK_UNREACHABLE") != NULL);
    /* Terminal is terminal; a resent copy of the terminal update is a duplicate, fine. */
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_FINISHED, 4, &x1, why, sizeof why),
        202);
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, 5, &x1, why, sizeof why),
        400);
    CHECK(strstr(why, "terminal") != NULL);
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_FINISHED, 4, &x1, why, sizeof why),
        202);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED), 1);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 0);
    CHECK(f.a->metrics.invalid_status_updates >= 5);
    exec_clear(&x1);
    exec_clear(&x2);
    fx_cleanup(&f);
}

static void test_status_update_retry_and_ack(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    ev_run_task(&f, FID, "t1", false);
    struct exec_cap x = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x) == 200);
    char why[512];
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, 1, &x, why, sizeof why),
        202);
    CHECK_INT(count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED), 1);
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_FINISHED, 2, &x, why, sizeof why),
        202);
    /* Only the head of the stream goes out. */
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED), 0);
    /* No acknowledgement: re-sent after 10 s, then after 20 s more, not before. */
    cm_fake_clock_advance(&f.clock, 9);
    cm_agent_tick(f.a);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    cm_fake_clock_advance(&f.clock, 1.5);
    cm_agent_tick(f.a);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 2);
    /* The retry carries the newest state queued, so the master can free resources early. */
    const Cmesos__Internal__AgentCall *su =
        last_call(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE);
    REQUIRE(su != NULL);
    CHECK_INT(su->status_update->latest_state, MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK_STR(su->status_update->status->agent_id->value, AID);
    cm_fake_clock_advance(&f.clock, 15);
    cm_agent_tick(f.a);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 2);
    cm_fake_clock_advance(&f.clock, 6);
    cm_agent_tick(f.a);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 3);
    /* The acknowledgement of the head releases the next update at once. */
    uint8_t u1[16], u2[16];
    memset(u1, 1, 16);
    memset(u2, 2, 16);
    ev_ack(&f, FID, "t1", u1);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED), 1);
    /* A stale acknowledgement changes nothing. */
    ev_ack(&f, FID, "t1", u1);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED), 1);
    /* The terminal acknowledgement completes the task; no more retries. */
    ev_ack(&f, FID, "t1", u2);
    struct agent_framework *fw = cm_strmap_get(&f.a->frameworks, FID);
    CHECK(fw == NULL || cm_strmap_get(&fw->task_index, "t1") == NULL);
    size_t before = count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE);
    cm_fake_clock_advance(&f.clock, 700);
    cm_agent_tick(f.a);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE), before);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED), 1);
    /* The executor resends the terminal update it never saw acknowledged: it is acknowledged
     * again and not forwarded; anything new about the completed task is refused. */
    size_t acks = count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED);
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_FINISHED, 2, &x, why, sizeof why),
        202);
    CHECK_INT(count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED), acks + 1);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED), 1);
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_FAILED, 3, &x, why, sizeof why),
        400);
    CHECK(strstr(why, "already complete") != NULL);
    exec_clear(&x);
    fx_cleanup(&f);
}

static void test_kill_task(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    /* Unknown task: TASK_LOST from the agent. */
    ev_kill(&f, FID, "nope");
    const Mesos__V1__TaskStatus *st = last_update(&f.link, "nope");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
    CHECK_INT(st->source, MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT);
    /* A running task: the executor is asked to kill it. */
    ev_run_task(&f, FID, "t1", false);
    struct exec_cap x = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x) == 200);
    ev_kill(&f, FID, "t1");
    CHECK_INT(count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__KILL), 1);
    /* A task whose executor never subscribed: killed during launch, executor shut down. */
    ev_run_task(&f, FID, "t2", false);
    struct agent_executor *e2 = executor_of(&f, FID, "t2");
    REQUIRE(e2 != NULL);
    ev_kill(&f, FID, "t2");
    st = last_update(&f.link, "t2");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH);
    PUMP_UNTIL(&f, exited_executor(&f, FID, "t2") != NULL, 3000);
    const struct agent_executor *ex = exited_executor(&f, FID, "t2");
    REQUIRE(ex != NULL);
    CHECK(WIFSIGNALED(ex->wait_status));
    /* A command executor is the agent's own: its exit is not reported (as in Mesos). */
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__EXITED_EXECUTOR), 0);
    exec_clear(&x);
    fx_cleanup(&f);
}

/* Calls of a type captured so far, without sending what the agent holds (cap_sync would). */
static size_t held_count(const struct link_cap *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)c->calls[i]->type == type;
    return n;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether less than most of the hold passed since t0: only then must a held call still be
 * held (a slow machine may see the hold end, which sends it, as it should). */
static bool within_hold(double t0)
{
    return mono_s() - t0 < 0.8 * CM_AGENT_CALL_HOLD_MAX;
}

/* While the transport has a STATUS_UPDATE call in flight, the next updates wait for it and
 * leave as one call when it ends (the executor is acknowledged at once all the same); a call in
 * flight too long holds them at most CM_AGENT_CALL_HOLD_MAX. Launch acks likewise. */
static void test_calls_wait_for_the_call_in_flight(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    const int SU = CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
    const int LA = CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK;
    ev_run_task(&f, FID, "t1", false);
    ev_run_task(&f, FID, "t2", false);
    ev_run_task(&f, FID, "t3", false);
    struct exec_cap x1 = {0}, x2 = {0}, x3 = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x1) == 200);
    REQUIRE(subscribe(&f, FID, "t2", &x2) == 200);
    REQUIRE(subscribe(&f, FID, "t3", &x3) == 200);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    size_t n0 = held_count(&f.link, SU), batches = f.link.update_batches;
    char why[512];
    double t0 = mono_s();
    cm_agent_link_call_started(f.a, SU);
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, 1, &x1, why, sizeof why),
        202);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    CHECK_INT(
        update(&f, FID, "t2", "t2", MESOS__V1__TASK_STATE__TASK_RUNNING, 2, &x2, why, sizeof why),
        202);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    bool timed = within_hold(t0);
    if (timed)
        CHECK_INT(held_count(&f.link, SU), n0);
    CHECK_INT(count_events(&x1, MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED), 1);
    CHECK_INT(count_events(&x2, MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED), 1);
    cm_agent_link_call_done(f.a, SU);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    CHECK_INT(held_count(&f.link, SU), n0 + 2);
    if (timed)
        CHECK_INT(f.link.update_batches, batches + 1);
    else
        fprintf(stderr, "  (slow machine: the hold ended before the call in flight did)\n");
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    CHECK_INT(count_updates(&f.link, "t2", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    /* A call that is not answered: the next update goes once the hold is over. */
    t0 = mono_s();
    cm_agent_link_call_started(f.a, SU);
    CHECK_INT(
        update(&f, FID, "t3", "t3", MESOS__V1__TASK_STATE__TASK_RUNNING, 3, &x3, why, sizeof why),
        202);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    if (within_hold(t0))
        CHECK_INT(held_count(&f.link, SU), n0 + 2);
    PUMP_UNTIL(&f, held_count(&f.link, SU) > n0 + 2, 2000);
    CHECK_INT(held_count(&f.link, SU), n0 + 3);
    CHECK(mono_s() - t0 >= CM_AGENT_CALL_HOLD_MAX * 0.9);
    cm_agent_link_call_done(f.a, SU);
    CHECK_INT(f.a->updates_inflight, 0);
    /* Launch acks wait for the launch ack call in flight the same way. */
    size_t acks0 = held_count(&f.link, LA);
    t0 = mono_s();
    cm_agent_link_call_started(f.a, LA);
    ev_run_task_queued(&f, FID, "t4", false);
    ev_run_task_queued(&f, FID, "t5", false);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    timed = within_hold(t0);
    if (timed)
        CHECK_INT(held_count(&f.link, LA), acks0);
    cm_agent_link_call_done(f.a, LA);
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    CHECK_INT(held_count(&f.link, LA), acks0 + 1); /* one call either way */
    const Cmesos__Internal__AgentCall *ack = last_call(&f.link, LA);
    REQUIRE(ack != NULL);
    CHECK_INT(ack->n_task_launch_acks, 2);
    PUMP_UNTIL(&f, f.a->launch_head == NULL, 2000);
    exec_clear(&x1);
    exec_clear(&x2);
    exec_clear(&x3);
    fx_cleanup(&f);
}

/* Launches wait in a queue started one per loop turn; a task killed while its executor waits
 * there ends TASK_KILLED and no process is ever started for it. */
static void test_kill_while_launch_queued(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    ev_run_task_queued(&f, FID, "q1", false);
    ev_run_task_queued(&f, FID, "q2", false);
    struct agent_executor *e1 = executor_of(&f, FID, "q1");
    struct agent_executor *e2 = executor_of(&f, FID, "q2");
    REQUIRE(e1 != NULL && e2 != NULL);
    CHECK(e1->launch_queued && e2->launch_queued);
    CHECK_INT(e1->pid, 0);
    ev_kill(&f, FID, "q1");
    const Mesos__V1__TaskStatus *st = last_update(&f.link, "q1");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH);
    PUMP_UNTIL(&f, f.a->launch_head == NULL, 2000);
    e1 = executor_of(&f, FID, "q1");
    CHECK(e1 == NULL || e1->pid == 0);
    e2 = executor_of(&f, FID, "q2");
    REQUIRE(e2 != NULL);
    CHECK(e2->pid > 0);
    fx_cleanup(&f);
}

/* An executor that finished its task and closed its own stream is exiting by itself: a
 * SHUTDOWN_FRAMEWORK then must not SIGKILL it. */
static void test_finished_executor_is_not_killed_on_framework_shutdown(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    setenv("CM_TEST_EXECUTOR", "late", 1);
    ev_run_task(&f, FID, "t1", false);
    setenv("CM_TEST_EXECUTOR", "sleep", 1);
    struct exec_cap x = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x) == 200);
    char why[512];
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_FINISHED, 1, &x, why, sizeof why),
        202);
    struct agent_executor *e = executor_of(&f, FID, "t1");
    REQUIRE(e != NULL);
    agent_xapi_disconnect(e); /* the executor closes its subscription */
    ev_shutdown_framework(&f, FID);
    PUMP_UNTIL(&f, exited_executor(&f, FID, "t1") != NULL, 4000);
    const struct agent_executor *ex = exited_executor(&f, FID, "t1");
    REQUIRE(ex != NULL);
    CHECK(WIFEXITED(ex->wait_status));
    CHECK_INT(WEXITSTATUS(ex->wait_status), 0);
    exec_clear(&x);
    fx_cleanup(&f);
}

/* The agent checkpointed and acknowledged a launch, then died before it cloned the executor
 * (it waited in the launch queue). The next run starts that executor instead of failing its
 * task: nothing had run. */
static void test_recovery_starts_unstarted_executor(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    ev_run_task_queued(&f, FID, "u1", true);
    struct agent_executor *e = executor_of(&f, FID, "u1");
    REQUIRE(e != NULL);
    CHECK(e->launch_queued);
    CHECK_INT(e->pid, 0);
    fx_stop_agent(&f);
    link_clear(&f.link);
    REQUIRE(fx_agent(&f) == 0);
    e = executor_of(&f, FID, "u1");
    REQUIRE(e != NULL);
    CHECK(!e->recovered);
    PUMP_UNTIL(&f, e->pid > 0, 2000);
    CHECK(e->pid > 0);
    CHECK_INT(count_updates(&f.link, "u1", MESOS__V1__TASK_STATE__TASK_FAILED), 0);
    /* Its task is still waiting for the executor's SUBSCRIBE, and is launched then. */
    struct exec_cap x = {0};
    REQUIRE(subscribe(&f, FID, "u1", &x) == 200);
    CHECK_INT(count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH), 1);
    exec_clear(&x);
    fx_cleanup(&f);
}

static void test_recovery_after_restart(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    ev_run_task(&f, FID, "t1", true);
    struct exec_cap x = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x) == 200);
    char why[512];
    CHECK_INT(
        update(&f, FID, "t1", "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, 1, &x, why, sizeof why),
        202);
    struct agent_executor *e = executor_of(&f, FID, "t1");
    REQUIRE(e != NULL);
    pid_t pid = e->pid;
    REQUIRE(pid > 0);
    exec_clear(&x);
    /* The agent stops; the checkpointing framework's executor lives on. */
    fx_stop_agent(&f);
    CHECK(kill(pid, 0) == 0);
    int opens = f.link.opens;
    link_clear(&f.link);
    REQUIRE(fx_agent(&f) == 0);
    CHECK_STR(f.a->agent_id, AID);
    e = executor_of(&f, FID, "t1");
    REQUIRE(e != NULL);
    CHECK(e->recovered);
    CHECK_INT(e->pid, pid);
    CHECK(f.a->recovering);
    /* Registration waits for the executor to re-subscribe. */
    PUMP_UNTIL(&f, f.link.opens > opens, 200);
    CHECK_INT(f.link.opens, opens);
    REQUIRE(subscribe(&f, FID, "t1", &x) == 200);
    CHECK(!f.a->recovering);
    /* The task was launched before: it is not launched again. */
    CHECK_INT(count_events(&x, MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH), 0);
    PUMP_UNTIL(&f, f.link.opens > opens, 2000);
    REQUIRE(f.link.opens > opens);
    REQUIRE(f.link.reg->register_ != NULL);
    CHECK_STR(f.link.reg->agent_id->value, AID);
    CHECK_INT(f.link.reg->register_->n_tasks, 1);
    if (f.link.reg->register_->n_tasks == 1) {
        CHECK_STR(f.link.reg->register_->tasks[0]->task_id->value, "t1");
        CHECK_INT(f.link.reg->register_->tasks[0]->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    }
    /* The unacknowledged RUNNING is sent again once registered. */
    ev_registered(&f);
    CHECK_INT(count_updates(&f.link, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    PUMP_UNTIL(&f, exited_executor(&f, FID, "t1") != NULL, 3000);
    const struct agent_executor *ex = exited_executor(&f, FID, "t1");
    REQUIRE(ex != NULL);
    /* Its task did not finish: it failed (the TASK_FAILED waits behind the unacknowledged
     * RUNNING); a command executor's exit is not reported to the master by itself. */
    const struct agent_task *t1 = cm_strmap_get(&ex->tasks, "t1");
    REQUIRE(t1 != NULL);
    CHECK_INT(t1->state, MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK_INT(count_calls(&f.link, CMESOS__INTERNAL__AGENT_CALL__TYPE__EXITED_EXECUTOR), 0);
    exec_clear(&x);
    fx_cleanup(&f);
}

/* ---- fuzzing ---- */

static void pack_into(struct buf *b, const ProtobufCMessage *m)
{
    uint8_t *p = NULL;
    size_t len = 0;
    cm_pb_encode(m, CM_MEDIA_PROTOBUF, &p, &len);
    buf_set(b, p, len);
    free(p);
}

/* Byte-level damage for protobuf: truncation, flips, a varint pushed out of range. */
static void mutate_pb(struct rng *r, struct buf *b)
{
    if (b->len == 0)
        return;
    switch (rng_below(r, 5)) {
    case 0: b->len = rng_below(r, b->len); break;
    case 1: b->p[rng_below(r, b->len)] ^= (char)(1u << rng_below(r, 8)); break;
    case 2: b->p[rng_below(r, b->len)] = (char)rng_next(r); break;
    case 3: {
        static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
        buf_splice(b, rng_below(r, b->len), 1, big, sizeof big);
        break;
    }
    default: buf_splice(b, rng_below(r, b->len), rng_below(r, 4), "", 0); break;
    }
}

static void test_fuzz_executor_api(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    FILE *null = quiet_logs();
    ev_run_task(&f, FID, "t1", false);
    struct exec_cap x = {0};
    REQUIRE(subscribe(&f, FID, "t1", &x) == 200);
    struct rng r = {0x9e3779b97f4a7c15ull};
    struct buf b = {0};
    char why[512];
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        /* A valid UPDATE or MESSAGE with enums set to anything, then damaged. */
        Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
        Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
        Mesos__V1__Executor__Call__Message msg = MESOS__V1__EXECUTOR__CALL__MESSAGE__INIT;
        Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
        Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
        Mesos__V1__ExecutorID exid = MESOS__V1__EXECUTOR_ID__INIT;
        Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
        uint8_t uuid[16];
        for (int k = 0; k < 16; k++)
            uuid[k] = (uint8_t)rng_next(&r);
        fwid.value = rng_below(&r, 8) ? FID : "fw-x";
        exid.value = rng_below(&r, 8) ? "t1" : "t9";
        taskid.value = rng_below(&r, 8) ? "t1" : "t2";
        st.task_id = &taskid;
        st.state =
            (Mesos__V1__TaskState)(rng_below(&r, 3) ? (int)rng_below(&r, 16) : (int)rng_next(&r));
        st.has_source = 1;
        st.source = (Mesos__V1__TaskStatus__Source)(rng_below(&r, 2) ? 2 : (int)rng_next(&r));
        st.has_reason = rng_below(&r, 2);
        st.reason = (Mesos__V1__TaskStatus__Reason)(int)rng_next(&r);
        st.has_uuid = 1;
        st.uuid.data = uuid;
        st.uuid.len = rng_below(&r, 10) ? 16 : rng_below(&r, 16);
        up.status = &st;
        msg.data.data = uuid;
        msg.data.len = 16;
        call.framework_id = &fwid;
        call.executor_id = &exid;
        call.has_type = 1;
        /* Mostly UPDATE; SUBSCRIBE carrying the same status as an unacknowledged update (and
         * maybe a task) reaches the re-subscription path; the rest are MESSAGE, HEARTBEAT and
         * any number at all. */
        size_t kind = rng_below(&r, 20);
        int type = kind < 12   ? MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE
                   : kind < 15 ? MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE
                   : kind < 18 ? 3 + (int)rng_below(&r, 2)
                               : (int)rng_next(&r);
        call.type = (Mesos__V1__Executor__Call__Type)type;
        Mesos__V1__Executor__Call__Subscribe sub = MESOS__V1__EXECUTOR__CALL__SUBSCRIBE__INIT;
        Mesos__V1__Executor__Call__Update *ups[] = {&up};
        Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
        Mesos__V1__TaskInfo *tis[] = {&ti};
        ti.name = "t";
        ti.task_id = &taskid;
        sub.unacknowledged_updates = ups;
        sub.n_unacknowledged_updates = 1;
        sub.unacknowledged_tasks = tis;
        sub.n_unacknowledged_tasks = rng_below(&r, 2);
        call.subscribe = &sub;
        call.update = &up;
        call.message = rng_below(&r, 2) ? &msg : NULL;
        pack_into(&b, &call.base);
        int n = (int)rng_below(&r, 3);
        for (int k = 0; k < n; k++)
            mutate_pb(&r, &b);
        int code = xcall_raw(&f, CM_MEDIA_PROTOBUF, b.p, b.len, &x, why, sizeof why);
        CHECK(code == 200 || code == 202 || code == 400 || code == 403 || code == 501);
        bad += code == 400;
        if (x.n > 200)
            exec_clear(&x);
        if (f.link.n > MAXCAP - 100)
            link_clear(&f.link);
    }
    CHECK(bad > 0);
    /* JSON with wrong-typed fields and damaged text. */
    const char *seed =
        "{\"type\":\"UPDATE\",\"framework_id\":{\"value\":\"" FID "\"},"
        "\"executor_id\":{\"value\":\"t1\"},\"update\":{\"status\":{"
        "\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_RUNNING\","
        "\"source\":\"SOURCE_EXECUTOR\",\"reason\":\"REASON_COMMAND_EXECUTOR_FAILED\","
        "\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}}";
    for (int i = 0; i < 2000; i++) {
        buf_set(&b, seed, strlen(seed));
        int n = 1 + (int)rng_below(&r, 3);
        for (int k = 0; k < n; k++)
            mutate(&r, &b);
        int code = xcall_raw(&f, CM_MEDIA_JSON, b.p, b.len, &x, why, sizeof why);
        CHECK(code == 202 || code == 400 || code == 403 || code == 501);
        if (x.n > 200)
            exec_clear(&x);
        if (f.link.n > MAXCAP - 100)
            link_clear(&f.link);
    }
    /* Whatever got through, every update forwarded names a declared state. */
    for (size_t i = 0; i < f.link.n; i++)
        if (f.link.calls[i]->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE)
            CHECK(cm_enum_name(&mesos__v1__task_state__descriptor,
                               (int)f.link.calls[i]->status_update->status->state) != NULL);
    free(b.p);
    exec_clear(&x);
    loud_logs(null);
    fx_cleanup(&f);
}

static void test_fuzz_agent_link(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    FILE *null = quiet_logs();
    setenv("CM_TEST_EXECUTOR", "exit", 1);
    ev_run_task(&f, FID, "t1", false);
    struct rng r = {0xdeadbeefcafef00dull};
    struct buf b = {0};
    for (int i = 0; i < 4000; i++) {
        Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
        Cmesos__Internal__AgentEvent__KillTask k = CMESOS__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
        Cmesos__Internal__AgentEvent__Acknowledge ack =
            CMESOS__INTERNAL__AGENT_EVENT__ACKNOWLEDGE__INIT;
        Cmesos__Internal__AgentEvent__ShutdownExecutor se =
            CMESOS__INTERNAL__AGENT_EVENT__SHUTDOWN_EXECUTOR__INIT;
        Cmesos__Internal__AgentEvent__FrameworkMessage fm =
            CMESOS__INTERNAL__AGENT_EVENT__FRAMEWORK_MESSAGE__INIT;
        Mesos__V1__KillPolicy kp = MESOS__V1__KILL_POLICY__INIT;
        Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
        Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
        Mesos__V1__ExecutorID exid = MESOS__V1__EXECUTOR_ID__INIT;
        uint8_t uuid[32]; /* acknowledgements of any length up to 31 bytes */
        for (int j = 0; j < 32; j++)
            uuid[j] = (uint8_t)rng_next(&r);
        fwid.value = rng_below(&r, 4) ? FID : "fw-other";
        taskid.value = rng_below(&r, 4) ? "t1" : "t-unknown";
        exid.value = "t1";
        k.framework_id = &fwid;
        k.task_id = &taskid;
        k.kill_policy = rng_below(&r, 2) ? &kp : NULL;
        ack.framework_id = &fwid;
        ack.task_id = &taskid;
        ack.uuid.data = uuid;
        ack.uuid.len = rng_below(&r, 4) ? 16 : rng_below(&r, 32);
        se.framework_id = &fwid;
        se.executor_id = &exid;
        fm.framework_id = &fwid;
        fm.executor_id = &exid;
        fm.data.data = uuid;
        fm.data.len = 16;
        ev.has_type = 1;
        /* Kill, acknowledge, ping, framework message, executor shutdown, or any number. */
        static const int types[] = {
            CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK,
            CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE,
            CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING,
            CMESOS__INTERNAL__AGENT_EVENT__TYPE__FRAMEWORK_MESSAGE,
            CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_EXECUTOR,
        };
        size_t pick = rng_below(&r, 7);
        ev.type = (Cmesos__Internal__AgentEvent__Type)(pick < 5 ? types[pick] : (int)rng_next(&r));
        ev.kill_task = &k;
        ev.acknowledge = &ack;
        ev.shutdown_executor = rng_below(&r, 8) ? NULL : &se;
        ev.framework_message = &fm;
        pack_into(&b, &ev.base);
        int n = (int)rng_below(&r, 3);
        for (int j = 0; j < n; j++)
            mutate_pb(&r, &b);
        int rc = cm_agent_link_record(f.a, (const uint8_t *)b.p, b.len);
        CHECK(rc == 0 || rc == 1);
        if (f.link.n > MAXCAP - 100)
            link_clear(&f.link);
    }
    /* RUN_TASK records damaged the same way: each is refused, or launches, or is re-acked. */
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    {
        /* Build one packed RUN_TASK by capturing what ev_run_task would inject. */
        Cmesos__Internal__AgentEvent__RunTask rt = CMESOS__INTERNAL__AGENT_EVENT__RUN_TASK__INIT;
        Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
        Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
        Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
        Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
        Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
        fwid.value = FID;
        fi.id = &fwid;
        fi.user = "nobody";
        fi.name = "fuzz";
        taskid.value = "t1";
        ti.name = "t1";
        ti.task_id = &taskid;
        cmd.value = "true";
        ti.command = &cmd;
        rt.framework_info = &fi;
        rt.task = &ti;
        ev.has_type = 1;
        ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK;
        ev.run_task = &rt;
        pack_into(&b, &ev.base);
    }
    struct buf seed = {0};
    buf_set(&seed, b.p, b.len);
    for (int i = 0; i < 300; i++) {
        buf_set(&b, seed.p, seed.len);
        int n = 1 + (int)rng_below(&r, 2);
        for (int j = 0; j < n; j++)
            mutate_pb(&r, &b);
        int rc = cm_agent_link_record(f.a, (const uint8_t *)b.p, b.len);
        CHECK(rc == 0 || rc == 1);
        event_base_loop(f.base, EVLOOP_NONBLOCK);
        if (f.link.n > MAXCAP - 100)
            link_clear(&f.link);
    }
    CHECK(f.a->registered);
    setenv("CM_TEST_EXECUTOR", "sleep", 1);
    free(seed.p);
    free(b.p);
    loud_logs(null);
    fx_cleanup(&f);
}

TEST_MAIN(TEST(test_registers_through_the_link), TEST(test_undecodable_event_drops_the_link),
          TEST(test_run_task_is_acked_and_resend_is_idempotent),
          TEST(test_update_with_undeclared_state_is_400), TEST(test_update_semantics),
          TEST(test_status_update_retry_and_ack), TEST(test_kill_task),
          TEST(test_kill_while_launch_queued),
          TEST(test_finished_executor_is_not_killed_on_framework_shutdown),
          TEST(test_recovery_starts_unstarted_executor), TEST(test_recovery_after_restart),
          TEST(test_fuzz_executor_api), TEST(test_fuzz_agent_link),
          TEST(test_calls_wait_for_the_call_in_flight))
