/*
 * dirty.h: the dirty set behind event-driven allocation (private to src/master/allocator/).
 *
 * The set holds the agents that may have something new to offer since the last cycle, or
 * stands for all agents (all_dirty) after an event that can add a candidate anywhere. Marking
 * an agent is O(1) (it keeps its index in the set); when the set goes from empty to non-empty
 * the allocator's wake callback runs once, so the master can arm its short re-offer timer.
 * The public side (cm_allocator_set_wake, cm_allocator_dirty, cm_allocator_forget_dirty) is
 * described in allocator.h. Threading: the allocator's thread. Errors: none.
 */
#ifndef CM_ALLOCATOR_DIRTY_H
#define CM_ALLOCATOR_DIRTY_H

#include <stdbool.h>

#include "model.h"

bool cm_dirty_any(const struct cm_allocator *a);
void cm_dirty_mark(struct cm_allocator *a, struct agent *ag);
void cm_dirty_mark_all(struct cm_allocator *a);
/* Takes ag out of the set (it is being removed). */
void cm_dirty_unmark(struct cm_allocator *a, struct agent *ag);
/* Empties the set without waking anyone. */
void cm_dirty_clear(struct cm_allocator *a);

#endif
