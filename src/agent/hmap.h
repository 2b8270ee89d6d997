/*
 * hmap.h: a small string-keyed hash table for the agent's state (frameworks by id, executors
 * by id, tasks by id, status-update streams by task id).
 *
 * Keys are copied; values are opaque pointers owned by the caller (the table never frees a
 * value). The table grows by doubling so lookups stay O(1); iteration order is unspecified.
 * Removing the entry the iterator stands on is allowed (cm_hmap_iter_next was already called
 * past it only if the caller fetched the next entry first; the safe pattern is shown in
 * cm_hmap_iter_next). Not thread-safe; allocation failure aborts.
 */
#ifndef CM_AGENT_HMAP_H
#define CM_AGENT_HMAP_H

#include <stddef.h>

struct cm_hmap_entry {
    char *key;
    void *value;
    struct cm_hmap_entry *next;
};

struct cm_hmap {
    struct cm_hmap_entry **buckets;
    size_t nbuckets;
    size_t count;
};

struct cm_hmap_iter {
    const struct cm_hmap *map;
    size_t bucket;
    struct cm_hmap_entry *next; /* the entry the following call returns */
};

void cm_hmap_init(struct cm_hmap *m);
/* Frees the keys and the table, not the values. */
void cm_hmap_cleanup(struct cm_hmap *m);

/* Value for key or NULL. */
void *cm_hmap_get(const struct cm_hmap *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). */
void *cm_hmap_put(struct cm_hmap *m, const char *key, void *value);
/* Removes key; returns its value or NULL if absent. */
void *cm_hmap_del(struct cm_hmap *m, const char *key);
static inline size_t cm_hmap_count(const struct cm_hmap *m)
{
    return m->count;
}

/* Iteration: the iterator reads one entry ahead, so the entry just returned may be deleted
 * (but no other) while iterating. Returns the value and stores the key in *key (may be NULL);
 * returns NULL when done. */
void cm_hmap_iter_init(struct cm_hmap_iter *it, const struct cm_hmap *m);
void *cm_hmap_iter_next(struct cm_hmap_iter *it, const char **key);

#endif
