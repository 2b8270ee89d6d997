/*
 * docker_executor.h: the parts of mesos-docker-executor shared by its two files (internal; see
 * docker_executor.c for what the program does): docker_executor.c holds the program's side of
 * the link to the agent (libcmexecutor's callbacks, status updates, exit) and main;
 * docker_task.c runs the task's container (API create/start or docker run, API logs and
 * wait, inspect, stop, health checks). The executor API client itself (subscription, updates
 * kept until acknowledged, re-subscription) is libcmexecutor's (cmesos/executor.h), the same
 * client the command executor uses. Single-threaded: everything runs on the executor's loop.
 */
#ifndef CM_DOCKER_EXECUTOR_H
#define CM_DOCKER_EXECUTOR_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "docker_cli.h"
#include "cmesos/executor.h"
#include "executor.h"
#include "health.h"
#include "http_client.h"

#define MOD "docker-executor"
#define SHUTDOWN_MARGIN 1.0
#define DEFAULT_GRACE 3.0
#define LOGS_FLUSH_WAIT 2.0

enum phase { IDLE, PULLING, RUNNING_CLI, STARTED, EXITED };

struct dex {
    struct event_base *base;
    struct cm_exec_env cfg;
    /* flags */
    char *container, *docker, *socket, *sandbox, *mapped;
    double stop_timeout;
    bool cfs;

    /* The link to the agent (libcmexecutor): it keeps every update until the agent
     * acknowledges it, keeps the task until one of its updates is acknowledged, and
     * re-subscribes with both after a disconnection. */
    struct cm_exec *lib;
    struct cm_http_client *dockerd; /* dockerd's API on the socket (create, start) */
    bool killing_capable;           /* the framework has TASK_KILLING_STATE */

    Mesos__V1__TaskInfo *task;
    bool task_terminal;
    uint8_t terminal_uuid[16];
    enum phase phase;
    char **run_argv;
    struct cm_dcli *step; /* pull, run or the final inspect */
    /* dockerd's API on the socket: the container's end (POST /wait) and its output (GET
     * /logs?follow=1, a multiplexed stream copied to our stdout and stderr, the sandbox's). */
    struct cm_http_call *waiter;
    struct cm_http_call *logs;
    uint8_t frame_hdr[8]; /* the logs stream's frame header being read */
    size_t frame_hdr_len;
    uint32_t frame_left; /* payload bytes left in the current frame */
    int frame_fd;        /* 1 or 2 */
    struct cm_dcli *stopper;
    bool kill_requested, killing_sent, health_killed;
    double kill_grace;
    int exit_code; /* from docker wait; -1 unknown */
    char health_why[256];
    struct event *logs_timer;

    struct cm_check_spec health_spec;
    struct cm_checker *health;
    struct cm_health_policy health_policy;
    Mesos__V1__CommandInfo health_cmd; /* docker exec <name> sh -c <value> */
    char **health_args;

    bool shutting_down, exiting;
    int exit_status;
    struct event *shutdown_timer, *exit_timer;
};

/* docker_executor.c: status updates (reason and healthy are set when >= 0; handed to the
 * library, which keeps them until acknowledged), whether any is still unacknowledged, and
 * exiting. */
void dex_send_update_x(struct dex *d, const char *task_id, Mesos__V1__TaskState state,
                       const char *message, int reason, int healthy);
void dex_send_update(struct dex *d, Mesos__V1__TaskState state, const char *message, int reason);
bool dex_updates_pending(const struct dex *d);
void dex_request_exit(struct dex *d, int code, double delay);

/* docker_task.c: the task's container. */
void dex_launch(struct dex *d, const Mesos__V1__TaskInfo *t);
void dex_kill_task(struct dex *d, double grace);
/* The grace of a kill: the KILL's policy, else the task's, else --stop_timeout, else 3 s. */
double dex_kill_grace(const struct dex *d, const Mesos__V1__KillPolicy *policy);
/* Runs `docker <args...>` to its end, blocking (only while the executor exits). */
void dex_docker_blocking(struct dex *d, const char *const *args);
/* The timer that ends waiting for the container's output after its end. */
void dex_on_logs_timer(evutil_socket_t fd, short what, void *arg);

#endif
