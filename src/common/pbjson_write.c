/* pbjson_write.c: protobuf -> JSON text written directly (pbjson_write.h). */
#include "pbjson_write.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "pbjson.h"
#include "pbjson_desc.h"
#include "util.h"

/* ------------------------------------------------------------------------------------------ */
/* Protobuf -> JSON text, written directly (the same text as message_to_json + json_dumps). */

static void message_write(struct cm_json_out *w, const ProtobufCMessage *msg);

static void string_write(struct cm_json_out *w, const char *s)
{
    size_t n = strlen(s);
    if (cm_json_utf8_valid(s, n)) {
        cm_json_out_strn(w, s, n);
        return;
    }
    /* As string_to_json: keep the ASCII and mark the rest. */
    char *copy = cm_xstrdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    cm_json_out_strn(w, copy, n);
    free(copy);
}

static void double_write(struct cm_json_out *w, double d)
{
    if (isnan(d))
        cm_json_out_str(w, "NaN");
    else if (isinf(d))
        cm_json_out_str(w, d > 0 ? "Infinity" : "-Infinity");
    else
        cm_json_out_real(w, d);
}

/* As value_to_json, written. */
static void value_write(struct cm_json_out *w, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: cm_json_out_int(w, *(const int32_t *)p); return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: cm_json_out_int(w, *(const uint32_t *)p); return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: cm_json_out_int(w, *(const int64_t *)p); return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v > (uint64_t)INT64_MAX)
            cm_json_out_real(w, (double)v);
        else
            cm_json_out_int(w, (int64_t)v);
        return;
    }
    case PROTOBUF_C_TYPE_FLOAT: double_write(w, *(const float *)p); return;
    case PROTOBUF_C_TYPE_DOUBLE: double_write(w, *(const double *)p); return;
    case PROTOBUF_C_TYPE_BOOL: cm_json_out_bool(w, *(const protobuf_c_boolean *)p); return;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev)
            cm_json_out_str(w, ev->name);
        else
            cm_json_out_int(w, v);
        return;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        string_write(w, s ? s : "");
        return;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *s = cm_base64_encode(b->data, b->len);
        cm_json_out_str(w, s);
        free(s);
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE: message_write(w, *(const ProtobufCMessage *const *)p); return;
    }
    cm_json_out_null(w);
}

/* A map entry's value as map_to_json takes it. */
static void entry_value_write(struct cm_json_out *w, const ProtobufCMessage *e)
{
    const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
    if (vf->type == PROTOBUF_C_TYPE_MESSAGE && !cm_pbd_field_present(e, vf))
        cm_json_out_raw(w, "{}", 2); /* after the key: no comma needed */
    else
        value_write(w, vf, CM_PBD_CMEMBER(e, vf->offset));
}

/* Entries beyond this are written through jansson (its duplicate-key rule is quadratic
 * here). */
#define MAP_WRITE_MAX 64

static void map_write(struct cm_json_out *w, const ProtobufCFieldDescriptor *f, size_t n,
                      ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0];
    if (n > MAP_WRITE_MAX) {
        json_t *j = cm_pbd_map_to_json(f, n, entries);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
            abort();
        cm_json_out_raws(w, text); /* after the key: no comma needed */
        free(text);
        return;
    }
    char *keys[MAP_WRITE_MAX];
    for (size_t i = 0; i < n; i++)
        keys[i] = entries[i] ? cm_pbd_map_key(kf, CM_PBD_CMEMBER(entries[i], kf->offset)) : NULL;
    cm_json_out_obj_open(w);
    /* jansson keeps a repeated key where it first came, with the last value given. */
    for (size_t i = 0; i < n; i++) {
        if (!keys[i])
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = keys[j] && strcmp(keys[j], keys[i]) == 0;
        if (seen)
            continue;
        size_t last = i;
        for (size_t j = i + 1; j < n; j++)
            if (keys[j] && strcmp(keys[j], keys[i]) == 0)
                last = j;
        cm_json_out_key(w, keys[i]);
        entry_value_write(w, entries[last]);
    }
    cm_json_out_obj_close(w);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
}

static void message_write(struct cm_json_out *w, const ProtobufCMessage *msg)
{
    cm_json_out_obj_open(w);
    if (!msg) {
        cm_json_out_obj_close(w);
        return;
    }
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *member = CM_PBD_CMEMBER(msg, f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)CM_PBD_CMEMBER(msg, f->quantifier_offset);
            const char *arr = *(const char *const *)member;
            if (n == 0 || !arr)
                continue;
            cm_json_out_key(w, f->name);
            if (cm_pbd_is_map_field(f)) {
                map_write(w, f, n, (ProtobufCMessage *const *)arr);
            } else {
                size_t es = cm_pbd_elem_size(f->type);
                cm_json_out_arr_open(w);
                for (size_t k = 0; k < n; k++)
                    value_write(w, f, arr + k * es);
                cm_json_out_arr_close(w);
            }
        } else if (cm_pbd_field_present(msg, f)) {
            cm_json_out_key(w, f->name);
            value_write(w, f, member);
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->default_value &&
                   !(f->flags & PROTOBUF_C_FIELD_FLAG_DEPRECATED) &&
                   !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
            cm_json_out_key(w, f->name);
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = f->default_value;
                value_write(w, f, &s);
            } else {
                value_write(w, f, f->default_value);
            }
        }
    }
    cm_json_out_obj_close(w);
}

void cm_pbjson_write(struct cm_json_out *w, const ProtobufCMessage *msg)
{
    message_write(w, msg);
}
