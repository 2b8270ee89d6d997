/* docker_task.c: the task's Docker container in mesos-docker-executor (docker_executor.h). */
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
#include "docker_cli.h"
#include "docker_run.h"
#include "errors.h"
#include "executor.h"
#include "health.h"
#include "http_client.h"
#include "ids.h"
#include "log.h"
#include "util.h"

#include "docker_executor.h"

extern char **environ;

/* Runs `docker <args...>` to its end, blocking (only while the executor exits). */
void dex_docker_blocking(struct dex *d, const char *const *args)
{
    char **argv = cm_docker_cli_argv(d->docker, d->socket, args);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", 0);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    cm_docker_strv_free(argv);
}

/* ---- the container --------------------------------------------------------------------- */

static struct cm_dcli *docker_async(struct dex *d, const char *const *args, bool capture,
                                    cm_dcli_done_fn done)
{
    char **argv = cm_docker_cli_argv(d->docker, d->socket, args);
    char why[256];
    struct cm_dcli *c = cm_dcli_run(d->base, argv, capture, done, d, why, sizeof why);
    if (!c)
        CM_ERROR(MOD, "docker %s: %s", args[0], why);
    cm_docker_strv_free(argv);
    return c;
}

static void stop_checks(struct dex *d)
{
    cm_checker_free(d->health);
    d->health = NULL;
}

static void start_stop(struct dex *d);
static void start_run(struct dex *d);

/* The terminal update once the container ended, was never started, or failed to start. */
static void finish(struct dex *d, Mesos__V1__TaskState state, const char *msg, int reason)
{
    d->phase = EXITED;
    stop_checks(d);
    if (!d->task_terminal)
        dex_send_update_x(d, d->task->task_id->value, state, msg, reason,
                          d->health_killed ? 0 : -1);
    if (d->shutting_down && !dex_updates_pending(d))
        dex_request_exit(d, 0, 0);
}

static double task_mem_mb(const Mesos__V1__TaskInfo *t)
{
    double mem = 0;
    for (size_t i = 0; i < t->n_resources; i++)
        if (t->resources[i]->name && strcmp(t->resources[i]->name, "mem") == 0 &&
            t->resources[i]->scalar)
            mem += t->resources[i]->scalar->value;
    return mem;
}

/* The final `docker inspect`: OOMKilled decides between a memory limitation and a failure. */
static void on_inspect_done(void *arg, struct cm_dcli *c, int status, const char *out,
                            const char *err)
{
    (void)err;
    struct dex *d = arg;
    d->step = NULL;
    bool oom = status == 0 && strncmp(out, "true", 4) == 0;
    int code = d->exit_code;
    if (status == 0 && code < 0) {
        const char *sp = strchr(out, ' ');
        if (sp)
            code = atoi(sp + 1);
    }
    cm_dcli_free(c);
    char msg[512];
    if (d->kill_requested && !oom) {
        snprintf(msg, sizeof msg, "%s",
                 d->health_killed ? d->health_why : "Container was stopped by a kill request");
        finish(d, MESOS__V1__TASK_STATE__TASK_KILLED, msg, -1);
    } else if (oom) {
        snprintf(msg, sizeof msg,
                 "Memory limit exceeded: Requested: %.0fMB (the container was "
                 "killed by the OOM killer)",
                 task_mem_mb(d->task));
        finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg,
               MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY);
    } else if (code == 0) {
        finish(d, MESOS__V1__TASK_STATE__TASK_FINISHED, "Container exited with status 0", -1);
    } else {
        if (code < 0)
            snprintf(msg, sizeof msg, "Container exited with an unknown status");
        else
            snprintf(msg, sizeof msg, "Container exited with status %d", code);
        finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg, -1);
    }
}

/* Both the waiter and the log copier are done (or the copier had its time): inspect. */
static void maybe_inspect(struct dex *d)
{
    if (d->waiter || d->logs || d->step || d->phase == EXITED)
        return;
    evtimer_del(d->logs_timer);
    const char *args[] = {"inspect",
                          "--type=container",
                          "-f",
                          "{{.State.OOMKilled}} "
                          "{{.State.ExitCode}}",
                          d->container,
                          NULL};
    d->step = docker_async(d, args, true, on_inspect_done);
    if (!d->step)
        finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, "Failed to inspect the container", -1);
}

void dex_on_logs_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dex *d = arg;
    if (d->logs) {
        CM_WARN(MOD, "The container's output did not end after the container; stopping it");
        cm_http_call_cancel(d->logs);
        d->logs = NULL;
    }
    maybe_inspect(d);
}

/* Writes all of buf to fd (the sandbox's stdout or stderr files: regular files). */
static void write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static int on_logs_headers(void *arg, const struct cm_http_response *resp)
{
    (void)arg;
    if (resp->status != 200) {
        CM_WARN(MOD, "dockerd answered %ld to the logs call", resp->status);
        return 1;
    }
    return 0;
}

/* The logs stream without a TTY: frames of an 8-byte header (stream 1 stdout, 2 stderr; 3
 * zero bytes; the payload's length, big endian) and the payload. */
static int on_logs_data(void *arg, const void *data, size_t len)
{
    struct dex *d = arg;
    const uint8_t *p = data;
    while (len) {
        if (d->frame_left == 0) {
            size_t take = sizeof d->frame_hdr - d->frame_hdr_len;
            if (take > len)
                take = len;
            memcpy(d->frame_hdr + d->frame_hdr_len, p, take);
            d->frame_hdr_len += take;
            p += take;
            len -= take;
            if (d->frame_hdr_len < sizeof d->frame_hdr)
                return 0;
            d->frame_hdr_len = 0;
            d->frame_fd = d->frame_hdr[0] == 2 ? 2 : 1;
            d->frame_left = (uint32_t)d->frame_hdr[4] << 24 | (uint32_t)d->frame_hdr[5] << 16 |
                            (uint32_t)d->frame_hdr[6] << 8 | d->frame_hdr[7];
            continue;
        }
        size_t take = d->frame_left < len ? d->frame_left : len;
        write_all(d->frame_fd, p, take);
        d->frame_left -= (uint32_t)take;
        p += take;
        len -= take;
    }
    return 0;
}

static void on_logs_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    (void)resp;
    struct dex *d = arg;
    if (err && err != CM_ECLOSED)
        CM_WARN(MOD, "The container's output stream ended: %s",
                errmsg && *errmsg ? errmsg : cm_strerror(err));
    d->logs = NULL;
    maybe_inspect(d);
}

static void on_wait_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    struct dex *d = arg;
    d->waiter = NULL;
    json_t *j = NULL;
    if (!err && resp->status == 200) {
        json_error_t jerr;
        j = json_loadb(resp->body, resp->body_len, 0, &jerr);
    }
    json_t *code = json_object_get(j, "StatusCode");
    if (json_is_integer(code))
        d->exit_code = (int)json_integer_value(code);
    else
        CM_WARN(MOD, "Waiting for the container failed: %s",
                err ? (errmsg && *errmsg ? errmsg : cm_strerror(err)) : "no StatusCode");
    json_decref(j);
    if (d->logs) {
        struct timeval tv = {(time_t)LOGS_FLUSH_WAIT, 0};
        evtimer_add(d->logs_timer, &tv);
    }
    maybe_inspect(d);
}

static void on_health_result(void *arg, const struct cm_check_result *r)
{
    struct dex *d = arg;
    if (d->phase != STARTED || d->kill_requested)
        return;
    bool healthy = false;
    int act =
        cm_health_policy_result(&d->health_policy, r->ok, cm_clock_now(&cm_clock_real), &healthy);
    if (act & CM_HEALTH_REPORT) {
        char msg[320];
        snprintf(msg, sizeof msg, "Health check failed: %s", r->message);
        dex_send_update_x(
            d, d->task->task_id->value, MESOS__V1__TASK_STATE__TASK_RUNNING, healthy ? NULL : msg,
            MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, healthy);
    }
    if (act & CM_HEALTH_KILL) {
        snprintf(d->health_why, sizeof d->health_why,
                 "Task killed after its health check failed %u consecutive times: %.160s",
                 d->health_policy.failures, r->message);
        d->health_killed = true;
        d->kill_requested = true;
        d->kill_grace = DEFAULT_GRACE;
        stop_checks(d); /* frees the checker: nothing after this touches it */
        start_stop(d);
    }
}

static void start_health(struct dex *d)
{
    if (!d->task->health_check)
        return;
    if (d->health_spec.type == CM_CHECK_COMMAND) {
        /* Inside the container's namespaces: docker exec <name> /bin/sh -c <value>. */
        const Mesos__V1__CommandInfo *hc = d->health_spec.command;
        bool shell = !hc->has_shell || hc->shell;
        size_t n = 0;
        const char *args[64];
        args[n++] = "exec";
        args[n++] = d->container;
        if (shell) {
            args[n++] = "/bin/sh";
            args[n++] = "-c";
            args[n++] = hc->value ? hc->value : "";
        } else {
            if (hc->value)
                args[n++] = hc->value;
            for (size_t i = 0; i < hc->n_arguments && n < 63; i++)
                args[n++] = hc->arguments[i];
        }
        args[n] = NULL;
        d->health_args = cm_docker_cli_argv(d->docker, d->socket, args);
        mesos__v1__command_info__init(&d->health_cmd);
        d->health_cmd.has_shell = 1;
        d->health_cmd.shell = 0;
        d->health_cmd.value = d->health_args[0];
        size_t argc = 0;
        while (d->health_args[argc])
            argc++;
        d->health_cmd.n_arguments = argc;
        d->health_cmd.arguments = d->health_args;
        d->health_spec.command = &d->health_cmd;
    }
    cm_health_policy_init(&d->health_policy, &d->health_spec, cm_clock_now(&cm_clock_real));
    d->health = cm_checker_new(d->base, &d->health_spec, environ, d->sandbox, on_health_result, d);
}

static void container_started(struct dex *d);
static int api_start(struct dex *d, struct cm_http_request_opts *o, const char *path,
                     const char *body, struct cm_http_call **out);

/* `docker run -d` ended: started, or the launch failed with Docker's message. */
static void on_run_done(void *arg, struct cm_dcli *c, int status, const char *out, const char *err)
{
    struct dex *d = arg;
    d->step = NULL;
    char buf[1024], msg[1100];
    bool ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
        cm_dcli_message(err, "docker run failed without a message", buf, sizeof buf);
        cm_dcli_free(c);
        snprintf(msg, sizeof msg, "Failed to launch container: %s", buf);
        if (d->kill_requested)
            finish(d, MESOS__V1__TASK_STATE__TASK_KILLED, "Task killed before its container ran",
                   -1);
        else
            finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg,
                   MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
        return;
    }
    CM_INFO(MOD, "Container %s started (id %.12s)", d->container, out);
    cm_dcli_free(c);
    container_started(d);
}

/* The container runs: TASK_RUNNING, then its output and its end are watched. */
static void container_started(struct dex *d)
{
    d->phase = STARTED;
    dex_send_update(d, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL, -1);
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/logs?follow=1&stdout=1&stderr=1", d->container);
    struct cm_http_request_opts lo = {.method = "GET",
                                      .url = NULL,
                                      .on_headers = on_logs_headers,
                                      .on_data = on_logs_data,
                                      .on_done = on_logs_done};
    if (api_start(d, &lo, path, NULL, &d->logs) != 0)
        CM_WARN(MOD, "Cannot follow the container's output");
    snprintf(path, sizeof path, "/containers/%s/wait", d->container);
    struct cm_http_request_opts wo = {.method = "POST", .on_done = on_wait_done};
    if (api_start(d, &wo, path, NULL, &d->waiter) != 0) {
        finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, "Failed to wait for the container", -1);
        return;
    }
    if (d->kill_requested)
        start_stop(d);
    else
        start_health(d);
}

static void launch_failed(struct dex *d, const char *docker_message)
{
    char msg[1100];
    snprintf(msg, sizeof msg, "Failed to launch container: %s", docker_message);
    if (d->kill_requested)
        finish(d, MESOS__V1__TASK_STATE__TASK_KILLED, "Task killed before its container ran", -1);
    else
        finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg,
               MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
}

/* dockerd's error text: the "message" of its JSON answer, else the status. */
static const char *api_message(const struct cm_http_response *resp, int err, const char *errmsg,
                               char *buf, size_t len)
{
    if (err) {
        snprintf(buf, len, "Cannot talk to dockerd: %s",
                 errmsg && *errmsg ? errmsg : cm_strerror(err));
        return buf;
    }
    json_error_t jerr;
    json_t *j = resp->body ? json_loadb(resp->body, resp->body_len, 0, &jerr) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    snprintf(buf, len, "Error response from daemon: %s", m ? m : "(no message)");
    if (!m)
        snprintf(buf, len, "dockerd answered %ld", resp->status);
    json_decref(j);
    return buf;
}

static void start_cli_run(struct dex *d);

static void on_api_start_done(void *arg, int err, const char *errmsg,
                              const struct cm_http_response *resp)
{
    struct dex *d = arg;
    char buf[1024];
    if (err || (resp->status != 204 && resp->status != 304)) {
        launch_failed(d, api_message(resp, err, errmsg, buf, sizeof buf));
        return;
    }
    CM_INFO(MOD, "Container %s started", d->container);
    container_started(d);
}

/* Starts a call to dockerd's API on the socket: opts gives the method and callbacks, path
 * the URL's path; JSON body or NULL; *out (may be NULL) gets the call. No timeout: the wait
 * and the logs stream last as long as the container. */
static int api_start(struct dex *d, struct cm_http_request_opts *o, const char *path,
                     const char *body, struct cm_http_call **out)
{
    char url[512];
    snprintf(url, sizeof url, "http://docker%s", path);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    o->url = url;
    o->headers = body ? headers : NULL;
    o->body = body;
    o->body_len = body ? strlen(body) : 0;
    o->arg = d;
    o->external = true;
    o->unix_socket = d->socket;
    return cm_http_client_start(d->dockerd, o, out);
}

static int api_call(struct dex *d, const char *path, const char *body, cm_http_done_cb done)
{
    struct cm_http_request_opts o = {.method = "POST", .timeout_secs = 300, .on_done = done};
    return api_start(d, &o, path, body, NULL);
}

static void on_api_create_done(void *arg, int err, const char *errmsg,
                               const struct cm_http_response *resp)
{
    struct dex *d = arg;
    char buf[1024];
    if (!err && resp->status == 404) {
        /* No such image: `docker run` pulls it (and says why when it cannot). */
        CM_INFO(MOD, "Image not present; running the docker CLI, which pulls it");
        start_cli_run(d);
        return;
    }
    if (err || resp->status != 201) {
        launch_failed(d, api_message(resp, err, errmsg, buf, sizeof buf));
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb(resp->body, resp->body_len, 0, &jerr);
    const char *id = json_string_value(json_object_get(j, "Id"));
    char path[256];
    if (id && strspn(id, "0123456789abcdef") == strlen(id) && strlen(id) <= 64)
        snprintf(path, sizeof path, "/containers/%s/start", id);
    else
        snprintf(path, sizeof path, "/containers/%s/start", d->container);
    json_decref(j);
    if (api_call(d, path, NULL, on_api_start_done) != 0)
        launch_failed(d, "Cannot start a call to dockerd");
}

/* The fast path: create and start through dockerd's API (no CLI process in the executor's
 * cgroup on the launch path); DockerInfo.parameters need the CLI's `docker run -d`. */
static void start_run(struct dex *d)
{
    d->phase = RUNNING_CLI;
    char *body = NULL, *name = NULL;
    if (cm_docker_api_create(d->run_argv, &body, &name) == 0) {
        char path[256];
        snprintf(path, sizeof path, "/containers/create?name=%s", name);
        int rc = api_call(d, path, body, on_api_create_done);
        free(body);
        free(name);
        if (rc == 0)
            return;
        CM_WARN(MOD, "Cannot call dockerd's API (%s); using the CLI", cm_strerror(rc));
    }
    start_cli_run(d);
}

static void start_cli_run(struct dex *d)
{
    d->phase = RUNNING_CLI;
    char why[256];
    d->step = cm_dcli_run(d->base, d->run_argv, true, on_run_done, d, why, sizeof why);
    if (!d->step) {
        char msg[320];
        snprintf(msg, sizeof msg, "Failed to launch container: %s", why);
        finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg,
               MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    }
}

static void on_pull_done(void *arg, struct cm_dcli *c, int status, const char *out, const char *err)
{
    (void)out;
    struct dex *d = arg;
    d->step = NULL;
    char buf[1024], msg[1100];
    bool ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    cm_dcli_message(err, "docker pull failed without a message", buf, sizeof buf);
    cm_dcli_free(c);
    if (d->kill_requested) {
        finish(d, MESOS__V1__TASK_STATE__TASK_KILLED, "Task killed while its image was pulled", -1);
        return;
    }
    if (!ok) {
        snprintf(msg, sizeof msg, "Failed to pull image '%s': %s",
                 d->task->container->docker->image, buf);
        finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg,
               MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
        return;
    }
    start_run(d);
}

static void on_stop_done(void *arg, struct cm_dcli *c, int status, const char *out, const char *err)
{
    (void)out;
    struct dex *d = arg;
    char buf[300];
    if (status != 0)
        CM_WARN(MOD, "docker stop failed: %s", cm_dcli_message(err, "no message", buf, sizeof buf));
    cm_dcli_free(c);
    d->stopper = NULL;
}

/* docker stop -t <grace>: SIGTERM (or the image's STOPSIGNAL), SIGKILL after the grace. */
static void start_stop(struct dex *d)
{
    if (d->stopper)
        return;
    char secs[32];
    snprintf(secs, sizeof secs, "%ld", (long)ceil(d->kill_grace));
    const char *args[] = {"stop", "-t", secs, d->container, NULL};
    CM_INFO(MOD, "Stopping container %s with a grace period of %s s", d->container, secs);
    d->stopper = docker_async(d, args, true, on_stop_done);
}

void dex_kill_task(struct dex *d, double grace)
{
    if (!d->task || d->phase == EXITED || d->phase == IDLE)
        return;
    stop_checks(d);
    if (d->kill_requested && grace >= d->kill_grace)
        return;
    d->kill_requested = true;
    d->kill_grace = grace;
    if (d->killing_capable && !d->killing_sent) {
        d->killing_sent = true;
        dex_send_update(d, MESOS__V1__TASK_STATE__TASK_KILLING, NULL, -1);
    }
    if (d->phase == PULLING && d->step)
        cm_dcli_kill(d->step, SIGTERM); /* its end reports TASK_KILLED */
    else if (d->phase == STARTED) {
        if (d->stopper && grace <= 0) {
            const char *args[] = {"kill", d->container, NULL};
            struct cm_dcli *k = docker_async(d, args, true, on_stop_done);
            (void)k;
        } else
            start_stop(d);
    }
    /* RUNNING_CLI: on_run_done stops the container as soon as it exists. */
}

static double duration_secs(const Mesos__V1__DurationInfo *d)
{
    double s = (double)d->nanoseconds / 1e9;
    return s > 0 ? s : 0;
}

double dex_kill_grace(const struct dex *d, const Mesos__V1__KillPolicy *policy)
{
    if (policy && policy->grace_period)
        return duration_secs(policy->grace_period);
    if (d->task && d->task->kill_policy && d->task->kill_policy->grace_period)
        return duration_secs(d->task->kill_policy->grace_period);
    return d->stop_timeout > 0 ? d->stop_timeout : DEFAULT_GRACE;
}

static ProtobufCMessage *message_copy(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = cm_xmalloc(len ? len : 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    if (!copy)
        abort();
    return copy;
}

void dex_launch(struct dex *d, const Mesos__V1__TaskInfo *t)
{
    if (!t || !t->task_id || !t->task_id->value)
        return;
    const char *id = t->task_id->value;
    if (d->task) {
        if (strcmp(id, d->task->task_id->value) != 0)
            dex_send_update_x(d, id, MESOS__V1__TASK_STATE__TASK_FAILED,
                              "Attempted to run multiple tasks using a \"docker\" executor", -1,
                              -1);
        return;
    }
    d->task = (Mesos__V1__TaskInfo *)message_copy(&t->base);
    CM_INFO(MOD, "Received LAUNCH for task '%s'", id);
    char why[512], msg[600];
    if (d->shutting_down) {
        dex_send_update(d, MESOS__V1__TASK_STATE__TASK_KILLED, "The executor is shutting down", -1);
        return;
    }
    if (d->task->health_check) {
        if (cm_health_spec_from_health_check(d->task->health_check, &d->health_spec, why,
                                             sizeof why) != 0) {
            snprintf(msg, sizeof msg, "Invalid health check: %s", why);
            dex_send_update(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg, -1);
            return;
        }
        const Mesos__V1__ContainerInfo__DockerInfo *di =
            d->task->container ? d->task->container->docker : NULL;
        bool host = di && (!di->has_network ||
                           di->network == MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST);
        if (d->health_spec.type != CM_CHECK_COMMAND && !host) {
            dex_send_update(d, MESOS__V1__TASK_STATE__TASK_FAILED,
                            "HTTP and TCP health checks of Docker tasks are only supported with "
                            "the host network (use a COMMAND check, which runs in the container)",
                            MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
            return;
        }
    }
    if (d->task->check || d->task->max_completion_time) {
        dex_send_update(
            d, MESOS__V1__TASK_STATE__TASK_FAILED,
            "'check' and 'max_completion_time' are not supported by the Docker executor",
            MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
        return;
    }
    struct cm_docker_run_params p = {.docker = d->docker,
                                     .socket = d->socket,
                                     .name = d->container,
                                     .sandbox = d->sandbox,
                                     .mapped_sandbox = d->mapped,
                                     .cfs = d->cfs};
    if (cm_docker_run_argv(d->task, &p, &d->run_argv, why, sizeof why) != 0) {
        snprintf(msg, sizeof msg, "Failed to launch container: %s", why);
        dex_send_update(d, MESOS__V1__TASK_STATE__TASK_FAILED, msg,
                        MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
        return;
    }
    dex_send_update(d, MESOS__V1__TASK_STATE__TASK_STARTING, NULL, -1);
    const Mesos__V1__ContainerInfo__DockerInfo *di = d->task->container->docker;
    if (di->has_force_pull_image && di->force_pull_image) {
        d->phase = PULLING;
        const char *args[] = {"pull", di->image, NULL};
        d->step = docker_async(d, args, true, on_pull_done);
        if (!d->step)
            finish(d, MESOS__V1__TASK_STATE__TASK_FAILED, "Failed to start docker pull",
                   MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
        return;
    }
    start_run(d);
}
