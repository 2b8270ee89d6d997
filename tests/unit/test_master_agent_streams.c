/* test_master_agent_streams.c: shared link streams in the master's core (agent_streams.c) with
 * test sinks and a fake clock: agents joining a shared stream, events naming their agent, one
 * PING per stream and PONGs listing agents, LINK_CLOSED for one agent, the end of the shared
 * stream disconnecting every agent on it, re-registration, and every refusal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_link.h"
#include "errors.h"
#include "master.h"
#include "pbjson.h"
#include "test.h"

typedef Cmesos__Internal__AgentEvent AgentEvent;

struct capture {
    AgentEvent *ev[512];
    size_t n;
    int ended;
};

static void cap_cb(void *arg, const ProtobufCMessage *msg)
{
    struct capture *c = arg;
    if (c->n < 512)
        c->ev[c->n++] = (AgentEvent *)cm_pb_dup(msg);
}

static void cap_end(void *arg)
{
    ((struct capture *)arg)->ended++;
}

static void cap_clear(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        protobuf_c_message_free_unpacked(&c->ev[i]->base, NULL);
    c->n = 0;
}

static size_t count_type(const struct capture *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)c->ev[i]->type == type;
    return n;
}

/* The last event of a type naming agent id (NULL: naming none). */
static AgentEvent *last_for(const struct capture *c, int type, const char *id)
{
    for (size_t i = c->n; i-- > 0;) {
        AgentEvent *e = c->ev[i];
        if ((int)e->type != type)
            continue;
        if (!id ? !e->agent_id : (e->agent_id && strcmp(e->agent_id->value, id) == 0))
            return e;
    }
    return NULL;
}

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct capture cap, cap2;
};

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    return f;
}

static void fixture_free(struct fixture *f)
{
    cm_master_free(f->m);
    cap_clear(&f->cap);
    cap_clear(&f->cap2);
    free(f);
}

static struct cm_agent_stream *open_stream(struct fixture *f, struct capture *c, const char *sid,
                                           const char *principal)
{
    struct cm_sink s = {.media = CM_MEDIA_PROTOBUF, .cb = cap_cb, .end_cb = cap_end, .arg = c};
    snprintf(s.principal, sizeof s.principal, "%s", principal);
    return cm_master_open_agent_stream(f->m, &s, sid);
}

static Cmesos__Internal__AgentCall *decode(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static Cmesos__Internal__AgentCall *decode(const char *fmt, ...)
{
    char body[4096], why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_master_agent_decode(CM_MEDIA_JSON, (const uint8_t *)body, strlen(body), &call, why,
                               sizeof why)) {
        fprintf(stderr, "decode: %s\n", why);
        return NULL;
    }
    return call;
}

/* REGISTER on shared stream sid; id NULL: a new agent. Returns the code. */
static int join(struct fixture *f, const char *sid, const char *id, const char *host,
                const char *tag, const char *principal)
{
    char idpart[300] = "";
    if (id)
        snprintf(idpart, sizeof idpart, "\"agent_id\":{\"value\":\"%s\"},", id);
    Cmesos__Internal__AgentCall *call =
        decode("{\"type\":\"REGISTER\",%s\"register\":{\"agent_info\":{\"hostname\":\"%s\","
               "\"port\":5051,\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
               "\"scalar\":{\"value\":4}}]},\"stream_id\":\"%s\",\"tag\":\"%s\"}}",
               idpart, host, sid, tag);
    if (!call)
        return -1;
    char why[512];
    int code = cm_master_register_agent_shared(f->m, call, principal, why, sizeof why);
    if (code != 202)
        fprintf(stderr, "join %s: %d %s\n", host, code, why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

/* The id the REGISTERED with tag carries on c (copied into out); false if none. */
static bool registered_id(const struct capture *c, const char *tag, char *out, size_t outlen)
{
    for (size_t i = 0; i < c->n; i++) {
        AgentEvent *e = c->ev[i];
        if (e->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED && e->tag &&
            strcmp(e->tag, tag) == 0 && e->registered && e->agent_id &&
            strcmp(e->agent_id->value, e->registered->agent_id->value) == 0) {
            snprintf(out, outlen, "%s", e->agent_id->value);
            return true;
        }
    }
    return false;
}

static int pong(struct fixture *f, const char *sid, const char *a, const char *b)
{
    Cmesos__Internal__AgentCall *call = decode(
        "{\"type\":\"PONG\",\"pong_agent_ids\":[{\"value\":\"%s\"},{\"value\":\"%s\"}]}", a, b);
    if (!call)
        return -1;
    char why[512];
    int code = cm_master_agent_call(f->m, call, NULL, sid, NULL, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    return code;
}

static void test_agents_share_one_stream(void)
{
    struct fixture *f = fixture_new();
    struct cm_agent_stream *ss = open_stream(f, &f->cap, "sid-1", "emu");
    REQUIRE(ss);
    CHECK_INT(join(f, "sid-1", NULL, "h0", "0", "emu"), 202);
    CHECK_INT(join(f, "sid-1", NULL, "h1", "1", "emu"), 202);
    CHECK_INT(join(f, "sid-1", NULL, "h2", "2", "emu"), 202);
    char id[3][256];
    struct cm_agent *a[3];
    for (int i = 0; i < 3; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "%d", i);
        REQUIRE(registered_id(&f->cap, tag, id[i], sizeof id[i]));
        a[i] = cm_master_agent(f->m, id[i]);
        REQUIRE(a[i]);
        CHECK(a[i]->connected);
        CHECK_STR(a[i]->stream_id, "sid-1");
        CHECK(cm_master_sink_agent_stream(&a[i]->sink) == ss);
    }
    CHECK(strcmp(id[0], id[1]) != 0 && strcmp(id[1], id[2]) != 0);
    size_t ns, na;
    cm_master_agent_streams_count(f->m, &ns, &na);
    CHECK(ns == 1 && na == 3);

    /* Every later event names its agent and carries no tag. */
    AgentEvent kill = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    kill.has_type = 1;
    kill.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK;
    Cmesos__Internal__AgentEvent__ShutdownFramework sf =
        CMESOS__INTERNAL__AGENT_EVENT__SHUTDOWN_FRAMEWORK__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = "fw";
    sf.framework_id = &fid;
    kill.shutdown_framework = &sf;
    cm_master_send_agent(f->m, a[1], &kill);
    AgentEvent *e =
        last_for(&f->cap, CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK, id[1]);
    REQUIRE(e);
    CHECK(e->tag == NULL);

    /* One PING for the whole stream, naming no agent. */
    cap_clear(&f->cap);
    cm_fake_clock_advance(&f->clock, 15);
    cm_master_ping_agents(f->m);
    CHECK_INT((int)count_type(&f->cap, CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING), 1);
    CHECK(last_for(&f->cap, CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING, NULL) != NULL);

    /* One PONG lists the agents that answer; only those count. */
    CHECK_INT(pong(f, "sid-1", id[0], id[1]), 202);
    CHECK(a[0]->last_pong == 1015.0 && a[1]->last_pong == 1015.0);
    CHECK(a[2]->last_pong == 1000.0);
    CHECK_INT(pong(f, "no-such-stream", id[0], id[1]), 400);
    CHECK_INT(pong(f, NULL, id[0], id[1]), 400);
    CHECK_INT(pong(f, "sid-1", "nobody", id[0]), 202); /* unknown ids are ignored */

    /* Agent 2 never answers: marked unreachable, it alone gets LINK_CLOSED. */
    for (int i = 0; i < 5; i++) {
        cm_fake_clock_advance(&f->clock, 15);
        cm_master_ping_agents(f->m);
        CHECK_INT(pong(f, "sid-1", id[0], id[1]), 202);
    }
    CHECK(cm_master_agent(f->m, id[2]) == NULL);
    CHECK(last_for(&f->cap, CMESOS__INTERNAL__AGENT_EVENT__TYPE__LINK_CLOSED, id[2]) != NULL);
    CHECK(last_for(&f->cap, CMESOS__INTERNAL__AGENT_EVENT__TYPE__LINK_CLOSED, id[0]) == NULL);
    CHECK(a[0]->connected && a[1]->connected);
    cm_master_agent_streams_count(f->m, &ns, &na);
    CHECK(ns == 1 && na == 2);
    CHECK_INT(f->cap.ended, 0);

    /* UNREGISTER of agent 1 ends its link only. */
    Cmesos__Internal__AgentCall *un =
        decode("{\"type\":\"UNREGISTER\",\"agent_id\":{\"value\":\"%s\"}}", id[1]);
    REQUIRE(un);
    char why[512];
    CHECK_INT(cm_master_agent_call(f->m, un, NULL, "sid-1", NULL, why, sizeof why), 202);
    protobuf_c_message_free_unpacked(&un->base, NULL);
    CHECK(last_for(&f->cap, CMESOS__INTERNAL__AGENT_EVENT__TYPE__LINK_CLOSED, id[1]) != NULL);
    CHECK(cm_master_agent(f->m, id[1]) == NULL);

    /* The shared stream ends: every agent on it is disconnected, as by a broken link. */
    CHECK_INT(join(f, "sid-1", NULL, "h3", "3", "emu"), 202);
    char id3[256];
    REQUIRE(registered_id(&f->cap, "3", id3, sizeof id3));
    cm_master_agent_stream_closed(f->m, ss);
    CHECK(!a[0]->connected);
    CHECK(!cm_master_agent(f->m, id3)->connected);
    CHECK(cm_master_sink_agent_stream(&a[0]->sink) == NULL);
    cm_master_agent_streams_count(f->m, &ns, &na);
    CHECK(ns == 0 && na == 0);
    /* Calls on the closed stream are refused (the agent is not connected). */
    CHECK_INT(pong(f, "sid-1", id[0], id3), 400);

    /* They re-register with their ids on a new shared stream. */
    open_stream(f, &f->cap2, "sid-2", "emu");
    CHECK_INT(join(f, "sid-2", id[0], "h0", "0", "emu"), 202);
    CHECK_INT(join(f, "sid-2", id3, "h3", "3", "emu"), 202);
    char again[256];
    CHECK(registered_id(&f->cap2, "0", again, sizeof again) && strcmp(again, id[0]) == 0);
    CHECK(a[0]->connected);
    CHECK_STR(a[0]->stream_id, "sid-2");
    CHECK(cm_master_agent(f->m, id3)->connected);
    /* Freed with the stream open and agents on it (ASan checks the ownership). */
    fixture_free(f);
}

static void test_refusals(void)
{
    struct fixture *f = fixture_new();
    f->m->agent_stream_max_agents = 2;
    open_stream(f, &f->cap, "sid-1", "emu");
    CHECK_INT(join(f, "nope", NULL, "h0", "0", "emu"), 400);
    char longtag[100];
    memset(longtag, 'x', 65);
    longtag[65] = 0;
    CHECK_INT(join(f, "sid-1", NULL, "h0", longtag, "emu"), 400);
    CHECK_INT(join(f, "sid-1", NULL, "", "0", "emu"), 400); /* no hostname */
    CHECK_INT(join(f, "sid-1", NULL, "h0", "0", "other"), 403);
    CHECK_INT(join(f, "sid-1", NULL, "h0", "0", NULL), 403);
    CHECK_INT(f->cap.n, 0);
    CHECK_INT(join(f, "sid-1", NULL, "h0", "0", "emu"), 202);
    char id0[256];
    REQUIRE(registered_id(&f->cap, "0", id0, sizeof id0));
    /* A connected agent keeps its link (as on a stream of its own). */
    CHECK_INT(join(f, "sid-1", id0, "h0", "0", "emu"), 409);
    CHECK_INT(join(f, "sid-1", NULL, "h1", "1", "emu"), 202);
    CHECK_INT(join(f, "sid-1", NULL, "h2", "2", "emu"), 409); /* full */
    size_t ns, na;
    cm_master_agent_streams_count(f->m, &ns, &na);
    CHECK(ns == 1 && na == 2);
    /* An id bound to another principal is refused on a stream of that other principal. */
    struct cm_agent *a0 = cm_master_agent(f->m, id0);
    REQUIRE(a0);
    free(a0->principal);
    a0->principal = cm_xstrdup("emu");
    open_stream(f, &f->cap2, "sid-2", "intruder");
    a0->connected = false; /* pretend its link broke, so only the principal can refuse */
    cm_master_agent_sink_release(&a0->sink);
    CHECK_INT(join(f, "sid-2", id0, "h0", "0", "intruder"), 403);
    CHECK_INT(f->cap2.n, 0);
    /* A PONG list is for shared streams only, and counts only agents of that very stream. */
    CHECK_INT(pong(f, "not-shared", id0, id0), 400);
    char id1[256];
    REQUIRE(registered_id(&f->cap, "1", id1, sizeof id1));
    struct cm_agent *a1 = cm_master_agent(f->m, id1);
    REQUIRE(a1);
    cm_fake_clock_advance(&f->clock, 5);
    CHECK_INT(pong(f, "sid-2", id1, id1), 202);
    CHECK(a1->last_pong == 1000.0);
    CHECK_INT(pong(f, "sid-1", id1, id1), 202);
    CHECK(a1->last_pong == 1005.0);
    fixture_free(f);
}

TEST_MAIN(TEST(test_agents_share_one_stream), TEST(test_refusals))
