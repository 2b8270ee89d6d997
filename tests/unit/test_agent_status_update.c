/* Status update manager: per-task order, retry back-off on the fake clock, ack => next. */
#include "errors.h"
#include "status_update.h"
#include "test.h"

struct sent {
    char task[64];
    Mesos__V1__TaskState state;
    Mesos__V1__TaskState latest;
    uint8_t uuid[16];
};

static struct sent log_[64];
static int nlog;

static void on_send(void *arg, const char *framework_id, const char *executor_id,
                    const Mesos__V1__TaskStatus *status, Mesos__V1__TaskState latest)
{
    (void)arg;
    (void)executor_id;
    CHECK_STR(framework_id, "F");
    if (nlog < 64) {
        snprintf(log_[nlog].task, sizeof log_[nlog].task, "%s", status->task_id->value);
        log_[nlog].state = status->state;
        log_[nlog].latest = latest;
        memcpy(log_[nlog].uuid, status->uuid.data, 16);
    }
    nlog++;
}

static void make_status(Mesos__V1__TaskStatus *s, Mesos__V1__TaskID *tid, const char *task,
                        Mesos__V1__TaskState state, uint8_t uuid[16], uint8_t seed)
{
    mesos__v1__task_status__init(s);
    mesos__v1__task_id__init(tid);
    tid->value = (char *)task;
    s->task_id = tid;
    s->state = state;
    for (int i = 0; i < 16; i++)
        uuid[i] = (uint8_t)(seed + i);
    s->has_uuid = 1;
    s->uuid.data = uuid;
    s->uuid.len = 16;
}

static void test_order_and_ack(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 1000);
    nlog = 0;
    struct cm_sum *sum = cm_sum_new(&fc.clock, on_send, NULL);
    Mesos__V1__TaskStatus s1, s2, s3;
    Mesos__V1__TaskID t1, t2, t3;
    uint8_t u1[16], u2[16], u3[16];
    make_status(&s1, &t1, "t", MESOS__V1__TASK_STATE__TASK_RUNNING, u1, 1);
    make_status(&s2, &t2, "t", MESOS__V1__TASK_STATE__TASK_FINISHED, u2, 50);
    make_status(&s3, &t3, "other", MESOS__V1__TASK_STATE__TASK_RUNNING, u3, 100);

    /* Queued while disconnected; connecting sends the heads only. */
    CHECK(cm_sum_update(sum, "F", "t", &s1) == 0);
    CHECK(cm_sum_update(sum, "F", "t", &s2) == 0);
    CHECK(cm_sum_update(sum, "F", "t", &s1) == CM_EEXIST); /* duplicate uuid */
    CHECK_INT(nlog, 0);
    cm_sum_set_connected(sum, true);
    REQUIRE(nlog == 1);
    CHECK_STR(log_[0].task, "t");
    CHECK(log_[0].state == MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(log_[0].latest == MESOS__V1__TASK_STATE__TASK_FINISHED);

    /* Another task's stream is independent and sent at once. */
    CHECK(cm_sum_update(sum, "F", "other", &s3) == 0);
    REQUIRE(nlog == 2);
    CHECK_STR(log_[1].task, "other");
    CHECK_INT(cm_sum_streams(sum), 2);

    /* A wrong uuid (not the head) does nothing. */
    Mesos__V1__TaskState st;
    bool done = true;
    CHECK(cm_sum_acknowledge(sum, "F", "t", u2, 16, &st, &done) == CM_ENOTFOUND);
    CHECK(cm_sum_acknowledge(sum, "F", "nope", u1, 16, &st, &done) == CM_ENOTFOUND);
    CHECK_INT(nlog, 2);

    /* Ack of the head sends the next. */
    CHECK(cm_sum_acknowledge(sum, "F", "t", u1, 16, &st, &done) == 0);
    CHECK(st == MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(!done);
    REQUIRE(nlog == 3);
    CHECK(log_[2].state == MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK(memcmp(log_[2].uuid, u2, 16) == 0);
    Mesos__V1__TaskState head;
    CHECK_INT(cm_sum_pending(sum, "F", "t", &head), 1);
    CHECK(head == MESOS__V1__TASK_STATE__TASK_FINISHED);

    CHECK(cm_sum_acknowledge(sum, "F", "t", u2, 16, &st, &done) == 0);
    CHECK(st == MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK(done);
    CHECK_INT(cm_sum_pending(sum, "F", "t", NULL), 0);
    CHECK_INT(nlog, 3);
    CHECK_INT(cm_sum_streams(sum), 1);
    cm_sum_free(sum);
}

static void test_retry_backoff(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    nlog = 0;
    struct cm_sum *sum = cm_sum_new(&fc.clock, on_send, NULL);
    cm_sum_set_connected(sum, true);
    Mesos__V1__TaskStatus s;
    Mesos__V1__TaskID t;
    uint8_t u[16];
    make_status(&s, &t, "t", MESOS__V1__TASK_STATE__TASK_RUNNING, u, 7);
    CHECK(cm_sum_update(sum, "F", NULL, &s) == 0);
    CHECK_INT(nlog, 1);
    /* Nothing before 10 s. */
    cm_fake_clock_advance(&fc, 9.9);
    cm_sum_tick(sum);
    CHECK_INT(nlog, 1);
    cm_fake_clock_advance(&fc, 0.1); /* t = 10 */
    cm_sum_tick(sum);
    CHECK_INT(nlog, 2);
    /* Next after 20 s more, then 40, 80 ... capped at 600. */
    cm_fake_clock_advance(&fc, 19);
    cm_sum_tick(sum);
    CHECK_INT(nlog, 2);
    cm_fake_clock_advance(&fc, 1); /* t = 30 */
    cm_sum_tick(sum);
    CHECK_INT(nlog, 3);
    double expect[] = {40, 80, 160, 320, 600, 600};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int before = nlog;
        cm_fake_clock_advance(&fc, expect[i] - 0.5);
        cm_sum_tick(sum);
        CHECK_INT(nlog, before);
        cm_fake_clock_advance(&fc, 0.5);
        cm_sum_tick(sum);
        CHECK_INT(nlog, before + 1);
    }
    /* Disconnected: no sends; reconnect re-sends at once and restarts the back-off. */
    cm_sum_set_connected(sum, false);
    int before = nlog;
    cm_fake_clock_advance(&fc, 10000);
    cm_sum_tick(sum);
    CHECK_INT(nlog, before);
    cm_sum_set_connected(sum, true);
    CHECK_INT(nlog, before + 1);
    cm_fake_clock_advance(&fc, 10);
    cm_sum_tick(sum);
    CHECK_INT(nlog, before + 2);
    /* Ack stops the retries. */
    bool done = false;
    CHECK(cm_sum_acknowledge(sum, "F", "t", u, 16, NULL, &done) == 0);
    CHECK(done);
    before = nlog;
    cm_fake_clock_advance(&fc, 1000);
    cm_sum_tick(sum);
    CHECK_INT(nlog, before);
    cm_sum_free(sum);
}

static void test_invalid_and_drop(void)
{
    struct cm_fake_clock fc;
    cm_fake_clock_init(&fc, 0);
    nlog = 0;
    struct cm_sum *sum = cm_sum_new(&fc.clock, on_send, NULL);
    Mesos__V1__TaskStatus s;
    Mesos__V1__TaskID t;
    uint8_t u[16];
    make_status(&s, &t, "t", MESOS__V1__TASK_STATE__TASK_RUNNING, u, 7);
    s.uuid.len = 15;
    CHECK(cm_sum_update(sum, "F", NULL, &s) == CM_EINVAL);
    s.has_uuid = 0;
    CHECK(cm_sum_update(sum, "F", NULL, &s) == CM_EINVAL);
    s.has_uuid = 1;
    s.uuid.len = 16;
    CHECK(cm_sum_update(sum, "F", NULL, &s) == 0);
    CHECK(cm_sum_update(sum, "G", NULL, &s) == 0); /* same task id, other framework */
    CHECK_INT(cm_sum_streams(sum), 2);
    cm_sum_drop_framework(sum, "F");
    CHECK_INT(cm_sum_streams(sum), 1);
    CHECK_INT(cm_sum_pending(sum, "G", "t", NULL), 1);
    cm_sum_free(sum);
    cm_sum_free(NULL);
}

TEST_MAIN(TEST(test_order_and_ack), TEST(test_retry_backoff), TEST(test_invalid_and_drop))
