/* registrar.c: the registrar's queue of operations, its stores and its recovery; see
 * registrar.h. The registry's content and its packed records are registrar_content.c's, the
 * storages registrar_storage.c's. */
#include "registrar.h"

#include <event2/event.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "log.h"
#include "registrar_content.h"
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

struct cm_registrar {
    struct cm_registry_storage *storage;
    struct cm_reg_content c; /* the registry as of the operations applied so far */
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
    cm_reg_content_init(&r->c);
    return r;
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
    cm_reg_content_cleanup(&r->c);
    cm_registry_storage_free(r->storage);
    free(r);
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
        if ((err = cm_reg_content_load(&r->c, data, len, detail, sizeof detail)) != 0)
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
        r->stats.version = r->c.version;
        CM_INFO(MOD, "Recovered registry (version %llu): %zu admitted, %zu unreachable agents",
                (unsigned long long)r->c.version, cm_strmap_count(&r->c.admitted),
                cm_strmap_count(&r->c.unreachable));
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
    struct cm_reg_content *c = &r->c;
    switch (o->kind) {
    case OP_ADMIT: return cm_reg_content_admit(c, o->id, &o->info, &o->packed, o->packed_len);
    case OP_UNREACHABLE: return cm_reg_content_mark_unreachable(c, o->id, o->time);
    case OP_REMOVE: return cm_reg_content_remove(c, o->id);
    case OP_GC: {
        size_t n = cm_reg_content_gc(c, o->time, o->max_age, o->max_count);
        if (o->pruned)
            *o->pruned = n;
        return n > 0;
    }
    case OP_GONE: return cm_reg_content_mark_gone(c, o->id, o->time);
    case OP_WEIGHTS: return cm_reg_content_set_weights(c, o->roles, o->weights, o->n);
    case OP_STATE: return cm_reg_content_set_state(c, o->id, &o->st);
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
        r->c.version++;
        r->stats.version = r->c.version;
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

static uint8_t *storage_buffer(void *arg, size_t len)
{
    struct cm_registry_storage *s = arg;
    return s->ops->buffer(s, len);
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
        cm_reg_content_assemble(&r->c, r->storage->ops->buffer ? storage_buffer : NULL, r->storage,
                                &data, &len);
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
    o->info = cm_reg_info_pack_dup(info, &o->packed, &o->packed_len);
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
    return cm_strmap_get(&r->c.admitted, id);
}

bool cm_registrar_unreachable(const struct cm_registrar *r, const char *id, double *time)
{
    const struct cm_reg_unreachable *u = cm_strmap_get(&r->c.unreachable, id);
    if (u && time)
        *time = u->time;
    return u != NULL;
}

bool cm_registrar_gone(const struct cm_registrar *r, const char *id, double *time)
{
    return cm_reg_content_gone(&r->c, id, time);
}

size_t cm_registrar_count_admitted(const struct cm_registrar *r)
{
    return cm_strmap_count(&r->c.admitted);
}

size_t cm_registrar_count_unreachable(const struct cm_registrar *r)
{
    return cm_strmap_count(&r->c.unreachable);
}

size_t cm_registrar_queued(const struct cm_registrar *r)
{
    return r->queued;
}

const struct cm_strmap *cm_registrar_admitted_map(const struct cm_registrar *r)
{
    return &r->c.admitted;
}

const struct cm_reg_unreachable *cm_registrar_unreachable_list(const struct cm_registrar *r)
{
    return r->c.uhead;
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
    return &r->c.weights;
}

const struct cm_reg_agent_state *cm_registrar_agent_state(const struct cm_registrar *r,
                                                          const char *agent_id)
{
    return cm_strmap_get(&r->c.astate, agent_id);
}
