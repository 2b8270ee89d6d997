/*
 * filter_tables.c: the allocator's intern table of resources and its per framework-role filter
 * tables; see filter_tables.h.
 */
#include "filter_tables.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_str(const char *s)
{
    return hash_bytes(14695981039346656037ULL, s, strlen(s));
}

/* ---- Interned resources: filters share one copy of identical resources ---- */

/* Order-independent hash: entries are combined by addition. */
static uint64_t resources_hash(const struct cm_resources *r)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct cm_resource *e = &r->v[i];
        uint64_t h = hash_str(e->name);
        h = hash_bytes(h, &e->type, sizeof e->type);
        h = hash_bytes(h, &e->scalar, sizeof e->scalar);
        for (size_t j = 0; j < e->nranges; j++)
            h = hash_bytes(h, &e->ranges[j], sizeof e->ranges[j]);
        for (size_t j = 0; j < e->nitems; j++)
            h = hash_bytes(h, e->items[j], strlen(e->items[j]) + 1);
        h = hash_bytes(h, e->role, strlen(e->role) + 1);
        h = hash_bytes(h, &e->dynamic, sizeof e->dynamic);
        if (e->principal)
            h = hash_bytes(h, e->principal, strlen(e->principal) + 1);
        sum += h;
    }
    return sum;
}

struct ires *cm_itab_intern(struct itab *t, const struct cm_resources *r)
{
    uint64_t h = resources_hash(r);
    if (t->cap) {
        for (struct ires *e = t->b[h & (t->cap - 1)]; e; e = e->next) {
            if (e->h == h && cm_resources_equal(&e->r, r)) {
                e->refs++;
                return e;
            }
        }
    }
    if (t->n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct ires **b = cm_xcalloc(cap, sizeof *b);
        for (size_t i = 0; i < t->cap; i++) {
            struct ires *e = t->b[i];
            while (e) {
                struct ires *next = e->next;
                e->next = b[e->h & (cap - 1)];
                b[e->h & (cap - 1)] = e;
                e = next;
            }
        }
        free(t->b);
        t->b = b;
        t->cap = cap;
    }
    struct ires *e = cm_xcalloc(1, sizeof *e);
    e->h = h;
    e->refs = 1;
    cm_resources_init(&e->r);
    cm_resources_add(&e->r, r);
    e->next = t->b[h & (t->cap - 1)];
    t->b[h & (t->cap - 1)] = e;
    t->n++;
    return e;
}

void cm_itab_release(struct itab *t, struct ires *e)
{
    if (--e->refs)
        return;
    struct ires **pp = &t->b[e->h & (t->cap - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    t->n--;
    cm_resources_cleanup(&e->r);
    free(e);
}

void cm_itab_cleanup(struct itab *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        struct ires *e = t->b[i];
        while (e) {
            struct ires *next = e->next;
            cm_resources_cleanup(&e->r);
            free(e);
            e = next;
        }
    }
    free(t->b);
    memset(t, 0, sizeof *t);
}

/* ---- Per framework-role filter table, keyed by agent serial ---- */

static inline uint32_t fhash(uint32_t k)
{
    return k * 2654435761u;
}

struct fent *cm_ftab_find(const struct ftab *t, uint32_t key)
{
    if (!t->cap)
        return NULL;
    uint32_t mask = t->cap - 1;
    for (uint32_t i = fhash(key) & mask;; i = (i + 1) & mask) {
        struct fent *e = &t->v[i];
        if (e->key == FKEY_EMPTY)
            return NULL;
        if (e->key == key)
            return e;
    }
}

struct fent *cm_ftab_slot_for_insert(struct ftab *t, uint32_t key)
{
    if ((t->used + 1) * 4 >= (uint64_t)t->cap * 3) {
        struct ftab old = *t;
        uint32_t cap = 8;
        while ((uint64_t)cap * 3 <= (uint64_t)(t->n + 1) * 4 * 2)
            cap *= 2;
        t->v = cm_xcalloc(cap, sizeof *t->v);
        t->cap = cap;
        t->n = t->used = 0;
        for (uint32_t i = 0; i < old.cap; i++) {
            if (old.v[i].key != FKEY_EMPTY && old.v[i].key != FKEY_TOMB) {
                struct fent *e = cm_ftab_slot_for_insert(t, old.v[i].key);
                *e = old.v[i];
                t->n++;
                t->used++;
            }
        }
        free(old.v);
    }
    uint32_t mask = t->cap - 1;
    for (uint32_t i = fhash(key) & mask;; i = (i + 1) & mask) {
        struct fent *e = &t->v[i];
        if (e->key == FKEY_EMPTY || e->key == FKEY_TOMB)
            return e;
    }
}
