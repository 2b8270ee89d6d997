/*
 * container_info.c: refusing ContainerInfo the agent cannot honour (contract in
 * container_info.h).
 */
#include "container_info.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

/* Appends "; " + text to buf (bounded). */
static void add(char *buf, size_t cap, const char *text)
{
    size_t n = strlen(buf);
    if (n + 1 >= cap)
        return;
    snprintf(buf + n, cap - n, "%s%s", n ? "; " : "", text);
}

int cm_container_info_check(const Mesos__V1__ContainerInfo *ci, const char *whose, char *why,
                            size_t whylen)
{
    return cm_container_info_check_images(ci, whose, false, why, whylen);
}

int cm_container_info_check_images(const Mesos__V1__ContainerInfo *ci, const char *whose,
                                   bool images, char *why, size_t whylen)
{
    if (!ci)
        return 0;
    char list[768] = "";
    char item[384];
    if (ci->type == MESOS__V1__CONTAINER_INFO__TYPE__DOCKER) {
        snprintf(item, sizeof item,
                 "type DOCKER%s%s%s is not supported (the agent was started without docker in "
                 "--containerizers)",
                 ci->docker && ci->docker->image ? " (image '" : "",
                 ci->docker && ci->docker->image ? ci->docker->image : "",
                 ci->docker && ci->docker->image ? "')" : "");
        add(list, sizeof list, item);
    } else if (ci->type != MESOS__V1__CONTAINER_INFO__TYPE__MESOS) {
        snprintf(item, sizeof item, "type %d is not supported", (int)ci->type);
        add(list, sizeof list, item);
    }
    if (ci->docker && ci->type != MESOS__V1__CONTAINER_INFO__TYPE__DOCKER)
        add(list, sizeof list, "'docker' is not supported (no Docker containerizer)");
    const Mesos__V1__Image *img = ci->mesos ? ci->mesos->image : NULL;
    bool docker_image = images && ci->type == MESOS__V1__CONTAINER_INFO__TYPE__MESOS && img &&
                        img->type == MESOS__V1__IMAGE__TYPE__DOCKER && img->docker &&
                        img->docker->name && *img->docker->name;
    if (ci->mesos && ci->mesos->image && !docker_image && images) {
        add(list, sizeof list,
            "'mesos.image' must be a Docker image (type DOCKER with docker.name; APPC images "
            "are not supported)");
    } else if (ci->mesos && ci->mesos->image && !docker_image) {
        const Mesos__V1__Image *im = ci->mesos->image;
        const char *name = im->docker && im->docker->name ? im->docker->name
                           : im->appc && im->appc->name   ? im->appc->name
                                                          : "";
        snprintf(item, sizeof item,
                 "'mesos.image'%s%s%s is not supported (no container images: the task would "
                 "see the host's filesystem)",
                 *name ? " ('" : "", name, *name ? "')" : "");
        add(list, sizeof list, item);
    }
    if (ci->n_volumes && !docker_image)
        add(list, sizeof list,
            images ? "'volumes' are supported only with a container image ('mesos.image')"
                   : "'volumes' are not supported");
    if (ci->hostname)
        add(list, sizeof list, "'hostname' is not supported");
    if (ci->n_network_infos)
        add(list, sizeof list, "'network_infos' are not supported (host network only)");
    if (ci->linux_info)
        add(list, sizeof list, "'linux_info' is not supported");
    if (ci->rlimit_info)
        add(list, sizeof list, "'rlimit_info' is not supported");
    if (ci->tty_info)
        add(list, sizeof list, "'tty_info' is not supported");
    if (!*list)
        return 0;
    return cm_fail(CM_EINVAL, why, whylen,
                   "The %s's ContainerInfo cannot be honoured by this agent: %s; the task was "
                   "not run",
                   whose, list);
}
