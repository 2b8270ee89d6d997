/* Unit tests of health checks, checks and max_completion_time in the command executor: the
 * health policy on a fake clock, HealthCheck/CheckInfo validation, the COMMAND prober, and the
 * executor's updates captured by its send hook (tasks and probes are real child processes
 * reaped on the loop; no sockets). */
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "executor.h"
#include "health.h"
#include "test.h"

static char *good_env[] = {"MESOS_FRAMEWORK_ID=fw-0001",
                           "MESOS_EXECUTOR_ID=task-1",
                           "MESOS_SLAVE_ID=m-S0",
                           "MESOS_AGENT_ENDPOINT=127.0.0.1:5051",
                           "MESOS_DIRECTORY=/tmp",
                           "PATH=/usr/bin:/bin",
                           NULL};

/* ---- the policy ------------------------------------------------------------------------ */

static void test_policy_grace_and_flips(void)
{
    struct cm_check_spec spec = {.grace = 10, .consecutive_failures = 3};
    struct cm_health_policy p;
    bool healthy = true;
    cm_health_policy_init(&p, &spec, 100.0);
    /* Failures inside the grace period before any success are ignored. */
    CHECK_INT(cm_health_policy_result(&p, false, 101.0, &healthy), 0);
    CHECK_INT(cm_health_policy_result(&p, false, 110.0, &healthy), 0);
    CHECK_INT(p.failures, 0);
    /* The first success is reported; a repeated one is not. */
    CHECK_INT(cm_health_policy_result(&p, true, 111.0, &healthy), CM_HEALTH_REPORT);
    CHECK(healthy);
    CHECK_INT(cm_health_policy_result(&p, true, 112.0, &healthy), 0);
    /* After a success the grace period no longer shields failures (Mesos). */
    cm_health_policy_init(&p, &spec, 100.0);
    CHECK_INT(cm_health_policy_result(&p, true, 101.0, &healthy), CM_HEALTH_REPORT);
    CHECK_INT(cm_health_policy_result(&p, false, 102.0, &healthy), CM_HEALTH_REPORT);
    CHECK(!healthy);
    CHECK_INT(cm_health_policy_result(&p, false, 103.0, &healthy), 0);
    /* A success resets the count and flips back. */
    CHECK_INT(cm_health_policy_result(&p, true, 104.0, &healthy), CM_HEALTH_REPORT);
    CHECK(healthy);
    CHECK_INT(p.failures, 0);
    CHECK_INT(cm_health_policy_result(&p, false, 105.0, &healthy), CM_HEALTH_REPORT);
    CHECK_INT(cm_health_policy_result(&p, false, 106.0, &healthy), 0);
    CHECK_INT(cm_health_policy_result(&p, false, 107.0, &healthy), CM_HEALTH_KILL);
    CHECK(!healthy);
}

static void test_policy_after_grace(void)
{
    struct cm_check_spec spec = {.grace = 5, .consecutive_failures = 2};
    struct cm_health_policy p;
    bool healthy = true;
    cm_health_policy_init(&p, &spec, 0.0);
    CHECK_INT(cm_health_policy_result(&p, false, 4.9, &healthy), 0);
    /* Past the grace period failures count even without a success. */
    CHECK_INT(cm_health_policy_result(&p, false, 5.1, &healthy), CM_HEALTH_REPORT);
    CHECK(!healthy);
    CHECK_INT(cm_health_policy_result(&p, false, 6.0, &healthy), CM_HEALTH_KILL);

    /* consecutive_failures 1 (and 0, treated as 1): report and kill together. */
    struct cm_check_spec one = {.grace = 0, .consecutive_failures = 0};
    cm_health_policy_init(&p, &one, 0.0);
    CHECK_INT(cm_health_policy_result(&p, false, 0.0, &healthy), CM_HEALTH_REPORT | CM_HEALTH_KILL);
}

/* ---- validation ------------------------------------------------------------------------ */

static void test_validate_health_check(void)
{
    struct cm_check_spec spec;
    char why[256];
    Mesos__V1__HealthCheck hc = MESOS__V1__HEALTH_CHECK__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__HealthCheck__TCPCheckInfo tcp = MESOS__V1__HEALTH_CHECK__TCPCHECK_INFO__INIT;
    Mesos__V1__HealthCheck__HTTPCheckInfo http = MESOS__V1__HEALTH_CHECK__HTTPCHECK_INFO__INIT;

    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "health_check.type") != NULL);

    hc.has_type = 1;
    hc.type = MESOS__V1__HEALTH_CHECK__TYPE__COMMAND;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "health_check.command") != NULL);
    hc.command = &cmd;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    cmd.value = "true";
    REQUIRE(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why) == 0);
    /* Mesos's defaults. */
    CHECK(spec.delay == 15.0 && spec.interval == 10.0 && spec.timeout == 20.0);
    CHECK(spec.grace == 10.0 && spec.consecutive_failures == 3);
    CHECK_INT(spec.type, CM_CHECK_COMMAND);
    CHECK(spec.command == &cmd);

    hc.has_interval_seconds = 1;
    hc.interval_seconds = -1;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "interval_seconds") != NULL);
    hc.interval_seconds = 1;
    hc.has_timeout_seconds = 1;
    hc.timeout_seconds = 0.0 / 0.0;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "timeout_seconds") != NULL);
    hc.timeout_seconds = 1;

    hc.type = MESOS__V1__HEALTH_CHECK__TYPE__TCP;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "health_check.tcp") != NULL);
    hc.tcp = &tcp;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "health_check.tcp.port 0 is not in 1..65535");
    tcp.port = 70000;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    tcp.port = 8080;
    REQUIRE(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why) == 0);
    CHECK(spec.port == 8080 && !spec.ipv6);

    hc.type = MESOS__V1__HEALTH_CHECK__TYPE__HTTP;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    hc.http = &http;
    http.port = 80;
    REQUIRE(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why) == 0);
    CHECK_STR(spec.path, "/");
    http.path = "health";
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "must start with '/'") != NULL);
    http.path = "/a b";
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    http.path = "/health";
    http.scheme = "https";
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "scheme 'https'") != NULL);
    http.scheme = "http";
    uint32_t bad[] = {200, 42};
    http.n_statuses = 2;
    http.statuses = bad;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "statuses[1]") != NULL);
    bad[1] = 204;
    REQUIRE(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why) == 0);
    CHECK_STR(spec.path, "/health");
    CHECK_INT(spec.n_statuses, 2);

    hc.type = (Mesos__V1__HealthCheck__Type)9;
    CHECK_INT(cm_health_spec_from_health_check(&hc, &spec, why, sizeof why), CM_EINVAL);
}

static void test_validate_check(void)
{
    struct cm_check_spec spec;
    char why[256];
    Mesos__V1__CheckInfo ci = MESOS__V1__CHECK_INFO__INIT;
    Mesos__V1__CheckInfo__Command cc = MESOS__V1__CHECK_INFO__COMMAND__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__CheckInfo__Tcp tcp = MESOS__V1__CHECK_INFO__TCP__INIT;

    CHECK_INT(cm_health_spec_from_check(&ci, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "check.type") != NULL);
    ci.has_type = 1;
    ci.type = MESOS__V1__CHECK_INFO__TYPE__COMMAND;
    CHECK_INT(cm_health_spec_from_check(&ci, &spec, why, sizeof why), CM_EINVAL);
    ci.command = &cc;
    CHECK_INT(cm_health_spec_from_check(&ci, &spec, why, sizeof why), CM_EINVAL);
    cc.command = &cmd;
    cmd.value = "exit 0";
    REQUIRE(cm_health_spec_from_check(&ci, &spec, why, sizeof why) == 0);
    CHECK(spec.delay == 15.0 && spec.interval == 10.0 && spec.timeout == 20.0);
    CHECK(spec.consecutive_failures == 0 && spec.grace == 0);
    ci.type = MESOS__V1__CHECK_INFO__TYPE__TCP;
    CHECK_INT(cm_health_spec_from_check(&ci, &spec, why, sizeof why), CM_EINVAL);
    ci.tcp = &tcp;
    CHECK_INT(cm_health_spec_from_check(&ci, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "check.tcp.port") != NULL);
    tcp.port = 1;
    CHECK_INT(cm_health_spec_from_check(&ci, &spec, why, sizeof why), 0);
    ci.has_delay_seconds = 1;
    ci.delay_seconds = -0.5;
    CHECK_INT(cm_health_spec_from_check(&ci, &spec, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "check.delay_seconds") != NULL);
}

/* ---- the COMMAND prober ---------------------------------------------------------------- */

#define MAX_RESULTS 8

struct probe_log {
    struct event_base *base;
    struct cm_check_result results[MAX_RESULTS];
    size_t n;
    size_t want;
};

static void on_probe(void *arg, const struct cm_check_result *r)
{
    struct probe_log *l = arg;
    if (l->n < MAX_RESULTS)
        l->results[l->n++] = *r;
    if (l->n >= l->want)
        event_base_loopbreak(l->base);
}

/* Runs one checker for cmd until want results arrived (or 10 s passed). */
static void probe(struct probe_log *l, const char *value, double timeout, size_t want,
                  char *const *envp)
{
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    cmd.value = (char *)value;
    struct cm_check_spec spec = {.type = CM_CHECK_COMMAND,
                                 .command = &cmd,
                                 .delay = 0,
                                 .interval = 0.05,
                                 .timeout = timeout};
    memset(l, 0, sizeof *l);
    l->base = event_base_new();
    l->want = want;
    struct cm_checker *c = cm_checker_new(l->base, &spec, envp, "/tmp", on_probe, l);
    double t0 = cm_monotonic_secs();
    while (c && l->n < want && cm_monotonic_secs() - t0 < 10) {
        struct timeval tick = {0, 50 * 1000};
        event_base_loopexit(l->base, &tick);
        event_base_dispatch(l->base);
    }
    cm_checker_free(c);
    event_base_free(l->base);
}

static void test_command_prober(void)
{
    struct probe_log l;
    probe(&l, "exit 3", 5, 2, good_env);
    REQUIRE(l.n == 2);
    CHECK(!l.results[0].ok);
    CHECK(l.results[0].has_exit_code && l.results[0].exit_code == 3);
    CHECK_STR(l.results[0].message, "Command exited with status 3");
    CHECK_INT(l.results[1].exit_code, 3);

    /* The environment and the working directory are the task's. */
    char *env[] = {"PATH=/usr/bin:/bin", "HEALTH_WORD=bird", NULL};
    probe(&l, "test \"$HEALTH_WORD\" = bird && test \"$(pwd)\" = /tmp", 5, 1, env);
    REQUIRE(l.n == 1);
    CHECK(l.results[0].ok);
    CHECK(l.results[0].has_exit_code && l.results[0].exit_code == 0);

    /* A probe that outlives its timeout is killed and fails without an exit code. */
    double t0 = cm_monotonic_secs();
    probe(&l, "sleep 30", 0.2, 1, good_env);
    REQUIRE(l.n == 1);
    CHECK(cm_monotonic_secs() - t0 < 5);
    CHECK(!l.results[0].ok);
    CHECK(!l.results[0].has_exit_code);
    CHECK(strstr(l.results[0].message, "timed out") != NULL);

    /* A program that cannot start is a failed probe, not a crash. */
    probe(&l, "/nonexistent/health-probe", 5, 1, good_env);
    REQUIRE(l.n == 1);
    CHECK(!l.results[0].ok);
}

/* ---- the executor ---------------------------------------------------------------------- */

#include "executor_harness.h"

/* An executor that has already been told SUBSCRIBED. */
static int harness_init(struct harness *h)
{
    if (harness_start(h, good_env) != 0)
        return -1;
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Subscribed s = MESOS__V1__EXECUTOR__EVENT__SUBSCRIBED__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &s;
    cm_executor_handle_event(h->ex, &ev);
    return 0;
}

/* Runs the loop for secs seconds. */
static void run_for(struct harness *h, double secs)
{
    double t0 = cm_monotonic_secs();
    while (cm_monotonic_secs() - t0 < secs) {
        struct timeval tick = {0, 20 * 1000};
        event_base_loopexit(h->base, &tick);
        event_base_dispatch(h->base);
    }
}

/* LAUNCH of task-1 running value, with t's health_check / check / kill_policy /
 * max_completion_time (the rest of t is filled here). */
static void launch(struct harness *h, const char *value, Mesos__V1__TaskInfo *t)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Launch l = MESOS__V1__EXECUTOR__EVENT__LAUNCH__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo c = MESOS__V1__COMMAND_INFO__INIT;
    tid.value = "task-1";
    aid.value = "m-S0";
    c.value = (char *)value;
    t->name = "t";
    t->task_id = &tid;
    t->agent_id = &aid;
    t->command = &c;
    l.task = t;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH;
    ev.launch = &l;
    cm_executor_handle_event(h->ex, &ev);
}

static void kill_event(struct harness *h)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Kill k = MESOS__V1__EXECUTOR__EVENT__KILL__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = "task-1";
    k.task_id = &tid;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__KILL;
    ev.kill = &k;
    cm_executor_handle_event(h->ex, &ev);
}

static const Mesos__V1__TaskStatus *status_of(const struct harness *h, size_t i)
{
    return h->calls[i]->update->status;
}

/* A COMMAND health check probing every 50 ms from the start, without grace. */
static void fast_health_check(Mesos__V1__HealthCheck *hc, Mesos__V1__CommandInfo *cmd,
                              const char *value, uint32_t failures)
{
    mesos__v1__health_check__init(hc);
    mesos__v1__command_info__init(cmd);
    cmd->value = (char *)value;
    hc->has_type = 1;
    hc->type = MESOS__V1__HEALTH_CHECK__TYPE__COMMAND;
    hc->command = cmd;
    hc->has_delay_seconds = hc->has_interval_seconds = hc->has_grace_period_seconds = 1;
    hc->delay_seconds = 0;
    hc->interval_seconds = 0.05;
    hc->grace_period_seconds = 0;
    hc->has_consecutive_failures = 1;
    hc->consecutive_failures = failures;
}

static void test_failing_health_check_kills(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__HealthCheck hc;
    Mesos__V1__CommandInfo cmd;
    fast_health_check(&hc, &cmd, "exit 1", 2);
    t.health_check = &hc;
    launch(&h, "sleep 100", &t);
    run_until_calls(&h, 4);
    REQUIRE(h.ncalls == 4);
    CHECK_INT(status_of(&h, 0)->state, MESOS__V1__TASK_STATE__TASK_STARTING);
    CHECK_INT(status_of(&h, 1)->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(!status_of(&h, 1)->has_healthy);
    /* healthy:false is reported before the kill... */
    const Mesos__V1__TaskStatus *u = status_of(&h, 2);
    CHECK_INT(u->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(u->has_healthy && !u->healthy);
    CHECK(u->has_reason &&
          u->reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
    /* ...and the task ends killed, still unhealthy, with a message naming the check. */
    const Mesos__V1__TaskStatus *k = status_of(&h, 3);
    CHECK_INT(k->state, MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK(k->has_healthy && !k->healthy);
    REQUIRE(k->message != NULL);
    CHECK(strstr(k->message, "health check failed 2 consecutive times") != NULL);
    CHECK(strstr(k->message, "Command exited with status 1") != NULL);
    run_for(&h, 0.2);
    CHECK_INT(h.ncalls, 4); /* nothing after the terminal update */
    harness_cleanup(&h);
}

static void test_passing_health_check(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__HealthCheck hc;
    Mesos__V1__CommandInfo cmd;
    fast_health_check(&hc, &cmd, "true", 1);
    t.health_check = &hc;
    launch(&h, "sleep 100", &t);
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    const Mesos__V1__TaskStatus *u = status_of(&h, 2);
    CHECK_INT(u->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(u->has_healthy && u->healthy);
    CHECK(u->has_reason &&
          u->reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
    /* Health that stays the same is not reported again. */
    run_for(&h, 0.3);
    CHECK_INT(h.ncalls, 3);
    kill_event(&h);
    run_until_calls(&h, 4);
    REQUIRE(h.ncalls == 4);
    CHECK_INT(status_of(&h, 3)->state, MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK(!status_of(&h, 3)->has_healthy);
    harness_cleanup(&h);
}

/* Health follows a file: absent => unhealthy, present => healthy, removed => unhealthy. The
 * check sees the task's environment (HEALTH_FLAG comes from the task's command). */
static void test_health_flips(void)
{
    char flag[] = "/tmp/cm-health-XXXXXX";
    int fd = mkstemp(flag);
    REQUIRE(fd >= 0);
    close(fd);
    unlink(flag);
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__HealthCheck hc;
    Mesos__V1__CommandInfo cmd;
    fast_health_check(&hc, &cmd, "test -e \"$HEALTH_FLAG\"", 1000);
    t.health_check = &hc;
    /* The task's own environment is set through its CommandInfo. */
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Launch l = MESOS__V1__EXECUTOR__EVENT__LAUNCH__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo c = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__Environment env = MESOS__V1__ENVIRONMENT__INIT;
    Mesos__V1__Environment__Variable var = MESOS__V1__ENVIRONMENT__VARIABLE__INIT;
    Mesos__V1__Environment__Variable *vars[] = {&var};
    var.name = "HEALTH_FLAG";
    var.value = flag;
    env.n_variables = 1;
    env.variables = vars;
    tid.value = "task-1";
    aid.value = "m-S0";
    c.value = "sleep 100";
    c.environment = &env;
    t.name = "t";
    t.task_id = &tid;
    t.agent_id = &aid;
    t.command = &c;
    l.task = &t;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH;
    ev.launch = &l;
    cm_executor_handle_event(h.ex, &ev);

    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    CHECK(status_of(&h, 2)->has_healthy && !status_of(&h, 2)->healthy);
    fd = open(flag, O_CREAT | O_WRONLY, 0600);
    REQUIRE(fd >= 0);
    close(fd);
    run_until_calls(&h, 4);
    REQUIRE(h.ncalls == 4);
    CHECK(status_of(&h, 3)->has_healthy && status_of(&h, 3)->healthy);
    unlink(flag);
    run_until_calls(&h, 5);
    REQUIRE(h.ncalls == 5);
    CHECK(status_of(&h, 4)->has_healthy && !status_of(&h, 4)->healthy);
    CHECK_INT(status_of(&h, 4)->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    kill_event(&h);
    run_until_calls(&h, 6);
    CHECK_INT(h.ncalls, 6);
    harness_cleanup(&h);
}

static void test_invalid_health_check_fails_task(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__HealthCheck hc = MESOS__V1__HEALTH_CHECK__INIT;
    Mesos__V1__HealthCheck__TCPCheckInfo tcp = MESOS__V1__HEALTH_CHECK__TCPCHECK_INFO__INIT;
    hc.has_type = 1;
    hc.type = MESOS__V1__HEALTH_CHECK__TYPE__TCP;
    hc.tcp = &tcp; /* port 0 */
    t.health_check = &hc;
    launch(&h, "sleep 100", &t);
    run_until_calls(&h, 1);
    REQUIRE(h.ncalls == 1);
    CHECK_INT(status_of(&h, 0)->state, MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK_STR(status_of(&h, 0)->message,
              "Invalid health check: health_check.tcp.port 0 is not in 1..65535");
    harness_cleanup(&h);

    /* A type without its sub-message. */
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t2 = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__HealthCheck hc2 = MESOS__V1__HEALTH_CHECK__INIT;
    hc2.has_type = 1;
    hc2.type = MESOS__V1__HEALTH_CHECK__TYPE__HTTP;
    t2.health_check = &hc2;
    launch(&h, "sleep 100", &t2);
    run_until_calls(&h, 1);
    REQUIRE(h.ncalls == 1);
    CHECK_INT(status_of(&h, 0)->state, MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK(strstr(status_of(&h, 0)->message, "health_check.http must be set") != NULL);
    harness_cleanup(&h);
}

static void test_check_status_updates(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__CheckInfo ci = MESOS__V1__CHECK_INFO__INIT;
    Mesos__V1__CheckInfo__Command cc = MESOS__V1__CHECK_INFO__COMMAND__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    cmd.value = "exit 3";
    cc.command = &cmd;
    ci.has_type = 1;
    ci.type = MESOS__V1__CHECK_INFO__TYPE__COMMAND;
    ci.command = &cc;
    ci.has_delay_seconds = ci.has_interval_seconds = 1;
    ci.delay_seconds = 0;
    ci.interval_seconds = 0.05;
    t.check = &ci;
    launch(&h, "sleep 100", &t);
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    /* Every update carries the check status; before a result it has only the type. */
    for (size_t i = 0; i < 2; i++) {
        const Mesos__V1__CheckStatusInfo *cs = status_of(&h, i)->check_status;
        REQUIRE(cs != NULL);
        CHECK(cs->has_type && cs->type == MESOS__V1__CHECK_INFO__TYPE__COMMAND);
        REQUIRE(cs->command != NULL);
        CHECK(!cs->command->has_exit_code);
    }
    const Mesos__V1__TaskStatus *u = status_of(&h, 2);
    CHECK_INT(u->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(u->has_reason &&
          u->reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_CHECK_STATUS_UPDATED);
    CHECK(!u->has_healthy);
    REQUIRE(u->check_status && u->check_status->command);
    CHECK(u->check_status->command->has_exit_code && u->check_status->command->exit_code == 3);
    /* The same result again is not an update; a failing check never kills the task. */
    run_for(&h, 0.3);
    CHECK_INT(h.ncalls, 3);
    kill_event(&h);
    run_until_calls(&h, 4);
    REQUIRE(h.ncalls == 4);
    CHECK_INT(status_of(&h, 3)->state, MESOS__V1__TASK_STATE__TASK_KILLED);
    REQUIRE(status_of(&h, 3)->check_status && status_of(&h, 3)->check_status->command);
    CHECK_INT(status_of(&h, 3)->check_status->command->exit_code, 3);
    harness_cleanup(&h);
}

static void test_max_completion_time(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__DurationInfo d = MESOS__V1__DURATION_INFO__INIT;
    d.nanoseconds = 200 * 1000 * 1000;
    t.max_completion_time = &d;
    double t0 = cm_monotonic_secs();
    launch(&h, "sleep 100", &t);
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    CHECK(cm_monotonic_secs() - t0 < 3);
    const Mesos__V1__TaskStatus *u = status_of(&h, 2);
    CHECK_INT(u->state, MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK(u->has_reason &&
          u->reason == MESOS__V1__TASK_STATUS__REASON__REASON_MAX_COMPLETION_TIME_REACHED);
    CHECK(u->message && strstr(u->message, "maximum completion time") != NULL);
    harness_cleanup(&h);

    /* A task that ends in time is not affected. */
    REQUIRE(harness_init(&h) == 0);
    Mesos__V1__TaskInfo t2 = MESOS__V1__TASK_INFO__INIT;
    d.nanoseconds = 5LL * 1000 * 1000 * 1000;
    t2.max_completion_time = &d;
    launch(&h, "true", &t2);
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    CHECK_INT(status_of(&h, 2)->state, MESOS__V1__TASK_STATE__TASK_FINISHED);
    harness_cleanup(&h);
}

TEST_MAIN(TEST(test_policy_grace_and_flips), TEST(test_policy_after_grace),
          TEST(test_validate_health_check), TEST(test_validate_check), TEST(test_command_prober),
          TEST(test_failing_health_check_kills), TEST(test_passing_health_check),
          TEST(test_health_flips), TEST(test_invalid_health_check_fails_task),
          TEST(test_check_status_updates), TEST(test_max_completion_time))
