/* pbjson_desc.c: see pbjson_desc.h. */
#include "pbjson_desc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *cm_pbd_xjson(json_t *j)
{
    if (!j)
        abort();
    return j;
}

bool cm_pbd_is_map_entry(const ProtobufCMessageDescriptor *d)
{
    if (!d || d->n_fields != 2)
        return false;
    size_t nl = strlen(d->name);
    if (nl < 5 || strcmp(d->name + nl - 5, "Entry") != 0)
        return false;
    return strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

bool cm_pbd_is_map_field(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
           cm_pbd_is_map_entry(f->descriptor);
}

size_t cm_pbd_elem_size(ProtobufCType t)
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

bool cm_pbd_is_pointer_type(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_STRING || t == PROTOBUF_C_TYPE_MESSAGE;
}

/* Whether a singular field holds a value (as opposed to its default or nothing). */
bool cm_pbd_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *member = CM_PBD_CMEMBER(msg, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)CM_PBD_CMEMBER(msg, f->quantifier_offset) == f->id;
    if (cm_pbd_is_pointer_type(f->type)) {
        const void *p = *(const void *const *)member;
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
            return p != NULL && p != f->default_value;
        return p != NULL;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)CM_PBD_CMEMBER(msg, f->quantifier_offset) != 0;
    return true;
}

/* The JSON object key for a map entry's key value. */
char *cm_pbd_map_key(const ProtobufCFieldDescriptor *kf, const void *p)
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
