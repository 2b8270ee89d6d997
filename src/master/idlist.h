/*
 * idlist.h: a list of ids copied out of the master's maps, for replies written over several
 * loop turns.
 *
 * A reply written in slices cannot keep pointers to agents, frameworks or tasks between
 * turns: any of them may be removed meanwhile. It copies their ids once, then looks each up
 * again when its slice comes. The ids are packed NUL-terminated into one buffer, with an
 * offset each, so a list of 100,000 ids is two allocations, not 100,000.
 *
 * Ownership: the list owns its buffers; zero-initialise it, free it with cm_idlist_clear.
 * Allocation failure aborts (cm_xrealloc), as everywhere in the master's core.
 */
#ifndef CM_MASTER_IDLIST_H
#define CM_MASTER_IDLIST_H

#include <stddef.h>

struct cm_idlist {
    char *buf;
    size_t len, cap;
    size_t *off;
    size_t n, ncap, next; /* next: the read position of cm_idlist_next */
};

/* Appends a copy of id. */
void cm_idlist_add(struct cm_idlist *l, const char *id);
/* The next id not yet read (borrowed: valid until the list is cleared), or NULL at the end. */
const char *cm_idlist_next(struct cm_idlist *l);
/* Frees the buffers and empties the list. */
void cm_idlist_clear(struct cm_idlist *l);

#endif
