/* strmap.c: see strmap.h. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: cheap and good enough for ids that share long prefixes (the master id). Also returns
 * the key's length so an insert needs one pass over the key. */
static uint64_t hash_key(const char *s, size_t *len)
{
    uint64_t h = 1469598103934665603ULL;
    const char *p = s;
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    if (len)
        *len = (size_t)(p - s);
    return h;
}

void cm_strmap_init(struct cm_strmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
    m->removals = 0;
}

void cm_strmap_cleanup(struct cm_strmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct cm_strmap_entry *e = m->buckets[i];
        while (e) {
            struct cm_strmap_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    uint64_t removals = m->removals + 1;
    cm_strmap_init(m);
    m->removals = removals;
}

void cm_strmap_cleanup_values(struct cm_strmap *m, void (*free_value)(void *))
{
    /* The iterator reads ahead, so free_value may even remove its own entry. */
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, m); cm_strmap_iter_next(&it);)
        free_value(it.cur->value);
    cm_strmap_cleanup(m);
}

static struct cm_strmap_entry **find_slot(const struct cm_strmap *m, const char *key, uint64_t h)
{
    struct cm_strmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

void *cm_strmap_get(const struct cm_strmap *m, const char *key)
{
    if (m->nbuckets == 0 || !key)
        return NULL;
    struct cm_strmap_entry *e = *find_slot(m, key, hash_key(key, NULL));
    return e ? e->value : NULL;
}

static void grow(struct cm_strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct cm_strmap_entry **b = calloc(n, sizeof *b);
    if (!b)
        abort();
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct cm_strmap_entry *e = m->buckets[i];
        while (e) {
            struct cm_strmap_entry *next = e->next;
            size_t idx = e->hash & (n - 1);
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
    size_t len;
    uint64_t h = hash_key(key, &len);
    if (m->nbuckets) {
        struct cm_strmap_entry *old = *find_slot(m, key, h);
        if (old) {
            void *v = old->value;
            old->value = value;
            m->removals++;
            return v;
        }
    }
    if (m->count + 1 > m->nbuckets)
        grow(m);
    struct cm_strmap_entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        abort();
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->value = value;
    size_t idx = h & (m->nbuckets - 1);
    e->next = m->buckets[idx];
    m->buckets[idx] = e;
    m->count++;
    return NULL;
}

void *cm_strmap_remove(struct cm_strmap *m, const char *key)
{
    if (m->nbuckets == 0 || !key)
        return NULL;
    struct cm_strmap_entry **pp = find_slot(m, key, hash_key(key, NULL));
    struct cm_strmap_entry *e = *pp;
    if (!e)
        return NULL;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    m->removals++;
    return v;
}

bool cm_strmap_holds(const struct cm_strmap *m, uint64_t hash, const void *value)
{
    if (m->nbuckets == 0)
        return false;
    for (const struct cm_strmap_entry *e = m->buckets[hash & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == hash && e->value == value)
            return true;
    return false;
}

void cm_strmap_iter_init(struct cm_strmap_iter *it, const struct cm_strmap *m)
{
    it->map = m;
    it->bucket = 0;
    it->cur = NULL;
    it->next = m->nbuckets ? m->buckets[0] : NULL;
}

bool cm_strmap_iter_next(struct cm_strmap_iter *it)
{
    const struct cm_strmap *m = it->map;
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
    /* it->next was saved before, so unlinking cur does not disturb the walk. The header's
     * contract makes the map mutable to the caller here. */
    if (it->cur) {
        cm_strmap_remove((struct cm_strmap *)it->map, it->cur->key);
        it->cur = NULL;
    }
}
