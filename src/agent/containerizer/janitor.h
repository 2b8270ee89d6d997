/*
 * janitor.h: a helper process that removes container cgroups off the agent's loop.
 *
 * rmdir of a cgroup takes the kernel's cgroup_mutex, which a launching child can hold for
 * 10-20 ms (its cgroup v1 join waits for an RCU grace period under it). On the loop that is a
 * stall per teardown (and mkdir takes it too: the janitor also makes the cgroup pool's entries
 * ahead of the launches, cm_janitor_create). So the containerizer forks one janitor at start (when
 * it has a loop and uses cgroups): requests (a container id) go down a socket pair, the janitor
 * runs the blocking cm_cgroups_destroy (rmdir with EBUSY retries, about a second at most) and
 * answers {id, rc, why} on it; the loop watches its end. One long-lived process, not a fork per
 * teardown: the agent's page tables are copied once, when they are small.
 *
 * The janitor dies with the agent (PR_SET_PDEATHSIG) or when its socket closes (cm_janitor_free).
 * It shares nothing with the agent after the fork but the detected cgroup layout (a copy).
 * Single-threaded: call on the loop's thread.
 */
#ifndef CM_AGENT_JANITOR_H
#define CM_AGENT_JANITOR_H

#include <stdint.h>

#include "cgroups.h"

struct event_base;
struct cm_janitor;

/* One removal finished (rc 0, -EBUSY if it was still busy after the janitor's retries, or
 * another error), on the loop or inside cm_janitor_poll. */
typedef void (*cm_janitor_done_fn)(void *arg, const char *id, int rc, const char *why);

/* Forks the janitor. Returns 0 and *out, or -errno (the caller removes cgroups itself). */
int cm_janitor_new(struct event_base *base, const struct cm_cgroups *cg, cm_janitor_done_fn done,
                   void *arg, struct cm_janitor **out);
/* Closes the socket and waits for the janitor to finish its current request and exit.
 * NULL is a no-op. */
void cm_janitor_free(struct cm_janitor *j);
/* Queues the removal of id's cgroups. 0, -EAGAIN (the socket is full: ask again later), -EPIPE
 * (the janitor is gone), CM_ETOOBIG (id too long). */
int cm_janitor_remove(struct cm_janitor *j, const char *id);
/* Queues the creation of id's cgroups with pids.max set (0 = left alone): a pool entry made
 * ahead of the launch that takes it (cgpool.h). Answered through the created callback. Same
 * returns as cm_janitor_remove. */
int cm_janitor_create(struct cm_janitor *j, const char *id, uint64_t pids_max);
/* Sets the callback for creations (NULL: answers are dropped). */
void cm_janitor_on_created(struct cm_janitor *j, cm_janitor_done_fn created);
/* Reads the answers that are in without waiting (for callers that are not on the loop). */
void cm_janitor_poll(struct cm_janitor *j);

#endif
