/*
 * ring.h: a bounded FIFO of owned pointers, used for the "completed" history every process keeps
 * (the agent's completed frameworks, executors and tasks; the master's completed frameworks and
 * tasks and the ids of removed frameworks), so that history never grows without bound.
 *
 * The ring owns its elements: pushing onto a full ring frees the oldest element with the free
 * function given at init, and cm_ring_cleanup frees every element left. A ring of capacity 0
 * keeps nothing (push frees the element at once). The slot array is allocated on the first push,
 * so an idle ring costs no memory. A caller that indexes elements elsewhere (a map by id) checks
 * cm_ring_full and unindexes cm_ring_at(r, 0) before pushing. Not thread-safe (the owning event
 * loop uses it); allocation failure aborts.
 */
#ifndef CM_RING_H
#define CM_RING_H

#include <stdbool.h>
#include <stddef.h>

struct cm_ring {
    void **v;
    size_t cap, n, start;
    void (*free_fn)(void *);
};

/* Prepares an empty ring of at most cap elements, freed with free_fn (not NULL). */
void cm_ring_init(struct cm_ring *r, size_t cap, void (*free_fn)(void *));
/* Appends item (ownership passes to the ring), freeing the oldest element when full. */
void cm_ring_push(struct cm_ring *r, void *item);
/* The i-th element, oldest first; i < cm_ring_count(r). */
void *cm_ring_at(const struct cm_ring *r, size_t i);
/* Frees every element and the slot array; the ring is zeroed (init again to reuse it). */
void cm_ring_cleanup(struct cm_ring *r);

static inline size_t cm_ring_count(const struct cm_ring *r)
{
    return r->n;
}

/* True when the next push evicts cm_ring_at(r, 0) (always true for capacity 0). */
static inline bool cm_ring_full(const struct cm_ring *r)
{
    return r->n == r->cap;
}

#endif
