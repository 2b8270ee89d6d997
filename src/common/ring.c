/* ring.c: see ring.h. */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void cm_ring_init(struct cm_ring *r, size_t cap, void (*free_fn)(void *))
{
    r->v = NULL;
    r->cap = cap;
    r->n = 0;
    r->start = 0;
    r->free_fn = free_fn;
}

void cm_ring_push(struct cm_ring *r, void *item)
{
    if (r->cap == 0) {
        r->free_fn(item);
        return;
    }
    if (!r->v)
        r->v = cm_xcalloc(r->cap, sizeof *r->v);
    if (r->n == r->cap) {
        r->free_fn(r->v[r->start]);
        r->v[r->start] = item;
        r->start = (r->start + 1) % r->cap;
        return;
    }
    r->v[(r->start + r->n) % r->cap] = item;
    r->n++;
}

void *cm_ring_at(const struct cm_ring *r, size_t i)
{
    return r->v[(r->start + i) % r->cap];
}

void cm_ring_cleanup(struct cm_ring *r)
{
    for (size_t i = 0; i < r->n; i++)
        r->free_fn(cm_ring_at(r, i));
    free(r->v);
    memset(r, 0, sizeof *r);
}
