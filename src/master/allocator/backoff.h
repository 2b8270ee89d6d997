/*
 * backoff.h: the back-off of repeated declines (private to src/master/allocator/; the public
 * side, cm_allocator_decline, cm_allocator_set_backoff and cm_allocator_next_wakeup, is in
 * allocator.h with the deviation from Mesos it makes).
 *
 * Each DECLINE leaves a record in the framework-role's filter for the agent: how many times in
 * a row the framework-role declined exactly these resources there (streak) and its change_gen
 * then. The next decline continues the streak if the resources are the same, change_gen has
 * not moved (nothing of the framework-role came back other than by decline: no task finished,
 * no accept) and the record is fresh (at most backoff_max past its expiry); a fresh record
 * with other resources or a moved change_gen restarts it at 2 when the decline has no filter
 * of its own (refuse_seconds 0: a change does not earn an immediate re-offer, else a framework
 * declining everything while its tasks end on the agent is re-offered as fast as it answers),
 * at 1 otherwise (its own filter bounds it); no record or a stale one starts at 1. REVIVE
 * drops the records with the filters. The filter then lasts the longer of refuse_seconds and
 * the back-off: 0 for streak 1 (re-offered at once), backoff_first for streak 2, doubling up
 * to backoff_max. When the back-off is what ends the filter, the agent is put on
 * a min-heap of wakeups so that it is made dirty, and re-offered, when the filter expires.
 *
 * A recovery (cm_allocator_recover: a finished task, the unused part of an accept, a rescinded
 * offer) of the framework-role on the agent lifts a back-off filter there (cm_backoff_lift): it
 * ends at once, so what came back is offered now even when it lies inside the declined
 * resources (the framework holds the rest of the agent in another offer). The filter of a
 * framework's own refuse_seconds is not lifted. The record stays, and the recovery moved
 * change_gen, so the next decline there is a changed one (backoff_first): one lift per
 * recovery, and a framework declining everything gets O(1) offers per recovery.
 *
 * A wakeup stays when its filter is replaced or lifted (REVIVE): its cycle then merely finds
 * nothing new. Memory: one heap entry per back-off filter installed and not yet due. Threading: the
 * allocator's thread. Errors: none (out of memory aborts).
 */
#ifndef CM_ALLOCATOR_BACKOFF_H
#define CM_ALLOCATOR_BACKOFF_H

#include <stdbool.h>

#include "model.h"

/* f declined resources (already given back to ag's free pool; non-empty) with
 * refuse_seconds; is_basis as for cm_filters_install. Installs the filter and the record. */
void cm_backoff_decline(struct cm_allocator *a, struct fr *f, struct agent *ag,
                        const struct cm_resources *resources, double refuse_seconds, bool is_basis);
/* A recovery of f on ag: ends f's filter on ag now if it is live and the back-off's (its
 * expiry set by the back-off, longer than the decline's refuse_seconds); keeps its record. */
void cm_backoff_lift(struct cm_allocator *a, struct fr *f, struct agent *ag);
/* Makes dirty every agent whose wakeup is due at now (without running the wake callback: the
 * caller is about to run a cycle). */
void cm_backoff_wake_due(struct cm_allocator *a, double now);
/* Drops ag's wakeups (the agent is being removed). */
void cm_backoff_forget_agent(struct cm_allocator *a, struct agent *ag);

#endif
