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

enum op_kind {
    OP_ADMIT,
    OP_UNREACHABLE,
    OP_REMOVE,
    OP_GC,
    OP_GONE,
    OP_WEIGHTS,
    OP_STATE,
    OP_FLUSH /* changes nothing: completes once everything queued before it has */
};

struct op {
    enum op_kind kind;
    Mesos__V1__AgentInfo *info; /* OP_ADMIT (owned) */
    uint8_t *packed;            /* OP_ADMIT: info packed (owned) */
    size_t packed_len;
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

/* A top-level record of the packed registry (its tag, length and body), kept packed: a store
 * copies the records into one buffer instead of packing every agent again, so the CPU a store
 * costs is a copy of the registry plus the packing of what changed. */
struct rec {
    uint8_t *b;
    size_t len;
    struct rec *prev, *next;
};

/* The records of one repeated field of the registry, in the order they are stored. */
struct section {
    struct rec *head, *tail;
    size_t bytes;
};

/* An admitted agent's record and its AgentInfo packed (an admission with the same bytes
 * changes nothing and stores nothing: a failover's re-registrations). */
struct arec {
    struct rec rec; /* first member */
    uint8_t *info;
    size_t info_len;
};

/* A gone agent. */
struct grec {
    struct rec rec; /* first member */
    double time;
};

struct cm_registrar {
    struct cm_registry_storage *storage;
    struct cm_strmap admitted;    /* id -> Mesos__V1__AgentInfo* (owned) */
    struct cm_strmap arec;        /* id -> struct arec* (owned), same keys as admitted */
    struct cm_strmap unreachable; /* id -> struct cm_reg_unreachable* */
    struct cm_strmap urec;        /* id -> struct rec* (owned), same keys as unreachable */
    struct cm_reg_unreachable *uhead, *utail;
    struct section agents, unreach, gone_sec; /* fields 2, 3 and 4, in storage order */
    uint8_t *buf; /* the last registry assembled, reused (storages copy what they keep) */
    size_t buf_cap;
    struct cm_strmap gone;    /* id -> struct grec* (owned) */
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
    cm_strmap_init(&r->arec);
    cm_strmap_init(&r->unreachable);
    cm_strmap_init(&r->urec);
    cm_strmap_init(&r->gone);
    cm_strmap_init(&r->weights);
    cm_strmap_init(&r->astate);
    return r;
}

/* ---- packed records ---- */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* A length-delimited field: tag (field < 16: one byte), length, msg packed. Caller frees. */
static uint8_t *pack_field(unsigned field, const ProtobufCMessage *msg, size_t *outlen)
{
    size_t body = protobuf_c_message_get_packed_size(msg);
    *outlen = 1 + varint_len(body) + body;
    uint8_t *buf = cm_xmalloc(*outlen), *p = buf;
    *p++ = (uint8_t)(field << 3 | 2);
    p = put_varint(p, body);
    protobuf_c_message_pack(msg, p);
    return buf;
}

static void sec_append(struct section *s, struct rec *x)
{
    x->next = NULL;
    x->prev = s->tail;
    if (s->tail)
        s->tail->next = x;
    else
        s->head = x;
    s->tail = x;
    s->bytes += x->len;
}

/* Unlinks x and frees its bytes (not x). */
static void sec_unlink(struct section *s, struct rec *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        s->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        s->tail = x->prev;
    s->bytes -= x->len;
    free(x->b);
    x->b = NULL;
    x->len = 0;
}

/* Replaces x's bytes (b taken over); x keeps its place. */
static void rec_set(struct section *s, struct rec *x, uint8_t *b, size_t len)
{
    s->bytes -= x->len;
    free(x->b);
    x->b = b;
    x->len = len;
    s->bytes += len;
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

/* Registry.agents record of an admitted agent: built around its packed AgentInfo (field 1 of
 * Registry.Agent), then drain_info (2) and deactivated (3), as protobuf-c packs them. */
static void agent_rec_pack(struct cm_registrar *r, const char *id, struct arec *a)
{
    struct packed_drain pd;
    protobuf_c_boolean has_deact = 0, deact = 0;
    Mesos__V1__DrainInfo *di = pack_drain(cm_strmap_get(&r->astate, id), &pd, &has_deact, &deact);
    size_t dlen = di ? protobuf_c_message_get_packed_size(&di->base) : 0;
    size_t body = 1 + varint_len(a->info_len) + a->info_len +
                  (di ? 1 + varint_len(dlen) + dlen : 0) + (has_deact ? 2 : 0);
    size_t len = 1 + varint_len(body) + body;
    uint8_t *buf = cm_xmalloc(len), *p = buf;
    *p++ = 2 << 3 | 2;
    p = put_varint(p, body);
    *p++ = 1 << 3 | 2;
    p = put_varint(p, a->info_len);
    memcpy(p, a->info, a->info_len);
    p += a->info_len;
    if (di) {
        *p++ = 2 << 3 | 2;
        p = put_varint(p, dlen);
        p += protobuf_c_message_pack(&di->base, p);
    }
    if (has_deact) {
        *p++ = 3 << 3 | 0;
        *p++ = deact ? 1 : 0;
    }
    rec_set(&r->agents, &a->rec, buf, len);
}

static void unreach_rec_pack(struct cm_registrar *r, const char *id, double time, struct rec *x)
{
    Cmesos__Internal__Registry__UnreachableAgent un =
        CMESOS__INTERNAL__REGISTRY__UNREACHABLE_AGENT__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__TimeInfo t;
    struct packed_drain pd;
    aid.value = (char *)id;
    time_of(time, &t);
    un.id = &aid;
    un.timestamp = &t;
    un.drain_info =
        pack_drain(cm_strmap_get(&r->astate, id), &pd, &un.has_deactivated, &un.deactivated);
    size_t len;
    uint8_t *b = pack_field(3, &un.base, &len);
    rec_set(&r->unreach, x, b, len);
}

/* An agent's record again after its operator state changed. */
static void rec_refresh(struct cm_registrar *r, const char *id)
{
    struct arec *a = cm_strmap_get(&r->arec, id);
    if (a) {
        agent_rec_pack(r, id, a);
        return;
    }
    const struct cm_reg_unreachable *u = cm_strmap_get(&r->unreachable, id);
    if (u)
        unreach_rec_pack(r, id, u->time, cm_strmap_get(&r->urec, id));
}

/* ---- the registry's content ---- */

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
    struct rec *x = cm_strmap_remove(&r->urec, u->id);
    if (x) {
        sec_unlink(&r->unreach, x);
        free(x);
    }
    free(u->id);
    free(u);
}

/* Marks id unreachable at time, last in the list (its record is packed with the operator state
 * id has now). */
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
    struct rec *x = cm_xcalloc(1, sizeof *x);
    sec_append(&r->unreach, x);
    cm_strmap_put(&r->urec, id, x);
    unreach_rec_pack(r, id, time, x);
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
    struct arec *a = cm_strmap_remove(&r->arec, id);
    if (a) {
        sec_unlink(&r->agents, &a->rec);
        free(a->info);
        free(a);
    }
}

/* Admits (or refreshes) id with info and its packed bytes (both taken over). The record keeps
 * its place when id was admitted already, so an update changes one chunk of a chunked store. */
static void admitted_put(struct cm_registrar *r, const char *id, Mesos__V1__AgentInfo *info,
                         uint8_t *packed, size_t packed_len)
{
    Mesos__V1__AgentInfo *old = cm_strmap_put(&r->admitted, id, info);
    if (old)
        protobuf_c_message_free_unpacked(&old->base, NULL);
    struct arec *a = cm_strmap_get(&r->arec, id);
    if (!a) {
        a = cm_xcalloc(1, sizeof *a);
        sec_append(&r->agents, &a->rec);
        cm_strmap_put(&r->arec, id, a);
    }
    free(a->info);
    a->info = packed;
    a->info_len = packed_len;
    agent_rec_pack(r, id, a);
}

static void gone_free(void *v)
{
    struct grec *g = v;
    free(g->rec.b);
    free(g);
}

static void gone_add(struct cm_registrar *r, const char *id, double time)
{
    Cmesos__Internal__Registry__GoneAgent ga = CMESOS__INTERNAL__REGISTRY__GONE_AGENT__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__TimeInfo t;
    aid.value = (char *)id;
    time_of(time, &t);
    ga.id = &aid;
    ga.timestamp = &t;
    struct grec *g = cm_xcalloc(1, sizeof *g);
    g->time = time;
    struct grec *old = cm_strmap_put(&r->gone, id, g);
    if (old) {
        sec_unlink(&r->gone_sec, &old->rec);
        gone_free(old);
    }
    sec_append(&r->gone_sec, &g->rec);
    size_t len;
    uint8_t *b = pack_field(4, &ga.base, &len);
    rec_set(&r->gone_sec, &g->rec, b, len);
}

/* A free function for maps of messages (protobuf_c_message_free_unpacked takes two arguments). */
static void pb_free_message(void *msg)
{
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void arec_free(void *v)
{
    struct arec *a = v;
    free(a->rec.b);
    free(a->info);
    free(a);
}

static void clear_registry(struct cm_registrar *r)
{
    cm_strmap_cleanup_values(&r->admitted, pb_free_message);
    cm_strmap_cleanup_values(&r->arec, arec_free);
    while (r->uhead) {
        cm_strmap_remove(&r->unreachable, r->uhead->id);
        unreach_unlink(r, r->uhead);
    }
    cm_strmap_cleanup(&r->unreachable);
    cm_strmap_cleanup(&r->urec);
    cm_strmap_cleanup_values(&r->gone, gone_free);
    cm_strmap_cleanup_values(&r->weights, free);
    cm_strmap_cleanup_values(&r->astate, free);
    memset(&r->agents, 0, sizeof r->agents);
    memset(&r->unreach, 0, sizeof r->unreach);
    memset(&r->gone_sec, 0, sizeof r->gone_sec);
}

static void op_free(struct op *o)
{
    if (!o)
        return;
    if (o->info)
        protobuf_c_message_free_unpacked(&o->info->base, NULL);
    free(o->packed);
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
    free(r->buf);
    free(r);
}

/* info packed (*packed, malloc'd) and unpacked again (a deep copy of a message that was already
 * checked: decoded through codec.h, or our own). */
static Mesos__V1__AgentInfo *info_pack_dup(const Mesos__V1__AgentInfo *info, uint8_t **packed,
                                           size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&info->base);
    *packed = cm_xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(&info->base, *packed);
    Mesos__V1__AgentInfo *copy = mesos__v1__agent_info__unpack(NULL, *len, *packed);
    if (!copy)
        abort(); /* we packed it ourselves: only out-of-memory can get here */
    return copy;
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The registry to store: the version, then the records of each section as they are kept, then
 * the weights (few: packed here, by role). The field order is protobuf-c's, so the bytes are what
 * packing the whole registry from scratch gives. *out is r's buffer, valid until the next assembly.
 */
static void assemble_registry(struct cm_registrar *r, uint8_t **out, size_t *outlen)
{
    uint64_t version = r->version + 1;
    size_t nw = cm_strmap_count(&r->weights), i = 0, wbytes = 0;
    uint8_t **wb = cm_xcalloc(nw ? nw : 1, sizeof *wb);
    size_t *wl = cm_xcalloc(nw ? nw : 1, sizeof *wl);
    const char **wroles = cm_xcalloc(nw ? nw : 1, sizeof *wroles);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &r->weights); cm_strmap_iter_next(&it);)
        wroles[i++] = it.cur->key;
    /* By role: the same weights give the same bytes whatever order they were set in. */
    qsort(wroles, nw, sizeof *wroles, cmp_str);
    for (i = 0; i < nw; i++) {
        Cmesos__Internal__Registry__Weight w = CMESOS__INTERNAL__REGISTRY__WEIGHT__INIT;
        Mesos__V1__WeightInfo wi = MESOS__V1__WEIGHT_INFO__INIT;
        wi.role = (char *)wroles[i];
        wi.weight = *(double *)cm_strmap_get(&r->weights, wroles[i]);
        w.info = &wi;
        wb[i] = pack_field(6, &w.base, &wl[i]);
        wbytes += wl[i];
    }
    size_t len =
        1 + varint_len(version) + r->agents.bytes + r->unreach.bytes + r->gone_sec.bytes + wbytes;
    if (len > r->buf_cap) {
        free(r->buf);
        r->buf_cap = len + len / 8;
        r->buf = cm_xmalloc(r->buf_cap);
    }
    uint8_t *p = r->buf;
    *p++ = 1 << 3 | 0;
    p = put_varint(p, version);
    const struct section *secs[3] = {&r->agents, &r->unreach, &r->gone_sec};
    for (int s = 0; s < 3; s++) {
        for (const struct rec *x = secs[s]->head; x; x = x->next) {
            memcpy(p, x->b, x->len);
            p += x->len;
        }
    }
    for (i = 0; i < nw; i++) {
        memcpy(p, wb[i], wl[i]);
        p += wl[i];
        free(wb[i]);
    }
    free(wb);
    free(wl);
    free(wroles);
    *out = r->buf;
    *outlen = len;
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
        Mesos__V1__AgentInfo *info = reg->agents[i]->info;
        if (!info->id || !info->id->value || !info->id->value[0]) {
            rc = cm_fail(CM_EPARSE, why, whylen, "registry agents[%zu] has no id", i);
            goto out;
        }
        /* The state first: the agent's record is packed with it. */
        if ((rc = load_state(r, info->id->value, reg->agents[i]->drain_info,
                             reg->agents[i]->deactivated, why, whylen)) != 0)
            goto out;
        /* The registry's own copy is taken over (not copied): protobuf-c frees a message field
         * left NULL as absent. */
        reg->agents[i]->info = NULL;
        size_t plen = protobuf_c_message_get_packed_size(&info->base);
        uint8_t *packed = cm_xmalloc(plen ? plen : 1);
        protobuf_c_message_pack(&info->base, packed);
        unreach_remove(r, info->id->value);
        admitted_put(r, info->id->value, info, packed, plen);
    }
    for (size_t i = 0; i < reg->n_unreachable; i++) {
        const Cmesos__Internal__Registry__UnreachableAgent *u = reg->unreachable[i];
        if ((rc = load_state(r, u->id->value, u->drain_info, u->deactivated, why, whylen)) != 0)
            goto out;
        admitted_remove(r, u->id->value);
        unreach_add(r, u->id->value, (double)u->timestamp->nanoseconds / 1e9);
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
    for (size_t i = 0; i < reg->n_gone; i++)
        gone_add(r, reg->gone[i]->id->value, (double)reg->gone[i]->timestamp->nanoseconds / 1e9);
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
    case OP_ADMIT: {
        /* Admitted already with the same AgentInfo (a re-registration, as after a failover):
         * the registry holds it, nothing to store. */
        const struct arec *a = cm_strmap_get(&r->arec, o->id);
        if (a && a->info_len == o->packed_len && memcmp(a->info, o->packed, o->packed_len) == 0)
            return false;
        unreach_remove(r, o->id);
        admitted_put(r, o->id, o->info, o->packed, o->packed_len);
        o->info = NULL; /* now owned by the registry */
        o->packed = NULL;
        return true;
    }
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
        gone_add(r, o->id, o->time);
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
        rec_refresh(r, o->id);
        return true;
    }
    case OP_FLUSH: return false;
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
        assemble_registry(r, &data, &len);
        r->stats.size_bytes = len;
        r->busy = true;
        r->store_started = cm_monotonic_secs();
        r->storage->ops->store(r->storage, data, len, stored, r);
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
    if (base && r->storage->ops->attach)
        r->storage->ops->attach(r->storage, base);
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
    o->info = info_pack_dup(info, &o->packed, &o->packed_len);
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

void cm_registrar_flush(struct cm_registrar *r, cm_registrar_done_cb cb, void *arg)
{
    enqueue(r, op_new(OP_FLUSH, "", cb, arg));
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
    const struct grec *g = cm_strmap_get(&r->gone, id);
    if (g && time)
        *time = g->time;
    return g != NULL;
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
