/*
 * offload.h: runs one blocking job in a forked child and reports its result on the loop.
 *
 * Some work cannot be made non-blocking with events alone: removing a directory tree of
 * unknown size, sweeping /proc. The loop must not wait for it, and a thread would have to
 * share the daemon's state. cm_offload_start forks; the child runs fn (with a copy of the
 * parent's memory, so fn's argument is read there as it was at the fork), writes fn's int
 * result into a close-on-exec pipe and exits. The parent watches a pidfd of the child on its
 * event base; when the child has exited it reads the result, reaps the child (if the
 * daemon's own SIGCHLD reaper got there first, that is fine: the result came through the
 * pipe, not the exit status) and calls done on the loop.
 *
 * The cost on the loop is one fork (page tables of the parent; well under a millisecond for
 * a daemon of tens of MB) and one callback. The child resets every signal handler to the
 * default before running fn, so the parent's libevent signal handlers never run in it, and
 * closes every descriptor but stdin, stdout, stderr and its result pipe (fn must open what it
 * needs), so a slow job never holds the daemon's sockets.
 *
 * Results: fn returns 0 or a negative error; a child that dies without writing one reports
 * -EPIPE. Single-threaded: call on the loop's thread. The job is owned by the module until
 * done runs (then it is freed) or cm_offload_cancel (the child keeps running; its result is
 * dropped and the child is reaped by whoever reaps children).
 */
#ifndef CM_OFFLOAD_H
#define CM_OFFLOAD_H

struct event_base;
struct cm_offload;

/* Runs in the child. Returns 0 or a negative error, reported to done. */
typedef int (*cm_offload_fn)(void *arg);
/* Runs on the loop once the child has exited. The job is freed after it returns. */
typedef void (*cm_offload_done_fn)(void *arg, int result);

/* Forks a child running fn(fn_arg). Returns 0 and *out (borrowed: valid until done runs or
 * it is cancelled; out may be NULL), or -errno when the pipe, the fork or the pidfd failed
 * (nothing was started, done is not called). */
int cm_offload_start(struct event_base *base, cm_offload_fn fn, void *fn_arg,
                     cm_offload_done_fn done, void *done_arg, struct cm_offload **out);
/* Stops watching the job: done is never called. NULL is a no-op. */
void cm_offload_cancel(struct cm_offload *o);
/* The child's pid (e.g. for a caller that reaps children itself). */
int cm_offload_pid(const struct cm_offload *o);

#endif
