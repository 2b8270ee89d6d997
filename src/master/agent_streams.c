/* agent_streams.c: shared link streams — one event stream carrying the events of several agents
 * of one process (docs/agent-link.md, "Shared streams"). Part of the master's core: an agent on
 * a shared stream has a sink of its own (a callback sink whose closure is a member record) that
 * stamps every event with the agent's id and writes it to the shared stream's sink; everything
 * else about the agent (admission, reconciliation, pings, partitions) is agents.c's, unchanged.
 * See master.h ("shared link streams"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define MOD "master"

typedef Cmesos__Internal__AgentCall AgentCall;
typedef Cmesos__Internal__AgentEvent AgentEvent;

/* One agent's place on a shared stream: the closure of its sink. Owned by that sink (a->sink,
 * or a registration's while it is admitted); freed when the sink ends or is released. */
struct member {
    struct cm_agent_stream *ss; /* NULL once the shared stream is gone */
    struct cm_agent *agent;     /* NULL until admitted */
    Mesos__V1__AgentID aid;     /* value = id, once known */
    char id[256];
    char tag[CM_AGENT_STREAM_MAX_TAG + 1];
    bool has_tag;
    bool registered; /* REGISTERED went out: later events need no tag */
    struct member *prev, *next;
};

struct cm_agent_stream {
    struct cm_master *m;
    char id[37];
    struct cm_sink sink; /* the HTTP stream, or a test's callback */
    struct member *members;
    size_t nmembers;
    bool ping_due;
};

static void member_unlink(struct member *mb)
{
    struct cm_agent_stream *ss = mb->ss;
    if (!ss)
        return;
    if (mb->prev)
        mb->prev->next = mb->next;
    else
        ss->members = mb->next;
    if (mb->next)
        mb->next->prev = mb->prev;
    mb->prev = mb->next = NULL;
    ss->nmembers--;
    mb->ss = NULL;
}

static void member_set_id(struct member *mb, const char *id)
{
    snprintf(mb->id, sizeof mb->id, "%s", id);
    mesos__v1__agent_id__init(&mb->aid);
    mb->aid.value = mb->id;
}

/* The member sink's send: the event, stamped with the agent (and, until REGISTERED, the tag of
 * its registration), goes on the shared stream. */
static void member_send(void *arg, const ProtobufCMessage *msg)
{
    struct member *mb = arg;
    if (!mb->ss || msg->descriptor != &cmesos__internal__agent_event__descriptor)
        return; /* the shared stream is gone: the agent is being disconnected */
    AgentEvent ev = *(const AgentEvent *)msg;
    if (mb->id[0])
        ev.agent_id = &mb->aid;
    bool reg = ev.has_type && ev.type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED;
    if (mb->has_tag && (reg || !mb->registered))
        ev.tag = mb->tag;
    if (reg)
        mb->registered = true;
    /* A send past the stream's cap drops the whole stream; its close callback follows. */
    cm_sink_send(&mb->ss->sink, &ev.base);
}

/* The member sink's end: the agent's link is closed (LINK_CLOSED tells it), the stream stays. */
static void member_end(void *arg)
{
    struct member *mb = arg;
    if (mb->ss && !mb->ss->m->shutting_down) {
        AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
        ev.has_type = 1;
        ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__LINK_CLOSED;
        member_send(mb, &ev.base);
    }
    member_unlink(mb);
    free(mb);
}

struct cm_agent_stream *cm_master_open_agent_stream(struct cm_master *m, const struct cm_sink *sink,
                                                    const char *stream_id)
{
    struct cm_agent_stream *ss = cm_xcalloc(1, sizeof *ss);
    ss->m = m;
    snprintf(ss->id, sizeof ss->id, "%s", stream_id);
    ss->sink = *sink;
    cm_strmap_put(&m->agent_streams, ss->id, ss);
    CM_DEBUG(MOD, "Shared agent stream %s opened (principal '%s')", ss->id, ss->sink.principal);
    return ss;
}

void cm_master_agent_stream_closed(struct cm_master *m, struct cm_agent_stream *ss)
{
    cm_strmap_remove(&m->agent_streams, ss->id);
    /* The HTTP layer frees the stream, the edge its ref. */
    ss->sink.stream = NULL;
    ss->sink.ref = NULL;
    ss->sink.cb = NULL;
    ss->sink.end_cb = NULL;
    size_t n = ss->nmembers;
    if (n)
        CM_INFO(MOD, "Shared agent stream %s closed: disconnecting its %zu agents", ss->id, n);
    while (ss->members) {
        struct member *mb = ss->members;
        struct cm_agent *a = mb->agent;
        if (a && a->sink.cb == member_send && a->sink.arg == mb) {
            cm_master_agent_disconnected(m, a); /* releases (frees) mb */
            if (ss->members != mb)
                continue;
        }
        /* A registration in flight: detached as if its own stream had closed; whoever holds its
         * sink frees mb. A member nobody holds (not expected) is freed here. */
        member_unlink(mb);
        if (a || !cm_master_agent_register_sink_closed(m, mb))
            free(mb);
    }
    free(ss);
}

struct cm_agent_stream *cm_master_sink_agent_stream(const struct cm_sink *sink)
{
    return sink->cb == member_send ? ((struct member *)sink->arg)->ss : NULL;
}

void cm_master_agent_stream_bind(struct cm_agent *a)
{
    if (a->sink.cb != member_send)
        return;
    struct member *mb = a->sink.arg;
    mb->agent = a;
    if (strcmp(mb->id, a->id) != 0)
        member_set_id(mb, a->id);
}

void cm_master_agent_sink_release(struct cm_sink *sink)
{
    if (sink->cb == member_send) {
        struct member *mb = sink->arg;
        member_unlink(mb);
        free(mb);
    }
    sink->stream = NULL;
    sink->cb = NULL;
    sink->end_cb = NULL;
    sink->arg = NULL;
    sink->ref = NULL;
}

int cm_master_register_agent_shared(struct cm_master *m, const AgentCall *call,
                                    const char *principal, char *why, size_t whylen)
{
    if (cm_master_agent_validate_register(m, call, why, whylen))
        return 400;
    const Cmesos__Internal__AgentCall__Register *reg = call->register_;
    if (!reg->stream_id)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'register.stream_id' to be present"), 400;
    struct cm_agent_stream *ss = cm_strmap_get(&m->agent_streams, reg->stream_id);
    if (!ss)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'register.stream_id' names no open shared stream ('%.40s'); open one "
                       "with OPEN_STREAM",
                       reg->stream_id),
               400;
    if (reg->tag && strlen(reg->tag) > CM_AGENT_STREAM_MAX_TAG)
        return cm_fail(CM_EINVAL, why, whylen, "'register.tag' is longer than %d bytes",
                       CM_AGENT_STREAM_MAX_TAG),
               400;
    const char *p = principal ? principal : "";
    if (strcmp(p, ss->sink.principal) != 0) {
        CM_WARN(MOD, "Refusing REGISTER on shared stream %s by principal '%s': it belongs to '%s'",
                ss->id, p, ss->sink.principal);
        return cm_fail(-EACCES, why, whylen,
                       "Shared stream %s was opened by another principal; refusing principal "
                       "'%s'",
                       ss->id, p),
               403;
    }
    size_t max = m->agent_stream_max_agents ? m->agent_stream_max_agents
                                            : (size_t)CM_AGENT_STREAM_MAX_AGENTS;
    if (ss->nmembers >= max)
        return cm_fail(CM_ESTATE, why, whylen,
                       "Shared stream %s already carries %zu agents, the most one stream may",
                       ss->id, max),
               409;
    /* The same identity checks as a REGISTER on a stream of its own, before anything changes. */
    int code = cm_master_agent_register_check(m, call->agent_id ? call->agent_id->value : NULL,
                                              principal, why, whylen);
    if (code)
        return code;
    struct member *mb = cm_xcalloc(1, sizeof *mb);
    mb->ss = ss;
    mb->next = ss->members;
    if (mb->next)
        mb->next->prev = mb;
    ss->members = mb;
    ss->nmembers++;
    if (call->agent_id)
        member_set_id(mb, call->agent_id->value);
    if (reg->tag) {
        mb->has_tag = true;
        snprintf(mb->tag, sizeof mb->tag, "%s", reg->tag);
    }
    struct cm_sink sink = {
        .media = CM_MEDIA_PROTOBUF, .cb = member_send, .end_cb = member_end, .arg = mb};
    snprintf(sink.principal, sizeof sink.principal, "%s", ss->sink.principal);
    /* The sink is taken over: on a refusal it is ended (LINK_CLOSED) and mb freed. */
    code = cm_master_register_agent(m, call, &sink, ss->id, NULL, why, whylen);
    return code == 200 ? 202 : code;
}

int cm_master_agent_stream_pongs(struct cm_master *m, const AgentCall *call, const char *stream_id,
                                 char *why, size_t whylen)
{
    if (!stream_id)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'Mesos-Stream-Id' to be present"), 400;
    struct cm_agent_stream *ss = cm_strmap_get(&m->agent_streams, stream_id);
    if (!ss)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'pong_agent_ids' needs a shared stream; '%.40s' is none", stream_id),
               400;
    size_t max = m->agent_stream_max_agents ? m->agent_stream_max_agents
                                            : (size_t)CM_AGENT_STREAM_MAX_AGENTS;
    if (call->n_pong_agent_ids > max)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'pong_agent_ids' lists %zu agents; a stream carries at most %zu",
                       call->n_pong_agent_ids, max),
               400;
    double now = cm_clock_now(m->clock);
    for (size_t i = 0; i < call->n_pong_agent_ids; i++) {
        const Mesos__V1__AgentID *id = call->pong_agent_ids[i];
        struct cm_agent *a = id && id->value ? cm_master_agent(m, id->value) : NULL;
        /* Only an agent connected on this very stream answers here. */
        if (a && a->connected && cm_master_sink_agent_stream(&a->sink) == ss)
            a->last_pong = now;
    }
    return 202;
}

void cm_master_agent_stream_ping_due(struct cm_agent_stream *ss)
{
    ss->ping_due = true;
}

void cm_master_agent_streams_ping(struct cm_master *m)
{
    AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING;
    /* Collected first: a failed send may not free a stream (its close comes from the loop),
     * but nothing here relies on that. */
    size_t n = cm_strmap_count(&m->agent_streams), k = 0;
    struct cm_agent_stream **v = cm_xcalloc(n ? n : 1, sizeof *v);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agent_streams); cm_strmap_iter_next(&it);) {
        struct cm_agent_stream *ss = it.cur->value;
        if (ss->ping_due)
            v[k++] = ss;
        ss->ping_due = false;
    }
    for (size_t i = 0; i < k; i++)
        cm_sink_send(&v[i]->sink, &ev.base);
    free(v);
}

void cm_master_agent_streams_count(const struct cm_master *m, size_t *streams, size_t *agents)
{
    *streams = cm_strmap_count(&m->agent_streams);
    *agents = 0;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agent_streams); cm_strmap_iter_next(&it);)
        *agents += ((struct cm_agent_stream *)it.cur->value)->nmembers;
}

void cm_master_agent_streams_free(struct cm_master *m)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agent_streams); cm_strmap_iter_next(&it);) {
        struct cm_agent_stream *ss = it.cur->value;
        /* Members still held by a sink are let go of (their holder frees them). */
        while (ss->members)
            member_unlink(ss->members);
        cm_sink_end(&ss->sink); /* no close callback runs */
        free(ss);
    }
    cm_strmap_cleanup(&m->agent_streams);
}
