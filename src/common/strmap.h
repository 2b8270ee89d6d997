/*
 * strmap.h: the one string-keyed hash table every process uses for state indexed by id (the
 * master's frameworks, agents, tasks and offers; the allocator's agents, frameworks, roles and
 * weights; the agent's frameworks, executors, tasks, containers and status-update streams).
 *
 * Separate chaining over a power-of-two bucket array that doubles when the load passes 1.
 * Each entry is one allocation holding its full hash and a copy of the key, so a lookup
 * compares hashes before touching key bytes and growing never rehashes a key; this keeps the
 * allocator's per-offer lookups cheap. Values are borrowed pointers the caller owns (the table
 * never frees a value). A zero-filled struct is a valid empty map.
 *
 * Iteration visits every entry in an unspecified order. The iterator reads one entry ahead, so
 * the current entry (and no other) may be removed while iterating, either with
 * cm_strmap_iter_remove or with cm_strmap_remove on its key. Not thread-safe (the owning event
 * loop uses it); allocation failure aborts.
 */
#ifndef CM_STRMAP_H
#define CM_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cm_strmap_entry {
    struct cm_strmap_entry *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated copy of the key */
};

struct cm_strmap {
    struct cm_strmap_entry **buckets;
    size_t nbuckets; /* 0 or a power of two */
    size_t count;
    /* Counts the entries removed and the values replaced (cm_strmap_cleanup counts too, and
     * keeps it): while it is unchanged, a value read from the map earlier is still in it, so a
     * walk spread over several event-loop turns can keep pointers instead of looking ids up
     * again (the master's streamed endpoints). */
    uint64_t removals;
};

struct cm_strmap_iter {
    const struct cm_strmap *map;
    size_t bucket;
    struct cm_strmap_entry *cur, *next;
};

void cm_strmap_init(struct cm_strmap *m);
/* Frees the entries and keys, not the values. */
void cm_strmap_cleanup(struct cm_strmap *m);
/* For maps that own their values: calls free_value on every value (in unspecified order; it
 * may remove its own entry, no other), then cm_strmap_cleanup. */
void cm_strmap_cleanup_values(struct cm_strmap *m, void (*free_value)(void *));

/* Returns the value for key or NULL (also for a NULL key). */
void *cm_strmap_get(const struct cm_strmap *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). */
void *cm_strmap_put(struct cm_strmap *m, const char *key, void *value);
/* Removes key; returns its value (or NULL if absent or key is NULL). */
void *cm_strmap_remove(struct cm_strmap *m, const char *key);
/* Whether an entry whose key hashes to hash (an entry's hash field, saved earlier) holds value.
 * value is compared, never followed: this tells whether a pointer saved from the map is still
 * one of its values, without the key (which went with the entry if it was removed). */
bool cm_strmap_holds(const struct cm_strmap *m, uint64_t hash, const void *value);
static inline size_t cm_strmap_count(const struct cm_strmap *m)
{
    return m->count;
}

/* for (cm_strmap_iter_init(&it, m); cm_strmap_iter_next(&it);) use it.cur->key / value */
void cm_strmap_iter_init(struct cm_strmap_iter *it, const struct cm_strmap *m);
bool cm_strmap_iter_next(struct cm_strmap_iter *it);
/* Removes the entry the iterator is on; the map must not have been const to the caller. */
void cm_strmap_iter_remove(struct cm_strmap_iter *it);

/* Loop form for maps whose values are never NULL: while ((v = cm_strmap_iter_value(&it, &k)))
 * advances and returns the current value, storing its key in *key when key is not NULL;
 * returns NULL when done. */
static inline void *cm_strmap_iter_value(struct cm_strmap_iter *it, const char **key)
{
    if (!cm_strmap_iter_next(it))
        return NULL;
    if (key)
        *key = it->cur->key;
    return it->cur->value;
}

#endif
