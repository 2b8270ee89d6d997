/*
 * container_info.h: which ContainerInfo this agent can honour (Mesos's containerizer here runs
 * processes on the host's root filesystem; there is no image, Docker, volume or network
 * support).
 *
 * A task or executor whose ContainerInfo asks for something the agent does not implement
 * must not be run on the host as if it had been honoured: the agent fails it with
 * TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED and the message built here, naming what is
 * unsupported. Honoured: no ContainerInfo, or type MESOS with none of the fields below.
 * Refused: type DOCKER or a DockerInfo, MesosInfo.image, volumes, hostname, network_infos,
 * linux_info, rlimit_info, tty_info, and any unknown type. Pure function, no state.
 */
#ifndef CM_AGENT_CONTAINER_INFO_H
#define CM_AGENT_CONTAINER_INFO_H

#include <stdbool.h>
#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

/* Returns 0 when ci is NULL or can be honoured; else CM_EINVAL with why, e.g. "The task's
 * ContainerInfo cannot be honoured by this agent: type DOCKER (image 'alpine:3.19') is not
 * supported (no Docker containerizer); the task was not run". whose names the holder ("task"
 * or "executor"). */
int cm_container_info_check(const Mesos__V1__ContainerInfo *ci, const char *whose, char *why,
                            size_t whylen);

/* As cm_container_info_check; with images (the agent runs --image_providers=docker) a MESOS
 * ContainerInfo with a Docker image (mesos.image type DOCKER, docker.name set) and host path
 * volumes is honoured (provisioner.h); APPC images stay refused. */
int cm_container_info_check_images(const Mesos__V1__ContainerInfo *ci, const char *whose,
                                   bool images, char *why, size_t whylen);

#endif
