/*
 * itest_containers: containers end to end through a real master and agent with the default
 * isolation (cgroups cpu/mem/pids + pid namespace where the machine allows it): a task that
 * allocates past its memory limit reaches the framework as TASK_FAILED with
 * REASON_CONTAINER_LIMITATION_MEMORY and a message naming the limit; /monitor/statistics and
 * /containers report Mesos's ResourceStatistics for a busy task. Needs root and cgroups (the
 * agent's isolation); skipped with a message elsewhere.
 */
#include "harness.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int cgroups_here(void)
{
    struct stat sb;
    return geteuid() == 0 && (stat("/sys/fs/cgroup/memory/memory.limit_in_bytes", &sb) == 0 ||
                              stat("/sys/fs/cgroup/cgroup.controllers", &sb) == 0);
}

static void test_oom_reason_reaches_framework(void)
{
    if (!cgroups_here())
        TEST_SKIP("itest_containers needs root and cgroups (v1 memory or v2) at /sys/fs/cgroup");
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    /* tail buffers its newline-free input: it grows past the 32 MB (+32 MB executor) limit. */
    struct itest_task t = {"hog", "head -c 500m /dev/zero | tail", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    struct itest_status st;
    REQUIRE(itest_fw_wait_state(fw, "hog", MESOS__V1__TASK_STATE__TASK_FAILED, ITEST_WAIT_MS,
                                &st) == 0);
    printf("  TASK_FAILED: %s (%s)\n", st.message,
           st.has_reason ? itest_reason_name(st.reason) : "no reason");
    CHECK(st.has_reason);
    CHECK_INT(st.reason, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY);
    CHECK(strstr(st.message, "Memory limit exceeded: Requested: 64MB") != NULL);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static json_t *find_entry(json_t *arr, const char *executor_id)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *eid = json_string_value(json_object_get(o, "executor_id"));
        if (eid && strcmp(eid, executor_id) == 0)
            return o;
    }
    return NULL;
}

static void test_statistics(void)
{
    if (!cgroups_here())
        TEST_SKIP("itest_containers needs root and cgroups (v1 memory or v2) at /sys/fs/cgroup");
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.5, 64, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"busy", "while :; do :; done", 0.5, 64};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    REQUIRE(itest_fw_wait_state(fw, "busy", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);
    double user = 0;
    json_t *entry = NULL, *arr = NULL;
    for (int i = 0; i < 100 && user <= 0; i++) {
        usleep(100000);
        json_decref(arr);
        arr = itest_get_json(c.agent_port, "/monitor/statistics");
        entry = arr ? find_entry(arr, "busy") : NULL;
        json_t *s = entry ? json_object_get(entry, "statistics") : NULL;
        user = s ? json_real_value(json_object_get(s, "cpus_user_time_secs")) : 0;
    }
    REQUIRE(entry != NULL);
    char *text = json_dumps(entry, JSON_SORT_KEYS);
    printf("  %s\n", text);
    free(text);
    CHECK(user > 0);
    json_t *s = json_object_get(entry, "statistics");
    CHECK(json_is_string(json_object_get(entry, "framework_id")));
    CHECK(json_is_string(json_object_get(entry, "executor_name")));
    CHECK(json_is_string(json_object_get(entry, "source")));
    CHECK(json_real_value(json_object_get(s, "cpus_limit")) > 0.59 &&
          json_real_value(json_object_get(s, "cpus_limit")) < 0.61); /* 0.5 + 0.1 executor */
    CHECK(json_integer_value(json_object_get(s, "mem_limit_bytes")) == 96LL * 1024 * 1024);
    CHECK(json_integer_value(json_object_get(s, "mem_total_bytes")) > 0);
    CHECK(json_object_get(s, "mem_rss_bytes") != NULL);
    CHECK(json_integer_value(json_object_get(s, "processes")) >= 3); /* init, executor, task */
    CHECK(json_real_value(json_object_get(s, "timestamp")) > 1e9);
    json_decref(arr);

    /* The legacy and prefixed names serve the same. */
    arr = itest_get_json(c.agent_port, "/monitor/statistics.json");
    CHECK(arr && find_entry(arr, "busy"));
    json_decref(arr);
    arr = itest_get_json(c.agent_port, "/slave(1)/monitor/statistics");
    CHECK(arr && find_entry(arr, "busy"));
    json_decref(arr);

    arr = itest_get_json(c.agent_port, "/containers");
    entry = arr ? find_entry(arr, "busy") : NULL;
    REQUIRE(entry != NULL);
    const char *cid = json_string_value(json_object_get(entry, "container_id"));
    REQUIRE(cid != NULL);
    CHECK(json_integer_value(json_object_get(json_object_get(entry, "status"), "executor_pid")) >
          0);
    CHECK(json_object_get(json_object_get(entry, "statistics"), "cpus_user_time_secs") != NULL);
    char path[256];
    snprintf(path, sizeof path, "/containers?container_id=%s", cid);
    json_t *one = itest_get_json(c.agent_port, path);
    CHECK(one && json_array_size(one) == 1);
    json_decref(one);
    one = itest_get_json(c.agent_port, "/containers?container_id=nope");
    CHECK(one && json_array_size(one) == 0);
    json_decref(one);
    json_decref(arr);

    CHECK_INT(itest_fw_kill(fw, "busy", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "busy", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL),
        0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_oom_reason_reaches_framework), TEST(test_statistics))
