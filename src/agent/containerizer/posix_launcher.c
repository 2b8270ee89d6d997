/*
 * posix_launcher.c: fork + exec with the child in its own session (so its process group can
 * be signalled as a whole), cwd = sandbox, stdout/stderr redirected to sandbox files.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "containerizer.h"

static void child_fail(const char *what)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "Failed to %s: %s\n", what, strerror(errno));
    if (n > 0 && write(STDERR_FILENO, buf, (size_t)n) < 0) {
        /* Nothing else can be done from the child. */
    }
    _exit(127);
}

static int posix_fork(const struct cm_launch_spec *spec, pid_t *pid)
{
    int out = open(spec->stdout_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0)
        return -errno;
    int err = open(spec->stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (err < 0) {
        int e = -errno;
        close(out);
        return e;
    }
    pid_t child = fork();
    if (child < 0) {
        int e = -errno;
        close(out);
        close(err);
        return e;
    }
    if (child == 0) {
        /* Only async-signal-safe calls from here on. */
        if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0 && devnull != STDIN_FILENO) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        /* The agent's sockets and files must not leak into the executor. */
        syscall(SYS_close_range, 3U, ~0U, 0U);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (setsid() < 0)
            child_fail("setsid");
        if (chdir(spec->cwd) != 0)
            child_fail("chdir into the sandbox");
        execve(spec->argv[0], spec->argv, spec->envp);
        child_fail("execute the executor");
    }
    close(out);
    close(err);
    *pid = child;
    return 0;
}

/* Signals every process whose session is sid. The executor is a session leader (setsid
 * above) and the command executor puts its task in a process group of its own, so the session,
 * not the group, is what holds a container together under this launcher. The session outlives
 * its leader, so this also finds tasks orphaned by a crashed executor. This scans /proc: fine
 * for a destroy, which is rare, and the linux launcher will use cgroups instead. */
static int kill_session(pid_t sid, int sig)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        /* "pid (comm) state ppid pgrp session ..." — comm may hold spaces and parens. */
        char *rp = strrchr(buf, ')');
        char state;
        long ppid, pgrp, session;
        if (!rp || sscanf(rp + 1, " %c %ld %ld %ld", &state, &ppid, &pgrp, &session) != 4)
            continue;
        if (session == (long)sid && kill((pid_t)pid, sig) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int posix_kill(pid_t pid, int sig, int leader_alive)
{
    if (pid <= 0)
        return -ESRCH;
    /* The leader called setsid(), so its pid is the group and session id; fall back to the pid
     * alone in the window before setsid ran. */
    int rc = kill(-pid, sig) == 0 ? 0 : -errno;
    int n = kill_session(pid, sig);
    if (rc == 0 || n > 0)
        return 0;
    if (leader_alive && kill(pid, sig) == 0)
        return 0;
    return rc;
}

const struct cm_launcher_ops cm_launcher_posix = {
    .name = "posix",
    .fork = posix_fork,
    .kill = posix_kill,
};
