/*
 * pbjson_write.h: protobuf -> JSON text written straight into a json_out buffer, with the
 * mapping of pbjson.h, without building a jansson tree (the state endpoints' path).
 *
 * Keeps no state (thread-safe as far as w is the caller's own); aborts on out-of-memory.
 */
#ifndef CM_PBJSON_WRITE_H
#define CM_PBJSON_WRITE_H

#include <protobuf-c/protobuf-c.h>

struct cm_json_out;

/* Writes msg (NULL: an empty object) to w as the text json_dumps(JSON_COMPACT) prints for
 * cm_pbjson_to_json(msg), byte for byte, without building the tree (json_out.h). */
void cm_pbjson_write(struct cm_json_out *w, const ProtobufCMessage *msg);

#endif
