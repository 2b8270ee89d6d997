/*
 * itest_scheduler_json: one framework's whole life over the v1 scheduler API in JSON against a
 * real master + agent + command executor: SUBSCRIBE (stream shape, SUBSCRIBED, HEARTBEAT),
 * OFFERS, ACCEPT/LAUNCH "echo hi", the STARTING/RUNNING/FINISHED updates with 16-byte uuids and
 * their ACKNOWLEDGEs, explicit RECONCILE of a known and an unknown task, TEARDOWN, and the
 * traces it leaves (/master/state, the task's stdout in the sandbox).
 *
 * itest_scheduler_protobuf.c includes this file with ITEST_SCHED_ENC set so the very same
 * scenario runs in protobuf (and through the /master/api/v1/scheduler alias, as a partition-
 * aware framework).
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "errors.h"

#ifndef ITEST_SCHED_ENC
#define ITEST_SCHED_ENC ITEST_JSON
#define ITEST_SCHED_PATH "/api/v1/scheduler"
#define ITEST_SCHED_PARTITION_AWARE 0
#endif

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Checks one master-generated reconciliation answer. */
static void check_reconciled(const struct itest_status *st, int state)
{
    CHECK_STR(itest_state_name(st->state), itest_state_name(state));
    CHECK(!st->has_uuid);
    CHECK(st->has_source && st->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER);
    CHECK(st->has_reason && st->reason == MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION);
    if (st->has_reason)
        CHECK_STR(itest_reason_name(st->reason), "REASON_RECONCILIATION");
}

static int framework_in(json_t *list, const char *id)
{
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *fid = json_string_value(json_object_get(f, "id"));
        if (fid && strcmp(fid, id) == 0)
            return 1;
    }
    return 0;
}

static void test_scheduler_lifecycle(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);

    struct itest_fw_opts o = {.name = "itest-scheduler",
                              .path = ITEST_SCHED_PATH,
                              .partition_aware = ITEST_SCHED_PARTITION_AWARE};
    struct itest_fw *fw = itest_fw_open(c.master_port, ITEST_SCHED_ENC, &o);
    REQUIRE(fw != NULL);
    CHECK_INT(fw->http_status, 200);
    REQUIRE(fw->http_status == 200);
    CHECK(itest_stream_chunked(fw->stream));
    CHECK_INT(strlen(fw->stream_id), 36); /* a canonical UUID string */
    CHECK_STR(fw->content_type,
              ITEST_SCHED_ENC == ITEST_JSON ? "application/json" : "application/x-protobuf");
    char v[64];
    CHECK(!itest_header(itest_stream_headers(fw->stream), "Content-Length", v, sizeof v));

    /* SUBSCRIBED first, then a HEARTBEAT right away. */
    struct itest_event ev;
    REQUIRE(itest_fw_next(fw, ITEST_WAIT_MS, &ev) == 0);
    CHECK_STR(itest_event_name(ev.type), "SUBSCRIBED");
    REQUIRE(ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED);
    CHECK(ev.framework_id[0] != 0);
    CHECK(ev.has_heartbeat);
    CHECK(ev.heartbeat_interval == 15.0);
    CHECK(ev.has_master_info);
    CHECK(ev.master_id[0] != 0);
    CHECK_INT(ev.master_port, c.master_port);
    snprintf(fw->framework_id, sizeof fw->framework_id, "%s", ev.framework_id);
    REQUIRE(itest_fw_next(fw, ITEST_WAIT_MS, &ev) == 0);
    CHECK_STR(itest_event_name(ev.type), "HEARTBEAT");

    /* The whole agent is offered. */
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    CHECK_STR(off.agent_id, c.agent_id);
    CHECK_STR(off.framework_id, fw->framework_id);
    CHECK(off.cpus > 1.99 && off.cpus < 2.01);
    CHECK(off.mem > 1023.9 && off.mem < 1024.1);
    CHECK_INT(off.n, 1);

    const char *task = "echo-task";
    struct itest_task t = {task, "echo hi", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, off.agent_id, &t, 1, -1), 202);

    /* STARTING -> RUNNING -> FINISHED, in order (the agent sends the next update only after
     * the previous one is acknowledged), each from the executor with a 16-byte uuid. */
    static const int states[] = {MESOS__V1__TASK_STATE__TASK_STARTING,
                                 MESOS__V1__TASK_STATE__TASK_RUNNING,
                                 MESOS__V1__TASK_STATE__TASK_FINISHED};
    struct itest_status finished = {0};
    for (size_t i = 0; i < 3; i++) {
        int rc =
            itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task, ITEST_WAIT_MS, &ev);
        CHECK_INT(rc, 0);
        REQUIRE(rc == 0);
        struct itest_status *st = &ev.status;
        CHECK_STR(itest_state_name(st->state), itest_state_name(states[i]));
        CHECK(st->has_uuid);
        CHECK_INT(st->uuid_len, 16);
        CHECK_STR(st->agent_id, c.agent_id);
        CHECK_STR(st->executor_id, task);
        CHECK(st->timestamp > 1e9);
        CHECK(st->has_source && st->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
        if (st->state != states[i]) {
            fprintf(stderr, "unexpected update: %s reason %s message '%s'\n",
                    itest_state_name(st->state),
                    st->has_reason ? itest_reason_name(st->reason) : "-", st->message);
            return;
        }
        if (i < 2) {
            CHECK_INT(itest_fw_ack(fw, st), 202);
        } else {
            finished = *st;
        }
    }

    /* Explicit reconciliation while the terminal update is still unacknowledged: the master
     * still tracks the task and answers its latest state, without uuid. */
    CHECK_INT(itest_fw_reconcile(fw, task, NULL), 202);
    REQUIRE(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task, ITEST_WAIT_MS,
                          &ev) == 0);
    check_reconciled(&ev.status, MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK_INT(itest_fw_ack(fw, &finished), 202);

    /* An unknown task: TASK_LOST, or TASK_UNKNOWN for a partition-aware framework. */
    CHECK_INT(itest_fw_reconcile(fw, "no-such-task", NULL), 202);
    REQUIRE(itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, "no-such-task",
                          ITEST_WAIT_MS, &ev) == 0);
    check_reconciled(&ev.status, ITEST_SCHED_PARTITION_AWARE ? MESOS__V1__TASK_STATE__TASK_UNKNOWN
                                                             : MESOS__V1__TASK_STATE__TASK_LOST);

    /* The command's output is in the sandbox. */
    char path[1024];
    snprintf(path, sizeof path, "%s/slaves/%s/frameworks/%s/executors/%s/runs/latest/stdout",
             c.agent_work, c.agent_id, fw->framework_id, task);
    int found = 0;
    for (int i = 0; i < 200 && !found; i++) {
        char *out = itest_read_file(path, NULL);
        found = out && strstr(out, "hi") != NULL;
        free(out);
        if (!found)
            pause_ms(50);
    }
    if (!found)
        fprintf(stderr, "no 'hi' in %s\n", path);
    CHECK(found);

    /* TEARDOWN: 202, then the master ends the stream. */
    CHECK_INT(itest_fw_teardown(fw), 202);
    int rc;
    for (;;) {
        rc = itest_fw_next(fw, ITEST_WAIT_MS, &ev);
        if (rc)
            break;
        /* Offers sent before the master processed TEARDOWN are fine. */
        if (ev.type != MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT &&
            ev.type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
            fprintf(stderr, "event after TEARDOWN: %s\n", itest_event_name(ev.type));
    }
    CHECK_INT(rc, CM_ECLOSED);

    /* The framework is completed (torn down) in /master/state. */
    int completed = 0, active = 1;
    for (int i = 0; i < 100 && !(completed && !active); i++) {
        json_t *st = itest_get_json(c.master_port, "/master/state");
        REQUIRE(st != NULL);
        completed = framework_in(json_object_get(st, "completed_frameworks"), fw->framework_id);
        active = framework_in(json_object_get(st, "frameworks"), fw->framework_id);
        json_decref(st);
        if (!(completed && !active))
            pause_ms(50);
    }
    CHECK(completed);
    CHECK(!active);

    /* A torn-down framework cannot come back. */
    struct itest_fw_opts again = o;
    again.framework_id = fw->framework_id;
    struct itest_fw *fw2 = itest_fw_open(c.master_port, ITEST_SCHED_ENC, &again);
    REQUIRE(fw2 != NULL);
    if (fw2->http_status == 200) {
        REQUIRE(itest_fw_wait(fw2, MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR, NULL, ITEST_WAIT_MS,
                              &ev) == 0);
        CHECK(strstr(ev.message, "removed") != NULL);
    } else {
        CHECK_INT(fw2->http_status, 200);
    }
    itest_fw_free(fw2);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_scheduler_lifecycle))
