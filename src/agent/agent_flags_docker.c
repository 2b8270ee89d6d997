/*
 * agent_flags_docker.c: the flags of the containerizer choice and of the Docker containerizer
 * (names and defaults as Mesos's agent; see containerizer/docker.h).
 */
#include "agent.h"

static void add(struct cm_agent_flags *f, const char *name, enum cm_flag_type type, void *dst,
                const char *help)
{
    cm_flags_add(f->table, sizeof f->table / sizeof f->table[0], &f->ntable, name, NULL, type, dst,
                 help, false);
}

void cm_agent_flags_docker_init(struct cm_agent_flags *f)
{
    f->containerizers = "mesos";
    f->docker = "docker";
    f->docker_socket = "/var/run/docker.sock";
    f->docker_kill_orphans = true;
    f->docker_remove_delay = 6 * 3600;
    f->docker_stop_timeout = 0;
    add(f, "containerizers", CM_FLAG_STRING, &f->containerizers,
        "Comma-separated containerizers, tried in order: 'mesos' and 'docker'. A task with a "
        "DOCKER ContainerInfo goes to docker, every other to mesos; one whose containerizer is "
        "not listed fails with REASON_CONTAINER_LAUNCH_FAILED");
    add(f, "docker", CM_FLAG_STRING, &f->docker,
        "The docker CLI the Docker executor runs (path or name in PATH)");
    add(f, "docker_socket", CM_FLAG_STRING, &f->docker_socket,
        "dockerd's unix socket: the agent's calls (recovery, removal) and the CLI's -H");
    add(f, "docker_kill_orphans", CM_FLAG_BOOL, &f->docker_kill_orphans,
        "After recovery, remove Docker containers named mesos-* that belong to no recovered "
        "executor. Set false when several agents share one dockerd");
    add(f, "docker_remove_delay", CM_FLAG_DURATION, &f->docker_remove_delay,
        "How long an exited Docker container is kept (for docker logs/inspect) before removal");
    add(f, "docker_stop_timeout", CM_FLAG_DURATION, &f->docker_stop_timeout,
        "Grace period of `docker stop` for tasks without a kill policy (Mesos deprecates it in "
        "favour of KillPolicy). Default 0: the executor's 3 s");
}
