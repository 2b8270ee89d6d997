/*
 * hmap.c: chained hash table with FNV-1a hashing, doubling at load factor 1.
 */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        abort();
    return p;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void cm_hmap_init(struct cm_hmap *m)
{
    m->nbuckets = 16;
    m->buckets = xcalloc(m->nbuckets, sizeof *m->buckets);
    m->count = 0;
}

void cm_hmap_cleanup(struct cm_hmap *m)
{
    if (!m->buckets)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct cm_hmap_entry *e = m->buckets[i];
        while (e) {
            struct cm_hmap_entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

static void grow(struct cm_hmap *m)
{
    size_t n = m->nbuckets * 2;
    struct cm_hmap_entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct cm_hmap_entry *e = m->buckets[i];
        while (e) {
            struct cm_hmap_entry *next = e->next;
            size_t j = hash_str(e->key) & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *cm_hmap_get(const struct cm_hmap *m, const char *key)
{
    if (!m->buckets || !key)
        return NULL;
    for (struct cm_hmap_entry *e = m->buckets[hash_str(key) & (m->nbuckets - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

void *cm_hmap_put(struct cm_hmap *m, const char *key, void *value)
{
    if (!m->buckets)
        cm_hmap_init(m);
    size_t i = hash_str(key) & (m->nbuckets - 1);
    for (struct cm_hmap_entry *e = m->buckets[i]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            void *old = e->value;
            e->value = value;
            return old;
        }
    }
    struct cm_hmap_entry *e = xcalloc(1, sizeof *e);
    e->key = strdup(key);
    if (!e->key)
        abort();
    e->value = value;
    e->next = m->buckets[i];
    m->buckets[i] = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return NULL;
}

void *cm_hmap_del(struct cm_hmap *m, const char *key)
{
    if (!m->buckets || !key)
        return NULL;
    struct cm_hmap_entry **pp = &m->buckets[hash_str(key) & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct cm_hmap_entry *e = *pp;
        if (strcmp(e->key, key) == 0) {
            void *v = e->value;
            *pp = e->next;
            free(e->key);
            free(e);
            m->count--;
            return v;
        }
    }
    return NULL;
}

static void advance(struct cm_hmap_iter *it, struct cm_hmap_entry *from)
{
    if (from) {
        it->next = from;
        return;
    }
    it->next = NULL;
    while (it->map->buckets && ++it->bucket < it->map->nbuckets) {
        if (it->map->buckets[it->bucket]) {
            it->next = it->map->buckets[it->bucket];
            return;
        }
    }
}

void cm_hmap_iter_init(struct cm_hmap_iter *it, const struct cm_hmap *m)
{
    it->map = m;
    it->bucket = 0;
    it->next = NULL;
    if (!m->buckets)
        return;
    if (m->buckets[0])
        it->next = m->buckets[0];
    else
        advance(it, NULL);
}

void *cm_hmap_iter_next(struct cm_hmap_iter *it, const char **key)
{
    struct cm_hmap_entry *e = it->next;
    if (!e)
        return NULL;
    advance(it, e->next);
    if (key)
        *key = e->key;
    return e->value;
}
