/* The loop probe's arithmetic fed by hand (maximum, thresholds, percentiles, the part not
 * spent waiting for a CPU, reset), and a real 1 ms timer on an idle loop. */
#include <event2/event.h>

#include "loop_probe.h"
#include "test.h"

static void test_record_and_stats(void)
{
    struct event_base *base = event_base_new();
    REQUIRE(base != NULL);
    struct cm_loop_probe *p = cm_loop_probe_new(base, 0.001);
    REQUIRE(p != NULL);
    /* 97 punctual ticks, then 2, 6, 12 and 60 ms late; the last mostly waiting for a CPU. */
    for (int i = 0; i < 97; i++)
        cm_loop_probe_record(p, 0.0001, 0.0001);
    cm_loop_probe_record(p, 0.002, 0.002);
    cm_loop_probe_record(p, 0.006, 0.006);
    cm_loop_probe_record(p, 0.012, 0.001);
    cm_loop_probe_record(p, 0.060, 0.0005);
    struct cm_loop_probe_stats st;
    cm_loop_probe_stats(p, &st);
    CHECK_INT(st.ticks, 101);
    CHECK(st.max_stall == 0.060);
    CHECK_INT(st.over[0], 4);
    CHECK_INT(st.over[1], 3);
    CHECK_INT(st.over[2], 2);
    CHECK_INT(st.over[3], 1);
    CHECK(st.p50 == 0.0001);
    CHECK(st.p99 == 0.012);
    CHECK(st.have_self);
    CHECK(st.max_self == 0.006);
    CHECK_INT(st.over_self[0], 2);
    CHECK_INT(st.over_self[1], 1);
    CHECK_INT(st.over_self[2], 0);
    /* A self figure larger than the lateness is capped; a negative one is unknown. */
    cm_loop_probe_record(p, 0.001, 0.5);
    cm_loop_probe_record(p, 0.3, -1);
    cm_loop_probe_stats(p, &st);
    CHECK(st.max_self == 0.006);
    CHECK(st.max_stall == 0.3);
    cm_loop_probe_reset(p);
    cm_loop_probe_stats(p, &st);
    CHECK_INT(st.ticks, 0);
    CHECK(st.max_stall == 0);
    CHECK(!st.have_self);
    cm_loop_probe_free(p);
    event_base_free(base);
}

static void test_ticks_on_a_loop(void)
{
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    REQUIRE(base != NULL);
    struct cm_loop_probe *p = cm_loop_probe_new(base, 0.001);
    struct timeval tv = {0, 100000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    struct cm_loop_probe_stats st;
    cm_loop_probe_stats(p, &st);
    /* About 100 ticks in 100 ms; fewer on a busy machine, never none. */
    CHECK(st.ticks >= 10 && st.ticks <= 101);
    CHECK(st.max_stall >= 0);
    cm_loop_probe_free(p);
    event_base_free(base);
}

TEST_MAIN(TEST(test_record_and_stats), TEST(test_ticks_on_a_loop))
