/*
 * model.h: the allocator's state, shared by its modules (private to src/master/allocator/).
 *
 * struct cm_allocator owns everything below: roles (a tree under root), frameworks and their
 * framework-roles (struct fr: one per (framework, role), the unit DRF sorts and filters
 * apply to), agents (total, free, blocked bits, skip record, dirty flag). The modules that
 * work on it, each with its header as the contract:
 *  - drf.c      shares, weights and the sorted order of roles and framework-roles;
 *  - filters.c  offer filters (refuse_seconds) and the agents' blocked bits;
 *  - backoff.c  the back-off of repeated declines with refuse_seconds 0;
 *  - dirty.c    the dirty set behind event-driven allocation and its wake callback;
 *  - cycle.c    offer generation: a cycle's visit of each agent, full or dirty-only;
 *  - allocator.c the public API that mutates the model (agents, frameworks, recover, ...).
 * Resource quantities are the fixed-point scalars of resources.h (milli-units).
 * Threading: one thread, like the allocator. Nothing here is visible outside the allocator.
 */
#ifndef CM_ALLOCATOR_MODEL_H
#define CM_ALLOCATOR_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocator.h"
#include "filter_tables.h"
#include "strmap.h"

/* The resource kinds DRF looks at. */
enum { K_CPUS, K_MEM, K_DISK, K_GPUS, K_N };

struct framework;
struct agent;

struct cm_wakeup {
    double at;
    struct agent *ag;
};

struct role {
    char *name; /* full path, e.g. "eng/web" */
    struct role *parent;
    double weight;
    void **kids; /* struct role *, sorted by share */
    size_t nkids, capkids;
    void **frs; /* struct fr *, sorted by share */
    size_t nfrs, capfrs;
    int64_t sub[K_N];  /* allocation of the subtree */
    int64_t self[K_N]; /* allocation of this role's own framework-roles */
    double share;      /* weighted share of sub, the sort key among siblings */
    double self_share; /* weighted share of self, competing with the kids */
    int depth;         /* root 0 */
};

struct fr {
    struct framework *fw;
    struct role *role;
    uint32_t slot;
    uint64_t serial; /* tie breaker: insertion order */
    int64_t alloc[K_N];
    double share;
    bool suppressed;
    uint64_t taken_visit; /* a->visit of the agent visit it was last allocated in */
    uint32_t change_gen;  /* bumped when something of the fr's comes back other than by DECLINE */
    struct ftab filters;
};

struct framework {
    char *id;
    bool active;
    struct fr **frs;
    size_t nfrs;
};

struct agent {
    char *id;
    uint32_t serial;
    size_t index;
    bool active, has_reserved;
    struct cm_resources total, free, basis;
    bool free_is_basis;
    struct ires *basis_ires; /* basis interned, once a filter used it; NULL before */
    int64_t tot[K_N];
    uint64_t *bits; /* by fr slot: a live filter covers what basis offers the fr */
    size_t nwords, nblocked;
    double bits_until; /* earliest expiry of the filters behind set bits */
    uint64_t free_gen; /* bumped whenever free grows */
    uint64_t skip_epoch, skip_gen;
    double skip_until;
    bool dirty;         /* in the dirty set: may have something new to offer */
    size_t dirty_index; /* its place in a->dirty while dirty */
};

struct cm_allocator {
    const struct cm_clock *clock;
    cm_allocator_offer_cb cb;
    void *arg;
    struct cm_strmap agents, frameworks, roles, weights;
    struct agent **agv;
    size_t nagents, capagents;
    struct role root;
    int64_t total[K_N];        /* of all agents: the DRF denominator */
    int64_t total_active[K_N]; /* of active agents */
    struct fr **slots;
    size_t nslots;
    uint32_t *freeslots;
    size_t nfreeslots;
    size_t nframeworks, nfilters;
    struct itab itab;
    uint32_t next_agent_serial;
    uint64_t next_serial, epoch, visit;
    struct cm_resources scratch, offer;
    /* Event-driven allocation: agents that may have something new to offer since the last
     * cycle, or all of them (all_dirty) after an event that can add a candidate anywhere. */
    struct agent **dirty;
    size_t ndirty, capdirty;
    bool all_dirty;
    cm_allocator_wake_cb wake;
    void *wake_arg;
    /* The decline back-off (backoff.c): its bounds, and a min-heap by time of the agents to
     * make dirty when a back-off filter on them expires. */
    double backoff_first, backoff_max;
    struct cm_wakeup *wakeups;
    size_t nwakeups, capwakeups;
};

#endif
