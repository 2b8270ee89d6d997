/* fuzz_recordio.c: the incremental RecordIO decoder, alone and inside the client stream decoder
 * (RecordIO, then cm_pb_decode, as the scheduler and executor libraries read their streams).
 *
 * Input: byte 0 picks the target (bits 0-1: raw RecordIO, a scheduler Event stream, an executor
 * Event stream; bit 2: JSON or protobuf records), bytes 1-2 the record cap, bytes 3-4 seed the
 * split points, the rest is the stream. The stream is decoded twice, in one feed and in
 * fuzzer-chosen pieces; both must give the same records and end in the same state, every
 * record within the cap, and an error must stick. */
#include "errors.h"
#include "fuzz.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "recordio.h"
#include "stream_client.h"

struct seen {
    size_t n, bytes, max_record;
    uint64_t hash; /* FNV-1a over every record, in order, with its length */
};

static void mix(struct seen *s, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        s->hash = (s->hash ^ p[i]) * 1099511628211ull;
    s->hash = (s->hash ^ len) * 1099511628211ull;
}

static int on_record(void *arg, const uint8_t *data, size_t len)
{
    struct seen *s = arg;
    FUZZ_ASSERT(len > 0 && len <= s->max_record);
    s->n++;
    s->bytes += len;
    mix(s, data, len);
    return 0;
}

static void on_event(void *arg, const ProtobufCMessage *ev)
{
    struct seen *s = arg;
    size_t len = protobuf_c_message_get_packed_size(ev);
    uint8_t *wire = malloc(len + 1);
    FUZZ_ASSERT(wire != NULL);
    protobuf_c_message_pack(ev, wire);
    s->n++;
    mix(s, wire, len);
    free(wire);
}

/* Next piece length from a small xorshift state: mostly short pieces, sometimes long. */
static size_t next_piece(uint32_t *st, size_t left)
{
    uint32_t x = *st ? *st : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *st = x;
    size_t n = x & 8 ? 1 + x % 7 : 1 + x % 300;
    return n < left ? n : left;
}

static int run_raw(const uint8_t *p, size_t len, size_t cap, uint32_t seed, bool split,
                   struct seen *s)
{
    struct cm_recordio_decoder d;
    cm_recordio_decoder_init(&d, cap);
    s->max_record = cap;
    int rc = 0;
    if (!split) {
        rc = cm_recordio_feed(&d, p, len, on_record, s);
    } else {
        size_t off = 0;
        while (off < len) {
            size_t n = next_piece(&seed, len - off);
            int r = cm_recordio_feed(&d, p + off, n, on_record, s);
            if (rc != 0)
                FUZZ_ASSERT(r == rc); /* sticky */
            if (r != 0)
                rc = r;
            off += n;
        }
    }
    FUZZ_ASSERT(rc == 0 || rc == CM_EPROTO || rc == CM_ETOOBIG);
    FUZZ_ASSERT(s->bytes <= len);
    cm_recordio_decoder_cleanup(&d);
    return rc;
}

static int run_stream(const ProtobufCMessageDescriptor *desc, enum cm_media media, const uint8_t *p,
                      size_t len, size_t cap, uint32_t seed, bool split, struct seen *s)
{
    struct cm_stream_decoder *d = cm_stream_decoder_new(desc, media, cap, NULL, on_event, s);
    FUZZ_ASSERT(d != NULL);
    char why[512];
    int rc = 0;
    size_t off = 0;
    while (off < len || (!split && off == 0)) {
        size_t n = split ? next_piece(&seed, len - off) : len;
        why[0] = '\0';
        int r = cm_stream_decoder_feed(d, p + off, n, why, sizeof why);
        if (rc != 0)
            FUZZ_ASSERT(r == rc);
        if (r != 0) {
            FUZZ_ASSERT(why[0] != '\0');
            rc = r;
        }
        off += n;
        if (!split)
            break;
    }
    FUZZ_ASSERT(rc == 0 || rc == CM_EPROTO || rc == CM_ETOOBIG || rc == CM_EPARSE ||
                rc == CM_EINVAL);
    cm_stream_decoder_free(d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    unsigned target = data[0] & 3;
    enum cm_media media = data[0] & 4 ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON;
    size_t cap = 1 + ((size_t)data[1] | (size_t)data[2] << 8) % 8192;
    uint32_t seed = (uint32_t)data[3] | (uint32_t)data[4] << 8;
    const uint8_t *p = data + 5;
    size_t len = size - 5;

    struct seen whole = {.hash = 14695981039346656037ull};
    struct seen pieces = {.hash = 14695981039346656037ull};
    int rc1, rc2;
    if (target == 0 || target == 3) {
        rc1 = run_raw(p, len, cap, seed, false, &whole);
        rc2 = run_raw(p, len, cap, seed, true, &pieces);
    } else {
        const ProtobufCMessageDescriptor *desc = target == 1
                                                     ? &mesos__v1__scheduler__event__descriptor
                                                     : &mesos__v1__executor__event__descriptor;
        rc1 = run_stream(desc, media, p, len, cap, seed, false, &whole);
        rc2 = run_stream(desc, media, p, len, cap, seed, true, &pieces);
    }
    if (rc1 != rc2 || whole.n != pieces.n || whole.hash != pieces.hash)
        fprintf(stderr, "split changes the outcome: rc %d/%d records %zu/%zu\n", rc1, rc2, whole.n,
                pieces.n);
    FUZZ_ASSERT(rc1 == rc2);
    FUZZ_ASSERT(whole.n == pieces.n && whole.hash == pieces.hash);
    return 0;
}
