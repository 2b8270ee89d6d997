/*
 * harness_docker.h: a private dockerd for the Docker tests, shared by the cases of one test
 * file: `dockerd --data-root D --exec-root E -H unix://S --iptables=false --bridge=none`
 * under a temp dir of its own (socket paths stay short, under 100 bytes), with a test image
 * built at start from the machine's static busybox (a tarball with /bin/busybox, its applet
 * links and an /etc/os-release saying NAME="cmesos busybox", `docker import`ed as
 * localhost/busybox). No registry is needed or reachable.
 *
 * The daemon is not one of the harness's per-case processes: it lives until
 * itest_docker_stop (registered with atexit by itest_docker_start), which stops it
 * (SIGTERM, then SIGKILL), unmounts what it left mounted and removes its directory.
 * The CLI is /usr/bin/docker (Debian's docker.io); /usr/local/bin/docker may be another tool.
 */
#ifndef CM_ITEST_HARNESS_DOCKER_H
#define CM_ITEST_HARNESS_DOCKER_H

#include <stddef.h>
#include <sys/types.h>

#define ITEST_DOCKER_CLI "/usr/bin/docker"
#define ITEST_DOCKER_IMAGE "localhost/busybox"

struct itest_docker {
    char dir[64];
    char sock[96];
    pid_t pid;
};

/* Starts dockerd and builds the image. Returns 0, or -1 with why (the caller skips: no
 * dockerd, no busybox, not root, or the daemon did not come up in 20 s). */
int itest_docker_start(struct itest_docker *d, char *why, size_t whylen);
/* Stops the daemon and removes its directory. Idempotent. */
void itest_docker_stop(struct itest_docker *d);
/* Runs `docker -H unix://<sock> args...` (args NULL-terminated) to its end; returns its exit
 * code (or -1) and its output (stdout+stderr, malloc'd) in *out when out is not NULL. */
int itest_docker_cli(const struct itest_docker *d, const char *const *args, char **out);
/* Names of the containers whose name starts with prefix (`docker ps -a`), one per line,
 * malloc'd ("" when none), or NULL on error. */
char *itest_docker_names(const struct itest_docker *d, const char *prefix);

#endif
