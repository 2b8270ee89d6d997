/*
 * mesos-docker-executor: runs one task with a DOCKER ContainerInfo as a Docker container, the
 * way Mesos's executor of the same name does. The agent starts it in the task's sandbox (its
 * stdout and stderr are the sandbox's files) with the executor environment of
 * docs/wire-protocol.md §4.5 and these flags:
 *
 *   --container=NAME        the container's name, "mesos-<container id>" (required)
 *   --docker=PATH           the docker CLI (default "docker")
 *   --docker_socket=PATH    dockerd's unix socket (default /var/run/docker.sock)
 *   --sandbox_directory=DIR the sandbox on the host (default MESOS_DIRECTORY)
 *   --mapped_directory=DIR  where the sandbox is mounted in the container (/mnt/mesos/sandbox)
 *   --stop_timeout=SECS     grace of `docker stop` when the task has no kill policy (the
 *                           agent's --docker_stop_timeout; 0 = 3 s as the command executor)
 *   --cgroups_enable_cfs    also give the container a hard CPU quota
 *   --launcher_dir=DIR      accepted (Mesos passes it)
 *
 * Life of the task: LAUNCH -> TASK_STARTING -> `docker pull` when force_pull_image ->
 * create and start through dockerd's HTTP API on the socket (the body translated from the
 * `docker run -d` argv docker_run.h builds; no CLI process competes for the executor's small
 * cgroup on the launch path), or `docker run -d` itself when the image is missing (it pulls
 * it) or DockerInfo.parameters are given (options only the CLI knows) -> TASK_RUNNING
 * once the container is started -> its output is copied into the sandbox's stdout/stderr
 * (GET /containers/<name>/logs?follow=1) while POST /containers/<name>/wait waits for its
 * end -> `docker inspect` for OOMKilled ->
 * TASK_FINISHED (exit 0), TASK_FAILED ("Container exited with status N"; OOM:
 * REASON_CONTAINER_LIMITATION_MEMORY), TASK_KILLED after a KILL. A pull or run that fails ends
 * TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED with Docker's own message. KILL is
 * `docker stop -t <grace>` with the kill policy's grace (else --stop_timeout). Health
 * checks: COMMAND checks run inside the container through `docker exec`; HTTP and TCP checks
 * connect to 127.0.0.1 and so are only accepted with the host network.
 *
 * The link to the agent (SUBSCRIBE stream, UPDATE POSTs kept until ACKNOWLEDGED, re-subscribe
 * with unacknowledged updates) follows the command executor (src/executor/executor.h). The
 * container outlives an agent restart with this executor: with checkpointing the executor
 * re-subscribes for up to MESOS_RECOVERY_TIMEOUT. When the executor gives up on its agent it
 * removes the container (`docker rm -f`) before it exits; otherwise removing the exited
 * container is the agent's business (--docker_remove_delay).
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "docker_cli.h"
#include "docker_run.h"
#include "errors.h"
#include "executor.h"
#include "health.h"
#include "http_client.h"
#include "ids.h"
#include "log.h"
#include "stream_client.h"
#include "tls.h"
#include "util.h"

#include "docker_executor.h"

extern char **environ;

static const char *state_name(Mesos__V1__TaskState s)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)s);
    return v ? v->name : "TASK_?";
}

/* ---- updates ------------------------------------------------------------------------- */

static void call_init(struct dex *d, Mesos__V1__Executor__Call *call, Mesos__V1__ExecutorID *eid,
                      Mesos__V1__FrameworkID *fid)
{
    mesos__v1__executor__call__init(call);
    mesos__v1__executor_id__init(eid);
    mesos__v1__framework_id__init(fid);
    eid->value = d->cfg.executor_id;
    fid->value = d->cfg.framework_id;
    call->executor_id = eid;
    call->framework_id = fid;
    call->has_type = 1;
}

static void build_url(struct dex *d, char *url, size_t len)
{
    snprintf(url, len, "%s://%s/api/v1/executor", cm_tls_scheme(), d->cfg.agent_endpoint);
}

static struct pending *pending_find(struct dex *d, const uint8_t *uuid, size_t len)
{
    if (len != 16)
        return NULL;
    for (struct pending *p = d->pending; p; p = p->next)
        if (memcmp(p->status->uuid.data, uuid, 16) == 0)
            return p;
    return NULL;
}

static void pump(struct dex *d);

static void on_post_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    struct dex *d = arg;
    struct pending *p = pending_find(d, d->post_uuid, 16);
    d->post_busy = false;
    if (err || !resp || resp->status >= 500 || resp->status < 200) {
        CM_WARN(MOD, "UPDATE call failed: %s %s; retrying", err ? cm_strerror(err) : "bad response",
                errmsg ? errmsg : "");
        struct timeval tv = {(time_t)RESEND_DELAY, 0};
        evtimer_add(d->resend_timer, &tv);
        return;
    }
    if (resp->status != 202)
        CM_ERROR(MOD, "Agent refused an UPDATE with status %ld", resp->status);
    if (p)
        p->sent = true;
    pump(d);
}

static int post_update(struct dex *d, struct pending *p)
{
    Mesos__V1__Executor__Call call;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    call_init(d, &call, &eid, &fid);
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    up.status = p->status;
    call.update = &up;
    uint8_t *body;
    size_t len;
    if (cm_pb_encode(&call.base, CM_MEDIA_PROTOBUF, &body, &len) != 0)
        abort();
    char url[300];
    build_url(d, url, sizeof url);
    char *authz = d->cfg.authentication_token
                      ? cm_xasprintf("Authorization: Bearer %s", d->cfg.authentication_token)
                      : NULL;
    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", authz, NULL};
    struct cm_http_request_opts o = {.method = "POST",
                                     .url = url,
                                     .headers = headers,
                                     .body = body,
                                     .body_len = len,
                                     .timeout_secs = POST_TIMEOUT,
                                     .on_done = on_post_done,
                                     .arg = d};
    int rc = cm_http_client_start(d->http, &o, NULL);
    free(body);
    free(authz);
    if (rc)
        return rc;
    d->post_busy = true;
    memcpy(d->post_uuid, p->status->uuid.data, 16);
    return 0;
}

static void pump(struct dex *d)
{
    while (d->subscribed && !d->post_busy) {
        struct pending *p = d->pending;
        while (p && p->sent)
            p = p->next;
        if (!p)
            return;
        if (post_update(d, p) != 0) {
            struct timeval tv = {(time_t)RESEND_DELAY, 0};
            evtimer_add(d->resend_timer, &tv);
            return;
        }
    }
}

static void on_resend_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* reason and healthy are set when >= 0. */
void dex_send_update_x(struct dex *d, const char *task_id, Mesos__V1__TaskState state,
                       const char *message, int reason, int healthy)
{
    struct pending *p = cm_xcalloc(1, sizeof *p);
    bool running = state == MESOS__V1__TASK_STATE__TASK_RUNNING;
    p->status =
        cm_executor_status_new(&d->cfg, task_id, state, message, cm_clock_now(&cm_clock_real),
                               running ? (uint32_t)getpid() : 0);
    if (reason >= 0) {
        p->status->has_reason = 1;
        p->status->reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    if (healthy >= 0) {
        p->status->has_healthy = 1;
        p->status->healthy = healthy != 0;
    }
    struct pending **tail = &d->pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    if (d->task && strcmp(task_id, d->task->task_id->value) == 0 && cm_task_state_terminal(state)) {
        d->task_terminal = true;
        memcpy(d->terminal_uuid, p->status->uuid.data, 16);
    }
    CM_INFO(MOD, "Sending %s for task '%s'%s%s", state_name(state), task_id, message ? ": " : "",
            message ? message : "");
    pump(d);
}

void dex_send_update(struct dex *d, Mesos__V1__TaskState state, const char *message, int reason)
{
    dex_send_update_x(d, d->task->task_id->value, state, message, reason, -1);
}

/* ---- exiting ------------------------------------------------------------------------- */

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dex *d = arg;
    event_base_loopbreak(d->base);
}

void dex_request_exit(struct dex *d, int code, double delay)
{
    if (d->exiting)
        return;
    d->exiting = true;
    d->exit_status = code;
    CM_INFO(MOD, "Exiting with code %d in %.1f s", code, delay);
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - floor(delay)) * 1e6)};
    evtimer_add(d->exit_timer, &tv);
}

static void on_shutdown_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dex *d = arg;
    CM_WARN(MOD, "Shutdown grace period over; exiting");
    dex_request_exit(d, 0, 0);
}

static void shutdown_executor(struct dex *d)
{
    if (d->shutting_down)
        return;
    d->shutting_down = true;
    CM_INFO(MOD, "Shutting down");
    if (!d->task || d->phase == EXITED || d->phase == IDLE) {
        if (!d->pending)
            dex_request_exit(d, 0, 0);
    } else {
        double bound = d->cfg.shutdown_grace - SHUTDOWN_MARGIN;
        double grace = dex_kill_grace(d, NULL);
        dex_kill_task(d, grace < bound ? grace : (bound > 0 ? bound : 0));
    }
    double limit = d->cfg.shutdown_grace > 1.0 ? d->cfg.shutdown_grace : 1.0;
    struct timeval tv = {(time_t)limit, (suseconds_t)((limit - floor(limit)) * 1e6)};
    evtimer_add(d->shutdown_timer, &tv);
}

/* ---- events ---------------------------------------------------------------------------- */

static void on_acknowledged(struct dex *d, const Mesos__V1__Executor__Event__Acknowledged *a)
{
    if (!a || !a->task_id || !a->task_id->value)
        return;
    struct pending *p = pending_find(d, a->uuid.data, a->uuid.len);
    if (!p)
        return;
    for (struct pending **pp = &d->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    bool ours = d->task && strcmp(a->task_id->value, d->task->task_id->value) == 0;
    bool terminal = ours && d->task_terminal && memcmp(a->uuid.data, d->terminal_uuid, 16) == 0;
    mesos__v1__task_status__free_unpacked(p->status, NULL);
    free(p);
    if (ours)
        d->task_acked = true;
    if (terminal)
        dex_request_exit(d, 0, 1.0);
}

static void handle_event(struct dex *d, const Mesos__V1__Executor__Event *ev)
{
    if (d->exiting && ev->type != MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED)
        return;
    switch (ev->type) {
    case MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED: {
        d->subscribed = d->ever_subscribed = true;
        d->killing_capable = false;
        const Mesos__V1__FrameworkInfo *fi = ev->subscribed ? ev->subscribed->framework_info : NULL;
        for (size_t i = 0; fi && i < fi->n_capabilities; i++)
            if (fi->capabilities[i]->has_type &&
                fi->capabilities[i]->type ==
                    MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE)
                d->killing_capable = true;
        CM_INFO(MOD, "Subscribed to agent %s", d->cfg.agent_endpoint);
        pump(d);
        break;
    }
    case MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH:
        if (ev->launch)
            dex_launch(d, ev->launch->task);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP: {
        const Mesos__V1__TaskGroupInfo *g = ev->launch_group ? ev->launch_group->task_group : NULL;
        for (size_t i = 0; g && i < g->n_tasks; i++)
            if (g->tasks[i]->task_id && g->tasks[i]->task_id->value)
                dex_send_update_x(d, g->tasks[i]->task_id->value,
                                  MESOS__V1__TASK_STATE__TASK_FAILED,
                                  "LAUNCH_GROUP is not supported by the Docker executor", -1, -1);
        break;
    }
    case MESOS__V1__EXECUTOR__EVENT__TYPE__KILL: {
        const Mesos__V1__Executor__Event__Kill *k = ev->kill;
        if (!k || !k->task_id || !k->task_id->value || !d->task ||
            strcmp(k->task_id->value, d->task->task_id->value) != 0)
            break;
        dex_kill_task(d, dex_kill_grace(d, k->kill_policy));
        break;
    }
    case MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED:
        on_acknowledged(d, ev->acknowledged);
        break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN: shutdown_executor(d); break;
    case MESOS__V1__EXECUTOR__EVENT__TYPE__ERROR:
        CM_ERROR(MOD, "Agent sent ERROR: %s",
                 ev->error && ev->error->message ? ev->error->message : "(no message)");
        dex_request_exit(d, 1, 0);
        break;
    default: break;
    }
}

static int build_subscribe(void *arg, uint8_t **body, size_t *len)
{
    struct dex *d = arg;
    Mesos__V1__Executor__Call call;
    Mesos__V1__ExecutorID eid;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Executor__Call__Subscribe sub = MESOS__V1__EXECUTOR__CALL__SUBSCRIBE__INIT;
    size_t n = 0;
    for (struct pending *p = d->pending; p; p = p->next)
        n++;
    Mesos__V1__Executor__Call__Update *ups = cm_xcalloc(n ? n : 1, sizeof *ups);
    Mesos__V1__Executor__Call__Update **upp = cm_xcalloc(n ? n : 1, sizeof *upp);
    size_t i = 0;
    for (struct pending *p = d->pending; p; p = p->next, i++) {
        mesos__v1__executor__call__update__init(&ups[i]);
        ups[i].status = p->status;
        upp[i] = &ups[i];
        p->sent = true;
    }
    sub.n_unacknowledged_updates = n;
    sub.unacknowledged_updates = upp;
    Mesos__V1__TaskInfo *tasks[1];
    if (d->task && !d->task_acked) {
        tasks[0] = d->task;
        sub.n_unacknowledged_tasks = 1;
        sub.unacknowledged_tasks = tasks;
    }
    call_init(d, &call, &eid, &fid);
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    int rc = cm_pb_encode(&call.base, CM_MEDIA_PROTOBUF, body, len);
    free(ups);
    free(upp);
    return rc;
}

static void on_stream_event(void *arg, const ProtobufCMessage *msg)
{
    handle_event(arg, (const Mesos__V1__Executor__Event *)msg);
}

static enum cm_stream_decision on_stream_lost(void *arg, const struct cm_stream_loss *loss)
{
    struct dex *d = arg;
    d->subscribed = false;
    if (d->exiting)
        return CM_STREAM_STOP;
    CM_WARN(MOD, "Subscription to the agent ended: %s", loss->reason);
    bool may_retry = d->cfg.checkpoint || !d->ever_subscribed;
    double limit = d->cfg.checkpoint ? d->cfg.recovery_timeout : FIRST_SUBSCRIBE_TIMEOUT;
    if (!may_retry || loss->down_for >= limit) {
        CM_ERROR(MOD, "Agent %s is gone; removing the container and exiting",
                 d->cfg.agent_endpoint);
        dex_request_exit(d, 1, 0);
        return CM_STREAM_STOP;
    }
    return CM_STREAM_RETRY;
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    CM_INFO(MOD, "Received signal %d; shutting down", (int)sig);
    shutdown_executor(arg);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "Usage: mesos-docker-executor --container=NAME [--docker=PATH] "
               "[--docker_socket=PATH]\n"
               "       [--sandbox_directory=DIR] [--mapped_directory=DIR] [--stop_timeout=SECS]\n"
               "       [--cgroups_enable_cfs] [--launcher_dir=DIR]\n"
               "Runs one task with a DOCKER ContainerInfo; started by mesos-agent.\n");
}

static const char *flag_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, name, n) == 0 && arg[2 + n] == '=')
        return arg + 3 + n;
    return NULL;
}

int main(int argc, char **argv)
{
    struct dex d;
    memset(&d, 0, sizeof d);
    d.docker = "docker";
    d.socket = "/var/run/docker.sock";
    d.mapped = CM_DOCKER_MAPPED_SANDBOX;
    d.exit_code = -1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = flag_value(argv[i], "container")))
            d.container = (char *)v;
        else if ((v = flag_value(argv[i], "docker")))
            d.docker = (char *)v;
        else if ((v = flag_value(argv[i], "docker_socket")))
            d.socket = (char *)v;
        else if ((v = flag_value(argv[i], "sandbox_directory")))
            d.sandbox = (char *)v;
        else if ((v = flag_value(argv[i], "mapped_directory")))
            d.mapped = (char *)v;
        else if ((v = flag_value(argv[i], "stop_timeout")))
            d.stop_timeout = atof(v);
        else if (strcmp(argv[i], "--cgroups_enable_cfs") == 0 ||
                 strcmp(argv[i], "--cgroups_enable_cfs=true") == 0)
            d.cfs = true;
        else if (flag_value(argv[i], "launcher_dir") ||
                 strcmp(argv[i], "--cgroups_enable_cfs=false") == 0)
            continue;
        else {
            fprintf(stderr, "Unknown flag '%s'\n", argv[i]);
            usage(stderr);
            return 1;
        }
    }
    if (!d.container ||
        strncmp(d.container, CM_DOCKER_NAME_PREFIX, strlen(CM_DOCKER_NAME_PREFIX)) ||
        !cm_docker_id_valid(d.container + strlen(CM_DOCKER_NAME_PREFIX))) {
        fprintf(stderr, "--container must be mesos-<container id>\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    char why[512];
    if (cm_exec_env_from_env(&d.cfg, environ, why, sizeof why) != 0) {
        CM_ERROR(MOD, "Invalid environment: %s", why);
        return 1;
    }
    unsetenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    char cwd[4096];
    if (!d.sandbox)
        d.sandbox = d.cfg.sandbox ? d.cfg.sandbox : getcwd(cwd, sizeof cwd);
    d.base = event_base_new();
    d.http = cm_http_client_new(d.base);
    d.dockerd = cm_http_client_new(d.base);
    d.resend_timer = evtimer_new(d.base, on_resend_timer, &d);
    d.shutdown_timer = evtimer_new(d.base, on_shutdown_timer, &d);
    d.exit_timer = evtimer_new(d.base, on_exit_timer, &d);
    d.logs_timer = evtimer_new(d.base, dex_on_logs_timer, &d);
    struct event *term = evsignal_new(d.base, SIGTERM, on_term, &d);
    struct event *intr = evsignal_new(d.base, SIGINT, on_term, &d);
    if (!d.base || !d.http || !d.resend_timer || !term || !intr)
        abort();
    evsignal_add(term, NULL);
    evsignal_add(intr, NULL);

    char url[300];
    build_url(&d, url, sizeof url);
    char *bearer =
        d.cfg.authentication_token ? cm_xasprintf("Bearer %s", d.cfg.authentication_token) : NULL;
    struct cm_stream_client_opts o = {
        .base = d.base,
        .http = d.http,
        .clock = &cm_clock_real,
        .module = MOD,
        .url = url,
        .media = CM_MEDIA_PROTOBUF,
        .event_desc = &mesos__v1__executor__event__descriptor,
        .max_record = MAX_EVENT_BYTES,
        .backoff_initial = 0.1,
        .backoff_max = d.cfg.backoff_max > 0.1 ? d.cfg.backoff_max : 0.1,
        .body = build_subscribe,
        .on_event = on_stream_event,
        .on_lost = on_stream_lost,
        .arg = &d,
        .authorization = bearer,
    };
    d.link = cm_stream_client_new(&o, why, sizeof why);
    free(bearer);
    CM_INFO(MOD, "Starting Docker executor '%s' of framework '%s' for container %s (agent %s)",
            d.cfg.executor_id, d.cfg.framework_id, d.container, d.cfg.agent_endpoint);
    if (d.link && cm_stream_client_start(d.link) == 0)
        event_base_dispatch(d.base);
    else
        CM_ERROR(MOD, "Failed to start the agent link: %s", why);

    /* A container whose task did not end (the agent is gone, or the shutdown grace ran out)
     * must not outlive its executor. */
    if (d.task && d.phase != EXITED && d.phase != IDLE) {
        const char *args[] = {"rm", "-f", d.container, NULL};
        CM_INFO(MOD, "Removing container %s", d.container);
        dex_docker_blocking(&d, args);
    }
    cm_checker_free(d.health);
    cm_dcli_free(d.step);
    cm_dcli_free(d.stopper);
    cm_stream_client_free(d.link);
    cm_http_client_free(d.http);
    cm_http_client_free(d.dockerd);
    while (d.pending) {
        struct pending *next = d.pending->next;
        mesos__v1__task_status__free_unpacked(d.pending->status, NULL);
        free(d.pending);
        d.pending = next;
    }
    if (d.task)
        mesos__v1__task_info__free_unpacked(d.task, NULL);
    cm_docker_strv_free(d.run_argv);
    cm_docker_strv_free(d.health_args);
    event_free(term);
    event_free(intr);
    event_free(d.resend_timer);
    event_free(d.shutdown_timer);
    event_free(d.exit_timer);
    event_free(d.logs_timer);
    event_base_free(d.base);
    int code = d.exit_status;
    cm_exec_env_cleanup(&d.cfg);
    return code;
}
