/*
 * backoff.c: the back-off of repeated declines; see backoff.h.
 */
#include "backoff.h"

#include <math.h>

#include "dirty.h"
#include "filters.h"
#include "util.h"

/* The filter length for the n-th identical decline in a row (n >= 1). */
static double delay_for(const struct cm_allocator *a, uint32_t n)
{
    if (n < 2 || a->backoff_max <= 0)
        return 0;
    double d = a->backoff_first;
    for (uint32_t i = 2; i < n && d < a->backoff_max; i++)
        d *= 2;
    return d < a->backoff_max ? d : a->backoff_max;
}

static bool same(const struct cm_resources *x, const struct cm_resources *y)
{
    return cm_resources_contains(x, y) && cm_resources_contains(y, x);
}

/* ---- The wakeup heap (by time) ---- */

static void swap(struct cm_wakeup *v, size_t i, size_t j)
{
    struct cm_wakeup t = v[i];
    v[i] = v[j];
    v[j] = t;
}

static void sift_up(struct cm_wakeup *v, size_t i)
{
    while (i > 0 && v[(i - 1) / 2].at > v[i].at) {
        swap(v, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct cm_wakeup *v, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && v[l].at < v[m].at)
            m = l;
        if (r < n && v[r].at < v[m].at)
            m = r;
        if (m == i)
            return;
        swap(v, i, m);
        i = m;
    }
}

static void push(struct cm_allocator *a, double at, struct agent *ag)
{
    if (a->nwakeups == a->capwakeups) {
        a->capwakeups = a->capwakeups ? a->capwakeups * 2 : 64;
        a->wakeups = cm_xrealloc(a->wakeups, a->capwakeups * sizeof *a->wakeups);
    }
    a->wakeups[a->nwakeups] = (struct cm_wakeup){.at = at, .ag = ag};
    sift_up(a->wakeups, a->nwakeups++);
}

void cm_backoff_wake_due(struct cm_allocator *a, double now)
{
    cm_allocator_wake_cb wake = a->wake;
    a->wake = NULL;
    while (a->nwakeups && a->wakeups[0].at <= now) {
        cm_dirty_mark(a, a->wakeups[0].ag);
        a->wakeups[0] = a->wakeups[--a->nwakeups];
        sift_down(a->wakeups, a->nwakeups, 0);
    }
    a->wake = wake;
}

void cm_backoff_forget_agent(struct cm_allocator *a, struct agent *ag)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nwakeups; i++)
        if (a->wakeups[i].ag != ag)
            a->wakeups[n++] = a->wakeups[i];
    a->nwakeups = n;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a->wakeups, n, i);
}

/* ---- Declines ---- */

void cm_backoff_decline(struct cm_allocator *a, struct fr *f, struct agent *ag,
                        const struct cm_resources *resources, double refuse_seconds, bool is_basis)
{
    double now = cm_clock_now(a->clock);
    uint32_t streak = 1;
    struct fent *e = cm_ftab_find(&f->filters, ag->serial);
    if (e && e->streak && now <= e->expiry + a->backoff_max) {
        if (e->gen == f->change_gen && same(&e->res->r, resources))
            streak = e->streak == UINT32_MAX ? UINT32_MAX : e->streak + 1;
        else if (refuse_seconds <= 0)
            streak = 2; /* changed since a recent decline: the first step, not at once */
    }
    double delay = delay_for(a, streak);
    if (delay <= refuse_seconds) {
        /* The framework's own filter is the longer: it ends as filters do (found by the
         * periodic cycle), the record only counts. */
        if (refuse_seconds > 0 || a->backoff_max > 0)
            cm_filters_install(a, f, ag, resources, refuse_seconds, is_basis,
                               a->backoff_max > 0 ? streak : 0, f->change_gen);
        return;
    }
    e = cm_filters_install(a, f, ag, resources, delay, is_basis, streak, f->change_gen);
    if (e) {
        e->backoff = 1;
        push(a, e->expiry, ag);
    }
}

void cm_backoff_lift(struct cm_allocator *a, struct fr *f, struct agent *ag)
{
    double now = cm_clock_now(a->clock);
    struct fent *e = cm_ftab_find(&f->filters, ag->serial);
    if (!e || !e->backoff || e->expiry <= now)
        return;
    /* Ends now: the record stays fresh, so the next decline is a changed one (backoff.h). */
    e->expiry = now;
    e->backoff = 0;
    cm_bits_clear(ag, f->slot);
}

/* ---- Public ---- */

void cm_allocator_set_backoff(struct cm_allocator *a, double first, double max)
{
    if (!(first > 0) || !isfinite(first) || !(max >= 0) || !isfinite(max))
        return;
    a->backoff_first = first;
    a->backoff_max = max;
}

double cm_allocator_next_wakeup(const struct cm_allocator *a)
{
    return a->nwakeups ? a->wakeups[0].at : INFINITY;
}
