/*
 * strmap.h: a small string-keyed hash table for the master's state (frameworks, agents, tasks,
 * offers by id).
 *
 * Separate chaining over a power-of-two bucket array that doubles when the load passes 1.
 * Keys are copied; values are borrowed pointers the caller owns. Iteration visits every entry
 * in an unspecified order; removing the current entry during iteration is allowed through
 * cm_strmap_iter_remove. Not thread-safe (the master's loop owns it).
 */
#ifndef CM_STRMAP_H
#define CM_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct cm_strmap_entry {
    char *key;
    void *value;
    struct cm_strmap_entry *next;
};

struct cm_strmap {
    struct cm_strmap_entry **buckets;
    size_t nbuckets; /* 0 or a power of two */
    size_t count;
};

struct cm_strmap_iter {
    struct cm_strmap *map;
    size_t bucket;
    struct cm_strmap_entry *cur, *next;
};

void cm_strmap_init(struct cm_strmap *m);
/* Frees the entries and keys, not the values. */
void cm_strmap_cleanup(struct cm_strmap *m);

/* Returns the value for key or NULL. */
void *cm_strmap_get(const struct cm_strmap *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). */
void *cm_strmap_put(struct cm_strmap *m, const char *key, void *value);
/* Removes key; returns its value (or NULL if absent). */
void *cm_strmap_remove(struct cm_strmap *m, const char *key);
static inline size_t cm_strmap_count(const struct cm_strmap *m)
{
    return m->count;
}

/* for (cm_strmap_iter_init(&it, m); cm_strmap_iter_next(&it);) use it.cur->key / value */
void cm_strmap_iter_init(struct cm_strmap_iter *it, struct cm_strmap *m);
bool cm_strmap_iter_next(struct cm_strmap_iter *it);
/* Removes the entry the iterator is on. */
void cm_strmap_iter_remove(struct cm_strmap_iter *it);

#endif
