/*
 * posix_launcher.c: fork + exec with the child in its own session (so its process group can
 * be signalled as a whole), cwd = sandbox, stdout/stderr redirected to sandbox files. The
 * spawn itself is cm_launcher_spawn (linux_launcher.c) without namespace flags. What a
 * container's session leaves behind after its leader is reaped is killed by the session
 * sweep below.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
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

/* ---- the session sweep ----
 *
 * The executor is a session leader (setsid in the spawn) and the command executor puts its
 * task in a process group of its own, so the session, not the group, is what holds a container
 * together under this launcher, and the session outlives its leader, so the sweep also finds
 * tasks orphaned by a crashed executor. The kernel lists no session's members, so the sweep
 * reads the pid list of /proc (getdents only) and asks getsid(2) of each pid: one system call
 * per process instead of an open, read and close of /proc/<pid>/stat (whose text the kernel
 * builds from a dozen counters). It is still a scan of every process, so it never runs per
 * kill nor on the loop: the containerizer hands the sids of reaped leaders to a sweeper
 * (sweeper.h) that sweeps every sid pending since its last sweep in one scan.
 *
 * Why not the agent as a child subreaper and a walk of /proc/<pid>/task/<tid>/children: the
 * kernel documents that file as unreliable while the processes fork and exit (it may skip
 * children), it exists only with CONFIG_CHECKPOINT_RESTORE, and orphans would become the
 * agent's children, changing its reaper. A scan of the pid list misses nothing that exists
 * when it starts; a second pass (only when the first signalled something) catches children
 * forked by members while the first one ran.
 *
 * Pid reuse. A sid is a pid, and the kernel keeps a pid number allocated while any process
 * still has it as its session or group id, so a session's number can only be handed to a new
 * process once the session is empty, and then it stays empty for good (a session gains members
 * only by fork from a member). The sids given here are those of reaped leaders, so a live
 * process with pid == sid proves that the old session is empty and that sid now belongs to
 * someone else (e.g. the leader of a container started since): the sid is skipped, checked
 * when the sweep starts and again right before each signal. A signal goes through a pidfd
 * opened before the session is read again, so a pid that is reused between the read and the
 * signal is never hit (the pidfd's process is gone: ESRCH). */

#define MAX_PASSES 4

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Whether a process (or thread) with this id exists: then a sid equal to it was reused. */
static bool pid_in_use(pid_t pid)
{
    return getsid(pid) >= 0 || errno != ESRCH;
}

struct killed {
    pid_t *v;
    size_t n, cap;
};

static bool killed_has(const struct killed *k, pid_t pid)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->v[i] == pid)
            return true;
    return false;
}

static void killed_add(struct killed *k, pid_t pid)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        pid_t *v = realloc(k->v, cap * sizeof *v);
        if (!v)
            return; /* only costs a repeated signal in the next pass */
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n++] = pid;
}

/* Signals pid, which getsid found in session sid, unless it left it or sid was reused. */
static bool signal_member(pid_t pid, pid_t sid, int sig)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && errno == ESRCH)
        return false; /* gone; other failures (no pidfds, no descriptors) fall back to kill */
    bool ok = getsid(pid) == sid && !pid_in_use(sid);
    if (ok)
        ok = fd >= 0 ? syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0 : kill(pid, sig) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int cm_launcher_kill_sessions(const pid_t *sids, size_t n, int sig)
{
    pid_t *want = malloc((n ? n : 1) * sizeof *want);
    if (!want)
        return -ENOMEM;
    size_t nw = 0;
    for (size_t i = 0; i < n; i++)
        if (sids[i] > 1 && !pid_in_use(sids[i]))
            want[nw++] = sids[i];
    qsort(want, nw, sizeof *want, cmp_pid);
    struct killed k = {0};
    int total = 0;
    for (int pass = 0; nw > 0 && pass < MAX_PASSES; pass++) {
        DIR *d = opendir("/proc");
        if (!d)
            break;
        int fresh = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] < '1' || de->d_name[0] > '9')
                continue;
            char *end;
            long v = strtol(de->d_name, &end, 10);
            if (*end || v <= 1)
                continue;
            pid_t pid = (pid_t)v;
            pid_t sid = getsid(pid);
            if (sid <= 1 || !bsearch(&sid, want, nw, sizeof *want, cmp_pid))
                continue;
            if (pass > 0 && killed_has(&k, pid))
                continue; /* signalled already, not gone yet */
            if (signal_member(pid, sid, sig)) {
                killed_add(&k, pid);
                fresh++;
            }
        }
        closedir(d);
        total += fresh;
        if (!fresh)
            break; /* nothing was in the sessions, so nothing could have forked meanwhile */
    }
    free(k.v);
    free(want);
    return total;
}

int cm_launcher_kill_session(pid_t sid, int sig)
{
    return cm_launcher_kill_sessions(&sid, 1, sig);
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
