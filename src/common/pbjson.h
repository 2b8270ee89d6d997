/*
 * pbjson.h: the one protobuf <-> JSON converter, driven by protobuf-c descriptors.
 *
 * It follows Mesos's JSON mapping (docs/wire-protocol.md §1.3), not proto3's: keys are the proto
 * field names; enums are value names; bytes are standard base64 with padding; 64-bit integers are
 * JSON numbers on output and numbers or numeric strings on input; doubles accept numeric
 * strings and "Infinity"/"-Infinity"/"NaN"; bools accept "true"/"false" strings; repeated
 * fields are arrays and are omitted when empty; proto2 map fields (repeated *Entry messages)
 * are JSON objects keyed by the map key; optional fields that are unset but have an explicit
 * default are emitted with the default unless the field is [deprecated = true]; unknown keys
 * and null values are ignored on input; a missing required field is an error naming it.
 *
 * Input is bounded: nesting deeper than CM_PBJSON_MAX_DEPTH is refused.
 * Messages returned are allocated with protobuf-c's default allocator: free them with
 * protobuf_c_message_free_unpacked(msg, NULL). Not thread-safe only in the trivial sense that
 * it keeps no state at all.
 */
#ifndef CM_PBJSON_H
#define CM_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define CM_PBJSON_MAX_DEPTH 64

/* Deep copy of a protobuf message through its wire form, so the copy frees like any unpacked
 * message (protobuf_c_message_free_unpacked). Aborts on out-of-memory. */
void *cm_pb_dup(const ProtobufCMessage *msg);

/* Returns a new JSON object for msg (never NULL; aborts on out-of-memory). */
json_t *cm_pbjson_to_json(const ProtobufCMessage *msg);

/* Writes msg (NULL: an empty object) to w as the text json_dumps(JSON_COMPACT) prints for
 * cm_pbjson_to_json(msg), byte for byte, without building the tree (json_out.h). */
struct cm_json_out;
void cm_pbjson_write(struct cm_json_out *w, const ProtobufCMessage *msg);

/* Returns msg as compact JSON text (malloc'd, NUL-terminated; caller frees). */
char *cm_pbjson_to_text(const ProtobufCMessage *msg);

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

/* Base64 helpers (standard alphabet, padded). Encode returns a malloc'd string.
 * Decode returns 0 and a malloc'd buffer, or CM_EPARSE. */
char *cm_base64_encode(const void *data, size_t len);
int cm_base64_decode(const char *text, size_t textlen, uint8_t **out, size_t *outlen);

#endif
