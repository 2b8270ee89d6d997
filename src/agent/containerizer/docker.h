/*
 * docker.h: the agent's Docker containerizer (--containerizers=docker,mesos), after Mesos's.
 *
 * Design. A task with ContainerInfo type DOCKER is run by mesos-docker-executor
 * (src/docker-executor), which the agent launches like the command executor (same launch
 * queue, checkpoints, SUBSCRIBE, status updates, recovery), only with another program and
 * flags (cm_docker_executor_command). That executor creates and starts the container
 * through dockerd's HTTP API (the body translated from the `docker run -d` argv of
 * docker_run.h; the CLI's `docker run -d` itself when the image must be pulled or
 * DockerInfo.parameters are given) and drives the rest through the docker CLI (`logs -f` into
 * the sandbox's stdout/stderr, `wait`, `inspect`, `stop -t <grace>`, `exec` for health
 * checks), so the Mesos status semantics
 * (STARTING -> RUNNING -> terminal with reasons and Docker's messages) live in one process
 * that outlives an agent restart, exactly as the command executor does. Docker containers
 * are named "mesos-<container id>", the id of the executor's container.
 *
 * This module is the agent's side, and it talks to dockerd through its HTTP API on
 * --docker_socket (libcurl's CURLOPT_UNIX_SOCKET_PATH through the agent-loop HTTP client),
 * never through the CLI: the agent's loop must not block and the agent reaps only its own
 * executors, so it starts no docker processes. Its jobs:
 *   - validation of a DOCKER task before anything starts (cm_docker_check_task);
 *   - when an executor's container is gone: the Docker container is killed at once (if the
 *     executor died without stopping it) and removed after --docker_remove_delay
 *     (cm_docker_container_exited);
 *   - after agent recovery, with --docker_kill_orphans: every "mesos-*" container that
 *     belongs to no recovered executor is removed (cm_docker_recover).
 * Calls to dockerd are fire-and-forget: failures are logged (a dockerd that is down must not
 * stop the agent). Threading: the agent's loop only.
 */
#ifndef CM_AGENT_DOCKER_H
#define CM_AGENT_DOCKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

struct event_base;
struct cm_docker;

struct cm_docker_options {
    struct event_base *base;
    const char *docker;       /* --docker: the CLI the executor runs (default "docker") */
    const char *socket;       /* --docker_socket (default /var/run/docker.sock) */
    bool kill_orphans;        /* --docker_kill_orphans */
    double remove_delay;      /* --docker_remove_delay, seconds */
    double stop_timeout;      /* --docker_stop_timeout, seconds */
    bool cfs;                 /* --cgroups_enable_cfs: hard CPU quota for containers too */
    const char *launcher_dir; /* where mesos-docker-executor is */
    const char *cgroups_root; /* NULL = "/sys/fs/cgroup" (tests: a fake tree) */
};

/* Parses --containerizers: a comma-separated list of "mesos" and "docker", each at most once,
 * not empty. Sets *mesos and *docker. Returns 0 or CM_EINVAL with why naming the entry. */
int cm_docker_containerizers_parse(const char *text, bool *mesos, bool *docker, char *why,
                                   size_t whylen);

/* Returns the module (strings copied), or NULL with why (an empty CLI or socket path, or a
 * socket path too long for a unix socket). */
struct cm_docker *cm_docker_new(const struct cm_docker_options *o, char *why, size_t whylen);
/* Cancels the calls in flight and the pending removals. NULL is a no-op. */
void cm_docker_free(struct cm_docker *d);

/* Whether task can run in Docker: the checks of cm_docker_run_argv (docker_run.h), plus no
 * custom executor. Returns 0 or CM_EINVAL with why (for TASK_FAILED). Pure. */
int cm_docker_check_task(const Mesos__V1__TaskInfo *task, char *why, size_t whylen);

/* Turns the command executor's CommandInfo of a DOCKER task into mesos-docker-executor's:
 * value <launcher_dir>/mesos-docker-executor, arguments [mesos-docker-executor,
 * --container=mesos-<container_id>, --docker=, --docker_socket=, --mapped_directory=,
 * --stop_timeout=, --launcher_dir=, --cgroups_enable_cfs=]. Replaces cmd->value and
 * cmd->arguments (the old ones are freed). */
void cm_docker_executor_command(const struct cm_docker *d, const char *container_id,
                                Mesos__V1__CommandInfo *cmd);

/* Whether info is a Docker executor's (its command runs mesos-docker-executor); also true for
 * an ExecutorInfo read back from a checkpoint. */
bool cm_docker_is_executor(const Mesos__V1__ExecutorInfo *info);

/* The executor of container_id is gone: kill its Docker container (harmless when it has
 * exited) and remove it after remove_delay. */
void cm_docker_container_exited(struct cm_docker *d, const char *container_id);

/* After recovery: with kill_orphans, removes every container named "mesos-*" whose id is not
 * one of live_ids (the recovered executors' container ids); without, only logs them. */
void cm_docker_recover(struct cm_docker *d, const char *const *live_ids, size_t n);

/* Adds the Docker container's own usage (its cgroups under dockerd's cgroupfs parent
 * "docker": cpuacct.stat and memory.usage_in_bytes / memory.stat on cgroup v1, cpu.stat and
 * memory.current / memory.stat on v2) to statistics, the executor's usage the containerizer
 * filled in: cpus_user_time_secs, cpus_system_time_secs, mem_total_bytes, mem_rss_bytes and
 * mem_cache_bytes become the sums. The container's full id comes from dockerd
 * (GET /containers/<name>/json) asynchronously: until it is known (the first request after
 * the container started, or while the container is not running) nothing is added and the
 * lookup is started (at most one per container in flight, retried at most once a second).
 * Reads a few small cgroup files on the caller's loop, as the containerizer's usage does. */
void cm_docker_usage(struct cm_docker *d, const char *container_id, double now, json_t *statistics);

/* Calls to dockerd in flight plus removals waiting for their delay (tests). */
size_t cm_docker_pending(const struct cm_docker *d);

#endif
