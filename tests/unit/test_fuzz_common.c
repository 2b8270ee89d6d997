/* test_fuzz_common.c: deterministic mutation fuzzing of the untrusted-input parsers in
 * cm_common — pbjson (JSON -> protobuf), protobuf unpack + required-field check, RecordIO
 * framing, resources, IDs/roles and flag values. A fixed-seed xorshift PRNG and bounded
 * iteration counts keep every run identical and short (also under ASan+UBSan). The property
 * checked is "bad input never crashes": every call returns cleanly with either a usable result
 * or an error that explains itself. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "flags.h"
#include "ids.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/mesos.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "pbjson.h"
#include "recordio.h"
#include "resources.h"
#include "fuzz_util.h"
#include "test.h"

/* ---- pbjson ---- */

static const char *const sched_calls[] = {
    "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
    "\"id\":{\"value\":\"f1\"},\"failover_timeout\":10.5,\"checkpoint\":true,\"roles\":[\"a\","
    "\"b/c\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"},{\"type\":\"PARTITION_AWARE\"}],"
    "\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]}},\"suppressed_roles\":[\"b/c\"]}}",
    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"f1\"},\"accept\":{\"offer_ids\":[{"
    "\"value\":\"o1\"},{\"value\":\"o2\"}],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{"
    "\"task_infos\":[{\"name\":\"t\",\"task_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":"
    "\"a1\"},\"command\":{\"value\":\"sleep 1\",\"shell\":true,\"uris\":[{\"value\":\"http://x/"
    "y.tgz\",\"extract\":true}]},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
    "\"scalar\":{\"value\":0.5}},{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{"
    "\"begin\":31000,\"end\":31005}]}}],\"data\":\"aGVsbG8=\"}]}},{\"type\":\"RESERVE\","
    "\"reserve\":{\"resources\":[{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
    "64},\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"r\",\"principal\":\"p\"}]}]}}],"
    "\"filters\":{\"refuse_seconds\":5}}}",
    "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"f1\"},\"acknowledge\":{\"agent_id\":"
    "{\"value\":\"a1\"},\"task_id\":{\"value\":\"t1\"},\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}",
    "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"f1\"},\"reconcile\":{\"tasks\":[{"
    "\"task_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":\"a1\"}},{\"task_id\":{\"value\":"
    "\"t2\"}}]}}",
    "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"f1\"},\"decline\":{\"offer_ids\":[{"
    "\"value\":\"o1\"}],\"filters\":{\"refuse_seconds\":\"Infinity\"}}}",
    "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"f1\"},\"kill\":{\"task_id\":{\"value\":"
    "\"t1\"},\"kill_policy\":{\"grace_period\":{\"nanoseconds\":\"1000000000\"}}}}",
    "{\"type\":\"MESSAGE\",\"framework_id\":{\"value\":\"f1\"},\"message\":{\"agent_id\":{"
    "\"value\":\"a1\"},\"executor_id\":{\"value\":\"e\"},\"data\":\"AAEC\"}}",
};

static const char *const sched_events[] = {
    "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"f1\"},"
    "\"heartbeat_interval_seconds\":15,\"master_info\":{\"id\":\"m\",\"ip\":16777343,\"port\":"
    "5050,\"hostname\":\"h\",\"address\":{\"ip\":\"127.0.0.1\",\"port\":5050}}}}",
    "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"o1\"},\"framework_id\":{"
    "\"value\":\"f1\"},\"agent_id\":{\"value\":\"a1\"},\"hostname\":\"h\",\"resources\":[{"
    "\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024},\"role\":\"*\"},{\"name\":"
    "\"zones\",\"type\":\"SET\",\"set\":{\"item\":[\"a\",\"b\"]}}],\"attributes\":[{\"name\":"
    "\"rack\",\"type\":\"TEXT\",\"text\":{\"value\":\"r1\"}}]}]}}",
    "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t1\"},\"state\":"
    "\"TASK_FAILED\",\"source\":\"SOURCE_AGENT\",\"reason\":\"REASON_COMMAND_EXECUTOR_FAILED\","
    "\"message\":\"m\",\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\",\"timestamp\":1.5e9,\"healthy\":"
    "false,\"labels\":{\"labels\":[{\"key\":\"k\"}]}}}}",
    "{\"type\":\"RESCIND\",\"rescind\":{\"offer_id\":{\"value\":\"o1\"}}}",
    "{\"type\":\"ERROR\",\"error\":{\"message\":\"bad\"}}",
};

static const char *const task_infos[] = {
    "{\"name\":\"t\",\"task_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":\"a1\"},\"resources\":"
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}},{\"name\":\"ports\","
    "\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":1,\"end\":2},{\"begin\":5,\"end\":"
    "9}]}}],\"command\":{\"value\":\"/bin/true\",\"shell\":false,\"arguments\":[\"a\",\"b\"],"
    "\"environment\":{\"variables\":[{\"name\":\"X\",\"value\":\"1\"},{\"name\":\"S\",\"type\":"
    "\"SECRET\",\"secret\":{\"type\":\"VALUE\",\"value\":{\"data\":\"c2VjcmV0\"}}}]}},"
    "\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":\"true\"},\"delay_seconds\":"
    "1,\"interval_seconds\":2,\"consecutive_failures\":3},\"kill_policy\":{\"grace_period\":{"
    "\"nanoseconds\":5}},\"labels\":{\"labels\":[{\"key\":\"a\",\"value\":\"b\"}]},"
    "\"discovery\":{\"visibility\":\"FRAMEWORK\",\"ports\":{\"ports\":[{\"number\":80,"
    "\"protocol\":\"tcp\"}]}},\"max_completion_time\":{\"nanoseconds\":\"99\"}}",
    "{\"name\":\"d\",\"task_id\":{\"value\":\"t2\"},\"agent_id\":{\"value\":\"a1\"},\"container\":"
    "{\"type\":\"DOCKER\",\"docker\":{\"image\":\"busybox\",\"network\":\"BRIDGE\","
    "\"port_mappings\":[{\"host_port\":31000,\"container_port\":80}],\"parameters\":[{\"key\":"
    "\"k\",\"value\":\"v\"}]},\"volumes\":[{\"container_path\":\"/c\",\"mode\":\"RW\"}]},"
    "\"executor\":{\"executor_id\":{\"value\":\"e\"},\"command\":{\"value\":\"x\"}}}",
};

static const char *const executor_calls[] = {
    "{\"type\":\"UPDATE\",\"executor_id\":{\"value\":\"e\"},\"framework_id\":{\"value\":\"f\"},"
    "\"update\":{\"status\":{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\",\"uuid\":"
    "\"AAECAwQFBgcICQoLDA0ODw==\",\"data\":\"aGVsbG8=\",\"check_status\":{\"type\":\"COMMAND\","
    "\"command\":{\"exit_code\":0}}}}}",
    "{\"type\":\"SUBSCRIBE\",\"executor_id\":{\"value\":\"e\"},\"framework_id\":{\"value\":"
    "\"f\"},\"subscribe\":{\"unacknowledged_tasks\":[{\"name\":\"t\",\"task_id\":{\"value\":"
    "\"t\"},\"agent_id\":{\"value\":\"a\"}}],\"unacknowledged_updates\":[{\"status\":{"
    "\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_STARTING\"},\"uuid\":\"AAAA\"}]}}",
    "{\"type\":\"MESSAGE\",\"executor_id\":{\"value\":\"e\"},\"framework_id\":{\"value\":\"f\"},"
    "\"message\":{\"data\":\"////\"}}",
};

struct corpus {
    const ProtobufCMessageDescriptor *desc;
    const char *const *docs;
    size_t n;
};

static void corpora(struct corpus out[4])
{
    out[0] = (struct corpus){&mesos__v1__scheduler__call__descriptor, sched_calls,
                             sizeof sched_calls / sizeof sched_calls[0]};
    out[1] = (struct corpus){&mesos__v1__scheduler__event__descriptor, sched_events,
                             sizeof sched_events / sizeof sched_events[0]};
    out[2] = (struct corpus){&mesos__v1__task_info__descriptor, task_infos,
                             sizeof task_infos / sizeof task_infos[0]};
    out[3] = (struct corpus){&mesos__v1__executor__call__descriptor, executor_calls,
                             sizeof executor_calls / sizeof executor_calls[0]};
}

/* Parses text as desc; the outcome must be coherent. Returns the rc. */
static int parse_one(const ProtobufCMessageDescriptor *desc, const char *text, size_t len)
{
    char why[512];
    ProtobufCMessage *msg = NULL;
    why[0] = '\0';
    int rc = cm_pbjson_from_text(desc, text, len, &msg, why, sizeof why);
    if (rc == 0) {
        CHECK(msg != NULL);
        if (msg) {
            char *out = cm_pbjson_to_text(msg);
            CHECK(out != NULL);
            free(out);
            protobuf_c_message_free_unpacked(msg, NULL);
        }
    } else {
        CHECK(rc < 0);
        CHECK(msg == NULL);
        if (why[0] == '\0')
            fprintf(stderr, "empty why for rc %d on: %.200s\n", rc, text);
        CHECK(why[0] != '\0');
    }
    return rc;
}

static void test_pbjson_seeds_valid(void)
{
    struct corpus c[4];
    corpora(c);
    for (size_t k = 0; k < 4; k++)
        for (size_t i = 0; i < c[k].n; i++) {
            int rc = parse_one(c[k].desc, c[k].docs[i], strlen(c[k].docs[i]));
            if (rc)
                fprintf(stderr, "seed %zu/%zu does not parse\n", k, i);
            CHECK_INT(rc, 0);
        }
}

static void test_pbjson_wrong_types_everywhere(void)
{
    /* Every field of every seed gets every special value (deterministic, exhaustive). */
    struct corpus c[4];
    corpora(c);
    struct buf b = {0};
    size_t runs = 0;
    for (size_t k = 0; k < 4; k++)
        for (size_t i = 0; i < c[k].n; i++) {
            const char *doc = c[k].docs[i];
            size_t len = strlen(doc);
            for (size_t pos = 0; pos < len; pos++) {
                if (doc[pos] != ':')
                    continue;
                for (size_t s = 0; s < NSPECIAL; s++) {
                    buf_set(&b, doc, len);
                    replace_value_at(&b, pos, special_values[s]);
                    parse_one(c[k].desc, b.p, b.len);
                    runs++;
                }
            }
        }
    CHECK(runs > 1000);
    free(b.p);
}

static void test_pbjson_random_mutations(void)
{
    struct corpus c[4];
    corpora(c);
    struct rng r = {0x9e3779b97f4a7c15ull};
    struct buf b = {0};
    size_t ok = 0, bad = 0;
    for (size_t iter = 0; iter < 6000; iter++) {
        struct corpus *cc = &c[iter % 4];
        const char *doc = cc->docs[rng_below(&r, cc->n)];
        buf_set(&b, doc, strlen(doc));
        mutate(&r, &b);
        if (parse_one(cc->desc, b.p, b.len) == 0)
            ok++;
        else
            bad++;
    }
    /* Both outcomes must be exercised, or the mutator is useless. */
    CHECK(ok > 100);
    CHECK(bad > 100);
    free(b.p);
}

static void test_pbjson_pathological(void)
{
    struct corpus c[4];
    corpora(c);
    struct buf b = {0};
    /* 10000 '[' / '{"a":' — far past CM_PBJSON_MAX_DEPTH and jansson's own limit. */
    buf_set(&b, "", 0);
    buf_cat(&b, "");
    for (size_t i = 0; i < 10000; i++)
        buf_cat(&b, "[");
    for (size_t k = 0; k < 4; k++)
        CHECK(parse_one(c[k].desc, b.p, b.len) != 0);
    buf_set(&b, "", 0);
    buf_cat(&b, "");
    for (size_t i = 0; i < 10000; i++)
        buf_cat(&b, "{\"labels\":");
    for (size_t k = 0; k < 4; k++)
        CHECK(parse_one(c[k].desc, b.p, b.len) != 0);
    /* Deep but well-formed nesting inside a known message field. */
    buf_set(&b, "", 0);
    buf_cat(&b, "{\"type\":\"SUBSCRIBE\",\"subscribe\":");
    for (size_t i = 0; i < 500; i++)
        buf_cat(&b, "{\"framework_info\":");
    buf_cat(&b, "{}");
    for (size_t i = 0; i < 501; i++)
        buf_cat(&b, "}");
    parse_one(c[0].desc, b.p, b.len);
    /* Deep nesting through a repeated field of the right type. */
    buf_set(&b, "", 0);
    buf_cat(&b, "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":");
    for (size_t i = 0; i < 3000; i++)
        buf_cat(&b, "[");
    for (size_t i = 0; i < 3000; i++)
        buf_cat(&b, "]");
    buf_cat(&b, "}}");
    CHECK(parse_one(c[0].desc, b.p, b.len) != 0);
    /* Not objects at the top level, empty text, embedded NULs. */
    const char *tops[] = {"", " ", "[]", "1", "\"x\"", "null", "true", "{", "}", "{}}"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++)
        for (size_t k = 0; k < 4; k++)
            parse_one(c[k].desc, tops[i], strlen(tops[i]));
    static const char nul[] = "{\"type\":\"ERROR\",\"error\":{\"message\":\"a\0b\"}}";
    parse_one(c[1].desc, nul, sizeof nul - 1);
    /* A long string and a huge array of small objects. */
    buf_set(&b, "", 0);
    buf_cat(&b, "{\"type\":\"ERROR\",\"error\":{\"message\":\"");
    for (size_t i = 0; i < 100000; i++)
        buf_cat(&b, "x");
    buf_cat(&b, "\"}}");
    CHECK(parse_one(c[1].desc, b.p, b.len) == 0);
    buf_set(&b, "", 0);
    buf_cat(
        &b,
        "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"f\"},\"reconcile\":{\"tasks\":[");
    for (size_t i = 0; i < 5000; i++)
        buf_cat(&b, "{\"task_id\":{\"value\":\"t\"}},");
    buf_splice(&b, b.len - 1, 1, "]}}", 3);
    CHECK(parse_one(c[0].desc, b.p, b.len) == 0);
    free(b.p);
}

/* ---- protobuf input ---- */

static void test_protobuf_mutations(void)
{
    struct corpus c[4];
    corpora(c);
    struct rng r = {0x2545f4914f6cdd1dull};
    size_t decoded = 0;
    for (size_t k = 0; k < 4; k++)
        for (size_t i = 0; i < c[k].n; i++) {
            char why[512];
            ProtobufCMessage *msg = NULL;
            REQUIRE(cm_pbjson_from_text(c[k].desc, c[k].docs[i], strlen(c[k].docs[i]), &msg, why,
                                        sizeof why) == 0);
            size_t len = protobuf_c_message_get_packed_size(msg);
            uint8_t *wire = malloc(len + 64);
            REQUIRE(wire != NULL);
            protobuf_c_message_pack(msg, wire);
            protobuf_c_message_free_unpacked(msg, NULL);
            uint8_t *mut = malloc(len + 64);
            REQUIRE(mut != NULL);
            for (size_t iter = 0; iter < 600; iter++) {
                size_t mlen = len;
                memcpy(mut, wire, len);
                size_t nops = 1 + rng_below(&r, 3);
                for (size_t op = 0; op < nops; op++) {
                    switch (rng_below(&r, 4)) {
                    case 0:
                        if (mlen)
                            mut[rng_below(&r, mlen)] ^= (uint8_t)(1u << rng_below(&r, 8));
                        break;
                    case 1:
                        if (mlen)
                            mut[rng_below(&r, mlen)] = (uint8_t)rng_next(&r);
                        break;
                    case 2:
                        mlen = rng_below(&r, mlen + 1); /* truncate */
                        break;
                    default:
                        if (mlen < len + 60)
                            mut[mlen++] = (uint8_t)rng_next(&r); /* trailing garbage */
                        break;
                    }
                }
                ProtobufCMessage *u = protobuf_c_message_unpack(c[k].desc, NULL, mlen, mut);
                if (!u)
                    continue;
                decoded++;
                why[0] = '\0';
                int rc = cm_pbjson_check_required(u, why, sizeof why);
                CHECK(rc == 0 || (rc == CM_EINVAL && why[0] != '\0'));
                char *text = cm_pbjson_to_text(u);
                CHECK(text != NULL);
                /* What we print must read back as the same type, or fail with a reason. */
                if (text) {
                    parse_one(c[k].desc, text, strlen(text));
                    free(text);
                }
                protobuf_c_message_free_unpacked(u, NULL);
            }
            free(mut);
            free(wire);
        }
    CHECK(decoded > 100);
}

/* ---- RecordIO ---- */

struct rec_sink {
    size_t n;
    size_t bytes;
    uint8_t last[64];
    size_t last_len;
};

static int rec_cb(void *arg, const uint8_t *data, size_t len)
{
    struct rec_sink *s = arg;
    s->n++;
    s->bytes += len;
    s->last_len = len < sizeof s->last ? len : sizeof s->last;
    memcpy(s->last, data, s->last_len);
    return 0;
}

static void test_recordio_splits_and_corruption(void)
{
    struct rng r = {0xdeadbeefcafef00dull};
    /* A stream of 20 records of 1..100 bytes. */
    struct buf stream = {0};
    size_t total = 0;
    for (size_t i = 0; i < 20; i++) {
        size_t len = 1 + (i * 37) % 100;
        char hdr[24];
        size_t hl = cm_recordio_header(len, hdr);
        buf_splice(&stream, stream.len, 0, hdr, hl);
        for (size_t j = 0; j < len; j++) {
            char ch = (char)('a' + (i + j) % 26);
            buf_splice(&stream, stream.len, 0, &ch, 1);
        }
        total += len;
    }
    /* Clean stream, random splits: exactly the records, whatever the split. */
    for (size_t iter = 0; iter < 300; iter++) {
        struct cm_recordio_decoder d;
        struct rec_sink s = {0};
        cm_recordio_decoder_init(&d, 1024);
        size_t off = 0;
        int rc = 0;
        while (off < stream.len && rc == 0) {
            size_t n = 1 + rng_below(&r, 40);
            if (n > stream.len - off)
                n = stream.len - off;
            rc = cm_recordio_feed(&d, stream.p + off, n, rec_cb, &s);
            off += n;
        }
        CHECK_INT(rc, 0);
        CHECK_INT(s.n, 20);
        CHECK_INT(s.bytes, total);
        cm_recordio_decoder_cleanup(&d);
    }
    /* Corrupted streams: never crash; once failed, the decoder stays failed. */
    struct buf b = {0};
    size_t failures = 0;
    for (size_t iter = 0; iter < 3000; iter++) {
        buf_set(&b, stream.p, stream.len);
        size_t nops = 1 + rng_below(&r, 3);
        for (size_t op = 0; op < nops; op++) {
            size_t at = rng_below(&r, b.len);
            switch (rng_below(&r, 5)) {
            case 0: b.p[at] ^= (char)(1u << rng_below(&r, 8)); break;
            case 1: buf_splice(&b, at, 1 + rng_below(&r, 5), "", 0); break;
            case 2: buf_splice(&b, at, 0, "99999999999999999999999\n", 24); break;
            case 3: buf_splice(&b, at, 0, "0\n", 2); break;
            default: buf_splice(&b, at, 0, "-1\n\n\n", 5); break;
            }
        }
        struct cm_recordio_decoder d;
        struct rec_sink s = {0};
        cm_recordio_decoder_init(&d, 1 + rng_below(&r, 200));
        size_t off = 0;
        int rc = 0;
        while (off < b.len) {
            size_t n = 1 + rng_below(&r, 64);
            if (n > b.len - off)
                n = b.len - off;
            int rc2 = cm_recordio_feed(&d, b.p + off, n, rec_cb, &s);
            if (rc != 0)
                CHECK(rc2 != 0); /* sticky */
            if (rc2 != 0) {
                CHECK(rc2 == CM_EPROTO || rc2 == CM_ETOOBIG);
                rc = rc2;
            }
            off += n;
        }
        failures += rc != 0;
        CHECK(s.bytes <= b.len);
        cm_recordio_decoder_cleanup(&d);
    }
    CHECK(failures > 100);
    /* Pure random bytes. */
    for (size_t iter = 0; iter < 500; iter++) {
        uint8_t junk[256];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)(rng_below(&r, 4) ? '0' + rng_below(&r, 10) : rng_next(&r));
        struct cm_recordio_decoder d;
        struct rec_sink s = {0};
        cm_recordio_decoder_init(&d, 64);
        (void)cm_recordio_feed(&d, junk, sizeof junk, rec_cb, &s);
        CHECK(s.bytes <= sizeof junk);
        cm_recordio_decoder_cleanup(&d);
    }
    free(b.p);
    free(stream.p);
}

/* ---- resources ---- */

static void check_resources_normal(const struct cm_resources *res)
{
    for (size_t i = 0; i < res->n; i++) {
        const struct cm_resource *e = &res->v[i];
        CHECK(e->name != NULL && e->name[0] != '\0');
        CHECK(e->role != NULL);
        if (e->type == CM_VALUE_SCALAR)
            CHECK(e->scalar > 0);
        for (size_t j = 0; j < e->nranges; j++)
            CHECK(e->ranges[j].begin <= e->ranges[j].end);
    }
}

static void test_resources_mutations(void)
{
    static const char *const seeds[] = {
        "cpus:2;mem:1024;disk(role):10;ports:[31000-32000];x:{a,b}",
        "cpus(*):0.5; mem(r/s):64; ports(*):[1-5, 7-9, 100-100]; zones:{z1, z2, z3}",
        "gpus:1;cpus:1.001;mem:0.0001",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},{\"name\":\"ports\","
        "\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,\"end\":31010}]}},{\"name\":"
        "\"s\",\"type\":\"SET\",\"set\":{\"item\":[\"a\"]}},{\"name\":\"mem\",\"type\":\"SCALAR\","
        "\"scalar\":{\"value\":64},\"role\":\"r\",\"reservation\":{\"principal\":\"p\"}},"
        "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{"
        "\"type\":\"DYNAMIC\",\"role\":\"a\"},{\"type\":\"DYNAMIC\",\"role\":\"a/b\"}]}]",
    };
    static const char *const extra[] = {
        "cpus:-1",
        "cpus:nan",
        "cpus:inf",
        "cpus:1e308",
        "cpus:1e400",
        "ports:[5-1]",
        "ports:[0-18446744073709551615]",
        "ports:[1-18446744073709551616]",
        "ports:[-]",
        "x:{}",
        "x:{,}",
        ":1",
        "cpus:",
        "cpus(:1",
        "cpus():1",
        "cpus(a b):1",
        "cpus(..):1",
        ";;;",
        "[",
        "[]",
        "[null]",
        "[{}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\"}]",
        "[{\"name\":\"cpus\",\"type\":\"RANGES\",\"scalar\":{\"value\":1}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":\"NaN\"}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":\"-Infinity\"}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1e300}}]",
        "[{\"name\":\"p\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":9,\"end\":1}]}}]",
        "mem:9223372036854775807",
        "mem:9223372036854775.808",
        "disk:0.0004",
    };
    struct rng r = {0x1234567887654321ull};
    struct buf b = {0};
    char why[512];
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        struct cm_resources res;
        cm_resources_init(&res);
        int rc = cm_resources_parse(&res, seeds[i], NULL, why, sizeof why);
        if (rc)
            fprintf(stderr, "resource seed %zu: %s\n", i, why);
        CHECK_INT(rc, 0);
        cm_resources_cleanup(&res);
    }
    for (size_t iter = 0; iter < 4000 + sizeof extra / sizeof extra[0]; iter++) {
        if (iter < sizeof extra / sizeof extra[0]) {
            buf_set(&b, extra[iter], strlen(extra[iter]));
        } else {
            const char *seed = seeds[rng_below(&r, sizeof seeds / sizeof seeds[0])];
            buf_set(&b, seed, strlen(seed));
            mutate(&r, &b);
        }
        struct cm_resources res;
        cm_resources_init(&res);
        why[0] = '\0';
        int rc = cm_resources_parse(&res, b.p, iter % 3 ? NULL : "role/x", why, sizeof why);
        if (rc == 0) {
            check_resources_normal(&res);
            char *txt = cm_resources_format(&res);
            CHECK(txt != NULL);
            free(txt);
            json_decref(cm_resources_summary_json(&res));
            /* Arithmetic on whatever parsed stays normal and self-consistent. */
            struct cm_resources twice;
            cm_resources_init(&twice);
            cm_resources_copy(&twice, &res);
            cm_resources_add(&twice, &res);
            CHECK(cm_resources_contains(&twice, &res));
            check_resources_normal(&twice);
            /* Sets and ranges are not multisets, so x + x - x == x holds for scalars only;
             * x - x == {} and {} + x == x hold for everything. */
            cm_resources_clear(&twice);
            cm_resources_add(&twice, &res);
            CHECK(cm_resources_equal(&twice, &res));
            cm_resources_subtract(&twice, &res);
            CHECK(cm_resources_empty(&twice));
            Mesos__V1__Resource **pv = NULL;
            size_t pn = 0;
            cm_resources_to_proto(&res, "r", &pv, &pn);
            struct cm_resources back;
            cm_resources_init(&back);
            CHECK_INT(cm_resources_from_proto(&back, pv, pn, why, sizeof why), 0);
            CHECK(cm_resources_equal(&back, &res));
            cm_resources_proto_free(pv, pn);
            cm_resources_cleanup(&back);
            cm_resources_cleanup(&twice);
        } else {
            CHECK(why[0] != '\0');
        }
        cm_resources_cleanup(&res);
    }
    free(b.p);
}

/* ---- ids, roles, flag values ---- */

static void test_ids_and_roles(void)
{
    struct rng r = {0x0badc0ffee0ddf00ull};
    static const char alphabet[] = "ab./\\*- \t\n\x01\x7f\xff_-.";
    char s[300];
    for (size_t iter = 0; iter < 20000; iter++) {
        size_t len = rng_below(&r, iter % 10 ? 12 : 300);
        for (size_t i = 0; i < len; i++)
            s[i] = iter % 2 ? alphabet[rng_below(&r, sizeof alphabet - 1)]
                            : (char)(1 + rng_below(&r, 255));
        s[len] = '\0';
        const char *why = NULL;
        int rc = cm_id_validate(s, &why);
        CHECK(rc == 0 || (rc == CM_EINVAL && why && why[0]));
        if (rc == 0)
            CHECK(len > 0 && len <= CM_ID_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
                  strcmp(s, "..") != 0);
        why = NULL;
        /* With embedded NULs through the length-taking variant. */
        if (len)
            s[rng_below(&r, len)] = iter % 5 ? s[0] : '\0';
        rc = cm_id_validate_n(s, len, &why);
        CHECK(rc == 0 || (rc == CM_EINVAL && why && why[0]));
        if (rc == 0)
            CHECK(memchr(s, '\0', len) == NULL);
        why = NULL;
        rc = cm_role_validate(s, &why);
        CHECK(rc == 0 || (rc == CM_EINVAL && why && why[0]));
    }
}

static void test_duration_and_bytes(void)
{
    struct rng r = {0xfeedfacefeedfaceull};
    static const char *const parts[] = {
        "0",
        "1",
        "9",
        ".",
        "5",
        "-",
        "+",
        "e",
        "E",
        "ns",
        "us",
        "ms",
        "secs",
        "mins",
        "hrs",
        "days",
        "weeks",
        "B",
        "KB",
        "MB",
        "GB",
        "TB",
        " ",
        "inf",
        "nan",
        "x",
        "\xff",
        "0x1p3",
        "99999999999999999999999999999999999999999999999999999999999999999999999999"};
    char s[512];
    for (size_t iter = 0; iter < 20000; iter++) {
        size_t n = 0, parts_n = rng_below(&r, 6);
        s[0] = '\0';
        for (size_t i = 0; i < parts_n; i++) {
            const char *p = parts[rng_below(&r, sizeof parts / sizeof parts[0])];
            size_t pl = strlen(p);
            if (n + pl >= sizeof s)
                break;
            memcpy(s + n, p, pl);
            n += pl;
        }
        if (iter % 7 == 0 && n + 1 < sizeof s)
            s[n++] = (char)(1 + rng_below(&r, 255));
        s[n] = '\0';
        double secs = -42;
        int rc = cm_duration_parse(s, &secs);
        CHECK(rc == 0 || rc == CM_EINVAL);
        if (rc == 0)
            CHECK(isfinite(secs) && secs >= 0);
        uint64_t bytes = 0;
        rc = cm_bytes_parse(s, &bytes);
        CHECK(rc == 0 || rc == CM_EINVAL);
    }
    double secs;
    uint64_t bytes;
    CHECK(cm_duration_parse(NULL, &secs) != 0);
    CHECK(cm_bytes_parse(NULL, &bytes) != 0);
    CHECK(cm_bytes_parse("18446744073709551616B", &bytes) != 0);
    CHECK(cm_bytes_parse("99999999999TB", &bytes) != 0);
}

TEST_MAIN(TEST(test_pbjson_seeds_valid), TEST(test_pbjson_wrong_types_everywhere),
          TEST(test_pbjson_random_mutations), TEST(test_pbjson_pathological),
          TEST(test_protobuf_mutations), TEST(test_recordio_splits_and_corruption),
          TEST(test_resources_mutations), TEST(test_ids_and_roles), TEST(test_duration_and_bytes))
