/*
 * contender.h: the master's leadership seam.
 *
 * The scheduler, agent-link and state endpoints ask the contender whether this master leads,
 * who leads otherwise (for the 307 redirect) and whether it is still recovering (503). Two
 * implementations sit behind one vtable:
 *
 * - standalone: always leads (the default without --zk).
 * - ZooKeeper (--zk): wraps cm_leader_contender (src/common/leader.h). The master starts it
 *   once its port is known (cm_contender_start with its MasterInfo); the callback reports
 *   election (the master then recovers its registry before answering) and loss of leadership.
 *   Mesos's leading master aborts when it loses leadership and a supervisor restarts it; cmesos
 *   does the same (cm_contender_step_down logs why and exits the process with status 1), which
 *   is the only reset that is sure to drop every piece of in-memory state.
 *
 * Stall guard: a loop tick records the monotonic time every 100 ms. If the loop was frozen
 * (SIGSTOP, a stuck VM) for longer than the ZooKeeper session timeout, the session may have
 * expired and another master may lead although the expiry has not reached us yet (the client's
 * I/O thread was frozen too, and its report waits in the loop's queue). A loop that was merely
 * slow (CPU starvation, a long turn) kept its session: the ZooKeeper client's own thread pings
 * the server while the loop is busy. The two cannot be told apart from the gap alone, so after
 * such a gap the contender stops acting (cm_contender_acting() is false and no leader is
 * reported: the HTTP edge answers 503, no offers are made) and asks the server: an exists() of
 * its own znode, sent after the gap. If the server still has the node the session survived, nobody
 * else can have been elected, and this master acts again; if it is gone, or no answer comes within
 * 3 session timeouts, it steps down (exits). An expired session is reported by the client as loss
 * of leadership and ends the master as well. (With an ensemble, a follower that has not yet applied
 * the expiry could still show the node; the expiry then reaches this master as a closed session
 * moments later.) An answer counts only if the loop did not stall again after the request went
 * out (else the contender asks again). The decision logic is struct cm_stall_guard (below), driven
 * by the caller's clock.
 *
 * Layer: a seam of the master's core (master.h); it includes no edge header. The 307 answer
 * itself is the HTTP edge's (cm_master_http_redirect in master_http.h).
 *
 * Threading: the master's loop. The contender copies the URL and the MasterInfo.
 */
#ifndef CM_CONTENDER_H
#define CM_CONTENDER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "leader.h"
#include "mesos/v1/mesos.pb-c.h"
#include "zk_url.h"

/* The stall guard's decisions; times are the caller's monotonic seconds (unit tests pass a fake
 * clock's). Not thread-safe; no allocation. */
enum cm_stall_verdict {
    CM_STALL_NONE,    /* no stall: act */
    CM_STALL_CHECK,   /* a gap longer than the session timeout, just seen: hold off acting and
                         send one request to the server now */
    CM_STALL_WAIT,    /* the check is under way: hold off acting */
    CM_STALL_GIVE_UP, /* no confirmation within 3 session timeouts: step down */
};
struct cm_stall_guard {
    double session_timeout;
    double last_tick;      /* the loop's last tick */
    double checking_since; /* 0: not checking */
    unsigned stalls;       /* gaps longer than the session seen so far */
};
void cm_stall_guard_init(struct cm_stall_guard *g, double session_timeout, double now);
/* The loop ticked at now. */
void cm_stall_guard_tick(struct cm_stall_guard *g, double now);
/* What to do at now (CM_STALL_CHECK is returned once per stall, then CM_STALL_WAIT). */
enum cm_stall_verdict cm_stall_guard_check(struct cm_stall_guard *g, double now);
bool cm_stall_guard_checking(const struct cm_stall_guard *g);
/* The server answered a request sent after the stall (when stalls was stalls_at_send) and our
 * znode exists: the session lived through the stall and acting resumes (true). False if the loop
 * stalled again since the request went out: send another. Every call of tick, check and
 * confirmed is a sighting of the running loop. */
bool cm_stall_guard_confirmed(struct cm_stall_guard *g, double now, unsigned stalls_at_send);

struct cm_contender;

/* elected: this master became the leader (true) or lost leadership (false). */
typedef void (*cm_contender_cb)(void *arg, bool elected);

struct cm_contender_ops {
    const char *name;
    bool (*is_leader)(const struct cm_contender *c);
    /* Fills "host:port" of the current leader; returns false when no leader is known. */
    bool (*leader)(const struct cm_contender *c, char *out, size_t len);
    bool (*recovering)(const struct cm_contender *c);
    void (*destroy)(struct cm_contender *c);
};

struct cm_contender {
    const struct cm_contender_ops *ops;
    char self[300]; /* "host:port" of this master */
    /* ZooKeeper only. */
    struct event_base *base;
    struct cm_zk_url url;
    double session_timeout;
    struct cm_leader_contender *lc;
    cm_contender_cb cb;
    void *arg;
    struct event *tick;
    struct cm_stall_guard stall;
    bool check_inflight;   /* an exists() of our znode is outstanding (stall check) */
    unsigned check_stalls; /* stall.stalls when it was sent */
    bool started;
};

/* The standalone contender: always the leader (self is "host:port"). */
struct cm_contender *cm_contender_standalone_new(const char *self);
/* A ZooKeeper contender for url (copied), not yet contending. cb reports leadership changes. */
struct cm_contender *cm_contender_zk_new(struct event_base *base, const struct cm_zk_url *url,
                                         double session_timeout, cm_contender_cb cb, void *arg);
/* Begins contending with this master's info (copied; ZooKeeper only, a no-op otherwise).
 * Returns 0, CM_ESTATE when already started, or CM_EINVAL if the client cannot be created. */
int cm_contender_start(struct cm_contender *c, const Mesos__V1__MasterInfo *self);
bool cm_contender_is_zk(const struct cm_contender *c);
/* True if this master may act as leader now: false while not elected or while a stall is being
 * checked with the server; steps down (exits) when the check fails. */
bool cm_contender_acting(struct cm_contender *c);
/* Logs reason and ends the process (status 1): the Mesos way of dropping leadership. */
void cm_contender_step_down(const char *reason) __attribute__((noreturn));
void cm_contender_free(struct cm_contender *c);

#endif
