/*
 * itest_kill: KILL of a running task ends in TASK_KILLED; DECLINE with a refuse_seconds filter
 * keeps the agent's offers away for the filter's duration and REVIVE brings them back at
 * once; SUPPRESS stops offers until REVIVE.
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static long long clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Expects no OFFERS event for ms milliseconds (queued ones are dropped first). */
static int no_offer_for(struct itest_fw *fw, int ms)
{
    struct itest_event ev;
    itest_fw_drop_queued(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
    int rc = itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS, NULL, ms, &ev);
    if (rc == 0)
        fprintf(stderr, "unexpected offer %s (cpus %.2f)\n", ev.n_offers ? ev.offers[0].id : "?",
                ev.n_offers ? ev.offers[0].cpus : 0);
    return rc == -ETIMEDOUT;
}

static void test_kill(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"sleeper", "sleep 100", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    REQUIRE(itest_fw_wait_state(fw, "sleeper", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    CHECK_INT(itest_fw_kill(fw, "sleeper", c.agent_id), 202);
    struct itest_status st;
    CHECK_INT(
        itest_fw_wait_state(fw, "sleeper", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, &st),
        0);
    CHECK(st.has_uuid && st.uuid_len == 16);

    /* Killing a task the master does not know answers like reconciliation (no uuid). */
    CHECK_INT(itest_fw_kill(fw, "never-launched", NULL), 202);
    struct itest_event ev;
    CHECK_INT(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "never-launched",
                            ITEST_WAIT_MS, &ev),
              0);
    CHECK_STR(itest_state_name(ev.status.state), "TASK_LOST");
    CHECK(!ev.status.has_uuid);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_decline_revive_suppress(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off) == 0);

    /* Decline with a 10 s filter: nothing for 3 s (three allocation rounds)... */
    CHECK_INT(itest_fw_decline_set(fw, &off, 10), 202);
    long long declined = clock_ms();
    CHECK(no_offer_for(fw, 3000));
    /* ... and REVIVE clears the filter long before it would expire. */
    CHECK_INT(itest_fw_revive(fw), 202);
    CHECK_INT(itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off), 0);
    long long got = clock_ms() - declined;
    if (got >= 10000)
        fprintf(stderr, "offer came back only after %lld ms (filter expiry, not REVIVE)\n", got);
    CHECK(got < 10000);

    /* SUPPRESS, then give the offer back without a filter: no offers while suppressed. */
    CHECK_INT(itest_fw_suppress(fw), 202);
    CHECK_INT(itest_fw_decline_set(fw, &off, 0), 202);
    CHECK(no_offer_for(fw, 3000));
    CHECK_INT(itest_fw_revive(fw), 202);
    CHECK_INT(itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off), 0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_kill), TEST(test_decline_revive_suppress))
