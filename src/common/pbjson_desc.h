/*
 * pbjson_desc.h: what the three parts of the converter share (pbjson.c, the tree;
 * pbjson_write.c, the direct writer; pbjson_parse.c, JSON -> protobuf): protobuf-c descriptor
 * helpers (pbjson_desc.c) and the tree form of a map (pbjson.c). Internal to those files:
 * nothing else includes it.
 *
 * A proto2 map field is a repeated message field whose type is named *Entry and has exactly the
 * fields "key" and "value". All functions are pure and keep no state (thread-safe); the ones
 * that allocate abort on out-of-memory.
 */
#ifndef CM_PBJSON_DESC_H
#define CM_PBJSON_DESC_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* The field at byte offset off of message msg (writable, read-only). */
#define CM_PBD_MEMBER(msg, off) ((void *)((char *)(msg) + (off)))
#define CM_PBD_CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

/* j itself; aborts when it is NULL (a jansson constructor out of memory). */
json_t *cm_pbd_xjson(json_t *j);

/* Whether d is a map entry type, and whether f is a map field. */
bool cm_pbd_is_map_entry(const ProtobufCMessageDescriptor *d);
bool cm_pbd_is_map_field(const ProtobufCFieldDescriptor *f);

/* The size of one element of a repeated field of type t in protobuf-c's layout. */
size_t cm_pbd_elem_size(ProtobufCType t);

/* Whether a field of type t is held by pointer (strings and messages). */
bool cm_pbd_is_pointer_type(ProtobufCType t);

/* Whether the singular field f of msg holds a value (as opposed to its default or nothing). */
bool cm_pbd_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);

/* The JSON object key (malloc'd; the caller frees) for a map entry's key value at p, of the
 * key field kf: a string key that is not UTF-8 has its non-ASCII bytes replaced by '?'. */
char *cm_pbd_map_key(const ProtobufCFieldDescriptor *kf, const void *p);

/* The JSON object for the n entries of map field f (pbjson.c; the writer's path for large
 * maps): a NULL entry is skipped, a repeated key keeps its first place and its last value. */
json_t *cm_pbd_map_to_json(const ProtobufCFieldDescriptor *f, size_t n,
                           ProtobufCMessage *const *entries);

#endif
