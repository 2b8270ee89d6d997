/*
 * offload.c: fork, run, report through a pipe, observe the exit through a pidfd.
 */
#include "offload.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "helper_child.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct cm_offload {
    pid_t pid;
    int pidfd;
    int result_fd; /* read end of the result pipe */
    struct event *ev;
    cm_offload_done_fn done;
    void *done_arg;
};

static void job_free(struct cm_offload *o)
{
    if (o->ev)
        event_free(o->ev);
    close(o->pidfd);
    close(o->result_fd);
    free(o);
}

static void exited_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_offload *o = arg;
    int result = -EPIPE;
    ssize_t n;
    do {
        n = read(o->result_fd, &result, sizeof result);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof result)
        result = -EPIPE;
    /* Reap it here unless the daemon's own reaper (waitpid(-1)) already did. */
    siginfo_t si;
    while (waitid((idtype_t)P_PIDFD, (id_t)o->pidfd, &si, WEXITED | WNOHANG) < 0 && errno == EINTR)
        ;
    o->done(o->done_arg, result);
    job_free(o);
}

int cm_offload_start(struct event_base *base, cm_offload_fn fn, void *fn_arg,
                     cm_offload_done_fn done, void *done_arg, struct cm_offload **out)
{
    if (out)
        *out = NULL;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(p[0]);
        close(p[1]);
        return err;
    }
    if (pid == 0) {
        if (cm_helper_child_prepare(p[1], 0) != 0)
            _exit(1);
        int result = fn(fn_arg);
        ssize_t w = write(3, &result, sizeof result);
        (void)w;
        _exit(0);
    }
    close(p[1]);
    /* The pid cannot have been reused: it is our child and nobody reaped it yet (the loop has
     * not run since the fork). */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        int err = -errno;
        kill(pid, SIGKILL);
        close(p[0]);
        return err;
    }
    struct cm_offload *o = calloc(1, sizeof *o);
    if (!o)
        abort();
    o->pid = pid;
    o->pidfd = pidfd;
    o->result_fd = p[0];
    o->done = done;
    o->done_arg = done_arg;
    o->ev = event_new(base, pidfd, EV_READ, exited_cb, o);
    if (!o->ev || event_add(o->ev, NULL) != 0) {
        kill(pid, SIGKILL);
        job_free(o);
        return -ENOMEM;
    }
    if (out)
        *out = o;
    return 0;
}

void cm_offload_cancel(struct cm_offload *o)
{
    if (o)
        job_free(o);
}

int cm_offload_pid(const struct cm_offload *o)
{
    return (int)o->pid;
}
