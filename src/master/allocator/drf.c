/*
 * drf.c: shares, weights and the sorted order of roles and framework-roles; see drf.h.
 */
#include "drf.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const kind_names[K_N] = {"cpus", "mem", "disk", "gpus"};

/* One pass over r (this runs for every offer and every recovery). */
void cm_drf_scalars(const struct cm_resources *r, int64_t out[K_N])
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

double cm_drf_dominant(const struct cm_allocator *a, const int64_t al[K_N])
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
    r->share = cm_drf_dominant(a, r->sub) / r->weight;
    r->self_share = cm_drf_dominant(a, r->self) / r->weight;
    for (size_t i = 0; i < r->nfrs; i++) {
        struct fr *f = r->frs[i];
        f->share = cm_drf_dominant(a, f->alloc);
    }
    if (r->nfrs > 1)
        qsort(r->frs, r->nfrs, sizeof *r->frs, cmp_fr);
    for (size_t i = 0; i < r->nkids; i++)
        resort(a, r->kids[i]);
    if (r->nkids > 1)
        qsort(r->kids, r->nkids, sizeof *r->kids, cmp_role);
}

void cm_drf_resort(struct cm_allocator *a)
{
    resort(a, &a->root);
}

/* Adds sign * al to f's allocation and its roles'. If sorted, keeps the arrays in order. */
void cm_drf_account(struct cm_allocator *a, struct fr *f, const int64_t al[K_N], int sign,
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
    arr_reposition(r->frs, r->nfrs, f, fr_before, &f->share, cm_drf_dominant(a, f->alloc));
    r->self_share = cm_drf_dominant(a, r->self) / r->weight;
    for (; r->parent; r = r->parent)
        arr_reposition(r->parent->kids, r->parent->nkids, r, role_before, &r->share,
                       cm_drf_dominant(a, r->sub) / r->weight);
}

/* ---- Roles ---- */

static double weight_of(const struct cm_allocator *a, const char *role)
{
    const double *w = cm_strmap_get(&a->weights, role);
    return w ? *w : 1.0;
}

struct role *cm_drf_role_get(struct cm_allocator *a, const char *name)
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
        parent = cm_drf_role_get(a, pname);
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
void cm_drf_role_gc(struct cm_allocator *a, struct role *r)
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

void cm_drf_fr_insert(struct cm_allocator *a, struct fr *f)
{
    struct role *r = f->role;
    f->share = cm_drf_dominant(a, f->alloc);
    arr_insert(&r->frs, &r->nfrs, &r->capfrs, f, fr_before);
}

void cm_drf_fr_remove(struct fr *f)
{
    struct role *r = f->role;
    arr_remove(r->frs, &r->nfrs, f, fr_before);
}

/* True if f comes before g in the order of a cycle: at their lowest common role, a child
 * role by its share, the role's own framework-roles as one more sibling (first on ties). */
bool cm_drf_order_before(const struct fr *f, const struct fr *g)
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

/* ---- Read-only views ---- */

double cm_allocator_role_share(const struct cm_allocator *a, const char *role)
{
    const struct role *r = role ? cm_strmap_get(&a->roles, role) : NULL;
    return r ? cm_drf_dominant(a, r->sub) : 0.0;
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
