/*
 * helper_child.c: see helper_child.h.
 */
#include "helper_child.h"

#include <signal.h>
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
