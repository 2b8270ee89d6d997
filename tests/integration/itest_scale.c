/*
 * itest_scale: a real mesos-master with thousands of emulated agents (mesos-agent-emulator,
 * docs/emulator.md) and a real framework on libcmscheduler (emulator-loadgen):
 *  - 2,000 agents register and every one of them is offered to a framework;
 *  - a partition of 50 of 500 agents: the master marks them unreachable after the missed pings,
 *    and when the partition heals they re-register and are active again;
 *  - 2,000 tasks launched by 4 frameworks run and finish on 200 agents;
 *  - a killed agent (stream dropped) restarted re-registers with its running task, which stays
 *    RUNNING for the checkpointing framework and can then be killed.
 * The registry is in_memory: the file registry rewrites every agent on each store (see
 * docs/performance.md), which is not what these cases measure.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "harness_emu.h"
#include "strmap.h"

/* Encodes a protobuf SUBSCRIBE for a framework named name. */
static uint8_t *subscribe_body(const char *name, size_t *len)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    fi.user = "root";
    fi.name = (char *)name;
    sub.framework_info = &fi;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    *len = mesos__v1__scheduler__call__get_packed_size(&call);
    uint8_t *b = malloc(*len);
    mesos__v1__scheduler__call__pack(&call, b);
    return b;
}

static void test_scale_2000_agents_register_and_are_offered(void)
{
    const int n = 2000;
    struct itest_cluster c;
    REQUIRE(itest_emu_master_start(&c, NULL) == 0);
    struct itest_emu e;
    double t0 = cm_monotonic_secs();
    REQUIRE(itest_emu_start(&e, &c, n, "cpus:1;mem:256", "forever", NULL) == 0);
    REQUIRE(itest_emu_wait(&e, "registered", n, 100));
    double t_reg = cm_monotonic_secs() - t0;
    CHECK_INT(itest_metric(c.master_port, "master/slaves_active"), n);
    CHECK_INT(itest_metric(c.master_port, "master/slaves_connected"), n);
    /* Each agent registered once: no stream was lost (a refused or timed-out attempt on a loaded
     * machine is retried, so failures alone are not counted against it). */
    CHECK_INT(itest_emu_stat(&e, "stream_losses"), 0);
    printf("itest_scale: register_failures=%lld\n", itest_emu_stat(&e, "register_failures"));

    /* A framework must see every agent in its offers, each with the agent's whole resources. */
    size_t blen;
    uint8_t *body = subscribe_body("itest-scale", &blen);
    static const char *const hdr[] = {"Content-Type: application/x-protobuf",
                                      "Accept: application/x-protobuf", NULL};
    struct itest_stream *s =
        itest_stream_open(c.master_port, "/api/v1/scheduler", hdr, body, blen, 10000);
    free(body);
    REQUIRE(s != NULL);
    REQUIRE(itest_stream_status(s) == 200);
    struct cm_strmap seen;
    cm_strmap_init(&seen);
    size_t offers = 0, bad = 0;
    double end = cm_monotonic_secs() + 30;
    while (cm_strmap_count(&seen) < (size_t)n && cm_monotonic_secs() < end) {
        uint8_t *rec = NULL;
        size_t len = 0;
        if (itest_stream_next(s, 2000, &rec, &len) != 0)
            continue;
        Mesos__V1__Scheduler__Event *ev = mesos__v1__scheduler__event__unpack(NULL, len, rec);
        free(rec);
        if (!ev)
            continue;
        if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS && ev->offers) {
            for (size_t i = 0; i < ev->offers->n_offers; i++) {
                const Mesos__V1__Offer *o = ev->offers->offers[i];
                offers++;
                double cpus = 0;
                for (size_t k = 0; k < o->n_resources; k++)
                    if (strcmp(o->resources[k]->name, "cpus") == 0 && o->resources[k]->scalar)
                        cpus += o->resources[k]->scalar->value;
                if (cpus != 1.0)
                    bad++;
                if (o->agent_id && o->hostname && strncmp(o->hostname, "emu-", 4) == 0)
                    cm_strmap_put(&seen, o->agent_id->value, (void *)1);
            }
        }
        protobuf_c_message_free_unpacked(&ev->base, NULL);
    }
    printf("itest_scale: %d agents registered in %.2fs; %zu offers covered %zu agents\n", n, t_reg,
           offers, cm_strmap_count(&seen));
    CHECK_INT(cm_strmap_count(&seen), n);
    CHECK_INT(bad, 0);
    cm_strmap_cleanup(&seen);
    itest_stream_free(s);
}

static void test_scale_partition_unreachable_then_reregistered(void)
{
    const int n = 500, cut = 50;
    struct itest_cluster c;
    static const char *const flags[] = {"--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2",
                                        NULL};
    REQUIRE(itest_emu_master_start(&c, flags) == 0);
    struct itest_emu e;
    REQUIRE(itest_emu_start(&e, &c, n, "cpus:1;mem:256", "forever", NULL) == 0);
    REQUIRE(itest_emu_wait(&e, "registered", n, 60));
    REQUIRE(itest_metric_wait(c.master_port, "master/slaves_active", n, 10));
    long long regs = itest_emu_stat(&e, "registrations");
    char out[4096];
    REQUIRE(itest_emu_ctl(&e, "partition 0-49 8", out, sizeof out) == 0);
    CHECK_STR(out, "ok partition 50 agents");
    CHECK_INT(itest_emu_stat(&e, "partitioned"), cut);
    /* No PONG for 2 pings of 1 s: unreachable; the other 450 stay active. */
    CHECK(itest_metric_wait(c.master_port, "master/slaves_unreachable", cut, 7));
    CHECK_INT(itest_metric(c.master_port, "master/slaves_active"), n - cut);
    /* The partition heals after 8 s: the agents find their streams gone and re-register. */
    CHECK(itest_metric_wait(c.master_port, "master/slaves_unreachable", 0, 30));
    CHECK(itest_metric_wait(c.master_port, "master/slaves_active", n, 10));
    CHECK(itest_emu_wait(&e, "registered", n, 10));
    CHECK_INT(itest_emu_stat(&e, "partitioned"), 0);
    CHECK(itest_emu_stat(&e, "registrations") >= regs + cut);
    /* Bad commands are refused with a reason, and change nothing. */
    REQUIRE(itest_emu_ctl(&e, "partition 0-600 5", out, sizeof out) == 0);
    CHECK(strncmp(out, "error:", 6) == 0);
    REQUIRE(itest_emu_ctl(&e, "explode all", out, sizeof out) == 0);
    CHECK(strncmp(out, "error:", 6) == 0);
}

static void test_scale_tasks_run_and_finish(void)
{
    const int n = 200, tasks = 2000;
    struct itest_cluster c;
    REQUIRE(itest_emu_master_start(&c, NULL) == 0);
    struct itest_emu e;
    REQUIRE(itest_emu_start(&e, &c, n, "cpus:2;mem:1024", "fixed:1", NULL) == 0);
    REQUIRE(itest_emu_wait(&e, "registered", n, 60));
    char log[512];
    int status = -1;
    REQUIRE(itest_emu_loadgen(&c, 4, tasks, log, sizeof log, &status) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = itest_read_file(log, NULL);
    REQUIRE(text != NULL);
    const char *res = strstr(text, "RESULT ");
    json_t *j = res ? json_loads(res + 7, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    CHECK(j != NULL);
    if (j) {
        CHECK_INT(json_integer_value(json_object_get(j, "launched")), tasks);
        CHECK_INT(json_integer_value(json_object_get(j, "running")), tasks);
        CHECK_INT(json_integer_value(json_object_get(j, "finished")), tasks);
        CHECK_INT(json_integer_value(json_object_get(j, "failed")), 0);
        printf("itest_scale: %s", res);
    }
    json_decref(j);
    free(text);
    /* Every task was launched on an emulated agent, its updates were acknowledged and it is
     * forgotten there: the task run time (0.3 s) came from the task's label. */
    CHECK_INT(itest_emu_stat(&e, "tasks_launched"), tasks);
    CHECK(itest_emu_wait(&e, "tasks_terminal", tasks, 10));
    CHECK(itest_emu_wait(&e, "tasks_active", 0, 10));
    CHECK_INT(itest_emu_stat(&e, "run_task_duplicates"), 0);
}

static void test_scale_killed_agents_restart_with_their_tasks(void)
{
    const int n = 20;
    struct itest_cluster c;
    REQUIRE(itest_emu_master_start(&c, NULL) == 0);
    struct itest_emu e;
    REQUIRE(itest_emu_start(&e, &c, n, "cpus:1;mem:256", "forever", NULL) == 0);
    REQUIRE(itest_emu_wait(&e, "registered", n, 30));
    struct itest_fw_opts fo = {
        .name = "itest-scale-restart", .checkpoint = 1, .failover_timeout = 60};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, &fo);
    REQUIRE(fw != NULL);
    struct itest_offers set;
    REQUIRE(itest_fw_wait_offer(fw, 1, 128, 10000, &set) == 0);
    struct itest_task t = {.id = "long-1", .command = "sleep 1000", .cpus = 1, .mem = 128};
    REQUIRE(itest_fw_accept(fw, set.idv, set.n, set.agent_id, &t, 1, -1) == 202);
    REQUIRE(itest_fw_wait_state(fw, "long-1", MESOS__V1__TASK_STATE__TASK_RUNNING, 10000, NULL) ==
            0);
    char out[4096];
    REQUIRE(itest_emu_ctl(&e, "kill all", out, sizeof out) == 0);
    CHECK_INT(itest_emu_stat(&e, "killed"), n);
    CHECK(itest_metric_wait(c.master_port, "master/slaves_disconnected", n, 10));
    REQUIRE(itest_emu_ctl(&e, "restart all", out, sizeof out) == 0);
    CHECK(itest_emu_wait(&e, "registered", n, 15));
    CHECK(itest_metric_wait(c.master_port, "master/slaves_active", n, 10));
    CHECK_INT(itest_metric(c.master_port, "master/slaves_disconnected"), 0);
    /* The task came back with its agent: still RUNNING in the master, and killable. */
    json_t *st = itest_get_json(c.master_port, "/master/state");
    REQUIRE(st != NULL);
    json_t *fws = json_object_get(st, "frameworks");
    const char *state = NULL;
    for (size_t i = 0; i < json_array_size(fws); i++) {
        json_t *ts = json_object_get(json_array_get(fws, i), "tasks");
        for (size_t k = 0; k < json_array_size(ts); k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(ts, k), "id")), "long-1") ==
                0)
                state = json_string_value(json_object_get(json_array_get(ts, k), "state"));
    }
    CHECK_STR(state, "TASK_RUNNING");
    json_decref(st);
    CHECK_INT(itest_fw_kill(fw, "long-1", set.agent_id), 202);
    CHECK(itest_fw_wait_state(fw, "long-1", MESOS__V1__TASK_STATE__TASK_KILLED, 10000, NULL) == 0);
    CHECK(itest_emu_wait(&e, "tasks_active", 0, 10));
    itest_fw_free(fw);
}

/* Runs emulator-loadgen (2 frameworks, 600 tasks, at most 40 launched and not RUNNING) with
 * --hold_offers=hold; returns its RESULT object (NULL on failure). */
static json_t *run_capped_loadgen(struct itest_cluster *c, const char *hold)
{
    char bin[512], f_master[128], log[512];
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    snprintf(log, sizeof log, "%s/loadgen-%s.log", c->dir, hold + 14);
    char *const argv[] = {(char *)itest_bin("emulator-loadgen", bin, sizeof bin),
                          f_master,
                          "--frameworks=2",
                          "--tasks=600",
                          "--task_cpus=0.5",
                          "--task_mem=128",
                          "--task_run_time=0.2",
                          "--max_outstanding=40",
                          "--refuse_seconds=0.1",
                          (char *)hold,
                          "--report_interval=0",
                          NULL};
    struct itest_proc lg;
    if (itest_proc_spawn(&lg, "loadgen", argv, log) != 0)
        return NULL;
    int status = -1;
    if (itest_proc_wait(&lg, 90000, &status) != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return NULL;
    char *text = itest_read_file(log, NULL);
    const char *res = text ? strstr(text, "RESULT ") : NULL;
    json_t *j = res ? json_loads(res + 7, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (res)
        printf("itest_scale: %s %s", hold, res);
    free(text);
    return j;
}

static json_int_t jint(json_t *j, const char *key)
{
    return json_integer_value(json_object_get(j, key));
}

/* At its cap of tasks launched and not yet RUNNING the load generator SUPPRESSes offers, keeps
 * a few, launches into those when half the cap is free and REVIVEs when it holds none: every
 * task still runs (a lost REVIVE or a bad held offer would stall or fail the run). */
static void test_scale_loadgen_suppresses_at_its_cap(void)
{
    const int n = 100;
    struct itest_cluster c;
    REQUIRE(itest_emu_master_start(&c, NULL) == 0);
    struct itest_emu e;
    REQUIRE(itest_emu_start(&e, &c, n, "cpus:2;mem:1024", "fixed:1", NULL) == 0);
    REQUIRE(itest_emu_wait(&e, "registered", n, 60));
    /* Holding nothing: every refill is a REVIVE. */
    json_t *j = run_capped_loadgen(&c, "--hold_offers=0");
    REQUIRE(j != NULL);
    CHECK_INT(jint(j, "finished"), 600);
    CHECK_INT(jint(j, "failed"), 0);
    CHECK(jint(j, "suppress_calls") > 0);
    CHECK(jint(j, "revive_calls") > 0);
    CHECK(jint(j, "revive_calls") <= jint(j, "suppress_calls"));
    CHECK_INT(jint(j, "held_offers"), 0);
    json_decref(j);
    CHECK(itest_metric(c.master_port, "master/messages_suppress_offers") > 0);
    CHECK(itest_metric(c.master_port, "master/messages_revive_offers") > 0);
    /* Holding 4: refills go into held offers first. */
    j = run_capped_loadgen(&c, "--hold_offers=4");
    REQUIRE(j != NULL);
    CHECK_INT(jint(j, "finished"), 600);
    CHECK_INT(jint(j, "failed"), 0);
    CHECK(jint(j, "held_offers") > 0);
    CHECK(jint(j, "held_used") > 0);
    CHECK(jint(j, "held_used") <= jint(j, "held_offers"));
    json_decref(j);
}

ITEST_MAIN(TEST(test_scale_2000_agents_register_and_are_offered),
           TEST(test_scale_partition_unreachable_then_reregistered),
           TEST(test_scale_tasks_run_and_finish),
           TEST(test_scale_killed_agents_restart_with_their_tasks),
           TEST(test_scale_loadgen_suppresses_at_its_cap))
