/* Unit tests of the default executor (task groups) without sockets: a fake agent records the
 * operator calls (LAUNCH_CONTAINER, WAIT_NESTED_CONTAINER, KILL_NESTED_CONTAINER) and the test
 * answers them; status updates are captured by libcmexecutor's send hook. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "default_executor.h"
#include "errors.h"
#include "test.h"

/* The nested-container calls' fields are marked deprecated in the proto (default_executor.c). */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define MAXN 64

struct agent_call {
    Mesos__V1__Agent__Call *call;
    cm_defexec_reply_cb reply;
    void *arg;
    bool answered;
};

struct rig {
    struct event_base *base;
    struct cm_fake_clock clock;
    struct cm_exec_env env;
    struct cm_defexec *d;
    struct agent_call calls[MAXN];
    size_t ncalls;
    Mesos__V1__TaskStatus *updates[MAXN];
    size_t nupdates;
    int exit_code;
    char sandbox[64];
};

static int fake_call(void *ctx, const Mesos__V1__Agent__Call *call, double timeout,
                     cm_defexec_reply_cb reply, void *arg)
{
    (void)timeout;
    struct rig *r = ctx;
    if (r->ncalls == MAXN)
        return -ENOMEM;
    size_t len = mesos__v1__agent__call__get_packed_size(call);
    uint8_t *buf = malloc(len ? len : 1);
    mesos__v1__agent__call__pack(call, buf);
    r->calls[r->ncalls].call = mesos__v1__agent__call__unpack(NULL, len, buf);
    free(buf);
    r->calls[r->ncalls].reply = reply;
    r->calls[r->ncalls].arg = arg;
    r->ncalls++;
    return 0;
}

static int capture(void *arg, const Mesos__V1__Executor__Call *call)
{
    struct rig *r = arg;
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE && r->nupdates < MAXN) {
        size_t len = mesos__v1__task_status__get_packed_size(call->update->status);
        uint8_t *buf = malloc(len ? len : 1);
        mesos__v1__task_status__pack(call->update->status, buf);
        r->updates[r->nupdates++] = mesos__v1__task_status__unpack(NULL, len, buf);
        free(buf);
    }
    return 0;
}

static void on_exit_cb(void *arg, int code)
{
    struct rig *r = arg;
    r->exit_code = code;
}

static int rig_start(struct rig *r)
{
    char why[256], sb[128];
    memset(r, 0, sizeof *r);
    r->exit_code = -1;
    snprintf(r->sandbox, sizeof r->sandbox, "/tmp/test_defexec.XXXXXX");
    if (!mkdtemp(r->sandbox))
        return -1;
    snprintf(sb, sizeof sb, "MESOS_SANDBOX=%s", r->sandbox);
    char *envp[] = {"MESOS_FRAMEWORK_ID=fw-1",
                    "MESOS_EXECUTOR_ID=default-ex",
                    "MESOS_SLAVE_ID=a-S0",
                    "MESOS_AGENT_ENDPOINT=127.0.0.1:5051",
                    sb,
                    "PATH=/usr/bin:/bin",
                    NULL};
    if (cm_exec_env_from_env(&r->env, envp, why, sizeof why) != 0)
        return -1;
    r->base = event_base_new();
    cm_fake_clock_init(&r->clock, 100.0);
    struct cm_defexec_agent agent = {.call = fake_call, .ctx = r};
    struct cm_defexec_opts o = {.base = r->base,
                                .env = &r->env,
                                .clock = &r->clock.clock,
                                .envp = NULL,
                                .agent = &agent,
                                .send = capture,
                                .send_arg = r,
                                .on_exit = on_exit_cb,
                                .exit_arg = r};
    r->d = cm_defexec_new(&o);
    return r->d ? 0 : -1;
}

static void rig_cleanup(struct rig *r)
{
    char cmd[200];
    cm_defexec_free(r->d);
    for (size_t i = 0; i < r->ncalls; i++)
        mesos__v1__agent__call__free_unpacked(r->calls[i].call, NULL);
    for (size_t i = 0; i < r->nupdates; i++)
        mesos__v1__task_status__free_unpacked(r->updates[i], NULL);
    cm_exec_env_cleanup(&r->env);
    event_base_free(r->base);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->sandbox);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", r->sandbox);
}

static void run_for(struct rig *r, double secs)
{
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    event_base_loopexit(r->base, &tv);
    event_base_dispatch(r->base);
}

static void subscribed(struct rig *r, bool with_container, bool killing)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Subscribed s = MESOS__V1__EXECUTOR__EVENT__SUBSCRIBED__INIT;
    Mesos__V1__ContainerID cid = MESOS__V1__CONTAINER_ID__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT;
    Mesos__V1__FrameworkInfo__Capability *caps[] = {&cap};
    cap.has_type = 1;
    cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE;
    if (killing) {
        fi.n_capabilities = 1;
        fi.capabilities = caps;
    }
    cid.value = "exec-container";
    s.framework_info = &fi;
    if (with_container)
        s.container_id = &cid;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &s;
    cm_defexec_handle_event(r->d, &ev);
}

/* LAUNCH_GROUP of n tasks "t0".."t<n-1>", each "sleep 100" with cpus 0.1 of role "web"; grace
 * is the tasks' kill policy grace (<0 none); mct their max_completion_time (<0 none). */
static void launch_group(struct rig *r, size_t n, double grace, double mct)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__LaunchGroup lg = MESOS__V1__EXECUTOR__EVENT__LAUNCH_GROUP__INIT;
    Mesos__V1__TaskGroupInfo g = MESOS__V1__TASK_GROUP_INFO__INIT;
    Mesos__V1__TaskInfo t[4];
    Mesos__V1__TaskInfo *tp[4];
    Mesos__V1__TaskID id[4];
    char names[4][8];
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__Resource res = MESOS__V1__RESOURCE__INIT;
    Mesos__V1__Resource *resp[] = {&res};
    Mesos__V1__Resource__AllocationInfo ai = MESOS__V1__RESOURCE__ALLOCATION_INFO__INIT;
    Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__KillPolicy kp = MESOS__V1__KILL_POLICY__INIT;
    Mesos__V1__DurationInfo gd = MESOS__V1__DURATION_INFO__INIT,
                            md = MESOS__V1__DURATION_INFO__INIT;
    aid.value = "a-S0";
    cmd.value = "sleep 100";
    sc.value = 0.1;
    res.name = "cpus";
    res.type = MESOS__V1__VALUE__TYPE__SCALAR;
    res.scalar = &sc;
    ai.role = "web";
    res.allocation_info = &ai;
    gd.nanoseconds = (int64_t)(grace * 1e9);
    kp.grace_period = &gd;
    md.nanoseconds = (int64_t)(mct * 1e9);
    for (size_t i = 0; i < n; i++) {
        mesos__v1__task_info__init(&t[i]);
        mesos__v1__task_id__init(&id[i]);
        snprintf(names[i], sizeof names[i], "t%zu", i);
        id[i].value = names[i];
        t[i].name = names[i];
        t[i].task_id = &id[i];
        t[i].agent_id = &aid;
        t[i].command = &cmd;
        t[i].n_resources = 1;
        t[i].resources = resp;
        if (grace >= 0)
            t[i].kill_policy = &kp;
        if (mct >= 0)
            t[i].max_completion_time = &md;
        tp[i] = &t[i];
    }
    g.n_tasks = n;
    g.tasks = tp;
    lg.task_group = &g;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP;
    ev.launch_group = &lg;
    cm_defexec_handle_event(r->d, &ev);
}

static void answer(struct rig *r, size_t i, long status, const uint8_t *body, size_t len)
{
    REQUIRE(i < r->ncalls && !r->calls[i].answered);
    r->calls[i].answered = true;
    r->calls[i].reply(r->calls[i].arg, 0, status, body, len);
}

/* Answers a WAIT with a wait(2) status. */
static void answer_wait(struct rig *r, size_t i, int wait_status)
{
    Mesos__V1__Agent__Response resp = MESOS__V1__AGENT__RESPONSE__INIT;
    Mesos__V1__Agent__Response__WaitNestedContainer w =
        MESOS__V1__AGENT__RESPONSE__WAIT_NESTED_CONTAINER__INIT;
    w.has_exit_status = 1;
    w.exit_status = wait_status;
    resp.has_type = 1;
    resp.type = MESOS__V1__AGENT__RESPONSE__TYPE__WAIT_NESTED_CONTAINER;
    resp.wait_nested_container = &w;
    uint8_t buf[128];
    size_t len = mesos__v1__agent__response__pack(&resp, buf);
    answer(r, i, 200, buf, len);
}

static void ack_all(struct rig *r)
{
    for (size_t i = 0; i < r->nupdates; i++) {
        Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Acknowledged a = MESOS__V1__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
        a.task_id = r->updates[i]->task_id;
        a.uuid = r->updates[i]->uuid;
        ev.has_type = 1;
        ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
        ev.acknowledged = &a;
        cm_defexec_handle_event(r->d, &ev);
    }
}

/* The index of the first call of type for task container of task index k (by launch order). */
static long find_call(struct rig *r, Mesos__V1__Agent__Call__Type type, const char *cid,
                      bool unanswered)
{
    for (size_t i = 0; i < r->ncalls; i++) {
        const Mesos__V1__Agent__Call *c = r->calls[i].call;
        if (c->type != type || (unanswered && r->calls[i].answered))
            continue;
        const Mesos__V1__ContainerID *id =
            type == MESOS__V1__AGENT__CALL__TYPE__LAUNCH_CONTAINER
                ? c->launch_container->container_id
            : type == MESOS__V1__AGENT__CALL__TYPE__LAUNCH_NESTED_CONTAINER
                ? c->launch_nested_container->container_id
            : type == MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER
                ? c->wait_nested_container->container_id
                : c->kill_nested_container->container_id;
        if (!cid || strcmp(id->value, cid) == 0)
            return (long)i;
    }
    return -1;
}

static const char *launched_cid(struct rig *r, size_t k)
{
    size_t seen = 0;
    for (size_t i = 0; i < r->ncalls; i++)
        if (r->calls[i].call->type == MESOS__V1__AGENT__CALL__TYPE__LAUNCH_CONTAINER && seen++ == k)
            return r->calls[i].call->launch_container->container_id->value;
    return NULL;
}

static int count_state(struct rig *r, const char *task, Mesos__V1__TaskState s)
{
    int n = 0;
    for (size_t i = 0; i < r->nupdates; i++)
        if (r->updates[i]->state == s && strcmp(r->updates[i]->task_id->value, task) == 0)
            n++;
    return n;
}

static const Mesos__V1__TaskStatus *last_of(struct rig *r, const char *task)
{
    for (size_t i = r->nupdates; i-- > 0;)
        if (strcmp(r->updates[i]->task_id->value, task) == 0)
            return r->updates[i];
    return NULL;
}

/* Two tasks launch together as nested containers of the executor's container, run, finish;
 * the executor exits once everything is acknowledged. */
static void test_group_runs_and_finishes(void)
{
    struct rig r;
    REQUIRE(rig_start(&r) == 0);
    subscribed(&r, true, false);
    launch_group(&r, 2, -1, -1);
    CHECK_INT(count_state(&r, "t0", MESOS__V1__TASK_STATE__TASK_STARTING), 1);
    CHECK_INT(count_state(&r, "t1", MESOS__V1__TASK_STATE__TASK_STARTING), 1);
    REQUIRE(r.ncalls == 2);
    const Mesos__V1__Agent__Call__LaunchContainer *l = r.calls[0].call->launch_container;
    REQUIRE(l && l->container_id && l->container_id->parent);
    CHECK_STR(l->container_id->parent->value, "exec-container");
    CHECK_INT(strlen(l->container_id->value), 36);
    CHECK_STR(l->command->value, "sleep 100");
    CHECK_INT(l->n_resources, 1);
    bool role = false;
    for (size_t i = 0; l->command->environment && i < l->command->environment->n_variables; i++)
        if (strcmp(l->command->environment->variables[i]->name, "MESOS_ALLOCATION_ROLE") == 0)
            role = strcmp(l->command->environment->variables[i]->value, "web") == 0;
    CHECK(role);
    CHECK(strcmp(launched_cid(&r, 0), launched_cid(&r, 1)) != 0);
    /* Nothing RUNNING until every launch of the group has answered. */
    answer(&r, 0, 200, NULL, 0);
    CHECK_INT(count_state(&r, "t0", MESOS__V1__TASK_STATE__TASK_RUNNING), 0);
    answer(&r, 1, 200, NULL, 0);
    CHECK_INT(count_state(&r, "t0", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    CHECK_INT(count_state(&r, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING), 1);
    long w0 = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER,
                        launched_cid(&r, 0), true);
    long w1 = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER,
                        launched_cid(&r, 1), true);
    REQUIRE(w0 >= 0 && w1 >= 0);
    char link[256], target[256];
    snprintf(link, sizeof link, "%s/tasks/t0", r.sandbox);
    ssize_t n = readlink(link, target, sizeof target - 1);
    REQUIRE(n > 0);
    target[n] = 0;
    CHECK(strstr(target, launched_cid(&r, 0)) != NULL);

    answer_wait(&r, (size_t)w0, 0);
    CHECK_INT(count_state(&r, "t0", MESOS__V1__TASK_STATE__TASK_FINISHED), 1);
    CHECK_INT(cm_defexec_active_tasks(r.d), 1);
    CHECK(find_call(&r, MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER, NULL, false) < 0);
    answer_wait(&r, (size_t)w1, 0);
    CHECK_INT(count_state(&r, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED), 1);
    CHECK_INT(cm_defexec_active_tasks(r.d), 0);
    run_for(&r, 0.01);
    CHECK_INT(r.exit_code, -1); /* updates not yet acknowledged */
    ack_all(&r);
    run_for(&r, 0.01);
    CHECK_INT(r.exit_code, 0);
    rig_cleanup(&r);
}

/* One task fails: the rest of its group is killed (SIGTERM, SIGKILL after the grace). */
static void test_failure_kills_group(void)
{
    struct rig r;
    REQUIRE(rig_start(&r) == 0);
    subscribed(&r, true, true);
    launch_group(&r, 3, 0.05, -1);
    answer(&r, 0, 200, NULL, 0);
    answer(&r, 1, 200, NULL, 0);
    answer(&r, 2, 200, NULL, 0);
    long w0 = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER,
                        launched_cid(&r, 0), true);
    REQUIRE(w0 >= 0);
    answer_wait(&r, (size_t)w0, 3 << 8);
    const Mesos__V1__TaskStatus *s = last_of(&r, "t0");
    REQUIRE(s);
    CHECK(s->state == MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK_STR(s->message, "Command exited with status 3");
    for (size_t k = 1; k < 3; k++) {
        long kc = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER,
                            launched_cid(&r, k), false);
        REQUIRE(kc >= 0);
        CHECK_INT(r.calls[kc].call->kill_nested_container->signal, SIGTERM);
        CHECK_STR(r.calls[kc].call->kill_nested_container->container_id->parent->value,
                  "exec-container");
        answer(&r, (size_t)kc, 200, NULL, 0);
        CHECK_INT(count_state(&r, k == 1 ? "t1" : "t2", MESOS__V1__TASK_STATE__TASK_KILLING), 1);
    }
    /* t1 ends on SIGTERM; t2 ignores it and gets SIGKILL after 50 ms. */
    long w1 = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER,
                        launched_cid(&r, 1), true);
    answer_wait(&r, (size_t)w1, SIGTERM);
    CHECK(last_of(&r, "t1")->state == MESOS__V1__TASK_STATE__TASK_KILLED);
    run_for(&r, 0.2);
    long k2 = -1;
    for (size_t i = 0; i < r.ncalls; i++)
        if (r.calls[i].call->type == MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER &&
            r.calls[i].call->kill_nested_container->signal == SIGKILL)
            k2 = (long)i;
    REQUIRE(k2 >= 0);
    CHECK_STR(r.calls[k2].call->kill_nested_container->container_id->value, launched_cid(&r, 2));
    answer(&r, (size_t)k2, 200, NULL, 0);
    long w2 = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER,
                        launched_cid(&r, 2), true);
    answer_wait(&r, (size_t)w2, SIGKILL);
    CHECK(last_of(&r, "t2")->state == MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK_INT(cm_defexec_active_tasks(r.d), 0);
    ack_all(&r);
    run_for(&r, 0.01);
    CHECK_INT(r.exit_code, 0);
    rig_cleanup(&r);
}

/* An agent without LAUNCH_CONTAINER is asked with LAUNCH_NESTED_CONTAINER; a launch refused
 * outright fails the task with the agent's reason (through the wait's 404). */
static void test_launch_fallback_and_refusal(void)
{
    struct rig r;
    REQUIRE(rig_start(&r) == 0);
    subscribed(&r, true, false);
    launch_group(&r, 1, -1, -1);
    REQUIRE(r.ncalls == 1);
    answer(&r, 0, 501, (const uint8_t *)"LAUNCH_CONTAINER is not implemented", 35);
    REQUIRE(r.ncalls == 2);
    REQUIRE(r.calls[1].call->type == MESOS__V1__AGENT__CALL__TYPE__LAUNCH_NESTED_CONTAINER);
    CHECK_STR(r.calls[1].call->launch_nested_container->container_id->value,
              r.calls[0].call->launch_container->container_id->value);
    answer(&r, 1, 500, (const uint8_t *)"no cgroups", 10);
    CHECK_INT(count_state(&r, "t0", MESOS__V1__TASK_STATE__TASK_RUNNING), 0);
    long w = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER, NULL, true);
    REQUIRE(w >= 0);
    answer(&r, (size_t)w, 404, NULL, 0);
    const Mesos__V1__TaskStatus *s = last_of(&r, "t0");
    REQUIRE(s && s->message);
    CHECK(s->state == MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK(strstr(s->message, "no cgroups") != NULL);
    rig_cleanup(&r);
}

/* KILL with a kill policy; SHUTDOWN kills every task; a LAUNCH_GROUP without the executor's
 * container id fails its tasks; a check fails the group at launch. */
static void test_kill_shutdown_and_errors(void)
{
    struct rig r;
    REQUIRE(rig_start(&r) == 0);
    subscribed(&r, false, false);
    launch_group(&r, 1, -1, -1);
    CHECK_INT(r.ncalls, 0);
    CHECK(last_of(&r, "t0") && last_of(&r, "t0")->state == MESOS__V1__TASK_STATE__TASK_FAILED);
    rig_cleanup(&r);

    REQUIRE(rig_start(&r) == 0);
    subscribed(&r, true, false);
    launch_group(&r, 2, 10, -1);
    answer(&r, 0, 200, NULL, 0);
    answer(&r, 1, 200, NULL, 0);
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Kill k = MESOS__V1__EXECUTOR__EVENT__KILL__INIT;
    Mesos__V1__TaskID id = MESOS__V1__TASK_ID__INIT;
    id.value = "t1";
    k.task_id = &id;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__KILL;
    ev.kill = &k;
    cm_defexec_handle_event(r.d, &ev);
    long kc = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER,
                        launched_cid(&r, 1), false);
    REQUIRE(kc >= 0);
    CHECK_INT(count_state(&r, "t1", MESOS__V1__TASK_STATE__TASK_KILLING), 0); /* no capability */
    Mesos__V1__Executor__Event sd = MESOS__V1__EXECUTOR__EVENT__INIT;
    sd.has_type = 1;
    sd.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN;
    cm_defexec_handle_event(r.d, &sd);
    CHECK(find_call(&r, MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER, launched_cid(&r, 0),
                    false) >= 0);
    long w0 = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER,
                        launched_cid(&r, 0), true);
    long w1 = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER,
                        launched_cid(&r, 1), true);
    answer_wait(&r, (size_t)w0, SIGTERM);
    answer_wait(&r, (size_t)w1, SIGTERM);
    CHECK(last_of(&r, "t0")->state == MESOS__V1__TASK_STATE__TASK_KILLED);
    CHECK(last_of(&r, "t1")->state == MESOS__V1__TASK_STATE__TASK_KILLED);
    ack_all(&r);
    run_for(&r, 0.01);
    CHECK_INT(r.exit_code, 0);
    rig_cleanup(&r);
}

/* max_completion_time kills without grace and ends TASK_FAILED with its reason. */
static void test_max_completion_time(void)
{
    struct rig r;
    REQUIRE(rig_start(&r) == 0);
    subscribed(&r, true, false);
    launch_group(&r, 1, 10, 0.05);
    answer(&r, 0, 200, NULL, 0);
    run_for(&r, 0.2);
    long kc = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__KILL_NESTED_CONTAINER, NULL, false);
    REQUIRE(kc >= 0);
    answer(&r, (size_t)kc, 200, NULL, 0);
    long w = find_call(&r, MESOS__V1__AGENT__CALL__TYPE__WAIT_NESTED_CONTAINER, NULL, true);
    answer_wait(&r, (size_t)w, SIGTERM);
    const Mesos__V1__TaskStatus *s = last_of(&r, "t0");
    REQUIRE(s);
    CHECK(s->state == MESOS__V1__TASK_STATE__TASK_FAILED);
    CHECK(s->has_reason &&
          s->reason == MESOS__V1__TASK_STATUS__REASON__REASON_MAX_COMPLETION_TIME_REACHED);
    rig_cleanup(&r);
}

TEST_MAIN(TEST(test_group_runs_and_finishes), TEST(test_failure_kills_group),
          TEST(test_launch_fallback_and_refusal), TEST(test_kill_shutdown_and_errors),
          TEST(test_max_completion_time))
