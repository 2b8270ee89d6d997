/* emulator.c: emulated agents' links, registration, the shared call connections and the
 * operator controls. Tasks and status updates are in emu_tasks.c. See emulator.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent_caps.h"
#include "clock.h"
#include "codec.h"
#include "emu_internal.h"
#include "errors.h"
#include "leader.h"
#include "log.h"
#include "resources.h"
#include "util.h"

#define MOD "emulator"
#define MAX_RECORD (16u << 20)
#define LINK_PATH "/master/api/v1/agent"

static void agent_register(struct emu_agent *a);

/* ---- distributions --------------------------------------------------------------------- */

int cm_emu_dist_parse(const char *text, struct cm_emu_dist *out, char *why, size_t whylen)
{
    char *end;
    double a, b;
    memset(out, 0, sizeof *out);
    if (strcmp(text, "forever") == 0) {
        out->kind = CM_EMU_DIST_FOREVER;
        return 0;
    }
    const char *v = text;
    if (strncmp(text, "fixed:", 6) == 0)
        v = text + 6;
    else if (strncmp(text, "uniform:", 8) == 0) {
        a = strtod(text + 8, &end);
        if (end == text + 8 || *end != ',')
            goto bad;
        const char *s = end + 1;
        b = strtod(s, &end);
        if (end == s || *end || !isfinite(a) || !isfinite(b) || a < 0 || b < a)
            goto bad;
        out->kind = CM_EMU_DIST_UNIFORM;
        out->a = a;
        out->b = b;
        return 0;
    } else if (strncmp(text, "exp:", 4) == 0 || strncmp(text, "exponential:", 12) == 0) {
        const char *s = strchr(text, ':') + 1;
        a = strtod(s, &end);
        if (end == s || *end || !isfinite(a) || a <= 0)
            goto bad;
        out->kind = CM_EMU_DIST_EXPONENTIAL;
        out->a = a;
        return 0;
    }
    a = strtod(v, &end);
    if (end == v || *end || !isfinite(a) || a < 0)
        goto bad;
    out->kind = CM_EMU_DIST_FIXED;
    out->a = a;
    return 0;
bad:
    return cm_fail(CM_EINVAL, why, whylen,
                   "Bad run time '%s': expected 'fixed:S', 'S', 'uniform:A,B' (0 <= A <= B), "
                   "'exp:MEAN' (MEAN > 0) or 'forever'",
                   text);
}

double cm_emu_dist_sample(const struct cm_emu_dist *d)
{
    switch (d->kind) {
    case CM_EMU_DIST_FIXED: return d->a;
    case CM_EMU_DIST_UNIFORM: return d->a + (d->b - d->a) * drand48();
    case CM_EMU_DIST_EXPONENTIAL: return -d->a * log(1.0 - drand48());
    case CM_EMU_DIST_FOREVER: break;
    }
    return -1;
}

/* ---- calls on the shared connections ----------------------------------------------------- */

static void pool_pump(struct cm_emu *e);

static void pool_on_head(void *arg, int status, const char *sid)
{
    (void)sid;
    ((struct emu_pool_conn *)arg)->status = status;
}

static void pool_on_body(void *arg, const uint8_t *data, size_t len)
{
    struct emu_pool_conn *p = arg;
    if (p->status >= 300)
        CM_DEBUG(MOD, "call answered %d: %.*s", p->status, (int)(len > 200 ? 200 : len),
                 (const char *)data);
}

static void pool_on_done(void *arg, int err)
{
    struct emu_pool_conn *p = arg;
    struct cm_emu *e = p->e;
    bool ok = err == 0 && p->status >= 200 && p->status < 300;
    if (ok)
        e->st.calls_ok++;
    else
        e->st.calls_failed++;
    p->status = 0;
    int reg_idx = -1;
    if (p->fn > 0) {
        reg_idx = p->fifo[p->fhead];
        p->fhead = (p->fhead + 1) % (size_t)e->o.pipeline;
        p->fn--;
    }
    /* A refused shared-stream REGISTER (its answer is the call's): the agent tries again later. */
    if (!ok && reg_idx >= 0 && e->agents[reg_idx].state == EMU_CONNECTING)
        emu_agent_lost(&e->agents[reg_idx]);
    pool_pump(e);
}

/* Forgets what a call connection had outstanding (it is being freed). */
static void pool_conn_drop(struct emu_pool_conn *p)
{
    cm_emu_conn_free(p->conn);
    p->conn = NULL;
    p->fhead = p->fn = 0;
}

static const struct cm_emu_conn_cbs pool_cbs = {pool_on_head, pool_on_body, pool_on_done};

static void call_free(struct emu_call *c)
{
    free(c); /* the body is in the same allocation */
}

/* Writes queued calls into connections with room (re-opening dead ones). */
static void pool_pump(struct cm_emu *e)
{
    if (!e->master_host[0])
        return;
    for (int i = 0; i < e->o.call_connections && e->callq_head; i++) {
        struct emu_pool_conn *p = &e->pool[i];
        if (p->conn && cm_emu_conn_dead(p->conn) && cm_emu_conn_outstanding(p->conn) == 0)
            pool_conn_drop(p);
        if (!p->conn) {
            int err = 0;
            p->conn = cm_emu_conn_new(e->base, &e->master, NULL, &pool_cbs, p, &err);
            if (!p->conn) {
                CM_WARN(MOD, "Cannot open a call connection to %s: %s", e->master_host,
                        cm_strerror(err));
                continue;
            }
        }
        while (e->callq_head && cm_emu_conn_outstanding(p->conn) < (size_t)e->o.pipeline) {
            struct emu_call *c = e->callq_head;
            e->callq_head = c->next;
            if (!e->callq_head)
                e->callq_tail = NULL;
            e->callq_n--;
            const char *hdr[] = {c->sid, NULL};
            if (cm_emu_conn_post(p->conn, e->master_host, LINK_PATH, hdr, c->body, c->len) != 0) {
                e->st.calls_failed++;
                if (c->reg_idx >= 0 && e->agents[c->reg_idx].state == EMU_CONNECTING)
                    emu_agent_lost(&e->agents[c->reg_idx]);
            } else {
                p->fifo[(p->fhead + p->fn) % (size_t)e->o.pipeline] = c->reg_idx;
                p->fn++;
            }
            call_free(c);
        }
    }
}

void emu_pool_send(struct cm_emu *e, const char *sid, const Cmesos__Internal__AgentCall *call,
                   int reg_idx)
{
    /* One allocation per call: the body follows the struct. */
    size_t len = cmesos__internal__agent_call__get_packed_size(call);
    struct emu_call *c = cm_xmalloc(sizeof *c + len);
    c->next = NULL;
    c->reg_idx = reg_idx;
    snprintf(c->sid, sizeof c->sid, "Mesos-Stream-Id: %s", sid);
    c->len = len;
    c->body = (uint8_t *)(c + 1);
    cmesos__internal__agent_call__pack(call, c->body);
    if (e->callq_tail)
        e->callq_tail->next = c;
    else
        e->callq_head = c;
    e->callq_tail = c;
    e->callq_n++;
    pool_pump(e);
}

void emu_send_call(struct emu_agent *a, Cmesos__Internal__AgentCall *call)
{
    struct cm_emu *e = a->e;
    if (a->state != EMU_REGISTERED || a->partitioned || !a->id || !e->master_host[0]) {
        e->st.calls_dropped++;
        return;
    }
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = a->id;
    call->agent_id = &aid;
    emu_pool_send(e, a->stream_id, call, -1);
    call->agent_id = NULL;
}

/* ---- launch acknowledgements, one call per agent per loop turn ---------------------------- */

void emu_queue_launch_ack(struct emu_agent *a, const char *key)
{
    if (a->nacks == a->acks_cap) {
        a->acks_cap = a->acks_cap ? a->acks_cap * 2 : 4;
        a->acks = cm_xrealloc(a->acks, a->acks_cap * sizeof *a->acks);
    }
    a->acks[a->nacks++] = cm_xstrdup(key);
    if (!a->ack_dirty) {
        a->ack_dirty = true;
        a->ack_next = a->e->ack_head;
        a->e->ack_head = a;
        event_active(a->e->ack_flush, EV_TIMEOUT, 0);
    }
}

static void agent_clear_acks(struct emu_agent *a)
{
    for (size_t i = 0; i < a->nacks; i++)
        free(a->acks[i]);
    a->nacks = 0;
}

static void ack_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_emu *e = arg;
    while (e->ack_head) {
        struct emu_agent *a = e->ack_head;
        e->ack_head = a->ack_next;
        a->ack_dirty = false;
        a->ack_next = NULL;
        if (a->nacks == 0)
            continue;
        Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
        Cmesos__Internal__AgentCall__TaskLaunchAck *v = cm_xcalloc(a->nacks, sizeof *v);
        Cmesos__Internal__AgentCall__TaskLaunchAck **pv = cm_xcalloc(a->nacks, sizeof *pv);
        Mesos__V1__FrameworkID *f = cm_xcalloc(a->nacks, sizeof *f);
        Mesos__V1__TaskID *t = cm_xcalloc(a->nacks, sizeof *t);
        for (size_t i = 0; i < a->nacks; i++) {
            char *nl = strchr(a->acks[i], '\n');
            *nl = 0;
            cmesos__internal__agent_call__task_launch_ack__init(&v[i]);
            mesos__v1__framework_id__init(&f[i]);
            mesos__v1__task_id__init(&t[i]);
            f[i].value = a->acks[i];
            t[i].value = nl + 1;
            v[i].framework_id = &f[i];
            v[i].task_id = &t[i];
            pv[i] = &v[i];
        }
        call.has_type = 1;
        call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK;
        call.task_launch_acks = pv;
        call.n_task_launch_acks = a->nacks;
        e->st.launch_ack_calls++;
        emu_send_call(a, &call);
        free(v), free(pv), free(f), free(t);
        agent_clear_acks(a);
    }
}

/* ---- the agent's event stream ------------------------------------------------------------ */

void emu_agent_set_state(struct emu_agent *a, enum emu_agent_state s)
{
    struct cm_emu *e = a->e;
    if (a->state == EMU_REGISTERED)
        e->st.registered--;
    if (a->state == EMU_KILLED)
        e->st.killed--;
    if (a->state == EMU_CONNECTING)
        e->reg_inflight--;
    a->state = s;
    if (s == EMU_REGISTERED)
        e->st.registered++;
    if (s == EMU_KILLED)
        e->st.killed++;
    if (s == EMU_CONNECTING)
        e->reg_inflight++;
}

static void agent_drop_stream(struct emu_agent *a)
{
    cm_emu_conn_free(a->stream);
    a->stream = NULL;
    a->stream_id[0] = 0;
    cm_recordio_decoder_cleanup(&a->dec);
    cm_recordio_decoder_init(&a->dec, MAX_RECORD);
}

static void agent_unpartition(struct emu_agent *a)
{
    if (!a->partitioned)
        return;
    a->partitioned = false;
    a->e->st.partitioned--;
    if (a->stream)
        cm_emu_conn_pause(a->stream, false);
    if (a->group)
        emu_group_replay(a); /* may lose the link (LINK_CLOSED came meanwhile) */
    if (a->state == EMU_REGISTERED)
        emu_task_resend_all(a);
    else if (a->state == EMU_IDLE) {
        /* The partition's timer replaced a pending re-registration. */
        emu_regq_push(a);
        emu_regq_pump(a->e);
    }
}

void emu_regq_push(struct emu_agent *a)
{
    struct cm_emu *e = a->e;
    if (a->queued)
        return;
    a->queued = true;
    e->regq[(e->regq_head + e->regq_n) % (size_t)e->o.agents] = a->idx;
    e->regq_n++;
}

/* Registers again after a random delay in [0, backoff]; the back-off doubles up to 60 s. */
static void agent_reconnect_later(struct emu_agent *a)
{
    double delay = a->backoff * drand48();
    a->backoff *= 2;
    if (a->backoff > 60)
        a->backoff = 60;
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (time_t)delay) * 1e6)};
    evtimer_add(&a->timer, &tv);
}

void emu_agent_lost(struct emu_agent *a)
{
    struct cm_emu *e = a->e;
    if (a->state == EMU_REGISTERED)
        e->st.stream_losses++;
    else if (a->state == EMU_CONNECTING)
        e->st.register_failures++;
    agent_drop_stream(a);
    if (a->state == EMU_KILLED)
        return;
    emu_agent_set_state(a, EMU_IDLE);
    agent_reconnect_later(a);
    emu_regq_pump(e);
}

static void handle_registered(struct emu_agent *a,
                              const Cmesos__Internal__AgentEvent__Registered *r)
{
    struct cm_emu *e = a->e;
    if (!r || !r->agent_id || !r->agent_id->value)
        return;
    if (!a->id || strcmp(a->id, r->agent_id->value) != 0) {
        free(a->id);
        a->id = cm_xstrdup(r->agent_id->value);
    }
    a->backoff = e->o.backoff;
    a->ping_interval = r->has_ping_interval_seconds && r->ping_interval_seconds > 0
                           ? r->ping_interval_seconds
                           : 15;
    e->st.registrations++;
    if (a->state == EMU_CONNECTING) {
        emu_agent_set_state(a, EMU_REGISTERED);
        if (!a->ever_registered) {
            a->ever_registered = true;
            if (++e->first_registered == e->o.agents)
                e->st.first_register_secs = cm_monotonic_secs() - e->t_start;
        }
        emu_task_resend_all(a);
    }
    emu_regq_pump(e);
}

int emu_agent_dispatch(struct emu_agent *a, const Cmesos__Internal__AgentEvent *ev)
{
    struct cm_emu *e = a->e;
    int rc = 0;
    switch (ev->type) {
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED:
        handle_registered(a, ev->registered);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING: {
        e->st.pings++;
        Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
        call.has_type = 1;
        call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG;
        e->st.pongs++;
        emu_send_call(a, &call);
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK:
        if (ev->run_task && ev->run_task->task && ev->run_task->framework_info)
            emu_task_run(a, ev->run_task);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK:
        if (ev->kill_task && ev->kill_task->framework_id && ev->kill_task->task_id)
            emu_task_kill(a, ev->kill_task->framework_id->value, ev->kill_task->task_id->value);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE:
        if (ev->acknowledge && ev->acknowledge->framework_id && ev->acknowledge->task_id)
            emu_task_acknowledge(a, ev->acknowledge);
        for (size_t i = 0; i < ev->n_acknowledges; i++)
            emu_task_acknowledge(a, ev->acknowledges[i]);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK:
        if (ev->shutdown_framework && ev->shutdown_framework->framework_id)
            emu_task_shutdown_framework(a, ev->shutdown_framework->framework_id->value);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_EXECUTOR:
        if (ev->shutdown_executor && ev->shutdown_executor->framework_id &&
            ev->shutdown_executor->executor_id)
            emu_task_shutdown_executor(a, ev->shutdown_executor->framework_id->value,
                                       ev->shutdown_executor->executor_id->value);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK:
        if (ev->update_framework && ev->update_framework->framework_info)
            emu_task_update_framework(e, ev->update_framework->framework_info);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN:
        CM_WARN(MOD, "Agent %d (%s) told to shut down: %s", a->idx, a->id ? a->id : "",
                ev->message ? ev->message : "(no reason)");
        e->st.shutdowns++;
        rc = 2;
        break;
    default: break;
    }
    return rc;
}

static int on_record(void *arg, const uint8_t *data, size_t len)
{
    struct emu_agent *a = arg;
    a->last_event = cm_monotonic_secs();
    struct cm_emu_arena *arena = &a->e->arena;
    Cmesos__Internal__AgentEvent *ev =
        cmesos__internal__agent_event__unpack(cm_emu_arena_allocator(arena), len, data);
    if (!ev) {
        cm_emu_arena_reset(arena);
        CM_WARN(MOD, "Agent %d: undecodable event from the master; re-registering", a->idx);
        return 1;
    }
    int rc = 0;
    if (ev->has_type &&
        (a->state == EMU_REGISTERED || ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED))
        rc = emu_agent_dispatch(a, ev);
    cm_emu_arena_reset(arena);
    return rc;
}

void emu_agent_shut_down(struct emu_agent *a)
{
    agent_drop_stream(a);
    emu_task_drop_all(a);
    emu_agent_set_state(a, EMU_KILLED);
    emu_regq_pump(a->e);
}

static void stream_on_head(void *arg, int status, const char *sid)
{
    struct emu_agent *a = arg;
    a->stream_status = status;
    if (status == 200 && sid)
        snprintf(a->stream_id, sizeof a->stream_id, "%s", sid);
    else if (status != 200)
        CM_DEBUG(MOD, "Agent %d: REGISTER answered %d", a->idx, status);
}

static void stream_on_body(void *arg, const uint8_t *data, size_t len)
{
    struct emu_agent *a = arg;
    if (a->stream_status != 200)
        return;
    int rc = cm_recordio_feed(&a->dec, data, len, on_record, a);
    if (rc == 2) {
        /* SHUTDOWN: this agent is gone for good (until an operator restart). */
        emu_agent_shut_down(a);
    } else if (rc != 0) {
        emu_agent_lost(a);
    }
}

static void stream_on_done(void *arg, int err)
{
    (void)err;
    emu_agent_lost(arg);
}

static const struct cm_emu_conn_cbs stream_cbs = {stream_on_head, stream_on_body, stream_on_done};

static void agent_register(struct emu_agent *a)
{
    struct cm_emu *e = a->e;
    if (a->state == EMU_KILLED || a->state == EMU_CONNECTING || a->state == EMU_REGISTERED)
        return;
    if (!e->master_host[0])
        return;
    const char *sid = NULL;
    if (a->group && !(sid = emu_group_ready(a)))
        return; /* registers once its shared stream is open */
    agent_drop_stream(a);
    char host[128], pid[160];
    int idx = e->o.first_index + a->idx;
    int port = 1024 + idx % 60000;
    char ip[INET_ADDRSTRLEN] = "127.0.0.1";
    if (a->src)
        inet_ntop(AF_INET, &a->src->sin_addr, ip, sizeof ip);
    snprintf(host, sizeof host, "%s-%d", e->hostname_prefix, idx);
    snprintf(pid, sizeof pid, "slave(1)@%s:%d", ip, port);

    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__Register reg = CMESOS__INTERNAL__AGENT_CALL__REGISTER__INIT;
    Mesos__V1__AgentInfo ai = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    struct cm_agent_caps caps;
    size_t ncaps = cm_agent_caps_fill(&caps);
    ai.hostname = host;
    ai.has_port = 1;
    ai.port = port;
    ai.resources = e->res;
    ai.n_resources = e->nres;
    ai.attributes = e->attrs;
    ai.n_attributes = e->nattrs;
    struct emu_report rep;
    memset(&rep, 0, sizeof rep);
    if (a->id) {
        aid.value = a->id;
        ai.id = &aid;
        call.agent_id = &aid;
        emu_task_report(a, &rep);
        reg.tasks = rep.tasks;
        reg.n_tasks = rep.ntasks;
        reg.executors = rep.execs;
        reg.n_executors = rep.nexecs;
        reg.frameworks = rep.fws;
        reg.n_frameworks = rep.nfws;
    }
    reg.agent_info = &ai;
    reg.version = "1.11.0";
    reg.capabilities = caps.p;
    reg.n_capabilities = ncaps;
    reg.pid = pid;
    reg.address_ip = ip;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER;
    call.register_ = &reg;
    if (a->group) {
        /* A call naming the shared stream; REGISTERED comes on that stream with our tag. */
        char tag[16];
        snprintf(tag, sizeof tag, "%d", a->idx);
        reg.stream_id = (char *)sid;
        reg.tag = tag;
        snprintf(a->stream_id, sizeof a->stream_id, "%s", sid);
        emu_pool_send(e, sid, &call, a->idx);
        emu_task_report_free(&rep);
        emu_agent_set_state(a, EMU_CONNECTING);
        return;
    }
    size_t len = cmesos__internal__agent_call__get_packed_size(&call);
    uint8_t *body = cm_xmalloc(len);
    cmesos__internal__agent_call__pack(&call, body);
    emu_task_report_free(&rep);

    int err = 0;
    a->stream_status = 0;
    a->stream = cm_emu_conn_new(e->base, &e->master, a->src, &stream_cbs, a, &err);
    if (!a->stream ||
        cm_emu_conn_post(a->stream, e->master_host, LINK_PATH, NULL, body, len) != 0) {
        CM_WARN(MOD, "Agent %d: cannot connect to %s: %s", a->idx, e->master_host,
                cm_strerror(err));
        free(body);
        e->st.register_failures++;
        agent_drop_stream(a);
        agent_reconnect_later(a);
        return;
    }
    free(body);
    if (a->partitioned)
        cm_emu_conn_pause(a->stream, true);
    emu_agent_set_state(a, EMU_CONNECTING);
}

/* Starts queued registrations while fewer than register_concurrency are in flight. */
void emu_regq_pump(struct cm_emu *e)
{
    while (e->regq_n > 0 && e->reg_inflight < e->o.register_concurrency) {
        struct emu_agent *a = &e->agents[e->regq[e->regq_head]];
        e->regq_head = (e->regq_head + 1) % (size_t)e->o.agents;
        e->regq_n--;
        a->queued = false;
        agent_register(a);
    }
}

static void agent_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct emu_agent *a = arg;
    if (a->partitioned) {
        agent_unpartition(a);
        return;
    }
    if (a->state == EMU_IDLE) {
        emu_regq_push(a);
        emu_regq_pump(a->e);
    }
}

/* A real agent takes 5 ping intervals without any event from the master as a dead link
 * (agent-link.md): it drops the stream and registers again. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_emu *e = arg;
    double now = cm_monotonic_secs();
    for (int i = 0; i < e->o.agents; i++) {
        struct emu_agent *a = &e->agents[i];
        if (a->state != EMU_REGISTERED || a->partitioned || a->ping_interval <= 0 || a->group)
            continue;
        if (now - a->last_event > 5 * a->ping_interval) {
            e->st.silent_masters++;
            emu_agent_lost(a);
        }
    }
    emu_groups_watchdog(e, now);
}

/* ---- leader ----------------------------------------------------------------------------- */

static void on_leader(void *arg, const Mesos__V1__MasterInfo *mi)
{
    struct cm_emu *e = arg;
    char next[64] = "";
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (mi && mi->address && mi->address->ip &&
        inet_pton(AF_INET, mi->address->ip, &sa.sin_addr) == 1) {
        unsigned port = mi->address->port ? (unsigned)mi->address->port : (unsigned)mi->port;
        sa.sin_port = htons((uint16_t)port);
        snprintf(next, sizeof next, "%s:%u", mi->address->ip, port);
    } else if (mi && mi->ip) {
        sa.sin_addr.s_addr = mi->ip; /* network order, as Mesos keeps it */
        sa.sin_port = htons((uint16_t)mi->port);
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
        snprintf(next, sizeof next, "%s:%u", ip, (unsigned)mi->port);
    }
    if (strcmp(next, e->master_host) == 0)
        return;
    CM_INFO(MOD, "Leading master: %s", next[0] ? next : "(none)");
    e->st.leader_changes++;
    snprintf(e->master_host, sizeof e->master_host, "%s", next);
    e->master = sa;
    /* The call connections go to the old leader: drop them (and their queue). */
    for (int i = 0; i < e->o.call_connections; i++)
        pool_conn_drop(&e->pool[i]);
    emu_groups_reset(e);
    while (e->callq_head) {
        struct emu_call *c = e->callq_head;
        e->callq_head = c->next;
        call_free(c);
        e->st.calls_dropped++;
    }
    e->callq_tail = NULL;
    e->callq_n = 0;
    /* Every live agent re-registers with the new leader at once (through the queue). */
    for (int i = 0; i < e->o.agents; i++) {
        struct emu_agent *a = &e->agents[i];
        if (a->state == EMU_KILLED)
            continue;
        agent_drop_stream(a);
        emu_agent_set_state(a, EMU_IDLE);
        evtimer_del(&a->timer);
        a->backoff = e->o.backoff;
        if (next[0])
            emu_regq_push(a);
    }
    if (next[0])
        emu_regq_pump(e);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static int parse_attributes(struct cm_emu *e, const char *text, char *why, size_t whylen)
{
    if (!text || !*text)
        return 0;
    char *copy = cm_xstrdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(tok, ':');
        if (!colon || colon == tok || !colon[1]) {
            int rc =
                cm_fail(CM_EINVAL, why, whylen, "Bad attribute '%s': expected name:value", tok);
            free(copy); /* tok points into it */
            return rc;
        }
        *colon = 0;
        Mesos__V1__Attribute *at = cm_xcalloc(1, sizeof *at);
        mesos__v1__attribute__init(at);
        at->name = cm_xstrdup(tok);
        at->type = MESOS__V1__VALUE__TYPE__TEXT;
        at->text = cm_xcalloc(1, sizeof *at->text);
        mesos__v1__value__text__init(at->text);
        at->text->value = cm_xstrdup(colon + 1);
        e->attrs = cm_xrealloc(e->attrs, (e->nattrs + 1) * sizeof *e->attrs);
        e->attrs[e->nattrs++] = at;
    }
    free(copy);
    return 0;
}

static int parse_sources(struct cm_emu *e, const char *text, char *why, size_t whylen)
{
    if (!text || !*text)
        return 0;
    char *copy = cm_xstrdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, tok, &sa.sin_addr) != 1) {
            int rc = cm_fail(CM_EINVAL, why, whylen, "Bad source IP '%s'", tok);
            free(copy); /* tok points into it */
            return rc;
        }
        e->srcs = cm_xrealloc(e->srcs, (e->nsrcs + 1) * sizeof *e->srcs);
        e->srcs[e->nsrcs++] = sa;
    }
    free(copy);
    return 0;
}

struct cm_emu *cm_emu_new(struct event_base *base, const struct cm_emu_opts *opts, char *why,
                          size_t whylen)
{
    if (!opts->master || opts->agents < 1 || opts->register_concurrency < 1 ||
        opts->call_connections < 1 || opts->pipeline < 1 || opts->update_retry <= 0 ||
        opts->backoff <= 0 || opts->agents_per_stream < 0 || opts->agents_per_stream > 10000) {
        cm_fail(CM_EINVAL, why, whylen,
                "Need a master, agents >= 1, register_concurrency >= 1, call_connections >= 1, "
                "pipeline >= 1, positive update_retry and backoff, and agents_per_stream in "
                "0-10000");
        return NULL;
    }
    struct cm_emu *e = cm_xcalloc(1, sizeof *e);
    e->base = base;
    e->o = *opts;
    e->master_spec = cm_xstrdup(opts->master);
    e->hostname_prefix = cm_xstrdup(opts->hostname_prefix ? opts->hostname_prefix : "emu");
    e->o.master = e->master_spec;
    e->o.hostname_prefix = e->hostname_prefix;
    e->o.resources = e->o.attributes = e->o.source_ips = NULL;
    cm_strmap_init(&e->tasks);
    cm_emu_arena_init(&e->arena, 0);
    while (getrandom(&e->rng, sizeof e->rng, 0) != (ssize_t)sizeof e->rng)
        ;
    cm_strmap_init(&e->frameworks);
    struct cm_resources r;
    cm_resources_init(&r);
    int rc = cm_resources_parse(
        &r, opts->resources ? opts->resources : "cpus:4;mem:8192;disk:10240", NULL, why, whylen);
    if (rc == 0)
        cm_resources_to_proto(&r, NULL, &e->res, &e->nres);
    cm_resources_cleanup(&r);
    if (rc == 0)
        rc = parse_attributes(e, opts->attributes, why, whylen);
    if (rc == 0)
        rc = parse_sources(e, opts->source_ips, why, whylen);
    if (rc != 0) {
        cm_emu_free(e);
        return NULL;
    }
    e->det = cm_leader_detector_new(base, opts->master,
                                    opts->zk_session_timeout > 0 ? opts->zk_session_timeout : 10,
                                    on_leader, e, why, whylen);
    if (!e->det) {
        cm_emu_free(e);
        return NULL;
    }
    e->ack_flush = event_new(base, -1, 0, ack_flush_cb, e);
    e->watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, e);
    struct timeval one = {1, 0};
    event_add(e->watchdog, &one);
    e->pool = cm_xcalloc((size_t)opts->call_connections, sizeof *e->pool);
    for (int i = 0; i < opts->call_connections; i++) {
        e->pool[i].e = e;
        e->pool[i].fifo = cm_xcalloc((size_t)opts->pipeline, sizeof *e->pool[i].fifo);
    }
    e->regq = cm_xcalloc((size_t)opts->agents, sizeof *e->regq);
    e->agents = cm_xcalloc((size_t)opts->agents, sizeof *e->agents);
    for (int i = 0; i < opts->agents; i++) {
        struct emu_agent *a = &e->agents[i];
        a->e = e;
        a->idx = i;
        a->backoff = opts->backoff;
        a->src = e->nsrcs ? &e->srcs[(size_t)i % e->nsrcs] : NULL;
        cm_recordio_decoder_init(&a->dec, MAX_RECORD);
        evtimer_assign(&a->timer, base, agent_timer_cb, a);
    }
    if (opts->agents_per_stream > 1)
        emu_groups_init(e, opts->agents_per_stream);
    e->st.agents = opts->agents;
    return e;
}

int cm_emu_start(struct cm_emu *e)
{
    e->t_start = cm_monotonic_secs();
    for (int i = 0; i < e->o.agents; i++)
        emu_regq_push(&e->agents[i]);
    return cm_leader_detector_start(e->det);
}

void cm_emu_free(struct cm_emu *e)
{
    if (!e)
        return;
    cm_leader_detector_free(e->det);
    if (e->agents) {
        for (int i = 0; i < e->o.agents; i++) {
            struct emu_agent *a = &e->agents[i];
            emu_task_drop_all(a);
            cm_emu_conn_free(a->stream);
            cm_recordio_decoder_cleanup(&a->dec);
            evtimer_del(&a->timer);
            agent_clear_acks(a);
            free(a->acks);
            free(a->id);
            emu_group_drop_held(a);
        }
    }
    emu_groups_free(e);
    for (int i = 0; e->pool && i < e->o.call_connections; i++) {
        cm_emu_conn_free(e->pool[i].conn);
        free(e->pool[i].fifo);
    }
    while (e->callq_head) {
        struct emu_call *c = e->callq_head;
        e->callq_head = c->next;
        call_free(c);
    }
    if (e->ack_flush)
        event_free(e->ack_flush);
    if (e->watchdog)
        event_free(e->watchdog);
    emu_task_free_frameworks(e);
    emu_task_free_flush(e);
    cm_strmap_cleanup(&e->tasks);
    cm_emu_arena_free(&e->arena);
    cm_resources_proto_free(e->res, e->nres);
    for (size_t i = 0; i < e->nattrs; i++)
        protobuf_c_message_free_unpacked(&e->attrs[i]->base, NULL);
    free(e->attrs);
    free(e->srcs);
    free(e->pool);
    free(e->regq);
    free(e->agents);
    free(e->master_spec);
    free(e->hostname_prefix);
    free(e);
}

/* ---- stats and controls ------------------------------------------------------------------ */

void cm_emu_stats(const struct cm_emu *e, struct cm_emu_stats *out)
{
    *out = e->st;
    out->tasks_active = cm_strmap_count(&e->tasks);
}

char *cm_emu_stats_json(const struct cm_emu *e)
{
    struct cm_emu_stats s;
    cm_emu_stats(e, &s);
    return cm_xasprintf(
        "{\"agents\":%d,\"registered\":%d,\"killed\":%d,\"partitioned\":%d,"
        "\"registrations\":%llu,\"register_failures\":%llu,\"stream_losses\":%llu,"
        "\"tasks_active\":%llu,\"tasks_launched\":%llu,\"tasks_terminal\":%llu,"
        "\"tasks_killed\":%llu,\"run_task_duplicates\":%llu,\"kill_unknown\":%llu,"
        "\"updates_sent\":%llu,\"update_retries\":%llu,\"acks\":%llu,\"pings\":%llu,"
        "\"pongs\":%llu,\"launch_ack_calls\":%llu,\"calls_ok\":%llu,\"calls_failed\":%llu,"
        "\"calls_dropped\":%llu,\"calls_queued\":%zu,\"shutdowns\":%llu,\"leader_changes\":%llu,"
        "\"silent_masters\":%llu,\"shared_streams\":%d,\"shared_stream_losses\":%llu,"
        "\"links_closed\":%llu,"
        "\"first_register_secs\":%.3f,\"master\":\"%s\"}",
        s.agents, s.registered, s.killed, s.partitioned, (unsigned long long)s.registrations,
        (unsigned long long)s.register_failures, (unsigned long long)s.stream_losses,
        (unsigned long long)s.tasks_active, (unsigned long long)s.tasks_launched,
        (unsigned long long)s.tasks_terminal, (unsigned long long)s.tasks_killed,
        (unsigned long long)s.run_task_duplicates, (unsigned long long)s.kill_unknown,
        (unsigned long long)s.updates_sent, (unsigned long long)s.update_retries,
        (unsigned long long)s.acks, (unsigned long long)s.pings, (unsigned long long)s.pongs,
        (unsigned long long)s.launch_ack_calls, (unsigned long long)s.calls_ok,
        (unsigned long long)s.calls_failed, (unsigned long long)s.calls_dropped, e->callq_n,
        (unsigned long long)s.shutdowns, (unsigned long long)s.leader_changes,
        (unsigned long long)s.silent_masters, s.shared_streams,
        (unsigned long long)s.shared_stream_losses, (unsigned long long)s.links_closed,
        s.first_register_secs, e->master_host);
}

static int parse_range(const struct cm_emu *e, const char *text, int *lo, int *hi)
{
    if (!text)
        return CM_EINVAL;
    if (strcmp(text, "all") == 0) {
        *lo = 0;
        *hi = e->o.agents - 1;
        return 0;
    }
    char *end;
    long a = strtol(text, &end, 10), b = a;
    if (end == text)
        return CM_EINVAL;
    if (*end == '-') {
        const char *s = end + 1;
        b = strtol(s, &end, 10);
        if (end == s)
            return CM_EINVAL;
    }
    if (*end || a < 0 || b < a || b >= e->o.agents)
        return CM_EINVAL;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

static void agent_kill(struct emu_agent *a)
{
    if (a->state == EMU_KILLED)
        return;
    if (a->state == EMU_REGISTERED)
        a->e->st.stream_losses++;
    agent_drop_stream(a);
    evtimer_del(&a->timer);
    agent_clear_acks(a);
    emu_agent_set_state(a, EMU_KILLED);
    if (a->group)
        emu_group_agent_killed(a);
}

static void agent_restart(struct emu_agent *a)
{
    agent_drop_stream(a);
    evtimer_del(&a->timer);
    if (a->partitioned) {
        a->partitioned = false;
        a->e->st.partitioned--;
    }
    emu_group_drop_held(a);
    emu_agent_set_state(a, EMU_IDLE);
    a->backoff = a->e->o.backoff;
    emu_regq_push(a);
}

static void agent_partition(struct emu_agent *a, double secs)
{
    struct cm_emu *e = a->e;
    if (!a->partitioned) {
        a->partitioned = true;
        e->st.partitioned++;
    }
    if (a->stream)
        cm_emu_conn_pause(a->stream, true);
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6)};
    evtimer_add(&a->timer, &tv);
}

int cm_emu_command(struct cm_emu *e, const char *line, char *out, size_t outlen)
{
    char verb[32] = "", arg1[64] = "", arg2[64] = "";
    int n = sscanf(line, "%31s %63s %63s", verb, arg1, arg2);
    if (n < 1) {
        snprintf(out, outlen, "error: empty command");
        return CM_EINVAL;
    }
    if (strcmp(verb, "stats") == 0) {
        char *j = cm_emu_stats_json(e);
        snprintf(out, outlen, "%s", j);
        free(j);
        return 0;
    }
    int lo, hi;
    bool known = strcmp(verb, "kill") == 0 || strcmp(verb, "restart") == 0 ||
                 strcmp(verb, "partition") == 0 || strcmp(verb, "heal") == 0;
    if (!known) {
        snprintf(out, outlen, "error: unknown command '%s' (kill, restart, partition, heal, stats)",
                 verb);
        return CM_EINVAL;
    }
    if (n < 2 || parse_range(e, arg1, &lo, &hi) != 0) {
        snprintf(out, outlen, "error: '%s' needs agents: an index, a range A-B within 0-%d, or all",
                 verb, e->o.agents - 1);
        return CM_EINVAL;
    }
    double secs = 0;
    if (strcmp(verb, "partition") == 0) {
        char *end;
        secs = n >= 3 ? strtod(arg2, &end) : -1;
        if (n < 3 || *end || !isfinite(secs) || secs <= 0 || secs > 86400) {
            snprintf(out, outlen,
                     "error: 'partition' needs a duration in seconds (0 < s <= 86400)");
            return CM_EINVAL;
        }
    }
    for (int i = lo; i <= hi; i++) {
        struct emu_agent *a = &e->agents[i];
        if (verb[0] == 'k')
            agent_kill(a);
        else if (verb[0] == 'r')
            agent_restart(a);
        else if (verb[0] == 'p')
            agent_partition(a, secs);
        else {
            evtimer_del(&a->timer);
            agent_unpartition(a);
        }
    }
    if (verb[0] == 'r')
        emu_regq_pump(e);
    snprintf(out, outlen, "ok %s %d agents", verb, hi - lo + 1);
    return 0;
}
