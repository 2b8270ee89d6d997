/* cron.c: the master's periodic work: allocation cycles, scheduler heartbeats,
 * agent pings and a tick that applies time-based rules (offer and failover timeouts). Each is
 * a self-repeating libevent timer; the logic they call reads the master's clock, so tests drive
 * it with a fake clock and direct calls instead of these timers.
 *
 * Event-driven allocation: the allocator wakes cron when its dirty set becomes non-empty
 * (resources came back, an agent or framework appeared, REVIVE); cron then runs a cycle over
 * the dirty agents CM_CRON_REOFFER_DELAY later, so a burst of events (the declines of one
 * OFFERS event, the tasks of one agent finishing) makes one cycle and whole offers. The delay
 * is 0: the cycle runs right after the events of the current loop turn, which coalesces what
 * arrived together without sleeping. A few milliseconds of sleep cost more than they say on a
 * loaded machine: the master must then be woken and wait for a CPU again (bench-reoffer at
 * load ~15: DECLINE -> offer p99 24-30 ms with 5 ms, 11-16 ms with 1 ms, under 1 ms with 0;
 * the decline back-off keeps a decline loop from spinning). Requests
 * for a full cycle (cm_cron_allocate_soon) share that timer. The periodic cycle stays as the
 * backstop (expired filters, anything not marked dirty). After each cycle a one-shot timer is
 * armed for the allocator's next decline back-off expiry (cm_allocator_next_wakeup), whose
 * cycle re-offers the agents that were backed off. */
#include <event2/event.h>
#include <math.h>
#include <stdlib.h>

#include "allocator/allocator.h"
#include "master.h"
#include "registrar.h"

#define HEARTBEAT_SECS 15.0

struct cm_cron {
    struct cm_master *m;
    struct event *alloc, *heartbeat, *ping, *tick, *soon, *backoff;
    double backoff_at; /* when the backoff timer fires (clock time); INFINITY: not armed */
    bool soon_pending; /* the soon timer is armed */
    bool soon_full;    /* ... and a full cycle was asked for */
};

static struct timeval tv_of(double secs)
{
    struct timeval tv;
    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* Arms the backoff timer for the allocator's earliest back-off expiry, if that is sooner than
 * what it is armed for (a later one is re-armed after the cycle the timer runs). */
static void arm_backoff(struct cm_cron *c)
{
    double at = cm_allocator_next_wakeup(c->m->allocator);
    if (!(at < c->backoff_at))
        return;
    /* 1 ms late rather than early: a cycle that runs before the filter ends offers nothing. */
    double delay = at - cm_clock_now(c->m->clock) + 0.001;
    struct timeval tv = tv_of(delay > 0 ? delay : 0);
    c->backoff_at = at;
    evtimer_add(c->backoff, &tv);
}

static void on_alloc(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_cron *c = arg;
    c->soon_full = false; /* this cycle covers whatever asked for one */
    cm_master_allocate(c->m);
    arm_backoff(c);
}

static void on_soon(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_cron *c = arg;
    bool full = c->soon_full;
    c->soon_pending = c->soon_full = false;
    if (full)
        cm_master_allocate(c->m);
    else
        cm_master_allocate_dirty(c->m);
    arm_backoff(c);
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_cron *c = arg;
    c->backoff_at = INFINITY;
    cm_master_allocate_dirty(c->m); /* makes the agents whose back-off ended dirty first */
    arm_backoff(c);
}

static void arm_soon(struct cm_cron *c)
{
    if (c->soon_pending)
        return;
    c->soon_pending = true;
    struct timeval tv = tv_of(CM_CRON_REOFFER_DELAY);
    evtimer_add(c->soon, &tv);
}

static void on_wake(void *arg)
{
    arm_soon(arg);
}

void cm_cron_attach_wake(struct cm_cron *c)
{
    cm_allocator_set_wake(c->m->allocator, on_wake, c);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    cm_master_heartbeat(((struct cm_cron *)arg)->m);
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    cm_master_ping_agents(((struct cm_cron *)arg)->m);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    cm_master_check_timeouts(((struct cm_cron *)arg)->m);
}

/* The registrations of one loop turn are in: store them together. */
static struct event *periodic(struct cm_cron *c, double secs, event_callback_fn fn)
{
    struct event *ev = event_new(c->m->base, -1, EV_PERSIST, fn, c);
    if (!ev)
        return NULL;
    struct timeval tv = tv_of(secs);
    event_add(ev, &tv);
    return ev;
}

struct cm_cron *cm_cron_new(struct cm_master *m)
{
    struct cm_cron *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->m = m;
    double tick = 0.25;
    if (m->flags->offer_timeout > 0 && m->flags->offer_timeout / 4 < tick)
        tick = m->flags->offer_timeout / 4;
    c->alloc = periodic(c, m->flags->allocation_interval, on_alloc);
    c->heartbeat = periodic(c, HEARTBEAT_SECS, on_heartbeat);
    c->ping = periodic(c, m->flags->agent_ping_timeout, on_ping);
    c->tick = periodic(c, tick, on_tick);
    c->soon = event_new(m->base, -1, 0, on_soon, c);
    c->backoff = event_new(m->base, -1, 0, on_backoff, c);
    c->backoff_at = INFINITY;
    if (!c->alloc || !c->heartbeat || !c->ping || !c->tick || !c->soon || !c->backoff) {
        cm_cron_free(c);
        return NULL;
    }
    /* A framework that keeps declining an agent sees it at least once per interval, as with
     * Mesos's batch allocation (allocator.h, "Declines and their back-off"). */
    cm_allocator_set_backoff(m->allocator, CM_ALLOCATOR_BACKOFF_FIRST,
                             m->flags->allocation_interval);
    cm_cron_attach_wake(c);
    /* Whatever was marked before the wake was installed (recovery) gets its cycle too. */
    if (cm_allocator_dirty(m->allocator))
        arm_soon(c);
    return c;
}

void cm_cron_allocate_soon(struct cm_cron *c)
{
    /* Coalesced: many events within the delay cause one cycle. */
    c->soon_full = true;
    arm_soon(c);
}

void cm_cron_free(struct cm_cron *c)
{
    if (!c)
        return;
    if (c->m->allocator)
        cm_allocator_set_wake(c->m->allocator, NULL, NULL);
    struct event *evs[] = {c->alloc, c->heartbeat, c->ping, c->tick, c->soon, c->backoff};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    free(c);
}
