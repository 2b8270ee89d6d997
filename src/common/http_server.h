/*
 * http_server.h: the HTTP/1.1 server every daemon uses, on libevent's evhttp.
 *
 * Routing is by exact path. A server may have a process prefix ("master" or "slave(1)"):
 * a route registered as "/state" is then reachable both as "/state" and as "/<prefix>/state"
 * (docs/wire-protocol.md §1.1), and cm_http_request_path() reports the path as requested.
 * Limits under abuse (http_guard.c; every refusal is a text/plain message naming the problem,
 * after which the connection is closed):
 *  - a request head is checked before evhttp sees it: a Content-Length over max_body gets 413
 *    before any body byte is read; malformed request lines, methods, URIs (over 8 KiB: 414),
 *    versions, header lines, heads over 64 KiB or 100 fields (431) are refused (http_framer.h);
 *  - bodies buffered across all connections are capped (max_buffered_body, default 128 MiB): a
 *    request that would pass the cap gets 503 with Retry-After before its body is read; the
 *    bytes are returned when the request is answered or its connection ends;
 *  - connections are capped (max_connections, default 8192, and never more than RLIMIT_NOFILE
 *    less a reserve): at the cap the connection idle the longest is closed to make room, and if
 *    none is idle the newcomer gets 503. When accept() fails (EMFILE...) the listener pauses
 *    for 200 ms instead of spinning, and the failure is logged at most once per 10 s;
 *  - a connection with no request in progress is closed after idle_timeout (default 60 s); a
 *    request (TLS handshake, head, body) not received in full within request_timeout (default
 *    30 s) gets 408. Event streams are exempt from both.
 * Counters: cm_http_server_metrics.
 *
 * TLS (tls.h): after cm_http_server_set_tls, connections are served over TLS; with
 * LIBPROCESS_SSL_SUPPORT_DOWNGRADE plain HTTP is accepted on the same port too (a connection's
 * first byte tells which), without it a plain request gets 400 naming the problem.
 *
 * Responses: a handler must answer every request exactly once, either at once
 * (cm_http_respond*) or later from the same event loop, or by turning it into a stream.
 * Streams are chunked responses whose headers are flushed immediately; each
 * cm_http_stream_send makes one chunk. The chunks sent to one stream in one loop turn are
 * written together once the turn's other callbacks have run (an event made active then): one
 * write per stream and turn, straight to the socket when nothing is queued on a plain
 * connection, else through the connection's buffer (TLS, or bytes still unsent).
 * cm_http_stream_end writes what is held before ending. When the peer goes away the stream's close
 * callback runs once and the stream is freed right after it returns; a stream ended by us
 * (cm_http_stream_end) does not call the close callback.
 *
 * Back-pressure: a stream whose peer stops reading would make the server buffer every later
 * chunk. Each server therefore caps the bytes queued on one stream's connection and not yet
 * written (default CM_HTTP_STREAM_CAP_DEFAULT, cm_http_server_set_stream_cap). A send that
 * would take a stream past the cap is refused with CM_ECLOSED, the stream is marked dropped
 * (every later send is refused too), a warning names the peer, the server's slow-drop counter
 * grows, and from the loop the connection is freed (releasing its buffer) and the close
 * callback runs as if the peer had gone. A chunk sent while nothing is queued is always
 * accepted, so one event larger than the cap still goes out: the bound is cap + one chunk. Nothing
 * runs inside the failing send, so a caller may keep using its own state after CM_ECLOSED; it must
 * still expect the close callback.
 *
 * Threading: everything runs on the event loop the server was created on.
 */
#ifndef CM_HTTP_SERVER_H
#define CM_HTTP_SERVER_H

#include <jansson.h>

#include "codec.h"
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp_request;
struct cm_http_server;
struct cm_http_stream;

/* A request being handled. Valid until it is answered or turned into a stream. */
struct cm_http_request {
    struct evhttp_request *ev;
    struct cm_http_server *server;
    const char *method; /* "GET", "POST", ... */
    char *path;         /* decoded path without query, as requested */
    char *query;        /* raw query string or NULL */
    const uint8_t *body;
    size_t body_len;
};

typedef void (*cm_http_handler)(struct cm_http_request *req, void *arg);
typedef void (*cm_http_stream_close_cb)(struct cm_http_stream *stream, void *arg);

/* Creates a server on base. prefix may be NULL. Returns NULL on failure. */
struct cm_http_server *cm_http_server_new(struct event_base *base, const char *prefix,
                                          size_t max_body);
/* Bytes a stream may have queued and unsent before its peer is cut off (protects memory). */
#define CM_HTTP_STREAM_CAP_DEFAULT ((size_t)16 << 20)

/* Sets the per-stream cap on unsent bytes for streams of srv (0 restores the default). Applies
 * to the next send on every stream, open ones included. */
void cm_http_server_set_stream_cap(struct cm_http_server *srv, size_t bytes);
/* How many streams of srv were cut off for exceeding the cap (a /metrics counter). */
uint64_t cm_http_server_slow_drops(const struct cm_http_server *srv);
/* Adds the server's counters to a /metrics/snapshot object (metrics.h conventions), e.g. with
 * prefix "master" or "slave": "<prefix>/event_streams_dropped_slow", "<prefix>/http_connections"
 * (open now), http_max_connections, http_connections_accepted, http_refused_connections (503 at
 * the cap), http_evicted_idle_connections, http_refused_body_too_large (413),
 * http_refused_buffer_full (503), http_refused_malformed (other 4xx/5xx on the head),
 * http_idle_timeouts, http_request_timeouts (408), http_accept_errors, http_tls_failures,
 * http_refused_plain_on_tls, http_body_bytes_buffered (now), and for streams
 * "<prefix>/event_stream_sends" (events), event_stream_writes (one per stream and loop turn with
 * events) and event_stream_direct_writes (those written straight to the socket). */
void cm_http_server_metrics(const struct cm_http_server *srv, json_t *o, const char *prefix);

/* Operator limits; 0 in a field keeps its default (see the top of this file). */
struct cm_http_server_limits {
    size_t max_connections;
    uint64_t max_buffered_body; /* bytes */
    double idle_timeout;        /* seconds */
    double request_timeout;     /* seconds */
};
/* Applies limits to srv (existing connections included, from their next check). */
void cm_http_server_set_limits(struct cm_http_server *srv, const struct cm_http_server_limits *l);
/* The connection cap in force (max_connections bounded by RLIMIT_NOFILE). */
size_t cm_http_server_max_connections(const struct cm_http_server *srv);

struct cm_tls;
/* Serves TLS on connections accepted from now on (tls must outlive srv; NULL: plain only). */
void cm_http_server_set_tls(struct cm_http_server *srv, struct cm_tls *tls);
/* Reads LIBPROCESS_SSL_* (tls.h) and, when TLS is enabled, serves TLS with a context the server
 * owns. Returns 0 (also when TLS is off) or an error with why (bad value, unreadable files). */
int cm_http_server_tls_from_env(struct cm_http_server *srv, char *why, size_t whylen);

/* Closes the listener and every open stream (their close callbacks run). NULL is a no-op. */
void cm_http_server_free(struct cm_http_server *srv);

/* Binds ip:port (port 0 picks a free port) and stores the bound port in *bound (may be NULL).
 * Returns 0 or -errno. */
int cm_http_server_bind(struct cm_http_server *srv, const char *ip, uint16_t port, uint16_t *bound);

/* Registers handler for path (e.g. "/api/v1/scheduler"). Later registrations of the same path
 * replace earlier ones. */
void cm_http_server_route(struct cm_http_server *srv, const char *path, cm_http_handler handler,
                          void *arg);
/* Handler for paths that match no route (default: 404). */
void cm_http_server_fallback(struct cm_http_server *srv, cm_http_handler handler, void *arg);
/* A route check runs before the handler of every routed request with the route's path (e.g.
 * "/state" for "/slave(1)/state"): it returns 0 to let the handler run, or non-zero after it
 * answered the request itself (e.g. 401 for missing credentials). One check per server; NULL
 * removes it. Requests that match no route go to the fallback unchecked. (The connection-level
 * limits are http_guard.h's, a different layer.) */
typedef int (*cm_http_route_check)(struct cm_http_request *req, const char *route, void *arg);
void cm_http_server_route_check(struct cm_http_server *srv, cm_http_route_check check, void *arg);

/* Request accessors. Header lookup is case-insensitive; returns NULL if absent. */
const char *cm_http_request_header(const struct cm_http_request *req, const char *name);
/* Decoded value of query parameter name, malloc'd, or NULL if absent. */
char *cm_http_request_query_param(const struct cm_http_request *req, const char *name);
/* The peer's IP address as text (static per request). */
const char *cm_http_request_peer(const struct cm_http_request *req);

/* Adds a response header (before responding). */
void cm_http_add_header(struct cm_http_request *req, const char *name, const char *value);

/* Answers with code, content type (may be NULL for no body) and body. */
void cm_http_respond(struct cm_http_request *req, int code, const char *content_type,
                     const void *body, size_t len);
/* Answers with a text/plain; charset=utf-8 body (printf-style); used for every error. */
void cm_http_respond_text(struct cm_http_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers 200 with application/json (compact); honours ?jsonp=cb by wrapping the body as
 * cb(...) with text/javascript (400 when cb is not a dotted JavaScript identifier). Takes
 * ownership of json (decref'd). */
void cm_http_respond_json(struct cm_http_request *req, int code, json_t *json);

/* Starts a chunked 200-or-code response with content type and flushes headers (add any extra
 * header such as Mesos-Stream-Id with cm_http_add_header before). The request is consumed.
 * close_cb runs when the peer disconnects. Returns the stream (never NULL). */
struct cm_http_stream *cm_http_stream_start(struct cm_http_request *req, int code,
                                            const char *content_type,
                                            cm_http_stream_close_cb close_cb, void *arg);
/* Sends one chunk (written at the end of the loop turn, see above). Returns 0, or CM_ECLOSED
 * when the peer is gone or the chunk would take the stream past the server's cap on unsent
 * bytes (the stream is then dropped; see above). */
int cm_http_stream_send(struct cm_http_stream *stream, const void *data, size_t len);
/* Writes now what the streams of srv hold for the end of the turn. For a caller that sends from
 * a callback of its own made active earlier in the turn (a batch of its own): the server's
 * end-of-turn write would then run after responses answered meanwhile, and this keeps the
 * events first. */
void cm_http_server_flush(struct cm_http_server *srv);
/* Ends the chunked response and frees the stream; the close callback does not run. */
void cm_http_stream_end(struct cm_http_stream *stream);
/* Bytes held for this turn's write or queued on the stream's connection and not yet written
 * (for back-pressure). */
size_t cm_http_stream_pending(const struct cm_http_stream *stream);

/* Helpers for the Mesos API edge (docs/wire-protocol.md §1.2). */
/* enum cm_media lives in codec.h. */
/* Classifies a Content-Type header leniently (parameters and case ignored). */
enum cm_media cm_http_content_type(const char *header);
/* Picks the response type for an Accept header: JSON if acceptable (absent, * / *,
 * application/ *, application/json, q>0), else protobuf if acceptable, else NONE (406). */
enum cm_media cm_http_negotiate(const char *accept);
/* The MIME type string of JSON or PROTOBUF (for Content-Type); "" for the others. */
const char *cm_media_name(enum cm_media media);

#endif
