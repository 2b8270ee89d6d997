/* endpoints_tasks.c: /master/tasks in slices (endpoints_json.h, json_stream.h). HTTP edge:
 * reads the core's state, changes nothing.
 *
 * Mesos's /tasks sorts every task it knows and writes limit of them from offset. Here the
 * sort never runs over all tasks in one callback: the frameworks' ids are copied when the
 * request comes; each framework's turn scans its unreachable and completed tasks (bounded by
 * the master's flags) and lists its active tasks (cm_ep_refs: pointers kept while the map has
 * lost nothing, checked otherwise), which the next pieces take a few hundred at a time. Every
 * task scanned is offered to a bounded max-heap that keeps the first
 * offset + limit in the asked order (cm_ep_task_key_cmp: a total order, so the heap keeps
 * exactly what a full sort would put first). The heap is then sorted in place (heapsort, a few
 * thousand steps per piece) and the entries from offset on are written, each found again (left
 * out if it is gone): while no framework has gone and its task map has lost nothing since the
 * entry was kept, its pointers are still good; otherwise it is looked up by its ids and its
 * pointers are only compared, never followed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoints_json.h"
#include "json_out.h"
#include "json_stream.h"
#include "util.h"

#define ACTIVE_PER_PIECE 256 /* active tasks offered per piece */
#define PF_STEP 4            /* tasks between two stages of prefetching */
#define SORT_PER_PIECE 4096  /* heapsort steps per piece */
#define WRITE_PER_PIECE 16   /* tasks written per piece */

enum where { ACTIVE, UNREACHABLE, COMPLETED };

/* A task kept in the heap. */
struct kept {
    size_t fw_id, task_id; /* offsets in the arena */
    bool has_status;
    double ts;
    long ring; /* index in the framework's completed tasks, -1 otherwise */
    enum where where;
    uint64_t removals;  /* of the map it was in (active or unreachable tasks) when kept */
    const void *fw, *t; /* followed only while still good (found_again) */
};

enum phase { SCAN, SORT, WRITE, DONE };

struct tasks_body {
    struct cm_master *m;
    char *principal, *fid, *tid;
    bool asc;
    size_t offset, cap; /* cap: offset + limit (saturated), the heap's bound */
    /* Strings (framework and task ids) the body keeps, NUL-terminated, by offset. */
    char *arena;
    size_t alen, acap;
    /* The frameworks to scan: arena offsets, completed ones flagged. */
    struct fwref {
        size_t id;
        bool completed;
    } * fws;
    size_t nfws, next_fw;
    /* The master's framework maps' removal counts when the request came: while they hold,
     * every framework scanned is still where it was. */
    uint64_t fw_removals, completed_removals;
    /* The current framework's active tasks still to scan. */
    size_t cur_fw;     /* arena offset of its id */
    const void *cur_p; /* the framework when its turn came */
    bool cur_completed;
    struct cm_ep_refs active;
    struct kept *heap;
    size_t n, heap_cap;
    size_t sorted_end; /* SORT: heap[0, sorted_end) is still a heap */
    size_t next_write;
    enum phase phase;
    bool started;
};

static size_t arena_add(struct tasks_body *b, const char *s)
{
    size_t k = strlen(s) + 1;
    if (b->alen + k > b->acap) {
        size_t cap = b->acap ? b->acap * 2 : 4096;
        while (b->alen + k > cap)
            cap *= 2;
        b->arena = cm_xrealloc(b->arena, cap);
        b->acap = cap;
    }
    memcpy(b->arena + b->alen, s, k);
    b->alen += k;
    return b->alen - k;
}

static void body_free(void *arg)
{
    struct tasks_body *b = arg;
    free(b->principal);
    free(b->fid);
    free(b->tid);
    free(b->arena);
    free(b->fws);
    cm_ep_refs_clear(&b->active);
    free(b->heap);
    free(b);
}

/* Output order: negative when x is written before y. */
static int out_cmp(const struct tasks_body *b, const struct kept *x, const struct kept *y)
{
    struct cm_ep_task_key kx = {x->has_status,         x->ts,   b->arena + x->fw_id,
                                b->arena + x->task_id, x->ring, (uintptr_t)x->t};
    struct cm_ep_task_key ky = {y->has_status,         y->ts,   b->arena + y->fw_id,
                                b->arena + y->task_id, y->ring, (uintptr_t)y->t};
    int c = cm_ep_task_key_cmp(&kx, &ky);
    return b->asc ? c : -c;
}

/* Max-heap on out_cmp over heap[0, n): the root is the last to be written. */
static void sift_down(struct tasks_body *b, size_t i, size_t n)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, big = i;
        if (l < n && out_cmp(b, &b->heap[l], &b->heap[big]) > 0)
            big = l;
        if (r < n && out_cmp(b, &b->heap[r], &b->heap[big]) > 0)
            big = r;
        if (big == i)
            return;
        struct kept tmp = b->heap[i];
        b->heap[i] = b->heap[big];
        b->heap[big] = tmp;
        i = big;
    }
}

static void sift_up(struct tasks_body *b, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (out_cmp(b, &b->heap[i], &b->heap[parent]) <= 0)
            return;
        struct kept tmp = b->heap[i];
        b->heap[i] = b->heap[parent];
        b->heap[parent] = tmp;
        i = parent;
    }
}

/* Offers a task (visible, matching task_id) to the heap. */
static void offer(struct tasks_body *b, const struct cm_framework *fw, const struct cm_task *t,
                  enum where where, long ring)
{
    if ((b->tid && strcmp(b->tid, t->id) != 0) || !cm_ep_view_task(b->m, b->principal, t))
        return;
    struct cm_ep_task_key k;
    cm_ep_task_key_of(&k, t, ring);
    uint64_t removals = where == ACTIVE        ? fw->tasks.removals
                        : where == UNREACHABLE ? fw->unreachable_tasks.removals
                                               : 0;
    struct kept c = {b->cur_fw, 0, k.has_status, k.ts, ring, where, removals, fw, t};
    if (b->n == b->cap) {
        /* Full: it goes in only if it comes before the last one kept. The id is compared in
         * place (not copied yet). */
        struct cm_ep_task_key root = {
            b->heap[0].has_status,         b->heap[0].ts,   b->arena + b->heap[0].fw_id,
            b->arena + b->heap[0].task_id, b->heap[0].ring, (uintptr_t)b->heap[0].t};
        int cmp = cm_ep_task_key_cmp(&k, &root);
        if ((b->asc ? cmp : -cmp) >= 0)
            return;
        c.task_id = arena_add(b, t->id);
        b->heap[0] = c;
        sift_down(b, 0, b->n);
        return;
    }
    if (b->n == b->heap_cap) {
        b->heap_cap = b->heap_cap ? b->heap_cap * 2 : 256;
        if (b->heap_cap > b->cap)
            b->heap_cap = b->cap;
        b->heap = cm_xrealloc(b->heap, b->heap_cap * sizeof *b->heap);
    }
    c.task_id = arena_add(b, t->id);
    b->heap[b->n++] = c;
    sift_up(b, b->n - 1);
}

static const struct cm_framework *lookup_fw(const struct tasks_body *b, const char *id,
                                            bool completed)
{
    return cm_strmap_get(completed ? &b->m->completed : &b->m->frameworks, id);
}

/* The next framework's turn: its unreachable and completed tasks are offered now, its active
 * tasks' ids copied for the next pieces. False when no framework is left. */
static bool next_framework(struct tasks_body *b)
{
    while (b->next_fw < b->nfws) {
        const struct fwref *r = &b->fws[b->next_fw++];
        const struct cm_framework *fw = lookup_fw(b, b->arena + r->id, r->completed);
        if (!fw || !cm_ep_view_framework(b->m, b->principal, fw))
            continue;
        b->cur_fw = r->id;
        b->cur_p = fw;
        b->cur_completed = r->completed;
        cm_ep_refs_list(&b->active, &fw->tasks, b->tid);
        struct cm_strmap_iter it;
        for (cm_strmap_iter_init(&it, &fw->unreachable_tasks); cm_strmap_iter_next(&it);)
            offer(b, fw, it.cur->value, UNREACHABLE, -1);
        for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++)
            offer(b, fw, cm_ring_at(&fw->completed_tasks, i), COMPLETED, (long)i);
        return true;
    }
    return false;
}

/* Whether every framework found since the request came is still where it was. */
static bool fws_unmoved(const struct tasks_body *b)
{
    return b->m->frameworks.removals == b->fw_removals &&
           b->m->completed.removals == b->completed_removals;
}

/* What offer() reads of t, a stage at a time (see cm_epw_task_prefetch). */
static void key_prefetch(const struct cm_task *t, int stage)
{
    if (stage == 0)
        __builtin_prefetch(t);
    else if (stage == 1)
        __builtin_prefetch(t->statuses), __builtin_prefetch(t->id);
    else if (t->nstatuses)
        __builtin_prefetch(t->statuses[0]);
}

/* One piece of the scan. False once every framework is done. */
static bool scan(struct tasks_body *b)
{
    if (b->active.next >= b->active.n)
        return next_framework(b);
    bool trust = fws_unmoved(b);
    const struct cm_framework *fw = b->cur_p;
    if (!trust)
        fw = lookup_fw(b, b->arena + b->cur_fw, b->cur_completed);
    if ((const void *)fw != b->cur_p) {
        b->active.next = b->active.n; /* it went away: the rest of its tasks with it */
        return true;
    }
    for (int k = 0; k < ACTIVE_PER_PIECE; k++) {
        for (int st = 0; st < 3; st++) {
            const void *ahead =
                cm_ep_refs_ahead(&b->active, &fw->tasks, trust, (size_t)(3 - st) * PF_STEP);
            if (ahead)
                key_prefetch(ahead, st);
        }
        const struct cm_task *t = cm_ep_refs_next(&b->active, &fw->tasks, trust);
        if (!t)
            break;
        offer(b, fw, t, ACTIVE, -1);
    }
    return true;
}

/* A kept task without any lookup, if it is surely still where it was found (no framework
 * gone, its map has lost nothing); else NULL (it may or may not be). */
static const struct cm_task *kept_unmoved(const struct tasks_body *b, const struct kept *c)
{
    if (!fws_unmoved(b))
        return NULL;
    const struct cm_framework *fw = c->fw;
    if ((c->where == ACTIVE && fw->tasks.removals == c->removals) ||
        (c->where == UNREACHABLE && fw->unreachable_tasks.removals == c->removals))
        return c->t;
    return NULL;
}

/* A kept task if it is still where it was found, else NULL. */
static const struct cm_task *found_again(const struct tasks_body *b, const struct kept *c)
{
    const struct cm_task *still = kept_unmoved(b, c);
    if (still)
        return still;
    const char *fid = b->arena + c->fw_id;
    const struct cm_framework *fw;
    if (fws_unmoved(b)) {
        fw = c->fw; /* still there: its maps may be read */
    } else {
        fw = cm_strmap_get(&b->m->frameworks, fid);
        if (!fw)
            fw = cm_strmap_get(&b->m->completed, fid);
        if (!fw || (const void *)fw != c->fw)
            return NULL;
    }
    const char *tid = b->arena + c->task_id;
    const struct cm_task *t = NULL;
    switch (c->where) {
    case ACTIVE: t = cm_strmap_get(&fw->tasks, tid); break;
    case UNREACHABLE: t = cm_strmap_get(&fw->unreachable_tasks, tid); break;
    case COMPLETED: {
        /* Completed tasks only move towards the front of the ring (the oldest are dropped). */
        size_t count = cm_ring_count(&fw->completed_tasks);
        for (size_t i = (size_t)c->ring < count ? (size_t)c->ring + 1 : count; i-- > 0;)
            if (cm_ring_at(&fw->completed_tasks, i) == c->t)
                return c->t;
        return NULL;
    }
    }
    return (const void *)t == c->t ? t : NULL;
}

static bool produce(void *arg, struct cm_json_out *out)
{
    struct tasks_body *b = arg;
    if (!b->started) {
        b->started = true;
        cm_json_out_raws(out, "{\"tasks\":[");
    }
    switch (b->phase) {
    case SCAN:
        if (b->cap == 0 || !scan(b)) {
            b->phase = SORT;
            b->sorted_end = b->n;
        }
        return true;
    case SORT:
        /* Heapsort: the root (last in output order) goes to the end each step. */
        for (int k = 0; k < SORT_PER_PIECE && b->sorted_end > 1; k++) {
            size_t end = --b->sorted_end;
            struct kept tmp = b->heap[0];
            b->heap[0] = b->heap[end];
            b->heap[end] = tmp;
            sift_down(b, 0, end);
        }
        if (b->sorted_end <= 1) {
            b->phase = WRITE;
            b->next_write = b->offset;
        }
        return true;
    case WRITE:
        for (int k = 0; k < WRITE_PER_PIECE && b->next_write < b->n; k++) {
            for (int st = 0; st < 3; st++) {
                size_t i = b->next_write + (size_t)(3 - st) * PF_STEP;
                const struct cm_task *ahead = i < b->n ? kept_unmoved(b, &b->heap[i]) : NULL;
                if (ahead)
                    cm_epw_task_prefetch(ahead, st);
            }
            const struct cm_task *t = found_again(b, &b->heap[b->next_write++]);
            if (t)
                cm_epw_task(out, t);
        }
        if (b->next_write < b->n)
            return true;
        cm_json_out_raws(out, "]}");
        b->phase = DONE;
        return false;
    case DONE: break;
    }
    return false;
}

static bool wants_jsonp(struct cm_http_request *req)
{
    char *cb = cm_http_request_query_param(req, "jsonp");
    bool yes = cb != NULL;
    free(cb);
    return yes;
}

bool cm_master_stream_tasks(struct cm_master *m, struct cm_http_request *req, char **principal,
                            const struct cm_ep_tasks_query *q)
{
    if (wants_jsonp(req))
        return false;
    struct tasks_body *b = cm_xcalloc(1, sizeof *b);
    b->m = m;
    b->principal = *principal;
    *principal = NULL;
    b->fid = q->framework_id ? cm_xstrdup(q->framework_id) : NULL;
    b->tid = q->task_id ? cm_xstrdup(q->task_id) : NULL;
    b->asc = q->asc;
    b->offset = q->offset;
    /* Nothing past offset + limit can be written: that many are kept (0 when limit is 0). */
    b->cap = q->limit == 0 ? 0 : q->offset > SIZE_MAX - q->limit ? SIZE_MAX : q->offset + q->limit;
    b->fw_removals = m->frameworks.removals;
    b->completed_removals = m->completed.removals;
    struct cm_strmap_iter it;
    size_t nfw = cm_strmap_count(&m->frameworks) + cm_ring_count(&m->completed_list);
    b->fws = cm_xcalloc(nfw ? nfw : 1, sizeof *b->fws);
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);)
        if (!b->fid || strcmp(b->fid, it.cur->key) == 0)
            b->fws[b->nfws++] = (struct fwref){arena_add(b, it.cur->key), false};
    for (size_t i = 0; i < cm_ring_count(&m->completed_list); i++) {
        const struct cm_framework *fw = cm_ring_at(&m->completed_list, i);
        if (!b->fid || strcmp(b->fid, fw->id) == 0)
            b->fws[b->nfws++] = (struct fwref){arena_add(b, fw->id), true};
    }
    cm_json_stream_start(m->base, req, "application/json", produce, b, body_free);
    return true;
}
