/*
 * command.h: the command runner of the built-in command executor.
 *
 * Runs one CommandInfo as a child process in its own process group (so a kill reaches every
 * process the task started), with the executor's environment overlaid by the command's
 * variables and the sandbox as working directory. shell=true runs "/bin/sh -c <value>";
 * shell=false execs <value> (searched in PATH) with <arguments> as the whole argv.
 *
 * cm_command_start reports an exec failure synchronously: the child writes its errno into a
 * close-on-exec pipe, so an empty read means the exec succeeded. The child is reaped on the
 * caller's libevent loop through an evsignal(SIGCHLD); the exit callback runs once, from the
 * loop, with the raw wait status, and may free the command.
 *
 * Killing follows Mesos's command executor: SIGTERM to the process group, then SIGKILL to the
 * group when the grace period ends; a later kill with a shorter grace period shortens it.
 *
 * Threading: everything runs on the loop thread. One event_base may carry several commands.
 */
#ifndef CM_EXECUTOR_COMMAND_H
#define CM_EXECUTOR_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mesos/v1/mesos.pb-c.h"

struct event_base;
struct cm_command;

/* The grace period between SIGTERM and SIGKILL when no kill policy says otherwise. */
#define CM_COMMAND_DEFAULT_GRACE 3.0

/* Called once when the child has exited; wait_status as from waitpid. */
typedef void (*cm_command_exit_cb)(void *arg, int wait_status);

/* Builds the NULL-terminated argv for cmd (malloc'd; free with cm_command_strv_free).
 * Returns 0, or CM_EINVAL with why naming the field (missing value, shell=false without a
 * program). */
int cm_command_argv(const Mesos__V1__CommandInfo *cmd, char ***out, char *why, size_t whylen);

/* Copies base (a NULL-terminated "NAME=value" array, may be NULL) and overlays the variables
 * of env (may be NULL): a variable replaces one of the same name or is appended. SECRET
 * variables are not supported and fail with CM_EINVAL, as do names that are empty or hold
 * '='. The result is malloc'd; free with cm_command_strv_free. */
int cm_command_envp(char *const *base, const Mesos__V1__Environment *env, char ***out, char *why,
                    size_t whylen);

/* Frees an array built above. NULL is a no-op. */
void cm_command_strv_free(char **v);

/* Starts cmd with environment envp (borrowed; copied by the child) in directory cwd (NULL =
 * the current one). On success returns 0 and the running command in *out; on_exit will run
 * once from the loop. On failure returns a negative error and a message in why, e.g.
 * "Failed to execute 'nosuch': No such file or directory"; nothing is left running. */
int cm_command_start(struct event_base *base, const Mesos__V1__CommandInfo *cmd, char *const *envp,
                     const char *cwd, cm_command_exit_cb on_exit, void *arg,
                     struct cm_command **out, char *why, size_t whylen);

/* The child's pid (also its process group id). */
pid_t cm_command_pid(const struct cm_command *c);

/* True once cm_command_kill was called. */
bool cm_command_kill_requested(const struct cm_command *c);

/* Sends SIGTERM to the group and schedules SIGKILL after grace_secs (<= 0: SIGKILL now). A
 * repeated call only ever brings the SIGKILL closer. No-op once the child has exited. */
void cm_command_kill(struct cm_command *c, double grace_secs);

/* Frees the command; a child still running is SIGKILLed (group) and not waited for. */
void cm_command_free(struct cm_command *c);

/* "Command exited with status N" or "Command terminated with signal <strsignal>". */
void cm_command_describe_exit(int wait_status, char *buf, size_t len);

#endif
