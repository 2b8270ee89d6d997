/*
 * allocator.c: hierarchical weighted DRF with filters and an O(1) skip for agents nobody
 * can take. The design is described in allocator.h.
 */
#include "allocator.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "filter_tables.h"
#include "strmap.h"
#include "util.h"

/* The resource kinds DRF looks at. */
enum { K_CPUS, K_MEM, K_DISK, K_GPUS, K_N };
static const char *const kind_names[K_N] = {"cpus", "mem", "disk", "gpus"};

#define MAX_REFUSE_SECONDS (365.0 * 24 * 3600)
#define MIN_CPUS_MILLI 10   /* cpus:0.01 */
#define MIN_MEM_MILLI 32000 /* mem:32 (MB) */

/* ---- The model ---- */

struct framework;

struct role {
    char *name; /* full path, e.g. "eng/web" */
    struct role *parent;
    double weight;
    void **kids; /* struct role *, sorted by share */
    size_t nkids, capkids;
    void **frs; /* struct fr *, sorted by share */
    size_t nfrs, capfrs;
    int64_t sub[K_N];  /* allocation of the subtree */
    int64_t self[K_N]; /* allocation of this role's own framework-roles */
    double share;      /* weighted share of sub, the sort key among siblings */
    double self_share; /* weighted share of self, competing with the kids */
    int depth;         /* root 0 */
};

struct fr {
    struct framework *fw;
    struct role *role;
    uint32_t slot;
    uint64_t serial; /* tie breaker: insertion order */
    int64_t alloc[K_N];
    double share;
    bool suppressed;
    uint64_t taken_visit; /* a->visit of the agent visit it was last allocated in */
    struct ftab filters;
};

struct framework {
    char *id;
    bool active;
    struct fr **frs;
    size_t nfrs;
};

struct agent {
    char *id;
    uint32_t serial;
    size_t index;
    bool active, has_reserved;
    struct cm_resources total, free, basis;
    bool free_is_basis;
    struct ires *basis_ires; /* basis interned, once a filter used it; NULL before */
    int64_t tot[K_N];
    uint64_t *bits; /* by fr slot: a live filter covers what basis offers the fr */
    size_t nwords, nblocked;
    double bits_until; /* earliest expiry of the filters behind set bits */
    uint64_t free_gen; /* bumped whenever free grows */
    uint64_t skip_epoch, skip_gen;
    double skip_until;
    bool dirty;         /* in the dirty set: may have something new to offer */
    size_t dirty_index; /* its place in a->dirty while dirty */
};

struct cm_allocator {
    const struct cm_clock *clock;
    cm_allocator_offer_cb cb;
    void *arg;
    struct cm_strmap agents, frameworks, roles, weights;
    struct agent **agv;
    size_t nagents, capagents;
    struct role root;
    int64_t total[K_N];        /* of all agents: the DRF denominator */
    int64_t total_active[K_N]; /* of active agents */
    struct fr **slots;
    size_t nslots;
    uint32_t *freeslots;
    size_t nfreeslots;
    size_t nframeworks, nfilters;
    struct itab itab;
    uint32_t next_agent_serial;
    uint64_t next_serial, epoch, visit;
    struct cm_resources scratch, offer;
    /* Event-driven allocation: agents that may have something new to offer since the last
     * cycle, or all of them (all_dirty) after an event that can add a candidate anywhere. */
    struct agent **dirty;
    size_t ndirty, capdirty;
    bool all_dirty;
    cm_allocator_wake_cb wake;
    void *wake_arg;
};

/* ---- The dirty set ---- */

static bool dirty_any(const struct cm_allocator *a)
{
    return a->all_dirty || a->ndirty > 0;
}

static void wake_if_first(struct cm_allocator *a, bool was_dirty)
{
    if (!was_dirty && a->wake)
        a->wake(a->wake_arg);
}

static void mark_dirty(struct cm_allocator *a, struct agent *ag)
{
    if (ag->dirty)
        return;
    bool was = dirty_any(a);
    if (a->ndirty == a->capdirty) {
        a->capdirty = a->capdirty ? a->capdirty * 2 : 64;
        a->dirty = cm_xrealloc(a->dirty, a->capdirty * sizeof *a->dirty);
    }
    ag->dirty = true;
    ag->dirty_index = a->ndirty;
    a->dirty[a->ndirty++] = ag;
    wake_if_first(a, was);
}

static void mark_all_dirty(struct cm_allocator *a)
{
    bool was = dirty_any(a);
    a->all_dirty = true;
    wake_if_first(a, was);
}

static void unmark_dirty(struct cm_allocator *a, struct agent *ag)
{
    if (!ag->dirty)
        return;
    struct agent *last = a->dirty[--a->ndirty];
    a->dirty[ag->dirty_index] = last;
    last->dirty_index = ag->dirty_index;
    ag->dirty = false;
}

static void dirty_clear(struct cm_allocator *a)
{
    for (size_t i = 0; i < a->ndirty; i++)
        a->dirty[i]->dirty = false;
    a->ndirty = 0;
    a->all_dirty = false;
}

/* One pass over r (this runs for every offer and every recovery). */
static void scalars_of(const struct cm_resources *r, int64_t out[K_N])
{
    memset(out, 0, K_N * sizeof *out);
    for (size_t i = 0; i < r->n; i++) {
        const struct cm_resource *e = &r->v[i];
        if (e->type != CM_VALUE_SCALAR)
            continue;
        for (int k = 0; k < K_N; k++) {
            if (e->name[0] == kind_names[k][0] && strcmp(e->name, kind_names[k]) == 0) {
                out[k] += e->scalar;
                break;
            }
        }
    }
}

static bool meets_min(const struct cm_resources *r)
{
    return cm_resources_scalar(r, "cpus") >= MIN_CPUS_MILLI ||
           cm_resources_scalar(r, "mem") >= MIN_MEM_MILLI;
}

static double dominant(const struct cm_allocator *a, const int64_t al[K_N])
{
    double m = 0;
    for (int k = 0; k < K_N; k++) {
        if (a->total[k] > 0) {
            double s = (double)al[k] / (double)a->total[k];
            if (s > m)
                m = s;
        }
    }
    return m;
}

/* ---- Sorted arrays ---- */

typedef bool (*before_fn)(const void *x, const void *y);

static bool fr_before(const void *x, const void *y)
{
    const struct fr *f = x, *g = y;
    if (f->share != g->share)
        return f->share < g->share;
    return f->serial < g->serial;
}

static bool role_before(const void *x, const void *y)
{
    const struct role *r = x, *s = y;
    if (r->share != s->share)
        return r->share < s->share;
    return strcmp(r->name, s->name) < 0;
}

static size_t arr_lower(void **v, size_t n, const void *x, before_fn before)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (before(v[mid], x))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t arr_index(void **v, size_t n, const void *x, before_fn before)
{
    size_t i = arr_lower(v, n, x, before);
    if (i < n && v[i] == x)
        return i;
    for (i = 0; i < n; i++) /* only if the keys were changed behind our back */
        if (v[i] == x)
            return i;
    abort();
}

static void arr_insert(void ***v, size_t *n, size_t *cap, void *x, before_fn before)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = cm_xrealloc(*v, *cap * sizeof **v);
    }
    size_t i = arr_lower(*v, *n, x, before);
    memmove(*v + i + 1, *v + i, (*n - i) * sizeof **v);
    (*v)[i] = x;
    (*n)++;
}

static void arr_remove(void **v, size_t *n, const void *x, before_fn before)
{
    size_t i = arr_index(v, *n, x, before);
    memmove(v + i, v + i + 1, (*n - i - 1) * sizeof *v);
    (*n)--;
}

/* Moves x (at its place for its current key) to its place for the key set by set_key. */
static void arr_reposition(void **v, size_t n, void *x, before_fn before, double *key, double value)
{
    size_t i = arr_index(v, n, x, before);
    memmove(v + i, v + i + 1, (n - i - 1) * sizeof *v);
    *key = value;
    size_t j = arr_lower(v, n - 1, x, before);
    memmove(v + j + 1, v + j, (n - 1 - j) * sizeof *v);
    v[j] = x;
}

static int cmp_fr(const void *x, const void *y)
{
    const void *f = *(void *const *)x, *g = *(void *const *)y;
    return fr_before(f, g) ? -1 : fr_before(g, f) ? 1 : 0;
}

static int cmp_role(const void *x, const void *y)
{
    const void *f = *(void *const *)x, *g = *(void *const *)y;
    return role_before(f, g) ? -1 : role_before(g, f) ? 1 : 0;
}

/* Recomputes every share and re-sorts every array (the cluster total may have changed). */
static void resort(struct cm_allocator *a, struct role *r)
{
    r->share = dominant(a, r->sub) / r->weight;
    r->self_share = dominant(a, r->self) / r->weight;
    for (size_t i = 0; i < r->nfrs; i++) {
        struct fr *f = r->frs[i];
        f->share = dominant(a, f->alloc);
    }
    if (r->nfrs > 1)
        qsort(r->frs, r->nfrs, sizeof *r->frs, cmp_fr);
    for (size_t i = 0; i < r->nkids; i++)
        resort(a, r->kids[i]);
    if (r->nkids > 1)
        qsort(r->kids, r->nkids, sizeof *r->kids, cmp_role);
}

/* Adds sign * al to f's allocation and its roles'. If sorted, keeps the arrays in order. */
static void account(struct cm_allocator *a, struct fr *f, const int64_t al[K_N], int sign,
                    bool sorted)
{
    for (int k = 0; k < K_N; k++) {
        f->alloc[k] += sign * al[k];
        f->role->self[k] += sign * al[k];
        for (struct role *r = f->role; r; r = r->parent)
            r->sub[k] += sign * al[k];
    }
    if (!sorted)
        return;
    struct role *r = f->role;
    arr_reposition(r->frs, r->nfrs, f, fr_before, &f->share, dominant(a, f->alloc));
    r->self_share = dominant(a, r->self) / r->weight;
    for (; r->parent; r = r->parent)
        arr_reposition(r->parent->kids, r->parent->nkids, r, role_before, &r->share,
                       dominant(a, r->sub) / r->weight);
}

/* ---- Roles ---- */

static double weight_of(const struct cm_allocator *a, const char *role)
{
    const double *w = cm_strmap_get(&a->weights, role);
    return w ? *w : 1.0;
}

static struct role *role_get(struct cm_allocator *a, const char *name)
{
    struct role *r = cm_strmap_get(&a->roles, name);
    if (r)
        return r;
    struct role *parent = &a->root;
    const char *slash = strrchr(name, '/');
    if (slash && slash != name) {
        char *pname = cm_xmalloc((size_t)(slash - name) + 1);
        memcpy(pname, name, (size_t)(slash - name));
        pname[slash - name] = '\0';
        parent = role_get(a, pname);
        free(pname);
    }
    r = cm_xcalloc(1, sizeof *r);
    r->name = cm_xstrdup(name);
    r->parent = parent;
    r->depth = parent->depth + 1;
    r->weight = weight_of(a, name);
    cm_strmap_put(&a->roles, r->name, r);
    arr_insert(&parent->kids, &parent->nkids, &parent->capkids, r, role_before);
    return r;
}

/* Drops roles that no longer have framework-roles or children. */
static void role_gc(struct cm_allocator *a, struct role *r)
{
    while (r && r != &a->root && r->nfrs == 0 && r->nkids == 0) {
        struct role *parent = r->parent;
        arr_remove(parent->kids, &parent->nkids, r, role_before);
        cm_strmap_remove(&a->roles, r->name);
        free(r->kids);
        free(r->frs);
        free(r->name);
        free(r);
        r = parent;
    }
}

/* ---- Agent blocked bits ---- */

static inline bool bit_get(const struct agent *ag, uint32_t slot)
{
    size_t w = slot / 64;
    return w < ag->nwords && (ag->bits[w] >> (slot % 64)) & 1;
}

static void bit_set(struct agent *ag, uint32_t slot)
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

static void bit_clear(struct agent *ag, uint32_t slot)
{
    size_t w = slot / 64;
    if (w < ag->nwords && ((ag->bits[w] >> (slot % 64)) & 1)) {
        ag->bits[w] &= ~(1ULL << (slot % 64));
        ag->nblocked--;
    }
}

static void bits_reset(struct agent *ag)
{
    if (ag->nblocked)
        memset(ag->bits, 0, ag->nwords * sizeof *ag->bits);
    ag->nblocked = 0;
    ag->bits_until = INFINITY;
}

/* ---- Framework-roles ---- */

static void fr_clear_filters(struct cm_allocator *a, struct fr *f)
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
        bit_clear(a->agv[i], f->slot);
}

static struct fr *fr_new(struct cm_allocator *a, struct framework *fw, const char *role)
{
    struct fr *f = cm_xcalloc(1, sizeof *f);
    f->fw = fw;
    f->role = role_get(a, role);
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
    f->share = dominant(a, f->alloc);
    struct role *r = f->role;
    arr_insert(&r->frs, &r->nfrs, &r->capfrs, f, fr_before);
    return f;
}

static void fr_free(struct cm_allocator *a, struct fr *f)
{
    int64_t al[K_N];
    memcpy(al, f->alloc, sizeof al);
    account(a, f, al, -1, false);
    fr_clear_filters(a, f);
    struct role *r = f->role;
    arr_remove(r->frs, &r->nfrs, f, fr_before);
    role_gc(a, r);
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
    scalars_of(total, ag->tot);
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
    mark_dirty(a, ag);
    return 0;
}

int cm_allocator_remove_agent(struct cm_allocator *a, const char *agent_id)
{
    struct agent *ag = agent_id ? cm_strmap_get(&a->agents, agent_id) : NULL;
    if (!ag)
        return CM_ENOTFOUND;
    /* Its filters go: one probe per framework-role. */
    for (size_t s = 0; s < a->nslots; s++) {
        struct fr *f = a->slots[s];
        struct fent *e = f ? cm_ftab_find(&f->filters, ag->serial) : NULL;
        if (e) {
            cm_itab_release(&a->itab, e->res);
            e->key = FKEY_TOMB;
            e->res = NULL;
            f->filters.n--;
            a->nfilters--;
        }
    }
    for (int k = 0; k < K_N; k++) {
        a->total[k] -= ag->tot[k];
        if (ag->active)
            a->total_active[k] -= ag->tot[k];
    }
    unmark_dirty(a, ag);
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
        mark_dirty(a, ag);
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
    mark_all_dirty(a);
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
        mark_all_dirty(a);
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
            fr_clear_filters(a, f);
    }
    if (revive) {
        a->epoch++;
        mark_all_dirty(a);
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
        scalars_of(resources, al);
        account(a, f, al, 1, false);
    }
    return ag && f ? 0 : CM_ENOTFOUND;
}

int cm_allocator_recover(struct cm_allocator *a, const char *framework_id, const char *role,
                         const char *agent_id, const struct cm_resources *resources,
                         double refuse_seconds)
{
    if (!framework_id || !role || !agent_id || !resources)
        return CM_EINVAL;
    struct agent *ag = cm_strmap_get(&a->agents, agent_id);
    struct framework *fw = cm_strmap_get(&a->frameworks, framework_id);
    struct fr *f = fw ? fr_find(fw, role) : NULL;
    if (f) {
        int64_t al[K_N];
        scalars_of(resources, al);
        for (int k = 0; k < K_N; k++) /* never below zero, whatever the caller says */
            if (al[k] > f->alloc[k])
                al[k] = f->alloc[k];
        account(a, f, al, -1, false);
    }
    if (!ag)
        return 0;
    /* The usual decline gives back a whole offer of everything: then resources == basis and
     * the interned basis serves the filter without hashing or comparing. */
    bool was_empty = cm_resources_empty(&ag->free), is_basis = false;
    if (!cm_resources_empty(resources)) {
        cm_resources_add(&ag->free, resources);
        ag->free_gen++;
        mark_dirty(a, ag);
        /* The blocked bits hold for anything inside basis; outside it they must be redone. */
        if (!cm_resources_contains(&ag->basis, &ag->free)) {
            bits_reset(ag);
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
    if (f && refuse_seconds > 0 && !cm_resources_empty(resources)) {
        if (refuse_seconds > MAX_REFUSE_SECONDS)
            refuse_seconds = MAX_REFUSE_SECONDS;
        double expiry = cm_clock_now(a->clock) + refuse_seconds;
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
            /* One filter per (framework-role, agent): keep the old one only if it is wider
             * and lasts longer, otherwise the new one replaces it. */
            if (e->expiry >= expiry && cm_resources_contains(&e->res->r, resources)) {
                cm_itab_release(&a->itab, res);
                return 0;
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
        /* Keep the cached bit exact: set it now when the filter covers everything the agent
         * has (the common decline of a whole offer), which saves a probe next cycle. */
        if (!ag->has_reserved && ag->free_is_basis &&
            (is_basis || cm_resources_contains(&e->res->r, &ag->free))) {
            bit_set(ag, f->slot);
            if (e->expiry < ag->bits_until)
                ag->bits_until = e->expiry;
        } else {
            bit_clear(ag, f->slot);
        }
    }
    return 0;
}

/* ---- The cycle ---- */

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
    struct fent *e = cm_ftab_find(&f->filters, s->ag->serial);
    if (!e)
        return false;
    if (e->expiry <= s->now) {
        cm_itab_release(&s->a->itab, e->res);
        e->key = FKEY_TOMB;
        e->res = NULL;
        f->filters.n--;
        s->a->nfilters--;
        return false;
    }
    if (!cm_resources_contains(&e->res->r, s->avail))
        return false;
    if (s->ag->free_is_basis) {
        bit_set(s->ag, f->slot);
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
    scalars_of(&a->offer, al);
    account(a, f, al, 1, true);
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
        if (bit_get(s->ag, f->slot) || skippable(s, f))
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

/* True if f comes before g in the order of a cycle: at their lowest common role, a child
 * role by its share, the role's own framework-roles as one more sibling (first on ties). */
static bool order_before(const struct fr *f, const struct fr *g)
{
    const struct role *x = f->role, *y = g->role, *cx = NULL, *cy = NULL;
    if (x == y)
        return fr_before(f, g);
    while (x->depth > y->depth) {
        cx = x;
        x = x->parent;
    }
    while (y->depth > x->depth) {
        cy = y;
        y = y->parent;
    }
    while (x != y) {
        cx = x;
        x = x->parent;
        cy = y;
        y = y->parent;
    }
    if (!cx)
        return x->self_share <= cy->share;
    if (!cy)
        return !(x->self_share <= cx->share);
    return role_before(cx, cy);
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
            if (!f || skippable(s, f) || (best && !order_before(f, best)))
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
        bits_reset(ag);
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
    dirty_clear(a); /* every agent is visited */
    resort(a, &a->root);
    for (size_t i = 0; i < a->nagents; i++)
        offers += visit_agent(a, a->agv[i], now);
    return offers;
}

void cm_allocator_set_wake(struct cm_allocator *a, cm_allocator_wake_cb cb, void *arg)
{
    a->wake = cb;
    a->wake_arg = arg;
}

bool cm_allocator_dirty(const struct cm_allocator *a)
{
    return dirty_any(a);
}

void cm_allocator_forget_dirty(struct cm_allocator *a)
{
    dirty_clear(a);
}

size_t cm_allocator_run_dirty(struct cm_allocator *a)
{
    if (a->all_dirty || a->ndirty * 2 >= a->nagents)
        return cm_allocator_run(a);
    if (!a->ndirty)
        return 0;
    double now = cm_clock_now(a->clock);
    resort(a, &a->root);
    /* Visit in the order agents were added, as a full cycle would (the set is unordered). */
    size_t n = a->ndirty, offers = 0;
    struct agent **v = cm_xmalloc(n * sizeof *v);
    memcpy(v, a->dirty, n * sizeof *v);
    dirty_clear(a);
    qsort(v, n, sizeof *v, cmp_agent_index);
    for (size_t i = 0; i < n; i++)
        offers += visit_agent(a, v[i], now);
    free(v);
    return offers;
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
        scalars_of(&ag->free, fr);
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

double cm_allocator_role_share(const struct cm_allocator *a, const char *role)
{
    const struct role *r = role ? cm_strmap_get(&a->roles, role) : NULL;
    return r ? dominant(a, r->sub) : 0.0;
}

struct order_out {
    const char **ids, **roles;
    size_t max, n;
};

static void order_walk(struct role *r, struct order_out *o)
{
    bool self_done = r->nfrs == 0;
    size_t i = 0;
    for (;;) {
        struct role *k = i < r->nkids ? r->kids[i] : NULL;
        if (!self_done && (!k || r->self_share <= k->share)) {
            self_done = true;
            for (size_t j = 0; j < r->nfrs; j++, o->n++) {
                struct fr *f = r->frs[j];
                if (o->n < o->max) {
                    if (o->ids)
                        o->ids[o->n] = f->fw->id;
                    if (o->roles)
                        o->roles[o->n] = f->role->name;
                }
            }
            continue;
        }
        if (!k)
            return;
        i++;
        order_walk(k, o);
    }
}

size_t cm_allocator_order(struct cm_allocator *a, const char **framework_ids, const char **roles,
                          size_t max)
{
    resort(a, &a->root);
    struct order_out o = {framework_ids, roles, max, 0};
    order_walk(&a->root, &o);
    return o.n;
}
