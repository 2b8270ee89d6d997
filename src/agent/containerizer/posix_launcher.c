/*
 * posix_launcher.c: fork + exec with the child in its own session (so its process group can
 * be signalled as a whole), cwd = sandbox, stdout/stderr redirected to sandbox files. The
 * spawn itself is cm_launcher_spawn (linux_launcher.c) without namespace flags.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "containerizer.h"

/* Fork (no namespaces), join the cgroups while the child waits, then exec: the shared spawn. */
static int posix_fork(const struct cm_launch_spec *spec, const struct cm_launch_ctx *ctx,
                      pid_t *pid, char *why, size_t whylen)
{
    struct cm_launch_ctx plain = *ctx;
    plain.clone_flags = 0;
    return cm_launcher_spawn(spec, &plain, pid, why, whylen);
}

/* Signals every process whose session is sid. The executor is a session leader (setsid in
 * the spawn) and the command executor puts its task in a process group of its own, so the
 * session, not the group, is what holds a container together under this launcher, and the
 * session outlives its leader, so this also finds tasks orphaned by a crashed executor. It
 * scans /proc, so it is never run per kill nor on the loop: the containerizer runs it once per
 * container, after the leader was reaped, in a forked child (offload.h). */
int cm_launcher_kill_session(pid_t sid, int sig)
{
    if (sid <= 1)
        return 0;
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

/* A kill is one or two system calls: the leader's process group (its pid: it called setsid),
 * and the leader itself in the window before its setsid ran. No /proc scan. */
static int posix_kill(pid_t pid, int sig, int leader_alive)
{
    if (pid <= 0)
        return -ESRCH;
    if (kill(-pid, sig) == 0)
        return 0;
    int rc = -errno;
    if (leader_alive && kill(pid, sig) == 0)
        return 0;
    return rc;
}

const struct cm_launcher_ops cm_launcher_posix = {
    .name = "posix",
    .fork = posix_fork,
    .kill = posix_kill,
};
