/*
 * pbjson_parse.c: JSON -> protobuf with Mesos's mapping rules (pbjson_parse.h), and the
 * required-field check that protobuf input shares with it.
 *
 * Messages are built in protobuf-c's own memory layout with malloc, so
 * protobuf_c_message_free_unpacked frees them, including a partly built message when
 * conversion fails half way.
 */
#include "pbjson_parse.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "pbjson.h"
#include "pbjson_desc.h"
#include "util.h"

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
    return cm_field_path_push(c->path, sizeof c->path, &c->pathlen, name, -1);
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
        *(uint32_t *)CM_PBD_MEMBER(msg, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !cm_pbd_is_pointer_type(f->type))
        *(protobuf_c_boolean *)CM_PBD_MEMBER(msg, f->quantifier_offset) = 1;
}

/* Builds a map entry from one key/value pair of a JSON object. */
static ProtobufCMessage *entry_from_json(struct pj_ctx *c, const ProtobufCMessageDescriptor *ed,
                                         const char *key, const json_t *val, int depth)
{
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    ProtobufCMessage *e = cm_xcalloc(1, ed->sizeof_message);
    protobuf_c_message_init(ed, e);
    json_t *jk = cm_pbd_xjson(json_string(key));
    bool drop = false;
    int rc = value_from_json(c, kf, jk, CM_PBD_MEMBER(e, kf->offset), &drop);
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
            *(ProtobufCMessage **)CM_PBD_MEMBER(e, vf->offset) = sub;
        } else {
            drop = false;
            if (value_from_json(c, vf, val, CM_PBD_MEMBER(e, vf->offset), &drop)) {
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
    size_t *count = CM_PBD_MEMBER(msg, f->quantifier_offset);
    void **arrp = CM_PBD_MEMBER(msg, f->offset);

    if (cm_pbd_is_map_field(f)) {
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
    size_t es = cm_pbd_elem_size(f->type);
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
        uint32_t which = *(const uint32_t *)CM_PBD_MEMBER(msg, f->quantifier_offset);
        if (which != 0 && which != f->id)
            return; /* another member of the oneof came first; it wins */
    }
    void *member = CM_PBD_MEMBER(msg, f->offset);
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
    if (cm_pbd_is_map_entry(d) && d->fields[1].type == PROTOBUF_C_TYPE_MESSAGE &&
        !cm_pbd_field_present(msg, &d->fields[1]) && has_required_field(d->fields[1].descriptor))
        add_missing(c, d->fields[1].name);
    for (unsigned i = 0; i < d->n_fields && !c->err; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *member = CM_PBD_CMEMBER(msg, f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (f->type != PROTOBUF_C_TYPE_MESSAGE)
                continue;
            size_t n = *(const size_t *)CM_PBD_CMEMBER(msg, f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)member;
            for (size_t k = 0; k < n && arr; k++) {
                if (!arr[k])
                    continue;
                size_t old =
                    cm_field_path_push(c->path, sizeof c->path, &c->pathlen, f->name, (long)k);
                check_required_rec(c, arr[k], depth + 1);
                path_pop(c, old);
            }
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REQUIRED && cm_pbd_is_pointer_type(f->type) &&
            *(const void *const *)member == NULL) {
            add_missing(c, f->name);
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && cm_pbd_field_present(msg, f)) {
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
