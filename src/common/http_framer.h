/*
 * http_framer.h: finds where each HTTP/1.1 request on a server connection begins and ends, and
 * checks its head, before the bytes reach evhttp (http_server.c runs every connection's input
 * through one framer).
 *
 * Why: evhttp reads a request's whole body before it can refuse it, answers bad heads with an
 * HTML page that does not say what was wrong, and has no notion of a request that arrives too
 * slowly. The framer holds each request head back (up to max_head bytes) until it is complete,
 * checks it, and only then lets it through, so the server can refuse a request by its head
 * (413 on a Content-Length over max_body, before any body byte is read) and answer every
 * malformed head itself with a text message naming the problem. Bodies pass through; the framer
 * follows their length (Content-Length or chunked framing) so that it knows where the next
 * request begins, and counts body bytes so a chunked body over max_body is refused too.
 *
 * What is refused (code, message): request line not "METHOD SP target SP HTTP/1.x" (400), an
 * unknown method (501) or one the server does not serve (405), a target over max_uri bytes (414)
 * or not starting with '/' (400), an HTTP version other than 1.0/1.1 (505), a head over max_head
 * bytes or with more than max_headers fields (431), a malformed header line or obsolete line
 * folding (400), a bad or conflicting Content-Length (400), Content-Length together with
 * Transfer-Encoding (400, request smuggling), a Transfer-Encoding other than "chunked" (501), a
 * body over max_body (413), malformed chunk framing (400). After a refusal the framer passes
 * nothing more: the connection must be closed.
 *
 * Pure code (evbuffers only, no sockets, no clock); one framer per connection; not thread-safe.
 */
#ifndef CM_HTTP_FRAMER_H
#define CM_HTTP_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Limits a framer enforces (0 in a field means its default). */
struct cm_http_framer_limits {
    uint64_t max_body;  /* bytes of one request body (default 16 MiB) */
    size_t max_head;    /* bytes of request line + header fields (default 64 KiB) */
    size_t max_uri;     /* bytes of the request target (default 8 KiB) */
    size_t max_headers; /* header fields (default 100) */
};

#define CM_HTTP_FRAMER_MAX_HEAD_DEFAULT ((size_t)64 << 10)
#define CM_HTTP_FRAMER_MAX_URI_DEFAULT ((size_t)8 << 10)
#define CM_HTTP_FRAMER_MAX_HEADERS_DEFAULT 100
#define CM_HTTP_FRAMER_MAX_BODY_DEFAULT ((uint64_t)16 << 20)

enum cm_http_frame_event {
    CM_HTTP_FRAME_MORE,  /* everything available was consumed; feed more bytes */
    CM_HTTP_FRAME_HEAD,  /* a request head is complete and valid and held back: see info; call
                            cm_http_framer_accept to let it through, or refuse the request */
    CM_HTTP_FRAME_DONE,  /* the current request (head and body) has been passed in full */
    CM_HTTP_FRAME_ERROR, /* the input is refused: info.code and info.msg say why */
};

struct cm_http_frame_info {
    char method[16];
    uint64_t content_length; /* declared body length (0 when chunked or absent) */
    bool chunked;
    int code;      /* on ERROR: the HTTP status to answer */
    char msg[256]; /* on ERROR: text naming the problem */
};

struct cm_http_framer;

/* Returns a framer in the "between requests" state; aborts on OOM. */
struct cm_http_framer *cm_http_framer_new(const struct cm_http_framer_limits *limits);
void cm_http_framer_free(struct cm_http_framer *f);

/* Consumes bytes from in, appending what may reach the HTTP parser to out, until an event.
 * Call again after HEAD (having accepted) and DONE; after ERROR every call returns ERROR again
 * and consumes (drops) its input. */
enum cm_http_frame_event cm_http_framer_step(struct cm_http_framer *f, struct evbuffer *in,
                                             struct evbuffer *out, struct cm_http_frame_info *info);

/* Lets the held head through to out and starts on its body. Only after a HEAD event. */
void cm_http_framer_accept(struct cm_http_framer *f, struct evbuffer *out);

/* True between requests with no byte of the next one received (the connection is idle). */
bool cm_http_framer_idle(const struct cm_http_framer *f);
/* Body bytes passed for the current request so far. */
uint64_t cm_http_framer_body_bytes(const struct cm_http_framer *f);

#endif
