/* stream.c: one event, one RecordIO record, one chunk (stream.h). */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "http_server.h"
#include "recordio.h"

/* Events up to this size (framed) are built on the stack: no allocation per event. */
#define STACK_FRAME 4096

/* The RecordIO header "<decimal length>\n" into out (at least 22 bytes); returns its length.
 * The same bytes as cm_recordio_header, without a printf per event. */
static size_t record_header(size_t n, char *out)
{
    char tmp[24];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (size_t i = 0; i < k; i++)
        out[i] = tmp[k - 1 - i];
    out[k] = '\n';
    return k + 1;
}

/* Packs a protobuf event framed into buf (hlen + len bytes, from record_header). */
static void frame_protobuf(const ProtobufCMessage *event, size_t len, uint8_t *buf)
{
    size_t hlen = record_header(len, (char *)buf);
    protobuf_c_message_pack(event, buf + hlen);
}

int cm_stream_frame(enum cm_media media, const ProtobufCMessage *event, uint8_t **out,
                    size_t *outlen)
{
    char hdr[24];
    if (media == CM_MEDIA_PROTOBUF) {
        /* Header and payload in one buffer, packed in place. */
        size_t len = protobuf_c_message_get_packed_size(event);
        size_t hlen = record_header(len, hdr);
        uint8_t *frame = malloc(hlen + len);
        if (!frame)
            abort();
        frame_protobuf(event, len, frame);
        *out = frame;
        *outlen = hlen + len;
        return 0;
    }
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = cm_pb_encode(event, media, &payload, &len);
    if (rc)
        return rc;
    size_t hlen = record_header(len, hdr);
    /* Header and payload in one buffer: one record is one piece of the stream's output. */
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
    if (media == CM_MEDIA_PROTOBUF) {
        size_t len = protobuf_c_message_get_packed_size(event);
        if (len + 24 <= STACK_FRAME) {
            uint8_t buf[STACK_FRAME];
            char hdr[24];
            size_t hlen = record_header(len, hdr);
            frame_protobuf(event, len, buf);
            return cm_http_stream_send(stream, buf, hlen + len);
        }
    }
    uint8_t *frame;
    size_t len;
    int rc = cm_stream_frame(media, event, &frame, &len);
    if (rc)
        return rc;
    rc = cm_http_stream_send(stream, frame, len);
    free(frame);
    return rc;
}
