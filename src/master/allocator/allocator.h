/*
 * allocator.h: the hierarchical weighted-DRF allocator (Mesos's HierarchicalDRF).
 *
 * It knows agents (their total and what is allocated on them), frameworks (their roles,
 * suppressed roles, filters) and per-role weights, and decides who is offered what. It does
 * not know about offers, tasks or the wire: the master tells it what happened (resources
 * allocated, recovered, agents and frameworks coming and going) and a cycle hands out
 * resources through the offer callback. "Allocated" means offered or used by tasks; what the
 * master does with it afterwards (an offer, then tasks, then recovery) is its business.
 *
 * A cycle (cm_allocator_run): roles are sorted by weighted DRF share (dominant share of the
 * role's allocation over the cluster total, divided by the role's weight), frameworks within
 * a role by their own dominant share; then for each agent with free resources, in that order,
 * the first framework-role that wants offers, is not suppressed and has no filter covering
 * the agent's free resources gets all of what is allocatable to its role
 * (unreserved + reserved to the role or an ancestor) — so at most one offer per (framework, role,
 * agent) per cycle. Shares are updated as resources are handed out. Free resources below
 * min_allocatable (cpus 0.01 or mem 32) are not offered.
 *
 * Cost: the design keeps a cycle over A agents and F frameworks far below O(A x F) in the
 * steady state where every framework has declined every agent with a long filter (the
 * DeclineOffers benchmark): an agent is skipped in O(1) when nothing changed on it since every
 * framework filtered it. bench/allocator measures it. How:
 *  - Order: every role keeps its children and its own framework-roles in arrays sorted by
 *    (weighted share, name / insertion order). A cycle recomputes all shares and re-sorts once
 *    (O(F log F); the cluster total may have changed), then after each allocation moves only
 *    the framework-role and its ancestor roles to their new places (binary search + memmove).
 *    A role's own framework-roles compete with its child roles as one more sibling whose share
 *    is their allocation (Mesos's "." leaf); ties put them first. Agents are visited in the
 *    order they were added.
 *  - Filters: one per (framework-role, agent), in a per-framework-role open-addressing table
 *    keyed by the agent's serial; their resources are interned (hash-consed), so 10M filters
 *    over identical agents share one copy. A new filter replaces the old one unless the old
 *    one is wider and lasts longer. Expired filters are dropped when met.
 *  - Blocked bits: each agent has a bitmap over framework-role slots: bit set = a live filter
 *    of that framework-role covers what the agent's "basis" (its free resources when the bits
 *    were computed) can offer to the role. Free resources stay inside basis while offers go
 *    out and come back, so the bits survive decline cycles; when free grows beyond basis the
 *    bits are cleared; they are also cleared at the earliest expiry behind them, per slot on
 *    REVIVE / filter replacement / framework-role removal. When few bits are clear, a cycle
 *    picks the first framework-role in order among the clear bits only (word scan + order
 *    comparison) instead of walking the whole order.
 *  - Skip: an agent visit that made no offer records (global epoch, agent free generation,
 *    earliest expiry of the filters that blocked). The next cycle skips the agent in O(1)
 *    while all three hold. The epoch moves only on events that can add a candidate anywhere
 *    (framework added / activated / roles updated, REVIVE); the free generation moves when the
 *    agent's free resources grow (recover); shrinking never unblocks.
 * Deviation from Mesos: agents are not shuffled per cycle, and one filter per
 * (framework-role, agent) is kept instead of a list.
 *
 * Declines and their back-off (cm_allocator_decline). Mesos installs no filter for a decline
 * with refuse_seconds 0 (and stretches any other filter to at least --allocation_interval);
 * the resources wait for the next batch allocation, up to --allocation_interval later, and may
 * go to the same framework again: a framework that declines everything sees each agent about
 * once per interval. Here resources that come back are re-offered within milliseconds (the
 * dirty set below), which would turn the same pattern into hundreds of offers per second for
 * nothing. So a framework-role that declines the same resources on the same agent again with
 * nothing changed backs off on that agent: the first decline is re-offered at once, the second
 * gets a filter of backoff_first (20 ms by default), each further one twice the last, up to
 * backoff_max (the master sets --allocation_interval: Mesos's own worst case, never worse).
 * The longer of refuse_seconds and the back-off wins. For a decline with refuse_seconds 0, a
 * change takes it back to its first step (backoff_first), not to an immediate re-offer (with a
 * filter of its own, a change starts it over): the resources differ (a task finished or
 * started on the agent, the agent changed) or something of the framework-role came back other
 * than by decline (a task finished, an accept) — else a framework declining everything on an
 * agent where its tasks keep ending is re-offered as fast as it answers (80 offers per task
 * with one agent). A decline after a quiet spell (backoff_max past the last one's filter) and
 * REVIVE start it over at once. A recovery (cm_allocator_recover: a finished task, the unused
 * part of an accept, a rescinded offer) ends the framework-role's back-off filter on that agent
 * at once (not a filter of its own refuse_seconds): what came back is offered within
 * milliseconds even when it lies inside the declined resources, e.g. the resources of a
 * finished task while the framework holds the rest of the agent. It keeps the streak's
 * record, so the next decline there is a changed one: one lift per recovery, the offers to a
 * framework declining everything stay O(1) per task end. Other
 * framework-roles are unaffected: they are offered what one declined as fast as before. When a
 * back-off filter expires its agent is made dirty again (cm_allocator_next_wakeup tells the
 * master when), so the back-off never waits for the periodic cycle.
 *
 * The implementation is split along these seams, each private header its contract: model.h
 * (the state), drf.h (shares and order), filters.h (filters, blocked bits), backoff.h (the
 * decline back-off), dirty.h (the dirty set), cycle.h (offer generation); allocator.c holds
 * the calls that change the model.
 *
 * Time comes from the injected clock (filters expire against it). IDs are copied.
 * Threading: one thread (the master's loop). The offer callback must not call back into the
 * allocator (queue the offer; recover after cm_allocator_run returns). Errors: CM_ENOTFOUND
 * for unknown ids, CM_EEXIST for duplicates, CM_EINVAL for NULL arguments or bad weights.
 * Memory: O(agents x framework-roles / 8) bits plus one entry per live filter.
 */
#ifndef CM_ALLOCATOR_H
#define CM_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>

#include "clock.h"
#include "resources.h"

struct cm_allocator;

/* Called during cm_allocator_run for each allocation: resources (owned by the allocator,
 * valid during the call) of agent_id are now allocated to framework_id in role. */
typedef void (*cm_allocator_offer_cb)(void *arg, const char *framework_id, const char *role,
                                      const char *agent_id, const struct cm_resources *resources);

struct cm_allocator *cm_allocator_new(const struct cm_clock *clock, cm_allocator_offer_cb cb,
                                      void *arg);
void cm_allocator_free(struct cm_allocator *a); /* NULL is a no-op */

/* Role weights (default 1.0). weight must be > 0. */
int cm_allocator_set_weight(struct cm_allocator *a, const char *role, double weight);

/* Agents. total is copied; all of it starts free. Resources that tasks already hold on it
 * (re-registration) are marked with cm_allocator_allocate afterwards. Removing an agent drops
 * its filters; allocations on it stay counted for their frameworks until recovered. */
int cm_allocator_add_agent(struct cm_allocator *a, const char *agent_id,
                           const struct cm_resources *total);
int cm_allocator_remove_agent(struct cm_allocator *a, const char *agent_id);
int cm_allocator_activate_agent(struct cm_allocator *a, const char *agent_id, bool active);

/* Frameworks. roles/suppressed are arrays of role names (copied). A new framework is active. */
int cm_allocator_add_framework(struct cm_allocator *a, const char *framework_id,
                               const char *const *roles, size_t nroles,
                               const char *const *suppressed, size_t nsuppressed);
/* Replaces roles and suppressed roles (UPDATE_FRAMEWORK / re-subscribe). */
int cm_allocator_update_framework(struct cm_allocator *a, const char *framework_id,
                                  const char *const *roles, size_t nroles,
                                  const char *const *suppressed, size_t nsuppressed);
/* Removing a framework does not recover its allocations: the master recovers them first. */
int cm_allocator_remove_framework(struct cm_allocator *a, const char *framework_id);
/* An inactive framework gets no offers (scheduler disconnected). */
int cm_allocator_activate_framework(struct cm_allocator *a, const char *framework_id, bool active);

/* SUPPRESS / REVIVE. roles NULL or nroles 0 means all of the framework's roles. REVIVE also
 * clears the framework's filters for those roles. */
int cm_allocator_suppress(struct cm_allocator *a, const char *framework_id,
                          const char *const *roles, size_t nroles);
int cm_allocator_revive(struct cm_allocator *a, const char *framework_id, const char *const *roles,
                        size_t nroles);

/* Marks resources of agent_id as allocated to framework_id/role (tasks learned from an agent
 * re-registering). If the framework or its role is unknown the resources are still taken from
 * the agent's free pool (so they are not offered) and CM_ENOTFOUND is returned; a later
 * cm_allocator_recover gives them back. */
int cm_allocator_allocate(struct cm_allocator *a, const char *framework_id, const char *role,
                          const char *agent_id, const struct cm_resources *resources);

/* Resources allocated to framework_id/role on agent_id come back (declined, unused part of an
 * accept, rescinded offer, finished task). If refuse_seconds > 0 a filter is installed: the
 * framework-role is not offered a subset of these resources on that agent until
 * now + refuse_seconds (capped at 365 days). Unknown framework or agent: resources are
 * dropped from accounting quietly (they were removed already). */
int cm_allocator_recover(struct cm_allocator *a, const char *framework_id, const char *role,
                         const char *agent_id, const struct cm_resources *resources,
                         double refuse_seconds);

/* An explicit DECLINE of resources offered to framework_id/role on agent_id: recovers them like
 * cm_allocator_recover, with the decline back-off described above (refuse_seconds 0 is a
 * decline without a filter of its own). */
int cm_allocator_decline(struct cm_allocator *a, const char *framework_id, const char *role,
                         const char *agent_id, const struct cm_resources *resources,
                         double refuse_seconds);
/* The back-off's bounds in seconds: first > 0, max >= 0 (0 turns the back-off off); invalid
 * values are ignored. Defaults below. */
#define CM_ALLOCATOR_BACKOFF_FIRST 0.02
#define CM_ALLOCATOR_BACKOFF_MAX 1.0
void cm_allocator_set_backoff(struct cm_allocator *a, double first, double max);
/* When the earliest back-off filter expires (INFINITY if none): the master runs
 * cm_allocator_run_dirty then, which makes the agents whose back-off ended dirty first (so does
 * cm_allocator_run). */
double cm_allocator_next_wakeup(const struct cm_allocator *a);

/* Runs one allocation cycle now. Returns the number of offers made. Shares, weights and the
 * order are brought up to date at its start. */
size_t cm_allocator_run(struct cm_allocator *a);

/* Event-driven allocation. The allocator keeps a dirty set: the agents that may have
 * something new to offer since the last cycle (added, reactivated, or their free resources
 * grew: a decline, the unused part of an accept, a finished task, a rescinded offer), or all
 * agents after an event that can add a candidate anywhere (a framework added, activated or
 * with new roles, REVIVE). When the set goes from empty to non-empty the wake callback runs
 * (once, until a cycle empties the set): the master schedules a dirty cycle for the end of its
 * current loop turn there so that the events of one turn make one cycle and one agent's
 * returned pieces go out as
 * one offer. The callback must not call into the allocator. NULL cb: no wake (the default). */
typedef void (*cm_allocator_wake_cb)(void *arg);
void cm_allocator_set_wake(struct cm_allocator *a, cm_allocator_wake_cb cb, void *arg);
/* Whether the dirty set is non-empty. */
bool cm_allocator_dirty(const struct cm_allocator *a);
/* Empties the dirty set without a cycle: what it held is left to the periodic cycle (the
 * master's allocations that could not become offers, given back right after a cycle). */
void cm_allocator_forget_dirty(struct cm_allocator *a);
/* A cycle over the dirty agents only (in the order they were added; every agent when all are
 * dirty or at least half of them are), with the same choices cm_allocator_run would make for
 * them. Empties the set (cm_allocator_run does too). Returns the number of offers made.
 * Agents whose filters merely expired are not dirty: the periodic cm_allocator_run finds them. */
size_t cm_allocator_run_dirty(struct cm_allocator *a);

/* Read-only views for endpoints and metrics. */
struct cm_allocator_stats {
    size_t agents, frameworks, active_filters;
    double cpus_total, mem_total, disk_total;             /* of active agents */
    double cpus_allocated, mem_allocated, disk_allocated; /* offered or used */
};
void cm_allocator_stats(const struct cm_allocator *a, struct cm_allocator_stats *out);
/* Dominant share of role (0 if unknown), for allocator/mesos/roles/<role>/shares/dominant:
 * unweighted, counting the role's subroles, over the total of all agents. active_filters in
 * the stats counts installed filters, including expired ones not yet dropped and the decline
 * back-off's records (a refuse_seconds 0 decline leaves one). */
double cm_allocator_role_share(const struct cm_allocator *a, const char *role);

/* The order a cycle would visit framework-roles in, for tests: fills up to max entries of
 * out with framework ids and roles (pointers owned by the allocator, valid until the next
 * mutating call) and returns how many there are. */
size_t cm_allocator_order(struct cm_allocator *a, const char **framework_ids, const char **roles,
                          size_t max);

#endif
