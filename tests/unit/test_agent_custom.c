/* test_agent_custom.c: custom executors and task groups in the agent core, without a master
 * (the capture link of agent_drive.h, a fake clock, executors that are a sleeping script run by
 * the posix launcher, the executor API driven in-process): one executor process for several
 * tasks, queued tasks handed over at SUBSCRIBE, later tasks sent at once, the executor's
 * resources, RUN_TASK_GROUP started as mesos-default-executor and handed over as one
 * LAUNCH_GROUP, and refused groups. */
#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_internal.h"
#include "agent_link.h"
#include "agent_xapi.h"
#include "codec.h"
#include "log.h"
#include "pbjson.h"
#include "test.h"
#include "agent_drive.h"

static size_t count_updates(const struct link_cap *c, const char *tid, int state)
{
    cap_sync(c);
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const Cmesos__Internal__AgentCall *k = c->calls[i];
        if (k->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE &&
            strcmp(k->status_update->status->task_id->value, tid) == 0 &&
            (int)k->status_update->status->state == state)
            n++;
    }
    return n;
}

static size_t count_events(const struct exec_cap *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)c->ev[i]->type == type;
    return n;
}

/* Injects an AgentEvent given as JSON (printf format) and turns the loop until the launch
 * queue is empty. */
static int inject_json(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int inject_json(struct fx *f, const char *fmt, ...)
{
    char text[8192], why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ProtobufCMessage *ev = NULL;
    if (cm_pbjson_from_text(&cmesos__internal__agent_event__descriptor, text, strlen(text), &ev,
                            why, sizeof why) != 0) {
        fprintf(stderr, "event JSON: %s\n", why);
        return -1;
    }
    int rc = inject(f, (Cmesos__Internal__AgentEvent *)ev);
    protobuf_c_message_free_unpacked(ev, NULL);
    PUMP_UNTIL(f, f->a->launch_head == NULL, 2000);
    return rc;
}

#define FW "{\"id\":{\"value\":\"" FID "\"},\"user\":\"%s\",\"name\":\"t\"}"
#define RES(c, m)                                                                                  \
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" c "}},"                       \
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" m "}}]"

static const char *user(void)
{
    return getenv("USER") ? getenv("USER") : "root";
}

static void run_custom(struct fx *f, const char *tid, const char *eid)
{
    inject_json(
        f,
        "{\"type\":\"RUN_TASK\",\"run_task\":{\"framework_info\":" FW ",\"task\":{"
        "\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":\"" AID
        "\"},\"resources\":" RES(
            "1", "64") ",\"executor\":{\"executor_id\":{\"value\":"
                       "\"%s\"},\"type\":\"CUSTOM\",\"command\":{\"value\":\"%s/mesos-executor\"},"
                       "\"resources\":" RES("0.5", "32") "}}}}",
        user(), tid, tid, eid, f->launcher);
}

static double cpus_of(const struct cm_resources *r)
{
    return (double)cm_resources_scalar(r, "cpus") / 1000.0;
}

static void test_custom_executor_many_tasks(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    run_custom(&f, "t1", "ex");
    run_custom(&f, "t2", "ex");
    struct agent_executor *e = executor_of(&f, FID, "ex");
    REQUIRE(e != NULL);
    CHECK(e->pid > 0);
    pid_t pid = e->pid;
    CHECK_INT(cm_strmap_count(&e->tasks), 2);
    CHECK(cpus_of(&e->resources) > 2.49 && cpus_of(&e->resources) < 2.51);
    CHECK(executor_of(&f, FID, "t1") == NULL); /* no command executor for these */
    /* SUBSCRIBE hands over both queued tasks. */
    struct exec_cap cap = {0};
    CHECK_INT(subscribe(&f, FID, "ex", &cap), 200);
    CHECK_INT(count_events(&cap, MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED), 1);
    CHECK_INT(count_events(&cap, MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH), 2);
    /* A third task goes to the subscribed executor at once; still one process. */
    run_custom(&f, "t3", "ex");
    CHECK_INT(count_events(&cap, MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH), 3);
    CHECK_INT(e->pid, pid);
    CHECK(cpus_of(&e->resources) > 3.49 && cpus_of(&e->resources) < 3.51);
    /* A command task cannot reuse the custom executor's id, nor a custom task a command's. */
    ev_run_task(&f, FID, "cmd1", false);
    run_custom(&f, "t4", "cmd1");
    CHECK_INT(count_updates(&f.link, "t4", MESOS__V1__TASK_STATE__TASK_ERROR), 1);
    exec_clear(&cap);
    fx_cleanup(&f);
}

static void test_task_group(void)
{
    struct fx f;
    REQUIRE(fx_up(&f) == 0);
    char path[256], src[256];
    snprintf(path, sizeof path, "%s/mesos-default-executor", f.launcher);
    snprintf(src, sizeof src, "%s/mesos-executor", f.launcher);
    REQUIRE(symlink(src, path) == 0);
    inject_json(
        &f,
        "{\"type\":\"RUN_TASK_GROUP\",\"run_task_group\":{\"framework_info\":" FW
        ",\"executor\":{\"executor_id\":{\"value\":\"pod\"},\"type\":\"DEFAULT\","
        "\"resources\":" RES(
            "0.1",
            "32") "},\"task_group\":{\"tasks\":["
                  "{\"name\":\"g1\",\"task_id\":{\"value\":\"g1\"},\"agent_id\":{\"value\":\"" AID
                  "\"},\"command\":{\"value\":\"sleep 9\"},\"resources\":" RES(
                      "1", "64") "},"
                                 "{\"name\":\"g2\",\"task_id\":{\"value\":\"g2\"},\"agent_id\":{"
                                 "\"value\":\"" AID
                                 "\"},\"command\":{\"value\":\"sleep 9\"},\"resources\":" RES(
                                     "1", "64") "}]}}}",
        user());
    struct agent_executor *e = executor_of(&f, FID, "pod");
    REQUIRE(e != NULL);
    CHECK(e->pid > 0);
    REQUIRE(e->info->command != NULL);
    CHECK(strstr(e->info->command->value, "/mesos-default-executor") != NULL);
    CHECK_INT(cm_strmap_count(&e->tasks), 2);
    PUMP_UNTIL(&f, f.link.n > 0, 500);
    size_t acks = 0;
    for (size_t i = 0; i < f.link.n; i++)
        if (f.link.calls[i]->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK)
            acks += f.link.calls[i]->n_task_launch_acks;
    CHECK_INT(acks, 2);
    struct exec_cap cap = {0};
    CHECK_INT(subscribe(&f, FID, "pod", &cap), 200);
    CHECK_INT(count_events(&cap, MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH), 0);
    REQUIRE(count_events(&cap, MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP) == 1);
    for (size_t i = 0; i < cap.n; i++)
        if (cap.ev[i]->type == MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP)
            CHECK_INT(cap.ev[i]->launch_group->task_group->n_tasks, 2);
    /* A group with a task that names an executor is refused whole. */
    inject_json(
        &f,
        "{\"type\":\"RUN_TASK_GROUP\",\"run_task_group\":{\"framework_info\":" FW
        ",\"executor\":{\"executor_id\":{\"value\":\"pod2\"},\"type\":\"DEFAULT\"},"
        "\"task_group\":{\"tasks\":[{\"name\":\"b1\",\"task_id\":{\"value\":\"b1\"},"
        "\"agent_id\":{\"value\":\"" AID "\"},\"command\":{\"value\":\"true\"},"
        "\"resources\":" RES("1", "64") "},{\"name\":\"b2\",\"task_id\":{\"value\":"
                                        "\"b2\"},\"agent_id\":{\"value\":\"" AID
                                        "\"},\"executor\":{\"executor_id\":{"
                                        "\"value\":\"x\"}},\"resources\":" RES("1", "64") "}]}}}",
        user());
    CHECK_INT(count_updates(&f.link, "b1", MESOS__V1__TASK_STATE__TASK_ERROR), 1);
    CHECK_INT(count_updates(&f.link, "b2", MESOS__V1__TASK_STATE__TASK_ERROR), 1);
    CHECK(executor_of(&f, FID, "pod2") == NULL);
    exec_clear(&cap);
    fx_cleanup(&f);
}

TEST_MAIN(TEST(test_custom_executor_many_tasks), TEST(test_task_group))
