/*
 * zk.h: a ZooKeeper session on the daemon's libevent loop.
 *
 * Choice of client: the multi-threaded C client (libzookeeper_mt). Its own I/O thread keeps the
 * session alive (pings, reconnects to the next server) even while the loop is busy, which is
 * what the session timeout is about; its completion thread never touches our state. Every
 * completion and watch notification is copied into a queue under a mutex and the loop is woken
 * through an eventfd; all callbacks of this module therefore run on the loop thread, one at a
 * time, and callers need no locking. (The single-threaded client driven by zookeeper_interest/
 * zookeeper_process would keep the session only as long as the loop is responsive, and Debian
 * ships the two flavours as conflicting libraries.)
 *
 * Sessions: cm_zk_new starts connecting at once; the session callback reports
 *   CM_ZK_CONNECTED    a new session is established (first one, or after an expiry): callers
 *                      (re)create ephemeral nodes and watches here;
 *   CM_ZK_RECONNECTED  the same session is back after a disconnection: ephemeral nodes and
 *                      watches survived; requests that failed with ZCONNECTIONLOSS may retry;
 *   CM_ZK_DISCONNECTED the connection dropped; the client is reconnecting. If no server takes
 *                      the session back within the negotiated session timeout the module
 *                      declares it expired itself (the server will have, too) instead of
 *                      waiting to hear so from a server, as Mesos does;
 *   CM_ZK_EXPIRED      the session is gone (server said so, local timer, auth failure or
 *                      cm_zk_restart): its ephemeral nodes are (or will shortly be) deleted,
 *                      its watches are void, and callbacks of requests issued in it are never
 *                      called. A new session is started immediately (after 1 s for an auth
 *                      failure) and reported with CM_ZK_CONNECTED.
 *
 * Requests are asynchronous: each op takes a completion callback (may be NULL) called exactly
 * once on the loop with the result, unless the session expires first or the cm_zk is freed
 * (then never). Errors from the client (also immediate ones such as a bad path) arrive the
 * same way: rc is ZOK or a ZooKeeper code (ZNONODE, ZNODEEXISTS, ZBADVERSION, ZCONNECTIONLOSS,
 * ...; cm_zk_strerror). Watches are one-shot as in ZooKeeper: the watch callback runs once for
 * the next change of the node (or its children), never for session events.
 *
 * Credentials (zk://user:pass@...): digest auth is added to every session, and nodes are
 * created with world-read + creator-all ACLs (open ACLs without credentials), as Mesos does.
 *
 * Ownership: the cm_zk copies the URL. cm_zk_free closes the session (the server deletes its
 * ephemeral nodes at once when it can be reached); it may be called from inside one of this
 * module's callbacks. It blocks: on a connected session it first waits up to 1 s for the answers
 * to requests still in flight (their callbacks are not called; the ZooKeeper client can lose
 * requests closed under it), then the client's own close waits for the server (up to 4.5 s). Not
 * thread-safe: use from the loop thread only. The ZooKeeper client's own log lines are routed to
 * cm_log at WARNING and above (module "zookeeper").
 */
#ifndef CM_ZK_H
#define CM_ZK_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <zookeeper/zookeeper.h>

#include "zk_url.h"

struct cm_zk;

enum cm_zk_session_event {
    CM_ZK_CONNECTED = 1,
    CM_ZK_RECONNECTED = 2,
    CM_ZK_DISCONNECTED = 3,
    CM_ZK_EXPIRED = 4,
};

typedef void (*cm_zk_session_cb)(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg);

/* The result of one request. Pointers are valid during the callback only. */
struct cm_zk_result {
    int rc;                  /* ZOK or a ZooKeeper error code */
    const char *path;        /* the request's path */
    const char *created;     /* create: the created path (with the sequence suffix) */
    const char *data;        /* get: the node's data (NULL for a node without data) */
    size_t len;              /* get: its length */
    char *const *children;   /* children: the child names (not paths), unsorted */
    size_t n_children;       /* children: how many */
    const struct Stat *stat; /* get, exists, set, children: the node's stat when rc == ZOK */
};

typedef void (*cm_zk_cb)(struct cm_zk *zk, const struct cm_zk_result *res, void *arg);
/* type is ZOO_CREATED_EVENT, ZOO_DELETED_EVENT, ZOO_CHANGED_EVENT or ZOO_CHILD_EVENT. */
typedef void (*cm_zk_watch_cb)(struct cm_zk *zk, int type, const char *path, void *arg);

/* Starts a session with url's servers (timeout_secs is the requested session timeout; the
 * server may clamp it to its min/max). Returns NULL (after logging why) only when the client
 * cannot be created at all (e.g. servers that do not resolve). */
struct cm_zk *cm_zk_new(struct event_base *base, const struct cm_zk_url *url, double timeout_secs,
                        cm_zk_session_cb cb, void *arg);
void cm_zk_free(struct cm_zk *zk);

/* True while connected. */
bool cm_zk_connected(const struct cm_zk *zk);
/* The current session id (0 before the first connection); compare with Stat.ephemeralOwner. */
int64_t cm_zk_session_id(const struct cm_zk *zk);
/* The negotiated session timeout in seconds (the requested one before connecting). */
double cm_zk_session_timeout(const struct cm_zk *zk);
/* Ends the current session on purpose (reported as CM_ZK_EXPIRED, then a new session). Used
 * when the outcome of an ephemeral create is unknown: closing the session removes any node it
 * may have left behind. */
void cm_zk_restart(struct cm_zk *zk);

/* Flags for cm_zk_create. */
#define CM_ZK_EPHEMERAL 1
#define CM_ZK_SEQUENTIAL 2

void cm_zk_create(struct cm_zk *zk, const char *path, const void *data, size_t len, int flags,
                  cm_zk_cb cb, void *arg);
/* Creates path and its missing ancestors as persistent nodes with empty data; rc is ZOK also
 * when the path already existed. */
void cm_zk_ensure_path(struct cm_zk *zk, const char *path, cm_zk_cb cb, void *arg);
void cm_zk_get(struct cm_zk *zk, const char *path, cm_zk_watch_cb watch, void *watch_arg,
               cm_zk_cb cb, void *arg);
/* Lists the children; the watch (if any) fires on the next child added or removed, or when
 * the node itself is deleted. */
void cm_zk_children(struct cm_zk *zk, const char *path, cm_zk_watch_cb watch, void *watch_arg,
                    cm_zk_cb cb, void *arg);
/* rc ZOK or ZNONODE; the watch is set in both cases (fires on creation, change or deletion). */
void cm_zk_exists(struct cm_zk *zk, const char *path, cm_zk_watch_cb watch, void *watch_arg,
                  cm_zk_cb cb, void *arg);
/* version -1 matches any; a mismatch gives ZBADVERSION (compare-and-set). */
void cm_zk_set(struct cm_zk *zk, const char *path, const void *data, size_t len, int version,
               cm_zk_cb cb, void *arg);
void cm_zk_delete(struct cm_zk *zk, const char *path, int version, cm_zk_cb cb, void *arg);

/* A static description of a ZooKeeper code. */
const char *cm_zk_strerror(int rc);

#endif
