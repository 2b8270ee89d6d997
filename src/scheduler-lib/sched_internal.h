/*
 * sched_internal.h: the pure parts of libcmscheduler, split out so unit tests can drive them
 * without sockets: the master address, and encoding calls / checking and decoding events in
 * either content type (over codec.h). Redirects, backoff and the stream are the common
 * stream client's (stream_client.h).
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

/* Redirects, backoff and jitter are the stream client's (stream_client.h):
 * cm_stream_resolve_location, cm_stream_backoff_delay, cm_stream_random. */

/* Media type for a content type. */
const char *cm_sched_media_type(enum cm_scheduler_content_type ct);

/* Encodes call in ct (through cm_pb_encode) into a new buffer (*out, caller frees with
 * free(); NUL-terminated for JSON, *len excludes the NUL). Returns 0. */
int cm_sched_encode_call(const Mesos__V1__Scheduler__Call *call, enum cm_scheduler_content_type ct,
                         uint8_t **out, size_t *len);

/* Checks what the scheduler API adds to a decoded Event: a type, and the body the type names
 * (SUBSCRIBED needs `subscribed`, UPDATE `update.status`...), so callbacks can rely on them.
 * Used as the stream client's validator. Returns 0 or CM_EINVAL with a reason in why. */
int cm_sched_check_event(const Mesos__V1__Scheduler__Event *ev, char *why, size_t whylen);

/* Decodes one RecordIO record exactly as the stream does: cm_pb_decode, then
 * cm_sched_check_event (free the event with protobuf_c_message_free_unpacked). Returns 0, or
 * CM_EPARSE / CM_EINVAL with a reason in why. */
int cm_sched_decode_event(enum cm_scheduler_content_type ct, const uint8_t *data, size_t len,
                          Mesos__V1__Scheduler__Event **out, char *why, size_t whylen);

/* Name of a call type ("ACCEPT"), for logs and callbacks; "UNKNOWN" for unknown values. */
const char *cm_sched_call_type_name(Mesos__V1__Scheduler__Call__Type type);

#endif
