/*
 * json_stream.h: serves a large response body in slices, so that building it never stalls the
 * master's event loop.
 *
 * A producer appends the body piece by piece (one agent, a few hundred tasks: whatever is
 * small) to a buffer each time it is called. The stream calls it until the slice's time budget
 * (CM_JSON_STREAM_SLICE seconds) is spent or the buffer holds CM_JSON_STREAM_CHUNK bytes, sends
 * what it has as one chunk of a chunked HTTP response, and gives the loop back (a zero timer);
 * the next slice runs after the loop has polled. When the peer reads slowly (more than
 * CM_JSON_STREAM_MAX_QUEUED bytes unsent) it waits before producing more, so the server's cap
 * on a stream's unsent bytes is never reached and memory stays bounded. The master's state may
 * change between slices: a pointer into it kept across calls must be checked before it is
 * followed (keep ids and look them up again, or cm_ep_refs of endpoints_json.h: pointers used
 * as they are only while their map has lost nothing).
 *
 * Ownership: the stream owns the request once started, and arg from then on (free_arg is
 * called exactly once: at the end, when the peer goes away, or when the start fails).
 * Threading: the loop of base (the master's). Errors: a failed send or a peer gone ends the
 * stream quietly (the producer is not called again).
 */
#ifndef CM_JSON_STREAM_H
#define CM_JSON_STREAM_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct cm_http_request;

#define CM_JSON_STREAM_SLICE 0.002                  /* seconds of producing per loop turn */
#define CM_JSON_STREAM_CHUNK ((size_t)256 << 10)    /* bytes per chunk sent */
#define CM_JSON_STREAM_MAX_QUEUED ((size_t)4 << 20) /* unsent bytes before waiting */

struct cm_json_out;

/* Appends the next piece(s) of the body to out (json_out.h: the buffer is emptied after each
 * chunk is sent, its comma state carries over). Returns true while there is more to come,
 * false once the body is complete. */
typedef bool (*cm_json_stream_produce)(void *arg, struct cm_json_out *out);

/* Starts a chunked 200 response of content_type on req and produces the body in slices on
 * base. The first slice runs from the loop, not inside this call. */
void cm_json_stream_start(struct event_base *base, struct cm_http_request *req,
                          const char *content_type, cm_json_stream_produce produce, void *arg,
                          void (*free_arg)(void *arg));

#endif
