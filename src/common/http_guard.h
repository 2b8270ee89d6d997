/*
 * http_guard.h: the connection layer under a cm_http_server (internal to http_server.c; the
 * limits and counters are documented for operators in http_server.h).
 *
 * Every connection evhttp accepts gets its bufferevent from the guard: a filter over the socket
 * whose input runs through an http_framer (so request heads are checked and oversized or
 * malformed requests refused before evhttp sees them) and, when TLS is on (tls.h), through
 * OpenSSL. The guard owns:
 *  - the connection limit: at the limit the oldest idle connection is closed to make room, and
 *    when none is idle the new one is answered 503 and closed;
 *  - accept back-off: when accept() fails (EMFILE, ENFILE, ENOBUFS, ENOMEM) the listener is
 *    paused for a short interval (and the oldest idle connection closed to free a descriptor)
 *    instead of spinning, and the failure is logged at most once per log interval with a count;
 *  - the global cap on request-body bytes buffered across the server's connections: a request
 *    whose declared body would pass it is answered 503 (Retry-After) before its body is read; a
 *    chunked body that passes it mid-way too. Bytes are charged from the head until the request
 *    is answered, and returned when it is or when its connection ends;
 *  - timeouts: a connection with no request in progress for idle_timeout is closed silently; a
 *    request (TLS handshake, head and body) not received in full within request_timeout is
 *    answered 408 and its connection closed. Event streams are exempt from both.
 * Every refusal is a text/plain message naming the problem, then the connection is closed (after
 * a short linger so the peer reads the answer).
 *
 * Threading: the server's event loop only.
 */
#ifndef CM_HTTP_GUARD_H
#define CM_HTTP_GUARD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct bufferevent;
struct cm_http_guard;
struct cm_http_guard_conn;
struct cm_tls;

struct cm_http_guard_limits {
    uint64_t max_body;      /* one request body (bytes) */
    size_t max_connections; /* 0 = CM_HTTP_MAX_CONNECTIONS_DEFAULT */
    uint64_t max_buffered;  /* bytes of bodies across connections; 0 = default */
    double idle_timeout;    /* seconds; 0 = default */
    double request_timeout; /* seconds; 0 = default */
};

/* Installs itself as http's bufferevent factory. Aborts on OOM. */
struct cm_http_guard *cm_http_guard_new(struct event_base *base, struct evhttp *http,
                                        const struct cm_http_guard_limits *limits);
/* Detaches from every connection (evhttp frees them afterwards). NULL is a no-op. */
void cm_http_guard_free(struct cm_http_guard *g);
void cm_http_guard_set_limits(struct cm_http_guard *g, const struct cm_http_guard_limits *limits);
/* The effective connection limit (max_connections bounded by RLIMIT_NOFILE). */
size_t cm_http_guard_max_connections(const struct cm_http_guard *g);
/* Serves TLS on new connections (the guard keeps a reference; NULL turns it off). */
void cm_http_guard_set_tls(struct cm_http_guard *g, struct cm_tls *tls);
/* Adds the back-off error handler to a listener of the server. */
void cm_http_guard_listener(struct cm_http_guard *g, struct evconnlistener *l);

/* A request was dispatched: returns its connection (NULL if unknown); the request holds it until
 * cm_http_guard_request_end. */
struct cm_http_guard_conn *cm_http_guard_request_begin(struct cm_http_guard *g,
                                                       struct evhttp_request *ev);
/* The request was answered, or turned into a stream when streaming is set: the stream then holds
 * the connection until cm_http_guard_stream_end. conn may be NULL. */
void cm_http_guard_request_end(struct cm_http_guard_conn *conn, int streaming);
void cm_http_guard_stream_end(struct cm_http_guard_conn *conn);
/* Bytes written on the connection of bev and not yet on the wire. */
size_t cm_http_guard_unsent(struct bufferevent *bev);
/* Counters as /metrics entries "<prefix>/http_*". */
void cm_http_guard_metrics(const struct cm_http_guard *g, json_t *o, const char *prefix);

#define CM_HTTP_MAX_CONNECTIONS_DEFAULT 8192
#define CM_HTTP_MAX_BUFFERED_DEFAULT ((uint64_t)128 << 20)
#define CM_HTTP_IDLE_TIMEOUT_DEFAULT 60.0
#define CM_HTTP_REQUEST_TIMEOUT_DEFAULT 30.0

#endif
