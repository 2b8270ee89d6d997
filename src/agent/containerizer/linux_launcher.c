/*
 * linux_launcher.c: the spawn both launchers share, and the "linux" launcher (clone into new
 * namespaces; under a new pid namespace the child stays as the namespace's init).
 *
 * Sequence: the parent blocks every signal, clones, and restores its mask. The child resets
 * every signal disposition (the agent's libevent handlers must not run in it), joins its
 * cgroups (created and limited by the containerizer before the clone), sets up its
 * namespaces' mounts, stdio, session and cwd, and execs. A pipe, close-on-exec, carries a
 * {stage, error} record when a step fails; its EOF means the exec happened. The parent either
 * waits for it (ctx->status_fd NULL: launch errors are reported by the call, with the step
 * that failed) or hands the pipe back to the caller, who watches it on its loop and reads it
 * with cm_launcher_read_status, so a batch of launches never waits for any child to be
 * scheduled. Either way the executor's first instruction already runs inside its cgroups. No
 * handshake: the parent only waits for the EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerizer.h"
#include "errors.h"
#include "rootfs.h"
#include "user.h"

#ifndef CLONE_INTO_CGROUP
#define CM_CLONE_INTO_CGROUP 0x200000000ULL
#else
#define CM_CLONE_INTO_CGROUP ((uint64_t)CLONE_INTO_CGROUP)
#endif

/* The kernel's struct clone_args up to its cgroup field (CLONE_ARGS_SIZE_VER2, 88 bytes). */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

enum stage {
    STAGE_CGROUPS = 1,
    STAGE_MOUNT_PRIVATE,
    STAGE_MOUNT_PROC,
    STAGE_STDIO,
    STAGE_SETSID,
    STAGE_CHDIR,
    STAGE_EXEC,
    STAGE_VFORK,
    STAGE_OPEN,
    STAGE_SANDBOX,
    STAGE_USER,
    STAGE_ROOTFS,
    STAGE_JOINED, /* not a failure: the cgroups are joined, the exec's report follows */
};

static const char *stage_text(int stage)
{
    switch (stage) {
    case STAGE_CGROUPS: return "set up the container's cgroups";
    case STAGE_MOUNT_PRIVATE: return "make the mount namespace private";
    case STAGE_MOUNT_PROC: return "mount /proc in the pid namespace";
    case STAGE_STDIO: return "redirect stdio";
    case STAGE_SETSID: return "start a new session";
    case STAGE_CHDIR: return "chdir into the sandbox";
    case STAGE_EXEC: return "execute";
    case STAGE_VFORK: return "start the executor under the namespace's init";
    default: return "start the container";
    }
}

/* Small enough to be written atomically into a pipe (PIPE_BUF). */
struct report {
    int stage;
    int err;
    char text[256]; /* the cgroup step's why ("" elsewhere) */
};

static _Noreturn void child_fail_text(int fd, int stage, int err, const char *text)
{
    struct report r = {stage, err, ""};
    if (text) {
        size_t i = 0;
        for (; text[i] && i < sizeof r.text - 1; i++)
            r.text[i] = text[i];
        r.text[i] = '\0';
    }
    ssize_t w = write(fd, &r, sizeof r);
    (void)w;
    _exit(127);
}

static _Noreturn void child_fail(int fd, int stage, int err)
{
    child_fail_text(fd, stage, err, NULL);
}

/* The exec failed: say so in the sandbox's stderr too (fd 2 is already there), so whoever
 * reads the sandbox sees why the executor never started, then report and exit 127. */
static _Noreturn void exec_failed(int status, const char *path, int err)
{
    const char *parts[] = {"Failed to execute '", path, "': ", strerror(err), "\n"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        ssize_t w = write(STDERR_FILENO, parts[i], strlen(parts[i]));
        (void)w;
    }
    child_fail(status, STAGE_EXEC, err);
}

struct init_arg {
    const struct cm_launch_spec *spec;
    int status;
};

/* The executor's side of the init's clone: shares the init's memory (CLONE_VM) but has its
 * own descriptor table, so its copy of the status pipe closes on exec. */
__attribute__((no_sanitize_address)) static int init_child(void *arg)
{
    const struct init_arg *ia = arg;
    execve(ia->spec->argv[0], ia->spec->argv, ia->spec->envp);
    exec_failed(ia->status, ia->spec->argv[0], errno);
}

#define INIT_CHILD_STACK (64 * 1024)

/* pid 1 of a new pid namespace: starts the executor, then reaps every process until the
 * executor exits. Exiting then makes the kernel kill whatever else is left in the namespace.
 * The executor is cloned with CLONE_VM on a small stack of its own (nothing is copied) and
 * without CLONE_VFORK: the init closes its copy of the status pipe at once, so the agent sees
 * the EOF as soon as the executor's exec succeeds, without waiting for the init to be
 * scheduled again. The kernel drops signals to a namespace init that has no handler for them
 * (except SIGKILL/SIGSTOP from the agent), so the init needs no signal handling of its own. */
/* The init's exit code, also written to the exit status file when there is one. */
static _Noreturn void init_exit(int code, int exit_fd)
{
    if (exit_fd >= 0) {
        char buf[16];
        size_t n = sizeof buf;
        buf[--n] = '\n';
        unsigned v = (unsigned)code;
        do {
            buf[--n] = (char)('0' + v % 10);
            v /= 10;
        } while (v && n > 0);
        ssize_t w = write(exit_fd, buf + n, sizeof buf - n);
        (void)w;
    }
    _exit(code);
}

static _Noreturn void run_init(const struct cm_launch_spec *spec, int status, int exit_fd)
{
    void *stack = mmap(NULL, INIT_CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        child_fail(status, STAGE_VFORK, errno);
    struct init_arg ia = {spec, status};
    pid_t child = clone(init_child, (char *)stack + INIT_CHILD_STACK, CLONE_VM | SIGCHLD, &ia);
    if (child < 0)
        child_fail(status, STAGE_VFORK, errno);
    close(status);
    for (;;) {
        int st;
        pid_t p = wait(&st);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            _exit(127);
        }
        if (p != child)
            continue;
        if (WIFEXITED(st))
            init_exit(WEXITSTATUS(st), exit_fd);
        init_exit(128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0), exit_fd);
    }
}

/* Closes every descriptor from 3 up except keep1 and keep2. */
static void close_all_but(int keep1, int keep2)
{
    int lo = keep1 < keep2 ? keep1 : keep2, hi = keep1 < keep2 ? keep2 : keep1;
    if (lo > 3)
        syscall(SYS_close_range, 3U, (unsigned)lo - 1, 0U);
    if (hi > lo + 1)
        syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0U);
    syscall(SYS_close_range, (unsigned)hi + 1, ~0U, 0U);
}

/* Stops the container's mounts from propagating to the host. Normally "/" is made private
 * recursively; where "/" is not a mount point (an agent running inside a chroot) mount(2)
 * answers EINVAL, and then /proc, the only place the launcher mounts on, is made private
 * instead. Returns 0 or an errno value. Async-signal-safe: runs in a freshly cloned child. */
static int make_mounts_private(void)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
        return 0;
    if (errno != EINVAL)
        return errno;
    if (mount(NULL, "/proc", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
        return 0;
    return errno;
}

static int mount_fresh_proc(void)
{
    return mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* mkdir -p of path, deepest level first, in a stack copy (no allocation: async-signal-safe).
 * Returns 0 or an errno value. */
static int child_mkdirs(const char *path)
{
    char p[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p)
        return ENAMETOOLONG;
    memcpy(p, path, n + 1);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    /* Walk up to the deepest level that exists, then create downwards. */
    size_t depth = n;
    for (;;) {
        if (mkdir(p, 0755) == 0 || errno == EEXIST)
            break;
        if (errno != ENOENT)
            return errno;
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            return ENOENT;
        *slash = '\0';
        depth = (size_t)(slash - p);
    }
    while (depth < n) {
        p[depth] = '/';
        depth += strlen(p + depth);
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return errno;
    }
    return 0;
}

/* path's name relative to dir when path is directly in dir (one component, not "." or ".."),
 * else path itself. */
static const char *in_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (strncmp(path, dir, n) != 0 || path[n] != '/')
        return path;
    const char *name = path + n + 1;
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return path;
    return name;
}

/* Runs in the freshly cloned child: only async-signal-safe calls from here on. */
static _Noreturn void child_main(const struct cm_launch_spec *spec, const struct cm_launch_ctx *ctx,
                                 int status)
{
    if (!ctx->signals_default)
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP)
                signal(s, SIG_DFL);
    /* An agent that died since the clone (kill -9, or stopped) closed the status pipe's read
     * end; a report written then must not kill the container with SIGPIPE, since a restarted
     * agent recovers it from its checkpoint. The write gets EPIPE instead. Every signal is
     * blocked until the unblock below, so the SIGPIPE stays pending until then and is
     * discarded there as ignored; only after it is the default back for the executor. */
    signal(SIGPIPE, SIG_IGN);
    if (ctx->join) {
        char jwhy[256] = "";
        int rc = ctx->join(ctx->join_arg, jwhy, sizeof jwhy);
        if (rc)
            child_fail_text(status, STAGE_CGROUPS, rc < 0 ? -rc : rc, jwhy);
        /* The agent may clone the next container now: this one's cgroup.procs writes (the
         * kernel's threadgroup lock, which clone() waits for) are over. */
        struct report joined = {STAGE_JOINED, 0, ""};
        ssize_t w = write(status, &joined, sizeof joined);
        (void)w;
    }
    unsigned long flags = ctx->clone_flags;
    int rc = (flags & CLONE_NEWNS) ? make_mounts_private() : 0;
    if (rc)
        child_fail(status, STAGE_MOUNT_PRIVATE, rc);
    if ((flags & CLONE_NEWPID) && mount_fresh_proc() != 0)
        child_fail(status, STAGE_MOUNT_PROC, errno);
    if (spec->create_cwd) {
        int mk = child_mkdirs(spec->cwd);
        if (mk)
            child_fail_text(status, STAGE_SANDBOX, mk, spec->cwd);
    }
    /* Into the sandbox now (without an image, whose mounts come first): the files below are
     * then named relative to it, one short lookup each instead of a walk down the sandbox's
     * dozen path components. Where this fails, the full paths are used and the chdir below
     * reports it. */
    int in_cwd = !spec->rootfs && chdir(spec->cwd) == 0;
    const char *stdout_path = in_cwd ? in_dir(spec->stdout_path, spec->cwd) : spec->stdout_path;
    const char *stderr_path = in_cwd ? in_dir(spec->stderr_path, spec->cwd) : spec->stderr_path;
    if (spec->create_cwd && spec->link && spec->link_tmp && spec->link_target) {
        const char *link = spec->link, *link_tmp = spec->link_tmp;
        /* A new executor directory has no link yet (every command task's): make it in place.
         * Else replace the old one atomically through the temporary name. */
        if (symlink(spec->link_target, link) != 0) {
            if (errno != EEXIST)
                child_fail_text(status, STAGE_SANDBOX, errno, spec->link);
            unlink(link_tmp);
            if (symlink(spec->link_target, link_tmp) != 0 || rename(link_tmp, link) != 0)
                child_fail_text(status, STAGE_SANDBOX, errno, spec->link);
        }
    }
    if (spec->rootfs) {
        char rwhy[256] = "";
        int rr = (flags & CLONE_NEWNS) ? cm_rootfs_mount(spec->rootfs, rwhy, sizeof rwhy) : EPERM;
        if (rr)
            child_fail_text(status, STAGE_ROOTFS, rr,
                            (flags & CLONE_NEWNS) ? rwhy
                                                  : "container images need the filesystem/linux "
                                                    "isolator (a mount namespace)");
    }
    /* Opened here, not in the agent: creating a file costs the file system's inode
     * allocation, which on a busy work dir is the largest part of a launch. */
    /* O_NOFOLLOW: fetched archives land in the sandbox first, and a "stdout" symlink among
     * them must not make this (root) child append to, and chown, a file outside. */
    int out = open(stdout_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (out < 0)
        child_fail_text(status, STAGE_OPEN, errno, spec->stdout_path);
    int err = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (err < 0)
        child_fail_text(status, STAGE_OPEN, errno, spec->stderr_path);
    if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
        child_fail(status, STAGE_STDIO, errno);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0)
        child_fail(status, STAGE_STDIO, errno);
    /* The agent's sockets and files must not leak into the executor. */
    /* Nested containers: the init records its exit code for an agent restarted meanwhile
     * (opened before any user switch; the executor does not inherit it). */
    int exit_fd = -1;
    if (spec->exit_status_path && (flags & CLONE_NEWPID)) {
        exit_fd = open(spec->exit_status_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (exit_fd < 0)
            child_fail_text(status, STAGE_OPEN, errno, spec->exit_status_path);
    }
    close_all_but(status, exit_fd >= 0 ? exit_fd : status);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (setsid() < 0)
        child_fail(status, STAGE_SETSID, errno);
    if (!in_cwd && chdir(spec->cwd) != 0)
        child_fail(status, STAGE_CHDIR, errno);
    if (spec->user) {
        /* --switch_user: the sandbox and its stdio files become the user's, then this child
         * becomes the user (groups, gid, uid) for good, before anything of the executor runs. */
        if (chown(".", spec->user->uid, spec->user->gid) != 0 ||
            fchown(STDOUT_FILENO, spec->user->uid, spec->user->gid) != 0 ||
            fchown(STDERR_FILENO, spec->user->uid, spec->user->gid) != 0)
            child_fail_text(status, STAGE_USER, errno, spec->user->name);
        int ue = cm_user_drop(spec->user);
        if (ue)
            child_fail_text(status, STAGE_USER, ue, spec->user->name);
    }
    if (flags & CLONE_NEWPID)
        run_init(spec, status, exit_fd);
    execve(spec->argv[0], spec->argv, spec->envp);
    exec_failed(status, spec->argv[0], errno);
}

int cm_launcher_read_status(int fd, const char *argv0, char *why, size_t whylen)
{
    struct report r;
    ssize_t n;
    do {
        n = read(fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? -EAGAIN
                               : cm_fail(-errno, why, whylen,
                                         "Failed to read the launch status: %s", strerror(errno));
    if (n == 0)
        return 0; /* EOF: the close-on-exec pipe closed in a successful execve */
    if (n != (ssize_t)sizeof r)
        return cm_fail(-EPROTO, why, whylen, "Short launch status report");
    r.text[sizeof r.text - 1] = '\0';
    if (r.stage == STAGE_JOINED)
        return CM_LAUNCH_JOINED;
    if (r.stage == STAGE_CGROUPS)
        return cm_fail(-r.err, why, whylen, "Failed to %s: %s", stage_text(r.stage),
                       *r.text ? r.text : cm_strerror(-r.err));
    if (r.stage == STAGE_EXEC)
        return cm_fail(-r.err, why, whylen, "Failed to execute '%s': %s", argv0, strerror(r.err));
    if (r.stage == STAGE_SANDBOX)
        return cm_fail(-r.err, why, whylen, "Failed to create the sandbox %s: %s", r.text,
                       strerror(r.err));
    if (r.stage == STAGE_OPEN)
        return cm_fail(-r.err, why, whylen, "Failed to open %s: %s", r.text, strerror(r.err));
    if (r.stage == STAGE_ROOTFS)
        return cm_fail(-r.err, why, whylen,
                       "Failed to provision the container's root filesystem: %s", r.text);
    if (r.stage == STAGE_USER)
        return cm_fail(-r.err, why, whylen, "Failed to switch to user '%s': %s", r.text,
                       strerror(r.err));
    return cm_fail(-r.err, why, whylen, "Failed to %s: %s", stage_text(r.stage), strerror(r.err));
}

int cm_launcher_spawn(const struct cm_launch_spec *spec, const struct cm_launch_ctx *ctx,
                      pid_t *pid, char *why, size_t whylen)
{
    int st[2] = {-1, -1}, rc = 0;
    *pid = -1;
    if (pipe2(st, O_CLOEXEC) != 0) {
        rc = cm_fail(-errno, why, whylen, "Failed to create a pipe: %s", strerror(errno));
        goto done;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    /* A raw clone with no new stack behaves like fork (the child continues on a copy of
     * this stack) while taking the namespace flags fork cannot. */
    long child;
    if (ctx->into_cgroup) {
        /* clone3 answers EINVAL to an exit signal with CLONE_PARENT: the child then gets
         * the caller's own, as clone gives it. */
        struct clone3_args a = {
            .flags = (uint64_t)ctx->clone_flags | CM_CLONE_INTO_CGROUP,
            .exit_signal = (ctx->clone_flags & CLONE_PARENT) ? 0 : SIGCHLD,
            .cgroup = (uint64_t)ctx->cgroup_fd,
        };
        child = syscall(SYS_clone3, &a, sizeof a);
    } else {
        child =
            syscall(SYS_clone, (unsigned long)SIGCHLD | ctx->clone_flags, NULL, NULL, NULL, NULL);
    }
    if (child == 0) {
        close(st[0]);
        child_main(spec, ctx, st[1]);
    }
    int clone_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (child < 0) {
        rc = cm_fail(-clone_errno, why, whylen, "Failed to clone the executor: %s",
                     strerror(clone_errno));
        goto done;
    }
    close(st[1]);
    st[1] = -1;
    if (ctx->status_fd) {
        /* Asynchronous: the caller watches the pipe on its loop (cm_launcher_read_status). */
        if (fcntl(st[0], F_SETFL, O_NONBLOCK) != 0) {
            rc = cm_fail(-errno, why, whylen, "Failed to make the status pipe non-blocking: %s",
                         strerror(errno));
            kill((pid_t)child, SIGKILL);
            goto done;
        }
        *ctx->status_fd = st[0];
        st[0] = -1;
        *pid = (pid_t)child;
        goto done;
    }
    int fl = fcntl(st[0], F_GETFL);
    if (fl >= 0)
        fcntl(st[0], F_SETFL, fl & ~O_NONBLOCK);
    do
        rc = cm_launcher_read_status(st[0], spec->argv[0], why, whylen);
    while (rc == CM_LAUNCH_JOINED);
    if (rc) {
        kill((pid_t)child, SIGKILL);
        goto done;
    }
    *pid = (pid_t)child;

done:
    for (int i = 0; i < 2; i++)
        if (st[i] >= 0)
            close(st[i]);
    return rc;
}

static int linux_fork(const struct cm_launch_spec *spec, const struct cm_launch_ctx *ctx,
                      pid_t *pid, char *why, size_t whylen)
{
    return cm_launcher_spawn(spec, ctx, pid, why, whylen);
}

static int linux_kill(pid_t pid, int sig, int leader_alive)
{
    /* With a pid namespace, SIGKILL to the init tears the namespace down; the posix kill
     * reaches the session either way (the init is the session leader). */
    return cm_launcher_posix.kill(pid, sig, leader_alive);
}

const struct cm_launcher_ops cm_launcher_linux = {
    .name = "linux",
    .fork = linux_fork,
    .kill = linux_kill,
};

bool cm_launcher_linux_usable(void)
{
    if (geteuid() != 0)
        return false;
    long child = syscall(SYS_clone, (unsigned long)SIGCHLD | CLONE_NEWPID | CLONE_NEWNS, NULL, NULL,
                         NULL, NULL);
    /* The probe does what a launch does (private mounts, a fresh /proc), so that a machine where
     * that fails (e.g. a chroot without /proc mounted) falls back to the posix launcher at start
     * instead of failing every task. */
    if (child == 0)
        _exit(make_mounts_private() == 0 && mount_fresh_proc() == 0 ? 0 : 1);
    if (child < 0)
        return false;
    int st;
    while (waitpid((pid_t)child, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool cm_launcher_clone_into_cgroup_usable(void)
{
    /* A descriptor number that is never open (the kernel refuses numbers above INT_MAX with
     * EINVAL): a kernel that knows the flag fails the fork at the descriptor (EBADF) before
     * any process exists; an older one rejects the flag or the size (EINVAL, E2BIG), or has no
     * clone3 (ENOSYS). */
    struct clone3_args a = {
        .flags = CM_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = INT_MAX};
    long r = syscall(SYS_clone3, &a, sizeof a);
    if (r == 0)
        _exit(127); /* cannot happen: the descriptor is invalid */
    if (r > 0) {
        while (waitpid((pid_t)r, NULL, 0) < 0 && errno == EINTR)
            ;
        return false;
    }
    return errno == EBADF;
}
