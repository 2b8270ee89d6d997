/* fuzz_pbjson.c: the JSON <-> protobuf converter and the protobuf decoder on the messages that
 * arrive from outside (fuzz_msgs.h). The first byte picks the message type (bits 1..) and the
 * form (bit 0: 0 JSON text, 1 protobuf wire); the rest is the body.
 *
 * Properties: a refusal says why and returns nothing; whatever is accepted prints as JSON that
 * reads back to the same message (same JSON again, same wire bytes), and its wire form decodes
 * back to the same message. */
#include <stdbool.h>

#include "codec.h"
#include "errors.h"
#include "fuzz.h"
#include "fuzz_msgs.h"
#include "fuzz_pb.h"
#include "json_out.h"
#include "pbjson.h"

static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *wire = malloc(*len + 1);
    FUZZ_ASSERT(wire != NULL);
    FUZZ_ASSERT(protobuf_c_message_pack(msg, wire) == *len);
    return wire;
}

/* The direct writer prints what the json_t tree dumps, byte for byte. */
static void direct_matches_tree(const ProtobufCMessage *msg)
{
    json_t *j = cm_pbjson_to_json(msg);
    char *tree = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    FUZZ_ASSERT(tree != NULL);
    struct cm_json_out w = CM_JSON_OUT_INIT;
    cm_pbjson_write(&w, msg);
    if (strcmp(tree, w.data) != 0)
        fprintf(stderr, "direct JSON differs:\n%s\n%s\n", tree, w.data);
    FUZZ_ASSERT(strcmp(tree, w.data) == 0);
    cm_json_out_cleanup(&w);
    free(tree);
}

/* msg was accepted: check the round trips. */
static void round_trips(const ProtobufCMessageDescriptor *desc, const ProtobufCMessage *msg)
{
    char why[512];
    direct_matches_tree(msg);
    char *text = cm_pbjson_to_text(msg);
    FUZZ_ASSERT(text != NULL);

    /* JSON -> message -> JSON is a fixed point. */
    ProtobufCMessage *again = NULL;
    why[0] = '\0';
    int rc = cm_pbjson_from_text(desc, text, strlen(text), &again, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "printed JSON does not read back (%d: %s): %s\n", rc, why, text);
    FUZZ_ASSERT(rc == 0);
    char *text2 = cm_pbjson_to_text(again);
    FUZZ_ASSERT(text2 != NULL);
    if (strcmp(text, text2) != 0)
        fprintf(stderr, "JSON round trip differs:\n%s\n%s\n", text, text2);
    FUZZ_ASSERT(strcmp(text, text2) == 0);

    /* Both wire forms decode (with the required-field and enum checks) to the same message.
     * (They may differ: printing fills in explicit defaults, and a protobuf body may carry
     * unknown fields, which JSON does not keep.) */
    size_t n1 = 0, n2 = 0;
    uint8_t *w1 = pack(msg, &n1), *w2 = pack(again, &n2);
    ProtobufCMessage *back = NULL;
    rc = cm_pb_decode(desc, CM_MEDIA_PROTOBUF, w1, n1, &back, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "wire form does not decode (%d: %s): %s\n", rc, why, text);
    FUZZ_ASSERT(rc == 0);
    char *text3 = cm_pbjson_to_text(back);
    FUZZ_ASSERT(strcmp(text, text3) == 0);
    protobuf_c_message_free_unpacked(back, NULL);
    free(text3);
    rc = cm_pb_decode(desc, CM_MEDIA_PROTOBUF, w2, n2, &back, why, sizeof why);
    FUZZ_ASSERT(rc == 0);
    text3 = cm_pbjson_to_text(back);
    FUZZ_ASSERT(strcmp(text, text3) == 0);
    free(text3);
    protobuf_c_message_free_unpacked(back, NULL);
    free(w1);
    free(w2);
    free(text2);
    protobuf_c_message_free_unpacked(again, NULL);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *desc = fuzz_msgs[(data[0] >> 1) % FUZZ_NMSGS];
    enum cm_media media = data[0] & 1 ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON;
    data++;
    size--;

    char why[512];
    why[0] = '\0';
    ProtobufCMessage *msg = NULL;
    int rc = cm_pb_decode(desc, media, data, size, &msg, why, sizeof why);
    if (rc != 0) {
        FUZZ_ASSERT(rc == CM_EINVAL || rc == CM_EPARSE || rc == CM_ETOOBIG);
        FUZZ_ASSERT(msg == NULL);
        FUZZ_ASSERT(why[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(msg != NULL && msg->descriptor == desc);
    FUZZ_ASSERT(enums_declared(msg));
    round_trips(desc, msg);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}
