/* registrar.c: see registrar.h. */
#include "registrar.h"

#include <event2/event.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "cmesos/registry.pb-c.h"
#include "errors.h"
#include "log.h"
#include "pbjson.h"
#include "util.h"

#define MOD "registrar"

/* ------------------------------------------------------------------------------------------ */
/* the registrar */

enum op_kind { OP_ADMIT, OP_UNREACHABLE, OP_REMOVE, OP_GC, OP_GONE, OP_WEIGHTS, OP_STATE };

struct op {
    enum op_kind kind;
    Mesos__V1__AgentInfo *info; /* OP_ADMIT (owned) */
    char *id;
    double time, max_age;
    size_t max_count, *pruned;
    char **roles;                 /* OP_WEIGHTS (owned) */
    double *weights;              /* OP_WEIGHTS (owned) */
    size_t n;                     /* OP_WEIGHTS */
    struct cm_reg_agent_state st; /* OP_STATE */
    cm_registrar_done_cb cb;
    void *arg;
    struct op *next;
};

struct cm_registrar {
    struct cm_registry_storage *storage;
    struct cm_strmap admitted;    /* id -> Mesos__V1__AgentInfo* (owned) */
    struct cm_strmap unreachable; /* id -> struct cm_reg_unreachable* */
    struct cm_reg_unreachable *uhead, *utail;
    struct cm_strmap gone;    /* id -> double* */
    struct cm_strmap weights; /* role -> double* */
    struct cm_strmap astate;  /* id -> struct cm_reg_agent_state* (admitted or unreachable) */
    uint64_t version;
    bool recovered, failed, busy, draining;
    unsigned held;    /* cm_registrar_hold depth: nothing is stored while > 0 */
    size_t batch;     /* operations covered by the store in flight (the first ones queued) */
    void *recovering; /* the recover context while a fetch is in flight (async storages) */
    int fail_err;
    struct op *qhead, *qtail;
    size_t queued;
    struct cm_registrar_stats stats;
    double store_started;
    struct event *defer; /* cm_registrar_set_loop: queued operations are stored at turn end */
    bool defer_armed;
};

struct cm_registrar *cm_registrar_new(struct cm_registry_storage *storage)
{
    struct cm_registrar *r = cm_xcalloc(1, sizeof *r);
    r->storage = storage;
    cm_strmap_init(&r->admitted);
    cm_strmap_init(&r->unreachable);
    cm_strmap_init(&r->gone);
    cm_strmap_init(&r->weights);
    cm_strmap_init(&r->astate);
    return r;
}

static void unreach_unlink(struct cm_registrar *r, struct cm_reg_unreachable *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        r->uhead = u->next;
    if (u->next)
        u->next->prev = u->prev;
    else
        r->utail = u->prev;
    free(u->id);
    free(u);
}

static void unreach_add(struct cm_registrar *r, const char *id, double time)
{
    struct cm_reg_unreachable *old = cm_strmap_remove(&r->unreachable, id);
    if (old)
        unreach_unlink(r, old);
    struct cm_reg_unreachable *u = cm_xcalloc(1, sizeof *u);
    u->id = cm_xstrdup(id);
    u->time = time;
    u->prev = r->utail;
    if (r->utail)
        r->utail->next = u;
    else
        r->uhead = u;
    r->utail = u;
    cm_strmap_put(&r->unreachable, u->id, u);
}

static void unreach_remove(struct cm_registrar *r, const char *id)
{
    struct cm_reg_unreachable *u = cm_strmap_remove(&r->unreachable, id);
    if (u)
        unreach_unlink(r, u);
}

static void astate_remove(struct cm_registrar *r, const char *id)
{
    free(cm_strmap_remove(&r->astate, id));
}

static const struct cm_reg_agent_state state_none;

static bool state_eq(const struct cm_reg_agent_state *a, const struct cm_reg_agent_state *b)
{
    return a->deactivated == b->deactivated && a->drain_state == b->drain_state &&
           a->has_grace == b->has_grace && (!a->has_grace || a->grace_ns == b->grace_ns) &&
           a->mark_gone == b->mark_gone;
}

static void astate_put(struct cm_registrar *r, const char *id, const struct cm_reg_agent_state *st)
{
    if (state_eq(st, &state_none)) {
        astate_remove(r, id);
        return;
    }
    struct cm_reg_agent_state *c = cm_xcalloc(1, sizeof *c);
    *c = *st;
    free(cm_strmap_put(&r->astate, id, c));
}

static void admitted_remove(struct cm_registrar *r, const char *id)
{
    Mesos__V1__AgentInfo *info = cm_strmap_remove(&r->admitted, id);
    if (info)
        protobuf_c_message_free_unpacked(&info->base, NULL);
}

/* A free function for maps of messages (protobuf_c_message_free_unpacked takes two arguments). */
static void pb_free_message(void *msg)
{
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void clear_registry(struct cm_registrar *r)
{
    cm_strmap_cleanup_values(&r->admitted, pb_free_message);
    while (r->uhead) {
        cm_strmap_remove(&r->unreachable, r->uhead->id);
        unreach_unlink(r, r->uhead);
    }
    cm_strmap_cleanup(&r->unreachable);
    cm_strmap_cleanup_values(&r->gone, free);
    cm_strmap_cleanup_values(&r->weights, free);
    cm_strmap_cleanup_values(&r->astate, free);
}

static void op_free(struct op *o)
{
    if (!o)
        return;
    if (o->info)
        protobuf_c_message_free_unpacked(&o->info->base, NULL);
    for (size_t i = 0; o->roles && i < o->n; i++)
        free(o->roles[i]);
    free(o->roles);
    free(o->weights);
    free(o->id);
    free(o);
}

void cm_registrar_free(struct cm_registrar *r)
{
    if (!r)
        return;
    if (r->defer)
        event_free(r->defer);
    while (r->qhead) {
        struct op *o = r->qhead;
        r->qhead = o->next;
        op_free(o);
    }
    free(r->recovering);
    clear_registry(r);
    cm_registry_storage_free(r->storage);
    free(r);
}

/* A deep copy of a message that was already checked (decoded through codec.h, or our own). */
static Mesos__V1__AgentInfo *info_dup(const Mesos__V1__AgentInfo *info)
{
    return cm_pb_dup(&info->base);
}

static void time_of(double secs, Mesos__V1__TimeInfo *t)
{
    mesos__v1__time_info__init(t);
    t->nanoseconds = (int64_t)(secs * 1e9);
}

/* The protobuf form of an agent's drain state, in storage the caller provides. */
struct packed_drain {
    Mesos__V1__DrainInfo info;
    Mesos__V1__DrainConfig config;
    Mesos__V1__DurationInfo grace;
};

static Mesos__V1__DrainInfo *pack_drain(const struct cm_reg_agent_state *st,
                                        struct packed_drain *pd,
                                        protobuf_c_boolean *has_deactivated,
                                        protobuf_c_boolean *deactivated)
{
    if (!st)
        return NULL;
    *has_deactivated = st->deactivated;
    *deactivated = st->deactivated;
    if (st->drain_state == 0)
        return NULL;
    mesos__v1__drain_info__init(&pd->info);
    mesos__v1__drain_config__init(&pd->config);
    mesos__v1__duration_info__init(&pd->grace);
    pd->info.state = (Mesos__V1__DrainState)st->drain_state;
    pd->info.config = &pd->config;
    if (st->has_grace) {
        pd->grace.nanoseconds = st->grace_ns;
        pd->config.max_grace_period = &pd->grace;
    }
    pd->config.has_mark_gone = st->mark_gone;
    pd->config.mark_gone = st->mark_gone;
    return &pd->info;
}

/* Reads an agent's drain state back (checked: the registry is outside input). */
static int load_state(struct cm_registrar *r, const char *id, const Mesos__V1__DrainInfo *di,
                      protobuf_c_boolean deactivated, char *why, size_t whylen)
{
    struct cm_reg_agent_state st = {.deactivated = deactivated};
    if (di) {
        if (di->state != MESOS__V1__DRAIN_STATE__DRAINING &&
            di->state != MESOS__V1__DRAIN_STATE__DRAINED)
            return cm_fail(CM_EPARSE, why, whylen, "agent %s has drain_info.state %d", id,
                           (int)di->state);
        st.drain_state = (int)di->state;
        if (di->config->max_grace_period) {
            if (di->config->max_grace_period->nanoseconds < 0)
                return cm_fail(CM_EPARSE, why, whylen,
                               "agent %s has a negative drain max_grace_period", id);
            st.has_grace = true;
            st.grace_ns = di->config->max_grace_period->nanoseconds;
        }
        st.mark_gone = di->config->has_mark_gone && di->config->mark_gone;
    }
    astate_put(r, id, &st);
    return 0;
}

/* Packs the current registry. Caller frees *out. */
static void pack_registry(struct cm_registrar *r, uint8_t **out, size_t *outlen)
{
    Cmesos__Internal__Registry reg = CMESOS__INTERNAL__REGISTRY__INIT;
    reg.has_version = 1;
    reg.version = r->version + 1;
    size_t na = cm_strmap_count(&r->admitted), nu = cm_strmap_count(&r->unreachable),
           ng = cm_strmap_count(&r->gone), i = 0;
    Cmesos__Internal__Registry__Agent *agents = cm_xcalloc(na, sizeof *agents);
    struct packed_drain *pds = cm_xcalloc(na + nu, sizeof *pds);
    reg.agents = cm_xcalloc(na, sizeof *reg.agents);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &r->admitted); cm_strmap_iter_next(&it); i++) {
        cmesos__internal__registry__agent__init(&agents[i]);
        agents[i].info = it.cur->value;
        agents[i].drain_info = pack_drain(cm_strmap_get(&r->astate, it.cur->key), &pds[i],
                                          &agents[i].has_deactivated, &agents[i].deactivated);
        reg.agents[i] = &agents[i];
    }
    reg.n_agents = na;
    Cmesos__Internal__Registry__UnreachableAgent *un = cm_xcalloc(nu, sizeof *un);
    Mesos__V1__AgentID *uids = cm_xcalloc(nu, sizeof *uids);
    Mesos__V1__TimeInfo *utimes = cm_xcalloc(nu, sizeof *utimes);
    reg.unreachable = cm_xcalloc(nu, sizeof *reg.unreachable);
    i = 0;
    for (struct cm_reg_unreachable *u = r->uhead; u; u = u->next, i++) {
        cmesos__internal__registry__unreachable_agent__init(&un[i]);
        mesos__v1__agent_id__init(&uids[i]);
        uids[i].value = u->id;
        time_of(u->time, &utimes[i]);
        un[i].id = &uids[i];
        un[i].timestamp = &utimes[i];
        un[i].drain_info = pack_drain(cm_strmap_get(&r->astate, u->id), &pds[na + i],
                                      &un[i].has_deactivated, &un[i].deactivated);
        reg.unreachable[i] = &un[i];
    }
    reg.n_unreachable = nu;
    Cmesos__Internal__Registry__GoneAgent *gone = cm_xcalloc(ng, sizeof *gone);
    Mesos__V1__AgentID *gids = cm_xcalloc(ng, sizeof *gids);
    Mesos__V1__TimeInfo *gtimes = cm_xcalloc(ng, sizeof *gtimes);
    reg.gone = cm_xcalloc(ng, sizeof *reg.gone);
    i = 0;
    for (cm_strmap_iter_init(&it, &r->gone); cm_strmap_iter_next(&it); i++) {
        cmesos__internal__registry__gone_agent__init(&gone[i]);
        mesos__v1__agent_id__init(&gids[i]);
        gids[i].value = (char *)it.cur->key;
        time_of(*(double *)it.cur->value, &gtimes[i]);
        gone[i].id = &gids[i];
        gone[i].timestamp = &gtimes[i];
        reg.gone[i] = &gone[i];
    }
    reg.n_gone = ng;
    size_t nw = cm_strmap_count(&r->weights);
    Cmesos__Internal__Registry__Weight *ws = cm_xcalloc(nw, sizeof *ws);
    Mesos__V1__WeightInfo *wis = cm_xcalloc(nw, sizeof *wis);
    reg.weights = cm_xcalloc(nw, sizeof *reg.weights);
    i = 0;
    for (cm_strmap_iter_init(&it, &r->weights); cm_strmap_iter_next(&it); i++) {
        cmesos__internal__registry__weight__init(&ws[i]);
        mesos__v1__weight_info__init(&wis[i]);
        wis[i].role = (char *)it.cur->key;
        wis[i].weight = *(double *)it.cur->value;
        ws[i].info = &wis[i];
        reg.weights[i] = &ws[i];
    }
    reg.n_weights = nw;
    *outlen = protobuf_c_message_get_packed_size(&reg.base);
    *out = cm_xmalloc(*outlen);
    protobuf_c_message_pack(&reg.base, *out);
    free(agents);
    free(pds);
    free(ws);
    free(wis);
    free(reg.weights);
    free(reg.agents);
    free(un);
    free(uids);
    free(utimes);
    free(reg.unreachable);
    free(gone);
    free(gids);
    free(gtimes);
    free(reg.gone);
}

static int load_registry(struct cm_registrar *r, const uint8_t *data, size_t len, char *why,
                         size_t whylen)
{
    if (len == 0)
        return 0; /* nothing stored yet: an empty registry */
    /* The stored registry is checked like any input from outside the process: a file or znode
     * edited (or written by a newer version) must not smuggle undeclared enums or missing
     * required fields into the master. */
    ProtobufCMessage *msg = NULL;
    char cwhy[256];
    if (cm_pb_unpack(&cmesos__internal__registry__descriptor, data, len, &msg, cwhy, sizeof cwhy) !=
        0)
        return cm_fail(CM_EPARSE, why, whylen, "the stored registry does not parse: %s", cwhy);
    Cmesos__Internal__Registry *reg = (Cmesos__Internal__Registry *)msg;
    int rc = 0;
    for (size_t i = 0; i < reg->n_agents; i++) {
        const Mesos__V1__AgentInfo *info = reg->agents[i]->info;
        if (!info->id || !info->id->value || !info->id->value[0]) {
            rc = cm_fail(CM_EPARSE, why, whylen, "registry agents[%zu] has no id", i);
            goto out;
        }
        admitted_remove(r, info->id->value);
        cm_strmap_put(&r->admitted, info->id->value, info_dup(info));
        if ((rc = load_state(r, info->id->value, reg->agents[i]->drain_info,
                             reg->agents[i]->deactivated, why, whylen)) != 0)
            goto out;
    }
    for (size_t i = 0; i < reg->n_unreachable; i++) {
        const Cmesos__Internal__Registry__UnreachableAgent *u = reg->unreachable[i];
        unreach_add(r, u->id->value, (double)u->timestamp->nanoseconds / 1e9);
        if ((rc = load_state(r, u->id->value, u->drain_info, u->deactivated, why, whylen)) != 0)
            goto out;
    }
    for (size_t i = 0; i < reg->n_weights; i++) {
        const Mesos__V1__WeightInfo *w = reg->weights[i]->info;
        if (!w->role || !w->role[0] || !(w->weight > 0) || !isfinite(w->weight)) {
            rc = cm_fail(CM_EPARSE, why, whylen, "registry weights[%zu] is invalid", i);
            goto out;
        }
        double *v = cm_xmalloc(sizeof *v);
        *v = w->weight;
        free(cm_strmap_put(&r->weights, w->role, v));
    }
    for (size_t i = 0; i < reg->n_gone; i++) {
        double *t = cm_xmalloc(sizeof *t);
        *t = (double)reg->gone[i]->timestamp->nanoseconds / 1e9;
        free(cm_strmap_put(&r->gone, reg->gone[i]->id->value, t));
    }
    r->version = reg->has_version ? reg->version : 0;
out:
    protobuf_c_message_free_unpacked(&reg->base, NULL);
    if (rc)
        clear_registry(r);
    return rc;
}

struct recover_ctx {
    struct cm_registrar *r;
    void (*cb)(void *arg, int err, const char *why);
    void *arg;
    double started;
};

static void drain(struct cm_registrar *r);

static void fetched(void *arg, int err, const uint8_t *data, size_t len, const char *fwhy)
{
    struct recover_ctx *ctx = arg;
    struct cm_registrar *r = ctx->r;
    char why[1200] = "";
    r->stats.fetch_ms = (cm_monotonic_secs() - ctx->started) * 1000.0;
    if (err) {
        snprintf(why, sizeof why, "%s", fwhy ? fwhy : "Failed to fetch the registry");
    } else {
        char detail[256];
        if ((err = load_registry(r, data, len, detail, sizeof detail)) != 0)
            snprintf(why, sizeof why, "Registry %s%.900s is corrupt: %s",
                     r->storage->zk     ? "znode "
                     : r->storage->path ? "file "
                                        : "(in memory)",
                     r->storage->path ? r->storage->path : "", detail);
    }
    if (err) {
        r->failed = true;
        r->fail_err = err;
    } else {
        r->recovered = true;
        r->stats.size_bytes = len;
        r->stats.version = r->version;
        CM_INFO(MOD, "Recovered registry (version %llu): %zu admitted, %zu unreachable agents",
                (unsigned long long)r->version, cm_strmap_count(&r->admitted),
                cm_strmap_count(&r->unreachable));
    }
    r->recovering = NULL;
    ctx->cb(ctx->arg, err, err ? why : NULL);
    free(ctx);
    drain(r);
}

void cm_registrar_recover(struct cm_registrar *r, void (*cb)(void *arg, int err, const char *why),
                          void *arg)
{
    struct recover_ctx *ctx = cm_xcalloc(1, sizeof *ctx);
    ctx->r = r;
    ctx->cb = cb;
    ctx->arg = arg;
    ctx->started = cm_monotonic_secs();
    r->stats.store_ms = 0;
    r->recovering = ctx;
    r->storage->ops->fetch(r->storage, fetched, ctx);
}

/* Applies o to the in-memory registry. Returns false when it changed nothing (no store). */
static bool apply(struct cm_registrar *r, struct op *o)
{
    switch (o->kind) {
    case OP_ADMIT:
        unreach_remove(r, o->id);
        admitted_remove(r, o->id);
        cm_strmap_put(&r->admitted, o->id, o->info);
        o->info = NULL; /* now owned by the registry */
        return true;
    case OP_UNREACHABLE:
        admitted_remove(r, o->id);
        unreach_add(r, o->id, o->time);
        return true;
    case OP_REMOVE: {
        bool had = cm_strmap_get(&r->admitted, o->id) || cm_strmap_get(&r->unreachable, o->id);
        admitted_remove(r, o->id);
        unreach_remove(r, o->id);
        astate_remove(r, o->id);
        return had;
    }
    case OP_GC: {
        size_t n = 0;
        while (r->uhead && (r->uhead->time < o->time - o->max_age ||
                            cm_strmap_count(&r->unreachable) > o->max_count)) {
            cm_strmap_remove(&r->unreachable, r->uhead->id);
            astate_remove(r, r->uhead->id);
            unreach_unlink(r, r->uhead);
            n++;
        }
        if (o->pruned)
            *o->pruned = n;
        return n > 0;
    }
    case OP_GONE: {
        if (cm_strmap_get(&r->gone, o->id))
            return false;
        admitted_remove(r, o->id);
        unreach_remove(r, o->id);
        astate_remove(r, o->id);
        double *t = cm_xcalloc(1, sizeof *t);
        *t = o->time;
        cm_strmap_put(&r->gone, o->id, t);
        return true;
    }
    case OP_WEIGHTS: {
        bool changed = false;
        for (size_t i = 0; i < o->n; i++) {
            double *v = cm_strmap_get(&r->weights, o->roles[i]);
            if (v && *v == o->weights[i])
                continue;
            if (!v) {
                v = cm_xmalloc(sizeof *v);
                cm_strmap_put(&r->weights, o->roles[i], v);
            }
            *v = o->weights[i];
            changed = true;
        }
        return changed;
    }
    case OP_STATE: {
        if (!cm_strmap_get(&r->admitted, o->id) && !cm_strmap_get(&r->unreachable, o->id))
            return false;
        const struct cm_reg_agent_state *cur = cm_strmap_get(&r->astate, o->id);
        if (state_eq(cur ? cur : &state_none, &o->st))
            return false;
        astate_put(r, o->id, &o->st);
        return true;
    }
    }
    return false;
}

static void stored(void *arg, int err)
{
    struct cm_registrar *r = arg;
    r->busy = false;
    r->stats.store_ms = (cm_monotonic_secs() - r->store_started) * 1000.0;
    if (err) {
        CM_ERROR(MOD, "Failed to store the registry: %s; the registrar has failed",
                 cm_strerror(err));
        r->failed = true;
        r->fail_err = err;
    } else {
        r->version++;
        r->stats.version = r->version;
    }
    /* One store covers every operation applied since the last one (Mesos batches too): with
     * a remote storage (zk) a burst of re-registrations costs a few writes, not one each. */
    size_t n = r->batch;
    r->batch = 0;
    for (size_t i = 0; i < n && r->qhead; i++) {
        struct op *o = r->qhead;
        r->qhead = o->next;
        if (!r->qhead)
            r->qtail = NULL;
        r->queued--;
        if (o->cb)
            o->cb(o->arg, err);
        op_free(o);
    }
    drain(r);
}

static void drain(struct cm_registrar *r)
{
    /* Storages may complete synchronously; the loop (not recursion) runs the next operation. */
    if (r->draining || r->held)
        return;
    r->draining = true;
    while (r->qhead && !r->busy && (r->recovered || r->failed)) {
        struct op *o = r->qhead;
        if (r->failed) {
            r->qhead = o->next;
            if (!r->qhead)
                r->qtail = NULL;
            r->queued--;
            if (o->cb)
                o->cb(o->arg, r->fail_err ? r->fail_err : CM_ESTATE);
            op_free(o);
            continue;
        }
        if (!apply(r, o)) {
            r->qhead = o->next;
            if (!r->qhead)
                r->qtail = NULL;
            r->queued--;
            if (o->cb)
                o->cb(o->arg, 0);
            op_free(o);
            continue;
        }
        /* Apply the operations queued behind it too; all of them complete with one store. */
        r->batch = 1;
        for (struct op *q = o->next; q; q = q->next) {
            apply(r, q);
            r->batch++;
        }
        uint8_t *data;
        size_t len;
        pack_registry(r, &data, &len);
        r->stats.size_bytes = len;
        r->busy = true;
        r->store_started = cm_monotonic_secs();
        r->storage->ops->store(r->storage, data, len, stored, r);
        free(data);
    }
    r->draining = false;
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_registrar *r = arg;
    r->defer_armed = false;
    drain(r);
}

void cm_registrar_set_loop(struct cm_registrar *r, struct event_base *base)
{
    if (!r->defer && base)
        r->defer = evtimer_new(base, on_defer, r);
}

static void enqueue(struct cm_registrar *r, struct op *o)
{
    if (r->qtail)
        r->qtail->next = o;
    else
        r->qhead = o;
    r->qtail = o;
    r->queued++;
    if (r->defer && !r->failed) {
        /* Everything queued before the loop polls again goes into one store. */
        if (!r->defer_armed) {
            struct timeval now = {0, 0};
            r->defer_armed = evtimer_add(r->defer, &now) == 0;
            if (!r->defer_armed)
                drain(r);
        }
        return;
    }
    drain(r);
}

static struct op *op_new(enum op_kind kind, const char *id, cm_registrar_done_cb cb, void *arg)
{
    struct op *o = cm_xcalloc(1, sizeof *o);
    o->kind = kind;
    o->id = cm_xstrdup(id);
    o->cb = cb;
    o->arg = arg;
    return o;
}

void cm_registrar_admit(struct cm_registrar *r, const Mesos__V1__AgentInfo *info,
                        cm_registrar_done_cb cb, void *arg)
{
    if (!info->id || !info->id->value || !info->id->value[0]) {
        if (cb)
            cb(arg, CM_EINVAL);
        return;
    }
    struct op *o = op_new(OP_ADMIT, info->id->value, cb, arg);
    o->info = info_dup(info);
    enqueue(r, o);
}

void cm_registrar_mark_unreachable(struct cm_registrar *r, const char *agent_id, double time,
                                   cm_registrar_done_cb cb, void *arg)
{
    struct op *o = op_new(OP_UNREACHABLE, agent_id, cb, arg);
    o->time = time;
    enqueue(r, o);
}

void cm_registrar_remove(struct cm_registrar *r, const char *agent_id, cm_registrar_done_cb cb,
                         void *arg)
{
    enqueue(r, op_new(OP_REMOVE, agent_id, cb, arg));
}

void cm_registrar_gc(struct cm_registrar *r, double now, double max_age, size_t max_count,
                     size_t *pruned, cm_registrar_done_cb cb, void *arg)
{
    struct op *o = op_new(OP_GC, "", cb, arg);
    o->time = now;
    o->max_age = max_age;
    o->max_count = max_count;
    o->pruned = pruned;
    if (pruned)
        *pruned = 0;
    enqueue(r, o);
}

void cm_registrar_hold(struct cm_registrar *r)
{
    r->held++;
}

void cm_registrar_release(struct cm_registrar *r)
{
    if (r->held > 0 && --r->held == 0)
        drain(r);
}

void cm_registrar_abort(struct cm_registrar *r, int err)
{
    if (!r)
        return;
    r->held = 0; /* aborting completes everything now, held or not */
    r->failed = true;
    r->fail_err = err;
    r->batch = 0;
    r->busy = false; /* a store in flight never completes once the storage is freed */
    drain(r);
}

bool cm_registrar_recovered(const struct cm_registrar *r)
{
    return r->recovered;
}

bool cm_registrar_failed(const struct cm_registrar *r)
{
    return r->failed;
}

const Mesos__V1__AgentInfo *cm_registrar_admitted(const struct cm_registrar *r, const char *id)
{
    return cm_strmap_get(&r->admitted, id);
}

bool cm_registrar_unreachable(const struct cm_registrar *r, const char *id, double *time)
{
    const struct cm_reg_unreachable *u = cm_strmap_get(&r->unreachable, id);
    if (u && time)
        *time = u->time;
    return u != NULL;
}

bool cm_registrar_gone(const struct cm_registrar *r, const char *id, double *time)
{
    const double *t = cm_strmap_get(&r->gone, id);
    if (t && time)
        *time = *t;
    return t != NULL;
}

size_t cm_registrar_count_admitted(const struct cm_registrar *r)
{
    return cm_strmap_count(&r->admitted);
}

size_t cm_registrar_count_unreachable(const struct cm_registrar *r)
{
    return cm_strmap_count(&r->unreachable);
}

size_t cm_registrar_queued(const struct cm_registrar *r)
{
    return r->queued;
}

const struct cm_strmap *cm_registrar_admitted_map(const struct cm_registrar *r)
{
    return &r->admitted;
}

const struct cm_reg_unreachable *cm_registrar_unreachable_list(const struct cm_registrar *r)
{
    return r->uhead;
}

void cm_registrar_stats(const struct cm_registrar *r, struct cm_registrar_stats *out)
{
    *out = r->stats;
}

void cm_registrar_mark_gone(struct cm_registrar *r, const char *agent_id, double time,
                            cm_registrar_done_cb cb, void *arg)
{
    struct op *o = op_new(OP_GONE, agent_id, cb, arg);
    o->time = time;
    enqueue(r, o);
}

void cm_registrar_update_weights(struct cm_registrar *r, const char *const *roles,
                                 const double *weights, size_t n, cm_registrar_done_cb cb,
                                 void *arg)
{
    struct op *o = op_new(OP_WEIGHTS, "", cb, arg);
    o->n = n;
    o->roles = cm_xcalloc(n ? n : 1, sizeof *o->roles);
    o->weights = cm_xcalloc(n ? n : 1, sizeof *o->weights);
    for (size_t i = 0; i < n; i++) {
        o->roles[i] = cm_xstrdup(roles[i]);
        o->weights[i] = weights[i];
    }
    enqueue(r, o);
}

void cm_registrar_set_agent_state(struct cm_registrar *r, const char *agent_id,
                                  const struct cm_reg_agent_state *st, cm_registrar_done_cb cb,
                                  void *arg)
{
    struct op *o = op_new(OP_STATE, agent_id, cb, arg);
    o->st = *st;
    if (!o->st.has_grace)
        o->st.grace_ns = 0;
    enqueue(r, o);
}

const struct cm_strmap *cm_registrar_weights(const struct cm_registrar *r)
{
    return &r->weights;
}

const struct cm_reg_agent_state *cm_registrar_agent_state(const struct cm_registrar *r,
                                                          const char *agent_id)
{
    return cm_strmap_get(&r->astate, agent_id);
}
