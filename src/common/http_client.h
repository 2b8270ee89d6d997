/*
 * http_client.h: asynchronous HTTP/1.1 client on libcurl's multi-socket interface, driven by
 * the caller's libevent loop (curl's hiperfifo pattern). Used by the agent (master link), the
 * executor (agent link) and libscheduler (scheduler API).
 *
 * A call is one request. Plain calls collect the whole body (bounded by max_body) and end with
 * the done callback. Streaming calls (on_data set) deliver body bytes as they arrive and never
 * buffer them; the headers callback runs first, once the status line and headers are in.
 * Redirects are not followed (the caller decides, since Mesos answers 307 with a
 * protocol-relative Location). Every call ends with exactly one done callback unless it is
 * cancelled first; after cm_http_call_cancel no callback runs. A callback may start new calls
 * and may cancel other calls; the call itself is freed after its done callback returns.
 *
 * Threading: the client and all its calls belong to one event loop thread.
 */
#ifndef CM_HTTP_CLIENT_H
#define CM_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cm_http_client;
struct cm_http_call;

struct cm_http_response {
    long status;      /* 0 if no response arrived */
    const char *body; /* whole body for plain calls (NUL-terminated), NULL for streams */
    size_t body_len;
    /* Header lookup, case-insensitive; NULL if absent. Valid during the callback only. */
    const struct cm_http_call *call;
};
const char *cm_http_response_header(const struct cm_http_response *resp, const char *name);

/* err is 0 when a response (any status) was received, else CM_EHTTP (connection refused,
 * timeout, reset...) with a reason in errmsg, or CM_ETOOBIG. For streams, done runs when the
 * stream ends or breaks. */
typedef void (*cm_http_done_cb)(void *arg, int err, const char *errmsg,
                                const struct cm_http_response *resp);
/* Streams only: status and headers are known. Return non-zero to abort the call (done then
 * runs with err CM_ECLOSED). */
typedef int (*cm_http_headers_cb)(void *arg, const struct cm_http_response *resp);
/* Streams only: body bytes. Return non-zero to abort the call. */
typedef int (*cm_http_data_cb)(void *arg, const void *data, size_t len);

struct cm_http_request_opts {
    const char *method;         /* "GET" or "POST" */
    const char *url;            /* "http://host:port/path" */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const void *body;           /* copied */
    size_t body_len;
    double timeout_secs;           /* whole-call timeout; 0 = none (streams) */
    double connect_timeout_secs;   /* 0 = 10 s */
    size_t max_body;               /* plain calls: cap on the collected body; 0 = 4 MiB */
    cm_http_headers_cb on_headers; /* set both to make a streaming call */
    cm_http_data_cb on_data;
    cm_http_done_cb on_done; /* required */
    void *arg;
    /* A URL outside the cluster (fetcher downloads, health checks): libcurl's default TLS
     * settings (system CAs, verification on) instead of the cluster's LIBPROCESS_SSL_* ones. */
    bool external;
    /* A unix socket to connect to instead of the URL's host and port (the URL still names the
     * path and Host header), e.g. dockerd's /var/run/docker.sock; NULL = TCP. */
    const char *unix_socket;
};

struct cm_http_client *cm_http_client_new(struct event_base *base);

/* Caps the connections open to one host (0 = no cap, the default). Requests past the cap wait
 * in libcurl's queue and go out on a kept-alive connection as one frees up, so a burst of N
 * calls costs a few connections instead of N connects. A long-lived stream holds one of them
 * for its life: only a client that opens at most a few streams to a host should set a cap. */
void cm_http_client_set_max_host_connections(struct cm_http_client *c, long max);
/* Cancels every call in flight (no callbacks) and frees the client. NULL is a no-op. */
void cm_http_client_free(struct cm_http_client *client);

/* Starts a call. Returns 0 and the call handle in *out (may be NULL if not wanted), or a
 * negative error (bad URL, out of resources) without calling back. */
int cm_http_client_start(struct cm_http_client *client, const struct cm_http_request_opts *opts,
                         struct cm_http_call **out);
/* Cancels a call in flight: no further callback runs. NULL is a no-op. */
void cm_http_call_cancel(struct cm_http_call *call);

#endif
