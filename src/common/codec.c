/*
 * codec.c: decode and encode protobuf messages by media type, with the enum and required-field
 * checks that protobuf-c leaves to its callers. See codec.h for the rules.
 */
#include "codec.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "pbjson.h"
#include "util.h"

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))

const char *cm_enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : NULL;
}

const char *cm_enum_name_or(const ProtobufCEnumDescriptor *d, int value, const char *fallback)
{
    const char *name = cm_enum_name(d, value);
    return name ? name : fallback;
}

struct scrub {
    char path[256]; /* dotted path of the field being visited, for the reason */
    size_t pathlen;
    char *why;
    size_t whylen;
};

static bool optional_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)MEMBER(msg, f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)MEMBER(msg, f->offset) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset);
    return true; /* proto3 scalars have no presence */
}

static void optional_clear(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    int def = f->default_value ? *(const int *)f->default_value
                               : (ed->n_values ? ed->values[0].value : 0);
    *(int *)MEMBER(msg, f->offset) = def;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)MEMBER(msg, f->quantifier_offset) = 0;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        *(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 0;
}

static int scrub_rec(struct scrub *s, ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    if (depth > CM_PBJSON_MAX_DEPTH)
        return cm_fail(CM_ETOOBIG, s->why, s->whylen, "Message nesting deeper than %d levels",
                       CM_PBJSON_MAX_DEPTH);
    /* protobuf-c takes field number 0 when its tag is written in more than one byte, keeps it
     * as an unknown field and packs it back in a form it refuses itself: a message passed on
     * (a TaskInfo in RUN_TASK) would break the next hop. Protobuf's C++ parser refuses it. */
    for (unsigned i = 0; i < msg->n_unknown_fields; i++)
        if (msg->unknown_fields[i].tag == 0)
            return cm_fail(CM_EPARSE, s->why, s->whylen, "Failed to parse %s%s%s: field number 0",
                           d->name, s->path[0] ? " at " : "", s->path);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_ENUM && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *count = MEMBER(msg, f->quantifier_offset);
            if (f->type == PROTOBUF_C_TYPE_ENUM) {
                int *values = *(int **)MEMBER(msg, f->offset);
                size_t kept = 0;
                for (size_t k = 0; k < *count; k++)
                    if (cm_enum_name(f->descriptor, values[k]))
                        values[kept++] = values[k];
                *count = kept;
                continue;
            }
            ProtobufCMessage **items = *(ProtobufCMessage ***)MEMBER(msg, f->offset);
            for (size_t k = 0; k < *count; k++) {
                if (!items[k])
                    continue;
                size_t old =
                    cm_field_path_push(s->path, sizeof s->path, &s->pathlen, f->name, (long)k);
                int rc = scrub_rec(s, items[k], depth + 1);
                cm_field_path_pop(s->path, &s->pathlen, old);
                if (rc)
                    return rc;
            }
            continue;
        }
        if (f->label != PROTOBUF_C_LABEL_REQUIRED && !optional_present(msg, f))
            continue;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *sub = *(ProtobufCMessage **)MEMBER(msg, f->offset);
            if (!sub)
                continue; /* a missing required message is the required-field check's job */
            size_t old = cm_field_path_push(s->path, sizeof s->path, &s->pathlen, f->name, -1);
            int rc = scrub_rec(s, sub, depth + 1);
            cm_field_path_pop(s->path, &s->pathlen, old);
            if (rc)
                return rc;
            continue;
        }
        int value = *(const int *)MEMBER(msg, f->offset);
        if (cm_enum_name(f->descriptor, value))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
            size_t old = cm_field_path_push(s->path, sizeof s->path, &s->pathlen, f->name, -1);
            int rc = cm_fail(CM_EINVAL, s->why, s->whylen, "Field '%s': unknown enum value %d",
                             s->path, value);
            cm_field_path_pop(s->path, &s->pathlen, old);
            return rc;
        }
        optional_clear(msg, f);
    }
    return 0;
}

int cm_pb_scrub_enums(ProtobufCMessage *msg, char *why, size_t whylen)
{
    struct scrub s = {.why = why, .whylen = whylen};
    return scrub_rec(&s, msg, 1);
}

int cm_pb_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                 ProtobufCMessage **out, char *why, size_t whylen)
{
    *out = NULL;
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, data);
    if (!msg)
        return cm_fail(CM_EPARSE, why, whylen, "Failed to parse body into %s", desc->name);
    int rc = cm_pbjson_check_required(msg, why, whylen);
    if (!rc)
        rc = cm_pb_scrub_enums(msg, why, whylen);
    if (rc) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return rc;
    }
    *out = msg;
    return 0;
}

int cm_pb_decode(const ProtobufCMessageDescriptor *desc, enum cm_media media, const void *body,
                 size_t len, ProtobufCMessage **out, char *why, size_t whylen)
{
    *out = NULL;
    if (media == CM_MEDIA_PROTOBUF)
        return cm_pb_unpack(desc, body, len, out, why, whylen);
    if (media != CM_MEDIA_JSON)
        return cm_fail(CM_EINVAL, why, whylen, "Unsupported media type for %s", desc->name);
    ProtobufCMessage *msg = NULL;
    int rc = cm_pbjson_from_text(desc, body, len, &msg, why, whylen);
    if (!rc)
        rc = cm_pb_scrub_enums(msg, why, whylen);
    if (rc) {
        if (msg)
            protobuf_c_message_free_unpacked(msg, NULL);
        return rc;
    }
    *out = msg;
    return 0;
}

int cm_pb_encode(const ProtobufCMessage *msg, enum cm_media media, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (media == CM_MEDIA_PROTOBUF) {
        size_t len = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = cm_xmalloc(len ? len : 1);
        protobuf_c_message_pack(msg, buf);
        *out = buf;
        *outlen = len;
        return 0;
    }
    if (media != CM_MEDIA_JSON)
        return CM_EINVAL;
    char *text = cm_pbjson_to_text(msg);
    *out = (uint8_t *)text;
    *outlen = strlen(text);
    return 0;
}
