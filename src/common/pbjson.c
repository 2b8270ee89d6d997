/*
 * pbjson.c: descriptor-driven protobuf <-> JSON conversion with Mesos's mapping rules.
 *
 * Everything is generic over protobuf-c descriptors; no message type is special-cased except
 * proto2 map entries (repeated *Entry messages with exactly "key" and "value"). Messages are
 * built in protobuf-c's own memory layout with malloc, so protobuf_c_message_free_unpacked
 * frees them, including a partly built message when conversion fails half way.
 */
#include "pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json_out.h"
#include "util.h"

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

static json_t *xjson(json_t *j)
{
    if (!j)
        abort();
    return j;
}

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
/* Descriptor helpers */

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    if (!d || d->n_fields != 2)
        return false;
    size_t nl = strlen(d->name);
    if (nl < 5 || strcmp(d->name + nl - 5, "Entry") != 0)
        return false;
    return strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static bool is_map_field(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
           is_map_entry(f->descriptor);
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 8;
}

static bool is_pointer_type(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_STRING || t == PROTOBUF_C_TYPE_MESSAGE;
}

/* Whether a singular field holds a value (as opposed to its default or nothing). */
static bool field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *member = CMEMBER(msg, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)CMEMBER(msg, f->quantifier_offset) == f->id;
    if (is_pointer_type(f->type)) {
        const void *p = *(const void *const *)member;
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
            return p != NULL && p != f->default_value;
        return p != NULL;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)CMEMBER(msg, f->quantifier_offset) != 0;
    return true;
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
    j = xjson(json_string(copy));
    free(copy);
    return j;
}

static json_t *double_to_json(double d)
{
    if (isnan(d))
        return xjson(json_string("NaN"));
    if (isinf(d))
        return xjson(json_string(d > 0 ? "Infinity" : "-Infinity"));
    return xjson(json_real(d));
}

/* p points at the storage of one value of field type f->type (as in a message or array). */
static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return xjson(json_integer(*(const int32_t *)p));
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return xjson(json_integer(*(const uint32_t *)p));
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return xjson(json_integer(*(const int64_t *)p));
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v > (uint64_t)INT64_MAX)
            return xjson(json_real((double)v));
        return xjson(json_integer((json_int_t)v));
    }
    case PROTOBUF_C_TYPE_FLOAT: return double_to_json(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return double_to_json(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return xjson(json_boolean(*(const protobuf_c_boolean *)p));
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev)
            return xjson(json_string(ev->name));
        return xjson(json_integer(v));
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return string_to_json(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *s = cm_base64_encode(b->data, b->len);
        json_t *j = xjson(json_string(s));
        free(s);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (!m)
            return xjson(json_object());
        return message_to_json(m);
    }
    }
    return xjson(json_null());
}

/* The JSON object key for a map entry's key value. */
static char *map_key_string(const ProtobufCFieldDescriptor *kf, const void *p)
{
    char buf[64];
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        char *copy = strdup(s ? s : "");
        if (!copy)
            abort();
        /* jansson refuses keys that are not UTF-8 (the entry would vanish): as for values,
         * keep the ASCII and mark the rest. */
        json_t *probe = json_string(copy);
        if (!probe) {
            for (char *q = copy; *q; q++)
                if ((unsigned char)*q >= 0x80)
                    *q = '?';
        }
        json_decref(probe);
        return copy;
    }
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, sizeof buf, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, sizeof buf, "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, sizeof buf, "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof buf, "%" PRId64, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)p);
        break;
    default: snprintf(buf, sizeof buf, "?"); break;
    }
    char *copy = strdup(buf);
    if (!copy)
        abort();
    return copy;
}

static json_t *map_to_json(const ProtobufCFieldDescriptor *f, size_t n,
                           ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    json_t *obj = xjson(json_object());
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *e = entries[i];
        if (!e)
            continue;
        char *key = map_key_string(kf, CMEMBER(e, kf->offset));
        json_t *val;
        if (field_present(e, vf) || vf->type == PROTOBUF_C_TYPE_STRING)
            val = value_to_json(vf, CMEMBER(e, vf->offset));
        else if (vf->type == PROTOBUF_C_TYPE_MESSAGE)
            val = xjson(json_object());
        else
            val = value_to_json(vf, CMEMBER(e, vf->offset));
        json_object_set_new(obj, key, val);
        free(key);
    }
    return obj;
}

static json_t *message_to_json(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    json_t *obj = xjson(json_object());
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *member = CMEMBER(msg, f->offset);
        json_t *val = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)CMEMBER(msg, f->quantifier_offset);
            const char *arr = *(const char *const *)member;
            if (n == 0 || !arr)
                continue;
            if (is_map_field(f)) {
                val = map_to_json(f, n, (ProtobufCMessage *const *)arr);
            } else {
                size_t es = elem_size(f->type);
                val = xjson(json_array());
                for (size_t k = 0; k < n; k++)
                    json_array_append_new(val, value_to_json(f, arr + k * es));
            }
        } else if (field_present(msg, f)) {
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

/* ------------------------------------------------------------------------------------------ */
/* JSON -> protobuf */

struct pj_ctx {
    char *why;
    size_t whylen;
    int err;
    char path[512];
    size_t pathlen;
    char missing[1024];
    size_t mlen;
    bool missing_truncated;
};

static size_t path_push(struct pj_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends a component to the current path and returns the old length for path_pop. */
static size_t path_push(struct pj_ctx *c, const char *fmt, ...)
{
    size_t old = c->pathlen;
    if (c->pathlen < sizeof c->path - 1) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(c->path + c->pathlen, sizeof c->path - c->pathlen, fmt, ap);
        va_end(ap);
        if (n > 0)
            c->pathlen += (size_t)n;
        if (c->pathlen >= sizeof c->path)
            c->pathlen = sizeof c->path - 1;
    }
    return old;
}

static void path_pop(struct pj_ctx *c, size_t old)
{
    c->pathlen = old;
    c->path[old] = '\0';
}

static size_t path_push_field(struct pj_ctx *c, const char *name)
{
    return c->pathlen ? path_push(c, ".%s", name) : path_push(c, "%s", name);
}

static void add_missing(struct pj_ctx *c, const char *name)
{
    size_t old = path_push_field(c, name);
    const char *sep = c->mlen ? ", " : "";
    int n = snprintf(c->missing + c->mlen, sizeof c->missing - c->mlen, "%s%s", sep, c->path);
    if (n < 0 || (size_t)n >= sizeof c->missing - c->mlen) {
        c->missing_truncated = true;
        c->missing[c->mlen] = '\0';
    } else {
        c->mlen += (size_t)n;
    }
    path_pop(c, old);
}

static void pj_fail(struct pj_ctx *c, int err, const char *what, ...)
    __attribute__((format(printf, 3, 4)));

static void pj_fail(struct pj_ctx *c, int err, const char *what, ...)
{
    if (c->err)
        return;
    c->err = err;
    if (!c->why || !c->whylen)
        return;
    char reason[256];
    va_list ap;
    va_start(ap, what);
    vsnprintf(reason, sizeof reason, what, ap);
    va_end(ap);
    if (c->pathlen)
        snprintf(c->why, c->whylen, "Field '%s': %s", c->path, reason);
    else
        snprintf(c->why, c->whylen, "%s", reason);
}

static int get_int(struct pj_ctx *c, const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            goto bad;
        x = (int64_t)d;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        if (!*s || *end || errno || s[0] == ' ' || s[0] == '+')
            goto bad;
        x = ll;
    } else {
        goto bad;
    }
    if (x < lo || x > hi)
        goto bad;
    *out = x;
    return 0;
bad:
    pj_fail(c, CM_EINVAL, "expected an integer in [%" PRId64 ", %" PRId64 "]", lo, hi);
    return -1;
}

static int get_uint(struct pj_ctx *c, const json_t *v, uint64_t hi, uint64_t *out)
{
    uint64_t x;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            goto bad;
        x = (uint64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < 0 || d >= 18446744073709551616.0)
            goto bad;
        x = (uint64_t)d;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        unsigned long long ull = strtoull(s, &end, 10);
        if (!*s || *end || errno || s[0] < '0' || s[0] > '9')
            goto bad;
        x = ull;
    } else {
        goto bad;
    }
    if (x > hi)
        goto bad;
    *out = x;
    return 0;
bad:
    pj_fail(c, CM_EINVAL, "expected an unsigned integer up to %" PRIu64, hi);
    return -1;
}

static int get_double(struct pj_ctx *c, const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "Infinity") == 0) {
            *out = INFINITY;
            return 0;
        }
        if (strcmp(s, "-Infinity") == 0) {
            *out = -INFINITY;
            return 0;
        }
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (*s && !*end && s[0] != ' ' && errno != ERANGE) {
            *out = d;
            return 0;
        }
    }
    pj_fail(c, CM_EINVAL, "expected a number");
    return -1;
}

/* Parses one non-message value of field f into storage p. Sets *drop for an unknown enum name
 * (the caller decides whether that is an error). Returns 0 or -1 with c->err set. */
static int value_from_json(struct pj_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                           void *p, bool *drop)
{
    int64_t i;
    uint64_t u;
    double d;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (get_int(c, v, INT32_MIN, INT32_MAX, &i))
            return -1;
        *(int32_t *)p = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (get_uint(c, v, UINT32_MAX, &u))
            return -1;
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (get_int(c, v, INT64_MIN, INT64_MAX, &i))
            return -1;
        *(int64_t *)p = i;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (get_uint(c, v, UINT64_MAX, &u))
            return -1;
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (get_double(c, v, &d))
            return -1;
        *(float *)p = (float)d;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (get_double(c, v, &d))
            return -1;
        *(double *)p = d;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (json_is_boolean(v)) {
            *(protobuf_c_boolean *)p = json_is_true(v);
            return 0;
        }
        if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0) {
            *(protobuf_c_boolean *)p = 1;
            return 0;
        }
        if (json_is_string(v) && strcmp(json_string_value(v), "false") == 0) {
            *(protobuf_c_boolean *)p = 0;
            return 0;
        }
        pj_fail(c, CM_EINVAL, "expected a boolean");
        return -1;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(v))
            ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
        else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
                 json_integer_value(v) <= INT32_MAX)
            ev = protobuf_c_enum_descriptor_get_value(f->descriptor, (int)json_integer_value(v));
        else {
            pj_fail(c, CM_EINVAL, "expected an enum value name");
            return -1;
        }
        if (!ev) {
            *drop = true;
            return 0;
        }
        *(int *)p = ev->value;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v)) {
            pj_fail(c, CM_EINVAL, "expected a string");
            return -1;
        }
        size_t len = json_string_length(v);
        const char *s = json_string_value(v);
        if (memchr(s, '\0', len)) {
            pj_fail(c, CM_EINVAL, "string contains a NUL character");
            return -1;
        }
        char *copy = malloc(len + 1);
        if (!copy)
            abort();
        memcpy(copy, s, len + 1);
        *(char **)p = copy;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v)) {
            pj_fail(c, CM_EINVAL, "expected a base64 string");
            return -1;
        }
        uint8_t *data;
        size_t len;
        if (cm_base64_decode(json_string_value(v), json_string_length(v), &data, &len) != 0) {
            pj_fail(c, CM_EINVAL, "invalid base64");
            return -1;
        }
        ProtobufCBinaryData *b = p;
        b->data = data;
        b->len = len;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: break;
    }
    pj_fail(c, CM_EINVAL, "unsupported field type");
    return -1;
}

static ProtobufCMessage *message_from_json(struct pj_ctx *c, const ProtobufCMessageDescriptor *d,
                                           const json_t *json, int depth);

static void set_has(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)MEMBER(msg, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !is_pointer_type(f->type))
        *(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 1;
}

/* Builds a map entry from one key/value pair of a JSON object. */
static ProtobufCMessage *entry_from_json(struct pj_ctx *c, const ProtobufCMessageDescriptor *ed,
                                         const char *key, const json_t *val, int depth)
{
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    ProtobufCMessage *e = cm_xcalloc(1, ed->sizeof_message);
    protobuf_c_message_init(ed, e);
    json_t *jk = xjson(json_string(key));
    bool drop = false;
    int rc = value_from_json(c, kf, jk, MEMBER(e, kf->offset), &drop);
    json_decref(jk);
    if (rc || drop) {
        if (!rc)
            pj_fail(c, CM_EINVAL, "invalid map key '%s'", key);
        protobuf_c_message_free_unpacked(e, NULL);
        return NULL;
    }
    set_has(e, kf);
    if (val && !json_is_null(val)) {
        if (vf->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *sub = message_from_json(c, vf->descriptor, val, depth + 1);
            if (!sub) {
                protobuf_c_message_free_unpacked(e, NULL);
                return NULL;
            }
            *(ProtobufCMessage **)MEMBER(e, vf->offset) = sub;
        } else {
            drop = false;
            if (value_from_json(c, vf, val, MEMBER(e, vf->offset), &drop)) {
                protobuf_c_message_free_unpacked(e, NULL);
                return NULL;
            }
            if (!drop)
                set_has(e, vf);
        }
    }
    return e;
}

static void repeated_from_json(struct pj_ctx *c, ProtobufCMessage *msg,
                               const ProtobufCFieldDescriptor *f, const json_t *v, int depth)
{
    size_t *count = MEMBER(msg, f->quantifier_offset);
    void **arrp = MEMBER(msg, f->offset);

    if (is_map_field(f)) {
        if (!json_is_object(v)) {
            pj_fail(c, CM_EINVAL, "expected a JSON object (map)");
            return;
        }
        size_t n = json_object_size(v);
        if (n == 0)
            return;
        ProtobufCMessage **arr = cm_xcalloc(n, sizeof *arr);
        *arrp = arr;
        *count = 0;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            size_t old = path_push(c, "[%s]", key);
            ProtobufCMessage *e = entry_from_json(c, f->descriptor, key, val, depth);
            path_pop(c, old);
            if (!e)
                return;
            arr[(*count)++] = e;
        }
        return;
    }

    if (!json_is_array(v)) {
        pj_fail(c, CM_EINVAL, "expected a JSON array");
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0)
        return;
    size_t es = elem_size(f->type);
    char *arr = cm_xcalloc(n, es);
    *arrp = arr;
    *count = 0;
    for (size_t k = 0; k < n; k++) {
        const json_t *item = json_array_get(v, k);
        if (json_is_null(item))
            continue;
        size_t old = path_push(c, "[%zu]", k);
        void *slot = arr + *count * es;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *sub = message_from_json(c, f->descriptor, item, depth + 1);
            if (sub) {
                *(ProtobufCMessage **)slot = sub;
                (*count)++;
            }
        } else {
            bool drop = false;
            if (value_from_json(c, f, item, slot, &drop) == 0 && !drop)
                (*count)++;
        }
        path_pop(c, old);
        if (c->err)
            return;
    }
    if (*count == 0) {
        free(arr);
        *arrp = NULL;
    }
}

static void singular_from_json(struct pj_ctx *c, ProtobufCMessage *msg,
                               const ProtobufCFieldDescriptor *f, const json_t *v, int depth)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)MEMBER(msg, f->quantifier_offset);
        if (which != 0 && which != f->id)
            return; /* another member of the oneof came first; it wins */
    }
    void *member = MEMBER(msg, f->offset);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *sub = message_from_json(c, f->descriptor, v, depth + 1);
        if (!sub)
            return;
        *(ProtobufCMessage **)member = sub;
        set_has(msg, f);
        return;
    }
    bool drop = false;
    if (value_from_json(c, f, v, member, &drop))
        return;
    if (drop) {
        if (f->label == PROTOBUF_C_LABEL_REQUIRED)
            pj_fail(c, CM_EINVAL, "unknown enum value '%s'",
                    json_is_string(v) ? json_string_value(v) : "(number)");
        return;
    }
    set_has(msg, f);
}

static ProtobufCMessage *message_from_json(struct pj_ctx *c, const ProtobufCMessageDescriptor *d,
                                           const json_t *json, int depth)
{
    if (depth > CM_PBJSON_MAX_DEPTH) {
        pj_fail(c, CM_ETOOBIG, "nesting deeper than %d levels", CM_PBJSON_MAX_DEPTH);
        return NULL;
    }
    if (!json_is_object(json)) {
        pj_fail(c, CM_EINVAL, "expected a JSON object");
        return NULL;
    }
    ProtobufCMessage *msg = cm_xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, msg);
    for (unsigned i = 0; i < d->n_fields && !c->err; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const json_t *v = json_object_get(json, f->name);
        if (!v || json_is_null(v)) {
            if (f->label == PROTOBUF_C_LABEL_REQUIRED)
                add_missing(c, f->name);
            continue;
        }
        size_t old = path_push_field(c, f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            repeated_from_json(c, msg, f, v, depth);
        else
            singular_from_json(c, msg, f, v, depth);
        path_pop(c, old);
    }
    if (c->err) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return NULL;
    }
    return msg;
}

int cm_pbjson_from_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                        ProtobufCMessage **out, char *why, size_t whylen)
{
    struct pj_ctx c = {.why = why, .whylen = whylen};
    *out = NULL;
    if (!json_is_object(json))
        return cm_fail(CM_EINVAL, why, whylen, "Expected a JSON object");
    ProtobufCMessage *msg = message_from_json(&c, desc, json, 1);
    if (!msg)
        return c.err ? c.err : CM_EINVAL;
    if (c.mlen || c.missing_truncated) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return cm_fail(CM_EINVAL, why, whylen, "Missing required fields: %s%s", c.missing,
                       c.missing_truncated ? ", ..." : "");
    }
    *out = msg;
    return 0;
}

/* True when json nests containers deeper than limit (counting the top level as 1). */
static bool json_too_deep(const json_t *j, int depth, int limit)
{
    if (!json_is_object(j) && !json_is_array(j))
        return false;
    if (depth > limit)
        return true;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (json_too_deep(v, depth + 1, limit))
                return true;
        }
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if (json_too_deep(v, depth + 1, limit))
                return true;
        }
    }
    return false;
}

int cm_pbjson_from_text(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                        ProtobufCMessage **out, char *why, size_t whylen)
{
    json_error_t jerr;
    *out = NULL;
    /* jansson bounds its own recursion (2048 levels); ours is far lower and checked after. */
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!j)
        return cm_fail(CM_EPARSE, why, whylen, "Failed to parse JSON: %s (line %d, column %d)",
                       jerr.text, jerr.line, jerr.column);
    int rc;
    if (!json_is_object(j))
        rc = cm_fail(CM_EINVAL, why, whylen, "Expected a JSON object");
    else if (json_too_deep(j, 1, CM_PBJSON_MAX_DEPTH))
        rc = cm_fail(CM_ETOOBIG, why, whylen, "JSON nesting deeper than %d levels",
                     CM_PBJSON_MAX_DEPTH);
    else
        rc = cm_pbjson_from_json(desc, j, out, why, whylen);
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Required-field check for messages that did not come through JSON (protobuf input). */

static bool has_required_field(const ProtobufCMessageDescriptor *d)
{
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED)
            return true;
    return false;
}

static void check_required_rec(struct pj_ctx *c, const ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    if (depth > CM_PBJSON_MAX_DEPTH) {
        pj_fail(c, CM_ETOOBIG, "nesting deeper than %d levels", CM_PBJSON_MAX_DEPTH);
        return;
    }
    /* A map entry without its message value stands for the value's default instance, which
     * lacks the value's required fields (protobuf's C++ parser refuses it too). */
    if (is_map_entry(d) && d->fields[1].type == PROTOBUF_C_TYPE_MESSAGE &&
        !field_present(msg, &d->fields[1]) && has_required_field(d->fields[1].descriptor))
        add_missing(c, d->fields[1].name);
    for (unsigned i = 0; i < d->n_fields && !c->err; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *member = CMEMBER(msg, f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (f->type != PROTOBUF_C_TYPE_MESSAGE)
                continue;
            size_t n = *(const size_t *)CMEMBER(msg, f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)member;
            for (size_t k = 0; k < n && arr; k++) {
                if (!arr[k])
                    continue;
                size_t old = c->pathlen ? path_push(c, ".%s[%zu]", f->name, k)
                                        : path_push(c, "%s[%zu]", f->name, k);
                check_required_rec(c, arr[k], depth + 1);
                path_pop(c, old);
            }
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REQUIRED && is_pointer_type(f->type) &&
            *(const void *const *)member == NULL) {
            add_missing(c, f->name);
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && field_present(msg, f)) {
            size_t old = path_push_field(c, f->name);
            check_required_rec(c, *(const ProtobufCMessage *const *)member, depth + 1);
            path_pop(c, old);
        }
    }
}

int cm_pbjson_check_required(const ProtobufCMessage *msg, char *why, size_t whylen)
{
    struct pj_ctx c = {.why = why, .whylen = whylen};
    check_required_rec(&c, msg, 1);
    if (c.err)
        return c.err;
    if (c.mlen || c.missing_truncated)
        return cm_fail(CM_EINVAL, why, whylen, "Missing required fields: %s%s", c.missing,
                       c.missing_truncated ? ", ..." : "");
    return 0;
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
    if (vf->type == PROTOBUF_C_TYPE_MESSAGE && !field_present(e, vf))
        cm_json_out_raw(w, "{}", 2); /* after the key: no comma needed */
    else
        value_write(w, vf, CMEMBER(e, vf->offset));
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
        json_t *j = map_to_json(f, n, entries);
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
        keys[i] = entries[i] ? map_key_string(kf, CMEMBER(entries[i], kf->offset)) : NULL;
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
        const void *member = CMEMBER(msg, f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)CMEMBER(msg, f->quantifier_offset);
            const char *arr = *(const char *const *)member;
            if (n == 0 || !arr)
                continue;
            cm_json_out_key(w, f->name);
            if (is_map_field(f)) {
                map_write(w, f, n, (ProtobufCMessage *const *)arr);
            } else {
                size_t es = elem_size(f->type);
                cm_json_out_arr_open(w);
                for (size_t k = 0; k < n; k++)
                    value_write(w, f, arr + k * es);
                cm_json_out_arr_close(w);
            }
        } else if (field_present(msg, f)) {
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
