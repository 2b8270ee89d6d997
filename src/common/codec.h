/*
 * codec.h: the one place a protobuf message is decoded from, or encoded to, the wire.
 *
 * Every message that arrives from outside the process (an HTTP body in JSON or protobuf, a
 * RecordIO record of the agent link, a checkpoint, a znode) goes through cm_pb_decode or
 * cm_pb_unpack, which add two checks protobuf-c does not make:
 *  - required fields are present (the reason names the first missing ones);
 *  - every enum value is one the descriptor declares. protobuf-c stores whatever integer came
 *    off the wire, and code downstream indexes tables or looks up names with it. We follow what
 *    Mesos's C++ protobuf does with a value it does not know: an unknown value of an optional
 *    enum field leaves the field unset, an unknown element of a repeated enum field is dropped
 *    (both go to "unknown fields" there), and an unknown value of a required enum field fails
 *    the decode, naming the field ("Field 'status.state': unknown enum value 99").
 * The JSON path (pbjson) already refuses unknown enum names for required fields and drops them
 * for optional ones, so both media types end with the same message for the same input.
 *
 * Messages returned are protobuf-c heap messages: free them with
 * protobuf_c_message_free_unpacked(msg, NULL). Nothing here keeps state; all functions are
 * safe to call from any thread.
 */
#ifndef CM_CODEC_H
#define CM_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* The media types of the v1 APIs. */
enum cm_media { CM_MEDIA_NONE = 0, CM_MEDIA_JSON, CM_MEDIA_PROTOBUF, CM_MEDIA_UNSUPPORTED };

/* The declared name of value in d, or NULL when d declares no such value. Callers that print
 * a name for a value from the wire must handle NULL (cm_enum_name_or gives a fallback). */
const char *cm_enum_name(const ProtobufCEnumDescriptor *d, int value);

/* Like cm_enum_name, but returns fallback for an undeclared value. */
const char *cm_enum_name_or(const ProtobufCEnumDescriptor *d, int value, const char *fallback);

/* Walks msg recursively and applies the unknown-enum rules above in place. Returns 0, or
 * CM_EINVAL with why naming the required field that holds an undeclared value, or CM_ETOOBIG
 * when the nesting is deeper than CM_PBJSON_MAX_DEPTH, or CM_EPARSE for an unknown field
 * numbered 0 (protobuf-c accepts one whose tag takes two bytes; protobuf's C++ parser does
 * not, and protobuf-c cannot read back what it packs for it). */
int cm_pb_scrub_enums(ProtobufCMessage *msg, char *why, size_t whylen);

/* Unpacks the protobuf wire form of a desc message, then checks required fields and enums.
 * Returns 0 and *out, or CM_EPARSE ("Failed to parse body into <Message>") / CM_EINVAL /
 * CM_ETOOBIG with why filled and *out NULL. */
int cm_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                 ProtobufCMessage **out, char *why, size_t whylen);

/* Decodes body by media type: CM_MEDIA_PROTOBUF as cm_pb_unpack, CM_MEDIA_JSON through pbjson
 * (then the same enum rules). Any other media gives CM_EINVAL. Same returns as cm_pb_unpack. */
int cm_pb_decode(const ProtobufCMessageDescriptor *desc, enum cm_media media, const void *body,
                 size_t len, ProtobufCMessage **out, char *why, size_t whylen);

/* Encodes msg by media type into a new malloc'd buffer (*out, *outlen; JSON text has no
 * NUL counted in *outlen but one stored after it). Returns 0, or CM_EINVAL for a media type
 * that is neither JSON nor protobuf. Aborts on out-of-memory, as the rest of the tree does. */
int cm_pb_encode(const ProtobufCMessage *msg, enum cm_media media, uint8_t **out, size_t *outlen);

#endif
