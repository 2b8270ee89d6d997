/* test_emulator: the emulator's input handling without sockets: run-time distributions, the
 * operator commands (agent ranges, durations, unknown verbs) and option validation; the arena
 * events are decoded into and the status updates' UUIDs. The link itself is tested against a
 * real master in tests/integration/itest_scale.c. */
#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emu_arena.h"
#include "emu_internal.h"
#include "emulator.h"
#include "errors.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"
#include "test.h"

static void test_dist_parse(void)
{
    struct cm_emu_dist d;
    char why[256];
    CHECK_INT(cm_emu_dist_parse("5", &d, why, sizeof why), 0);
    CHECK(d.kind == CM_EMU_DIST_FIXED && d.a == 5);
    CHECK_INT(cm_emu_dist_parse("fixed:0.5", &d, why, sizeof why), 0);
    CHECK(d.kind == CM_EMU_DIST_FIXED && d.a == 0.5);
    CHECK_INT(cm_emu_dist_parse("uniform:1,3", &d, why, sizeof why), 0);
    CHECK(d.kind == CM_EMU_DIST_UNIFORM && d.a == 1 && d.b == 3);
    for (int i = 0; i < 1000; i++) {
        double v = cm_emu_dist_sample(&d);
        CHECK(v >= 1 && v <= 3);
        if (v < 1 || v > 3)
            break;
    }
    CHECK_INT(cm_emu_dist_parse("exp:2", &d, why, sizeof why), 0);
    double sum = 0;
    for (int i = 0; i < 20000; i++)
        sum += cm_emu_dist_sample(&d);
    CHECK(fabs(sum / 20000 - 2) < 0.15); /* the mean of an exponential(2) */
    CHECK_INT(cm_emu_dist_parse("forever", &d, why, sizeof why), 0);
    CHECK(cm_emu_dist_sample(&d) < 0);
    const char *bad[] = {"",       "x",      "-1", "uniform:3,1", "uniform:1", "exp:0",
                         "exp:-1", "fixed:", "5s", "nan",         "inf",       "uniform:nan,1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = 0;
        CHECK_INT(cm_emu_dist_parse(bad[i], &d, why, sizeof why), CM_EINVAL);
        CHECK(strstr(why, "Bad run time") != NULL);
    }
}

static struct cm_emu *make(struct event_base *base, int agents)
{
    struct cm_emu_opts o = {.master = "127.0.0.1:1",
                            .agents = agents,
                            .resources = "cpus:2;mem:1024",
                            .update_retry = 10,
                            .backoff = 1,
                            .register_concurrency = 10,
                            .call_connections = 2,
                            .pipeline = 1};
    char why[256];
    return cm_emu_new(base, &o, why, sizeof why);
}

static void test_commands(void)
{
    struct event_base *base = event_base_new();
    struct cm_emu *e = make(base, 10);
    REQUIRE(e != NULL);
    char out[2048];
    CHECK_INT(cm_emu_command(e, "partition 0-4 3", out, sizeof out), 0);
    CHECK_STR(out, "ok partition 5 agents");
    struct cm_emu_stats st;
    cm_emu_stats(e, &st);
    CHECK_INT(st.partitioned, 5);
    CHECK_INT(cm_emu_command(e, "heal all", out, sizeof out), 0);
    cm_emu_stats(e, &st);
    CHECK_INT(st.partitioned, 0);
    CHECK_INT(cm_emu_command(e, "kill 9", out, sizeof out), 0);
    cm_emu_stats(e, &st);
    CHECK_INT(st.killed, 1);
    CHECK_INT(cm_emu_command(e, "restart 9", out, sizeof out), 0);
    cm_emu_stats(e, &st);
    CHECK_INT(st.killed, 0);
    CHECK_INT(cm_emu_command(e, "stats", out, sizeof out), 0);
    CHECK(strncmp(out, "{\"agents\":10,", 13) == 0);
    /* Refused, with a reason, changing nothing. */
    const char *bad[] = {"",
                         "explode all",
                         "kill",
                         "kill 10",
                         "kill 5-2",
                         "kill -1",
                         "kill 1-x",
                         "partition 0-4",
                         "partition 0-4 0",
                         "partition 0-4 -3",
                         "partition 0-4 1e9",
                         "partition 0-4 nan",
                         "heal 3-99"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out[0] = 0;
        CHECK_INT(cm_emu_command(e, bad[i], out, sizeof out), CM_EINVAL);
        CHECK(strncmp(out, "error:", 6) == 0);
    }
    cm_emu_stats(e, &st);
    CHECK_INT(st.partitioned, 0);
    CHECK_INT(st.killed, 0);
    cm_emu_free(e);
    event_base_free(base);
}

static void test_bad_options(void)
{
    struct event_base *base = event_base_new();
    struct cm_emu_opts o = {.master = "127.0.0.1:1",
                            .agents = 1,
                            .update_retry = 10,
                            .backoff = 1,
                            .register_concurrency = 1,
                            .call_connections = 1,
                            .pipeline = 1};
    char why[512];
    struct cm_emu_opts b = o;
    b.resources = "cpus:x";
    CHECK(cm_emu_new(base, &b, why, sizeof why) == NULL);
    CHECK(strstr(why, "cpus") != NULL);
    b = o;
    b.attributes = "rack";
    CHECK(cm_emu_new(base, &b, why, sizeof why) == NULL);
    CHECK(strstr(why, "attribute") != NULL);
    b = o;
    b.source_ips = "127.0.0.2,not-an-ip";
    CHECK(cm_emu_new(base, &b, why, sizeof why) == NULL);
    CHECK(strstr(why, "not-an-ip") != NULL);
    b = o;
    b.agents = 0;
    CHECK(cm_emu_new(base, &b, why, sizeof why) == NULL);
    b = o;
    b.master = "zk://";
    CHECK(cm_emu_new(base, &b, why, sizeof why) == NULL);
    b = o;
    b.attributes = "rack:r1;zone:a";
    b.source_ips = "127.0.0.2,127.0.0.3";
    struct cm_emu *e = cm_emu_new(base, &b, why, sizeof why);
    CHECK(e != NULL);
    cm_emu_free(e);
    cm_emu_free(NULL);
    event_base_free(base);
}

/* An OFFERS event of n offers (each with its ids, a hostname and two resources), packed. */
static uint8_t *offers_event(size_t n, size_t *len)
{
    Mesos__V1__Offer *ov = calloc(n, sizeof *ov);
    Mesos__V1__Offer **op = calloc(n, sizeof *op);
    Mesos__V1__OfferID *oid = calloc(n, sizeof *oid);
    Mesos__V1__AgentID *aid = calloc(n, sizeof *aid);
    Mesos__V1__Resource res[2];
    Mesos__V1__Value__Scalar sv[2];
    Mesos__V1__Resource *rp[2] = {&res[0], &res[1]};
    const char *names[2] = {"cpus", "mem"};
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = "F0";
    for (int k = 0; k < 2; k++) {
        mesos__v1__resource__init(&res[k]);
        mesos__v1__value__scalar__init(&sv[k]);
        res[k].name = (char *)names[k];
        res[k].type = MESOS__V1__VALUE__TYPE__SCALAR;
        sv[k].value = k ? 16384 : 8;
        res[k].scalar = &sv[k];
    }
    char(*ids)[32] = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        mesos__v1__offer__init(&ov[i]);
        mesos__v1__offer_id__init(&oid[i]);
        mesos__v1__agent_id__init(&aid[i]);
        snprintf(ids[i], sizeof ids[i], "O%zu", i);
        oid[i].value = ids[i];
        aid[i].value = "S0";
        ov[i].framework_id = &fid;
        ov[i].id = &oid[i];
        ov[i].agent_id = &aid[i];
        ov[i].hostname = "h";
        ov[i].resources = rp;
        ov[i].n_resources = 2;
        op[i] = &ov[i];
    }
    Mesos__V1__Scheduler__Event__Offers offers = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
    offers.offers = op;
    offers.n_offers = n;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
    ev.offers = &offers;
    *len = mesos__v1__scheduler__event__get_packed_size(&ev);
    uint8_t *buf = malloc(*len);
    mesos__v1__scheduler__event__pack(&ev, buf);
    free(ov), free(op), free(oid), free(aid), free(ids);
    return buf;
}

/* Events decoded into the arena read back as packed, whether they fit its block or not; a reset
 * after a large one grows the block so that the next such event fits. */
static void test_arena(void)
{
    struct cm_emu_arena a;
    cm_emu_arena_init(&a, 1024);
    size_t sizes[] = {1, 3, 1000, 2, 0};
    for (int round = 0; round < 3; round++) {
        size_t len;
        uint8_t *buf = offers_event(sizes[round] ? sizes[round] : 1, &len);
        Mesos__V1__Scheduler__Event *ev =
            mesos__v1__scheduler__event__unpack(cm_emu_arena_allocator(&a), len, buf);
        CHECK(ev != NULL);
        if (ev) {
            CHECK_INT((long)ev->offers->n_offers, (long)sizes[round]);
            char want[32];
            snprintf(want, sizeof want, "O%zu", sizes[round] - 1);
            CHECK_STR(ev->offers->offers[sizes[round] - 1]->id->value, want);
            CHECK(ev->offers->offers[0]->resources[1]->scalar->value == 16384);
            /* 16-byte alignment of every piece */
            CHECK(((uintptr_t)ev->offers->offers[0] & 15) == 0);
        }
        free(buf);
        if (sizes[round] == 1000) {
            CHECK(a.bigs != NULL); /* 1000 offers do not fit 1 KiB */
            cm_emu_arena_reset(&a);
            CHECK(a.bigs == NULL && a.used == 0);
            CHECK(a.cap > 1024); /* grown for the next one */
        } else {
            cm_emu_arena_reset(&a);
        }
    }
    /* After growing, a 1000-offer event fits the block. */
    size_t len;
    uint8_t *buf = offers_event(1000, &len);
    Mesos__V1__Scheduler__Event *ev =
        mesos__v1__scheduler__event__unpack(cm_emu_arena_allocator(&a), len, buf);
    CHECK(ev != NULL && a.bigs == NULL);
    free(buf);
    cm_emu_arena_reset(&a);
    /* A truncated message fails cleanly (protobuf-c frees through the arena: a no-op). */
    buf = offers_event(10, &len);
    CHECK(mesos__v1__scheduler__event__unpack(cm_emu_arena_allocator(&a), len - 3, buf) == NULL);
    free(buf);
    cm_emu_arena_free(&a);
    cm_emu_arena_free(NULL);
}

/* Status update UUIDs: version 4, RFC 4122 variant, and no two alike. */
static void test_uuid(void)
{
    struct cm_emu *e = calloc(1, sizeof *e);
    e->rng = 12345;
    enum { N = 20000 };
    uint8_t(*u)[16] = calloc(N, sizeof *u);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        emu_uuid(e, u[i]);
        if ((u[i][6] >> 4) != 4 || (u[i][8] & 0xc0) != 0x80)
            bad++;
    }
    CHECK_INT(bad, 0);
    int dup = 0;
    for (int i = 1; i < N; i++)
        dup += memcmp(u[i], u[i - 1], 16) == 0;
    CHECK_INT(dup, 0);
    /* Another seed gives another sequence. */
    uint8_t first[16];
    e->rng = 54321;
    emu_uuid(e, first);
    CHECK(memcmp(first, u[0], 16) != 0);
    free(u);
    free(e);
}

TEST_MAIN(TEST(test_dist_parse), TEST(test_commands), TEST(test_bad_options), TEST(test_arena),
          TEST(test_uuid))
