/*
 * emu_http.h: the emulator's HTTP/1.1 client connection (mesos-agent-emulator only).
 *
 * Why not the shared client (http_client.h, libcurl): one curl easy handle per emulated agent
 * costs tens of KiB and a curl multi walk per event, and 10,000s of agents each hold one
 * streaming request open for their whole life. This is the least HTTP that the master's link
 * needs: POST with a protobuf body, an answer with Content-Length or chunked encoding, and
 * keep-alive with optional pipelining (responses come back in request order, HTTP/1.1 §6.3.2).
 * Nothing else (no redirects, no TLS, no 100-continue, no compression).
 *
 * A connection is one TCP socket to one address, opened at creation (non-blocking; requests
 * posted before it is up are written once it is). Optionally bound to a source address first
 * (IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port at connect time from the full 4-tuple:
 * each 127.0.0.x source gives another ~28,000 ports to the same master).
 *
 * Callbacks (all on the loop, never inside cm_emu_conn_post):
 *  - on_head(status, stream_id): the status line and headers of the oldest outstanding
 *    response were read; stream_id is its Mesos-Stream-Id header or NULL.
 *  - on_body(data, len): body bytes of that response, de-chunked, in order.
 *  - on_done(err): that response is complete (err 0), or the connection failed or closed
 *    (err < 0, called once per outstanding request, oldest first; the connection is then dead).
 * A connection that closes with nothing outstanding just becomes dead (cm_emu_conn_dead).
 * The callbacks may free the connection (cm_emu_conn_free) and nothing after that touches it.
 *
 * Bounds: a response head over 16 KiB or a malformed status line, header or chunk size kills
 * the connection (err CM_EPROTO). Bodies are streamed, never buffered here.
 * Threading: one event loop.
 */
#ifndef CM_EMU_HTTP_H
#define CM_EMU_HTTP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cm_emu_conn;

struct cm_emu_conn_cbs {
    void (*on_head)(void *arg, int status, const char *stream_id);
    void (*on_body)(void *arg, const uint8_t *data, size_t len);
    void (*on_done)(void *arg, int err);
};

/* Opens a connection to dst, bound to src if non-NULL (port 0). cbs is copied. Returns NULL
 * (with -errno in *err) if the socket cannot be made or bound (EMFILE, EADDRNOTAVAIL...). */
struct cm_emu_conn *cm_emu_conn_new(struct event_base *base, const struct sockaddr_in *dst,
                                    const struct sockaddr_in *src,
                                    const struct cm_emu_conn_cbs *cbs, void *arg, int *err);

/* Frees the connection (closes the socket); outstanding requests get no callback. NULL: no-op. */
void cm_emu_conn_free(struct cm_emu_conn *c);

/* Queues a POST of body to path with the given extra header lines (each "Name: value", no
 * CRLF; NULL-terminated list or NULL). Returns 0, or CM_ECLOSED on a dead connection. */
int cm_emu_conn_post(struct cm_emu_conn *c, const char *host, const char *path,
                     const char *const *headers, const uint8_t *body, size_t len);

/* Requests written and not yet answered. */
size_t cm_emu_conn_outstanding(const struct cm_emu_conn *c);

/* True once the connection failed or closed: it only waits to be freed. */
bool cm_emu_conn_dead(const struct cm_emu_conn *c);

/* Stops (true) or resumes (false) reading: a partitioned agent leaves the master's bytes in
 * the socket. */
void cm_emu_conn_pause(struct cm_emu_conn *c, bool paused);

#endif
