/*
 * allocator.c: the allocator's public API that changes the model — agents, frameworks and
 * their roles, SUPPRESS / REVIVE, allocations and recoveries. The design is described in
 * allocator.h; the cycle is in cycle.c, the order in drf.c, filters in filters.c.
 */
#include "allocator.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "dirty.h"
#include "drf.h"
#include "errors.h"
#include "filters.h"
#include "model.h"
#include "util.h"

/* ---- Framework-roles ---- */

static struct fr *fr_new(struct cm_allocator *a, struct framework *fw, const char *role)
{
    struct fr *f = cm_xcalloc(1, sizeof *f);
    f->fw = fw;
    f->role = cm_drf_role_get(a, role);
    f->serial = ++a->next_serial;
    if (a->nfreeslots) {
        f->slot = a->freeslots[--a->nfreeslots];
    } else {
        f->slot = (uint32_t)a->nslots;
        a->slots = cm_xrealloc(a->slots, (a->nslots + 1) * sizeof *a->slots);
        a->freeslots = cm_xrealloc(a->freeslots, (a->nslots + 1) * sizeof *a->freeslots);
        a->nslots++;
    }
    a->slots[f->slot] = f;
    cm_drf_fr_insert(a, f);
    return f;
}

static void fr_free(struct cm_allocator *a, struct fr *f)
{
    int64_t al[K_N];
    memcpy(al, f->alloc, sizeof al);
    cm_drf_account(a, f, al, -1, false);
    cm_filters_clear_fr(a, f);
    cm_drf_fr_remove(f);
    cm_drf_role_gc(a, f->role);
    a->slots[f->slot] = NULL;
    a->freeslots[a->nfreeslots++] = f->slot;
    free(f);
}

static struct fr *fr_find(const struct framework *fw, const char *role)
{
    for (size_t i = 0; i < fw->nfrs; i++)
        if (strcmp(fw->frs[i]->role->name, role) == 0)
            return fw->frs[i];
    return NULL;
}

static bool in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* ---- Public API ---- */

struct cm_allocator *cm_allocator_new(const struct cm_clock *clock, cm_allocator_offer_cb cb,
                                      void *arg)
{
    struct cm_allocator *a = cm_xcalloc(1, sizeof *a);
    a->clock = clock;
    a->cb = cb;
    a->arg = arg;
    a->root.name = "";
    a->root.weight = 1.0;
    a->epoch = 1;
    a->backoff_first = CM_ALLOCATOR_BACKOFF_FIRST;
    a->backoff_max = CM_ALLOCATOR_BACKOFF_MAX;
    cm_resources_init(&a->scratch);
    cm_resources_init(&a->offer);
    return a;
}

static void agent_free(struct cm_allocator *a, struct agent *ag)
{
    if (ag->basis_ires)
        cm_itab_release(&a->itab, ag->basis_ires);
    cm_resources_cleanup(&ag->total);
    cm_resources_cleanup(&ag->free);
    cm_resources_cleanup(&ag->basis);
    free(ag->bits);
    free(ag->id);
    free(ag);
}

static void framework_free(struct cm_allocator *a, struct framework *fw)
{
    for (size_t i = 0; i < fw->nfrs; i++)
        fr_free(a, fw->frs[i]);
    free(fw->frs);
    free(fw->id);
    free(fw);
}

void cm_allocator_free(struct cm_allocator *a)
{
    if (!a)
        return;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->frameworks); cm_strmap_iter_next(&it);)
        framework_free(a, it.cur->value);
    for (size_t i = 0; i < a->nagents; i++)
        agent_free(a, a->agv[i]);
    free(a->root.kids);
    free(a->root.frs);
    cm_strmap_cleanup(&a->agents);
    cm_strmap_cleanup(&a->frameworks);
    cm_strmap_cleanup(&a->roles);
    cm_strmap_cleanup_values(&a->weights, free);
    cm_itab_cleanup(&a->itab);
    free(a->agv);
    free(a->dirty);
    free(a->wakeups);
    free(a->slots);
    free(a->freeslots);
    cm_resources_cleanup(&a->scratch);
    cm_resources_cleanup(&a->offer);
    free(a);
}

int cm_allocator_set_weight(struct cm_allocator *a, const char *role, double weight)
{
    if (!role || !*role || !(weight > 0) || !isfinite(weight))
        return CM_EINVAL;
    double *w = cm_strmap_get(&a->weights, role);
    if (!w) {
        w = cm_xmalloc(sizeof *w);
        cm_strmap_put(&a->weights, role, w);
    }
    *w = weight;
    struct role *r = cm_strmap_get(&a->roles, role);
    if (r)
        r->weight = weight; /* the order is recomputed at the start of each cycle */
    return 0;
}

int cm_allocator_add_agent(struct cm_allocator *a, const char *agent_id,
                           const struct cm_resources *total)
{
    if (!agent_id || !total)
        return CM_EINVAL;
    if (cm_strmap_get(&a->agents, agent_id))
        return CM_EEXIST;
    struct agent *ag = cm_xcalloc(1, sizeof *ag);
    ag->id = cm_xstrdup(agent_id);
    ag->serial = ++a->next_agent_serial;
    if (ag->serial == FKEY_TOMB) /* 4 billion agents later: skip the reserved keys */
        ag->serial = a->next_agent_serial = 1;
    ag->active = true;
    cm_resources_init(&ag->total);
    cm_resources_init(&ag->free);
    cm_resources_init(&ag->basis);
    cm_resources_add(&ag->total, total);
    cm_resources_add(&ag->free, total);
    cm_resources_add(&ag->basis, total);
    ag->free_is_basis = true;
    for (size_t i = 0; i < total->n; i++)
        if (strcmp(total->v[i].role, "*") != 0)
            ag->has_reserved = true;
    cm_drf_scalars(total, ag->tot);
    ag->bits_until = INFINITY;
    ag->free_gen = 1;
    for (int k = 0; k < K_N; k++) {
        a->total[k] += ag->tot[k];
        a->total_active[k] += ag->tot[k];
    }
    if (a->nagents == a->capagents) {
        a->capagents = a->capagents ? a->capagents * 2 : 64;
        a->agv = cm_xrealloc(a->agv, a->capagents * sizeof *a->agv);
    }
    ag->index = a->nagents;
    a->agv[a->nagents++] = ag;
    cm_strmap_put(&a->agents, ag->id, ag);
    cm_dirty_mark(a, ag);
    return 0;
}

int cm_allocator_remove_agent(struct cm_allocator *a, const char *agent_id)
{
    struct agent *ag = agent_id ? cm_strmap_get(&a->agents, agent_id) : NULL;
    if (!ag)
        return CM_ENOTFOUND;
    cm_filters_drop_agent(a, ag);
    for (int k = 0; k < K_N; k++) {
        a->total[k] -= ag->tot[k];
        if (ag->active)
            a->total_active[k] -= ag->tot[k];
    }
    cm_dirty_unmark(a, ag);
    cm_backoff_forget_agent(a, ag);
    struct agent *last = a->agv[--a->nagents];
    a->agv[ag->index] = last;
    last->index = ag->index;
    cm_strmap_remove(&a->agents, ag->id);
    agent_free(a, ag);
    return 0;
}

int cm_allocator_activate_agent(struct cm_allocator *a, const char *agent_id, bool active)
{
    struct agent *ag = agent_id ? cm_strmap_get(&a->agents, agent_id) : NULL;
    if (!ag)
        return CM_ENOTFOUND;
    if (ag->active != active) {
        for (int k = 0; k < K_N; k++)
            a->total_active[k] += active ? ag->tot[k] : -ag->tot[k];
    }
    ag->active = active;
    ag->skip_epoch = 0;
    if (active)
        cm_dirty_mark(a, ag);
    return 0;
}

/* Makes fw's framework-roles exactly roles, with suppressed flags from suppressed. */
static void framework_set_roles(struct cm_allocator *a, struct framework *fw,
                                const char *const *roles, size_t nroles,
                                const char *const *suppressed, size_t nsuppressed)
{
    for (size_t i = 0; i < fw->nfrs;) {
        if (!in_list(roles, nroles, fw->frs[i]->role->name)) {
            fr_free(a, fw->frs[i]);
            fw->frs[i] = fw->frs[--fw->nfrs];
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < nroles; i++) {
        if (!roles[i] || !*roles[i] || fr_find(fw, roles[i]))
            continue;
        fw->frs = cm_xrealloc(fw->frs, (fw->nfrs + 1) * sizeof *fw->frs);
        fw->frs[fw->nfrs++] = fr_new(a, fw, roles[i]);
    }
    for (size_t i = 0; i < fw->nfrs; i++)
        fw->frs[i]->suppressed = in_list(suppressed, nsuppressed, fw->frs[i]->role->name);
    a->epoch++;
    cm_dirty_mark_all(a);
}

int cm_allocator_add_framework(struct cm_allocator *a, const char *framework_id,
                               const char *const *roles, size_t nroles,
                               const char *const *suppressed, size_t nsuppressed)
{
    if (!framework_id || (nroles && !roles) || (nsuppressed && !suppressed))
        return CM_EINVAL;
    if (cm_strmap_get(&a->frameworks, framework_id))
        return CM_EEXIST;
    struct framework *fw = cm_xcalloc(1, sizeof *fw);
    fw->id = cm_xstrdup(framework_id);
    fw->active = true;
    cm_strmap_put(&a->frameworks, fw->id, fw);
    a->nframeworks++;
    framework_set_roles(a, fw, roles, nroles, suppressed, nsuppressed);
    return 0;
}

int cm_allocator_update_framework(struct cm_allocator *a, const char *framework_id,
                                  const char *const *roles, size_t nroles,
                                  const char *const *suppressed, size_t nsuppressed)
{
    if ((nroles && !roles) || (nsuppressed && !suppressed))
        return CM_EINVAL;
    struct framework *fw = framework_id ? cm_strmap_get(&a->frameworks, framework_id) : NULL;
    if (!fw)
        return CM_ENOTFOUND;
    framework_set_roles(a, fw, roles, nroles, suppressed, nsuppressed);
    return 0;
}

int cm_allocator_remove_framework(struct cm_allocator *a, const char *framework_id)
{
    struct framework *fw = framework_id ? cm_strmap_get(&a->frameworks, framework_id) : NULL;
    if (!fw)
        return CM_ENOTFOUND;
    cm_strmap_remove(&a->frameworks, fw->id);
    a->nframeworks--;
    framework_free(a, fw);
    return 0;
}

int cm_allocator_activate_framework(struct cm_allocator *a, const char *framework_id, bool active)
{
    struct framework *fw = framework_id ? cm_strmap_get(&a->frameworks, framework_id) : NULL;
    if (!fw)
        return CM_ENOTFOUND;
    if (active && !fw->active) {
        a->epoch++;
        cm_dirty_mark_all(a);
    }
    fw->active = active;
    return 0;
}

static int suppress_or_revive(struct cm_allocator *a, const char *framework_id,
                              const char *const *roles, size_t nroles, bool revive)
{
    if (nroles && !roles)
        return CM_EINVAL;
    struct framework *fw = framework_id ? cm_strmap_get(&a->frameworks, framework_id) : NULL;
    if (!fw)
        return CM_ENOTFOUND;
    for (size_t i = 0; i < fw->nfrs; i++) {
        struct fr *f = fw->frs[i];
        if (nroles && !in_list(roles, nroles, f->role->name))
            continue;
        f->suppressed = !revive;
        if (revive)
            cm_filters_clear_fr(a, f);
    }
    if (revive) {
        a->epoch++;
        cm_dirty_mark_all(a);
    }
    return 0;
}

int cm_allocator_suppress(struct cm_allocator *a, const char *framework_id,
                          const char *const *roles, size_t nroles)
{
    return suppress_or_revive(a, framework_id, roles, nroles, false);
}

int cm_allocator_revive(struct cm_allocator *a, const char *framework_id, const char *const *roles,
                        size_t nroles)
{
    return suppress_or_revive(a, framework_id, roles, nroles, true);
}

int cm_allocator_allocate(struct cm_allocator *a, const char *framework_id, const char *role,
                          const char *agent_id, const struct cm_resources *resources)
{
    if (!framework_id || !role || !agent_id || !resources)
        return CM_EINVAL;
    struct agent *ag = cm_strmap_get(&a->agents, agent_id);
    struct framework *fw = cm_strmap_get(&a->frameworks, framework_id);
    struct fr *f = fw ? fr_find(fw, role) : NULL;
    if (ag) {
        cm_resources_subtract(&ag->free, resources);
        ag->free_is_basis = false;
    }
    if (f) {
        int64_t al[K_N];
        cm_drf_scalars(resources, al);
        cm_drf_account(a, f, al, 1, false);
    }
    return ag && f ? 0 : CM_ENOTFOUND;
}

/* Gives resources back to the agent's free pool and the framework-role's share; returns
 * whether they are exactly the agent's basis (see cm_filters_install). *fp and *agp are set to
 * the framework-role and agent, or NULL when unknown. */
static bool give_back(struct cm_allocator *a, const char *framework_id, const char *role,
                      const char *agent_id, const struct cm_resources *resources, struct fr **fp,
                      struct agent **agp)
{
    struct agent *ag = cm_strmap_get(&a->agents, agent_id);
    struct framework *fw = cm_strmap_get(&a->frameworks, framework_id);
    struct fr *f = fw ? fr_find(fw, role) : NULL;
    if (f) {
        int64_t al[K_N];
        cm_drf_scalars(resources, al);
        for (int k = 0; k < K_N; k++) /* never below zero, whatever the caller says */
            if (al[k] > f->alloc[k])
                al[k] = f->alloc[k];
        cm_drf_account(a, f, al, -1, false);
    }
    *fp = f;
    *agp = ag;
    if (!ag)
        return false;
    /* The usual decline gives back a whole offer of everything: then resources == basis and
     * the interned basis serves the filter without hashing or comparing. */
    bool was_empty = cm_resources_empty(&ag->free), is_basis = false;
    if (!cm_resources_empty(resources)) {
        cm_resources_add(&ag->free, resources);
        ag->free_gen++;
        cm_dirty_mark(a, ag);
        /* The blocked bits hold for anything inside basis; outside it they must be redone. */
        if (!cm_resources_contains(&ag->basis, &ag->free)) {
            cm_bits_reset(ag);
            cm_resources_clear(&ag->basis);
            cm_resources_add(&ag->basis, &ag->free);
            if (ag->basis_ires)
                cm_itab_release(&a->itab, ag->basis_ires);
            ag->basis_ires = NULL;
            ag->free_is_basis = true;
        } else {
            ag->free_is_basis = cm_resources_contains(&ag->free, &ag->basis);
        }
        is_basis = was_empty && ag->free_is_basis;
    }
    return is_basis;
}

int cm_allocator_recover(struct cm_allocator *a, const char *framework_id, const char *role,
                         const char *agent_id, const struct cm_resources *resources,
                         double refuse_seconds)
{
    if (!framework_id || !role || !agent_id || !resources)
        return CM_EINVAL;
    struct fr *f;
    struct agent *ag;
    bool is_basis = give_back(a, framework_id, role, agent_id, resources, &f, &ag);
    if (!f || cm_resources_empty(resources))
        return 0;
    f->change_gen++; /* not a decline: the framework-role's back-off records no longer hold */
    if (ag)
        cm_backoff_lift(a, f, ag); /* what came back is offered at once, not after the back-off */
    if (ag && refuse_seconds > 0)
        cm_filters_install(a, f, ag, resources, refuse_seconds, is_basis, 0, 0);
    return 0;
}

int cm_allocator_decline(struct cm_allocator *a, const char *framework_id, const char *role,
                         const char *agent_id, const struct cm_resources *resources,
                         double refuse_seconds)
{
    if (!framework_id || !role || !agent_id || !resources)
        return CM_EINVAL;
    struct fr *f;
    struct agent *ag;
    bool is_basis = give_back(a, framework_id, role, agent_id, resources, &f, &ag);
    if (f && ag && !cm_resources_empty(resources))
        cm_backoff_decline(a, f, ag, resources, refuse_seconds, is_basis);
    return 0;
}

void cm_allocator_stats(const struct cm_allocator *a, struct cm_allocator_stats *out)
{
    memset(out, 0, sizeof *out);
    out->agents = a->nagents;
    out->frameworks = a->nframeworks;
    out->active_filters = a->nfilters;
    int64_t used[K_N] = {0};
    for (size_t i = 0; i < a->nagents; i++) {
        const struct agent *ag = a->agv[i];
        if (!ag->active)
            continue;
        int64_t fr[K_N];
        cm_drf_scalars(&ag->free, fr);
        for (int k = 0; k < K_N; k++)
            used[k] += ag->tot[k] - fr[k];
    }
    out->cpus_total = cm_scalar_to_double(a->total_active[K_CPUS]);
    out->mem_total = cm_scalar_to_double(a->total_active[K_MEM]);
    out->disk_total = cm_scalar_to_double(a->total_active[K_DISK]);
    out->cpus_allocated = cm_scalar_to_double(used[K_CPUS]);
    out->mem_allocated = cm_scalar_to_double(used[K_MEM]);
    out->disk_allocated = cm_scalar_to_double(used[K_DISK]);
}
