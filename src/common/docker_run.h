/*
 * docker_run.h: the `docker run` command line of a task with a DOCKER ContainerInfo, as Mesos's
 * Docker containerizer builds it (Mesos's src/docker/docker.cpp RunOptions), and the checks of
 * the DockerInfo that decide whether the agent can honour it at all.
 *
 * The agent calls cm_docker_run_argv before it starts the Docker executor, so a task it cannot
 * run this way fails at once with TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED and a message
 * naming the field; the Docker executor (mesos-docker-executor) calls it again to get the
 * argv it runs. Both see the same TaskInfo, so both get the same answer.
 *
 * What is built (docker [-H unix://<socket>] run -d ...):
 *   --privileged                 DockerInfo.privileged
 *   --cpu-shares=N               max(2, cpus * 1024)
 *   --cpu-quota=N                with cfs: max(1 ms, cpus * 100 ms) per the 100 ms period
 *   --memory=B --memory-swap=B   max(32 MB, mem); swap equal, so the limit is not dodged by swap
 *   -e NAME=VALUE                CommandInfo.environment, then MESOS_SANDBOX=<mapped>,
 *                                MESOS_CONTAINER_NAME=<name> (and the extra env given)
 *   -v HOST:CONTAINER:ro|rw      ContainerInfo.volumes with host_path (relative host paths are
 *                                in the sandbox, relative container paths under the mapped
 *                                sandbox); volumes with a source are refused
 *   -v SANDBOX:MAPPED            the sandbox at /mnt/mesos/sandbox (Mesos's default)
 *   --net host|bridge|none|NAME  DockerInfo.network (default HOST as in Mesos); USER takes the
 *                                single network_infos[0].name
 *   --hostname H                 ContainerInfo.hostname (not with host network)
 *   -p HOST:CONTAINER[/proto]    port_mappings (bridge or user networks only); every host port
 *                                must be in the task's `ports` resources
 *   -u USER                      CommandInfo.user
 *   --entrypoint /bin/sh         shell commands: image -c "<value>"; else image value args...
 *   --name NAME, --KEY=VALUE     DockerInfo.parameters ("net"/"network" replace --net)
 *
 * Refused (CM_EINVAL, why names the field): no image, an unknown network, USER without exactly
 * one named network_info, port mappings on host/none networks or outside the task's ports,
 * volumes without host_path (Docker volume drivers are not supported), both paths of a volume
 * relative, volume_driver, a shell command without a value, parameters with empty keys or keys
 * that are not [A-Za-z0-9-_.]. Pure functions; no I/O.
 */
#ifndef CM_DOCKER_RUN_H
#define CM_DOCKER_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

/* The sandbox's path inside a Docker container (Mesos's --sandbox_directory default). */
#define CM_DOCKER_MAPPED_SANDBOX "/mnt/mesos/sandbox"
/* Docker containers of this agent are named CM_DOCKER_NAME_PREFIX + container id. */
#define CM_DOCKER_NAME_PREFIX "mesos-"

struct cm_docker_run_params {
    const char *docker; /* the CLI, e.g. "docker" or "/usr/bin/docker" */
    const char *socket; /* dockerd's unix socket (passed as -H unix://...); NULL = CLI default */
    const char *name;   /* the container name, "mesos-<container id>" */
    const char *sandbox;
    const char *mapped_sandbox; /* NULL = CM_DOCKER_MAPPED_SANDBOX */
    bool cfs;                   /* --cgroups_enable_cfs: also a hard CPU quota */
    char *const *extra_env;     /* NULL or NULL-terminated NAME=VALUE added last */
};

/* Builds the NULL-terminated argv of `docker run -d` for task (its container, command and
 * resources). Returns 0 and *out (free with cm_docker_strv_free), or CM_EINVAL with why. */
int cm_docker_run_argv(const Mesos__V1__TaskInfo *task, const struct cm_docker_run_params *p,
                       char ***out, char *why, size_t whylen);

/* The same container for dockerd's HTTP API: from an argv built by cm_docker_run_argv, the
 * JSON body of POST /containers/create (Image, Cmd, Entrypoint, Env, User, Hostname,
 * ExposedPorts and HostConfig: Binds, NetworkMode, PortBindings, Privileged, CpuShares,
 * CpuPeriod, CpuQuota, Memory, MemorySwap) and the container's name. Returns 0 with *body and
 * *name (malloc'd), or CM_ESTATE when the argv holds options only the CLI takes
 * (DockerInfo.parameters): the caller then runs the argv itself. */
int cm_docker_api_create(char *const *argv, char **body, char **name);

/* Builds "docker [-H unix://socket] <args...>" (args NULL-terminated). Owned result. */
char **cm_docker_cli_argv(const char *docker, const char *socket, const char *const *args);

/* Whether name is a container id Mesos would accept in a Docker container name (prefix
 * stripped): [A-Za-z0-9_.-]+, at most 128 bytes. */
bool cm_docker_id_valid(const char *id);

void cm_docker_strv_free(char **v);

#endif
