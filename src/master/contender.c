/* contender.c: see contender.h. */
#include "contender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "log.h"

#define MOD "master"
#define TICK_SECS 0.1

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
    c->last_tick = cm_monotonic_secs();
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
    c->last_tick = cm_monotonic_secs();
    CM_INFO(MOD, "Contending for leadership under zk://%s%s (session timeout %gs)", c->url.servers,
            c->url.path, c->session_timeout);
    return cm_leader_contender_start(c->lc);
}

bool cm_contender_is_zk(const struct cm_contender *c)
{
    return c && c->ops == &zk_ops;
}

bool cm_contender_acting(struct cm_contender *c)
{
    if (!c->ops->is_leader(c))
        return false;
    if (c->ops != &zk_ops)
        return true;
    double gap = cm_monotonic_secs() - c->last_tick;
    if (gap > c->session_timeout) {
        char why[256];
        snprintf(why, sizeof why,
                 "The event loop was stalled for %.1fs, longer than the ZooKeeper session timeout "
                 "(%gs): another master may lead by now",
                 gap, c->session_timeout);
        cm_contender_step_down(why);
    }
    return true;
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
