/* test_emulator: the emulator's input handling without sockets: run-time distributions, the
 * operator commands (agent ranges, durations, unknown verbs) and option validation. The link
 * itself is tested against a real master in tests/integration/itest_scale.c. */
#include <event2/event.h>
#include <math.h>
#include <string.h>

#include "emulator.h"
#include "errors.h"
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

TEST_MAIN(TEST(test_dist_parse), TEST(test_commands), TEST(test_bad_options))
