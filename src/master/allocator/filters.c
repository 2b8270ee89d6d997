/*
 * filters.c: offer filters and the agents' blocked bits; see filters.h.
 */
#include "filters.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_REFUSE_SECONDS (365.0 * 24 * 3600)

/* ---- Blocked bits ---- */

void cm_bits_set(struct agent *ag, uint32_t slot)
{
    size_t w = slot / 64;
    if (w >= ag->nwords) {
        size_t n = ag->nwords ? ag->nwords : 1;
        while (n <= w)
            n *= 2;
        ag->bits = cm_xrealloc(ag->bits, n * sizeof *ag->bits);
        memset(ag->bits + ag->nwords, 0, (n - ag->nwords) * sizeof *ag->bits);
        ag->nwords = n;
    }
    if (!((ag->bits[w] >> (slot % 64)) & 1)) {
        ag->bits[w] |= 1ULL << (slot % 64);
        ag->nblocked++;
    }
}

void cm_bits_clear(struct agent *ag, uint32_t slot)
{
    size_t w = slot / 64;
    if (w < ag->nwords && ((ag->bits[w] >> (slot % 64)) & 1)) {
        ag->bits[w] &= ~(1ULL << (slot % 64));
        ag->nblocked--;
    }
}

void cm_bits_reset(struct agent *ag)
{
    if (ag->nblocked)
        memset(ag->bits, 0, ag->nwords * sizeof *ag->bits);
    ag->nblocked = 0;
    ag->bits_until = INFINITY;
}

/* ---- Filters ---- */

static void drop(struct cm_allocator *a, struct fr *f, struct fent *e)
{
    cm_itab_release(&a->itab, e->res);
    e->key = FKEY_TOMB;
    e->res = NULL;
    f->filters.n--;
    a->nfilters--;
}

struct fent *cm_filters_install(struct cm_allocator *a, struct fr *f, struct agent *ag,
                                const struct cm_resources *resources, double refuse_seconds,
                                bool is_basis, uint32_t streak, uint32_t gen)
{
    if (refuse_seconds > MAX_REFUSE_SECONDS)
        refuse_seconds = MAX_REFUSE_SECONDS;
    double now = cm_clock_now(a->clock), expiry = now + refuse_seconds;
    struct ires *res;
    if (is_basis) {
        if (!ag->basis_ires)
            ag->basis_ires = cm_itab_intern(&a->itab, &ag->basis);
        res = ag->basis_ires;
        res->refs++;
    } else {
        res = cm_itab_intern(&a->itab, resources);
    }
    struct fent *e = cm_ftab_find(&f->filters, ag->serial);
    if (e) {
        /* One filter per (framework-role, agent): keep the old one only if it is live,
         * wider and lasts longer, otherwise the new one replaces it. */
        if (e->expiry > now && e->expiry >= expiry &&
            cm_resources_contains(&e->res->r, resources)) {
            cm_itab_release(&a->itab, res);
            return NULL;
        }
        cm_itab_release(&a->itab, e->res);
        e->res = res;
        e->expiry = expiry;
    } else {
        e = cm_ftab_slot_for_insert(&f->filters, ag->serial);
        if (e->key == FKEY_EMPTY)
            f->filters.used++;
        e->key = ag->serial;
        e->expiry = expiry;
        e->res = res;
        f->filters.n++;
        a->nfilters++;
    }
    e->streak = streak;
    e->gen = gen;
    e->backoff = 0;
    /* Keep the cached bit exact: set it now when the filter covers everything the agent
     * has (the common decline of a whole offer), which saves a probe next cycle. */
    if (e->expiry > now && !ag->has_reserved && ag->free_is_basis &&
        (is_basis || cm_resources_contains(&e->res->r, &ag->free))) {
        cm_bits_set(ag, f->slot);
        if (e->expiry < ag->bits_until)
            ag->bits_until = e->expiry;
    } else {
        cm_bits_clear(ag, f->slot);
    }
    return e;
}

struct fent *cm_filters_live(struct cm_allocator *a, struct fr *f, const struct agent *ag,
                             double now)
{
    struct fent *e = cm_ftab_find(&f->filters, ag->serial);
    if (!e)
        return NULL;
    if (e->expiry <= now) {
        if (!e->streak || now > e->expiry + a->backoff_max)
            drop(a, f, e);
        return NULL;
    }
    return e;
}

void cm_filters_clear_fr(struct cm_allocator *a, struct fr *f)
{
    for (uint32_t i = 0; i < f->filters.cap; i++) {
        struct fent *e = &f->filters.v[i];
        if (e->key != FKEY_EMPTY && e->key != FKEY_TOMB) {
            cm_itab_release(&a->itab, e->res);
            a->nfilters--;
        }
    }
    free(f->filters.v);
    memset(&f->filters, 0, sizeof f->filters);
    for (size_t i = 0; i < a->nagents; i++)
        cm_bits_clear(a->agv[i], f->slot);
}

void cm_filters_drop_agent(struct cm_allocator *a, struct agent *ag)
{
    /* One probe per framework-role. */
    for (size_t s = 0; s < a->nslots; s++) {
        struct fr *f = a->slots[s];
        struct fent *e = f ? cm_ftab_find(&f->filters, ag->serial) : NULL;
        if (e)
            drop(a, f, e);
    }
}
