/* strmap.c: see strmap.h. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_key(const char *s)
{
    /* FNV-1a: cheap and good enough for ids that share long prefixes (the master id). */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        abort();
    return p;
}

void cm_strmap_init(struct cm_strmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

void cm_strmap_cleanup(struct cm_strmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct cm_strmap_entry *e = m->buckets[i];
        while (e) {
            struct cm_strmap_entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    cm_strmap_init(m);
}

static struct cm_strmap_entry **find_slot(const struct cm_strmap *m, const char *key)
{
    if (m->nbuckets == 0)
        return NULL;
    struct cm_strmap_entry **pp = &m->buckets[hash_key(key) & (m->nbuckets - 1)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

void *cm_strmap_get(const struct cm_strmap *m, const char *key)
{
    struct cm_strmap_entry **pp = find_slot(m, key);
    return pp && *pp ? (*pp)->value : NULL;
}

static void grow(struct cm_strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct cm_strmap_entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct cm_strmap_entry *e = m->buckets[i];
        while (e) {
            struct cm_strmap_entry *next = e->next;
            size_t idx = hash_key(e->key) & (n - 1);
            e->next = b[idx];
            b[idx] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *cm_strmap_put(struct cm_strmap *m, const char *key, void *value)
{
    struct cm_strmap_entry **pp = find_slot(m, key);
    if (pp && *pp) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    if (m->count + 1 > m->nbuckets)
        grow(m);
    struct cm_strmap_entry *e = xcalloc(1, sizeof *e);
    e->key = strdup(key);
    if (!e->key)
        abort();
    e->value = value;
    size_t idx = hash_key(key) & (m->nbuckets - 1);
    e->next = m->buckets[idx];
    m->buckets[idx] = e;
    m->count++;
    return NULL;
}

void *cm_strmap_remove(struct cm_strmap *m, const char *key)
{
    struct cm_strmap_entry **pp = find_slot(m, key);
    if (!pp || !*pp)
        return NULL;
    struct cm_strmap_entry *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e->key);
    free(e);
    m->count--;
    return v;
}

void cm_strmap_iter_init(struct cm_strmap_iter *it, struct cm_strmap *m)
{
    it->map = m;
    it->bucket = 0;
    it->cur = NULL;
    it->next = m->nbuckets ? m->buckets[0] : NULL;
}

bool cm_strmap_iter_next(struct cm_strmap_iter *it)
{
    struct cm_strmap *m = it->map;
    while (!it->next) {
        if (m->nbuckets == 0 || ++it->bucket >= m->nbuckets) {
            it->cur = NULL;
            return false;
        }
        it->next = m->buckets[it->bucket];
    }
    it->cur = it->next;
    it->next = it->cur->next;
    return true;
}

void cm_strmap_iter_remove(struct cm_strmap_iter *it)
{
    /* it->next was saved before, so unlinking cur does not disturb the walk. */
    if (it->cur) {
        cm_strmap_remove(it->map, it->cur->key);
        it->cur = NULL;
    }
}
