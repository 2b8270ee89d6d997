/*
 * itest_offers: ACCEPT with offers that cannot be used (already used, another framework's,
 * unknown, rescinded by --offer_timeout) => TASK_LOST/REASON_INVALID_OFFERS without uuid; tasks
 * that are invalid (too many cpus, duplicate id in one call, ids that would escape the sandbox)
 * => TASK_ERROR/REASON_TASK_INVALID; and after every failure the agent's resources come back
 * whole in a later offer.
 */
#include "harness.h"

#include <string.h>

/* Waits for the master's answer about task: state, reason, from the master, no uuid. */
static void expect_master_update(struct itest_fw *fw, const char *task, int state, int reason)
{
    struct itest_event ev;
    int rc = itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task, ITEST_WAIT_MS, &ev);
    if (rc)
        fprintf(stderr, "no UPDATE for task '%s' (expected %s)\n", task, itest_state_name(state));
    CHECK_INT(rc, 0);
    if (rc)
        return;
    const struct itest_status *st = &ev.status;
    if (st->state != state || !st->has_reason || st->reason != reason)
        fprintf(stderr, "task '%s': got %s/%s ('%s'), expected %s/%s\n", task,
                itest_state_name(st->state), st->has_reason ? itest_reason_name(st->reason) : "-",
                st->message, itest_state_name(state), itest_reason_name(reason));
    CHECK_STR(itest_state_name(st->state), itest_state_name(state));
    CHECK(st->has_reason);
    CHECK_STR(itest_reason_name(st->reason), itest_reason_name(reason));
    CHECK(!st->has_uuid);
    CHECK(st->has_source && st->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER);
}

/* Revives and waits until the whole agent (cpus 2, mem 1024) is offered again. */
static int expect_full_offer(struct itest_fw *fw, struct itest_offers *off)
{
    CHECK_INT(itest_fw_revive(fw), 202);
    int rc = itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, off);
    if (rc)
        fprintf(stderr, "the agent's full resources were not offered again\n");
    CHECK_INT(rc, 0);
    return rc;
}

static void test_invalid_offers(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw_opts oa = {.name = "itest-offers-a"};
    struct itest_fw *a = itest_fw_start(c.master_port, ITEST_JSON, &oa);
    REQUIRE(a != NULL);
    struct itest_offers off;
    REQUIRE(expect_full_offer(a, &off) == 0);

    /* Use the offer once (a real task), then again: the second use is invalid. */
    struct itest_task t1 = {"used-1", "true", 0.1, 32};
    CHECK_INT(itest_fw_accept(a, off.idv, off.n, c.agent_id, &t1, 1, 0), 202);
    struct itest_task t2 = {"used-2", "true", 0.1, 32};
    CHECK_INT(itest_fw_accept(a, off.idv, off.n, c.agent_id, &t2, 1, 0), 202);
    expect_master_update(a, "used-2", MESOS__V1__TASK_STATE__TASK_LOST,
                         MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
    CHECK_INT(
        itest_fw_wait_state(a, "used-1", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL),
        0);

    /* An offer id nobody ever had. */
    const char *unknown[] = {"no-such-offer-O999"};
    struct itest_task t3 = {"unknown-offer", "true", 0.1, 32};
    CHECK_INT(itest_fw_accept(a, unknown, 1, c.agent_id, &t3, 1, 0), 202);
    expect_master_update(a, "unknown-offer", MESOS__V1__TASK_STATE__TASK_LOST,
                         MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS);

    /* Framework B tries to use A's offer (B speaks protobuf). */
    REQUIRE(expect_full_offer(a, &off) == 0);
    struct itest_fw_opts ob = {.name = "itest-offers-b"};
    struct itest_fw *b = itest_fw_start(c.master_port, ITEST_PROTOBUF, &ob);
    REQUIRE(b != NULL);
    struct itest_task t4 = {"foreign-offer", "true", 0.1, 32};
    CHECK_INT(itest_fw_accept(b, off.idv, off.n, c.agent_id, &t4, 1, 0), 202);
    expect_master_update(b, "foreign-offer", MESOS__V1__TASK_STATE__TASK_LOST,
                         MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
    /* B steps aside for the rest of the test. */
    CHECK_INT(itest_fw_teardown(b), 202);
    itest_fw_free(b);
    /* A's offer may have been rescinded by B's attempt; either way A gives it back. */
    itest_fw_decline_set(a, &off, 0);

    /* More cpus than offered. */
    REQUIRE(expect_full_offer(a, &off) == 0);
    struct itest_task t5 = {"too-big", "true", 100, 32};
    CHECK_INT(itest_fw_accept(a, off.idv, off.n, c.agent_id, &t5, 1, 0), 202);
    expect_master_update(a, "too-big", MESOS__V1__TASK_STATE__TASK_ERROR,
                         MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);

    /* Invalid task ids (they become sandbox paths). */
    REQUIRE(expect_full_offer(a, &off) == 0);
    struct itest_task bad[] = {
        {"../x", "true", 0.1, 32}, {"a/b", "true", 0.1, 32}, {".", "true", 0.1, 32}};
    CHECK_INT(itest_fw_accept(a, off.idv, off.n, c.agent_id, bad, 3, 0), 202);
    for (size_t i = 0; i < 3; i++)
        expect_master_update(a, bad[i].id, MESOS__V1__TASK_STATE__TASK_ERROR,
                             MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);

    /* The same task id twice in one call: the first runs, the second is TASK_ERROR. */
    REQUIRE(expect_full_offer(a, &off) == 0);
    struct itest_task dup[] = {{"dup", "true", 0.1, 32}, {"dup", "true", 0.1, 32}};
    CHECK_INT(itest_fw_accept(a, off.idv, off.n, c.agent_id, dup, 2, 0), 202);
    int errors = 0, finished = 0;
    for (int i = 0; i < 10 && !(errors && finished); i++) {
        struct itest_event ev;
        if (itest_fw_wait(a, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "dup", ITEST_WAIT_MS,
                          &ev) != 0)
            break;
        if (ev.status.has_uuid)
            CHECK_INT(itest_fw_ack(a, &ev.status), 202);
        if (ev.status.state == MESOS__V1__TASK_STATE__TASK_ERROR) {
            errors++;
            CHECK(!ev.status.has_uuid);
            CHECK(ev.status.has_reason &&
                  ev.status.reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
        } else if (ev.status.state == MESOS__V1__TASK_STATE__TASK_FINISHED) {
            finished++;
        }
    }
    CHECK_INT(errors, 1);
    CHECK_INT(finished, 1);

    /* Everything came back. */
    REQUIRE(expect_full_offer(a, &off) == 0);
    CHECK(off.cpus > 1.99 && off.cpus < 2.01);
    itest_fw_free(a);
    itest_cluster_stop(&c);
}

static void test_rescinded_offer(void)
{
    static const char *const flags[] = {"--offer_timeout=1secs", NULL};
    struct itest_cluster_opts co = {.master_flags = flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);
    struct itest_fw *a = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(a != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(a, 2, 1024, ITEST_WAIT_MS, &off) == 0);
    REQUIRE(off.n == 1);
    /* Hold it until the master takes it back. */
    struct itest_event ev;
    int rescinded = 0;
    while (!rescinded) {
        if (itest_fw_wait(a, MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND, NULL, ITEST_WAIT_MS,
                          &ev) != 0)
            break;
        rescinded = strcmp(ev.offer_id, off.ids[0]) == 0;
    }
    CHECK(rescinded);
    REQUIRE(rescinded);
    struct itest_task t = {"late", "true", 0.1, 32};
    CHECK_INT(itest_fw_accept(a, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    expect_master_update(a, "late", MESOS__V1__TASK_STATE__TASK_LOST,
                         MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
    /* And the resources are offered again. */
    REQUIRE(expect_full_offer(a, &off) == 0);
    itest_fw_free(a);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_invalid_offers), TEST(test_rescinded_offer))
