/* Unit tests of the command executor without sockets: configuration from the environment,
 * TaskStatus construction, and the event state machine with calls captured by a send hook
 * (tasks are real child processes reaped on the loop). */
#include <event2/event.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "executor.h"
#include "test.h"

static char *good_env[] = {"MESOS_FRAMEWORK_ID=fw-0001",
                           "MESOS_EXECUTOR_ID=task-1",
                           "MESOS_SLAVE_ID=m-S0",
                           "MESOS_AGENT_ENDPOINT=127.0.0.1:5051",
                           "MESOS_SLAVE_PID=slave(1)@127.0.0.1:5051",
                           "MESOS_DIRECTORY=/tmp",
                           "MESOS_CHECKPOINT=1",
                           "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=7secs",
                           "MESOS_RECOVERY_TIMEOUT=15mins",
                           "PATH=/usr/bin:/bin",
                           NULL};

static void test_config_from_env(void)
{
    struct cm_exec_env cfg;
    char why[256];
    REQUIRE(cm_exec_env_from_env(&cfg, good_env, why, sizeof why) == 0);
    CHECK_STR(cfg.framework_id, "fw-0001");
    CHECK_STR(cfg.executor_id, "task-1");
    CHECK_STR(cfg.agent_id, "m-S0");
    CHECK_STR(cfg.agent_endpoint, "127.0.0.1:5051");
    CHECK_STR(cfg.sandbox, "/tmp"); /* MESOS_DIRECTORY when MESOS_SANDBOX is absent */
    CHECK(cfg.checkpoint);
    CHECK(cfg.shutdown_grace == 7.0);
    CHECK(cfg.recovery_timeout == 900.0);
    CHECK(cfg.backoff_max == 2.0); /* default */
    cm_exec_env_cleanup(&cfg);

    char *minimal[] = {"MESOS_FRAMEWORK_ID=f", "MESOS_EXECUTOR_ID=e",
                       "MESOS_SLAVE_ID=a",     "MESOS_AGENT_ENDPOINT=10.0.0.1:5051",
                       "MESOS_CHECKPOINT=0",   NULL};
    REQUIRE(cm_exec_env_from_env(&cfg, minimal, why, sizeof why) == 0);
    CHECK(!cfg.checkpoint);
    CHECK(cfg.shutdown_grace == 5.0);
    CHECK(cfg.sandbox == NULL);
    cm_exec_env_cleanup(&cfg);
}

static void test_config_errors(void)
{
    struct cm_exec_env cfg;
    char why[256];
    char *no_fw[] = {"MESOS_EXECUTOR_ID=e", "MESOS_SLAVE_ID=a", "MESOS_AGENT_ENDPOINT=h:1", NULL};
    CHECK_INT(cm_exec_env_from_env(&cfg, no_fw, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "MESOS_FRAMEWORK_ID is not set");

    char *bad_grace[] = {"MESOS_FRAMEWORK_ID=f",
                         "MESOS_EXECUTOR_ID=e",
                         "MESOS_SLAVE_ID=a",
                         "MESOS_AGENT_ENDPOINT=h:1",
                         "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=soon",
                         NULL};
    CHECK_INT(cm_exec_env_from_env(&cfg, bad_grace, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD") != NULL);
    CHECK(strstr(why, "'soon'") != NULL);

    char *bad_ep[] = {"MESOS_FRAMEWORK_ID=f", "MESOS_EXECUTOR_ID=e", "MESOS_SLAVE_ID=a",
                      "MESOS_AGENT_ENDPOINT=http://h:1/x", NULL};
    CHECK_INT(cm_exec_env_from_env(&cfg, bad_ep, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "MESOS_AGENT_ENDPOINT") != NULL);

    char *bad_id[] = {"MESOS_FRAMEWORK_ID=f", "MESOS_EXECUTOR_ID=../e", "MESOS_SLAVE_ID=a",
                      "MESOS_AGENT_ENDPOINT=h:1", NULL};
    CHECK_INT(cm_exec_env_from_env(&cfg, bad_id, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "MESOS_EXECUTOR_ID") != NULL);
}

static void test_status_new(void)
{
    struct cm_exec_env cfg;
    char why[256];
    REQUIRE(cm_exec_env_from_env(&cfg, good_env, why, sizeof why) == 0);
    Mesos__V1__TaskStatus *a =
        cm_executor_status_new(&cfg, "task-1", MESOS__V1__TASK_STATE__TASK_FAILED,
                               "Command exited with status 3", 42.5, 0);
    Mesos__V1__TaskStatus *b =
        cm_executor_status_new(&cfg, "task-1", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL, 43.0, 77);
    REQUIRE(a && b);
    CHECK_STR(a->task_id->value, "task-1");
    CHECK_INT(a->state, MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK_STR(a->message, "Command exited with status 3");
    CHECK(a->has_source && a->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
    CHECK_STR(a->executor_id->value, "task-1");
    CHECK_STR(a->agent_id->value, "m-S0");
    CHECK(a->has_timestamp && a->timestamp == 42.5);
    CHECK(a->has_uuid);
    CHECK_INT(a->uuid.len, 16);
    CHECK(a->container_status == NULL);
    CHECK(b->message == NULL);
    REQUIRE(b->container_status != NULL);
    CHECK(b->container_status->has_executor_pid && b->container_status->executor_pid == 77);
    CHECK(memcmp(a->uuid.data, b->uuid.data, 16) != 0);
    mesos__v1__task_status__free_unpacked(a, NULL);
    mesos__v1__task_status__free_unpacked(b, NULL);
    cm_exec_env_cleanup(&cfg);
}

/* ---- the state machine ----------------------------------------------------------------- */

#include "executor_harness.h"

static int harness_init(struct harness *h)
{
    return harness_start(h, good_env);
}

static void run_until_exit(struct harness *h)
{
    double t0 = cm_monotonic_secs();
    while (h->exit_code < 0 && cm_monotonic_secs() - t0 < 10) {
        struct timeval tick = {0, 20 * 1000};
        event_base_loopexit(h->base, &tick);
        event_base_dispatch(h->base);
    }
}

static void subscribed(struct harness *h, bool killing_capable)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Subscribed s = MESOS__V1__EXECUTOR__EVENT__SUBSCRIBED__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT;
    Mesos__V1__FrameworkInfo__Capability *caps[] = {&cap};
    cap.has_type = 1;
    cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE;
    if (killing_capable) {
        fi.n_capabilities = 1;
        fi.capabilities = caps;
    }
    s.framework_info = &fi;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &s;
    cm_executor_handle_event(h->ex, &ev);
}

/* LAUNCH of task id; shell=false when args is non-NULL. */
static void launch_id(struct harness *h, const char *id, const char *value, char **args,
                      size_t nargs, Mesos__V1__Environment *env)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Launch l = MESOS__V1__EXECUTOR__EVENT__LAUNCH__INIT;
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo c = MESOS__V1__COMMAND_INFO__INIT;
    tid.value = (char *)id;
    aid.value = "m-S0";
    c.value = (char *)value;
    if (args) {
        c.has_shell = 1;
        c.shell = 0;
        c.n_arguments = nargs;
        c.arguments = args;
    }
    c.environment = env;
    t.name = "t";
    t.task_id = &tid;
    t.agent_id = &aid;
    t.command = &c;
    l.task = &t;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH;
    ev.launch = &l;
    cm_executor_handle_event(h->ex, &ev);
}

static void launch(struct harness *h, const char *value, char **args, size_t nargs,
                   Mesos__V1__Environment *env)
{
    launch_id(h, "task-1", value, args, nargs, env);
}

static void acknowledge(struct harness *h, const Mesos__V1__Executor__Call *update)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Acknowledged a = MESOS__V1__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
    a.task_id = update->update->status->task_id;
    a.uuid = update->update->status->uuid;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
    ev.acknowledged = &a;
    cm_executor_handle_event(h->ex, &ev);
}

static void simple_event(struct harness *h, Mesos__V1__Executor__Event__Type type)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    ev.has_type = 1;
    ev.type = type;
    cm_executor_handle_event(h->ex, &ev);
}

static Mesos__V1__TaskState state_of(const struct harness *h, size_t i)
{
    return h->calls[i]->update->status->state;
}

static Mesos__V1__Executor__Call__Subscribe *subscribe_call(struct harness *h,
                                                            Mesos__V1__Executor__Call **owner)
{
    uint8_t *buf;
    size_t len;
    *owner = NULL;
    if (cm_executor_pack_subscribe(h->ex, &buf, &len) != 0)
        return NULL;
    *owner = mesos__v1__executor__call__unpack(NULL, len, buf);
    free(buf);
    return *owner ? (*owner)->subscribe : NULL;
}

static void test_task_fails_with_status(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    launch(&h, "exit 3", NULL, 0, NULL);
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT(h.calls[i]->type, MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE);
        CHECK_STR(h.calls[i]->executor_id->value, "task-1");
        CHECK_STR(h.calls[i]->framework_id->value, "fw-0001");
        CHECK_INT(h.calls[i]->update->status->uuid.len, 16);
        CHECK(h.calls[i]->update->status->timestamp == 1000.0);
    }
    CHECK_INT(state_of(&h, 0), MESOS__V1__TASK_STATE__TASK_STARTING);
    CHECK_INT(state_of(&h, 1), MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(h.calls[1]->update->status->container_status &&
          h.calls[1]->update->status->container_status->executor_pid == (uint32_t)getpid());
    CHECK_INT(state_of(&h, 2), MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK_STR(h.calls[2]->update->status->message, "Command exited with status 3");

    /* Nothing acknowledged yet: a re-subscription carries the task and all three updates. */
    Mesos__V1__Executor__Call *owner;
    Mesos__V1__Executor__Call__Subscribe *sub = subscribe_call(&h, &owner);
    REQUIRE(sub != NULL);
    CHECK_INT(owner->type, MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE);
    CHECK_INT(sub->n_unacknowledged_tasks, 1);
    CHECK_INT(sub->n_unacknowledged_updates, 3);
    mesos__v1__executor__call__free_unpacked(owner, NULL);

    acknowledge(&h, h.calls[0]);
    sub = subscribe_call(&h, &owner);
    REQUIRE(sub != NULL);
    CHECK_INT(sub->n_unacknowledged_tasks, 0);
    CHECK_INT(sub->n_unacknowledged_updates, 2);
    CHECK_INT(sub->unacknowledged_updates[0]->status->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    mesos__v1__executor__call__free_unpacked(owner, NULL);

    /* Acknowledging the terminal update ends the executor with 0. */
    acknowledge(&h, h.calls[2]);
    run_until_exit(&h);
    CHECK_INT(h.exit_code, 0);
    harness_cleanup(&h);
}

static void test_task_finishes(void)
{
    struct harness h;
    char *args[] = {"true"};
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    launch(&h, "true", args, 1, NULL);
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    CHECK_INT(state_of(&h, 2), MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK_STR(h.calls[2]->update->status->message, "Command exited with status 0");
    /* Acknowledging only the RUNNING update does not end the executor. */
    acknowledge(&h, h.calls[1]);
    struct timeval brief = {0, 200 * 1000};
    event_base_loopexit(h.base, &brief);
    event_base_dispatch(h.base);
    CHECK_INT(h.exit_code, -1);
    CHECK_INT(h.ncalls, 3);
    harness_cleanup(&h);
}

static void test_exec_failure_and_secret(void)
{
    struct harness h;
    char *args[] = {"nope"};
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    launch(&h, "/nonexistent/nope", args, 1, NULL);
    REQUIRE(h.ncalls == 2);
    CHECK_INT(state_of(&h, 0), MESOS__V1__TASK_STATE__TASK_STARTING);
    CHECK_INT(state_of(&h, 1), MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK_STR(h.calls[1]->update->status->message,
              "Failed to execute '/nonexistent/nope': No such file or directory");
    /* A repeated LAUNCH of the same task is ignored; another task is refused, since a command
     * executor runs exactly one. */
    launch(&h, "true", NULL, 0, NULL);
    CHECK_INT(h.ncalls, 2);
    launch_id(&h, "task-2", "true", NULL, 0, NULL);
    REQUIRE(h.ncalls == 3);
    CHECK_STR(h.calls[2]->update->status->task_id->value, "task-2");
    CHECK_INT(state_of(&h, 2), MESOS__V1__TASK_STATE__TASK_FAILED);
    harness_cleanup(&h);

    Mesos__V1__Environment__Variable v = MESOS__V1__ENVIRONMENT__VARIABLE__INIT;
    Mesos__V1__Environment__Variable *vars[] = {&v};
    Mesos__V1__Environment env = MESOS__V1__ENVIRONMENT__INIT;
    v.name = "TOKEN";
    v.has_type = 1;
    v.type = MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__SECRET;
    env.n_variables = 1;
    env.variables = vars;
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    launch(&h, "true", NULL, 0, &env);
    REQUIRE(h.ncalls == 2);
    CHECK_INT(state_of(&h, 1), MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK(strstr(h.calls[1]->update->status->message, "SECRET") != NULL);
    harness_cleanup(&h);
}

static void kill_event(struct harness *h, int64_t grace_ns)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Kill k = MESOS__V1__EXECUTOR__EVENT__KILL__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__KillPolicy kp = MESOS__V1__KILL_POLICY__INIT;
    Mesos__V1__DurationInfo d = MESOS__V1__DURATION_INFO__INIT;
    tid.value = "task-1";
    d.nanoseconds = grace_ns;
    kp.grace_period = &d;
    k.task_id = &tid;
    if (grace_ns >= 0)
        k.kill_policy = &kp;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__KILL;
    ev.kill = &k;
    cm_executor_handle_event(h->ex, &ev);
}

static void test_kill_with_killing_state(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, true);
    launch(&h, "trap '' TERM; sleep 30", NULL, 0, NULL);
    REQUIRE(h.ncalls == 2);
    usleep(200 * 1000); /* let the shell install its trap */
    double t0 = cm_monotonic_secs();
    kill_event(&h, 300 * 1000 * 1000); /* 0.3 s */
    REQUIRE(h.ncalls == 3);
    CHECK_INT(state_of(&h, 2), MESOS__V1__TASK_STATE__TASK_KILLING);
    run_until_calls(&h, 4);
    REQUIRE(h.ncalls == 4);
    CHECK(cm_monotonic_secs() - t0 >= 0.25);
    CHECK_INT(state_of(&h, 3), MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK_STR(h.calls[3]->update->status->message, "Command terminated with signal Killed");
    harness_cleanup(&h);
}

static void test_kill_without_capability(void)
{
    struct harness h;
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    launch(&h, "sleep 30", NULL, 0, NULL);
    REQUIRE(h.ncalls == 2);
    kill_event(&h, -1);     /* no policy: 3 s grace, but SIGTERM ends sleep at once */
    CHECK_INT(h.ncalls, 2); /* no TASK_KILLING */
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    CHECK_INT(state_of(&h, 2), MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK_STR(h.calls[2]->update->status->message, "Command terminated with signal Terminated");
    harness_cleanup(&h);
}

static void test_shutdown(void)
{
    struct harness h;
    /* Without a task, SHUTDOWN exits at once. */
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    simple_event(&h, MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN);
    run_until_exit(&h);
    CHECK_INT(h.exit_code, 0);
    harness_cleanup(&h);

    /* With a task: it is killed, reported, and the executor exits once that is acked. */
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    launch(&h, "sleep 30", NULL, 0, NULL);
    simple_event(&h, MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN);
    run_until_calls(&h, 3);
    REQUIRE(h.ncalls == 3);
    CHECK_INT(state_of(&h, 2), MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK_INT(h.exit_code, -1);
    acknowledge(&h, h.calls[2]);
    run_until_exit(&h);
    CHECK_INT(h.exit_code, 0);
    harness_cleanup(&h);
}

static void test_error_event_exits_1(void)
{
    struct harness h;
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Error e = MESOS__V1__EXECUTOR__EVENT__ERROR__INIT;
    REQUIRE(harness_init(&h) == 0);
    subscribed(&h, false);
    simple_event(&h, MESOS__V1__EXECUTOR__EVENT__TYPE__HEARTBEAT);
    CHECK_INT(h.ncalls, 0);
    e.message = "Executor is not known";
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ERROR;
    ev.error = &e;
    cm_executor_handle_event(h.ex, &ev);
    run_until_exit(&h);
    CHECK_INT(h.exit_code, 1);
    harness_cleanup(&h);
}

TEST_MAIN(TEST(test_config_from_env), TEST(test_config_errors), TEST(test_status_new),
          TEST(test_task_fails_with_status), TEST(test_task_finishes),
          TEST(test_exec_failure_and_secret), TEST(test_kill_with_killing_state),
          TEST(test_kill_without_capability), TEST(test_shutdown), TEST(test_error_event_exits_1))
