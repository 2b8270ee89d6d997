/*
 * helper_child.c: see helper_child.h.
 */
#include "helper_child.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int cm_helper_child_prepare(int fd, pid_t parent)
{
    if (parent > 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            return -1; /* the parent died before the death signal was armed */
    }
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(fd, 3) < 0)
        return -1;
    syscall(SYS_close_range, 4U, ~0U, 0U);
    return 0;
}

int cm_helper_child_fork(void (*child_main)(void *arg), void *arg, int bufsize, pid_t *pid, int *fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    if (bufsize > 0) {
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
        setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        if (cm_helper_child_prepare(sv[1], parent) != 0)
            _exit(1);
        child_main(arg);
        _exit(0);
    }
    int err = child < 0 ? -errno : 0;
    close(sv[1]);
    if (err) {
        close(sv[0]);
        return err;
    }
    *pid = child;
    *fd = sv[0];
    return 0;
}
