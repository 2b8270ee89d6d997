/*
 * itest_agent_link: the agent's HTTP transport of the master link (agent_link_http.c, on the
 * shared stream client) against an in-process fake master on 127.0.0.1, with no executor.
 *
 * The agent's --master names a "standby" that answers 307 to the "leader". The leader answers
 * REGISTER with a stream id and REGISTERED, then a PING: the PONG must come back as a POST to
 * the leader carrying that stream id. Then the leader sends a framed event that does not
 * decode (a KILL_TASK without its required task_id): the agent must drop the stream and
 * register again, with its id, on the core's short backoff, and a stream answered without a
 * Mesos-Stream-Id is a failed registration that is retried the same way.
 *
 * Batching (docs/agent-link.md): events the leader sends in one loop turn reach the socket in
 * one write (the server's counters), the status updates the agent makes in one turn come as one
 * STATUS_UPDATE call with a list, and one ACKNOWLEDGE event with a list acknowledges them all.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_internal.h"
#include "agent_updates.h"
#include "status_update.h"
#include "codec.h"
#include "harness.h"
#include "http_server.h"
#include "log.h"
#include "stream.h"

#define AID "fake-S0"

struct fake {
    struct cm_http_server *standby, *leader;
    uint16_t standby_port, leader_port;
    struct cm_http_stream *stream;
    int registers;             /* REGISTER calls seen by the leader */
    int redirects;             /* REGISTER calls the standby redirected */
    bool reregistered_with_id; /* a REGISTER after the first carried our agent id */
    bool omit_stream_id;       /* answer the next REGISTER without Mesos-Stream-Id */
    int pongs;
    char pong_sid[64]; /* the Mesos-Stream-Id of the last PONG */
    int update_calls;  /* STATUS_UPDATE calls */
    int updates;       /* status updates in them */
    int update_lists;  /* calls that carried status_updates */
    /* the uuids and task ids of the updates received (for the acknowledgement) */
    char utask[8][32];
    uint8_t uuid[8][16];
    char sid[64]; /* the stream id of the current stream */
};

static void stream_closed(struct cm_http_stream *s, void *arg)
{
    struct fake *f = arg;
    if (f->stream == s)
        f->stream = NULL;
}

static void send_event(struct fake *f, Cmesos__Internal__AgentEvent__Type type)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__Registered r = CMESOS__INTERNAL__AGENT_EVENT__REGISTERED__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    ev.has_type = 1;
    ev.type = type;
    if (type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED) {
        aid.value = AID;
        r.agent_id = &aid;
        r.has_ping_interval_seconds = 1;
        r.ping_interval_seconds = 15;
        ev.registered = &r;
    }
    if (f->stream)
        cm_stream_send(f->stream, CM_MEDIA_PROTOBUF, &ev.base);
}

/* A well-framed record whose event lacks a required field: protobuf-c packs it, our decoder
 * (cm_pb_decode) refuses it. */
static void send_undecodable(struct fake *f)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__KillTask k = CMESOS__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = "fw";
    k.framework_id = &fid;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK;
    ev.kill_task = &k;
    if (f->stream)
        cm_stream_send(f->stream, CM_MEDIA_PROTOBUF, &ev.base);
}

static void standby_handler(struct cm_http_request *req, void *arg)
{
    struct fake *f = arg;
    char loc[128];
    snprintf(loc, sizeof loc, "//127.0.0.1:%u/master/api/v1/agent", (unsigned)f->leader_port);
    f->redirects++;
    cm_http_add_header(req, "Location", loc);
    cm_http_respond(req, 307, NULL, NULL, 0);
}

static void leader_handler(struct cm_http_request *req, void *arg)
{
    struct fake *f = arg;
    ProtobufCMessage *m = NULL;
    char why[256];
    if (cm_pb_decode(&cmesos__internal__agent_call__descriptor, CM_MEDIA_PROTOBUF, req->body,
                     req->body_len, &m, why, sizeof why) != 0) {
        cm_http_respond_text(req, 400, "%s", why);
        return;
    }
    const Cmesos__Internal__AgentCall *call = (const Cmesos__Internal__AgentCall *)m;
    if (call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER) {
        f->registers++;
        if (f->registers > 1 && call->agent_id && strcmp(call->agent_id->value, AID) == 0)
            f->reregistered_with_id = true;
        if (f->stream)
            cm_http_stream_end(f->stream);
        snprintf(f->sid, sizeof f->sid, "sid-%d", f->registers);
        if (f->omit_stream_id)
            f->omit_stream_id = false;
        else
            cm_http_add_header(req, "Mesos-Stream-Id", f->sid);
        f->stream = cm_http_stream_start(req, 200, "application/x-protobuf", stream_closed, f);
        send_event(f, CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED);
    } else {
        if (call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG) {
            const char *sid = cm_http_request_header(req, "Mesos-Stream-Id");
            snprintf(f->pong_sid, sizeof f->pong_sid, "%s", sid ? sid : "");
            f->pongs++;
        }
        if (call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE) {
            f->update_calls++;
            f->update_lists += call->n_status_updates > 0;
            size_t n = call->n_status_updates + (call->status_update ? 1 : 0);
            for (size_t i = 0; i < n; i++) {
                const Cmesos__Internal__AgentCall__StatusUpdate *su =
                    call->status_update
                        ? (i == 0 ? call->status_update : call->status_updates[i - 1])
                        : call->status_updates[i];
                if (f->updates < 8 && su->status->uuid.len == 16) {
                    snprintf(f->utask[f->updates], sizeof f->utask[0], "%s",
                             su->status->task_id->value);
                    memcpy(f->uuid[f->updates], su->status->uuid.data, 16);
                }
                f->updates++;
            }
        }
        cm_http_respond(req, 202, NULL, NULL, 0);
    }
    protobuf_c_message_free_unpacked(m, NULL);
}

/* One ACKNOWLEDGE event with the list form for every update received so far. */
static void send_acks(struct fake *f)
{
    int n = f->updates < 8 ? f->updates : 8;
    Cmesos__Internal__AgentEvent__Acknowledge ak[8], *akv[8];
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__TaskID tid[8];
    fid.value = "fw-batch";
    for (int i = 0; i < n; i++) {
        cmesos__internal__agent_event__acknowledge__init(&ak[i]);
        mesos__v1__task_id__init(&tid[i]);
        tid[i].value = f->utask[i];
        ak[i].framework_id = &fid;
        ak[i].task_id = &tid[i];
        ak[i].uuid.data = f->uuid[i];
        ak[i].uuid.len = 16;
        akv[i] = &ak[i];
    }
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE;
    ev.acknowledges = akv;
    ev.n_acknowledges = (size_t)n;
    if (f->stream)
        cm_stream_send(f->stream, CM_MEDIA_PROTOBUF, &ev.base);
}

static double metric(struct cm_http_server *srv, const char *key)
{
    json_t *o = json_object();
    cm_http_server_metrics(srv, o, "master");
    double v = json_number_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Runs the loop until *flag-like cond holds or secs pass. */
#define RUN_UNTIL(base, cond, secs)                                                                \
    do {                                                                                           \
        double end_ = now_s() + (secs);                                                            \
        while (!(cond) && now_s() < end_) {                                                        \
            event_base_loop((base), EVLOOP_NONBLOCK);                                              \
            usleep(2000);                                                                          \
        }                                                                                          \
    } while (0)

static void test_agent_link_over_http(void)
{
    struct event_base *base = event_base_new();
    struct fake f = {0};
    f.standby = cm_http_server_new(base, "master", 1 << 20);
    f.leader = cm_http_server_new(base, "master", 1 << 20);
    REQUIRE(f.standby && f.leader);
    cm_http_server_route(f.standby, "/api/v1/agent", standby_handler, &f);
    cm_http_server_route(f.leader, "/api/v1/agent", leader_handler, &f);
    REQUIRE(cm_http_server_bind(f.standby, "127.0.0.1", 0, &f.standby_port) == 0);
    REQUIRE(cm_http_server_bind(f.leader, "127.0.0.1", 0, &f.leader_port) == 0);

    char dir[256];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    char master[64], work[320], launcher[320];
    snprintf(master, sizeof master, "--master=127.0.0.1:%u", (unsigned)f.standby_port);
    snprintf(work, sizeof work, "--work_dir=%s/work", dir);
    snprintf(launcher, sizeof launcher, "--launcher_dir=%s", dir);
    char *argv[] = {"mesos-agent",
                    master,
                    work,
                    launcher,
                    "--ip=127.0.0.1",
                    "--hostname=localhost",
                    "--port=0",
                    "--launcher=posix",
                    "--isolation=posix/cpu,posix/mem",
                    "--resources=cpus:1;mem:256;disk:256",
                    "--registration_backoff_factor=100ms",
                    "--logging_level=WARNING",
                    NULL};
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    struct cm_agent_flags flags;
    cm_agent_flags_init(&flags);
    char why[512] = "";
    REQUIRE(cm_agent_flags_parse(&flags, argc, argv, why, sizeof why) == 0);
    struct cm_agent *a = NULL;
    REQUIRE(cm_agent_new(base, &flags, &cm_clock_real, &a, why, sizeof why) == 0);

    /* REGISTER goes to the standby, follows its 307 and registers with the leader. */
    RUN_UNTIL(base, a->registered, 10);
    CHECK(a->registered);
    CHECK_INT(f.redirects, 1);
    CHECK_INT(f.registers, 1);
    CHECK_STR(a->agent_id, AID);

    /* A call on the stream goes to the leader with the stream's id. */
    send_event(&f, CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING);
    RUN_UNTIL(base, f.pongs > 0, 5);
    CHECK_INT(f.pongs, 1);
    CHECK_STR(f.pong_sid, "sid-1");

    /* An undecodable event ends the stream: the agent registers again with its id, straight
     * at the leader (the fixed --master followed the redirect). */
    send_undecodable(&f);
    RUN_UNTIL(base, f.registers > 1 && a->registered, 10);
    CHECK_INT(f.registers, 2);
    CHECK(f.reregistered_with_id);
    CHECK_INT(f.redirects, 1);
    CHECK(a->registered);

    /* A REGISTER answered without Mesos-Stream-Id is a failed attempt; the next one works. */
    f.omit_stream_id = true;
    send_undecodable(&f);
    RUN_UNTIL(base, f.registers > 3 && a->registered, 10);
    CHECK_INT(f.registers, 4);
    CHECK(a->registered);
    send_event(&f, CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING);
    RUN_UNTIL(base, f.pongs > 1, 5);
    CHECK_STR(f.pong_sid, "sid-4");

    /* Three events sent in one loop turn leave as one write; the agent answers each. */
    double sends0 = metric(f.leader, "master/event_stream_sends");
    double writes0 = metric(f.leader, "master/event_stream_writes");
    int pongs0 = f.pongs;
    for (int i = 0; i < 3; i++)
        send_event(&f, CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING);
    RUN_UNTIL(base, f.pongs >= pongs0 + 3, 5);
    CHECK_INT(f.pongs, pongs0 + 3);
    CHECK(metric(f.leader, "master/event_stream_sends") == sends0 + 3);
    CHECK(metric(f.leader, "master/event_stream_writes") == writes0 + 1);

    /* Two updates the agent makes in one turn go in one STATUS_UPDATE call with a list. */
    agent_updates_generate(a, "fw-batch", NULL, "b1", MESOS__V1__TASK_STATE__TASK_LOST,
                           MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION, "one");
    agent_updates_generate(a, "fw-batch", NULL, "b2", MESOS__V1__TASK_STATE__TASK_LOST,
                           MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION, "two");
    CHECK_INT(f.update_calls, 0); /* held until the end of the turn */
    RUN_UNTIL(base, f.updates >= 2, 5);
    CHECK_INT(f.update_calls, 1);
    CHECK_INT(f.update_lists, 1);
    CHECK_INT(f.updates, 2);
    Mesos__V1__TaskState head;
    CHECK_INT(cm_sum_pending(a->sum, "fw-batch", "b1", &head), 1);
    CHECK_INT(cm_sum_pending(a->sum, "fw-batch", "b2", &head), 1);
    /* One ACKNOWLEDGE event with both acknowledges both. */
    send_acks(&f);
    RUN_UNTIL(base,
              cm_sum_pending(a->sum, "fw-batch", "b1", &head) == 0 &&
                  cm_sum_pending(a->sum, "fw-batch", "b2", &head) == 0,
              5);
    CHECK_INT(cm_sum_pending(a->sum, "fw-batch", "b1", &head), 0);
    CHECK_INT(cm_sum_pending(a->sum, "fw-batch", "b2", &head), 0);

    cm_agent_free(a);
    cm_agent_flags_cleanup(&flags);
    cm_http_server_free(f.standby);
    cm_http_server_free(f.leader);
    event_base_free(base);
}

ITEST_MAIN(TEST(test_agent_link_over_http))
