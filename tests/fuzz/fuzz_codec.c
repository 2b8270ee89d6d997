/* fuzz_codec.c: cm_pb_decode by media type, the one door every message from outside passes
 * (HTTP bodies, agent-link records, checkpoints), and cm_pb_encode back.
 *
 * Input: byte 0 picks the message type (bits 2..) and the media (bits 0-1: none, JSON,
 * protobuf, unsupported); the rest is the body. Properties: only JSON and protobuf decode; a
 * refusal says why and returns nothing; what is accepted has its required fields, only
 * declared enum values, and encodes in both media to bodies that decode to the same message. */
#include "codec.h"
#include "errors.h"
#include "fuzz.h"
#include "fuzz_msgs.h"
#include "fuzz_pb.h"
#include "pbjson.h"

static uint8_t *packed(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *w = malloc(*len + 1);
    FUZZ_ASSERT(w != NULL);
    protobuf_c_message_pack(msg, w);
    return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *desc = fuzz_msgs[(data[0] >> 2) % FUZZ_NMSGS];
    static const enum cm_media medias[] = {CM_MEDIA_NONE, CM_MEDIA_JSON, CM_MEDIA_PROTOBUF,
                                           CM_MEDIA_UNSUPPORTED};
    enum cm_media media = medias[data[0] & 3];
    data++;
    size--;

    char why[512];
    why[0] = '\0';
    ProtobufCMessage *msg = NULL;
    int rc = cm_pb_decode(desc, media, data, size, &msg, why, sizeof why);
    if (media != CM_MEDIA_JSON && media != CM_MEDIA_PROTOBUF)
        FUZZ_ASSERT(rc != 0);
    if (rc != 0) {
        FUZZ_ASSERT(rc == CM_EINVAL || rc == CM_EPARSE || rc == CM_ETOOBIG);
        FUZZ_ASSERT(msg == NULL && why[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(msg && msg->descriptor == desc);
    FUZZ_ASSERT(enums_declared(msg));
    FUZZ_ASSERT(cm_pbjson_check_required(msg, why, sizeof why) == 0);

    size_t n0 = 0;
    uint8_t *w0 = packed(msg, &n0);
    for (int m = CM_MEDIA_JSON; m <= CM_MEDIA_PROTOBUF; m++) {
        uint8_t *body = NULL;
        size_t blen = 0;
        FUZZ_ASSERT(cm_pb_encode(msg, (enum cm_media)m, &body, &blen) == 0);
        ProtobufCMessage *back = NULL;
        rc = cm_pb_decode(desc, (enum cm_media)m, body, blen, &back, why, sizeof why);
        if (rc != 0)
            fprintf(stderr, "encoded %s does not decode: %s\n", m == CM_MEDIA_JSON ? "JSON" : "pb",
                    why);
        FUZZ_ASSERT(rc == 0);
        size_t n1 = 0;
        uint8_t *w1 = packed(back, &n1);
        /* JSON carries no unknown fields, so compare through a second JSON pass for it. */
        if (m == CM_MEDIA_PROTOBUF) {
            FUZZ_ASSERT(n1 == n0 && memcmp(w0, w1, n0) == 0);
        } else {
            char *t0 = cm_pbjson_to_text(msg), *t1 = cm_pbjson_to_text(back);
            FUZZ_ASSERT(strcmp(t0, t1) == 0);
            free(t0);
            free(t1);
        }
        free(w1);
        protobuf_c_message_free_unpacked(back, NULL);
        free(body);
    }
    free(w0);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}
