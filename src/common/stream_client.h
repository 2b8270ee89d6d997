/*
 * stream_client.h: the client side of the v1 event streams, one copy for libcmscheduler (the
 * scheduler API), the executor (the executor API) and anyone else who subscribes.
 *
 * What it does. An attempt POSTs the owner's SUBSCRIBE body (or whatever opening call the
 * API has: the agent link's REGISTER; opts.call_name names it in logs and reasons) with
 * Content-Type and Accept set to the client's media type. The answer is handled here:
 *  - 307: the Location is resolved against the URL that was asked ("//host:port/path" takes
 *    the current scheme, "/path" keeps scheme and authority, a Location without a path gets
 *    the current path) and the SUBSCRIBE is sent there at once, at most max_redirects hops.
 *  - 200: when the API has one (opts.stream_id), Mesos-Stream-Id must be present and printable
 *    ASCII (at most CM_STREAM_ID_MAX bytes); it is kept for the owner's later calls. The body
 *    is read as RecordIO (records up to max_record bytes) and every record is decoded with
 *    cm_pb_decode (required fields, unknown enums) into event_desc, then checked by the
 *    owner's optional validator, then handed to on_event.
 *  - anything else ends the attempt (the start of the body is kept for the reason).
 * Any end of an attempt or of an open stream is reported once to on_lost with what happened
 * and the backoff delay; the owner answers CM_STREAM_RETRY (attempt again after that delay,
 * from the configured URL: the leader may have moved) or CM_STREAM_STOP (stay idle until
 * cm_stream_client_start or _restart). The delay is min(initial * 2^n, max) jittered to half
 * to all of it, n counting failed attempts since the last stream that delivered an event.
 * An idle timeout (heartbeats) ends a stream that delivers nothing for that long.
 *
 * One policy for an undecodable event (bad RecordIO framing, a record that cm_pb_decode
 * refuses: unparseable, a required field missing, an unknown value of a required enum, or an
 * event the owner's validator refuses): it is a protocol error of the stream. The event is
 * never skipped; the stream is closed and reported as CM_STREAM_PROTOCOL with the reason
 * "Failed to de-serialize event: <why>", and the owner's usual retry rule applies, so the
 * next subscription starts again from SUBSCRIBED with state the master and we agree on.
 * Mesos's own libraries differ from each other here: the v1 scheduler library injects a local
 * ERROR event ("Failed to de-serialize event: ...") and keeps reading, the executor library
 * injects ERROR and stops reading the stream. Skipping loses events silently (an UPDATE never
 * acknowledged, a SUBSCRIBED never seen) and ERROR is fatal to most frameworks, so we close
 * and resubscribe with backoff instead; a master that keeps sending the same bad event costs a
 * retry every backoff_max seconds, never a busy loop.
 *
 * What it does not do: calls other than SUBSCRIBE (the owner POSTs them, using
 * cm_stream_client_url and cm_stream_client_stream_id), leader detection (the owner calls
 * cm_stream_client_set_url and _restart when its detector reports a new leader), or any
 * reading of event contents.
 *
 * Time: the client's clock (injectable, clock.h) stamps when the link went down (the
 * loss's down_for, so owners can give up after a recovery timeout); the backoff, idle and
 * first-attempt waits are libevent timers. The jitter comes from a xorshift generator seeded
 * from opts.seed (0: random), so tests get fixed delays.
 *
 * Logging: every line goes to opts.log (a sink carried by the client; NULL: the process log).
 *
 * Ownership: opts and everything it points to are copied or borrowed only during
 * cm_stream_client_new, except base, http, clock and log->arg, which must outlive the client.
 * Event pointers are valid during on_event only.
 *
 * Threading: the loop's thread only. Callbacks may call every function here on the same
 * client except cm_stream_client_free (stop, restart, set_url are safe inside a callback).
 */
#ifndef CM_STREAM_CLIENT_H
#define CM_STREAM_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

struct event_base;
struct cm_http_client;
struct cm_clock;
struct cm_log_sink;
struct cm_stream_client;

/* Longest Mesos-Stream-Id accepted (Mesos sends a 36-character UUID). */
#define CM_STREAM_ID_MAX 128
/* Longest URL handled (scheme, authority and path). */
#define CM_STREAM_URL_MAX 1024

/* How an attempt or a stream ended. */
enum cm_stream_loss_kind {
    CM_STREAM_UNREACHABLE = 1, /* no HTTP answer: refused, reset, timed out, bad URL */
    CM_STREAM_REFUSED,         /* answered with a status other than 200 or 307 */
    CM_STREAM_CLOSED,          /* the open stream ended cleanly (the peer closed it) */
    CM_STREAM_BROKEN,          /* the open stream's connection broke */
    CM_STREAM_PROTOCOL,        /* bad Mesos-Stream-Id, redirects, framing or event (above) */
    CM_STREAM_SILENT,          /* nothing arrived for the idle timeout */
};

/* What on_lost is told. Pointers are valid during the callback only. */
struct cm_stream_loss {
    enum cm_stream_loss_kind kind;
    long status;        /* the HTTP status when one arrived, else 0 */
    const char *reason; /* one line for logs and owners, never NULL */
    const char *body;   /* REFUSED: the start of the answer's body, else "" */
    bool was_open;      /* a 200 stream had been established on this attempt */
    double down_for;    /* seconds since the link was lost (0 on the first loss) */
    double retry_in;    /* the delay a CM_STREAM_RETRY answer waits */
};

enum cm_stream_decision { CM_STREAM_RETRY = 0, CM_STREAM_STOP = 1 };

/* Builds the SUBSCRIBE body for the next attempt into a malloc'd buffer the client frees. A
 * non-zero return ends the attempt as CM_STREAM_UNREACHABLE with that error in the reason. */
typedef int (*cm_stream_body_cb)(void *arg, uint8_t **body, size_t *len);
/* The stream is established (200, valid headers). stream_id is "" when the API has none. */
typedef void (*cm_stream_open_cb)(void *arg, const char *stream_id);
/* One decoded, validated event (a message of event_desc). Borrowed for the call. */
typedef void (*cm_stream_event_cb)(void *arg, const ProtobufCMessage *event);
/* Optional extra check of a decoded event; returns 0, or non-zero with why filled to treat
 * the event as undecodable. */
typedef int (*cm_stream_validate_cb)(void *arg, const ProtobufCMessage *event, char *why,
                                     size_t whylen);
/* The attempt or stream ended (see above). Must not free the client. */
typedef enum cm_stream_decision (*cm_stream_lost_cb)(void *arg, const struct cm_stream_loss *loss);

struct cm_stream_client_opts {
    struct event_base *base;       /* required */
    struct cm_http_client *http;   /* borrowed; NULL: the client creates its own */
    const struct cm_clock *clock;  /* NULL: cm_clock_real */
    const struct cm_log_sink *log; /* copied; NULL: the process log */
    const char *module;            /* log module name (NULL: "stream"); copied */
    const char *call_name;         /* the opening call in logs (NULL: "SUBSCRIBE"); copied */
    const char *url;               /* "http://host:port/path"; may be NULL until set_url */
    enum cm_media media;           /* JSON or PROTOBUF: body, Accept and decoding */
    const ProtobufCMessageDescriptor *event_desc; /* required */
    bool stream_id;                 /* a 200 must carry Mesos-Stream-Id (scheduler API) */
    size_t max_record;              /* 0: 16 MiB */
    unsigned max_redirects;         /* 0: 5 */
    double backoff_initial;         /* 0: 1 s */
    double backoff_max;             /* 0: 15 s */
    double idle_timeout;            /* 0: none (see cm_stream_client_set_idle_timeout) */
    double connect_timeout;         /* 0: 10 s */
    uint64_t seed;                  /* jitter seed; 0: random */
    cm_stream_body_cb body;         /* required */
    cm_stream_open_cb on_open;      /* optional */
    cm_stream_event_cb on_event;    /* required */
    cm_stream_validate_cb validate; /* optional */
    cm_stream_lost_cb on_lost;      /* required */
    void *arg;
    /* The value of an Authorization header sent with every opening call (and its redirects),
     * e.g. "Basic ..." or "Bearer <token>"; NULL: none. Copied; no CR or LF, <= 4096 bytes. */
    const char *authorization;
};

/* Creates an idle client. Returns NULL with why filled (CM_EINVAL reasons) when opts are
 * incomplete or the URL is too long. */
struct cm_stream_client *cm_stream_client_new(const struct cm_stream_client_opts *opts, char *why,
                                              size_t whylen);
/* Cancels the attempt or stream and the timers without callbacks. NULL is a no-op. Not from
 * one of the client's callbacks. */
void cm_stream_client_free(struct cm_stream_client *c);

/* Makes the first attempt from the loop (never inside this call). Returns 0, or CM_ESTATE
 * when an attempt, stream or retry is already under way. */
int cm_stream_client_start(struct cm_stream_client *c);
/* Closes the attempt or stream without calling on_lost, cancels a pending retry and stays
 * idle. Safe inside callbacks (a stream being read ends when its callback returns). */
void cm_stream_client_stop(struct cm_stream_client *c);
/* stop, reset the backoff and the redirect chain, then attempt at once from the loop. For a
 * new leader from a detector. */
void cm_stream_client_restart(struct cm_stream_client *c);

/* Sets the URL the next attempt starts from (after the current chain of redirects). Returns
 * 0 or CM_EINVAL (too long). NULL or "" means no URL: attempts wait as CM_STREAM_UNREACHABLE
 * failures would, so owners with a detector call this then _restart. */
int cm_stream_client_set_url(struct cm_stream_client *c, const char *url);
/* Re-arms the idle watchdog of an open stream with secs (0 disables it). Owners call it when
 * the peer announces its heartbeat interval. */
void cm_stream_client_set_idle_timeout(struct cm_stream_client *c, double secs);

/* Replaces the Authorization header value of later opening calls (see opts.authorization;
 * NULL removes it). Returns 0 or CM_EINVAL (CR, LF or over 4096 bytes). */
int cm_stream_client_set_authorization(struct cm_stream_client *c, const char *value);

/* The URL of the current (or last) attempt, after redirects: where calls should go. */
const char *cm_stream_client_url(const struct cm_stream_client *c);
/* The Mesos-Stream-Id of the open stream, or "" when none is open. */
const char *cm_stream_client_stream_id(const struct cm_stream_client *c);
/* true while a 200 stream is open. */
bool cm_stream_client_is_open(const struct cm_stream_client *c);

/* Pure helpers (no state), exported for the owners' own URL handling and for tests. */

/* Resolves a 307 Location against the URL that was asked (rules above) into out[outlen].
 * Returns 0, or CM_EINVAL when location is empty, malformed or the result too long. */
int cm_stream_resolve_location(const char *current, const char *location, char *out, size_t outlen);
/* The backoff delay before retry number attempt (0 first): cap = min(initial * 2^attempt,
 * max), jittered to cap * (0.5 + 0.5 * r) for r in [0, 1). */
double cm_stream_backoff_delay(unsigned attempt, double initial, double max, double r);
/* A xorshift64* step; *state must start non-zero. Returns a value in [0, 1). */
double cm_stream_random(uint64_t *state);
/* Checks a Mesos-Stream-Id value: non-empty, at most CM_STREAM_ID_MAX bytes, printable ASCII
 * without spaces. Returns 0 or CM_EPROTO. */
int cm_stream_id_check(const char *id);

/* Feeds raw stream bytes through a decoder exactly as an open stream does (RecordIO, then
 * cm_pb_decode, then validate, then on_event), without any HTTP. For fuzzing and unit tests of
 * the decoding policy: returns 0 while the stream is healthy, or the error (CM_EPROTO,
 * CM_ETOOBIG, CM_EPARSE, CM_EINVAL) that would have closed it, with why filled. Sticky: once
 * failed, later feeds return the same error. */
struct cm_stream_decoder;
struct cm_stream_decoder *cm_stream_decoder_new(const ProtobufCMessageDescriptor *desc,
                                                enum cm_media media, size_t max_record,
                                                cm_stream_validate_cb validate,
                                                cm_stream_event_cb on_event, void *arg);
void cm_stream_decoder_free(struct cm_stream_decoder *d);
int cm_stream_decoder_feed(struct cm_stream_decoder *d, const void *data, size_t len, char *why,
                           size_t whylen);

#endif
