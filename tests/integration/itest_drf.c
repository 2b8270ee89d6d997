/*
 * itest_drf: two JSON frameworks share one agent (cpus 2, mem 1024). Each wants 10 tasks of
 * cpus 0.1 / mem 32 that run for a while, takes one task per offer and declines the rest
 * without a filter. DRF must alternate the agent between them (the one with the smaller
 * dominant share gets the next offer), so the launch counts never drift apart, and all 20
 * tasks finish.
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "errors.h"

#define TASKS_EACH 10

struct drf_fw {
    struct itest_fw *fw;
    char tag;
    int launched, finished, failed;
    int suppressed;
};

static long long clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_drf(void)
{
    static const char *const flags[] = {"--allocation_interval=200ms", NULL};
    struct itest_cluster_opts co = {.master_flags = flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);
    struct itest_fw_opts oa = {.name = "drf-a"}, ob = {.name = "drf-b"};
    struct drf_fw f[2] = {{.tag = 'A'}, {.tag = 'B'}};
    f[0].fw = itest_fw_start(c.master_port, ITEST_JSON, &oa);
    REQUIRE(f[0].fw != NULL);
    f[1].fw = itest_fw_start(c.master_port, ITEST_JSON, &ob);
    REQUIRE(f[1].fw != NULL);

    char order[2 * TASKS_EACH + 1] = {0};
    size_t n_order = 0;
    int max_gap = 0;
    long long deadline = clock_ms() + 90000;
    while (clock_ms() < deadline && !(f[0].finished == TASKS_EACH && f[1].finished == TASKS_EACH)) {
        for (int k = 0; k < 2; k++) {
            struct drf_fw *d = &f[k];
            struct itest_event ev;
            int rc = itest_fw_next(d->fw, 20, &ev);
            if (rc == -ETIMEDOUT)
                continue;
            if (rc) {
                fprintf(stderr, "framework %c: stream ended: %s\n", d->tag, cm_strerror(rc));
                CHECK_INT(rc, 0);
                return;
            }
            if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) {
                for (size_t i = 0; i < ev.n_offers; i++) {
                    const struct itest_offer *o = &ev.offers[i];
                    if (d->launched < TASKS_EACH && o->cpus >= 0.1 - 1e-9 && o->mem >= 32) {
                        char id[32];
                        snprintf(id, sizeof id, "%c-%d", d->tag, d->launched);
                        struct itest_task t = {id, "sleep 2", 0.1, 32};
                        const char *ids[] = {o->id};
                        CHECK_INT(itest_fw_accept(d->fw, ids, 1, o->agent_id, &t, 1, 0), 202);
                        d->launched++;
                        order[n_order++] = d->tag;
                        int gap = f[0].launched - f[1].launched;
                        if (gap < 0)
                            gap = -gap;
                        /* Only while both still want tasks is the gap DRF's doing. */
                        if (f[0].launched < TASKS_EACH && f[1].launched < TASKS_EACH &&
                            gap > max_gap)
                            max_gap = gap;
                    } else {
                        CHECK_INT(itest_fw_decline(d->fw, o->id, d->launched < TASKS_EACH ? 0 : 60),
                                  202);
                    }
                }
                if (d->launched == TASKS_EACH && !d->suppressed) {
                    CHECK_INT(itest_fw_suppress(d->fw), 202);
                    d->suppressed = 1;
                }
            } else if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE) {
                if (ev.status.has_uuid)
                    CHECK_INT(itest_fw_ack(d->fw, &ev.status), 202);
                if (ev.status.state == MESOS__V1__TASK_STATE__TASK_FINISHED) {
                    d->finished++;
                } else if (ev.status.state != MESOS__V1__TASK_STATE__TASK_STARTING &&
                           ev.status.state != MESOS__V1__TASK_STATE__TASK_RUNNING) {
                    fprintf(stderr, "task %s: %s (%s)\n", ev.status.task_id,
                            itest_state_name(ev.status.state), ev.status.message);
                    d->failed++;
                }
            }
        }
    }
    fprintf(stderr, "launch order: %s (max gap %d)\n", order, max_gap);
    CHECK_INT(f[0].launched, TASKS_EACH);
    CHECK_INT(f[1].launched, TASKS_EACH);
    CHECK_INT(f[0].finished, TASKS_EACH);
    CHECK_INT(f[1].finished, TASKS_EACH);
    CHECK_INT(f[0].failed + f[1].failed, 0);
    /* Interleaved: neither framework got all its tasks placed before the other started. */
    CHECK(max_gap <= 2);
    const char *first_a = strchr(order, 'A'), *first_b = strchr(order, 'B');
    CHECK_INT(n_order, 2 * TASKS_EACH);
    CHECK(first_a && first_a - order < TASKS_EACH);
    CHECK(first_b && first_b - order < TASKS_EACH);
    itest_fw_free(f[0].fw);
    itest_fw_free(f[1].fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_drf))
