/* test_prometheus.c: the /metrics/snapshot -> Prometheus text converter (prometheus.h): names,
 * HELP and TYPE per family, counters with "_total", gauges without, framework and role labels,
 * escaping of label values and HELP text, timers in seconds as summaries, and — when Debian's
 * promtool is installed — that promtool accepts the output (lint rules included). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "prometheus.h"
#include "test.h"

static char *render(json_t *o)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cm_prom_render(o, &text, &len);
    json_decref(o);
    CHECK_INT(rc, 0);
    CHECK(text && strlen(text) == len);
    return text;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void test_names_types_and_help(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "master/tasks_running", json_real(3));
    json_object_set_new(o, "master/tasks_finished", json_real(7));
    json_object_set_new(o, "master/cpus_total", json_real(4));
    json_object_set_new(o, "master/operations/total", json_real(2));
    json_object_set_new(o, "master/slave_removals/reason_unhealthy", json_real(1));
    json_object_set_new(o, "slave/tasks_lost", json_real(5));
    json_object_set_new(o, "system/load_1min", json_real(0.25));
    json_object_set_new(o, "not/a/number", json_string("x"));
    char *t = render(o);
    CHECK(has_line(t, "# TYPE mesos_master_tasks_running gauge"));
    CHECK(has_line(t, "mesos_master_tasks_running 3"));
    CHECK(has_line(t, "# HELP mesos_master_tasks_running Mesos gauge master/tasks_running."));
    CHECK(has_line(t, "# TYPE mesos_master_tasks_finished_total counter"));
    CHECK(has_line(t, "mesos_master_tasks_finished_total 7"));
    CHECK(has_line(t, "# HELP mesos_master_tasks_finished_total Mesos counter "
                      "master/tasks_finished."));
    /* A gauge never ends in _total; a counter that does is not doubled. */
    CHECK(has_line(t, "# TYPE mesos_master_cpus gauge"));
    CHECK(has_line(t, "mesos_master_cpus 4"));
    CHECK(has_line(t, "# TYPE mesos_master_operations_total counter"));
    CHECK(has_line(t, "mesos_master_slave_removals_reason_unhealthy_total 1"));
    CHECK(has_line(t, "mesos_slave_tasks_lost_total 5"));
    CHECK(has_line(t, "mesos_system_load_1min 0.25"));
    CHECK(strstr(t, "not_a_number") == NULL);
    /* Exactly one HELP and one TYPE per family. */
    int helps = 0, types = 0;
    for (const char *p = t; (p = strstr(p, "# HELP ")); p++)
        helps++;
    for (const char *p = t; (p = strstr(p, "# TYPE ")); p++)
        types++;
    CHECK_INT(helps, 7);
    CHECK_INT(types, 7);
    free(t);
}

static void test_framework_and_role_labels(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "master/frameworks/my%20fw/fw-1/calls", json_real(10));
    json_object_set_new(o, "master/frameworks/other/fw-2/calls", json_real(20));
    json_object_set_new(o, "master/frameworks/other/fw-2/subscribed", json_real(1));
    json_object_set_new(o, "master/frameworks/other/fw-2/roles/eng/web/suppressed", json_real(0));
    json_object_set_new(o, "allocator/mesos/roles/eng/shares/dominant", json_real(0.5));
    json_object_set_new(o, "allocator/mesos/roles/a/b/shares/dominant", json_real(0.25));
    json_object_set_new(o, "allocator/mesos/quota/roles/dev/resources/cpus/guarantee",
                        json_real(2));
    json_object_set_new(o, "allocator/role/ops/offers", json_real(3));
    char *t = render(o);
    CHECK(has_line(t, "# TYPE mesos_master_frameworks_calls_total counter"));
    CHECK(has_line(t, "mesos_master_frameworks_calls_total{framework_id=\"fw-1\","
                      "framework_name=\"my fw\"} 10"));
    CHECK(has_line(t, "mesos_master_frameworks_calls_total{framework_id=\"fw-2\","
                      "framework_name=\"other\"} 20"));
    CHECK(has_line(t, "# HELP mesos_master_frameworks_calls_total Mesos counter "
                      "master/frameworks/<framework name>/<framework id>/calls."));
    CHECK(has_line(t, "mesos_master_frameworks_subscribed{framework_id=\"fw-2\","
                      "framework_name=\"other\"} 1"));
    CHECK(has_line(t, "mesos_master_frameworks_roles_suppressed{framework_id=\"fw-2\","
                      "framework_name=\"other\",role=\"eng/web\"} 0"));
    CHECK(has_line(t, "# HELP mesos_master_frameworks_roles_suppressed Mesos gauge "
                      "master/frameworks/<framework name>/<framework id>/roles/<role>/"
                      "suppressed."));
    CHECK(has_line(t, "mesos_allocator_mesos_roles_shares_dominant{role=\"eng\"} 0.5"));
    CHECK(has_line(t, "mesos_allocator_mesos_roles_shares_dominant{role=\"a/b\"} 0.25"));
    CHECK(has_line(t, "mesos_allocator_mesos_quota_roles_resources_guarantee{resource=\"cpus\","
                      "role=\"dev\"} 2"));
    CHECK(has_line(t, "mesos_allocator_roles_offers{role=\"ops\"} 3"));
    free(t);
}

static void test_escaping(void)
{
    json_t *o = json_object();
    /* A framework name with a quote, a backslash and a newline (url-encoded by the master). */
    json_object_set_new(o, "master/frameworks/a%22b%5Cc%0Ad/fw-9/events", json_real(1));
    /* A role with a quote lands in a label value; a newline in HELP text is escaped. */
    json_object_set_new(o, "allocator/mesos/roles/q\"r/shares/dominant", json_real(1));
    json_object_set_new(o, "odd/na\nme", json_real(2));
    /* A name that decodes to invalid UTF-8 keeps its encoded form. */
    json_object_set_new(o, "master/frameworks/bad%FFname/fw-8/events", json_real(1));
    char *t = render(o);
    CHECK(has_line(t, "mesos_master_frameworks_events_total{framework_id=\"fw-8\","
                      "framework_name=\"bad%FFname\"} 1"));
    CHECK(has_line(t, "mesos_master_frameworks_events_total{framework_id=\"fw-9\","
                      "framework_name=\"a\\\"b\\\\c\\nd\"} 1"));
    CHECK(has_line(t, "mesos_allocator_mesos_roles_shares_dominant{role=\"q\\\"r\"} 1"));
    CHECK(has_line(t, "# HELP mesos_odd_na_me Mesos gauge odd/na\\nme."));
    CHECK(has_line(t, "mesos_odd_na_me 2"));
    free(t);
}

static void test_timers_and_values(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "allocator/mesos/allocation_run_ms", json_real(12));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms/count", json_real(4));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms/min", json_real(1));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms/p50", json_real(5));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms/max", json_real(12));
    json_object_set_new(o, "registrar/state_store_ms", json_real(250));
    json_object_set_new(o, "big/value", json_real(12345678901234.0));
    char *t = render(o);
    CHECK(has_line(t, "# TYPE mesos_allocator_mesos_allocation_run_seconds summary"));
    CHECK(has_line(t, "mesos_allocator_mesos_allocation_run_seconds{quantile=\"0\"} 0.001"));
    CHECK(has_line(t, "mesos_allocator_mesos_allocation_run_seconds{quantile=\"0.5\"} 0.005"));
    CHECK(has_line(t, "mesos_allocator_mesos_allocation_run_seconds{quantile=\"1\"} 0.012"));
    CHECK(has_line(t, "mesos_allocator_mesos_allocation_run_seconds_count 4"));
    CHECK(has_line(t, "# TYPE mesos_allocator_mesos_allocation_run_last_seconds gauge"));
    CHECK(has_line(t, "mesos_allocator_mesos_allocation_run_last_seconds 0.012"));
    CHECK(has_line(t, "mesos_registrar_state_store_last_seconds 0.25"));
    CHECK(has_line(t, "mesos_big_value 12345678901234"));
    free(t);
}

static void test_collision_and_bad_input(void)
{
    json_t *o = json_object();
    /* Both sanitize to mesos_a_b: the first in byte order wins, no duplicate sample. */
    json_object_set_new(o, "a/b", json_real(1));
    json_object_set_new(o, "a.b", json_real(2));
    char *t = render(o);
    CHECK(has_line(t, "mesos_a_b 2")); /* "a.b" < "a/b" */
    CHECK(!has_line(t, "mesos_a_b 1"));
    free(t);

    char *out = (char *)"x";
    json_t *arr = json_array();
    CHECK_INT(cm_prom_render(arr, &out, NULL), CM_EINVAL);
    CHECK(out == NULL);
    json_decref(arr);

    /* Empty snapshot: empty text. */
    t = render(json_object());
    CHECK_STR(t, "");
    free(t);
}

static void test_promtool_accepts_it(void)
{
    if (access("/usr/bin/promtool", X_OK) != 0)
        SKIP_CASE("promtool not installed (Debian package 'prometheus')");
    json_t *o = json_object();
    json_object_set_new(o, "master/tasks_running", json_real(3));
    json_object_set_new(o, "master/tasks_finished", json_real(7));
    json_object_set_new(o, "master/cpus_total", json_real(4));
    json_object_set_new(o, "master/uptime_secs", json_real(4.5));
    json_object_set_new(o, "master/frameworks/a%22b/fw-1/calls/accept", json_real(1));
    json_object_set_new(o, "master/frameworks/a%22b/fw-1/tasks/active/task_running", json_real(1));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms", json_real(12));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms/count", json_real(4));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms/p99", json_real(11));
    json_object_set_new(o, "allocator/mesos/resources/cpus/total", json_real(4));
    json_object_set_new(o, "allocator/mesos/roles/r\\x/shares/dominant", json_real(0.5));
    json_object_set_new(o, "containerizer/fetcher/cache_size_total_bytes", json_real(1));
    json_object_set_new(o, "system/mem_total_bytes", json_real(1e9));
    char *t = render(o);
    char path[] = "/tmp/cm-prom-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, t, strlen(t)) == (ssize_t)strlen(t));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "%s", t);
    CHECK_INT(rc, 0);
    unlink(path);
    free(t);
}

TEST_MAIN(TEST(test_names_types_and_help), TEST(test_framework_and_role_labels),
          TEST(test_escaping), TEST(test_timers_and_values), TEST(test_collision_and_bad_input),
          TEST(test_promtool_accepts_it))
