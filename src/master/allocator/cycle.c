/*
 * cycle.c: offer generation — an allocation cycle's visit of each agent, full or over the
 * dirty set only; see cycle.h.
 */
#include "cycle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "dirty.h"
#include "drf.h"
#include "filters.h"
#include "util.h"

#define MIN_CPUS_MILLI 10   /* cpus:0.01 */
#define MIN_MEM_MILLI 32000 /* mem:32 (MB) */

static bool meets_min(const struct cm_resources *r)
{
    return cm_resources_scalar(r, "cpus") >= MIN_CPUS_MILLI ||
           cm_resources_scalar(r, "mem") >= MIN_MEM_MILLI;
}

struct scan {
    struct cm_allocator *a;
    struct agent *ag;
    double now;
    double until;     /* earliest expiry of the filters that blocked */
    struct role *cur; /* role whose allocatable set is in *avail */
    const struct cm_resources *avail;
    bool avail_ok; /* avail meets min_allocatable */
};

/* Returns true if the filter of f on the scanned agent covers avail. */
static bool filtered(struct scan *s, struct fr *f)
{
    struct fent *e = cm_filters_live(s->a, f, s->ag, s->now);
    if (!e || !cm_resources_contains(&e->res->r, s->avail))
        return false;
    if (s->ag->free_is_basis) {
        cm_bits_set(s->ag, f->slot);
        if (e->expiry < s->ag->bits_until)
            s->ag->bits_until = e->expiry;
    }
    if (e->expiry < s->until)
        s->until = e->expiry;
    return true;
}

static void give(struct scan *s, struct fr *f)
{
    struct cm_allocator *a = s->a;
    struct agent *ag = s->ag;
    if (s->avail == &ag->free) {
        cm_resources_cleanup(&a->offer);
        cm_resources_move(&a->offer, &ag->free); /* everything goes: no copy */
    } else {
        cm_resources_clear(&a->offer);
        cm_resources_add(&a->offer, s->avail);
        cm_resources_subtract(&ag->free, &a->offer);
    }
    ag->free_is_basis = false;
    int64_t al[K_N];
    cm_drf_scalars(&a->offer, al);
    cm_drf_account(a, f, al, 1, true);
    f->taken_visit = a->visit;
    a->cb(a->arg, f->fw->id, f->role->name, ag->id, &a->offer);
}

/* Points s->avail at what the agent can offer to role r. */
static void set_avail(struct scan *s, struct role *r)
{
    if (s->cur == r)
        return;
    s->cur = r;
    if (s->ag->has_reserved) {
        cm_resources_clear(&s->a->scratch);
        cm_resources_allocatable_to(&s->ag->free, r->name, &s->a->scratch);
        s->avail = &s->a->scratch;
    } else {
        s->avail = &s->ag->free;
    }
    s->avail_ok = meets_min(s->avail);
}

static inline bool skippable(const struct scan *s, const struct fr *f)
{
    return f->suppressed || !f->fw->active || f->taken_visit == s->a->visit;
}

static bool scan_frs(struct scan *s, struct role *r)
{
    for (size_t i = 0; i < r->nfrs; i++) {
        struct fr *f = r->frs[i];
        if (cm_bits_get(s->ag, f->slot) || skippable(s, f))
            continue;
        set_avail(s, r);
        if (!s->avail_ok)
            return false; /* nothing for this role here */
        if (filtered(s, f))
            continue;
        give(s, f);
        return true;
    }
    return false;
}

/* The same choice as scan_role, made from the framework-roles whose blocked bit is clear:
 * cheaper when most of them are blocked (late in the DeclineOffers transient). */
static bool scan_candidates(struct scan *s)
{
    struct cm_allocator *a = s->a;
    struct agent *ag = s->ag;
    struct fr *best = NULL;
    size_t nwords = (a->nslots + 63) / 64;
    for (size_t w = 0; w < nwords; w++) {
        uint64_t zeros = ~(w < ag->nwords ? ag->bits[w] : 0);
        while (zeros) {
            size_t slot = w * 64 + (size_t)__builtin_ctzll(zeros);
            zeros &= zeros - 1;
            if (slot >= a->nslots)
                break;
            struct fr *f = a->slots[slot];
            if (!f || skippable(s, f) || (best && !cm_drf_order_before(f, best)))
                continue;
            set_avail(s, f->role);
            if (!s->avail_ok || filtered(s, f))
                continue;
            best = f;
        }
    }
    if (!best)
        return false;
    set_avail(s, best->role);
    give(s, best);
    return true;
}

/* Visits r's subtree in order: kids by share, r's own framework-roles as one more sibling. */
static bool scan_role(struct scan *s, struct role *r)
{
    bool self_done = r->nfrs == 0;
    size_t i = 0;
    for (;;) {
        struct role *k = i < r->nkids ? r->kids[i] : NULL;
        if (!self_done && (!k || r->self_share <= k->share)) {
            self_done = true;
            if (scan_frs(s, r))
                return true;
            continue;
        }
        if (!k)
            return false;
        i++;
        if (scan_role(s, k))
            return true;
    }
}

static int cmp_agent_index(const void *x, const void *y)
{
    const struct agent *f = *(struct agent *const *)x, *g = *(struct agent *const *)y;
    return f->index < g->index ? -1 : f->index > g->index;
}

/* One agent's visit: offers until nothing more can go out. Returns the offers made. */
static size_t visit_agent(struct cm_allocator *a, struct agent *ag, double now)
{
    if (!ag->active)
        return 0;
    /* The O(1) path: nothing that could unblock this agent happened since its last scan. */
    if (ag->skip_epoch == a->epoch && ag->skip_gen == ag->free_gen && now < ag->skip_until)
        return 0;
    if (now >= ag->bits_until)
        cm_bits_reset(ag);
    a->visit++;
    size_t offers = 0;
    double until = INFINITY;
    for (;;) {
        if (cm_resources_empty(&ag->free) || (!ag->has_reserved && !meets_min(&ag->free)))
            break;
        struct scan s = {.a = a, .ag = ag, .now = now, .until = INFINITY};
        /* Walking the order costs about one step per blocked framework-role ahead of
         * the winner (often all of them: those who declined this agent last sort first);
         * picking among the clear bits costs one step per clear bit. */
        bool made = a->nslots - ag->nblocked <= ag->nblocked ? scan_candidates(&s)
                                                             : scan_role(&s, &a->root);
        if (s.until < until)
            until = s.until;
        if (!made)
            break;
        offers++;
    }
    if (!offers) {
        ag->skip_epoch = a->epoch;
        ag->skip_gen = ag->free_gen;
        ag->skip_until = until < ag->bits_until ? until : ag->bits_until;
    }
    return offers;
}

size_t cm_allocator_run(struct cm_allocator *a)
{
    size_t offers = 0;
    double now = cm_clock_now(a->clock);
    cm_backoff_wake_due(a, now);
    cm_dirty_clear(a); /* every agent is visited */
    cm_drf_resort(a);
    for (size_t i = 0; i < a->nagents; i++)
        offers += visit_agent(a, a->agv[i], now);
    return offers;
}

size_t cm_allocator_run_dirty(struct cm_allocator *a)
{
    cm_backoff_wake_due(a, cm_clock_now(a->clock));
    if (a->all_dirty || a->ndirty * 2 >= a->nagents)
        return cm_allocator_run(a);
    if (!a->ndirty)
        return 0;
    double now = cm_clock_now(a->clock);
    cm_drf_resort(a);
    /* Visit in the order agents were added, as a full cycle would (the set is unordered). */
    size_t n = a->ndirty, offers = 0;
    struct agent **v = cm_xmalloc(n * sizeof *v);
    memcpy(v, a->dirty, n * sizeof *v);
    cm_dirty_clear(a);
    qsort(v, n, sizeof *v, cmp_agent_index);
    for (size_t i = 0; i < n; i++)
        offers += visit_agent(a, v[i], now);
    free(v);
    return offers;
}
