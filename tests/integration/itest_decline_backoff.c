/*
 * itest_decline_backoff: the decline back-off on a real master and agent (allocator.h,
 * "Declines and their back-off"). With an allocation interval of a minute, a scheduler that
 * declines the same whole-agent offer again and again (refuse_seconds 0) is offered it again
 * after the first decline, then no sooner than 20, 40, 80 ... ms later (the master's wakeup
 * timer re-offers it, not the periodic cycle a minute away), and REVIVE starts over. Only
 * lower bounds are checked against the clock (a loaded machine can only make offers later),
 * plus one generous upper bound: the offer after REVIVE must come well before the back-off it
 * replaced would have ended.
 */
#include "harness.h"

#include <string.h>

#include "clock.h"

#define WAIT_MS 5000

/* Declines the held set and returns the seconds until the whole agent is offered again, or
 * < 0 if it was not within WAIT_MS. */
static double decline_and_wait(struct itest_fw *fw, struct itest_offers *off)
{
    double t0 = cm_monotonic_secs();
    if (itest_fw_decline_set(fw, off, 0) != 202)
        return -1;
    if (itest_fw_wait_offer(fw, 2, 1024, WAIT_MS, off) != 0)
        return -1;
    return cm_monotonic_secs() - t0;
}

static void test_decline_backoff(void)
{
    static const char *const flags[] = {"--allocation_interval=60secs", NULL};
    struct itest_cluster_opts co = {.master_flags = flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);
    struct itest_fw_opts o = {.name = "itest-decline-backoff"};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &o);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 2, 1024, WAIT_MS, &off) == 0);

    /* The first decline: offered again at once (no lower bound to check); then 20, 40, ...
     * ms at least, up to 1.28 s for the eighth. */
    double first = decline_and_wait(fw, &off);
    CHECK(first >= 0);
    double backoff = 0.02;
    for (int i = 0; i < 7 && first >= 0; i++, backoff *= 2) {
        double dt = decline_and_wait(fw, &off);
        if (dt < 0) {
            fprintf(stderr, "decline %d: not offered again within %d ms\n", i + 2, WAIT_MS);
            CHECK(dt >= 0);
            goto out;
        }
        if (dt < backoff - 0.002)
            fprintf(stderr, "decline %d: offered again after %.1f ms, back-off %.0f ms\n", i + 2,
                    dt * 1e3, backoff * 1e3);
        CHECK(dt >= backoff - 0.002); /* timer slack: the clocks differ by a hair */
    }
    /* The next decline would wait 2.56 s; REVIVE (while the offer is held, so it offers
     * nothing by itself) starts over: the decline after it is offered again at once. */
    CHECK_INT(itest_fw_revive(fw), 202);
    double dt = decline_and_wait(fw, &off);
    if (dt < 0 || dt > 1.2)
        fprintf(stderr, "after REVIVE: offered again after %.1f ms\n", dt * 1e3);
    CHECK(dt >= 0 && dt < 1.2);
    CHECK_STR(off.agent_id, c.agent_id);
out:
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_decline_backoff))
