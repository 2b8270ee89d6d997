/*
 * resources.c: normalized resource bags and their arithmetic.
 *
 * The allocator calls add/subtract/contains for every agent on every cycle, so those paths
 * allocate only when a bag genuinely grows (a new entry, more ranges or items). Well-known
 * names and the unreserved role "*" point at static strings instead of heap copies.
 */

/* Resource.role is [deprecated]; we must still read and write it for the v1 wire format. */
#define PROTOBUF_C__NO_DEPRECATED 1

#include "resources.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "ids.h"
#include "pbjson.h"
#include "util.h"

/* The largest scalar accepted as input: sums over tens of thousands of agents stay far from
 * int64 overflow in milli-units. */
#define CM_SCALAR_MAX 1e12

static char star_role[] = "*";
static char *static_names[] = {"cpus", "mem", "disk", "ports", "gpus"};

static bool is_static(const char *s)
{
    if (s == star_role)
        return true;
    for (size_t i = 0; i < sizeof static_names / sizeof static_names[0]; i++) {
        if (s == static_names[i])
            return true;
    }
    return false;
}

static char *name_dup(const char *s)
{
    for (size_t i = 0; i < sizeof static_names / sizeof static_names[0]; i++) {
        if (strcmp(s, static_names[i]) == 0)
            return static_names[i];
    }
    return cm_xstrdup(s);
}

static char *role_dup(const char *s)
{
    return strcmp(s, "*") == 0 ? star_role : cm_xstrdup(s);
}

static void str_free(char *s)
{
    if (s && !is_static(s))
        free(s);
}

int64_t cm_scalar_from_double(double value)
{
    /* Clamp so llround never leaves int64 range; validation refuses such values anyway. */
    if (!(value > -CM_SCALAR_MAX))
        value = value != value ? 0 : -CM_SCALAR_MAX;
    if (value > CM_SCALAR_MAX)
        value = CM_SCALAR_MAX;
    return (int64_t)llround(value * 1000.0);
}

double cm_scalar_to_double(int64_t milli)
{
    return (double)milli / 1000.0;
}

/* ------------------------------------------------------------------------------------------ */
/* Entries */

static void entry_cleanup(struct cm_resource *e)
{
    str_free(e->name);
    str_free(e->role);
    free(e->principal);
    free(e->ranges);
    for (size_t i = 0; i < e->nitems; i++)
        free(e->items[i]);
    free(e->items);
    memset(e, 0, sizeof *e);
}

static void entry_copy(struct cm_resource *dst, const struct cm_resource *src)
{
    memset(dst, 0, sizeof *dst);
    dst->name = is_static(src->name) ? src->name : name_dup(src->name);
    dst->type = src->type;
    dst->scalar = src->scalar;
    dst->role = is_static(src->role) ? src->role : role_dup(src->role);
    dst->dynamic = src->dynamic;
    dst->principal = src->principal ? cm_xstrdup(src->principal) : NULL;
    if (src->nranges) {
        dst->ranges = cm_xrealloc(NULL, src->nranges * sizeof *dst->ranges);
        memcpy(dst->ranges, src->ranges, src->nranges * sizeof *dst->ranges);
        dst->nranges = src->nranges;
    }
    if (src->nitems) {
        dst->items = cm_xrealloc(NULL, src->nitems * sizeof *dst->items);
        for (size_t i = 0; i < src->nitems; i++)
            dst->items[i] = cm_xstrdup(src->items[i]);
        dst->nitems = src->nitems;
    }
}

static bool entry_empty(const struct cm_resource *e)
{
    switch (e->type) {
    case CM_VALUE_SCALAR: return e->scalar <= 0;
    case CM_VALUE_RANGES: return e->nranges == 0;
    case CM_VALUE_SET: return e->nitems == 0;
    }
    return true;
}

static bool str_eq(const char *a, const char *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    return strcmp(a, b) == 0;
}

static bool same_key(const struct cm_resource *a, const struct cm_resource *b)
{
    return a->type == b->type && a->dynamic == b->dynamic && str_eq(a->name, b->name) &&
           str_eq(a->role, b->role) && str_eq(a->principal, b->principal);
}

static struct cm_resource *find_entry(const struct cm_resources *r, const struct cm_resource *key)
{
    for (size_t i = 0; i < r->n; i++) {
        if (same_key(&r->v[i], key))
            return &r->v[i];
    }
    return NULL;
}

static struct cm_resource *append_slot(struct cm_resources *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4;
        r->v = cm_xrealloc(r->v, r->cap * sizeof *r->v);
    }
    struct cm_resource *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static void remove_entry(struct cm_resources *r, struct cm_resource *e)
{
    size_t i = (size_t)(e - r->v);
    entry_cleanup(e);
    memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof *r->v);
    r->n--;
}

/* ------------------------------------------------------------------------------------------ */
/* Ranges (sorted, disjoint, non-adjacent) and sets (sorted, unique) */

static int range_cmp(const void *a, const void *b)
{
    const struct cm_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorts and coalesces overlapping or adjacent ranges in place; returns the new count. */
static size_t ranges_normalize(struct cm_range *v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof *v, range_cmp);
    size_t o = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i].begin <= v[o].end || (v[o].end != UINT64_MAX && v[i].begin == v[o].end + 1)) {
            if (v[i].end > v[o].end)
                v[o].end = v[i].end;
        } else {
            v[++o] = v[i];
        }
    }
    return o + 1;
}

static void ranges_add(struct cm_resource *dst, const struct cm_range *src, size_t n)
{
    if (n == 0)
        return;
    dst->ranges = cm_xrealloc(dst->ranges, (dst->nranges + n) * sizeof *dst->ranges);
    memcpy(dst->ranges + dst->nranges, src, n * sizeof *src);
    dst->nranges = ranges_normalize(dst->ranges, dst->nranges + n);
}

/* dst -= src; both normalized. Splitting can add at most one range per subtracted range. */
static void ranges_subtract(struct cm_resource *dst, const struct cm_range *src, size_t n)
{
    if (n == 0 || dst->nranges == 0)
        return;
    size_t cap = dst->nranges + n;
    struct cm_range *out = cm_xrealloc(NULL, cap * sizeof *out);
    size_t o = 0, j = 0;
    for (size_t i = 0; i < dst->nranges; i++) {
        uint64_t b = dst->ranges[i].begin, e = dst->ranges[i].end;
        bool alive = true;
        while (j < n && src[j].end < b)
            j++;
        for (size_t k = j; k < n && src[k].begin <= e; k++) {
            if (src[k].begin > b)
                out[o++] = (struct cm_range){b, src[k].begin - 1};
            if (src[k].end >= e) {
                alive = false;
                break;
            }
            b = src[k].end + 1;
        }
        if (alive)
            out[o++] = (struct cm_range){b, e};
    }
    free(dst->ranges);
    dst->ranges = o ? out : NULL;
    if (!o)
        free(out);
    dst->nranges = o;
}

static bool ranges_contain(const struct cm_range *a, size_t na, const struct cm_range *b, size_t nb)
{
    size_t i = 0;
    for (size_t k = 0; k < nb; k++) {
        while (i < na && a[i].end < b[k].begin)
            i++;
        if (i == na || a[i].begin > b[k].begin || a[i].end < b[k].end)
            return false;
    }
    return true;
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and deduplicates items in place (freeing duplicates); returns the new count. */
static size_t items_normalize(char **v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof *v, str_ptr_cmp);
    size_t o = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i], v[o]) == 0)
            free(v[i]);
        else
            v[++o] = v[i];
    }
    return o + 1;
}

static void items_add(struct cm_resource *dst, char *const *src, size_t n)
{
    if (n == 0)
        return;
    dst->items = cm_xrealloc(dst->items, (dst->nitems + n) * sizeof *dst->items);
    for (size_t i = 0; i < n; i++)
        dst->items[dst->nitems + i] = cm_xstrdup(src[i]);
    dst->nitems = items_normalize(dst->items, dst->nitems + n);
}

static void items_subtract(struct cm_resource *dst, char *const *src, size_t n)
{
    size_t o = 0, j = 0;
    for (size_t i = 0; i < dst->nitems; i++) {
        while (j < n && strcmp(src[j], dst->items[i]) < 0)
            j++;
        if (j < n && strcmp(src[j], dst->items[i]) == 0)
            free(dst->items[i]);
        else
            dst->items[o++] = dst->items[i];
    }
    dst->nitems = o;
    if (!o) {
        free(dst->items);
        dst->items = NULL;
    }
}

static bool items_contain(char *const *a, size_t na, char *const *b, size_t nb)
{
    size_t i = 0;
    for (size_t k = 0; k < nb; k++) {
        while (i < na && strcmp(a[i], b[k]) < 0)
            i++;
        if (i == na || strcmp(a[i], b[k]) != 0)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Bags */

void cm_resources_init(struct cm_resources *r)
{
    memset(r, 0, sizeof *r);
}

void cm_resources_clear(struct cm_resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        entry_cleanup(&r->v[i]);
    r->n = 0;
}

void cm_resources_cleanup(struct cm_resources *r)
{
    cm_resources_clear(r);
    free(r->v);
    memset(r, 0, sizeof *r);
}

void cm_resources_copy(struct cm_resources *dst, const struct cm_resources *src)
{
    if (dst == src)
        return;
    cm_resources_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        entry_copy(append_slot(dst), &src->v[i]);
}

void cm_resources_move(struct cm_resources *dst, struct cm_resources *src)
{
    if (dst == src)
        return;
    cm_resources_cleanup(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

/* dst += one normalized entry. */
static void add_entry(struct cm_resources *dst, const struct cm_resource *e)
{
    if (entry_empty(e))
        return;
    struct cm_resource *d = find_entry(dst, e);
    if (!d) {
        entry_copy(append_slot(dst), e);
        return;
    }
    switch (e->type) {
    case CM_VALUE_SCALAR: d->scalar += e->scalar; break;
    case CM_VALUE_RANGES: ranges_add(d, e->ranges, e->nranges); break;
    case CM_VALUE_SET: items_add(d, e->items, e->nitems); break;
    }
}

void cm_resources_add(struct cm_resources *dst, const struct cm_resources *src)
{
    if (dst == src) {
        for (size_t i = 0; i < dst->n; i++) {
            if (dst->v[i].type == CM_VALUE_SCALAR)
                dst->v[i].scalar *= 2; /* ranges and sets are idempotent under union */
        }
        return;
    }
    for (size_t i = 0; i < src->n; i++)
        add_entry(dst, &src->v[i]);
}

void cm_resources_subtract(struct cm_resources *dst, const struct cm_resources *src)
{
    if (dst == src) {
        cm_resources_clear(dst);
        return;
    }
    for (size_t i = 0; i < src->n; i++) {
        const struct cm_resource *e = &src->v[i];
        struct cm_resource *d = find_entry(dst, e);
        if (!d)
            continue;
        switch (e->type) {
        case CM_VALUE_SCALAR: d->scalar = d->scalar > e->scalar ? d->scalar - e->scalar : 0; break;
        case CM_VALUE_RANGES: ranges_subtract(d, e->ranges, e->nranges); break;
        case CM_VALUE_SET: items_subtract(d, e->items, e->nitems); break;
        }
        if (entry_empty(d))
            remove_entry(dst, d);
    }
}

bool cm_resources_contains(const struct cm_resources *a, const struct cm_resources *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct cm_resource *e = &b->v[i];
        const struct cm_resource *d = find_entry(a, e);
        if (!d)
            return false;
        switch (e->type) {
        case CM_VALUE_SCALAR:
            if (d->scalar < e->scalar)
                return false;
            break;
        case CM_VALUE_RANGES:
            if (!ranges_contain(d->ranges, d->nranges, e->ranges, e->nranges))
                return false;
            break;
        case CM_VALUE_SET:
            if (!items_contain(d->items, d->nitems, e->items, e->nitems))
                return false;
            break;
        }
    }
    return true;
}

bool cm_resources_equal(const struct cm_resources *a, const struct cm_resources *b)
{
    return a->n == b->n && cm_resources_contains(a, b) && cm_resources_contains(b, a);
}

int64_t cm_resources_scalar(const struct cm_resources *r, const char *name)
{
    int64_t sum = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].type == CM_VALUE_SCALAR && strcmp(r->v[i].name, name) == 0)
            sum += r->v[i].scalar;
    }
    return sum;
}

/* True if role is ancestor (a proper prefix path) of, or equal to, of. */
static bool role_is_self_or_ancestor(const char *role, const char *of)
{
    size_t n = strlen(role);
    return strncmp(role, of, n) == 0 && (of[n] == '\0' || of[n] == '/');
}

void cm_resources_allocatable_to(const struct cm_resources *r, const char *role,
                                 struct cm_resources *dst)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct cm_resource *e = &r->v[i];
        if (strcmp(e->role, "*") == 0 || role_is_self_or_ancestor(e->role, role))
            add_entry(dst, e);
    }
}

void cm_resources_unreserved(const struct cm_resources *r, struct cm_resources *dst)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].role, "*") == 0)
            add_entry(dst, &r->v[i]);
    }
}

void cm_resources_reserved_to(const struct cm_resources *r, const char *role,
                              struct cm_resources *dst)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].role, "*") != 0 && strcmp(r->v[i].role, role) == 0)
            add_entry(dst, &r->v[i]);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Protobuf */

/* Validates one Resource and adds it to r. default_role applies when neither role nor
 * reservations are given. */
static int add_proto(struct cm_resources *r, const Mesos__V1__Resource *p, const char *default_role,
                     char *why, size_t whylen)
{
    const char *rolewhy;
    if (!p->name || !*p->name)
        return cm_fail(CM_EINVAL, why, whylen, "Resource with an empty name");
    const char *name = p->name;
    struct cm_resource e = {0};
    e.name = (char *)name;
    switch (p->type) {
    case MESOS__V1__VALUE__TYPE__SCALAR:
        if (!p->scalar || p->ranges || p->set)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Bad value for resource '%s': SCALAR needs 'scalar' only", name);
        if (!isfinite(p->scalar->value) || p->scalar->value < 0 || p->scalar->value > CM_SCALAR_MAX)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Bad value for resource '%s': scalar must be finite, >= 0 and <= 1e12",
                           name);
        e.type = CM_VALUE_SCALAR;
        e.scalar = cm_scalar_from_double(p->scalar->value);
        break;
    case MESOS__V1__VALUE__TYPE__RANGES:
        if (!p->ranges || p->scalar || p->set)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Bad value for resource '%s': RANGES needs 'ranges' only", name);
        e.type = CM_VALUE_RANGES;
        break;
    case MESOS__V1__VALUE__TYPE__SET:
        if (!p->set || p->scalar || p->ranges)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Bad value for resource '%s': SET needs 'set' only", name);
        e.type = CM_VALUE_SET;
        break;
    default:
        return cm_fail(CM_EINVAL, why, whylen, "Bad value for resource '%s': unsupported type",
                       name);
    }

    bool role_set = p->role && p->role != mesos__v1__resource__role__default_value;
    const char *role;
    if (p->n_reservations > 0) {
        if (role_set || p->reservation)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Resource '%s' mixes 'role'/'reservation' with 'reservations'", name);
        const Mesos__V1__Resource__ReservationInfo *last = p->reservations[p->n_reservations - 1];
        if (!last->role || !last->has_type ||
            (last->type != MESOS__V1__RESOURCE__RESERVATION_INFO__TYPE__STATIC &&
             last->type != MESOS__V1__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC))
            return cm_fail(CM_EINVAL, why, whylen,
                           "Resource '%s': a reservation needs a role and type STATIC or DYNAMIC",
                           name);
        role = last->role;
        if (last->type == MESOS__V1__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC) {
            e.dynamic = true;
            e.principal = last->principal;
        }
        if (strcmp(role, "*") == 0)
            return cm_fail(CM_EINVAL, why, whylen, "Resource '%s' cannot be reserved to '*'", name);
    } else {
        role = role_set ? p->role : (default_role ? default_role : "*");
        if (p->reservation) {
            if (p->reservation->has_type || p->reservation->role)
                return cm_fail(CM_EINVAL, why, whylen,
                               "Resource '%s': 'reservation' must not set type or role", name);
            if (strcmp(role, "*") == 0)
                return cm_fail(CM_EINVAL, why, whylen,
                               "Resource '%s' has a dynamic reservation to role '*'", name);
            e.dynamic = true;
            e.principal = p->reservation->principal;
        }
    }
    if (cm_role_validate(role, &rolewhy) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Resource '%s' has invalid role '%s': %s", name,
                       role, rolewhy);
    e.role = (char *)role;

    struct cm_range *tmp = NULL;
    if (e.type == CM_VALUE_RANGES) {
        size_t n = p->ranges->n_range;
        if (n) {
            tmp = cm_xrealloc(NULL, n * sizeof *tmp);
            for (size_t i = 0; i < n; i++) {
                const Mesos__V1__Value__Range *rg = p->ranges->range[i];
                if (rg->begin > rg->end) {
                    free(tmp);
                    return cm_fail(CM_EINVAL, why, whylen,
                                   "Bad value for resource '%s': range %" PRIu64 "-%" PRIu64
                                   " has begin > end",
                                   name, rg->begin, rg->end);
                }
                tmp[i] = (struct cm_range){rg->begin, rg->end};
            }
        }
        e.ranges = tmp;
        e.nranges = ranges_normalize(tmp, n);
    } else if (e.type == CM_VALUE_SET) {
        for (size_t i = 0; i < p->set->n_item; i++) {
            if (!p->set->item[i] || !*p->set->item[i])
                return cm_fail(CM_EINVAL, why, whylen,
                               "Bad value for resource '%s': empty set item", name);
        }
        /* Entries are copied by add_entry, which sorts; a temporary view is enough. */
        struct cm_resource view = e;
        view.items = NULL;
        view.nitems = 0;
        items_add(&view, p->set->item, p->set->n_item);
        add_entry(r, &view);
        for (size_t i = 0; i < view.nitems; i++)
            free(view.items[i]);
        free(view.items);
        return 0;
    }
    add_entry(r, &e);
    free(tmp);
    return 0;
}

int cm_resources_from_proto(struct cm_resources *r, Mesos__V1__Resource *const *v, size_t n,
                            char *why, size_t whylen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = add_proto(r, v[i], NULL, why, whylen);
        if (rc)
            return rc;
    }
    return 0;
}

static void *pb_new(const ProtobufCMessageDescriptor *d)
{
    void *m = calloc(1, d->sizeof_message);
    if (!m)
        abort();
    protobuf_c_message_init(d, m);
    return m;
}

void cm_resources_to_proto(const struct cm_resources *r, const char *allocation_role,
                           Mesos__V1__Resource ***out, size_t *n)
{
    Mesos__V1__Resource **v = cm_xrealloc(NULL, (r->n ? r->n : 1) * sizeof *v);
    for (size_t i = 0; i < r->n; i++) {
        const struct cm_resource *e = &r->v[i];
        Mesos__V1__Resource *p = pb_new(&mesos__v1__resource__descriptor);
        p->name = cm_xstrdup(e->name);
        p->role = cm_xstrdup(e->role);
        switch (e->type) {
        case CM_VALUE_SCALAR:
            p->type = MESOS__V1__VALUE__TYPE__SCALAR;
            p->scalar = pb_new(&mesos__v1__value__scalar__descriptor);
            p->scalar->value = cm_scalar_to_double(e->scalar);
            break;
        case CM_VALUE_RANGES:
            p->type = MESOS__V1__VALUE__TYPE__RANGES;
            p->ranges = pb_new(&mesos__v1__value__ranges__descriptor);
            p->ranges->n_range = e->nranges;
            p->ranges->range = cm_xrealloc(NULL, (e->nranges ? e->nranges : 1) * sizeof(void *));
            for (size_t k = 0; k < e->nranges; k++) {
                Mesos__V1__Value__Range *rg = pb_new(&mesos__v1__value__range__descriptor);
                rg->begin = e->ranges[k].begin;
                rg->end = e->ranges[k].end;
                p->ranges->range[k] = rg;
            }
            break;
        case CM_VALUE_SET:
            p->type = MESOS__V1__VALUE__TYPE__SET;
            p->set = pb_new(&mesos__v1__value__set__descriptor);
            p->set->n_item = e->nitems;
            p->set->item = cm_xrealloc(NULL, (e->nitems ? e->nitems : 1) * sizeof(char *));
            for (size_t k = 0; k < e->nitems; k++)
                p->set->item[k] = cm_xstrdup(e->items[k]);
            break;
        }
        if (e->dynamic) {
            p->reservation = pb_new(&mesos__v1__resource__reservation_info__descriptor);
            if (e->principal)
                p->reservation->principal = cm_xstrdup(e->principal);
        }
        if (allocation_role) {
            p->allocation_info = pb_new(&mesos__v1__resource__allocation_info__descriptor);
            p->allocation_info->role = cm_xstrdup(allocation_role);
        }
        v[i] = p;
    }
    *out = v;
    *n = r->n;
}

void cm_resources_proto_free(Mesos__V1__Resource **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(&v[i]->base, NULL);
    free(v);
}

/* ------------------------------------------------------------------------------------------ */
/* Text and JSON parsing */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Parses one "name(role):value" token (already trimmed, non-empty). */
static int parse_token(struct cm_resources *r, char *tok, const char *default_role, char *why,
                       size_t whylen)
{
    char *colon = strchr(tok, ':');
    if (!colon)
        return cm_fail(CM_EINVAL, why, whylen, "Bad value for resource '%s': missing ':value'",
                       tok);
    *colon = '\0';
    char *name = trim(tok);
    char *value = trim(colon + 1);
    const char *role = default_role ? default_role : "*";
    char *paren = strchr(name, '(');
    if (paren) {
        size_t nl = strlen(paren);
        if (paren[nl - 1] != ')')
            return cm_fail(CM_EINVAL, why, whylen, "Bad role in resource '%s'", name);
        paren[nl - 1] = '\0';
        *paren = '\0';
        role = trim(paren + 1);
        name = trim(name);
    }
    if (!*name)
        return cm_fail(CM_EINVAL, why, whylen, "Resource with an empty name");
    const char *rolewhy;
    if (cm_role_validate(role, &rolewhy) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Resource '%s' has invalid role '%s': %s", name,
                       role, rolewhy);

    struct cm_resource e = {.name = name, .role = (char *)role};
    if (*value == '[') {
        size_t vl = strlen(value);
        if (vl < 2 || value[vl - 1] != ']')
            return cm_fail(CM_EINVAL, why, whylen,
                           "Bad value for resource '%s': ranges must be '[b-e, ...]'", name);
        value[vl - 1] = '\0';
        e.type = CM_VALUE_RANGES;
        struct cm_range *tmp = NULL;
        size_t n = 0, cap = 0;
        char *save = NULL;
        for (char *part = strtok_r(value + 1, ",", &save); part;
             part = strtok_r(NULL, ",", &save)) {
            part = trim(part);
            if (!*part)
                continue;
            char *dash = strchr(part, '-');
            uint64_t b, en;
            if (!dash) {
                free(tmp);
                return cm_fail(CM_EINVAL, why, whylen,
                               "Bad value for resource '%s': range '%s' is not 'b-e'", name, part);
            }
            *dash = '\0';
            if (parse_u64(trim(part), &b) || parse_u64(trim(dash + 1), &en) || b > en) {
                free(tmp);
                return cm_fail(CM_EINVAL, why, whylen, "Bad value for resource '%s': invalid range",
                               name);
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 4;
                tmp = cm_xrealloc(tmp, cap * sizeof *tmp);
            }
            tmp[n++] = (struct cm_range){b, en};
        }
        e.ranges = tmp;
        e.nranges = ranges_normalize(tmp, n);
        add_entry(r, &e);
        free(tmp);
        return 0;
    }
    if (*value == '{') {
        size_t vl = strlen(value);
        if (vl < 2 || value[vl - 1] != '}')
            return cm_fail(CM_EINVAL, why, whylen,
                           "Bad value for resource '%s': sets must be '{a, b}'", name);
        value[vl - 1] = '\0';
        e.type = CM_VALUE_SET;
        char *save = NULL;
        struct cm_resource view = e;
        for (char *part = strtok_r(value + 1, ",", &save); part;
             part = strtok_r(NULL, ",", &save)) {
            part = trim(part);
            if (!*part)
                continue;
            items_add(&view, &part, 1);
        }
        add_entry(r, &view);
        for (size_t i = 0; i < view.nitems; i++)
            free(view.items[i]);
        free(view.items);
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(value, &end);
    if (!*value || *end || errno == ERANGE || !isfinite(d) || d < 0 || d > CM_SCALAR_MAX ||
        !(isdigit((unsigned char)value[0]) || value[0] == '.'))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Bad value for resource '%s': '%s' is not a non-negative number", name,
                       value);
    e.type = CM_VALUE_SCALAR;
    e.scalar = cm_scalar_from_double(d);
    add_entry(r, &e);
    return 0;
}

static int parse_json_array(struct cm_resources *r, const char *text, const char *default_role,
                            char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j || !json_is_array(j)) {
        json_decref(j);
        return cm_fail(CM_EINVAL, why, whylen, "Resources JSON must be an array: %s",
                       j ? "not an array" : jerr.text);
    }
    int rc = 0;
    size_t i;
    json_t *elem;
    json_array_foreach(j, i, elem)
    {
        ProtobufCMessage *m = NULL;
        char pwhy[256];
        rc = cm_pbjson_from_json(&mesos__v1__resource__descriptor, elem, &m, pwhy, sizeof pwhy);
        if (rc) {
            const char *nm = json_string_value(json_object_get(elem, "name"));
            rc = cm_fail(CM_EINVAL, why, whylen, "Bad resource '%s' (entry %zu): %s", nm ? nm : "?",
                         i, pwhy);
            break;
        }
        rc = add_proto(r, (Mesos__V1__Resource *)m, default_role, why, whylen);
        protobuf_c_message_free_unpacked(m, NULL);
        if (rc)
            break;
    }
    json_decref(j);
    return rc;
}

int cm_resources_parse(struct cm_resources *r, const char *text, const char *default_role,
                       char *why, size_t whylen)
{
    const char *why_role;
    if (default_role && cm_role_validate(default_role, &why_role) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid default role '%s': %s", default_role,
                       why_role);
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '[')
        return parse_json_array(r, p, default_role, why, whylen);
    char *copy = cm_xstrdup(text);
    char *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        tok = trim(tok);
        if (!*tok)
            continue;
        rc = parse_token(r, tok, default_role, why, whylen);
        if (rc)
            break;
    }
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Output */

struct strbuf {
    char *s;
    size_t len, cap;
};

static void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap ? b->cap : 64) * 2 + (size_t)n;
        b->s = cm_xrealloc(b->s, b->cap);
        if (b->len == 0)
            b->s[0] = '\0';
    }
}

static void format_ranges(struct strbuf *b, const struct cm_resource *e)
{
    sb_printf(b, "[");
    for (size_t k = 0; k < e->nranges; k++)
        sb_printf(b, "%s%" PRIu64 "-%" PRIu64, k ? ", " : "", e->ranges[k].begin, e->ranges[k].end);
    sb_printf(b, "]");
}

static void format_set(struct strbuf *b, const struct cm_resource *e)
{
    sb_printf(b, "{");
    for (size_t k = 0; k < e->nitems; k++)
        sb_printf(b, "%s%s", k ? ", " : "", e->items[k]);
    sb_printf(b, "}");
}

json_t *cm_resources_summary_json(const struct cm_resources *r)
{
    /* Collapse roles: the summary sums each name over every reservation. */
    struct cm_resources merged;
    cm_resources_init(&merged);
    for (size_t i = 0; i < r->n; i++) {
        struct cm_resource view = r->v[i];
        view.role = star_role;
        view.dynamic = false;
        view.principal = NULL;
        add_entry(&merged, &view);
    }
    json_t *o = json_object();
    if (!o)
        abort();
    static const char *always[] = {"cpus", "gpus", "mem", "disk"};
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(o, always[i], json_real(0.0));
    for (size_t i = 0; i < merged.n; i++) {
        const struct cm_resource *e = &merged.v[i];
        struct strbuf b = {0};
        switch (e->type) {
        case CM_VALUE_SCALAR:
            json_object_set_new(o, e->name, json_real(cm_scalar_to_double(e->scalar)));
            break;
        case CM_VALUE_RANGES:
            format_ranges(&b, e);
            json_object_set_new(o, e->name, json_string(b.s));
            break;
        case CM_VALUE_SET:
            format_set(&b, e);
            json_object_set_new(o, e->name, json_string(b.s));
            break;
        }
        free(b.s);
    }
    cm_resources_cleanup(&merged);
    return o;
}

char *cm_resources_format(const struct cm_resources *r)
{
    struct strbuf b = {0};
    sb_printf(&b, "%s", "");
    for (size_t i = 0; i < r->n; i++) {
        const struct cm_resource *e = &r->v[i];
        sb_printf(&b, "%s%s(%s", i ? "; " : "", e->name, e->role);
        if (e->dynamic)
            sb_printf(&b, ", dynamic%s%s", e->principal ? ", " : "",
                      e->principal ? e->principal : "");
        sb_printf(&b, "):");
        switch (e->type) {
        case CM_VALUE_SCALAR: sb_printf(&b, "%.15g", cm_scalar_to_double(e->scalar)); break;
        case CM_VALUE_RANGES: format_ranges(&b, e); break;
        case CM_VALUE_SET: format_set(&b, e); break;
        }
    }
    return b.s;
}
