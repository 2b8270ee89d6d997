/*
 * mesos-launch-helper: the agent's launch helper program (containerizer/spawner.h).
 *
 * The agent forks it at start with the protocol's socket as fd 3 and nothing else, and it
 * clones every container (CLONE_PARENT: they are the agent's children). It is linked
 * statically where the archives exist, so each clone copies a dozen mappings instead of the
 * agent's two hundred. Not meant to be run by hand: without the socket it exits at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "containerizer/rootfs.h"
#include "containerizer/spawner.h"

/* Container images are never launched through the helper (cm_spawner_accepts refuses a spec
 * with a rootfs, and the request has no field for one), so the launch code's call to mount a
 * rootfs cannot be reached here. Defining it keeps the image code (zlib, OpenSSL) out of this
 * program; should it ever be reached, the launch fails with this error instead. */
int cm_rootfs_mount(const struct cm_rootfs_spec *s, char *why, size_t whylen)
{
    (void)s;
    snprintf(why, whylen, "container images are not launched by %s", CM_SPAWNER_PROGRAM);
    return ENOTSUP;
}

int main(void)
{
    return cm_spawner_serve(3);
}
