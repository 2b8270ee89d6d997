/*
 * teardown.h: container teardown as a timer-driven state machine.
 *
 * Tearing a container down means: kill what is left in it, wait until the kernel has
 * emptied it, remove its cgroups. The waiting is the part that must not happen on the loop:
 * a killed process takes from microseconds to (under memory pressure, or stuck in an
 * uninterruptible sleep) seconds to leave its cgroup, and rmdir answers EBUSY until it has.
 * So each teardown is a small state machine (KILLING -> REMOVING -> done) whose steps are
 * single non-blocking attempts (the ops); when an attempt says "not yet", the teardown
 * re-arms its own timer with exponential backoff (first_delay doubling up to max_delay) and
 * the loop goes on. After timeout seconds it gives up and reports -ETIMEDOUT (the caller keeps
 * its orphan record, so the next agent start cleans what is left).
 *
 * The ops are the seam: the containerizer passes the cgroup kill and remove steps
 * (cgroups.h); unit tests pass fakes. Time comes from the injectable clock: with a base,
 * libevent timers wake the teardowns; with base NULL nothing fires on its own and the caller
 * (a unit test, after advancing a fake clock) calls cm_teardowns_run_due.
 *
 * Teardowns are indexed by container id (one at a time per id). Single-threaded (the loop).
 */
#ifndef CM_AGENT_TEARDOWN_H
#define CM_AGENT_TEARDOWN_H

#include <stdbool.h>
#include <stddef.h>

#include "clock.h"

struct event_base;
struct cm_teardowns;

struct cm_teardown_ops {
    /* One kill round, never waiting: sends SIGKILL to what is listed and sets *left to the
     * number of live processes still listed (0 = empty). Returns 0 or a negative error. */
    int (*kill)(void *arg, const char *id, size_t *left, char *why, size_t whylen);
    /* One attempt to remove the container's cgroups: 0 when gone, -EBUSY to try again
     * later, another negative error to give up. */
    int (*remove)(void *arg, const char *id, char *why, size_t whylen);
    void *arg;
};

/* A teardown finished: rc 0 (killed and removed), -ETIMEDOUT or an error of the ops, with a
 * sentence in why. Called on the loop, never from inside cm_teardowns_start. */
typedef void (*cm_teardown_done_fn)(void *arg, const char *id, int rc, const char *why);

struct cm_teardown_config {
    struct event_base *base;      /* NULL: the caller drives cm_teardowns_run_due */
    const struct cm_clock *clock; /* must outlive the set; NULL = the real clock */
    double first_delay;           /* seconds before the first re-check; 0 = 1 ms */
    double max_delay;             /* backoff cap; 0 = 100 ms */
    double timeout;               /* give up after this long; 0 = 60 s */
    cm_teardown_done_fn done;     /* may be NULL */
    void *done_arg;
};

/* ops and cfg are copied. Never NULL. */
struct cm_teardowns *cm_teardowns_new(const struct cm_teardown_ops *ops,
                                      const struct cm_teardown_config *cfg);
/* Drops every teardown in flight without calling done (their cgroups stay; see finish).
 * NULL is a no-op. */
void cm_teardowns_free(struct cm_teardowns *t);

/* Starts tearing id down: the first kill round runs now; if the container is already empty
 * the removal is tried now too. Whatever the outcome, done is called later, from the loop
 * (or cm_teardowns_run_due), never from here. Returns 0, or CM_EEXIST if id is already
 * being torn down. */
int cm_teardowns_start(struct cm_teardowns *t, const char *id);
/* Runs id's next step at once (from the loop) instead of at its backoff time: for ops that
 * learn asynchronously that a step can now succeed. Unknown ids are ignored. */
void cm_teardowns_poke(struct cm_teardowns *t, const char *id);
/* True while id is being torn down. */
bool cm_teardowns_busy(const struct cm_teardowns *t, const char *id);
/* Teardowns in flight. */
size_t cm_teardowns_count(const struct cm_teardowns *t);

/* Without a base: runs one step of every teardown whose re-check time (by the clock) has
 * come, and reports the finished ones; returns how many steps ran. */
size_t cm_teardowns_run_due(struct cm_teardowns *t);

/* Shutdown only: drives every teardown to its end, sleeping between rounds, for at most
 * budget seconds of real time; what is left then is dropped (without done). This is the one
 * place the module blocks, for a daemon that is exiting and has no loop to come back to. */
void cm_teardowns_finish(struct cm_teardowns *t, double budget);

#endif
