/*
 * itest_http_stream_client.c: the common stream client (stream_client.h) against the common
 * server (http_server.h + stream.h) over real sockets on 127.0.0.1, in one loop: 307 to the
 * leader, Mesos-Stream-Id, events in both media, the undecodable-event policy, refusals,
 * reconnection with backoff, the outage clock, and stop from inside a callback.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "codec.h"
#include "errors.h"
#include "http_server.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "stream.h"
#include "stream_client.h"
#include "harness.h"
#include "test.h"

/* ---- the server: a fake master -------------------------------------------------------------- */

struct master {
    struct event_base *base;
    struct cm_http_server *srv;
    uint16_t port;
    int subscribes;      /* SUBSCRIBE requests that reached /api/v1/scheduler */
    bool send_stream_id; /* answer with Mesos-Stream-Id */
    bool send_garbage;   /* after SUBSCRIBED + HEARTBEAT, a record that does not decode */
    int refuse;          /* answer with this status instead of a stream (0: stream) */
    char last_accept[64];
    struct cm_http_stream *st;
};

static void on_master_stream_close(struct cm_http_stream *st, void *arg)
{
    (void)st;
    struct master *m = arg;
    m->st = NULL;
}

static void send_event(struct master *m, enum cm_media media, Mesos__V1__Scheduler__Event__Type t)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    ev.has_type = 1;
    ev.type = t;
    if (t == MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED) {
        fid.value = "fw-1";
        sub.framework_id = &fid;
        sub.has_heartbeat_interval_seconds = 1;
        sub.heartbeat_interval_seconds = 15;
        ev.subscribed = &sub;
    }
    CHECK_INT(cm_stream_send(m->st, media, &ev.base), 0);
}

static void h_leader(struct cm_http_request *req, void *arg)
{
    struct master *m = arg;
    m->subscribes++;
    const char *accept = cm_http_request_header(req, "Accept");
    snprintf(m->last_accept, sizeof m->last_accept, "%s", accept ? accept : "");
    if (m->refuse) {
        cm_http_respond_text(req, m->refuse, "Framework has been removed");
        return;
    }
    enum cm_media media = cm_http_content_type(cm_http_request_header(req, "Content-Type"));
    if (m->send_stream_id)
        cm_http_add_header(req, "Mesos-Stream-Id", "7f1e6c1a-0000-4000-8000-000000000001");
    m->st = cm_http_stream_start(req, 200, cm_media_name(media), on_master_stream_close, m);
    send_event(m, media, MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED);
    send_event(m, media, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    if (m->send_garbage)
        CHECK_INT(cm_http_stream_send(m->st, "5\n{{{{{", 7), 0);
}

/* A non-leading master: 307 with Mesos's protocol-relative Location. */
static void h_follower(struct cm_http_request *req, void *arg)
{
    struct master *m = arg;
    char loc[128];
    snprintf(loc, sizeof loc, "//127.0.0.1:%u/api/v1/scheduler", m->port);
    cm_http_add_header(req, "Location", loc);
    cm_http_respond(req, 307, NULL, NULL, 0);
}

static void master_init(struct master *m, struct event_base *base)
{
    memset(m, 0, sizeof *m);
    m->base = base;
    m->send_stream_id = true;
    m->srv = cm_http_server_new(base, "master", 0);
    REQUIRE(m->srv != NULL);
    REQUIRE(cm_http_server_bind(m->srv, "127.0.0.1", 0, &m->port) == 0);
    cm_http_server_route(m->srv, "/api/v1/scheduler", h_leader, m);
    cm_http_server_route(m->srv, "/follower/api/v1/scheduler", h_follower, m);
}

/* ---- the client side ------------------------------------------------------------------------ */

struct owner {
    struct cm_stream_client *c;
    int opens;
    char stream_id[CM_STREAM_ID_MAX + 1];
    int events;
    int types[16];
    int losses;
    struct cm_stream_loss last;
    char reason[2048];
    char body[256];
    enum cm_stream_decision answer;
    int retry_budget;   /* RETRY this many times, then STOP */
    bool stop_in_event; /* cm_stream_client_stop from on_event */
    bool done;          /* set on every loss and when stop_in_event fired */
};

static int owner_body(void *arg, uint8_t **body, size_t *len)
{
    (void)arg;
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    return cm_pb_encode(&call.base, CM_MEDIA_JSON, body, len);
}

static void owner_open(void *arg, const char *stream_id)
{
    struct owner *o = arg;
    o->opens++;
    snprintf(o->stream_id, sizeof o->stream_id, "%s", stream_id);
}

static void owner_event(void *arg, const ProtobufCMessage *msg)
{
    struct owner *o = arg;
    const Mesos__V1__Scheduler__Event *ev = (const Mesos__V1__Scheduler__Event *)msg;
    if (o->events < 16)
        o->types[o->events] = (int)ev->type;
    o->events++;
    if (o->stop_in_event) {
        cm_stream_client_stop(o->c);
        o->done = true;
    }
}

static enum cm_stream_decision owner_lost(void *arg, const struct cm_stream_loss *loss)
{
    struct owner *o = arg;
    o->losses++;
    o->last = *loss;
    snprintf(o->reason, sizeof o->reason, "%s", loss->reason);
    snprintf(o->body, sizeof o->body, "%s", loss->body);
    o->last.reason = o->reason;
    o->last.body = o->body;
    o->done = true;
    if (o->retry_budget > 0) {
        o->retry_budget--;
        return CM_STREAM_RETRY;
    }
    return CM_STREAM_STOP;
}

/* call_name NULL: the default ("SUBSCRIBE"). */
static struct cm_stream_client *client_new_named(struct event_base *base, struct owner *o,
                                                 const char *url, enum cm_media media,
                                                 const struct cm_clock *clock,
                                                 const char *call_name)
{
    struct cm_stream_client_opts opts = {
        .base = base,
        .clock = clock,
        .module = "itest",
        .call_name = call_name,
        .url = url,
        .media = media,
        .event_desc = &mesos__v1__scheduler__event__descriptor,
        .stream_id = true,
        .backoff_initial = 0.01,
        .backoff_max = 0.02,
        .seed = 42,
        .body = owner_body,
        .on_open = owner_open,
        .on_event = owner_event,
        .on_lost = owner_lost,
        .arg = o,
    };
    char why[256] = "";
    struct cm_stream_client *c = cm_stream_client_new(&opts, why, sizeof why);
    if (!c)
        abort();
    o->c = c;
    return c;
}

static struct cm_stream_client *client_new(struct event_base *base, struct owner *o,
                                           const char *url, enum cm_media media,
                                           const struct cm_clock *clock)
{
    return client_new_named(base, o, url, media, clock, NULL);
}

/* 307 from a follower to the leader, then SUBSCRIBED and HEARTBEAT in either media. */
static void test_redirect_and_events(void)
{
    for (int pb = 0; pb < 2; pb++) {
        struct event_base *base = event_base_new();
        struct master m;
        master_init(&m, base);
        struct owner o = {0};
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/follower/api/v1/scheduler", m.port);
        enum cm_media media = pb ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON;
        struct cm_stream_client *c = client_new(base, &o, url, media, NULL);
        CHECK_INT(cm_stream_client_start(c), 0);
        CHECK_INT(cm_stream_client_start(c), CM_ESTATE);
        CHECK_INT(o.opens, 0); /* the first attempt runs from the loop */
        for (int i = 0; i < 500 && o.events < 2; i++)
            event_base_loop(base, EVLOOP_ONCE);
        CHECK_INT(o.events, 2);
        CHECK_INT(o.types[0], MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED);
        CHECK_INT(o.types[1], MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
        CHECK_INT(o.opens, 1);
        CHECK_STR(o.stream_id, "7f1e6c1a-0000-4000-8000-000000000001");
        CHECK_STR(cm_stream_client_stream_id(c), o.stream_id);
        CHECK(cm_stream_client_is_open(c));
        CHECK(strstr(cm_stream_client_url(c), "/follower/") == NULL);
        CHECK_STR(m.last_accept, cm_media_name(media));
        CHECK_INT(o.losses, 0);
        /* The master goes away: the owner hears of it once, with the stream marked open. */
        cm_http_server_free(m.srv);
        CHECK(itest_loop_until(base, &o.done));
        CHECK_INT(o.losses, 1);
        CHECK(o.last.was_open);
        CHECK(o.last.kind == CM_STREAM_CLOSED || o.last.kind == CM_STREAM_BROKEN);
        CHECK(!cm_stream_client_is_open(c));
        CHECK_STR(cm_stream_client_stream_id(c), "");
        /* The next chain would start from the configured URL again. */
        CHECK_STR(cm_stream_client_url(c), url);
        cm_stream_client_free(c);
        event_base_free(base);
    }
}

/* The policy for an undecodable event: delivered events stand, the bad one closes the stream
 * as a protocol error, and a retry resubscribes. */
static void test_bad_event_resubscribes(void)
{
    struct event_base *base = event_base_new();
    struct master m;
    master_init(&m, base);
    m.send_garbage = true;
    struct owner o = {0};
    o.retry_budget = 1;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v1/scheduler", m.port);
    struct cm_stream_client *c = client_new(base, &o, url, CM_MEDIA_JSON, NULL);
    CHECK_INT(cm_stream_client_start(c), 0);
    for (int i = 0; i < 2000 && o.losses < 2; i++)
        event_base_loop(base, EVLOOP_ONCE);
    CHECK_INT(o.losses, 2);
    CHECK(o.last.kind == CM_STREAM_PROTOCOL);
    CHECK(strstr(o.reason, "Failed to de-serialize event") != NULL);
    CHECK(o.last.was_open);
    CHECK_INT(m.subscribes, 2);
    CHECK_INT(o.events, 4); /* SUBSCRIBED + HEARTBEAT on each stream, never the bad one */
    printf("bad event: %s\n", o.reason);
    cm_stream_client_free(c);
    cm_http_server_free(m.srv);
    event_base_free(base);
}

/* No Mesos-Stream-Id where the API has one: a protocol error before any event. */
static void test_missing_stream_id(void)
{
    struct event_base *base = event_base_new();
    struct master m;
    master_init(&m, base);
    m.send_stream_id = false;
    struct owner o = {0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v1/scheduler", m.port);
    struct cm_stream_client *c = client_new(base, &o, url, CM_MEDIA_PROTOBUF, NULL);
    CHECK_INT(cm_stream_client_start(c), 0);
    CHECK(itest_loop_until(base, &o.done));
    CHECK(o.last.kind == CM_STREAM_PROTOCOL);
    CHECK(strstr(o.reason, "Mesos-Stream-Id") != NULL);
    CHECK_INT(o.events, 0);
    CHECK_INT(o.opens, 0);
    cm_stream_client_free(c);
    cm_http_server_free(m.srv);
    event_base_free(base);
}

/* A refusal carries its status and body; STOP leaves the client idle. */
static void test_refused(void)
{
    struct event_base *base = event_base_new();
    struct master m;
    master_init(&m, base);
    m.refuse = 403;
    struct owner o = {0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v1/scheduler", m.port);
    struct cm_stream_client *c = client_new(base, &o, url, CM_MEDIA_JSON, NULL);
    CHECK_INT(cm_stream_client_start(c), 0);
    CHECK(itest_loop_until(base, &o.done));
    CHECK(o.last.kind == CM_STREAM_REFUSED);
    CHECK_INT(o.last.status, 403);
    CHECK_STR(o.body, "Framework has been removed");
    /* The reason names the opening call: SUBSCRIBE unless the owner says otherwise. */
    CHECK(strncmp(o.reason, "SUBSCRIBE to http://", 20) == 0);
    itest_loop_for(base, 0.1);
    CHECK_INT(m.subscribes, 1);
    CHECK_INT(o.losses, 1);
    /* start works again once idle. */
    o.done = false;
    CHECK_INT(cm_stream_client_start(c), 0);
    CHECK(itest_loop_until(base, &o.done));
    CHECK_INT(m.subscribes, 2);
    cm_stream_client_free(c);
    /* An API whose opening call has another name (the agent link's REGISTER). */
    struct owner r = {0};
    c = client_new_named(base, &r, url, CM_MEDIA_JSON, NULL, "REGISTER");
    CHECK_INT(cm_stream_client_start(c), 0);
    CHECK(itest_loop_until(base, &r.done));
    CHECK(r.last.kind == CM_STREAM_REFUSED);
    CHECK(strncmp(r.reason, "REGISTER to http://", 19) == 0);
    cm_stream_client_free(c);
    cm_http_server_free(m.srv);
    event_base_free(base);
}

/* Nobody listens: retries back off, and down_for follows the injected clock. */
static void test_unreachable_clock(void)
{
    struct event_base *base = event_base_new();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v1/scheduler", ntohs(sa.sin_port));
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000);
    struct owner o = {0};
    o.retry_budget = 3;
    struct cm_stream_client *c = client_new(base, &o, url, CM_MEDIA_JSON, &fc.clock);
    CHECK_INT(cm_stream_client_start(c), 0);
    double seen[4] = {0};
    for (int k = 0; k < 4; k++) {
        o.done = false;
        CHECK(itest_loop_until(base, &o.done));
        CHECK(o.last.kind == CM_STREAM_UNREACHABLE);
        seen[k] = o.last.down_for;
        CHECK(o.last.retry_in >= 0.005 && o.last.retry_in <= 0.02);
        cm_fake_clock_advance(&fc, 7);
    }
    CHECK(seen[0] == 0);
    CHECK(seen[1] == 7);
    CHECK(seen[3] == 21);
    CHECK_INT(o.losses, 4);
    itest_loop_for(base, 0.1);
    CHECK_INT(o.losses, 4); /* STOP after the budget */
    cm_stream_client_free(c);
    event_base_free(base);
}

/* The owner stops the client from inside on_event: no further event, no loss report. */
static void test_stop_in_event(void)
{
    struct event_base *base = event_base_new();
    struct master m;
    master_init(&m, base);
    struct owner o = {0};
    o.stop_in_event = true;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v1/scheduler", m.port);
    struct cm_stream_client *c = client_new(base, &o, url, CM_MEDIA_PROTOBUF, NULL);
    CHECK_INT(cm_stream_client_start(c), 0);
    CHECK(itest_loop_until(base, &o.done));
    itest_loop_for(base, 0.1);
    CHECK_INT(o.events, 1);
    CHECK_INT(o.losses, 0);
    CHECK(!cm_stream_client_is_open(c));
    /* restart subscribes again at once. */
    o.stop_in_event = false;
    cm_stream_client_restart(c);
    for (int i = 0; i < 500 && o.events < 3; i++)
        event_base_loop(base, EVLOOP_ONCE);
    CHECK_INT(o.events, 3);
    CHECK_INT(m.subscribes, 2);
    cm_stream_client_free(c);
    cm_http_server_free(m.srv);
    event_base_free(base);
}

TEST_MAIN(TEST(test_redirect_and_events), TEST(test_bad_event_resubscribes),
          TEST(test_missing_stream_id), TEST(test_refused), TEST(test_unreachable_clock),
          TEST(test_stop_in_event))
