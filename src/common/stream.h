/*
 * stream.h: the server side of the v1 event streams (scheduler SUBSCRIBE, executor SUBSCRIBE,
 * the agent link): one event becomes one RecordIO record in one HTTP chunk.
 *
 * The event is encoded in the stream's media type by cm_pb_encode (JSON or protobuf), framed
 * as "<length>\n<bytes>" (docs/wire-protocol.md §1.4) and handed to cm_http_stream_send as a single
 * chunk, so a client never sees a record split across chunks by us. Back-pressure is the HTTP
 * server's: a subscriber that stops reading is cut off once its unsent bytes pass the server's
 * cap (http_server.h), and this function then returns CM_ECLOSED; the stream's close callback
 * follows from the loop. The HTTP server writes the chunks of one loop turn together.
 *
 * No state; runs on the server's loop thread (the stream's).
 */
#ifndef CM_STREAM_H
#define CM_STREAM_H

#include <protobuf-c/protobuf-c.h>

#include "codec.h"

struct cm_http_stream;

/* Encodes event in media, frames it and sends it as one chunk. event is borrowed. Returns 0,
 * CM_EINVAL for a media type that is neither JSON nor protobuf (nothing sent), or CM_ECLOSED
 * when the peer is gone or was just cut off for not reading. */
int cm_stream_send(struct cm_http_stream *stream, enum cm_media media,
                   const ProtobufCMessage *event);

/* Builds the framed record for event into a new buffer (*out, *outlen; free() it), for
 * callers that send one record to several streams or through a test seam. Returns 0 or
 * CM_EINVAL as cm_stream_send. */
int cm_stream_frame(enum cm_media media, const ProtobufCMessage *event, uint8_t **out,
                    size_t *outlen);

#endif
