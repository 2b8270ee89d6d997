/* cron.c: the master's periodic work: allocation cycles, scheduler heartbeats,
 * agent pings and a tick that applies time-based rules (offer and failover timeouts). Each is
 * a self-repeating libevent timer; the logic they call reads the master's clock, so tests drive
 * it with a fake clock and direct calls instead of these timers. */
#include <event2/event.h>
#include <stdlib.h>

#include "master.h"
#include "registrar.h"

#define HEARTBEAT_SECS 15.0

struct cm_cron {
    struct cm_master *m;
    struct event *alloc, *heartbeat, *ping, *tick, *soon, *reg_release;
    bool soon_pending;
    bool reg_held; /* the registrar is held until reg_release runs */
};

static struct timeval tv_of(double secs)
{
    struct timeval tv;
    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}

static void on_alloc(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_cron *c = arg;
    c->soon_pending = false; /* this cycle covers whatever asked for one */
    cm_master_allocate(c->m);
}

static void on_soon(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_cron *c = arg;
    if (!c->soon_pending)
        return;
    c->soon_pending = false;
    cm_master_allocate(c->m);
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
static void on_reg_release(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_cron *c = arg;
    if (!c->reg_held)
        return;
    c->reg_held = false;
    cm_registrar_release(c->m->registrar);
}

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
    c->reg_release = event_new(m->base, -1, 0, on_reg_release, c);
    if (!c->alloc || !c->heartbeat || !c->ping || !c->tick || !c->soon || !c->reg_release) {
        cm_cron_free(c);
        return NULL;
    }
    return c;
}

void cm_cron_allocate_soon(struct cm_cron *c)
{
    /* Coalesced: many events in one loop iteration cause one cycle. */
    if (c->soon_pending)
        return;
    c->soon_pending = true;
    event_active(c->soon, EV_TIMEOUT, 0);
}

void cm_cron_registrar_batch(struct cm_cron *c)
{
    /* Every registration arriving in this loop turn (one epoll batch of REGISTER requests) goes
     * into one registry store: the registry is rewritten whole on each store, so one store per
     * agent made a burst of n registrations cost O(n^2) (2,000 agents took 20 s, 5,000 did not
     * finish in 2 minutes). The release runs once the turn's other ready callbacks have run. */
    if (c->reg_held)
        return;
    c->reg_held = true;
    cm_registrar_hold(c->m->registrar);
    event_active(c->reg_release, EV_TIMEOUT, 0);
}

void cm_cron_free(struct cm_cron *c)
{
    if (!c)
        return;
    if (c->reg_held) {
        c->reg_held = false;
        cm_registrar_release(c->m->registrar);
    }
    struct event *evs[] = {c->alloc, c->heartbeat, c->ping, c->tick, c->soon, c->reg_release};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    free(c);
}
