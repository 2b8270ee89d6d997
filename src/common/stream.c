/* stream.c: one event, one RecordIO record, one chunk (stream.h). */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "http_server.h"
#include "recordio.h"

int cm_stream_frame(enum cm_media media, const ProtobufCMessage *event, uint8_t **out,
                    size_t *outlen)
{
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = cm_pb_encode(event, media, &payload, &len);
    if (rc)
        return rc;
    char hdr[24];
    size_t hlen = cm_recordio_header(len, hdr);
    /* Header and payload in one buffer: evhttp writes each chunk with its own size line, and
     * one record per chunk keeps the two framings aligned for clients that rely on it. */
    uint8_t *frame = malloc(hlen + len);
    if (!frame)
        abort();
    memcpy(frame, hdr, hlen);
    memcpy(frame + hlen, payload, len);
    free(payload);
    *out = frame;
    *outlen = hlen + len;
    return 0;
}

int cm_stream_send(struct cm_http_stream *stream, enum cm_media media,
                   const ProtobufCMessage *event)
{
    uint8_t *frame;
    size_t len;
    int rc = cm_stream_frame(media, event, &frame, &len);
    if (rc)
        return rc;
    rc = cm_http_stream_send(stream, frame, len);
    free(frame);
    return rc;
}
