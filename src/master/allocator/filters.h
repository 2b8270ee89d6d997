/*
 * filters.h: offer filters and the agents' blocked bits (private to src/master/allocator/).
 *
 * A filter says: framework-role f is not offered a subset of res on agent ag until expiry
 * (DECLINE or ACCEPT with refuse_seconds). One per (framework-role, agent), kept in f's table
 * (filter_tables.h) keyed by the agent's serial, resources interned. A new filter replaces the
 * old one unless the old one is wider and lasts longer. Expired filters are dropped when a
 * cycle meets them (cm_filters_live).
 *
 * Blocked bits cache filters per agent: bit f->slot set means a live filter of f covers what
 * the agent's basis can offer to f's role, so a cycle passes f over without a probe. They
 * stay valid while free stays inside basis and until bits_until (the earliest expiry behind a
 * set bit); the owner resets them (cm_bits_reset) when either stops holding.
 *
 * Ownership: entries and interned copies belong to the allocator. Errors: none (out of memory
 * aborts). Threading: the allocator's thread.
 */
#ifndef CM_ALLOCATOR_FILTERS_H
#define CM_ALLOCATOR_FILTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

static inline bool cm_bits_get(const struct agent *ag, uint32_t slot)
{
    size_t w = slot / 64;
    return w < ag->nwords && (ag->bits[w] >> (slot % 64)) & 1;
}
void cm_bits_set(struct agent *ag, uint32_t slot);
void cm_bits_clear(struct agent *ag, uint32_t slot);
/* Clears every bit and bits_until. */
void cm_bits_reset(struct agent *ag);

/* Installs the filter of a DECLINE / ACCEPT remainder: f refuses resources (just recovered on
 * ag, non-empty) for refuse_seconds (>= 0; capped at 365 days). is_basis: resources are exactly
 * ag's basis (ag->basis_ires is then used instead of interning them again). Sets f's bit on ag
 * when the filter covers everything ag has free and lasts beyond now. streak and gen are the
 * decline back-off's record (backoff.h; 0 for a plain filter). Returns the entry, or NULL when
 * an older filter, wider and lasting longer, was kept instead. */
struct fent *cm_filters_install(struct cm_allocator *a, struct fr *f, struct agent *ag,
                                const struct cm_resources *resources, double refuse_seconds,
                                bool is_basis, uint32_t streak, uint32_t gen);
/* f's filter on ag if one is live at now, else NULL. An expired one is dropped, unless it
 * carries a back-off record that is still fresh (within backoff_max of its expiry): that one
 * stays, filtering nothing, until the next decline reads it. */
struct fent *cm_filters_live(struct cm_allocator *a, struct fr *f, const struct agent *ag,
                             double now);
/* Drops all of f's filters and clears its bit on every agent (REVIVE, removal). */
void cm_filters_clear_fr(struct cm_allocator *a, struct fr *f);
/* Drops every framework-role's filter on ag (the agent is being removed). */
void cm_filters_drop_agent(struct cm_allocator *a, struct agent *ag);

#endif
