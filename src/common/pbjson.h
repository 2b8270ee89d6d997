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
 * The converter is in three parts, each with its header: this one (the jansson tree, text,
 * base64, deep copy; pbjson.c), JSON -> protobuf and the required-field check (pbjson_parse.h),
 * and the direct text writer (pbjson_write.h). Including this header includes all three.
 * Not thread-safe only in the trivial sense that it keeps no state at all.
 */
#ifndef CM_PBJSON_H
#define CM_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "pbjson_parse.h"
#include "pbjson_write.h"

/* Deep copy of a protobuf message through its wire form, so the copy frees like any unpacked
 * message (protobuf_c_message_free_unpacked). Aborts on out-of-memory. */
void *cm_pb_dup(const ProtobufCMessage *msg);

/* Returns a new JSON object for msg (never NULL; aborts on out-of-memory). */
json_t *cm_pbjson_to_json(const ProtobufCMessage *msg);

/* Returns msg as compact JSON text (malloc'd, NUL-terminated; caller frees). */
char *cm_pbjson_to_text(const ProtobufCMessage *msg);

/* Base64 helpers (standard alphabet, padded). Encode returns a malloc'd string.
 * Decode returns 0 and a malloc'd buffer, or CM_EPARSE. */
char *cm_base64_encode(const void *data, size_t len);
int cm_base64_decode(const char *text, size_t textlen, uint8_t **out, size_t *outlen);

#endif
