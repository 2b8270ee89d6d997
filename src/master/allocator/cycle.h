/*
 * cycle.h: offer generation (private to src/master/allocator/). It implements
 * cm_allocator_run and cm_allocator_run_dirty of allocator.h; this header is its contract
 * with the other modules.
 *
 * A cycle brings the DRF order up to date (drf.h), then visits agents in the order they were
 * added (all of them, or the dirty set's only). A visit offers until nothing more can go out:
 * each time, the first framework-role in order that is active, not suppressed, not already
 * given this agent in this visit, whose blocked bit is clear and whose live filter does not
 * cover what the agent can offer to its role gets all of it (the offer callback runs; the
 * allocation is accounted at once and the order updated). When few bits are clear the winner
 * is picked among the clear bits only. A visit that made no offer records (epoch, free
 * generation, earliest expiry of the blocking filters), and later cycles skip the agent in
 * O(1) while the three hold.
 *
 * Reads and writes the model (model.h); the callback must not re-enter the allocator.
 */
#ifndef CM_ALLOCATOR_CYCLE_H
#define CM_ALLOCATOR_CYCLE_H

#include "model.h"

#endif
