/* contender.c: see contender.h. */
#include "contender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "log.h"
#include "zk.h"

#define MOD "master"
#define TICK_SECS 0.1
#define GIVE_UP_TIMEOUTS 3.0

/* ---- stall guard ---------------------------------------------------------------------------- */

void cm_stall_guard_init(struct cm_stall_guard *g, double session_timeout, double now)
{
    g->session_timeout = session_timeout;
    g->last_tick = now;
    g->checking_since = 0;
    g->stalls = 0;
}

/* The loop runs at now: counts a gap longer than the session since the last sighting. */
static bool observe(struct cm_stall_guard *g, double now)
{
    bool gap = now - g->last_tick > g->session_timeout;
    if (gap)
        g->stalls++;
    g->last_tick = now;
    return gap;
}

void cm_stall_guard_tick(struct cm_stall_guard *g, double now)
{
    observe(g, now);
}

enum cm_stall_verdict cm_stall_guard_check(struct cm_stall_guard *g, double now)
{
    if (g->checking_since > 0) {
        observe(g, now);
        return now - g->checking_since > GIVE_UP_TIMEOUTS * g->session_timeout ? CM_STALL_GIVE_UP
                                                                               : CM_STALL_WAIT;
    }
    if (!observe(g, now))
        return CM_STALL_NONE;
    g->checking_since = now > 0 ? now : 1e-9;
    return CM_STALL_CHECK;
}

bool cm_stall_guard_checking(const struct cm_stall_guard *g)
{
    return g->checking_since > 0;
}

bool cm_stall_guard_confirmed(struct cm_stall_guard *g, double now, unsigned stalls_at_send)
{
    observe(g, now);
    if (g->stalls != stalls_at_send)
        return false; /* stalled again since the request went out: its answer proves nothing */
    g->checking_since = 0;
    return true;
}

/* ---- standalone ----------------------------------------------------------------------------- */

static bool sa_is_leader(const struct cm_contender *c)
{
    (void)c;
    return true;
}

static bool sa_leader(const struct cm_contender *c, char *out, size_t len)
{
    snprintf(out, len, "%s", c->self);
    return true;
}

static bool sa_recovering(const struct cm_contender *c)
{
    (void)c;
    return false;
}

static void sa_destroy(struct cm_contender *c)
{
    free(c);
}

static const struct cm_contender_ops standalone_ops = {
    .name = "standalone",
    .is_leader = sa_is_leader,
    .leader = sa_leader,
    .recovering = sa_recovering,
    .destroy = sa_destroy,
};

struct cm_contender *cm_contender_standalone_new(const char *self)
{
    struct cm_contender *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->ops = &standalone_ops;
    snprintf(c->self, sizeof c->self, "%s", self);
    return c;
}

/* ---- ZooKeeper ------------------------------------------------------------------------------ */

static bool zk_is_leader(const struct cm_contender *c)
{
    return c->lc && cm_leader_contender_elected(c->lc);
}

static bool zk_leader(const struct cm_contender *c, char *out, size_t len)
{
    /* While a stall is checked nobody is known to lead: neither this master nor another. */
    if (cm_stall_guard_checking(&c->stall))
        return false;
    const Mesos__V1__MasterInfo *mi = c->lc ? cm_leader_contender_leader(c->lc) : NULL;
    if (!mi)
        return false;
    /* Mesos redirects to the leader's hostname when it has one, else to its IP. */
    const char *host = mi->hostname && *mi->hostname    ? mi->hostname
                       : mi->address && mi->address->ip ? mi->address->ip
                                                        : NULL;
    uint32_t port = mi->port;
    if (!host || !port)
        return false;
    snprintf(out, len, "%s:%u", host, (unsigned)port);
    return true;
}

static bool zk_recovering(const struct cm_contender *c)
{
    (void)c;
    return false; /* the registrar's own state says whether recovery is done */
}

static void zk_destroy(struct cm_contender *c)
{
    cm_leader_contender_free(c->lc);
    if (c->tick)
        event_free(c->tick);
    cm_zk_url_cleanup(&c->url);
    free(c);
}

static const struct cm_contender_ops zk_ops = {
    .name = "zookeeper",
    .is_leader = zk_is_leader,
    .leader = zk_leader,
    .recovering = zk_recovering,
    .destroy = zk_destroy,
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_contender *c = arg;
    /* Checked here too so that a stall is noticed even when no request comes. */
    cm_contender_acting(c);
    cm_stall_guard_tick(&c->stall, cm_monotonic_secs());
}

static void on_leadership(void *arg, bool elected)
{
    struct cm_contender *c = arg;
    if (c->cb)
        c->cb(c->arg, elected);
}

struct cm_contender *cm_contender_zk_new(struct event_base *base, const struct cm_zk_url *url,
                                         double session_timeout, cm_contender_cb cb, void *arg)
{
    struct cm_contender *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->ops = &zk_ops;
    c->base = base;
    cm_zk_url_copy(&c->url, url);
    c->session_timeout = session_timeout;
    c->cb = cb;
    c->arg = arg;
    return c;
}

int cm_contender_start(struct cm_contender *c, const Mesos__V1__MasterInfo *self)
{
    if (c->ops != &zk_ops)
        return 0;
    if (c->started)
        return CM_ESTATE;
    c->lc =
        cm_leader_contender_zk_new(c->base, &c->url, c->session_timeout, self, on_leadership, c);
    if (!c->lc)
        return CM_EINVAL;
    c->started = true;
    c->tick = event_new(c->base, -1, EV_PERSIST, on_tick, c);
    if (!c->tick)
        abort();
    struct timeval tv = {0, (suseconds_t)(TICK_SECS * 1e6)};
    evtimer_add(c->tick, &tv);
    cm_stall_guard_init(&c->stall, c->session_timeout, cm_monotonic_secs());
    CM_INFO(MOD, "Contending for leadership under zk://%s%s (session timeout %gs)", c->url.servers,
            c->url.path, c->session_timeout);
    return cm_leader_contender_start(c->lc);
}

bool cm_contender_is_zk(const struct cm_contender *c)
{
    return c && c->ops == &zk_ops;
}

/* The answer to the exists() of our znode sent after a stall. */
static void on_stall_checked(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct cm_contender *c = arg;
    c->check_inflight = false;
    if (!cm_stall_guard_checking(&c->stall))
        return;
    if (res->rc == ZOK && res->stat && res->stat->ephemeralOwner == cm_zk_session_id(zk)) {
        if (cm_stall_guard_confirmed(&c->stall, cm_monotonic_secs(), c->check_stalls)) {
            CM_WARN(MOD, "ZooKeeper still holds this master's znode after the stall: the session "
                         "lived through it; acting as leader again");
            return;
        }
        /* Stalled again while the request was out: ask again at the next tick. */
        return;
    }
    if (res->rc == ZOK || res->rc == ZNONODE)
        cm_contender_step_down(
            "this master's znode is gone (or not its session's) after an event loop stall: another "
            "master may lead by now");
    /* Connection loss and the like: the next tick asks again (or gives up in time). */
    CM_WARN(MOD, "Checking the ZooKeeper session after a stall: %s; retrying",
            cm_zk_strerror(res->rc));
}

static void stall_check_send(struct cm_contender *c)
{
    struct cm_zk *zk = cm_leader_contender_zk(c->lc);
    const char *path = cm_leader_contender_znode(c->lc);
    if (c->check_inflight || !zk || !path)
        return;
    c->check_inflight = true;
    c->check_stalls = c->stall.stalls;
    cm_zk_exists(zk, path, NULL, NULL, on_stall_checked, c);
}

bool cm_contender_acting(struct cm_contender *c)
{
    if (!c->ops->is_leader(c))
        return false;
    if (c->ops != &zk_ops)
        return true;
    double now = cm_monotonic_secs();
    double gap = now - c->stall.last_tick;
    switch (cm_stall_guard_check(&c->stall, now)) {
    case CM_STALL_NONE: return true;
    case CM_STALL_CHECK:
        CM_WARN(MOD,
                "The event loop was stalled for %.1fs, longer than the ZooKeeper session timeout "
                "(%gs): not acting as leader until ZooKeeper confirms the session",
                gap, c->session_timeout);
        stall_check_send(c);
        return false;
    case CM_STALL_WAIT: stall_check_send(c); return false;
    case CM_STALL_GIVE_UP: break;
    }
    char why[256];
    snprintf(why, sizeof why,
             "ZooKeeper did not confirm the session within %gs of an event loop stall: another "
             "master may lead by now",
             GIVE_UP_TIMEOUTS * c->session_timeout);
    cm_contender_step_down(why);
}

void cm_contender_step_down(const char *reason)
{
    CM_ERROR(MOD,
             "Stepping down as leading master: %s. Exiting so that no stale state survives "
             "(as Mesos does); a supervisor restarts this master, which then contends again",
             reason);
    fflush(NULL);
    _exit(1);
}

void cm_contender_free(struct cm_contender *c)
{
    if (c)
        c->ops->destroy(c);
}
