/*
 * docker_cli.h: runs the docker CLI as child processes on a libevent loop, for the Docker
 * executor. The docker executor talks to dockerd through its CLI, as Mesos's
 * mesos-docker-executor does: `docker run` takes the arbitrary options of
 * DockerInfo.parameters, which the HTTP API has no generic form for, and the CLI's
 * `logs -f` writes the container's stdout and stderr into the sandbox files unchanged.
 *
 * A call (cm_dcli_run) starts argv (argv[0] searched in PATH) with stdin from /dev/null. With
 * capture, its stdout and stderr are read on the loop (each bounded to CM_DCLI_MAX_OUTPUT
 * bytes; the rest is drained and dropped); without capture the child inherits the caller's
 * stdout and stderr. The done callback runs once, from the loop, after the child was reaped
 * and (with capture) both pipes reached EOF; it gets the raw wait status (or -1 when the exec
 * failed, with out holding the reason) and may free the call. Children are reaped with
 * waitpid on their own pid, never -1, so other reapers on the same loop keep working.
 *
 * Threading: the loop's thread only.
 */
#ifndef CM_DOCKER_CLI_H
#define CM_DOCKER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct cm_dcli;

#define CM_DCLI_MAX_OUTPUT (64u << 10)

/* status: wait status, or -1 when the program could not be started. out/err: captured text
 * (NUL-terminated, "" without capture). */
typedef void (*cm_dcli_done_fn)(void *arg, struct cm_dcli *call, int status, const char *out,
                                const char *err);

/* Starts argv. Returns the call, or NULL with why when fork or pipe failed. */
struct cm_dcli *cm_dcli_run(struct event_base *base, char *const *argv, bool capture,
                            cm_dcli_done_fn done, void *arg, char *why, size_t whylen);
pid_t cm_dcli_pid(const struct cm_dcli *c);
/* Signals the child (no-op once it was reaped). */
void cm_dcli_kill(struct cm_dcli *c, int sig);
/* Frees the call: a child still running is SIGKILLed and reaped blocking (it is a docker CLI
 * process, which dies at once). No callback runs after this. NULL is a no-op. */
void cm_dcli_free(struct cm_dcli *c);

/* Docker's message in text (its stderr): the non-empty lines joined with " ", without the
 * CLI's "See 'docker run --help'." hint; the fallback when nothing is left. Into buf. */
const char *cm_dcli_message(const char *text, const char *fallback, char *buf, size_t len);

#endif
