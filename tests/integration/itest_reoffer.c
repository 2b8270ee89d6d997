/*
 * itest_reoffer: event-driven allocation on a real master and agent. With an allocation
 * interval of a minute (so the periodic cycle cannot be what answers), resources that come
 * back are offered again at once: a DECLINE with refuse_seconds 0, the unused part of an
 * ACCEPT, and a finished task's resources. Each must be offered again well within the wait
 * below (the master's coalescing delay is 5 ms; the wait allows for a loaded machine).
 */
#include "harness.h"

#include <string.h>

#define REOFFER_WAIT_MS 3000

static void test_reoffer(void)
{
    static const char *const flags[] = {"--allocation_interval=60secs", NULL};
    struct itest_cluster_opts co = {.master_flags = flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);
    struct itest_fw_opts o = {.name = "itest-reoffer"};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &o);
    REQUIRE(fw != NULL);
    /* The subscription itself asks for a cycle. */
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 2, 1024, REOFFER_WAIT_MS, &off) == 0);

    /* DECLINE with refuse_seconds 0: offered again, whole. */
    for (int round = 0; round < 3; round++) {
        CHECK_INT(itest_fw_decline_set(fw, &off, 0), 202);
        int rc = itest_fw_wait_offer(fw, 2, 1024, REOFFER_WAIT_MS, &off);
        if (rc)
            fprintf(stderr, "declined resources were not offered again (round %d)\n", round);
        CHECK_INT(rc, 0);
        if (rc)
            goto out;
        CHECK_STR(off.agent_id, c.agent_id);
    }

    /* ACCEPT of a part: the rest comes back at once, then the task's share when it ends. */
    struct itest_task t = {"reoffer-1", "sleep 0.3", 0.5, 128};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    struct itest_offers rest;
    int rc = itest_fw_wait_offer(fw, 1.5, 896, REOFFER_WAIT_MS, &rest);
    if (rc)
        fprintf(stderr, "the unused part of the accept was not offered again\n");
    CHECK_INT(rc, 0);
    if (rc)
        goto out;
    CHECK(rest.cpus < 2 - 0.25); /* the task's share is still in use */
    /* Keep the rest (not declined): the finished task's resources must come on their own. */
    CHECK_INT(itest_fw_wait_state(fw, "reoffer-1", MESOS__V1__TASK_STATE__TASK_FINISHED,
                                  ITEST_WAIT_MS, NULL),
              0);
    struct itest_offers back;
    rc = itest_fw_wait_offer(fw, 0.5, 128, REOFFER_WAIT_MS, &back);
    if (rc)
        fprintf(stderr, "the finished task's resources were not offered again\n");
    CHECK_INT(rc, 0);
out:
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_reoffer))
