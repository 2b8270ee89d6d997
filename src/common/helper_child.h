/*
 * helper_child.h: the first steps of a helper process right after fork().
 *
 * Daemons fork helpers (offload jobs, the agent's launch helper, cgroup janitor and session
 * sweeper). Each must start the same way: every signal back to its default disposition and
 * none blocked (the parent's libevent handlers must not run in the child, and what a helper
 * clones or execs starts clean), and no descriptor of the parent's kept but the one it talks on
 * (a listening socket held by a helper would keep a restarted daemon from binding its port).
 * Its own file, without libevent, so statically linked helpers can use it.
 */
#ifndef CM_HELPER_CHILD_H
#define CM_HELPER_CHILD_H

#include <sys/types.h>

/* Resets the signals, keeps stdin, stdout, stderr and fd (moved to descriptor 3) and closes
 * every other. With parent > 0 the child is also killed (SIGKILL) when that parent dies, and
 * if the parent is already gone returns -1 at once. Returns 0, or -1 when the caller should
 * _exit. Async-signal-safe. */
int cm_helper_child_prepare(int fd, pid_t parent);

/* Forks a helper that talks to its parent on a SOCK_SEQPACKET socket pair. The child is
 * prepared as above (dies with the caller; its end of the pair is descriptor 3) and runs
 * child_main(arg), then exits 0 if that returns. bufsize > 0 sizes both directions' buffers
 * for records that large. Returns 0 with the child's pid and the caller's end of the pair
 * (close-on-exec, blocking: the caller owns it), or -errno (nothing was started). */
int cm_helper_child_fork(void (*child_main)(void *arg), void *arg, int bufsize, pid_t *pid,
                         int *fd);

#endif
