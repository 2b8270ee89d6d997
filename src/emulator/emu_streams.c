/* emu_streams.c: shared link streams (--agents_per_stream > 1; docs/agent-link.md, "Shared
 * streams"). Agents [k*n, (k+1)*n) share stream k: it is opened (OPEN_STREAM) when the first of
 * them registers, each REGISTER is a call naming it with the agent's index as tag, and its events
 * are routed by AgentEvent.agent_id (or by tag before the agent knows its id). A PING without
 * agent_id is answered by one PONG call listing every registered agent of the stream that is not
 * partitioned. LINK_CLOSED ends one agent's link; the end of the stream ends all of them. Events
 * for a partitioned agent are held and replayed when the partition ends. See emu_internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "emu_internal.h"
#include "errors.h"
#include "log.h"
#include "util.h"

#define MOD "emulator"
#define MAX_RECORD (16u << 20)
#define LINK_PATH "/master/api/v1/agent"

enum { G_CLOSED, G_OPENING, G_OPEN };

struct emu_group {
    struct cm_emu *e;
    int idx, first, n; /* agents [first, first + n) */
    int state;
    struct cm_emu_conn *conn;
    struct cm_recordio_decoder dec;
    int status;
    char stream_id[64];
    double backoff, last_event;
    struct event timer;   /* re-open after a back-off */
    struct cm_strmap ids; /* agent id -> struct emu_agent (ids learnt from REGISTERED) */
    const struct sockaddr_in *src;
};

static void group_open(struct emu_group *g);

static void group_close(struct emu_group *g)
{
    if (g->state == G_OPEN)
        g->e->st.shared_streams--;
    cm_emu_conn_free(g->conn);
    g->conn = NULL;
    g->state = G_CLOSED;
    g->status = 0;
    g->stream_id[0] = 0;
    cm_recordio_decoder_cleanup(&g->dec);
    cm_recordio_decoder_init(&g->dec, MAX_RECORD);
}

static void group_retry_later(struct emu_group *g)
{
    double delay = g->backoff * drand48();
    g->backoff *= 2;
    if (g->backoff > 60)
        g->backoff = 60;
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (time_t)delay) * 1e6)};
    evtimer_add(&g->timer, &tv);
}

/* The stream failed or ended: every agent on it (registered or registering) lost its link. */
static void group_lost(struct emu_group *g)
{
    struct cm_emu *e = g->e;
    if (g->state == G_OPEN)
        e->st.shared_stream_losses++;
    group_close(g);
    for (int i = g->first; i < g->first + g->n; i++) {
        struct emu_agent *a = &e->agents[i];
        if (a->state == EMU_CONNECTING || a->state == EMU_REGISTERED)
            emu_agent_lost(a);
    }
    group_retry_later(g);
}

static void group_ping(struct emu_group *g)
{
    struct cm_emu *e = g->e;
    Mesos__V1__AgentID *ids = cm_xcalloc((size_t)g->n, sizeof *ids);
    Mesos__V1__AgentID **pids = cm_xcalloc((size_t)g->n, sizeof *pids);
    size_t k = 0;
    double now = cm_monotonic_secs();
    for (int i = g->first; i < g->first + g->n; i++) {
        struct emu_agent *a = &e->agents[i];
        if (a->state != EMU_REGISTERED || a->partitioned || !a->id)
            continue;
        a->last_event = now;
        mesos__v1__agent_id__init(&ids[k]);
        ids[k].value = a->id;
        pids[k] = &ids[k];
        k++;
    }
    e->st.pings += k;
    if (k > 0) {
        Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
        call.has_type = 1;
        call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG;
        call.pong_agent_ids = pids;
        call.n_pong_agent_ids = k;
        e->st.pongs += k;
        emu_pool_send(e, g->stream_id, &call, -1);
    }
    free(ids);
    free(pids);
}

/* One event for member a (not partitioned). */
static void member_event(struct emu_group *g, struct emu_agent *a,
                         const Cmesos__Internal__AgentEvent *ev)
{
    struct cm_emu *e = g->e;
    a->last_event = cm_monotonic_secs();
    if (ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__LINK_CLOSED) {
        /* Without a tag it ends a registered link; with one, it refuses a registration. */
        if ((a->state == EMU_REGISTERED && !ev->tag) || (a->state == EMU_CONNECTING && ev->tag)) {
            e->st.links_closed++;
            emu_agent_lost(a);
        }
        return;
    }
    bool reg = ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED;
    if (reg && a->state == EMU_IDLE) {
        /* Admitted although its REGISTER call looked failed (the answer was lost): take it. */
        evtimer_del(&a->timer);
        emu_agent_set_state(a, EMU_CONNECTING);
    }
    if (a->state != EMU_REGISTERED && !reg)
        return;
    if (reg && a->state != EMU_CONNECTING)
        return;
    if (emu_agent_dispatch(a, ev) == 2) {
        emu_agent_shut_down(a);
        return;
    }
    if (reg && a->id)
        cm_strmap_put(&g->ids, a->id, a);
}

static struct emu_agent *route(struct emu_group *g, const Cmesos__Internal__AgentEvent *ev)
{
    struct cm_emu *e = g->e;
    if (ev->tag) {
        char *end;
        long i = strtol(ev->tag, &end, 10);
        if (end == ev->tag || *end || i < g->first || i >= g->first + g->n)
            return NULL;
        return &e->agents[i];
    }
    if (ev->agent_id && ev->agent_id->value)
        return cm_strmap_get(&g->ids, ev->agent_id->value);
    return NULL;
}

static void hold(struct emu_agent *a, const uint8_t *data, size_t len)
{
    if (a->held_overflow)
        return;
    if (a->nheld == EMU_MAX_HELD) {
        a->held_overflow = true; /* taken as a lost link when the partition ends */
        return;
    }
    if (!a->held)
        a->held = cm_xcalloc(EMU_MAX_HELD, sizeof *a->held);
    a->held[a->nheld].data = cm_xmalloc(len ? len : 1);
    memcpy(a->held[a->nheld].data, data, len);
    a->held[a->nheld].len = len;
    a->nheld++;
}

static int group_record(void *arg, const uint8_t *data, size_t len)
{
    struct emu_group *g = arg;
    g->last_event = cm_monotonic_secs();
    struct cm_emu_arena *arena = &g->e->arena;
    Cmesos__Internal__AgentEvent *ev =
        cmesos__internal__agent_event__unpack(cm_emu_arena_allocator(arena), len, data);
    if (!ev) {
        cm_emu_arena_reset(arena);
        CM_WARN(MOD, "Shared stream %d: undecodable event from the master; re-opening it", g->idx);
        return 1;
    }
    if (!ev->has_type) {
        /* nothing to do */
    } else if (ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING && !ev->agent_id) {
        group_ping(g);
    } else {
        struct emu_agent *a = route(g, ev);
        if (a && a->partitioned)
            hold(a, data, len);
        else if (a)
            member_event(g, a, ev);
    }
    cm_emu_arena_reset(arena);
    return 0;
}

static void group_on_head(void *arg, int status, const char *sid)
{
    struct emu_group *g = arg;
    struct cm_emu *e = g->e;
    g->status = status;
    if (status != 200 || !sid) {
        CM_WARN(MOD, "Shared stream %d: OPEN_STREAM answered %d", g->idx, status);
        return;
    }
    snprintf(g->stream_id, sizeof g->stream_id, "%s", sid);
    g->state = G_OPEN;
    g->backoff = e->o.backoff;
    g->last_event = cm_monotonic_secs();
    e->st.shared_streams++;
    for (int i = g->first; i < g->first + g->n; i++) {
        struct emu_agent *a = &e->agents[i];
        if (a->wait_group) {
            a->wait_group = false;
            emu_regq_push(a);
        }
    }
    emu_regq_pump(e);
}

static void group_on_body(void *arg, const uint8_t *data, size_t len)
{
    struct emu_group *g = arg;
    if (g->status != 200)
        return;
    if (cm_recordio_feed(&g->dec, data, len, group_record, g) != 0)
        group_lost(g);
}

static void group_on_done(void *arg, int err)
{
    (void)err;
    group_lost(arg);
}

static const struct cm_emu_conn_cbs group_cbs = {group_on_head, group_on_body, group_on_done};

static void group_open(struct emu_group *g)
{
    struct cm_emu *e = g->e;
    if (g->state != G_CLOSED || evtimer_pending(&g->timer, NULL) || !e->master_host[0])
        return;
    int err = 0;
    g->status = 0;
    g->conn = cm_emu_conn_new(e->base, &e->master, g->src, &group_cbs, g, &err);
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__OPEN_STREAM;
    uint8_t body[16];
    size_t len = cmesos__internal__agent_call__pack(&call, body);
    if (!g->conn || cm_emu_conn_post(g->conn, e->master_host, LINK_PATH, NULL, body, len) != 0) {
        CM_WARN(MOD, "Shared stream %d: cannot connect to %s: %s", g->idx, e->master_host,
                cm_strerror(err));
        group_close(g);
        group_retry_later(g);
        return;
    }
    g->state = G_OPENING;
}

static void group_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct emu_group *g = arg;
    for (int i = g->first; i < g->first + g->n; i++)
        if (g->e->agents[i].wait_group) {
            group_open(g);
            return;
        }
}

const char *emu_group_ready(struct emu_agent *a)
{
    struct emu_group *g = a->group;
    if (g->state == G_OPEN)
        return g->stream_id;
    a->wait_group = true;
    group_open(g);
    return NULL;
}

void emu_groups_init(struct cm_emu *e, int per)
{
    e->ngroups = ((size_t)e->o.agents + (size_t)per - 1) / (size_t)per;
    e->groups = cm_xcalloc(e->ngroups, sizeof *e->groups);
    for (size_t k = 0; k < e->ngroups; k++) {
        struct emu_group *g = &e->groups[k];
        g->e = e;
        g->idx = (int)k;
        g->first = (int)k * per;
        g->n = e->o.agents - g->first < per ? e->o.agents - g->first : per;
        g->backoff = e->o.backoff;
        g->src = e->nsrcs ? &e->srcs[k % e->nsrcs] : NULL;
        cm_recordio_decoder_init(&g->dec, MAX_RECORD);
        evtimer_assign(&g->timer, e->base, group_timer_cb, g);
        cm_strmap_init(&g->ids);
        for (int i = g->first; i < g->first + g->n; i++)
            e->agents[i].group = g;
    }
}

void emu_groups_free(struct cm_emu *e)
{
    for (size_t k = 0; k < e->ngroups; k++) {
        struct emu_group *g = &e->groups[k];
        evtimer_del(&g->timer);
        cm_emu_conn_free(g->conn);
        cm_recordio_decoder_cleanup(&g->dec);
        cm_strmap_cleanup(&g->ids);
    }
    free(e->groups);
    e->groups = NULL;
    e->ngroups = 0;
}

void emu_groups_reset(struct cm_emu *e)
{
    for (size_t k = 0; k < e->ngroups; k++) {
        struct emu_group *g = &e->groups[k];
        evtimer_del(&g->timer);
        group_close(g);
        g->backoff = e->o.backoff;
        for (int i = g->first; i < g->first + g->n; i++)
            e->agents[i].wait_group = false;
    }
}

void emu_groups_watchdog(struct cm_emu *e, double now)
{
    for (size_t k = 0; k < e->ngroups; k++) {
        struct emu_group *g = &e->groups[k];
        if (g->state != G_OPEN)
            continue;
        double interval = 0;
        for (int i = g->first; i < g->first + g->n && interval <= 0; i++)
            if (e->agents[i].state == EMU_REGISTERED)
                interval = e->agents[i].ping_interval;
        if (interval > 0 && now - g->last_event > 5 * interval) {
            e->st.silent_masters++;
            group_lost(g);
        }
    }
}

void emu_group_agent_killed(struct emu_agent *a)
{
    struct emu_group *g = a->group;
    struct cm_emu *e = g->e;
    a->wait_group = false;
    emu_group_drop_held(a);
    for (int i = g->first; i < g->first + g->n; i++)
        if (e->agents[i].state != EMU_KILLED)
            return;
    if (g->state != G_CLOSED) {
        if (g->state == G_OPEN)
            e->st.shared_stream_losses++;
        group_close(g);
    }
}

void emu_group_replay(struct emu_agent *a)
{
    struct emu_held *held = a->held;
    size_t n = a->nheld;
    bool overflow = a->held_overflow;
    a->held = NULL;
    a->nheld = 0;
    a->held_overflow = false;
    for (size_t i = 0; i < n; i++) {
        Cmesos__Internal__AgentEvent *ev =
            cmesos__internal__agent_event__unpack(NULL, held[i].len, held[i].data);
        /* Only events that reached the agent's own state machine are replayed in order; a
         * lost link stops it (the rest were meant for the link that ended). */
        if (ev && ev->has_type && a->state != EMU_IDLE && a->state != EMU_KILLED)
            member_event(a->group, a, ev);
        if (ev)
            protobuf_c_message_free_unpacked(&ev->base, NULL);
        free(held[i].data);
    }
    free(held);
    if (overflow && (a->state == EMU_REGISTERED || a->state == EMU_CONNECTING))
        emu_agent_lost(a);
}

void emu_group_drop_held(struct emu_agent *a)
{
    for (size_t i = 0; i < a->nheld; i++)
        free(a->held[i].data);
    free(a->held);
    a->held = NULL;
    a->nheld = 0;
    a->held_overflow = false;
}
