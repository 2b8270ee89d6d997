/*
 * lg_client.h: clients of a master's v1 scheduler API (one per framework) and the call
 * connections they share, for emulator-loadgen.
 *
 * Why not libcmscheduler: it makes every call (each ACKNOWLEDGE, ACCEPT, DECLINE) a libcurl
 * request of its own, and at thousands of launches a second curl's per-request work (handle
 * setup, header formatting and parsing, a connection per concurrent call) cost the load
 * generator as much CPU as the master it measures. This speaks the same API (protobuf bodies,
 * docs/wire-protocol.md) with the emulator's own HTTP connection (emu_http.h):
 *
 *  - SUBSCRIBE (per client): a streaming POST /api/v1/scheduler; the RecordIO records of the
 *    200 answer are decoded one at a time into an arena (emu_arena.h: no malloc per field) and
 *    handed to the event callback. The Mesos-Stream-Id of the answer goes on the client's calls.
 *  - Other calls: plain POSTs of one Call each (Mesos's API: one call per request), on the
 *    pool's keep-alive connections, shared by all the clients (a request names its framework in
 *    the Call and its stream in its header, so any connection serves any framework). A call goes
 *    on the connection of the previous call while that one has fewer than per_connection
 *    outstanding (HTTP/1.1 pipelining; answers come back in order), else on the least busy one
 *    with at least a quarter of per_connection free (else it waits in the queue, sent once per
 *    loop turn after that turn's answers): the calls of one loop turn, whichever framework
 *    makes them, leave in few writes of many calls each. Several
 *    connections because a server answers the pipelined requests of one connection one after
 *    the other (libevent's evhttp reads the next only after the previous answer is written).
 *    Calls beyond the pool's room wait encoded in its queue, in order; calls made while their
 *    client is (re-)subscribing wait in the client until SUBSCRIBED.
 *  - A lost subscription (connection closed, undecodable record) is subscribed again after
 *    resubscribe_delay with the framework id (failover). A SUBSCRIBE refused with a 3xx or 4xx,
 *    or an ERROR event, is final: no more subscriptions (lost callback with fatal = true).
 *  - A call connection that fails fails its outstanding calls (call_done with err < 0) and is
 *    opened again for the next call.
 *
 * Not done (a benchmark client, not a general one): no redirect to another leader (307 is a
 * refusal), no heartbeat watchdog (a dead stream is noticed when its connection closes), no
 * TLS, no authentication, one master address (HOST:PORT, IPv4).
 *
 * Callbacks run on the loop, never inside cm_lg_client_call; they may make calls. An event
 * passed to the event callback lives until the callback returns.
 * Ownership: a client copies its FrameworkInfo. The pool's queue and connections refer to the
 * clients that made calls: free the pool before its clients, or both without running the loop
 * in between (outstanding calls then get no callback).
 * Threading: one event loop.
 */
#ifndef CM_LG_CLIENT_H
#define CM_LG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "mesos/v1/scheduler/scheduler.pb-c.h"

struct event_base;
struct cm_lg_client;
struct cm_lg_pool;

/* Creates the call connections (opened when first needed) to master ("HOST:PORT", IPv4):
 * `connections` of them (1..1024), each with at most per_connection calls outstanding
 * (1..65536). Returns NULL with why on bad arguments or an unresolvable master. */
struct cm_lg_pool *cm_lg_pool_new(struct event_base *base, const char *master, int connections,
                                  int per_connection, char *why, size_t whylen);

/* Closes the connections and frees the pool. NULL: no-op. */
void cm_lg_pool_free(struct cm_lg_pool *p);

struct cm_lg_client_cbs {
    /* Every event of the subscription, SUBSCRIBED included (the client has taken its framework
     * id and stream id by then). */
    void (*event)(void *arg, const Mesos__V1__Scheduler__Event *ev);
    /* A call (type: Mesos__V1__Scheduler__Call__Type) was answered with status (err 0), or was
     * lost with its connection (err < 0, status 0). body: the start of a non-2xx answer's body
     * (NUL-terminated, at most 255 bytes), else "". May be NULL. */
    void (*call_done)(void *arg, int type, int err, int status, const char *body);
    /* The subscription ended; fatal: it will not be tried again (why says why). May be NULL. */
    void (*lost)(void *arg, bool fatal, const char *why);
};

struct cm_lg_client_config {
    struct cm_lg_pool *pool;                        /* its calls' connections (and master) */
    const Mesos__V1__FrameworkInfo *framework_info; /* copied */
    double resubscribe_delay;                       /* seconds (0: 1 s) */
    struct cm_lg_client_cbs cbs;
    void *arg;
};

/* Creates the client (nothing is sent yet). Returns NULL with why on a missing pool or
 * FrameworkInfo. */
struct cm_lg_client *cm_lg_client_new(const struct cm_lg_client_config *cfg, char *why,
                                      size_t whylen);

/* Sends SUBSCRIBE. Returns 0, CM_ESTATE if already subscribing or stopped, or -errno if no
 * socket could be made. */
int cm_lg_client_subscribe(struct cm_lg_client *c);

/* Sends call (its framework_id is filled in by the client; the caller's struct is not kept).
 * Returns 0 (sent or queued), CM_ESTATE before the first SUBSCRIBED or after a fatal loss. */
int cm_lg_client_call(struct cm_lg_client *c, Mesos__V1__Scheduler__Call *call);

/* The client's calls queued (in it or in the pool) or outstanding. */
size_t cm_lg_client_pending(const struct cm_lg_client *c);

/* True while the subscription is up (SUBSCRIBED received, stream open). */
bool cm_lg_client_subscribed(const struct cm_lg_client *c);

/* Closes the connections and frees the client. NULL: no-op. */
void cm_lg_client_free(struct cm_lg_client *c);

#endif
