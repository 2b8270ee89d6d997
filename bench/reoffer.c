/*
 * bench-reoffer: how soon resources that come back are offered again, against a real
 * mesos-master and a real mesos-agent (this build's bin dir, started by the integration
 * harness) with a scheduler speaking the v1 HTTP API (JSON).
 *
 *  - DECLINE -> next offer: the whole agent is offered; the scheduler declines it with
 *    refuse_seconds 0 and times until the agent's resources are offered again (from before the
 *    DECLINE POST to the arrival of the OFFERS event). Each DECLINE is preceded by a REVIVE
 *    (the offer is held meanwhile, so the REVIVE offers nothing by itself): that makes it the
 *    first decline in a row, which the master re-offers at once; declines of the same
 *    resources again and again back off (allocator.h). It says when the agent came in more
 *    than one offer (each piece is then a DECLINE of its own, the later ones changed declines).
 *  - the decline loop: for a few seconds the scheduler declines (refuse 0) whatever it is
 *    offered, as soon as it arrives; prints the offers per second that loop costs.
 *  - task finished -> re-offer: a `true` task (0.1 cpus, 32 MB) is launched from the full offer
 *    (the unused rest is kept, not declined); timed from the arrival of TASK_FINISHED to the
 *    arrival of the offer holding the task's resources. Each round ends declining the rest and
 *    the task's resources with refuse 0, the second a changed decline with a back-off filter
 *    on the task's resources; the next round's recoveries must lift it (allocator.h).
 *
 * Usage: bench-reoffer [declines] [tasks] [allocation_interval] [loop_seconds]
 * (defaults 200 50 1secs 3).
 * Prints p50/p90/p99/max per measure. Not run by ctest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"

#define MAX_HELD 16

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    if (n <= 0) {
        printf("%-32s no samples\n", what);
        return;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("%-32s n=%-4d p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", what, n,
           v[n / 2] * 1e3, v[(n * 9) / 10] * 1e3, v[(n * 99) / 100] * 1e3, v[n - 1] * 1e3);
}

struct held {
    char ids[MAX_HELD][ITEST_ID];
    int n;
};

static void hold(struct held *h, const struct itest_event *ev)
{
    for (size_t i = 0; i < ev->n_offers && h->n < MAX_HELD; i++)
        snprintf(h->ids[h->n++], ITEST_ID, "%s", ev->offers[i].id);
}

static void decline_held(struct itest_fw *fw, struct held *h)
{
    for (int i = 0; i < h->n; i++)
        itest_fw_decline(fw, h->ids[i], 0);
    h->n = 0;
}

/* One task round: launch from the full offer set, keep the rest, time TASK_FINISHED -> the
 * offer of the task's resources. Returns the latency, or < 0 on failure. The offer may come
 * before the TASK_FINISHED update (the master re-offers as soon as it learns of the end, the
 * update to the framework may be on its way still): that counts as 0 and in *early. */
static double task_round(struct itest_fw *fw, const char *agent_id, struct itest_offers *off,
                         int round, int *early)
{
    char id[64];
    snprintf(id, sizeof id, "reoffer-%d", round);
    struct itest_task t = {id, "true", 0.1, 32};
    if (itest_fw_accept(fw, off->idv, off->n, agent_id, &t, 1, 0) != 202)
        return -1;
    struct held h = {.n = 0};
    double t_fin = -1, lat = -1, t_early = -1;
    double deadline = cm_monotonic_secs() + 20;
    while (lat < 0 && cm_monotonic_secs() < deadline) {
        struct itest_event ev;
        if (itest_fw_next(fw, 20000, &ev) != 0)
            break;
        double now = cm_monotonic_secs();
        if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE) {
            if (ev.status.has_uuid)
                itest_fw_ack(fw, &ev.status);
            if (strcmp(ev.status.task_id, id) == 0 &&
                ev.status.state == MESOS__V1__TASK_STATE__TASK_FINISHED) {
                t_fin = now;
                if (t_early >= 0) {
                    lat = 0;
                    (*early)++;
                }
            } else if (strcmp(ev.status.task_id, id) == 0 &&
                       ev.status.state != MESOS__V1__TASK_STATE__TASK_STARTING &&
                       ev.status.state != MESOS__V1__TASK_STATE__TASK_RUNNING) {
                fprintf(stderr, "task %s ended %s\n", id, itest_state_name(ev.status.state));
                break;
            }
        } else if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) {
            hold(&h, &ev);
            if (t_fin >= 0)
                lat = now - t_fin;
            for (size_t i = 0; i < ev.n_offers && t_fin < 0; i++)
                if (ev.offers[i].cpus < t.cpus + 1e-6)
                    t_early = now; /* the task's resources alone: it ended */
        }
    }
    decline_held(fw, &h);
    return lat;
}

int main(int argc, char **argv)
{
    int ndecl = argc > 1 ? atoi(argv[1]) : 200;
    int ntasks = argc > 2 ? atoi(argv[2]) : 50;
    char interval[64];
    snprintf(interval, sizeof interval, "--allocation_interval=%s", argc > 3 ? argv[3] : "1secs");
    double loop_secs = argc > 4 ? atof(argv[4]) : 3.0;
    if (ndecl < 0 || ntasks < 0 || !(loop_secs >= 0)) {
        fprintf(stderr, "usage: %s [declines] [tasks] [allocation_interval] [loop_seconds]\n",
                argv[0]);
        return 2;
    }
    itest_init();
    alarm(0); /* the harness's watchdog is for test cases */
    const char *const flags[] = {interval, NULL};
    struct itest_cluster_opts co = {.master_flags = flags};
    struct itest_cluster c;
    if (itest_cluster_start(&c, &co) != 0) {
        itest_case_end("reoffer", 1);
        return 1;
    }
    struct itest_fw_opts fo = {.name = "bench-reoffer"};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, &fo);
    struct itest_offers off;
    if (!fw || itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off) != 0) {
        itest_case_end("reoffer", 1);
        return 1;
    }
    double *dl = calloc((size_t)ndecl + 1, sizeof *dl),
           *tl = calloc((size_t)ntasks + 1, sizeof *tl);
    int nd = 0, nt = 0, failed = 0, early = 0, split = 0;
    for (int i = 0; i < ndecl; i++) {
        if (itest_fw_revive(fw) != 202) {
            failed = 1;
            break;
        }
        split += off.n > 1;
        double t0 = cm_monotonic_secs();
        if (itest_fw_decline_set(fw, &off, 0) != 202 ||
            itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off) != 0) {
            failed = 1;
            break;
        }
        dl[nd++] = cm_monotonic_secs() - t0;
    }
    int loop_offers = 0;
    double loop_t0 = cm_monotonic_secs(), loop_end = loop_t0 + loop_secs;
    while (!failed && cm_monotonic_secs() < loop_end) {
        if (itest_fw_decline_set(fw, &off, 0) != 202) {
            failed = 1;
            break;
        }
        int left_ms = (int)((loop_end - cm_monotonic_secs()) * 1000) + 1;
        if (itest_fw_wait_offer(fw, 2, 1024, left_ms, &off) != 0) {
            off.n = 0; /* backed off past the end of the loop */
            break;
        }
        loop_offers++;
    }
    double loop_dt = cm_monotonic_secs() - loop_t0;
    /* A change (REVIVE) ends the back-off; the offer may still be on its way. */
    if (!failed && (itest_fw_revive(fw) != 202 ||
                    (off.n == 0 && itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off) != 0)))
        failed = 1;
    for (int i = 0; i < ntasks && !failed; i++) {
        double lat = task_round(fw, c.agent_id, &off, i, &early);
        if (lat < 0) {
            fprintf(stderr, "task round %d: no re-offer after TASK_FINISHED\n", i);
            failed = 1;
            break;
        }
        if (itest_fw_wait_offer(fw, 2, 1024, ITEST_WAIT_MS, &off) != 0) {
            fprintf(stderr, "task round %d: the agent was not offered whole again\n", i);
            failed = 1;
            break;
        }
        tl[nt++] = lat;
    }
    printf("bench-reoffer (%s, real master + agent, JSON scheduler)\n", interval);
    report("DECLINE(refuse 0) -> next offer", dl, nd);
    if (split)
        printf("%-32s %d of %d declined the agent in more than one offer (a DECLINE each)\n", "",
               split, nd);
    report("TASK_FINISHED -> re-offer", tl, nt);
    if (early)
        printf("%-32s %d of %d re-offers came before the TASK_FINISHED update (counted as 0)\n", "",
               early, nt);
    printf("%-32s %d offers in %.1f s: %.1f offers/s\n", "decline loop (refuse 0)", loop_offers,
           loop_dt, loop_dt > 0 ? loop_offers / loop_dt : 0.0);
    free(dl);
    free(tl);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
    itest_case_end("reoffer", failed);
    return failed;
}
