/*
 * zk.c: see zk.h.
 *
 * Threads: the ZooKeeper client's I/O and completion threads only ever call enqueue() (through
 * the completion and watcher functions below), which copies what they report into a zk_ev,
 * appends it under zk->lock and writes the eventfd. Everything else runs on the loop.
 *
 * Session generations: every zookeeper_init starts a new generation. Requests, watches and
 * session events remember the generation they belong to; once a session has ended, whatever
 * of it is still queued is dropped on the loop, so a caller never hears about a dead session
 * after CM_ZK_EXPIRED. zookeeper_close joins the client's threads (we never call it from them)
 * and flushes outstanding completions with ZCLOSING, which land in the queue and are dropped
 * there: every request is freed exactly once, by the loop.
 *
 * Freeing while requests are in flight: libzookeeper 3.8's zookeeper_close can lose requests it
 * has already sent (ZOOKEEPER-2894/3868: their ZCLOSING completions are queued for a completion
 * thread that has been told to stop), so neither our request nor the client's completion record
 * is ever freed. cm_zk_free therefore waits, bounded, for the answers to what it has in flight
 * on a connected session before it closes the handle (see drain_in_flight).
 */
#include "zk.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define MOD "zk"

/* How long cm_zk_free waits for the answers to requests in flight before it closes anyway. A
 * server that is up answers within a round trip; zookeeper_close itself may then block up to
 * 4.5 s (sending the close and waiting for the server to end the session). */
#define DRAIN_MS 1000

enum zk_op { OP_CREATE, OP_GET, OP_CHILDREN, OP_EXISTS, OP_SET, OP_DELETE, OP_AUTH };

/* The context handed to zookeeper_init: which cm_zk and which generation a handle serves. */
struct zk_sess {
    struct cm_zk *zk;
    unsigned gen;
};

struct zk_req {
    struct cm_zk *zk; /* read by the completion thread; immutable */
    unsigned gen;
    enum zk_op op;
    cm_zk_cb cb;
    void *arg;
    uint64_t watch_id; /* 0: no watch */
    int exists_ok;     /* ensure_path: ZNODEEXISTS is reported as ZOK */
    char path[];
};

enum zk_ev_kind { EV_SESSION, EV_WATCH, EV_DONE };

struct zk_ev {
    struct zk_ev *next;
    enum zk_ev_kind kind;
    unsigned gen;
    int state;          /* EV_SESSION */
    int type;           /* EV_WATCH */
    uint64_t watch_id;  /* EV_WATCH */
    struct zk_req *req; /* EV_DONE (owned) */
    int rc;
    char *str; /* EV_WATCH: the path; EV_DONE: the created path */
    char *data;
    size_t len;
    char **names;
    size_t n_names;
    struct Stat stat;
    int has_stat;
};

/* Few watches are outstanding at once (a handful per contender or detector), so a list does. */
struct zk_watch {
    struct zk_watch *next;
    uint64_t id;
    cm_zk_watch_cb cb;
    void *arg;
};

struct cm_zk {
    struct event_base *base;
    struct cm_zk_url url;
    int timeout_ms;    /* requested */
    double negotiated; /* seconds */
    cm_zk_session_cb cb;
    void *arg;

    zhandle_t *zh;
    struct zk_sess *sess;
    unsigned gen;
    int gen_connected; /* this generation has been connected at least once */
    int connected;
    int64_t session_id;
    int report_expired; /* CM_ZK_EXPIRED is owed to the caller (reported by restart_ev) */
    double restart_delay;

    struct ACL acl_entries[2];
    struct ACL_vector acl;

    struct zk_watch *watches;
    uint64_t next_watch_id;

    int efd;
    struct event *wake_ev;
    struct event *expiry_ev;  /* no server took the session back in time */
    struct event *restart_ev; /* start the next session */

    int dispatching;  /* depth of callbacks into the caller */
    int dying;        /* cm_zk_free was called from a callback */
    size_t in_flight; /* this generation's requests not yet freed (loop thread only) */

    pthread_mutex_t lock; /* guards head/tail only */
    struct zk_ev *head, *tail;
};

/* ---- the queue (any thread) ------------------------------------------------------------- */

static void enqueue(struct cm_zk *zk, struct zk_ev *ev)
{
    pthread_mutex_lock(&zk->lock);
    if (zk->tail)
        zk->tail->next = ev;
    else
        zk->head = ev;
    zk->tail = ev;
    pthread_mutex_unlock(&zk->lock);
    uint64_t one = 1;
    /* A full counter (never in practice) still leaves the fd readable, which is all we need. */
    ssize_t n = write(zk->efd, &one, sizeof one);
    (void)n;
}

static struct zk_ev *ev_new(enum zk_ev_kind kind)
{
    struct zk_ev *ev = cm_xcalloc(1, sizeof *ev);
    ev->kind = kind;
    return ev;
}

static void req_free(struct zk_req *req)
{
    if (!req)
        return;
    /* Requests of an ended session are not counted any more (end_session zeroes the count). */
    if (req->gen == req->zk->gen)
        req->zk->in_flight--;
    free(req);
}

/* Loop thread only: a request's count is dropped here. */
static void ev_free(struct zk_ev *ev)
{
    req_free(ev->req);
    free(ev->str);
    free(ev->data);
    for (size_t i = 0; i < ev->n_names; i++)
        free(ev->names[i]);
    free(ev->names);
    free(ev);
}

static void done_ev(const void *data, int rc, struct zk_ev **out)
{
    struct zk_req *req = (struct zk_req *)data;
    struct zk_ev *ev = ev_new(EV_DONE);
    ev->req = req;
    ev->rc = rc;
    *out = ev;
}

/* ---- completion and watcher functions (ZooKeeper threads) ------------------------------- */

static void string_done(int rc, const char *value, const void *data)
{
    struct zk_ev *ev;
    done_ev(data, rc, &ev);
    if (rc == ZOK && value)
        ev->str = cm_xstrdup(value);
    enqueue(ev->req->zk, ev);
}

static void data_done(int rc, const char *value, int value_len, const struct Stat *stat,
                      const void *data)
{
    struct zk_ev *ev;
    done_ev(data, rc, &ev);
    if (rc == ZOK && value && value_len >= 0) {
        ev->data = cm_xmalloc((size_t)value_len + 1);
        memcpy(ev->data, value, (size_t)value_len);
        ev->data[value_len] = '\0';
        ev->len = (size_t)value_len;
    }
    if (rc == ZOK && stat) {
        ev->stat = *stat;
        ev->has_stat = 1;
    }
    enqueue(ev->req->zk, ev);
}

static void strings_done(int rc, const struct String_vector *strings, const struct Stat *stat,
                         const void *data)
{
    struct zk_ev *ev;
    done_ev(data, rc, &ev);
    if (rc == ZOK && strings && strings->count > 0) {
        ev->names = cm_xcalloc((size_t)strings->count, sizeof *ev->names);
        for (int32_t i = 0; i < strings->count; i++)
            ev->names[i] = cm_xstrdup(strings->data[i]);
        ev->n_names = (size_t)strings->count;
    }
    if (rc == ZOK && stat) {
        ev->stat = *stat;
        ev->has_stat = 1;
    }
    enqueue(ev->req->zk, ev);
}

static void stat_done(int rc, const struct Stat *stat, const void *data)
{
    struct zk_ev *ev;
    done_ev(data, rc, &ev);
    if (rc == ZOK && stat) {
        ev->stat = *stat;
        ev->has_stat = 1;
    }
    enqueue(ev->req->zk, ev);
}

static void void_done(int rc, const void *data)
{
    struct zk_ev *ev;
    done_ev(data, rc, &ev);
    enqueue(ev->req->zk, ev);
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)path;
    struct zk_sess *sess = ctx;
    if (type != ZOO_SESSION_EVENT || !sess)
        return;
    struct zk_ev *ev = ev_new(EV_SESSION);
    ev->gen = sess->gen;
    ev->state = state;
    enqueue(sess->zk, ev);
}

static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)state;
    /* Session events reach every registered watcher too; the session watcher handles them. */
    if (type != ZOO_CREATED_EVENT && type != ZOO_DELETED_EVENT && type != ZOO_CHANGED_EVENT &&
        type != ZOO_CHILD_EVENT)
        return;
    struct zk_sess *sess = (struct zk_sess *)zoo_get_context(zh);
    if (!sess)
        return;
    struct zk_ev *ev = ev_new(EV_WATCH);
    ev->gen = sess->gen;
    ev->type = type;
    ev->watch_id = (uint64_t)(uintptr_t)ctx;
    ev->str = cm_xstrdup(path ? path : "");
    enqueue(sess->zk, ev);
}

static void zk_log_line(const char *message)
{
    CM_WARN("zookeeper", "%s", message);
}

/* ---- sessions (loop) ---------------------------------------------------------------------- */

static void free_watches(struct cm_zk *zk)
{
    while (zk->watches) {
        struct zk_watch *w = zk->watches;
        zk->watches = w->next;
        free(w);
    }
}

static struct zk_req *req_new(struct cm_zk *zk, enum zk_op op, const char *path, cm_zk_cb cb,
                              void *arg)
{
    size_t plen = strlen(path);
    struct zk_req *req = cm_xcalloc(1, sizeof *req + plen + 1);
    req->zk = zk;
    req->gen = zk->gen;
    req->op = op;
    req->cb = cb;
    req->arg = arg;
    memcpy(req->path, path, plen + 1);
    zk->in_flight++;
    return req;
}

static int start_session(struct cm_zk *zk)
{
    struct zk_sess *sess = cm_xcalloc(1, sizeof *sess);
    sess->zk = zk;
    sess->gen = zk->gen;
    zhandle_t *zh = zookeeper_init2(zk->url.servers, session_watcher, zk->timeout_ms, NULL, sess, 0,
                                    zk_log_line);
    if (!zh) {
        int err = errno ? -errno : -EINVAL;
        free(sess);
        CM_ERROR(MOD, "zookeeper_init(%s) failed: %s", zk->url.servers, strerror(-err));
        return err;
    }
    zk->zh = zh;
    zk->sess = sess;
    zk->gen_connected = 0;
    if (zk->url.auth) {
        /* The client replays added credentials on every reconnect of this handle. */
        struct zk_req *req = req_new(zk, OP_AUTH, zk->url.path, NULL, NULL);
        int rc =
            zoo_add_auth(zh, "digest", zk->url.auth, (int)strlen(zk->url.auth), void_done, req);
        if (rc != ZOK) {
            CM_ERROR(MOD, "Failed to add digest credentials: %s", zerror(rc));
            req_free(req);
        }
    }
    return 0;
}

/* Ends the current session: closes the handle (dropping whatever it still owes us), bumps the
 * generation, and arms restart_ev, which reports CM_ZK_EXPIRED and starts the next one. */
static void end_session(struct cm_zk *zk, double delay)
{
    zhandle_t *old = zk->zh;
    struct zk_sess *olds = zk->sess;
    zk->zh = NULL;
    zk->sess = NULL;
    zk->gen++;
    zk->in_flight = 0;
    zk->connected = 0;
    zk->gen_connected = 0;
    zk->session_id = 0;
    evtimer_del(zk->expiry_ev);
    free_watches(zk);
    if (old)
        zookeeper_close(old);
    free(olds);
    zk->report_expired = 1;
    zk->restart_delay = delay;
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
    evtimer_add(zk->restart_ev, &tv);
}

static void destroy(struct cm_zk *zk);

static void report(struct cm_zk *zk, enum cm_zk_session_event ev)
{
    if (zk->cb && !zk->dying)
        zk->cb(zk, ev, zk->arg);
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_zk *zk = arg;
    if (zk->report_expired) {
        zk->report_expired = 0;
        zk->dispatching++;
        report(zk, CM_ZK_EXPIRED);
        zk->dispatching--;
        if (zk->dying) {
            destroy(zk);
            return;
        }
        /* The caller may have restarted us again from its callback. */
        if (zk->zh || zk->report_expired)
            return;
    }
    if (zk->zh)
        return;
    if (start_session(zk) != 0) {
        struct timeval tv = {1, 0};
        evtimer_add(zk->restart_ev, &tv);
    }
}

static void on_expiry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_zk *zk = arg;
    if (zk->connected || !zk->zh)
        return;
    CM_WARN(MOD, "No ZooKeeper server took session 0x%llx back within %.1f s; it has expired",
            (unsigned long long)zk->session_id, zk->negotiated);
    end_session(zk, 0);
}

static void handle_session(struct cm_zk *zk, int state)
{
    if (state == ZOO_CONNECTED_STATE) {
        evtimer_del(zk->expiry_ev);
        const clientid_t *cid = zoo_client_id(zk->zh);
        int again = zk->gen_connected;
        zk->gen_connected = 1;
        zk->connected = 1;
        zk->session_id = cid ? cid->client_id : 0;
        int ms = zoo_recv_timeout(zk->zh);
        if (ms > 0)
            zk->negotiated = ms / 1000.0;
        if (again)
            CM_INFO(MOD, "Reconnected to ZooKeeper session 0x%llx",
                    (unsigned long long)zk->session_id);
        else
            CM_INFO(MOD, "ZooKeeper session 0x%llx established (timeout %.1f s)",
                    (unsigned long long)zk->session_id, zk->negotiated);
        report(zk, again ? CM_ZK_RECONNECTED : CM_ZK_CONNECTED);
    } else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
        if (!zk->connected)
            return;
        zk->connected = 0;
        double t = zk->negotiated;
        struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
        evtimer_add(zk->expiry_ev, &tv);
        CM_WARN(MOD, "Disconnected from ZooKeeper (session 0x%llx); reconnecting",
                (unsigned long long)zk->session_id);
        report(zk, CM_ZK_DISCONNECTED);
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
        CM_WARN(MOD, "ZooKeeper session 0x%llx expired", (unsigned long long)zk->session_id);
        end_session(zk, 0);
    } else if (state == ZOO_AUTH_FAILED_STATE) {
        CM_ERROR(MOD, "ZooKeeper authentication failed; retrying with a new session in 1 s");
        end_session(zk, 1.0);
    }
}

static void remove_watch(struct cm_zk *zk, uint64_t id, struct zk_watch *out)
{
    for (struct zk_watch **pp = &zk->watches; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct zk_watch *w = *pp;
            *pp = w->next;
            if (out)
                *out = *w;
            free(w);
            return;
        }
    }
    if (out)
        memset(out, 0, sizeof *out);
}

static void handle_done(struct cm_zk *zk, struct zk_ev *ev)
{
    struct zk_req *req = ev->req;
    if (req->gen != zk->gen)
        return;
    /* The client registers a watch only when the read succeeded (exists: also on ZNONODE). */
    if (req->watch_id && !(ev->rc == ZOK || (req->op == OP_EXISTS && ev->rc == ZNONODE)))
        remove_watch(zk, req->watch_id, NULL);
    if (req->op == OP_AUTH) {
        if (ev->rc != ZOK)
            CM_ERROR(MOD, "ZooKeeper digest authentication failed: %s", zerror(ev->rc));
        return;
    }
    if (!req->cb)
        return;
    if (req->exists_ok && ev->rc == ZNODEEXISTS)
        ev->rc = ZOK;
    struct cm_zk_result res = {
        .rc = ev->rc,
        .path = req->path,
        .created = ev->str,
        .data = ev->data,
        .len = ev->len,
        .children = ev->names,
        .n_children = ev->n_names,
        .stat = ev->has_stat ? &ev->stat : NULL,
    };
    req->cb(zk, &res, req->arg);
}

static void handle_watch(struct cm_zk *zk, struct zk_ev *ev)
{
    if (ev->gen != zk->gen)
        return;
    struct zk_watch w;
    remove_watch(zk, ev->watch_id, &w);
    if (w.cb)
        w.cb(zk, ev->type, ev->str, w.arg);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct cm_zk *zk = arg;
    uint64_t count;
    ssize_t n = read(fd, &count, sizeof count);
    (void)n;
    pthread_mutex_lock(&zk->lock);
    struct zk_ev *list = zk->head;
    zk->head = zk->tail = NULL;
    pthread_mutex_unlock(&zk->lock);
    zk->dispatching++;
    while (list) {
        struct zk_ev *ev = list;
        list = ev->next;
        if (!zk->dying) {
            if (ev->kind == EV_SESSION) {
                if (ev->gen == zk->gen)
                    handle_session(zk, ev->state);
            } else if (ev->kind == EV_WATCH) {
                handle_watch(zk, ev);
            } else {
                handle_done(zk, ev);
            }
        }
        ev_free(ev);
    }
    zk->dispatching--;
    if (zk->dying && zk->dispatching == 0)
        destroy(zk);
}

/* ---- public ------------------------------------------------------------------------------- */

struct cm_zk *cm_zk_new(struct event_base *base, const struct cm_zk_url *url, double timeout_secs,
                        cm_zk_session_cb cb, void *arg)
{
    struct cm_zk *zk = cm_xcalloc(1, sizeof *zk);
    zk->base = base;
    cm_zk_url_copy(&zk->url, url);
    if (timeout_secs <= 0)
        timeout_secs = 10;
    zk->timeout_ms = (int)(timeout_secs * 1000);
    zk->negotiated = timeout_secs;
    zk->cb = cb;
    zk->arg = arg;
    zk->next_watch_id = 1;
    pthread_mutex_init(&zk->lock, NULL);
    zk->acl_entries[0].perms = ZOO_PERM_READ;
    zk->acl_entries[0].id = ZOO_ANYONE_ID_UNSAFE;
    zk->acl_entries[1].perms = ZOO_PERM_ALL;
    zk->acl_entries[1].id = ZOO_AUTH_IDS;
    zk->acl.count = 2;
    zk->acl.data = zk->acl_entries;
    zk->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (zk->efd < 0) {
        CM_ERROR(MOD, "eventfd failed: %s", strerror(errno));
        goto fail;
    }
    zk->wake_ev = event_new(base, zk->efd, EV_READ | EV_PERSIST, on_wake, zk);
    zk->expiry_ev = evtimer_new(base, on_expiry, zk);
    zk->restart_ev = evtimer_new(base, on_restart, zk);
    if (!zk->wake_ev || !zk->expiry_ev || !zk->restart_ev || event_add(zk->wake_ev, NULL) != 0)
        goto fail;
    /* The client's default INFO level logs every connection step; keep warnings and errors. */
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    if (start_session(zk) != 0)
        goto fail;
    return zk;
fail:
    destroy(zk);
    return NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees every queued event (no callbacks: the caller is freeing us). */
static void drop_queued(struct cm_zk *zk)
{
    pthread_mutex_lock(&zk->lock);
    struct zk_ev *list = zk->head;
    zk->head = zk->tail = NULL;
    pthread_mutex_unlock(&zk->lock);
    while (list) {
        struct zk_ev *ev = list;
        list = ev->next;
        ev_free(ev);
    }
}

/* Before the handle is closed: on a connected session, waits up to DRAIN_MS for the answers to
 * the requests in flight (their callbacks are not called), so zookeeper_close has nothing of
 * ours left to lose. A session that is not connected keeps its requests queued until it
 * reconnects, so there is nothing to wait for. Blocks the calling thread: it is only called
 * when the cm_zk is freed, typically at shutdown. */
static void drain_in_flight(struct cm_zk *zk)
{
    long long deadline = now_ms() + DRAIN_MS;
    for (;;) {
        drop_queued(zk);
        long long left = deadline - now_ms();
        if (zk->in_flight == 0 || !zk->connected || left <= 0)
            return;
        struct pollfd p = {.fd = zk->efd, .events = POLLIN};
        if (poll(&p, 1, (int)left) > 0) {
            uint64_t count;
            ssize_t n = read(zk->efd, &count, sizeof count);
            (void)n;
        }
    }
}

static void destroy(struct cm_zk *zk)
{
    if (zk->zh) {
        if (zk->efd >= 0)
            drain_in_flight(zk);
        zookeeper_close(zk->zh);
    }
    free(zk->sess);
    /* Whatever the closed handle flushed into the queue is dropped. */
    drop_queued(zk);
    free_watches(zk);
    if (zk->wake_ev)
        event_free(zk->wake_ev);
    if (zk->expiry_ev)
        event_free(zk->expiry_ev);
    if (zk->restart_ev)
        event_free(zk->restart_ev);
    if (zk->efd >= 0)
        close(zk->efd);
    pthread_mutex_destroy(&zk->lock);
    cm_zk_url_cleanup(&zk->url);
    free(zk);
}

void cm_zk_free(struct cm_zk *zk)
{
    if (!zk)
        return;
    if (zk->dispatching) {
        zk->dying = 1;
        return;
    }
    destroy(zk);
}

bool cm_zk_connected(const struct cm_zk *zk)
{
    return zk->connected;
}

int64_t cm_zk_session_id(const struct cm_zk *zk)
{
    return zk->session_id;
}

double cm_zk_session_timeout(const struct cm_zk *zk)
{
    return zk->negotiated;
}

void cm_zk_restart(struct cm_zk *zk)
{
    if (zk->dying)
        return;
    CM_INFO(MOD, "Closing ZooKeeper session 0x%llx to start a new one",
            (unsigned long long)zk->session_id);
    end_session(zk, 0);
}

const char *cm_zk_strerror(int rc)
{
    return zerror(rc);
}

/* Delivers an immediate failure through the queue, so callbacks never run re-entrantly. */
static void fail_now(struct cm_zk *zk, struct zk_req *req, int rc)
{
    struct zk_ev *ev = ev_new(EV_DONE);
    ev->req = req;
    ev->rc = rc;
    enqueue(zk, ev);
}

static void *watch_ctx(struct cm_zk *zk, struct zk_req *req, cm_zk_watch_cb watch, void *arg)
{
    if (!watch)
        return NULL;
    struct zk_watch *w = cm_xcalloc(1, sizeof *w);
    w->id = zk->next_watch_id++;
    w->cb = watch;
    w->arg = arg;
    w->next = zk->watches;
    zk->watches = w;
    req->watch_id = w->id;
    return (void *)(uintptr_t)w->id;
}

static void issued(struct cm_zk *zk, struct zk_req *req, int rc)
{
    if (rc == ZOK)
        return;
    if (req->watch_id)
        remove_watch(zk, req->watch_id, NULL);
    req->watch_id = 0;
    fail_now(zk, req, rc);
}

static void create(struct cm_zk *zk, const char *path, const void *data, size_t len, int flags,
                   cm_zk_cb cb, void *arg, int exists_ok)
{
    struct zk_req *req = req_new(zk, OP_CREATE, path, cb, arg);
    req->exists_ok = exists_ok;
    if (!zk->zh)
        return fail_now(zk, req, ZINVALIDSTATE);
    int mode = (flags & CM_ZK_EPHEMERAL)
                   ? ((flags & CM_ZK_SEQUENTIAL) ? ZOO_EPHEMERAL_SEQUENTIAL : ZOO_EPHEMERAL)
                   : ((flags & CM_ZK_SEQUENTIAL) ? ZOO_PERSISTENT_SEQUENTIAL : ZOO_PERSISTENT);
    const struct ACL_vector *acl = zk->url.auth ? &zk->acl : &ZOO_OPEN_ACL_UNSAFE;
    int rc = zoo_acreate(zk->zh, path, data, data ? (int)len : -1, acl, mode, string_done, req);
    issued(zk, req, rc);
}

void cm_zk_create(struct cm_zk *zk, const char *path, const void *data, size_t len, int flags,
                  cm_zk_cb cb, void *arg)
{
    create(zk, path, data, len, flags, cb, arg, 0);
}

void cm_zk_ensure_path(struct cm_zk *zk, const char *path, cm_zk_cb cb, void *arg)
{
    /* ZooKeeper answers one session's requests in order, so the ancestors can be created
     * back to back; only the last create's result matters (ZNODEEXISTS counts as success). */
    size_t len = strlen(path);
    char *prefix = cm_xstrdup(path);
    for (size_t i = 1; i < len; i++) {
        if (path[i] != '/')
            continue;
        prefix[i] = '\0';
        create(zk, prefix, NULL, 0, 0, NULL, NULL, 1);
        prefix[i] = '/';
    }
    free(prefix);
    create(zk, path, NULL, 0, 0, cb, arg, 1);
}

void cm_zk_get(struct cm_zk *zk, const char *path, cm_zk_watch_cb watch, void *watch_arg,
               cm_zk_cb cb, void *arg)
{
    struct zk_req *req = req_new(zk, OP_GET, path, cb, arg);
    if (!zk->zh)
        return fail_now(zk, req, ZINVALIDSTATE);
    void *wctx = watch_ctx(zk, req, watch, watch_arg);
    int rc = zoo_awget(zk->zh, path, watch ? node_watcher : NULL, wctx, data_done, req);
    issued(zk, req, rc);
}

void cm_zk_children(struct cm_zk *zk, const char *path, cm_zk_watch_cb watch, void *watch_arg,
                    cm_zk_cb cb, void *arg)
{
    struct zk_req *req = req_new(zk, OP_CHILDREN, path, cb, arg);
    if (!zk->zh)
        return fail_now(zk, req, ZINVALIDSTATE);
    void *wctx = watch_ctx(zk, req, watch, watch_arg);
    int rc =
        zoo_awget_children2(zk->zh, path, watch ? node_watcher : NULL, wctx, strings_done, req);
    issued(zk, req, rc);
}

void cm_zk_exists(struct cm_zk *zk, const char *path, cm_zk_watch_cb watch, void *watch_arg,
                  cm_zk_cb cb, void *arg)
{
    struct zk_req *req = req_new(zk, OP_EXISTS, path, cb, arg);
    if (!zk->zh)
        return fail_now(zk, req, ZINVALIDSTATE);
    void *wctx = watch_ctx(zk, req, watch, watch_arg);
    int rc = zoo_awexists(zk->zh, path, watch ? node_watcher : NULL, wctx, stat_done, req);
    issued(zk, req, rc);
}

void cm_zk_set(struct cm_zk *zk, const char *path, const void *data, size_t len, int version,
               cm_zk_cb cb, void *arg)
{
    struct zk_req *req = req_new(zk, OP_SET, path, cb, arg);
    if (!zk->zh)
        return fail_now(zk, req, ZINVALIDSTATE);
    int rc = zoo_aset(zk->zh, path, data, data ? (int)len : -1, version, stat_done, req);
    issued(zk, req, rc);
}

void cm_zk_delete(struct cm_zk *zk, const char *path, int version, cm_zk_cb cb, void *arg)
{
    struct zk_req *req = req_new(zk, OP_DELETE, path, cb, arg);
    if (!zk->zh)
        return fail_now(zk, req, ZINVALIDSTATE);
    int rc = zoo_adelete(zk->zh, path, version, void_done, req);
    issued(zk, req, rc);
}
