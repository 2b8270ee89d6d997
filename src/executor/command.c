/* command.c: fork/exec of a task's command, reaping and kill escalation (see command.h). */
#include "command.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* ---- container images ----
 * With an image, the agent mounts the container's root filesystem in the executor's mount
 * namespace and passes Mesos's command executor flags as MESOS_* variables: MESOS_ROOTFS (where
 * the rootfs is), MESOS_SANDBOX_DIRECTORY (the sandbox inside it), MESOS_WORKING_DIRECTORY,
 * MESOS_TASK_ENVIRONMENT (the image's Env, a JSON object) and MESOS_TASK_COMMAND (a
 * CommandInfo in JSON, when the image's Entrypoint/Cmd supply the command). The task's
 * child enters the rootfs (pivot_root in a mount namespace of its own, chroot where that is
 * refused) before it changes to the working directory and execs. Without MESOS_ROOTFS
 * nothing changes. */
struct image_launch {
    char *rootfs;
    char *cwd;
    char **argv;
    char **envp;
};

static void image_launch_cleanup(struct image_launch *il)
{
    free(il->rootfs);
    free(il->cwd);
    cm_command_strv_free(il->argv);
    cm_command_strv_free(il->envp);
    memset(il, 0, sizeof *il);
}

static bool image_var(const char *entry)
{
    static const char *const names[] = {
        "MESOS_ROOTFS=",           "MESOS_SANDBOX_DIRECTORY=", "MESOS_WORKING_DIRECTORY=",
        "MESOS_TASK_ENVIRONMENT=", "MESOS_TASK_COMMAND=",      "MESOS_SANDBOX="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

static bool task_sets(const Mesos__V1__CommandInfo *cmd, const char *name)
{
    const Mesos__V1__Environment *env = cmd->environment;
    for (size_t i = 0; env && i < env->n_variables; i++)
        if (env->variables[i]->name && strcmp(env->variables[i]->name, name) == 0)
            return true;
    return false;
}

/* Fills il when the executor was started for an image (MESOS_ROOTFS); il->rootfs stays NULL
 * otherwise. envp is the task's environment as built for the host case. */
static int image_launch_prepare(const Mesos__V1__CommandInfo *cmd, char *const *envp,
                                struct image_launch *il, char *why, size_t whylen)
{
    memset(il, 0, sizeof *il);
    const char *rootfs = getenv("MESOS_ROOTFS");
    if (!rootfs || !*rootfs)
        return 0;
    const char *sandbox = getenv("MESOS_SANDBOX_DIRECTORY");
    const char *wd = getenv("MESOS_WORKING_DIRECTORY");
    const char *tenv = getenv("MESOS_TASK_ENVIRONMENT");
    const char *tcmd = getenv("MESOS_TASK_COMMAND");
    sandbox = sandbox && *sandbox ? sandbox : "/mnt/mesos/sandbox";
    il->rootfs = cm_xstrdup(rootfs);
    il->cwd = cm_xstrdup(wd && *wd ? wd : sandbox);
    int rc = 0;
    if ((!cmd->value || !*cmd->value) && tcmd && *tcmd) {
        json_t *c = json_loads(tcmd, 0, NULL);
        json_t *args = json_object_get(c, "arguments");
        size_t n = json_array_size(args);
        if (!json_is_string(json_object_get(c, "value")) || n == 0) {
            rc = cm_fail(CM_EINVAL, why, whylen, "MESOS_TASK_COMMAND is not a CommandInfo");
        } else {
            il->argv = cm_xcalloc(n + 1, sizeof *il->argv);
            for (size_t i = 0; i < n; i++)
                il->argv[i] = cm_xstrdup(json_string_value(json_array_get(args, i)));
            free(il->argv[0]); /* the program is value; arguments[0] its argv[0] */
            il->argv[0] = cm_xstrdup(json_string_value(json_object_get(c, "value")));
        }
        json_decref(c);
    } else {
        rc = cm_command_argv(cmd, &il->argv, why, whylen);
    }
    size_t n = 0;
    while (envp && envp[n])
        n++;
    json_t *te = tenv && *tenv ? json_loads(tenv, 0, NULL) : NULL;
    il->envp = cm_xcalloc(n + json_object_size(te) + 2, sizeof *il->envp);
    size_t m = 0;
    /* The image's variables, unless the task sets them; then the executor's (which carry the
     * task's); the sandbox is where the task sees it. */
    const char *key;
    json_t *val;
    json_object_foreach(te, key, val)
    {
        if (json_is_string(val) && !task_sets(cmd, key))
            il->envp[m++] = cm_xasprintf("%s=%s", key, json_string_value(val));
    }
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(envp[i], '=');
        if (image_var(envp[i]) || !eq)
            continue;
        /* An image variable wins over the executor's own (host) value of the same name. */
        bool shadowed = false;
        for (size_t j = 0; j < m && !shadowed; j++)
            shadowed = strncmp(il->envp[j], envp[i], (size_t)(eq - envp[i]) + 1) == 0;
        if (!shadowed)
            il->envp[m++] = cm_xstrdup(envp[i]);
    }
    il->envp[m++] = cm_xasprintf("MESOS_SANDBOX=%s", sandbox);
    json_decref(te);
    if (rc)
        image_launch_cleanup(il);
    return rc;
}

/* In the child: makes rootfs the root. Returns 0 or an errno value. */
static int image_enter_rootfs(const char *rootfs)
{
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) == 0 && chdir(rootfs) == 0 &&
        syscall(SYS_pivot_root, ".", ".") == 0 && umount2(".", MNT_DETACH) == 0)
        return chdir("/") == 0 ? 0 : errno;
    if (chroot(rootfs) != 0)
        return errno;
    return chdir("/") == 0 ? 0 : errno;
}

/* In the child, inside the rootfs: makes the working directory when the image lacks it, as
 * Mesos does for an image's WorkingDir (mkdir -p; errors show at the chdir). */
static void image_mkdirs(const char *path)
{
    char p[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p)
        return;
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            mkdir(p, 0755);
            p[i] = c;
        }
}

/* How the child tells its parent why it could not exec: through errfd (a pipe) after fork,
 * straight into the parent's memory (*shared) after vfork, which shares it. */
struct child_report {
    int errfd;
    volatile int *shared;
};

static _Noreturn void child_fail(const struct child_report *rep, int err)
{
    if (rep->shared) {
        *rep->shared = err;
    } else {
        ssize_t w = write(rep->errfd, &err, sizeof err);
        (void)w;
    }
    _exit(127);
}

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void child_exec(char **argv, char *const *envp, const char *cwd,
                       const struct child_report *rep, bool shell, const char *rootfs)
{
    int err;
    if (rootfs) {
        /* execvpe searches the PATH of environ: the task's, inside the image. */
        environ = (char **)envp;
        if ((err = image_enter_rootfs(rootfs)) != 0)
            child_fail(rep, -err); /* negative: the rootfs, not the exec, failed */
        if (cwd)
            image_mkdirs(cwd);
    }
    setpgid(0, 0);
    /* The executor ignores SIGPIPE; the task must start with the default dispositions. */
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The executor's own sockets (the agent connection) must not leak into the task. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < 1024; fd++)
            if (fd != rep->errfd)
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
    child_fail(rep, err);
}

/* Starts the child (child_exec); returns its pid, or -1 with errno. Without an image: vfork,
 * so nothing of the executor is copied for the child, which only makes system calls on its
 * own stack until it execs; the parent resumes once it has (or has failed, leaving the errno
 * in *rep->shared: the memory is shared, as glibc's posix_spawn reports its child's errors).
 * The image path (environ, the rootfs mounts) keeps fork and reports through rep->errfd. A function
 * of its own so that no caller's variable lives across the vfork. */
static __attribute__((noinline)) pid_t spawn_child(char **argv, char *const *envp, const char *cwd,
                                                   const struct child_report *rep, bool shell,
                                                   const char *rootfs)
{
    pid_t pid = rootfs ? fork() : vfork();
    if (pid == 0)
        child_exec(argv, envp, cwd, rep, shell, rootfs);
    return pid;
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
    struct image_launch il;
    rc = image_launch_prepare(cmd, envp, &il, why, whylen);
    if (rc)
        return rc;
    if (il.rootfs) {
        argv = il.argv;
        il.argv = NULL;
        envp = il.envp;
        cwd = il.cwd;
    } else if ((rc = cm_command_argv(cmd, &argv, why, whylen)) != 0) {
        return rc;
    }
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
    if (il.rootfs && pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to create a pipe: %s", strerror(errno));
        goto fail;
    }
    volatile int exec_err = 0;
    struct child_report report = {.errfd = pipefd[1], .shared = il.rootfs ? NULL : &exec_err};
    pid_t pid = spawn_child(argv, envp, cwd, &report, shell, il.rootfs);
    if (pid < 0) {
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to fork: %s", strerror(errno));
        goto fail;
    }
    c->pid = pid;
    int child_err = 0;
    bool exec_failed;
    if (il.rootfs) {
        /* Also set here, so a kill right after start cannot miss the group. (After vfork the
         * child has set it before the parent resumes.) */
        setpgid(pid, pid);
        close(pipefd[1]);
        pipefd[1] = -1;
        ssize_t r;
        do {
            r = read(pipefd[0], &child_err, sizeof child_err);
        } while (r < 0 && errno == EINTR);
        close(pipefd[0]);
        pipefd[0] = -1;
        exec_failed = r == (ssize_t)sizeof child_err;
    } else {
        child_err = exec_err;
        exec_failed = child_err != 0;
    }
    if (exec_failed) {
        /* The exec failed; the child is exiting with 127. Reap it here, silently. */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (child_err < 0)
            rc = cm_fail(child_err, why, whylen,
                         "Failed to enter the container's root filesystem %s: %s", il.rootfs,
                         strerror(-child_err));
        else
            rc = cm_fail(-child_err, why, whylen, "Failed to execute '%s': %s",
                         cmd->value && *cmd->value ? cmd->value : argv[0], strerror(child_err));
        goto fail;
    }
    cm_command_strv_free(argv);
    image_launch_cleanup(&il);
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
    image_launch_cleanup(&il);
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
