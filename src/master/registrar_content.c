/* registrar_content.c: the registry's content kept as packed records; see
 * registrar_content.h. Split from registrar.c, which keeps the operations' queue. */
#include "registrar_content.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmesos/registry.pb-c.h"
#include "codec.h"
#include "errors.h"
#include "util.h"

/* An admitted agent's record and its AgentInfo packed (an admission with the same bytes
 * changes nothing and stores nothing: a failover's re-registrations). */
struct arec {
    struct cm_reg_rec rec; /* first member */
    uint8_t *info;
    size_t info_len;
};

/* A gone agent. */
struct grec {
    struct cm_reg_rec rec; /* first member */
    double time;
};

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

static void sec_append(struct cm_reg_section *s, struct cm_reg_rec *x)
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
static void sec_unlink(struct cm_reg_section *s, struct cm_reg_rec *x)
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
static void rec_set(struct cm_reg_section *s, struct cm_reg_rec *x, uint8_t *b, size_t len)
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
static void agent_rec_pack(struct cm_reg_content *c, const char *id, struct arec *a)
{
    struct packed_drain pd;
    protobuf_c_boolean has_deact = 0, deact = 0;
    Mesos__V1__DrainInfo *di = pack_drain(cm_strmap_get(&c->astate, id), &pd, &has_deact, &deact);
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
    rec_set(&c->agents, &a->rec, buf, len);
}

static void unreach_rec_pack(struct cm_reg_content *c, const char *id, double time,
                             struct cm_reg_rec *x)
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
        pack_drain(cm_strmap_get(&c->astate, id), &pd, &un.has_deactivated, &un.deactivated);
    size_t len;
    uint8_t *b = pack_field(3, &un.base, &len);
    rec_set(&c->unreach, x, b, len);
}

/* An agent's record again after its operator state changed. */
static void rec_refresh(struct cm_reg_content *c, const char *id)
{
    struct arec *a = cm_strmap_get(&c->arec, id);
    if (a) {
        agent_rec_pack(c, id, a);
        return;
    }
    const struct cm_reg_unreachable *u = cm_strmap_get(&c->unreachable, id);
    if (u)
        unreach_rec_pack(c, id, u->time, cm_strmap_get(&c->urec, id));
}

/* ---- the registry's content ---- */

static void unreach_unlink(struct cm_reg_content *c, struct cm_reg_unreachable *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        c->uhead = u->next;
    if (u->next)
        u->next->prev = u->prev;
    else
        c->utail = u->prev;
    struct cm_reg_rec *x = cm_strmap_remove(&c->urec, u->id);
    if (x) {
        sec_unlink(&c->unreach, x);
        free(x);
    }
    free(u->id);
    free(u);
}

/* Marks id unreachable at time, last in the list (its record is packed with the operator state
 * id has now). */
static void unreach_add(struct cm_reg_content *c, const char *id, double time)
{
    struct cm_reg_unreachable *old = cm_strmap_remove(&c->unreachable, id);
    if (old)
        unreach_unlink(c, old);
    struct cm_reg_unreachable *u = cm_xcalloc(1, sizeof *u);
    u->id = cm_xstrdup(id);
    u->time = time;
    u->prev = c->utail;
    if (c->utail)
        c->utail->next = u;
    else
        c->uhead = u;
    c->utail = u;
    cm_strmap_put(&c->unreachable, u->id, u);
    struct cm_reg_rec *x = cm_xcalloc(1, sizeof *x);
    sec_append(&c->unreach, x);
    cm_strmap_put(&c->urec, id, x);
    unreach_rec_pack(c, id, time, x);
}

static void unreach_remove(struct cm_reg_content *c, const char *id)
{
    struct cm_reg_unreachable *u = cm_strmap_remove(&c->unreachable, id);
    if (u)
        unreach_unlink(c, u);
}

static void astate_remove(struct cm_reg_content *c, const char *id)
{
    free(cm_strmap_remove(&c->astate, id));
}

static const struct cm_reg_agent_state state_none;

static bool state_eq(const struct cm_reg_agent_state *a, const struct cm_reg_agent_state *b)
{
    return a->deactivated == b->deactivated && a->drain_state == b->drain_state &&
           a->has_grace == b->has_grace && (!a->has_grace || a->grace_ns == b->grace_ns) &&
           a->mark_gone == b->mark_gone;
}

static void astate_put(struct cm_reg_content *c, const char *id,
                       const struct cm_reg_agent_state *st)
{
    if (state_eq(st, &state_none)) {
        astate_remove(c, id);
        return;
    }
    struct cm_reg_agent_state *copy = cm_xcalloc(1, sizeof *copy);
    *copy = *st;
    free(cm_strmap_put(&c->astate, id, copy));
}

static void admitted_remove(struct cm_reg_content *c, const char *id)
{
    Mesos__V1__AgentInfo *info = cm_strmap_remove(&c->admitted, id);
    if (info)
        protobuf_c_message_free_unpacked(&info->base, NULL);
    struct arec *a = cm_strmap_remove(&c->arec, id);
    if (a) {
        sec_unlink(&c->agents, &a->rec);
        free(a->info);
        free(a);
    }
}

/* Admits (or refreshes) id with info and its packed bytes (both taken over). The record keeps
 * its place when id was admitted already, so an update changes one chunk of a chunked store. */
static void admitted_put(struct cm_reg_content *c, const char *id, Mesos__V1__AgentInfo *info,
                         uint8_t *packed, size_t packed_len)
{
    Mesos__V1__AgentInfo *old = cm_strmap_put(&c->admitted, id, info);
    if (old)
        protobuf_c_message_free_unpacked(&old->base, NULL);
    struct arec *a = cm_strmap_get(&c->arec, id);
    if (!a) {
        a = cm_xcalloc(1, sizeof *a);
        sec_append(&c->agents, &a->rec);
        cm_strmap_put(&c->arec, id, a);
    }
    free(a->info);
    a->info = packed;
    a->info_len = packed_len;
    agent_rec_pack(c, id, a);
}

static void gone_free(void *v)
{
    struct grec *g = v;
    free(g->rec.b);
    free(g);
}

static void gone_add(struct cm_reg_content *c, const char *id, double time)
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
    struct grec *old = cm_strmap_put(&c->gone, id, g);
    if (old) {
        sec_unlink(&c->gone_sec, &old->rec);
        gone_free(old);
    }
    sec_append(&c->gone_sec, &g->rec);
    size_t len;
    uint8_t *b = pack_field(4, &ga.base, &len);
    rec_set(&c->gone_sec, &g->rec, b, len);
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

void cm_reg_content_clear(struct cm_reg_content *c)
{
    cm_strmap_cleanup_values(&c->admitted, pb_free_message);
    cm_strmap_cleanup_values(&c->arec, arec_free);
    while (c->uhead) {
        cm_strmap_remove(&c->unreachable, c->uhead->id);
        unreach_unlink(c, c->uhead);
    }
    cm_strmap_cleanup(&c->unreachable);
    cm_strmap_cleanup(&c->urec);
    cm_strmap_cleanup_values(&c->gone, gone_free);
    cm_strmap_cleanup_values(&c->weights, free);
    cm_strmap_cleanup_values(&c->astate, free);
    memset(&c->agents, 0, sizeof c->agents);
    memset(&c->unreach, 0, sizeof c->unreach);
    memset(&c->gone_sec, 0, sizeof c->gone_sec);
}

/* info packed (*packed, malloc'd) and unpacked again (a deep copy of a message that was already
 * checked: decoded through codec.h, or our own). */
Mesos__V1__AgentInfo *cm_reg_info_pack_dup(const Mesos__V1__AgentInfo *info, uint8_t **packed,
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
static int load_state(struct cm_reg_content *c, const char *id, const Mesos__V1__DrainInfo *di,
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
    astate_put(c, id, &st);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The registry to store: the version, then the records of each section as they are kept, then
 * the weights (few: packed here, by role). The field order is protobuf-c's, so the bytes are what
 * packing the whole registry from scratch gives. *out is c's buffer, valid until the next assembly.
 */
void cm_reg_content_assemble(struct cm_reg_content *c, cm_reg_buf_fn dst, void *dst_arg,
                             uint8_t **out, size_t *outlen)
{
    uint64_t version = c->version + 1;
    size_t nw = cm_strmap_count(&c->weights), i = 0, wbytes = 0;
    uint8_t **wb = cm_xcalloc(nw ? nw : 1, sizeof *wb);
    size_t *wl = cm_xcalloc(nw ? nw : 1, sizeof *wl);
    const char **wroles = cm_xcalloc(nw ? nw : 1, sizeof *wroles);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &c->weights); cm_strmap_iter_next(&it);)
        wroles[i++] = it.cur->key;
    /* By role: the same weights give the same bytes whatever order they were set in. */
    qsort(wroles, nw, sizeof *wroles, cmp_str);
    for (i = 0; i < nw; i++) {
        Cmesos__Internal__Registry__Weight w = CMESOS__INTERNAL__REGISTRY__WEIGHT__INIT;
        Mesos__V1__WeightInfo wi = MESOS__V1__WEIGHT_INFO__INIT;
        wi.role = (char *)wroles[i];
        wi.weight = *(double *)cm_strmap_get(&c->weights, wroles[i]);
        w.info = &wi;
        wb[i] = pack_field(6, &w.base, &wl[i]);
        wbytes += wl[i];
    }
    size_t len =
        1 + varint_len(version) + c->agents.bytes + c->unreach.bytes + c->gone_sec.bytes + wbytes;
    uint8_t *base = dst ? dst(dst_arg, len) : NULL;
    if (!base) {
        if (len > c->buf_cap) {
            free(c->buf);
            c->buf_cap = len + len / 8;
            c->buf = cm_xmalloc(c->buf_cap);
        }
        base = c->buf;
    }
    uint8_t *p = base;
    *p++ = 1 << 3 | 0;
    p = put_varint(p, version);
    const struct cm_reg_section *secs[3] = {&c->agents, &c->unreach, &c->gone_sec};
    for (int s = 0; s < 3; s++) {
        for (const struct cm_reg_rec *x = secs[s]->head; x; x = x->next) {
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
    *out = base;
    *outlen = len;
}

int cm_reg_content_load(struct cm_reg_content *c, const uint8_t *data, size_t len, char *why,
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
        if ((rc = load_state(c, info->id->value, reg->agents[i]->drain_info,
                             reg->agents[i]->deactivated, why, whylen)) != 0)
            goto out;
        /* The registry's own copy is taken over (not copied): protobuf-c frees a message field
         * left NULL as absent. */
        reg->agents[i]->info = NULL;
        size_t plen = protobuf_c_message_get_packed_size(&info->base);
        uint8_t *packed = cm_xmalloc(plen ? plen : 1);
        protobuf_c_message_pack(&info->base, packed);
        unreach_remove(c, info->id->value);
        admitted_put(c, info->id->value, info, packed, plen);
    }
    for (size_t i = 0; i < reg->n_unreachable; i++) {
        const Cmesos__Internal__Registry__UnreachableAgent *u = reg->unreachable[i];
        if ((rc = load_state(c, u->id->value, u->drain_info, u->deactivated, why, whylen)) != 0)
            goto out;
        admitted_remove(c, u->id->value);
        unreach_add(c, u->id->value, (double)u->timestamp->nanoseconds / 1e9);
    }
    for (size_t i = 0; i < reg->n_weights; i++) {
        const Mesos__V1__WeightInfo *w = reg->weights[i]->info;
        if (!w->role || !w->role[0] || !(w->weight > 0) || !isfinite(w->weight)) {
            rc = cm_fail(CM_EPARSE, why, whylen, "registry weights[%zu] is invalid", i);
            goto out;
        }
        double *v = cm_xmalloc(sizeof *v);
        *v = w->weight;
        free(cm_strmap_put(&c->weights, w->role, v));
    }
    for (size_t i = 0; i < reg->n_gone; i++)
        gone_add(c, reg->gone[i]->id->value, (double)reg->gone[i]->timestamp->nanoseconds / 1e9);
    c->version = reg->has_version ? reg->version : 0;
out:
    protobuf_c_message_free_unpacked(&reg->base, NULL);
    if (rc)
        cm_reg_content_clear(c);
    return rc;
}

/* ---- init, mutations, queries ---- */

void cm_reg_content_init(struct cm_reg_content *c)
{
    memset(c, 0, sizeof *c);
    cm_strmap_init(&c->admitted);
    cm_strmap_init(&c->arec);
    cm_strmap_init(&c->unreachable);
    cm_strmap_init(&c->urec);
    cm_strmap_init(&c->gone);
    cm_strmap_init(&c->weights);
    cm_strmap_init(&c->astate);
}

void cm_reg_content_cleanup(struct cm_reg_content *c)
{
    cm_reg_content_clear(c);
    free(c->buf);
    c->buf = NULL;
    c->buf_cap = 0;
}

bool cm_reg_content_admit(struct cm_reg_content *c, const char *id, Mesos__V1__AgentInfo **info,
                          uint8_t **packed, size_t packed_len)
{
    /* Admitted already with the same AgentInfo (a re-registration, as after a failover): the
     * registry holds it, nothing to store. */
    const struct arec *a = cm_strmap_get(&c->arec, id);
    if (a && a->info_len == packed_len && memcmp(a->info, *packed, packed_len) == 0)
        return false;
    unreach_remove(c, id);
    admitted_put(c, id, *info, *packed, packed_len);
    *info = NULL; /* now owned by the registry */
    *packed = NULL;
    return true;
}

bool cm_reg_content_mark_unreachable(struct cm_reg_content *c, const char *id, double time)
{
    admitted_remove(c, id);
    unreach_add(c, id, time);
    return true;
}

bool cm_reg_content_remove(struct cm_reg_content *c, const char *id)
{
    bool had = cm_strmap_get(&c->admitted, id) || cm_strmap_get(&c->unreachable, id);
    admitted_remove(c, id);
    unreach_remove(c, id);
    astate_remove(c, id);
    return had;
}

size_t cm_reg_content_gc(struct cm_reg_content *c, double now, double max_age, size_t max_count)
{
    size_t n = 0;
    while (c->uhead &&
           (c->uhead->time < now - max_age || cm_strmap_count(&c->unreachable) > max_count)) {
        cm_strmap_remove(&c->unreachable, c->uhead->id);
        astate_remove(c, c->uhead->id);
        unreach_unlink(c, c->uhead);
        n++;
    }
    return n;
}

bool cm_reg_content_mark_gone(struct cm_reg_content *c, const char *id, double time)
{
    if (cm_strmap_get(&c->gone, id))
        return false;
    admitted_remove(c, id);
    unreach_remove(c, id);
    astate_remove(c, id);
    gone_add(c, id, time);
    return true;
}

bool cm_reg_content_set_weights(struct cm_reg_content *c, char *const *roles, const double *weights,
                                size_t n)
{
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        double *v = cm_strmap_get(&c->weights, roles[i]);
        if (v && *v == weights[i])
            continue;
        if (!v) {
            v = cm_xmalloc(sizeof *v);
            cm_strmap_put(&c->weights, roles[i], v);
        }
        *v = weights[i];
        changed = true;
    }
    return changed;
}

bool cm_reg_content_set_state(struct cm_reg_content *c, const char *id,
                              const struct cm_reg_agent_state *st)
{
    if (!cm_strmap_get(&c->admitted, id) && !cm_strmap_get(&c->unreachable, id))
        return false;
    const struct cm_reg_agent_state *cur = cm_strmap_get(&c->astate, id);
    if (state_eq(cur ? cur : &state_none, st))
        return false;
    astate_put(c, id, st);
    rec_refresh(c, id);
    return true;
}

bool cm_reg_content_gone(const struct cm_reg_content *c, const char *id, double *time)
{
    const struct grec *g = cm_strmap_get(&c->gone, id);
    if (g && time)
        *time = g->time;
    return g != NULL;
}
