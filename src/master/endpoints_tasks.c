/* endpoints_tasks.c: /master/tasks in slices (endpoints_json.h, json_stream.h). HTTP edge:
 * reads the core's state, changes nothing.
 *
 * Mesos's /tasks sorts every task it knows and writes limit of them from offset. Here the
 * sort never runs over all tasks in one callback: the frameworks' ids are copied when the
 * request comes; each framework's turn scans its unreachable and completed tasks (bounded by
 * the master's flags) and copies its active tasks' ids, which the next pieces look up a few
 * hundred at a time. Every task scanned is offered to a bounded max-heap that keeps the first
 * offset + limit in the asked order (cm_ep_task_key_cmp: a total order, so the heap keeps
 * exactly what a full sort would put first). The heap is then sorted in place (heapsort, a few
 * thousand steps per piece) and the entries from offset on are written, each found again by
 * its ids (left out if it is gone). The state may change between slices: a kept entry holds
 * ids and a key, and its pointers are only compared, never followed until found again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoints_json.h"
#include "json_out.h"
#include "json_stream.h"
#include "util.h"

#define ACTIVE_PER_PIECE 256 /* active tasks looked up and offered per piece */
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
    const void *fw, *t; /* compared, never followed */
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
    /* The current framework's active tasks still to scan (arena offsets). */
    size_t cur_fw;     /* arena offset of its id */
    const void *cur_p; /* the framework when its turn came */
    bool cur_completed;
    size_t *active;
    size_t nactive, next_active, active_cap;
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
    free(b->active);
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
    struct kept c = {b->cur_fw, 0, k.has_status, k.ts, ring, where, fw, t};
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
        b->nactive = b->next_active = 0;
        struct cm_strmap_iter it;
        for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);) {
            const struct cm_task *t = it.cur->value;
            if (b->tid && strcmp(b->tid, t->id) != 0)
                continue;
            if (b->nactive == b->active_cap) {
                b->active_cap = b->active_cap ? b->active_cap * 2 : 256;
                b->active = cm_xrealloc(b->active, b->active_cap * sizeof *b->active);
            }
            b->active[b->nactive++] = arena_add(b, it.cur->key);
        }
        for (cm_strmap_iter_init(&it, &fw->unreachable_tasks); cm_strmap_iter_next(&it);)
            offer(b, fw, it.cur->value, UNREACHABLE, -1);
        for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++)
            offer(b, fw, cm_ring_at(&fw->completed_tasks, i), COMPLETED, (long)i);
        return true;
    }
    return false;
}

/* One piece of the scan. False once every framework is done. */
static bool scan(struct tasks_body *b)
{
    if (b->next_active >= b->nactive)
        return next_framework(b);
    const struct cm_framework *fw = lookup_fw(b, b->arena + b->cur_fw, b->cur_completed);
    if ((const void *)fw != b->cur_p) {
        b->next_active = b->nactive; /* it went away: the rest of its tasks with it */
        return true;
    }
    for (int k = 0; k < ACTIVE_PER_PIECE && b->next_active < b->nactive; k++) {
        const struct cm_task *t = cm_strmap_get(&fw->tasks, b->arena + b->active[b->next_active++]);
        if (t)
            offer(b, fw, t, ACTIVE, -1);
    }
    return true;
}

/* A kept task if it is still where it was found, else NULL. */
static const struct cm_task *found_again(const struct tasks_body *b, const struct kept *c)
{
    const char *fid = b->arena + c->fw_id;
    const struct cm_framework *fw = cm_strmap_get(&b->m->frameworks, fid);
    if (!fw)
        fw = cm_strmap_get(&b->m->completed, fid);
    if (!fw || (const void *)fw != c->fw)
        return NULL;
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
