/*
 * teardown.c: per-container kill -> wait -> remove, one non-blocking step per timer tick.
 */
#include "teardown.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "errors.h"
#include "strmap.h"

enum td_state {
    TD_KILLING,
    TD_REMOVING,
    TD_DONE,
};

struct teardown {
    struct cm_teardowns *set;
    char *id;
    enum td_state state;
    double started; /* clock time */
    double due;     /* clock time of the next step */
    double delay;   /* the current backoff */
    size_t left;    /* processes still listed at the last kill round */
    int rc;         /* the result once TD_DONE */
    char why[256];
    struct event *timer; /* with a base */
};

struct cm_teardowns {
    struct cm_teardown_ops ops;
    struct cm_teardown_config cfg;
    struct cm_strmap by_id; /* id -> struct teardown */
};

static void td_free(struct teardown *td)
{
    if (!td)
        return;
    if (td->timer)
        event_free(td->timer);
    free(td->id);
    free(td);
}

static void td_free_void(void *p)
{
    td_free(p);
}

struct cm_teardowns *cm_teardowns_new(const struct cm_teardown_ops *ops,
                                      const struct cm_teardown_config *cfg)
{
    struct cm_teardowns *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->ops = *ops;
    t->cfg = *cfg;
    if (!t->cfg.clock)
        t->cfg.clock = &cm_clock_real;
    if (t->cfg.first_delay <= 0)
        t->cfg.first_delay = 0.001;
    if (t->cfg.max_delay <= 0)
        t->cfg.max_delay = 0.1;
    if (t->cfg.max_delay < t->cfg.first_delay)
        t->cfg.max_delay = t->cfg.first_delay;
    if (t->cfg.timeout <= 0)
        t->cfg.timeout = 60;
    cm_strmap_init(&t->by_id);
    return t;
}

void cm_teardowns_free(struct cm_teardowns *t)
{
    if (!t)
        return;
    cm_strmap_cleanup_values(&t->by_id, td_free_void);
    free(t);
}

bool cm_teardowns_busy(const struct cm_teardowns *t, const char *id)
{
    return cm_strmap_get(&t->by_id, id) != NULL;
}

size_t cm_teardowns_count(const struct cm_teardowns *t)
{
    return cm_strmap_count(&t->by_id);
}

static void arm(struct teardown *td, double delay)
{
    td->due = cm_clock_now(td->set->cfg.clock) + delay;
    if (!td->timer)
        return;
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (time_t)delay) * 1e6)};
    evtimer_add(td->timer, &tv);
}

/* Reports and forgets a finished teardown. */
static void finish(struct teardown *td)
{
    struct cm_teardowns *t = td->set;
    cm_strmap_remove(&t->by_id, td->id);
    if (t->cfg.done)
        t->cfg.done(t->cfg.done_arg, td->id, td->rc, td->why);
    td_free(td);
}

static void conclude(struct teardown *td, int rc)
{
    td->state = TD_DONE;
    td->rc = rc;
}

/* One attempt at the current state; moves on at once where it can. Leaves the teardown
 * either TD_DONE or waiting for its next re-check with the backoff doubled. */
static void step(struct teardown *td)
{
    struct cm_teardowns *t = td->set;
    int rc;
    if (td->state == TD_KILLING) {
        rc = t->ops.kill(t->ops.arg, td->id, &td->left, td->why, sizeof td->why);
        if (rc) {
            conclude(td, rc);
            return;
        }
        if (td->left == 0) {
            td->state = TD_REMOVING;
            td->delay = 0;
        }
    }
    if (td->state == TD_REMOVING) {
        rc = t->ops.remove(t->ops.arg, td->id, td->why, sizeof td->why);
        if (rc != -EBUSY) {
            conclude(td, rc);
            return;
        }
    }
    double elapsed = cm_clock_now(t->cfg.clock) - td->started;
    if (elapsed >= t->cfg.timeout) {
        if (td->state == TD_KILLING)
            snprintf(td->why, sizeof td->why,
                     "container %s still has %zu process(es) after %.1f s of killing", td->id,
                     td->left, elapsed);
        else
            snprintf(td->why, sizeof td->why, "the cgroups of %s are still busy after %.1f s",
                     td->id, elapsed);
        conclude(td, -ETIMEDOUT);
        return;
    }
    td->delay = td->delay <= 0 ? t->cfg.first_delay : td->delay * 2;
    if (td->delay > t->cfg.max_delay)
        td->delay = t->cfg.max_delay;
    arm(td, td->delay);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct teardown *td = arg;
    if (td->state != TD_DONE)
        step(td);
    if (td->state == TD_DONE)
        finish(td);
}

int cm_teardowns_start(struct cm_teardowns *t, const char *id)
{
    if (cm_strmap_get(&t->by_id, id))
        return CM_EEXIST;
    struct teardown *td = calloc(1, sizeof *td);
    if (!td)
        abort();
    td->set = t;
    td->id = strdup(id);
    if (!td->id)
        abort();
    td->state = TD_KILLING;
    td->started = cm_clock_now(t->cfg.clock);
    if (t->cfg.base) {
        td->timer = evtimer_new(t->cfg.base, timer_cb, td);
        if (!td->timer)
            abort();
    }
    cm_strmap_put(&t->by_id, td->id, td);
    step(td);
    /* A finished teardown is still reported from the loop, so done never runs inside the
     * caller's own call (which may be holding pointers done would invalidate). */
    if (td->state == TD_DONE)
        arm(td, 0);
    return 0;
}

void cm_teardowns_poke(struct cm_teardowns *t, const char *id)
{
    struct teardown *td = cm_strmap_get(&t->by_id, id);
    if (td && td->state != TD_DONE)
        arm(td, 0);
}

size_t cm_teardowns_run_due(struct cm_teardowns *t)
{
    double now = cm_clock_now(t->cfg.clock);
    size_t n = cm_strmap_count(&t->by_id), k = 0, ran = 0;
    if (!n)
        return 0;
    /* Steps may finish (remove) teardowns: collect the due ones first. */
    struct teardown **due = malloc(n * sizeof *due);
    if (!due)
        abort();
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &t->by_id);
    struct teardown *td;
    while ((td = cm_strmap_iter_value(&it, NULL)))
        if (td->due <= now)
            due[k++] = td;
    for (size_t i = 0; i < k; i++) {
        if (due[i]->state != TD_DONE) {
            step(due[i]);
            ran++;
        }
        if (due[i]->state == TD_DONE)
            finish(due[i]);
    }
    free(due);
    return ran;
}

void cm_teardowns_finish(struct cm_teardowns *t, double budget)
{
    double end = cm_monotonic_secs() + budget;
    while (cm_strmap_count(&t->by_id) > 0 && cm_monotonic_secs() < end) {
        struct cm_strmap_iter it;
        cm_strmap_iter_init(&it, &t->by_id);
        struct teardown *td;
        size_t n = cm_strmap_count(&t->by_id), k = 0;
        struct teardown **all = malloc(n * sizeof *all);
        if (!all)
            abort();
        while ((td = cm_strmap_iter_value(&it, NULL)))
            all[k++] = td;
        for (size_t i = 0; i < k; i++) {
            if (all[i]->state != TD_DONE)
                step(all[i]);
            if (all[i]->state == TD_DONE)
                finish(all[i]);
        }
        free(all);
        if (cm_strmap_count(&t->by_id) > 0) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}
