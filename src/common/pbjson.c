/*
 * pbjson.c: protobuf -> JSON as a jansson tree (and its compact text), base64, and the deep copy
 * of a message. The JSON -> protobuf direction is pbjson_parse.c, the direct text writer
 * pbjson_write.c; the descriptor helpers all three use are pbjson_desc.c.
 *
 * Everything is generic over protobuf-c descriptors; no message type is special-cased except
 * proto2 map entries (repeated *Entry messages with exactly "key" and "value").
 */
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "pbjson_desc.h"
#include "util.h"

/* ------------------------------------------------------------------------------------------ */
/* Base64 */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cm_base64_encode(const void *data, size_t len)
{
    const uint8_t *in = data;
    size_t outlen = 4 * ((len + 2) / 3);
    char *out = malloc(outlen + 1);
    if (!out)
        abort();
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cm_base64_decode(const char *text, size_t textlen, uint8_t **out, size_t *outlen)
{
    /* Padding is expected, but unpadded input is accepted too (it is unambiguous). */
    size_t len = textlen;
    size_t pad = 0;
    while (len > 0 && text[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4 != 0)
        return CM_EPARSE;
    if (len % 4 == 1)
        return CM_EPARSE;
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        abort();
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(text[i]);
        if (v < 0) {
            free(buf);
            return CM_EPARSE;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *outlen = o;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Protobuf -> JSON */

static json_t *message_to_json(const ProtobufCMessage *msg);

static json_t *string_to_json(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not valid UTF-8: keep the ASCII and mark the rest, rather than fail the whole message. */
    char *copy = strdup(s);
    if (!copy)
        abort();
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    j = cm_pbd_xjson(json_string(copy));
    free(copy);
    return j;
}

static json_t *double_to_json(double d)
{
    if (isnan(d))
        return cm_pbd_xjson(json_string("NaN"));
    if (isinf(d))
        return cm_pbd_xjson(json_string(d > 0 ? "Infinity" : "-Infinity"));
    return cm_pbd_xjson(json_real(d));
}

/* p points at the storage of one value of field type f->type (as in a message or array). */
static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return cm_pbd_xjson(json_integer(*(const int32_t *)p));
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return cm_pbd_xjson(json_integer(*(const uint32_t *)p));
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return cm_pbd_xjson(json_integer(*(const int64_t *)p));
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v > (uint64_t)INT64_MAX)
            return cm_pbd_xjson(json_real((double)v));
        return cm_pbd_xjson(json_integer((json_int_t)v));
    }
    case PROTOBUF_C_TYPE_FLOAT: return double_to_json(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return double_to_json(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return cm_pbd_xjson(json_boolean(*(const protobuf_c_boolean *)p));
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev)
            return cm_pbd_xjson(json_string(ev->name));
        return cm_pbd_xjson(json_integer(v));
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return string_to_json(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *s = cm_base64_encode(b->data, b->len);
        json_t *j = cm_pbd_xjson(json_string(s));
        free(s);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (!m)
            return cm_pbd_xjson(json_object());
        return message_to_json(m);
    }
    }
    return cm_pbd_xjson(json_null());
}

json_t *cm_pbd_map_to_json(const ProtobufCFieldDescriptor *f, size_t n,
                           ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    json_t *obj = cm_pbd_xjson(json_object());
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *e = entries[i];
        if (!e)
            continue;
        char *key = cm_pbd_map_key(kf, CM_PBD_CMEMBER(e, kf->offset));
        json_t *val;
        if (cm_pbd_field_present(e, vf) || vf->type == PROTOBUF_C_TYPE_STRING)
            val = value_to_json(vf, CM_PBD_CMEMBER(e, vf->offset));
        else if (vf->type == PROTOBUF_C_TYPE_MESSAGE)
            val = cm_pbd_xjson(json_object());
        else
            val = value_to_json(vf, CM_PBD_CMEMBER(e, vf->offset));
        json_object_set_new(obj, key, val);
        free(key);
    }
    return obj;
}

static json_t *message_to_json(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    json_t *obj = cm_pbd_xjson(json_object());
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *member = CM_PBD_CMEMBER(msg, f->offset);
        json_t *val = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)CM_PBD_CMEMBER(msg, f->quantifier_offset);
            const char *arr = *(const char *const *)member;
            if (n == 0 || !arr)
                continue;
            if (cm_pbd_is_map_field(f)) {
                val = cm_pbd_map_to_json(f, n, (ProtobufCMessage *const *)arr);
            } else {
                size_t es = cm_pbd_elem_size(f->type);
                val = cm_pbd_xjson(json_array());
                for (size_t k = 0; k < n; k++)
                    json_array_append_new(val, value_to_json(f, arr + k * es));
            }
        } else if (cm_pbd_field_present(msg, f)) {
            val = value_to_json(f, member);
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->default_value &&
                   !(f->flags & PROTOBUF_C_FIELD_FLAG_DEPRECATED) &&
                   !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
            /* Mesos emits unset fields that have an explicit default, with the default. */
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = f->default_value;
                val = value_to_json(f, &s);
            } else {
                val = value_to_json(f, f->default_value);
            }
        } else {
            continue;
        }
        json_object_set_new(obj, f->name, val);
    }
    return obj;
}

json_t *cm_pbjson_to_json(const ProtobufCMessage *msg)
{
    return message_to_json(msg);
}

char *cm_pbjson_to_text(const ProtobufCMessage *msg)
{
    json_t *j = message_to_json(msg);
    /* 15 significant digits print decimal inputs such as 0.1 or 0.3 the way they were written. */
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    /* Near DBL_MAX, 15 digits round past it ("-1.79769313486232e308"), which JSON parsers
     * refuse as an overflow; only exponent 308 can do that, so such output is printed again
     * with the 17 digits that always read back. (Found by fuzz_codec.) */
    if (s && (strstr(s, "e308") || strstr(s, "e+308"))) {
        free(s);
        s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
    }
    json_decref(j);
    if (!s)
        abort();
    return s;
}

void *cm_pb_dup(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = cm_xcalloc(1, len + 1);
    protobuf_c_message_pack(msg, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    free(buf);
    if (!copy)
        abort(); /* we packed it ourselves: only out-of-memory can get here */
    return copy;
}
