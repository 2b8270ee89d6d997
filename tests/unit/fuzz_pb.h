/*
 * fuzz_pb.h: protobuf checks shared by the fuzz unit tests and the libFuzzer harnesses
 * (tests/fuzz): whether a decoded message holds only declared enum values, at any depth.
 * Header-only (static inline), like fuzz_util.h.
 */
#ifndef CM_FUZZ_PB_H
#define CM_FUZZ_PB_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* True when every enum in msg (recursively) holds a value its descriptor declares. */
static inline bool enums_declared(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const char *base = (const char *)msg;
        if (fd->type != PROTOBUF_C_TYPE_ENUM && fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            void *arr = *(void *const *)(base + fd->offset);
            for (size_t k = 0; k < n; k++) {
                if (fd->type == PROTOBUF_C_TYPE_ENUM
                        ? !cm_enum_name(fd->descriptor, ((const int *)arr)[k])
                        : !enums_declared(((ProtobufCMessage *const *)arr)[k]))
                    return false;
            }
            continue;
        }
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + fd->offset);
            if (sub && !enums_declared(sub))
                return false;
            continue;
        }
        bool present = true;
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            present = *(const uint32_t *)(base + fd->quantifier_offset) == fd->id;
        else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL)
            present = *(const protobuf_c_boolean *)(base + fd->quantifier_offset);
        if (present && !cm_enum_name(fd->descriptor, *(const int *)(base + fd->offset)))
            return false;
    }
    return true;
}

#endif
