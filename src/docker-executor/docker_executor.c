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
 * The link to the agent is libcmexecutor (cmesos/executor.h), on this program's loop, as for
 * the command executor: the SUBSCRIBE stream, UPDATE POSTs kept until ACKNOWLEDGED, and
 * re-subscription with the unacknowledged updates and task. This file supplies its callbacks.
 * The container outlives an agent restart with this executor: with checkpointing the library
 * re-subscribes for up to MESOS_RECOVERY_TIMEOUT. When the library gives up on the agent
 * (shutdown with CM_EXEC_SHUTDOWN_AGENT_GONE) the executor removes the container
 * (`docker rm -f`) and exits 1; otherwise removing the exited container is the agent's
 * business (--docker_remove_delay). The agent is reached over https when this process's TLS
 * environment says so (LIBPROCESS_SSL_ENABLED, or the legacy SSL_ENABLED); the program links
 * the libcurl build of the HTTP client, so it needs no separate TLS-capable twin as the lean
 * mesos-executor does.
 */
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "framework_info.h"
#include "docker_cli.h"
#include "docker_run.h"
#include "executor.h"
#include "log.h"
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

/* reason and healthy are set when >= 0. The library fills nothing here: the status carries
 * its uuid, timestamp, source, executor and agent ids (and the executor's pid when RUNNING)
 * from cm_executor_status_new, as the command executor's do. */
void dex_send_update_x(struct dex *d, const char *task_id, Mesos__V1__TaskState state,
                       const char *message, int reason, int healthy)
{
    bool running = state == MESOS__V1__TASK_STATE__TASK_RUNNING;
    Mesos__V1__TaskStatus *st =
        cm_executor_status_new(&d->cfg, task_id, state, message, cm_clock_now(&cm_clock_real),
                               running ? (uint32_t)getpid() : 0);
    if (reason >= 0) {
        st->has_reason = 1;
        st->reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    if (healthy >= 0) {
        st->has_healthy = 1;
        st->healthy = healthy != 0;
    }
    CM_INFO(MOD, "Sending %s for task '%s'%s%s", state_name(state), task_id, message ? ": " : "",
            message ? message : "");
    char why[256];
    uint8_t uuid[16];
    int rc = cm_exec_update(d->lib, st, uuid, why, sizeof why);
    mesos__v1__task_status__free_unpacked(st, NULL);
    if (rc) {
        /* Only a task id the library refuses or a link that gave up get here (the executor
         * is then on its way out); nothing can carry the update. */
        CM_ERROR(MOD, "Cannot send the update of task '%s': %s", task_id, why);
        return;
    }
    if (d->task && strcmp(task_id, d->task->task_id->value) == 0 && cm_task_state_terminal(state)) {
        d->task_terminal = true;
        memcpy(d->terminal_uuid, uuid, 16);
    }
}

void dex_send_update(struct dex *d, Mesos__V1__TaskState state, const char *message, int reason)
{
    dex_send_update_x(d, d->task->task_id->value, state, message, reason, -1);
}

bool dex_updates_pending(const struct dex *d)
{
    return cm_exec_unacknowledged_updates(d->lib) > 0;
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
        if (!dex_updates_pending(d))
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

/* ---- events (libcmexecutor's callbacks) ---------------------------------------------------
 * Once the executor is exiting only acknowledgements still matter. */

static void lib_log(void *arg, enum cm_exec_log_level level, const char *message)
{
    (void)arg;
    cm_log((enum cm_log_level)level, MOD, "%s", message);
}

static void on_subscribed(struct cm_exec *lib, void *arg,
                          const Mesos__V1__Executor__Event__Subscribed *s)
{
    (void)lib;
    struct dex *d = arg;
    if (d->exiting)
        return;
    d->killing_capable = cm_framework_has_capability(
        s ? s->framework_info : NULL,
        MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE);
}

static void on_launch(struct cm_exec *lib, void *arg, const Mesos__V1__TaskInfo *task)
{
    (void)lib;
    struct dex *d = arg;
    if (!d->exiting)
        dex_launch(d, task);
}

static void on_launch_group(struct cm_exec *lib, void *arg, const Mesos__V1__TaskGroupInfo *g)
{
    (void)lib;
    struct dex *d = arg;
    if (d->exiting)
        return;
    for (size_t i = 0; i < g->n_tasks; i++)
        if (g->tasks[i]->task_id && g->tasks[i]->task_id->value)
            dex_send_update_x(d, g->tasks[i]->task_id->value, MESOS__V1__TASK_STATE__TASK_FAILED,
                              "LAUNCH_GROUP is not supported by the Docker executor", -1, -1);
}

static void on_kill(struct cm_exec *lib, void *arg, const Mesos__V1__TaskID *task_id,
                    const Mesos__V1__KillPolicy *policy)
{
    (void)lib;
    struct dex *d = arg;
    if (d->exiting || !d->task || strcmp(task_id->value, d->task->task_id->value) != 0)
        return;
    dex_kill_task(d, dex_kill_grace(d, policy));
}

static void on_acknowledged(struct cm_exec *lib, void *arg, const Mesos__V1__TaskID *task_id,
                            const uint8_t *uuid, size_t len)
{
    (void)lib;
    struct dex *d = arg;
    bool ours = d->task && strcmp(task_id->value, d->task->task_id->value) == 0;
    if (ours && d->task_terminal && len == 16 && memcmp(uuid, d->terminal_uuid, 16) == 0)
        dex_request_exit(d, 0, 1.0);
}

static void on_lib_shutdown(struct cm_exec *lib, void *arg, enum cm_exec_shutdown_reason reason)
{
    (void)lib;
    struct dex *d = arg;
    if (d->exiting)
        return;
    if (reason == CM_EXEC_SHUTDOWN_REQUESTED) {
        shutdown_executor(d);
        return;
    }
    /* The library gave up on the agent; main removes a container still running. */
    CM_ERROR(MOD, "Agent %s is gone; removing the container and exiting", d->cfg.agent_endpoint);
    dex_request_exit(d, 1, 0);
}

static void on_error(struct cm_exec *lib, void *arg, const char *message)
{
    (void)lib;
    (void)message; /* the library logged it */
    dex_request_exit(arg, 1, 0);
}

static void on_disconnected(struct cm_exec *lib, void *arg, const char *reason, double retry_in)
{
    (void)lib;
    (void)arg;
    CM_INFO(MOD, "Re-subscribing in %.2f s (%s)", retry_in, reason);
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
    /* The agent's URL scheme as this process's TLS settings say (Mesos's legacy SSL_ENABLED
     * spelling included), which is also what the HTTP client's TLS setup reads. */
    if (strcmp(cm_tls_scheme(), "https") == 0)
        d.cfg.https = true;
    d.base = event_base_new();
    if (!d.base)
        abort();
    d.dockerd = cm_http_client_new(d.base);
    d.shutdown_timer = evtimer_new(d.base, on_shutdown_timer, &d);
    d.exit_timer = evtimer_new(d.base, on_exit_timer, &d);
    d.logs_timer = evtimer_new(d.base, dex_on_logs_timer, &d);
    struct event *term = evsignal_new(d.base, SIGTERM, on_term, &d);
    struct event *intr = evsignal_new(d.base, SIGINT, on_term, &d);
    if (!d.dockerd || !d.shutdown_timer || !d.exit_timer || !d.logs_timer || !term || !intr)
        abort();
    evsignal_add(term, NULL);
    evsignal_add(intr, NULL);

    struct cm_exec_config lc = {.env = &d.cfg,
                                .base = d.base,
                                .callbacks = {.subscribed = on_subscribed,
                                              .launch = on_launch,
                                              .launch_group = on_launch_group,
                                              .kill = on_kill,
                                              .acknowledged = on_acknowledged,
                                              .shutdown = on_lib_shutdown,
                                              .error = on_error,
                                              .disconnected = on_disconnected},
                                .callback_arg = &d,
                                .log = lib_log};
    d.lib = cm_exec_new(&lc, why, sizeof why);
    CM_INFO(MOD, "Starting Docker executor '%s' of framework '%s' for container %s (agent %s)",
            d.cfg.executor_id, d.cfg.framework_id, d.container, d.cfg.agent_endpoint);
    int rc = d.lib ? cm_exec_start(d.lib) : CM_EXEC_EINVAL;
    if (rc == 0)
        event_base_dispatch(d.base);
    else {
        CM_ERROR(MOD, "Failed to start the agent link: %s", d.lib ? cm_exec_strerror(rc) : why);
        d.exit_status = 1;
    }

    /* A container whose task did not end (the agent is gone, or the shutdown grace ran out)
     * must not outlive its executor. */
    if (d.task && d.phase != EXITED && d.phase != IDLE) {
        const char *args[] = {"rm", "-f", d.container, NULL};
        CM_INFO(MOD, "Removing container %s", d.container);
        dex_docker_blocking(&d, args);
    }
    /* Freeing the library cancels the stream and any POST without callbacks. */
    cm_exec_free(d.lib);
    cm_checker_free(d.health);
    cm_dcli_free(d.step);
    cm_dcli_free(d.stopper);
    cm_http_client_free(d.dockerd);
    if (d.task)
        mesos__v1__task_info__free_unpacked(d.task, NULL);
    cm_docker_strv_free(d.run_argv);
    cm_docker_strv_free(d.health_args);
    event_free(term);
    event_free(intr);
    event_free(d.shutdown_timer);
    event_free(d.exit_timer);
    event_free(d.logs_timer);
    event_base_free(d.base);
    int code = d.exit_status;
    cm_exec_env_cleanup(&d.cfg);
    return code;
}
