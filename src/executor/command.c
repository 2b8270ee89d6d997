/* command.c: fork/exec of a task's command, reaping and kill escalation (see command.h). */
#include "command.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "util.h"

struct cm_command {
    pid_t pid;
    bool exited;
    bool kill_requested;
    double sigkill_at; /* monotonic deadline of the pending SIGKILL */
    struct event *sigchld;
    struct event *sigkill_timer;
    cm_command_exit_cb on_exit;
    void *arg;
};

void cm_command_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

int cm_command_argv(const Mesos__V1__CommandInfo *cmd, char ***out, char *why, size_t whylen)
{
    *out = NULL;
    if (!cmd || !cmd->value || !cmd->value[0])
        return cm_fail(CM_EINVAL, why, whylen, "command.value must be set");
    bool shell = !cmd->has_shell || cmd->shell; /* proto default is true */
    char **argv;
    if (shell) {
        argv = cm_xcalloc(4, sizeof *argv);
        argv[0] = cm_xstrdup("/bin/sh");
        argv[1] = cm_xstrdup("-c");
        argv[2] = cm_xstrdup(cmd->value);
    } else if (cmd->n_arguments == 0) {
        /* Mesos allows an empty argument list: the program runs with argv[0] = value. */
        argv = cm_xcalloc(2, sizeof *argv);
        argv[0] = cm_xstrdup(cmd->value);
    } else {
        argv = cm_xcalloc(cmd->n_arguments + 1, sizeof *argv);
        for (size_t i = 0; i < cmd->n_arguments; i++)
            argv[i] = cm_xstrdup(cmd->arguments[i] ? cmd->arguments[i] : "");
    }
    *out = argv;
    return 0;
}

/* Index of the entry of v (n entries) named name, or -1. */
static long env_find(char **v, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strncmp(v[i], name, len) == 0 && v[i][len] == '=')
            return (long)i;
    return -1;
}

int cm_command_envp(char *const *base, const Mesos__V1__Environment *env, char ***out, char *why,
                    size_t whylen)
{
    size_t nbase = 0, nvars = env ? env->n_variables : 0;
    *out = NULL;
    while (base && base[nbase])
        nbase++;
    char **v = cm_xcalloc(nbase + nvars + 1, sizeof *v);
    size_t n = 0;
    for (; n < nbase; n++)
        v[n] = cm_xstrdup(base[n]);
    for (size_t i = 0; i < nvars; i++) {
        const Mesos__V1__Environment__Variable *var = env->variables[i];
        const char *name = var->name ? var->name : "";
        if (!name[0] || strchr(name, '=')) {
            cm_command_strv_free(v);
            return cm_fail(CM_EINVAL, why, whylen,
                           "command.environment.variables[%zu].name '%s' is not a valid name", i,
                           name);
        }
        if (var->has_type && var->type == MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__SECRET) {
            cm_command_strv_free(v);
            return cm_fail(CM_EINVAL, why, whylen,
                           "Environment variable '%s' is a SECRET, which the command executor "
                           "does not support",
                           name);
        }
        const char *value = var->value ? var->value : "";
        size_t len = strlen(name) + strlen(value) + 2;
        char *entry = malloc(len);
        if (!entry)
            abort();
        snprintf(entry, len, "%s=%s", name, value);
        /* A handful of variables against a few dozen inherited ones: a linear search is fine. */
        long at = env_find(v, n, name);
        if (at >= 0) {
            free(v[at]);
            v[at] = entry;
        } else {
            v[n++] = entry;
        }
    }
    *out = v;
    return 0;
}

void cm_command_describe_exit(int wait_status, char *buf, size_t len)
{
    if (WIFEXITED(wait_status))
        snprintf(buf, len, "Command exited with status %d", WEXITSTATUS(wait_status));
    else if (WIFSIGNALED(wait_status))
        snprintf(buf, len, "Command terminated with signal %s", strsignal(WTERMSIG(wait_status)));
    else
        snprintf(buf, len, "Command ended with wait status %d", wait_status);
}

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void child_exec(char **argv, char *const *envp, const char *cwd, int errfd, bool shell)
{
    int err;
    setpgid(0, 0);
    /* The executor ignores SIGPIPE; the task must start with the default dispositions. */
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The executor's own sockets (the agent connection) must not leak into the task. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < 1024; fd++)
            if (fd != errfd)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (cwd && chdir(cwd) != 0) {
        err = errno;
    } else {
        if (shell)
            execve(argv[0], argv, envp);
        else
            execvpe(argv[0], argv, envp);
        err = errno;
    }
    ssize_t w = write(errfd, &err, sizeof err);
    (void)w;
    _exit(127);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct cm_command *c = arg;
    int status;
    if (c->exited)
        return;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r != c->pid)
        return; /* another child, or a spurious wakeup */
    c->exited = true;
    if (c->sigkill_timer)
        evtimer_del(c->sigkill_timer);
    /* A kill was asked for: sweep what the task left in its group. */
    if (c->kill_requested)
        killpg(c->pid, SIGKILL);
    c->on_exit(c->arg, status); /* may free c */
}

static void on_sigkill_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_command *c = arg;
    if (!c->exited)
        killpg(c->pid, SIGKILL);
}

int cm_command_start(struct event_base *base, const Mesos__V1__CommandInfo *cmd, char *const *envp,
                     const char *cwd, cm_command_exit_cb on_exit, void *arg,
                     struct cm_command **out, char *why, size_t whylen)
{
    char **argv = NULL;
    int pipefd[2] = {-1, -1};
    struct cm_command *c = NULL;
    int rc;

    *out = NULL;
    rc = cm_command_argv(cmd, &argv, why, whylen);
    if (rc)
        return rc;
    bool shell = !cmd->has_shell || cmd->shell;

    c = cm_xcalloc(1, sizeof *c);
    c->on_exit = on_exit;
    c->arg = arg;
    c->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, c);
    c->sigkill_timer = evtimer_new(base, on_sigkill_timer, c);
    if (!c->sigchld || !c->sigkill_timer) {
        rc = cm_fail(-ENOMEM, why, whylen, "Failed to create the reaper events");
        goto fail;
    }
    /* Armed before fork so an instant exit cannot slip by unnoticed. */
    if (evsignal_add(c->sigchld, NULL) != 0) {
        rc = cm_fail(-EINVAL, why, whylen, "Failed to watch SIGCHLD");
        goto fail;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to create a pipe: %s", strerror(errno));
        goto fail;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child_exec(argv, envp, cwd, pipefd[1], shell);

    /* Also set here, so a kill right after start cannot miss the group. */
    setpgid(pid, pid);
    c->pid = pid;
    close(pipefd[1]);
    pipefd[1] = -1;
    int child_err = 0;
    ssize_t r;
    do {
        r = read(pipefd[0], &child_err, sizeof child_err);
    } while (r < 0 && errno == EINTR);
    close(pipefd[0]);
    pipefd[0] = -1;
    if (r == (ssize_t)sizeof child_err) {
        /* The exec failed; the child is exiting with 127. Reap it here, silently. */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        rc = cm_fail(-child_err, why, whylen, "Failed to execute '%s': %s", cmd->value,
                     strerror(child_err));
        goto fail;
    }
    cm_command_strv_free(argv);
    *out = c;
    return 0;

fail:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (c) {
        if (c->sigchld)
            event_free(c->sigchld);
        if (c->sigkill_timer)
            event_free(c->sigkill_timer);
        free(c);
    }
    cm_command_strv_free(argv);
    return rc;
}

pid_t cm_command_pid(const struct cm_command *c)
{
    return c->pid;
}

bool cm_command_kill_requested(const struct cm_command *c)
{
    return c->kill_requested;
}

void cm_command_kill(struct cm_command *c, double grace_secs)
{
    if (c->exited)
        return;
    if (grace_secs < 0)
        grace_secs = 0;
    double now = cm_monotonic_secs();
    if (!c->kill_requested) {
        c->kill_requested = true;
        killpg(c->pid, SIGTERM);
    } else if (now + grace_secs >= c->sigkill_at) {
        return; /* the SIGKILL already due is sooner */
    }
    c->sigkill_at = now + grace_secs;
    if (grace_secs == 0) {
        killpg(c->pid, SIGKILL);
        return;
    }
    struct timeval tv = {.tv_sec = (time_t)grace_secs,
                         .tv_usec = (suseconds_t)((grace_secs - (double)(time_t)grace_secs) * 1e6)};
    evtimer_add(c->sigkill_timer, &tv);
}

void cm_command_free(struct cm_command *c)
{
    if (!c)
        return;
    if (!c->exited)
        killpg(c->pid, SIGKILL);
    event_free(c->sigchld);
    event_free(c->sigkill_timer);
    free(c);
}
