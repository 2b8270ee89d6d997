/*
 * custom_executor.c: itest-custom-executor, a small custom executor for the integration tests
 * of custom executors (itest_custom_executor*.c). It speaks the v1 executor API in JSON to
 * the agent named by MESOS_AGENT_ENDPOINT, blocking (it is a test program, not a daemon).
 *
 * What it does with a task is chosen by the task's `data`:
 *   "run"     TASK_RUNNING, then waits (KILL -> TASK_KILLED)
 *   "finish"  TASK_RUNNING, then TASK_FINISHED
 *   "exit"    TASK_RUNNING, then the executor exits with status 7 (executor failure)
 * Every TASK_RUNNING carries the message "pid=<executor pid>" so a test can tell that two
 * tasks ran in one process. A MESSAGE event is answered with a MESSAGE whose data is "echo:"
 * followed by the received bytes (binary-safe). SHUTDOWN kills its tasks and exits 0.
 * LAUNCH_GROUP launches each task of the group the same way (so the tests can stand it in for
 * mesos-default-executor to check what the agent hands a task group's executor).
 * At start it writes its environment to executor.env in its working directory (the sandbox).
 * With MESOS_CHECKPOINT=1 a lost subscription is retried for up to 60 s (agent restart),
 * resending unacknowledged updates and tasks; otherwise it exits 1.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "harness.h"

extern char **environ;

#define MAX_TASKS 16

struct task {
    char id[256];
    json_t *info;
    int acked; /* an update of it was acknowledged */
    int terminal;
};

static const char *fid, *eid, *token;
static int port;
static struct task tasks[MAX_TASKS];
static size_t ntasks;
static json_t *unacked; /* uuid (base64) -> update object */

static void say(const char *fmt, const char *a)
{
    fprintf(stderr, "custom-executor: ");
    fprintf(stderr, fmt, a ? a : "");
    fprintf(stderr, "\n");
}

static json_t *id_obj(const char *v)
{
    return json_pack("{s:s}", "value", v);
}

static json_t *new_call(const char *type)
{
    return json_pack("{s:s, s:o, s:o}", "type", type, "framework_id", id_obj(fid), "executor_id",
                     id_obj(eid));
}

static int post(json_t *call)
{
    char *body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    char auth[2048];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *h[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
    struct itest_http_resp r;
    int rc = itest_http(port, "POST", "/api/v1/executor", h, body, strlen(body), &r, 5000);
    free(body);
    if (rc != 0)
        return rc;
    int status = r.status;
    if (status != 202)
        say("call answered: %s", (const char *)r.body);
    itest_http_resp_cleanup(&r);
    return status == 202 ? 0 : -EPROTO;
}

static void update(const char *tid, const char *state, const char *message)
{
    uint8_t uuid[16];
    for (size_t i = 0; i < sizeof uuid; i++)
        uuid[i] = (uint8_t)rand();
    char *u = itest_b64_encode(uuid, sizeof uuid);
    json_t *st = json_pack("{s:o, s:s, s:s, s:s, s:o, s:f}", "task_id", id_obj(tid), "state", state,
                           "source", "SOURCE_EXECUTOR", "uuid", u, "executor_id", id_obj(eid),
                           "timestamp", (double)time(NULL));
    if (message)
        json_object_set_new(st, "message", json_string(message));
    json_t *upd = json_pack("{s:o}", "status", st);
    json_object_set(unacked, u, upd);
    free(u);
    json_t *call = new_call("UPDATE");
    json_object_set_new(call, "update", upd);
    if (post(call) != 0)
        say("UPDATE of task %s failed", tid);
}

static struct task *find(const char *tid)
{
    for (size_t i = 0; i < ntasks; i++)
        if (strcmp(tasks[i].id, tid) == 0)
            return &tasks[i];
    return NULL;
}

static void launch(json_t *info)
{
    const char *tid = json_string_value(json_object_get(json_object_get(info, "task_id"), "value"));
    const char *data64 = json_string_value(json_object_get(info, "data"));
    if (!tid || ntasks == MAX_TASKS)
        return;
    struct task *t = find(tid);
    if (!t) {
        t = &tasks[ntasks++];
        snprintf(t->id, sizeof t->id, "%s", tid);
        t->info = json_incref(info);
    }
    char data[64] = "run";
    if (data64) {
        size_t n = 0;
        if (itest_b64_decode(data64, (uint8_t *)data, sizeof data - 1, &n) == 0)
            data[n] = '\0';
    }
    char pid[64];
    snprintf(pid, sizeof pid, "pid=%d", (int)getpid());
    say("launching task %s", tid);
    update(tid, "TASK_RUNNING", pid);
    if (strcmp(data, "finish") == 0) {
        update(tid, "TASK_FINISHED", "done");
        t->terminal = 1;
    } else if (strcmp(data, "exit") == 0) {
        say("exiting with status 7 as task %s asks", tid);
        exit(7);
    }
}

static void message(json_t *ev)
{
    const char *d64 = json_string_value(json_object_get(json_object_get(ev, "message"), "data"));
    uint8_t buf[1024] = "echo:";
    size_t n = 0;
    if (!d64 || itest_b64_decode(d64, buf + 5, sizeof buf - 5, &n) != 0)
        return;
    char *out = itest_b64_encode(buf, n + 5);
    json_t *call = new_call("MESSAGE");
    json_object_set_new(call, "message", json_pack("{s:s}", "data", out));
    free(out);
    if (post(call) != 0)
        say("MESSAGE failed%s", NULL);
}

static void shutdown_all(void)
{
    for (size_t i = 0; i < ntasks; i++)
        if (!tasks[i].terminal)
            update(tasks[i].id, "TASK_KILLED", "executor shut down");
    exit(0);
}

/* One subscription: returns when the stream ends; 1 if it was accepted. */
static int subscribe_once(void)
{
    json_t *call = new_call("SUBSCRIBE");
    json_t *ut = json_array(), *uu = json_array();
    for (size_t i = 0; i < ntasks; i++)
        if (!tasks[i].acked && !tasks[i].terminal)
            json_array_append(ut, tasks[i].info);
    const char *k;
    json_t *v;
    json_object_foreach(unacked, k, v) json_array_append(uu, v);
    json_object_set_new(
        call, "subscribe",
        json_pack("{s:o, s:o}", "unacknowledged_tasks", ut, "unacknowledged_updates", uu));
    char *body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    char auth[2048];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *h[] = {"Content-Type: application/json", "Accept: application/json",
                       token ? auth : NULL, NULL};
    struct itest_stream *s =
        itest_stream_open(port, "/api/v1/executor", h, body, strlen(body), 5000);
    free(body);
    if (!s)
        return 0;
    if (itest_stream_status(s) != 200) {
        say("SUBSCRIBE refused: %s", itest_stream_body(s));
        itest_stream_free(s);
        return 0;
    }
    for (;;) {
        uint8_t *data = NULL;
        size_t len = 0;
        int rc = itest_stream_next(s, 1000, &data, &len);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc != 0)
            break;
        json_t *ev = json_loadb((const char *)data, len, 0, NULL);
        free(data);
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (!type) {
            json_decref(ev);
            continue;
        }
        if (strcmp(type, "SUBSCRIBED") == 0) {
            say("subscribed%s", NULL);
        } else if (strcmp(type, "LAUNCH") == 0) {
            launch(json_object_get(json_object_get(ev, "launch"), "task"));
        } else if (strcmp(type, "LAUNCH_GROUP") == 0) {
            json_t *g = json_object_get(json_object_get(ev, "launch_group"), "task_group");
            json_t *tv = json_object_get(g, "tasks");
            char n[32];
            snprintf(n, sizeof n, "%zu", json_array_size(tv));
            say("LAUNCH_GROUP with %s task(s)", n);
            for (size_t i = 0; i < json_array_size(tv); i++)
                launch(json_array_get(tv, i));
        } else if (strcmp(type, "KILL") == 0) {
            const char *tid = json_string_value(
                json_object_get(json_object_get(json_object_get(ev, "kill"), "task_id"), "value"));
            struct task *t = tid ? find(tid) : NULL;
            if (t && !t->terminal) {
                t->terminal = 1;
                update(tid, "TASK_KILLED", "killed");
            }
        } else if (strcmp(type, "ACKNOWLEDGED") == 0) {
            json_t *a = json_object_get(ev, "acknowledged");
            const char *u = json_string_value(json_object_get(a, "uuid"));
            const char *tid =
                json_string_value(json_object_get(json_object_get(a, "task_id"), "value"));
            if (u)
                json_object_del(unacked, u);
            struct task *t = tid ? find(tid) : NULL;
            if (t)
                t->acked = 1;
        } else if (strcmp(type, "MESSAGE") == 0) {
            message(ev);
        } else if (strcmp(type, "SHUTDOWN") == 0) {
            /* Updates are only taken while the subscription is open: report, then close. */
            json_decref(ev);
            shutdown_all();
        }
        json_decref(ev);
    }
    itest_stream_free(s);
    return 1;
}

int main(void)
{
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    fid = getenv("MESOS_FRAMEWORK_ID");
    eid = getenv("MESOS_EXECUTOR_ID");
    token = getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    const char *ep = getenv("MESOS_AGENT_ENDPOINT");
    const char *colon = ep ? strrchr(ep, ':') : NULL;
    if (!fid || !eid || !colon) {
        say("MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID or MESOS_AGENT_ENDPOINT missing%s", NULL);
        return 2;
    }
    port = atoi(colon + 1);
    FILE *f = fopen("executor.env", "w");
    for (char **e = environ; f && *e; e++)
        fprintf(f, "%s\n", *e);
    if (f)
        fclose(f);
    unacked = json_object();
    const char *cp = getenv("MESOS_CHECKPOINT");
    int checkpoint = cp && strcmp(cp, "1") == 0;
    time_t lost = 0;
    for (;;) {
        if (subscribe_once())
            lost = 0;
        if (!checkpoint) {
            say("the agent closed the subscription; exiting%s", NULL);
            return 1;
        }
        if (!lost)
            lost = time(NULL);
        if (time(NULL) - lost > 60) {
            say("could not re-subscribe within 60 s%s", NULL);
            return 1;
        }
        usleep(300 * 1000);
    }
}
