/*
 * sched_internal.h: the pure parts of libcmscheduler, split out so unit tests can drive them
 * without sockets: master address and redirect Location handling, the reconnect backoff, and
 * encoding calls / decoding events in either content type.
 *
 * Nothing here keeps state; every function is safe to call from any thread.
 */
#ifndef CM_SCHED_INTERNAL_H
#define CM_SCHED_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cmesos/scheduler.h"

/* Longest URL the library handles (scheme, host, port and path). */
#define CM_SCHED_URL_MAX 1024
/* Path of the scheduler endpoint on a master. */
#define CM_SCHED_API_PATH "/api/v1/scheduler"

/* Turns a --master value ("host:port", "http://host:port", "https://host:port[/path]") into
 * the scheduler endpoint URL "<scheme>://host:port/api/v1/scheduler" in out[outlen].
 * Returns 0, or CM_EINVAL with a reason in why (empty, zk://, unknown scheme, missing or bad
 * port, too long). */
int cm_sched_master_url(const char *master, char *out, size_t outlen, char *why, size_t whylen);

/* Resolves a 307 Location against the URL that was redirected: protocol-relative
 * "//host:port/path" takes current's scheme, "/path" keeps current's scheme and authority,
 * "http(s)://..." is taken as is. A Location without a path gets CM_SCHED_API_PATH.
 * Returns 0, or CM_EINVAL when location is empty, malformed or too long. */
int cm_sched_resolve_location(const char *current, const char *location, char *out, size_t outlen);

/* The reconnect delay before attempt number `attempt` (0 for the first retry):
 * cap = min(initial * 2^attempt, max), jittered to cap * (0.5 + 0.5 * r) for r in [0, 1). */
double cm_sched_backoff_delay(unsigned attempt, double initial, double max, double r);

/* A xorshift64* step for the jitter; *state must start non-zero. Returns a value in [0, 1). */
double cm_sched_random(uint64_t *state);

/* Media type for a content type. */
const char *cm_sched_media_type(enum cm_scheduler_content_type ct);

/* Encodes call in ct into a new buffer (*out, caller frees with free(); NUL-terminated for
 * JSON, *len excludes the NUL). Returns 0 or -ENOMEM. */
int cm_sched_encode_call(const Mesos__V1__Scheduler__Call *call, enum cm_scheduler_content_type ct,
                         uint8_t **out, size_t *len);

/* Decodes one RecordIO record into a new event (free with protobuf_c_message_free_unpacked).
 * Also checks that the body named by the type is present (SUBSCRIBED needs `subscribed`...).
 * Returns 0, or CM_EPARSE / CM_EINVAL with a reason in why. */
int cm_sched_decode_event(enum cm_scheduler_content_type ct, const uint8_t *data, size_t len,
                          Mesos__V1__Scheduler__Event **out, char *why, size_t whylen);

/* Name of a call type ("ACCEPT"), for logs and callbacks; "UNKNOWN" for unknown values. */
const char *cm_sched_call_type_name(Mesos__V1__Scheduler__Call__Type type);

#endif
