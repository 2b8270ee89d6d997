/*
 * pbjson_parse.h: JSON -> protobuf with the mapping of pbjson.h, and the check of required
 * fields that protobuf input needs too.
 *
 * Input is bounded: nesting deeper than CM_PBJSON_MAX_DEPTH is refused. Messages returned are
 * allocated with protobuf-c's default allocator: free them with
 * protobuf_c_message_free_unpacked(msg, NULL). Keeps no state (thread-safe); aborts on
 * out-of-memory.
 */
#ifndef CM_PBJSON_PARSE_H
#define CM_PBJSON_PARSE_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define CM_PBJSON_MAX_DEPTH 64

/* Builds a message of type desc from json. On success *out is a new message and 0 is
 * returned; otherwise CM_EINVAL (or CM_ETOOBIG for depth) with a reason in why, e.g.
 * "Missing required fields: framework_info.user" or "Field 'type': unknown enum value 'X'"
 * (required enums only; optional ones are dropped as Mesos does). */
int cm_pbjson_from_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                        ProtobufCMessage **out, char *why, size_t whylen);

/* Like cm_pbjson_from_json on text; the top level must be a JSON object. CM_EPARSE when the
 * text is not JSON. */
int cm_pbjson_from_text(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                        ProtobufCMessage **out, char *why, size_t whylen);

/* Checks that every required field of msg (recursively) is set; on failure fills why with
 * "Missing required fields: a.b, c" and returns CM_EINVAL. Used for protobuf input too,
 * since protobuf-c's unpacker does not name the missing field. */
int cm_pbjson_check_required(const ProtobufCMessage *msg, char *why, size_t whylen);

#endif
