/* test_master_fuzz.c: deterministic mutation fuzzing of the master's untrusted inputs through
 * its in-process APIs (no sockets, fake clock): scheduler calls in JSON and protobuf, and agent
 * calls. Every call must answer with a documented status code, and afterwards the master must
 * still be whole: with every framework gone nothing is used or offered on any agent, and a
 * fresh framework is offered each agent's full (unreserved) resources. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "agent_link.h"
#include "fuzz_pb.h"
#include "fuzz_util.h"
#include "master.h"
#include "test.h"
#include "master_drive.h"
#include "scheduler_calls.h"
#include "pbjson.h"

#define T(id, res)                                                                                 \
    "{\"name\":\"t\",\"task_id\":{\"value\":" id "},\"agent_id\":{\"value\":\"@A\"},"              \
    "\"command\":{\"value\":\"true\"},\"resources\":[" res "]}"
#define CPUS(v) "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" v "}}"
#define ACCEPT(offers, tasks)                                                                      \
    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"@F\"},\"accept\":{\"offer_ids\":[" offers  \
    "],\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[" tasks "]}}]}}"
#define OID "{\"value\":\"@O\"}"

static const char *const sched_seeds[] = {
    ACCEPT(OID, T("\"t1\"", CPUS("1"))),
    ACCEPT(OID, T("\"\"", CPUS("1")) "," T("\"..\"", CPUS("1")) "," T("\"a/b\"", CPUS("1"))),
    ACCEPT(OID, T("\"@H\"", CPUS("1"))),
    ACCEPT(OID, T("\"neg\"", CPUS("-1")) "," T("\"nan\"", CPUS("\"NaN\"")) "," T(
                    "\"inf\"", CPUS("\"Infinity\"")) "," T("\"huge\"", CPUS("1e300"))),
    ACCEPT(OID "," OID, T("\"dup\"", CPUS("0.5")) "," T("\"dup\"", CPUS("0.5"))),
    ACCEPT(OID, T("\"ports\"", "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{"
                               "\"begin\":31010,\"end\":31000}]}}")),
    ACCEPT(OID, T("\"ports2\"", "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{"
                                "\"begin\":31000,\"end\":31005},{\"begin\":31003,\"end\":"
                                "31008}]}}," CPUS("0.1"))),
    ACCEPT(OID, T("\"odd\"", "{\"name\":\"gpus\",\"type\":\"SET\",\"set\":{\"item\":[\"x\"]}},{"
                             "\"name\":\"cpus\",\"type\":\"RANGES\"},{\"name\":\"\",\"type\":"
                             "\"SCALAR\",\"scalar\":{\"value\":1}}")),
    ACCEPT(OID, "{\"name\":\"x\",\"task_id\":{\"value\":\"ex\"},\"agent_id\":{\"value\":\"@A\"},"
                "\"executor\":{\"executor_id\":{\"value\":\"../e\"},\"command\":{\"value\":"
                "\"x\"}},\"command\":{\"value\":\"y\"},\"resources\":[" CPUS("1") "]}"),
    ACCEPT("{\"value\":\"no-such-offer\"}", T("\"t9\"", CPUS("1"))),
    ACCEPT("", T("\"t10\"", CPUS("1"))),
    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"@F\"},\"accept\":{\"offer_ids\":[" OID
    "],\"operations\":[{\"type\":\"LAUNCH_GROUP\",\"launch_group\":{\"executor\":{\"executor_id\":"
    "{\"value\":\"ge\"},\"type\":\"DEFAULT\",\"resources\":[" CPUS(
        "0.1") "]},\"task_group\":{"
               "\"tasks\":[" T("\"g1\"", CPUS("0.2")) "," T("\"g1\"",
                                                            CPUS("0.2")) "]}}},{\"type\":"
                                                                         "\"UNKNOWN\"}]}}",
    "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"@F\"},\"acknowledge\":{\"agent_id\":{"
    "\"value\":\"@A\"},\"task_id\":{\"value\":\"t1\"},\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}",
    "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"@F\"},\"acknowledge\":{\"agent_id\":{"
    "\"value\":\"nope\"},\"task_id\":{\"value\":\"zz\"},\"uuid\":\"\"}}",
    "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"@F\"},\"acknowledge\":{\"agent_id\":{"
    "\"value\":\"@A\"},\"task_id\":{\"value\":\"t1\"},\"uuid\":\"!!!!\"}}",
    "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"@F\"},\"reconcile\":{\"tasks\":[@R]}}",
    "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"@F\"},\"reconcile\":{}}",
    "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"@F\"},\"kill\":{\"task_id\":{\"value\":"
    "\"unknown\"},\"agent_id\":{\"value\":\"@A\"}}}",
    "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"@F\"},\"kill\":{\"task_id\":{\"value\":"
    "\"t1\"},\"kill_policy\":{\"grace_period\":{\"nanoseconds\":-5}}}}",
    "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"@F\"},\"decline\":{\"offer_ids\":[" OID
    "," OID "],\"filters\":{\"refuse_seconds\":\"NaN\"}}}",
    "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"@F\"},\"decline\":{\"offer_ids\":[" OID
    "],\"filters\":{\"refuse_seconds\":-1e308}}}",
    "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"@F\"},\"revive\":{\"roles\":[\"x\"]}}",
    "{\"type\":\"SUPPRESS\",\"framework_id\":{\"value\":\"@F\"},\"suppress\":{\"roles\":[\"*\"]}}",
    "{\"type\":\"MESSAGE\",\"framework_id\":{\"value\":\"@F\"},\"message\":{\"agent_id\":{"
    "\"value\":\"@A\"},\"executor_id\":{\"value\":\"e\"},\"data\":\"AAEC\"}}",
    "{\"type\":\"SHUTDOWN\",\"framework_id\":{\"value\":\"@F\"},\"shutdown\":{\"executor_id\":{"
    "\"value\":\"e\"},\"agent_id\":{\"value\":\"@A\"}}}",
    "{\"type\":\"REQUEST\",\"framework_id\":{\"value\":\"@F\"},\"request\":{\"requests\":[{"
    "\"resources\":[" CPUS("1") "]}]}}",
    "{\"type\":\"UPDATE_FRAMEWORK\",\"framework_id\":{\"value\":\"@F\"},\"update_framework\":{"
    "\"framework_info\":{\"user\":\"u\",\"name\":\"renamed\",\"id\":{\"value\":\"@F\"},\"roles\":"
    "[\"q\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}}}",
    "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"x\","
    "\"role\":\"r\",\"failover_timeout\":\"Infinity\"}}}",
    "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"@F\"},\"subscribe\":{"
    "\"framework_info\":{\"user\":\"u\",\"name\":\"main\",\"id\":{\"value\":\"@F\"},"
    "\"failover_timeout\":100}}}",
    "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"@F\"}}",
};

static const char *const agent_seeds[] = {
    "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"h\",\"port\":-1,"
    "\"resources\":[" CPUS("-3") "," CPUS(
        "\"NaN\"") ",{\"name\":\"ports\",\"type\":\"RANGES\","
                   "\"ranges\":{\"range\":[{\"begin\":9,\"end\":1}]}}]}}}",
    "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"h2\",\"resources\":["
    "" CPUS("1e300") "," CPUS("2") ",{\"name\":\"s\",\"type\":\"SET\",\"set\":{\"item\":[\"a\","
                                   "\"a\"]}}],\"attributes\":[{\"name\":\"a\",\"type\":\"SCALAR\","
                                   "\"scalar\":{\"value\":1}}]}}}",
    "{\"type\":\"REGISTER\",\"agent_id\":{\"value\":\"fz-agent\"},\"register\":{\"agent_info\":{"
    "\"hostname\":\"h3\",\"resources\":[" CPUS(
        "1") "]},\"frameworks\":[{\"user\":\"u\",\"name\":"
             "\"n\",\"id\":{\"value\":\"fz-fw\"}}],\"tasks\":[{\"name\":\"t\",\"task_id\":{"
             "\"value\":"
             "\"rt\"},\"framework_id\":{\"value\":\"fz-fw\"},\"agent_id\":{\"value\":\"fz-agent\"},"
             "\"state\":\"TASK_RUNNING\",\"resources\":[" CPUS(
                 "5") "]},{\"name\":\"t\",\"task_id\":{"
                      "\"value\":\"rt2\"},\"framework_id\":{\"value\":\"unknown-fw\"},\"agent_id\":"
                      "{\"value\":"
                      "\"other\"},\"state\":\"TASK_STAGING\"}],\"executors\":[{\"executor_id\":{"
                      "\"value\":\"e\"},"
                      "\"framework_id\":{\"value\":\"nofw\"},\"command\":{\"value\":\"x\"}}]}}",
    "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"@A\"},\"status_update\":{"
    "\"framework_id\":{\"value\":\"@F\"},\"status\":{\"task_id\":{\"value\":\"t1\"},\"state\":"
    "\"TASK_RUNNING\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\","
    "\"timestamp\":1000}}}",
    "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"@A\"},\"status_update\":{"
    "\"framework_id\":{\"value\":\"@F\"},\"status\":{\"task_id\":{\"value\":\"t1\"},\"state\":"
    "\"TASK_FINISHED\",\"uuid\":\"AAEC\",\"timestamp\":\"NaN\"},\"latest_state\":"
    "\"TASK_RUNNING\"}}",
    "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"@A\"},\"status_update\":{"
    "\"framework_id\":{\"value\":\"no-such-fw\"},\"status\":{\"task_id\":{\"value\":\"zz\"},"
    "\"state\":\"TASK_LOST\",\"uuid\":\"\"}}}",
    "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"@A\"},\"status_update\":{"
    "\"framework_id\":{\"value\":\"@F\"},\"status\":{\"task_id\":{\"value\":\"@H\"},\"state\":"
    "\"TASK_KILLED\",\"reason\":\"REASON_NOPE\",\"source\":\"SOURCE_AGENT\"}}}",
    "{\"type\":\"EXITED_EXECUTOR\",\"agent_id\":{\"value\":\"@A\"},\"exited_executor\":{"
    "\"framework_id\":{\"value\":\"@F\"},\"executor_id\":{\"value\":\"e\"},\"status\":-1}}",
    "{\"type\":\"EXECUTOR_MESSAGE\",\"agent_id\":{\"value\":\"@A\"},\"executor_message\":{"
    "\"framework_id\":{\"value\":\"@F\"},\"executor_id\":{\"value\":\"e\"},\"data\":\"AAEC\"}}",
    "{\"type\":\"PONG\",\"agent_id\":{\"value\":\"@A\"}}",
    "{\"type\":\"TASK_LAUNCH_ACK\",\"agent_id\":{\"value\":\"@A\"},\"task_launch_acks\":[{"
    "\"framework_id\":{\"value\":\"@F\"},\"task_id\":{\"value\":\"t1\"}}]}",
    "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"@A\"}}",
    "{\"type\":\"UNREGISTER\",\"agent_id\":{\"value\":\"fz-agent\"}}",
};

/* ---- structured fuzz: a decoded seed with one enum (at any depth) set to a value its
 * descriptor does not declare, a field of the wrong wire type, or its wire form cut short ---- */

struct enum_slot {
    int *value;
    protobuf_c_boolean *has; /* an optional enum's presence flag */
    const ProtobufCEnumDescriptor *desc;
    const char *name;
    bool required;
};

#define MAX_SLOTS 512

static void add_slot(struct enum_slot *slots, size_t *n, struct enum_slot s)
{
    if (*n < MAX_SLOTS)
        slots[(*n)++] = s;
}

static void collect_enums(ProtobufCMessage *msg, struct enum_slot *slots, size_t *n, int depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    char *base = (char *)msg;
    if (depth > 16)
        return;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_ENUM && fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t cnt = *(size_t *)(base + fd->quantifier_offset);
            void *arr = *(void **)(base + fd->offset);
            for (size_t k = 0; k < cnt; k++) {
                if (fd->type == PROTOBUF_C_TYPE_ENUM)
                    add_slot(slots, n,
                             (struct enum_slot){&((int *)arr)[k], NULL, fd->descriptor, fd->name,
                                                false});
                else
                    collect_enums(((ProtobufCMessage **)arr)[k], slots, n, depth + 1);
            }
            continue;
        }
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *sub = *(ProtobufCMessage **)(base + fd->offset);
            if (sub)
                collect_enums(sub, slots, n, depth + 1);
            continue;
        }
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            continue; /* switching a oneof's case would orphan its current member */
        protobuf_c_boolean *has = fd->label == PROTOBUF_C_LABEL_OPTIONAL
                                      ? (protobuf_c_boolean *)(base + fd->quantifier_offset)
                                      : NULL;
        add_slot(slots, n,
                 (struct enum_slot){(int *)(base + fd->offset), has, fd->descriptor, fd->name,
                                    fd->label == PROTOBUF_C_LABEL_REQUIRED});
    }
}

static void put_varint(struct buf *b, uint64_t v)
{
    char c[10];
    size_t n = 0;
    do {
        c[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v)
            c[n] |= (char)0x80;
        n++;
    } while (v);
    buf_splice(b, b->len, 0, c, n);
}

/* Appends one top-level field of d with a wire type its declaration does not have. */
static void add_wrong_wire_type(struct rng *r, const ProtobufCMessageDescriptor *d, struct buf *b)
{
    const ProtobufCFieldDescriptor *fd = &d->fields[rng_below(r, d->n_fields)];
    bool length_delimited = fd->type == PROTOBUF_C_TYPE_STRING ||
                            fd->type == PROTOBUF_C_TYPE_BYTES ||
                            fd->type == PROTOBUF_C_TYPE_MESSAGE;
    if (length_delimited) {
        put_varint(b, (uint64_t)fd->id << 3 | (rng_below(r, 2) ? 0 : 5));
        buf_splice(b, b->len, 0, "\x05\x00\x00\x00", 4);
    } else {
        put_varint(b, (uint64_t)fd->id << 3 | 2);
        buf_splice(b, b->len, 0,
                   "\x03"
                   "abc",
                   4);
    }
}

static const int bad_enum_values[] = {99, -1, 1000, 0x7fffffff, -2147483647 - 1, 4097};

static void structured_round(struct fz *f, bool to_agent, const char *seed, size_t len)
{
    const ProtobufCMessageDescriptor *desc = to_agent ? &cmesos__internal__agent_call__descriptor
                                                      : &mesos__v1__scheduler__call__descriptor;
    ProtobufCMessage *msg = NULL;
    char why[512];
    if (cm_pbjson_from_text(desc, seed, len, &msg, why, sizeof why))
        return;
    static struct enum_slot slots[MAX_SLOTS];
    size_t n = 0;
    collect_enums(msg, slots, &n, 0);
    size_t kind = rng_below(&f->rng, 5); /* 0-2: an enum, 3: a wire type, 4: cut short */
    const struct enum_slot *hit = NULL;
    if (kind <= 2 && n) {
        hit = &slots[rng_below(&f->rng, n)];
        int v = bad_enum_values[rng_below(&f->rng, 6)];
        if (cm_enum_name(hit->desc, v))
            v = 123456; /* no descriptor here declares it */
        *hit->value = v;
        if (hit->has)
            *hit->has = 1;
    }
    /* An enum case goes out as JSON now and then (the undeclared value as a number). */
    bool as_json = kind <= 2 && rng_below(&f->rng, 3) == 0;
    struct buf b = {0};
    if (as_json) {
        char *text = cm_pbjson_to_text(msg);
        buf_set(&b, text, strlen(text));
        free(text);
    } else {
        buf_reserve(&b, protobuf_c_message_get_packed_size(msg));
        b.len = protobuf_c_message_pack(msg, (uint8_t *)b.p);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    if (kind == 3)
        add_wrong_wire_type(&f->rng, desc, &b);
    if (kind == 4 && b.len)
        b.len = rng_below(&f->rng, b.len);
    const char *text;
    int code;
    if (to_agent) {
        why[0] = '\0';
        code =
            agent_wire(f, (const uint8_t *)b.p, b.len, "agent-stream", !as_json, why, sizeof why);
        text = why;
    } else {
        /* What the master acts on never holds an undeclared enum. */
        ProtobufCMessage *dec = NULL;
        if (cm_pb_decode(desc, as_json ? CM_MEDIA_JSON : CM_MEDIA_PROTOBUF, b.p, b.len, &dec, why,
                         sizeof why) == 0) {
            CHECK(enums_declared(dec));
            protobuf_c_message_free_unpacked(dec, NULL);
        }
        code = sched_call(f, (const uint8_t *)b.p, b.len, !as_json, f->sid);
        text = f->last_text;
    }
    /* An undeclared value in a required enum is refused naming the field. */
    if (hit && hit->required) {
        f->required_hits++;
        bool named = strstr(text, hit->name) != NULL &&
                     (as_json || strstr(text, "unknown enum value") != NULL);
        if (code != 400 || !named)
            fprintf(stderr, "required enum %s (%s): code %d '%s'\n", hit->name,
                    as_json ? "json" : "protobuf", code, text);
        CHECK_INT(code, 400);
        CHECK(named);
    }
    free(b.p);
}

static void test_master_fuzz(void)
{
    struct fz *f = calloc(1, sizeof *f);
    REQUIRE(f != NULL);
    f->rng.s = 0x853c49e6748fea9bull;
    cm_master_flags_init(&f->flags);
    f->flags.offer_timeout = 30;
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    REQUIRE(f->m != NULL);
    cm_resources_init(&f->agent_total);

    CHECK_INT(agent_json(f, main_agent, strlen(main_agent), "agent-stream", false), 200);
    REQUIRE(f->aid[0]);
    struct cm_agent *main_a = cm_master_agent(f->m, f->aid);
    REQUIRE(main_a != NULL);
    cm_resources_copy(&f->agent_total, &main_a->total);
    CHECK_INT(sched_call(f, (const uint8_t *)subscribe_main, strlen(subscribe_main), false, NULL),
              200);
    REQUIRE(f->fid[0]);
    cm_master_allocate(f->m);

    struct buf b = {0};
    size_t nsched = sizeof sched_seeds / sizeof sched_seeds[0];
    size_t nagent = sizeof agent_seeds / sizeof agent_seeds[0];
    for (size_t iter = 0; iter < 2500; iter++) {
        /* The main framework may have been torn down: bring a new one. */
        if (!cm_master_framework(f->m, f->fid)) {
            f->fid[0] = '\0';
            sched_call(f, (const uint8_t *)subscribe_main, strlen(subscribe_main), false, NULL);
            if (!f->fid[0])
                break;
        }
        bool to_agent = rng_below(&f->rng, 3) == 0;
        /* The seeds run as they are at first (deterministic coverage), then mutated. */
        size_t pick = iter < nsched + nagent ? iter % (to_agent ? nagent : nsched)
                                             : rng_below(&f->rng, to_agent ? nagent : nsched);
        if (pick == nsched - 1 && !to_agent && rng_below(&f->rng, 8))
            pick = 0; /* TEARDOWN of the main framework only now and then */
        expand(f, to_agent ? agent_seeds[pick] : sched_seeds[pick], &b);
        if (iter >= nsched + nagent && rng_below(&f->rng, 4))
            mutate(&f->rng, &b);
        bool pb = rng_below(&f->rng, 3) == 0;
        if (to_agent) {
            agent_json(f, b.p, b.len, rng_below(&f->rng, 10) ? "agent-stream" : "bad", pb);
        } else if (pb) {
            /* Protobuf: encode what parsed, then damage the bytes now and then. */
            ProtobufCMessage *msg = NULL;
            char why[512];
            if (cm_pbjson_from_text(&mesos__v1__scheduler__call__descriptor, b.p, b.len, &msg, why,
                                    sizeof why) == 0) {
                size_t n = protobuf_c_message_get_packed_size(msg);
                uint8_t *wire = malloc(n + 1);
                protobuf_c_message_pack(msg, wire);
                protobuf_c_message_free_unpacked(msg, NULL);
                if (n && rng_below(&f->rng, 3) == 0)
                    wire[rng_below(&f->rng, n)] ^= (uint8_t)(1u << rng_below(&f->rng, 8));
                sched_call(f, wire, n, true, f->sid);
                free(wire);
            } else {
                sched_call(f, (const uint8_t *)b.p, b.len, true, f->sid);
            }
        } else {
            sched_call(f, (const uint8_t *)b.p, b.len, false,
                       rng_below(&f->rng, 10) ? f->sid : "wrong-stream");
        }
        if (iter % 25 == 0) {
            cm_fake_clock_advance(&f->clock, 7);
            cm_master_check_timeouts(f->m);
            cm_master_allocate(f->m);
            check_agent_invariants(f);
        }
        if (iter % 200 == 0)
            cm_master_heartbeat(f->m);
    }
    CHECK(f->codes[202] > 300);
    CHECK(f->codes[400] > 100);

    /* Structured rounds over both APIs: enums out of range (nested TaskInfo, offer operations,
     * the agent's status updates and reported tasks), wrong wire types, truncated messages. */
    for (size_t iter = 0; iter < 3000; iter++) {
        if (!cm_master_framework(f->m, f->fid)) {
            f->fid[0] = '\0';
            sched_call(f, (const uint8_t *)subscribe_main, strlen(subscribe_main), false, NULL);
            if (!f->fid[0])
                break;
        }
        bool to_agent = rng_below(&f->rng, 2) == 0;
        size_t pick = rng_below(&f->rng, to_agent ? nagent : nsched);
        if (pick == nsched - 1 && !to_agent)
            pick = 0; /* no TEARDOWN here: the rounds need the framework */
        expand(f, to_agent ? agent_seeds[pick] : sched_seeds[pick], &b);
        structured_round(f, to_agent, b.p, b.len);
        if (iter % 50 == 0) {
            cm_fake_clock_advance(&f->clock, 7);
            cm_master_check_timeouts(f->m);
            cm_master_allocate(f->m);
            check_agent_invariants(f);
        }
    }
    CHECK(f->required_hits > 100);

    /* Everyone leaves: nothing may stay used or offered anywhere. */
    struct cm_strmap_iter it;
    for (;;) {
        cm_strmap_iter_init(&it, &f->m->frameworks);
        if (!cm_strmap_iter_next(&it))
            break;
        cm_master_remove_framework(f->m, it.cur->value);
    }
    check_agent_invariants(f);
    for (cm_strmap_iter_init(&it, &f->m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        if (!cm_resources_empty(&a->used) || !cm_resources_empty(&a->offered)) {
            char *u = cm_resources_format(&a->used), *o = cm_resources_format(&a->offered);
            fprintf(stderr, "agent %s keeps used %s offered %s\n", a->id, u, o);
            free(u);
            free(o);
        }
        CHECK(cm_resources_empty(&a->used));
        CHECK(cm_resources_empty(&a->offered));
    }
    /* The main agent is intact and a fresh framework gets all of it. */
    main_a = cm_master_agent(f->m, f->aid);
    REQUIRE(main_a != NULL);
    CHECK(cm_resources_equal(&main_a->total, &f->agent_total));
    cm_fake_clock_advance(&f->clock, 1000);
    cm_master_check_timeouts(f->m);
    static const char fresh[] = "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{"
                                "\"user\":\"u\",\"name\":\"fresh\"}}}";
    f->fid[0] = '\0';
    size_t slot = f->nsinks;
    REQUIRE(slot < MAX_SINKS - 1);
    snprintf(f->sinks[slot].agent_id, sizeof f->sinks[slot].agent_id, "%s", f->aid);
    CHECK_INT(sched_call(f, (const uint8_t *)fresh, strlen(fresh), false, NULL), 200);
    REQUIRE(f->fid[0]);
    cm_master_allocate(f->m);
    struct counter *c = &f->sinks[slot];
    CHECK(c->offers_events >= 1);
    struct cm_resources expect;
    cm_resources_init(&expect);
    cm_resources_allocatable_to(&f->agent_total, "*", &expect);
    if (!cm_resources_equal(&c->offered, &expect)) {
        char *a = cm_resources_format(&c->offered), *e = cm_resources_format(&expect);
        fprintf(stderr, "fresh framework offered %s, expected %s\n", a, e);
        free(a);
        free(e);
    }
    CHECK(cm_resources_equal(&c->offered, &expect));
    cm_resources_cleanup(&expect);

    cm_master_free(f->m);
    for (size_t i = 0; i < MAX_SINKS; i++)
        cm_resources_cleanup(&f->sinks[i].offered);
    cm_resources_cleanup(&f->agent_total);
    free(b.p);
    free(f);
}

TEST_MAIN(TEST(test_master_fuzz))
