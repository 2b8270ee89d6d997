/*
 * sweeper.h: kills what is left of posix containers' sessions after their leaders were reaped,
 * off the agent's loop, many sessions per scan of /proc.
 *
 * Under the posix launcher (no cgroups, no pid namespace) the only handle on a container's
 * double-forked processes is its session (the leader's pid), and finding a session's members
 * takes a scan of every process (cm_launcher_kill_sessions). A fork of the agent plus a scan
 * per reaped container was most of a trivial task's CPU, so the containerizer hands the sids
 * here: they wait in a pending set, and one sweep takes every sid that is pending when it
 * starts; when it finishes and sids are pending, the next starts, but no sooner than 10 ms
 * after the previous one started. Under load the sids of many containers share one scan, and
 * the sweeps cost at most one scan per 10 ms however fast containers end (a leftover process
 * lives at most that much longer).
 *
 * Where a sweep runs: in a helper process forked by cm_sweeper_new (when the agent is still
 * small: its page tables are copied once, not per sweep). Requests (the batch of sids) and
 * answers (how many processes were signalled) go through a SOCK_SEQPACKET socket pair watched
 * by the loop. The helper keeps only that socket, resets every signal handler, and dies with
 * the agent (PR_SET_PDEATHSIG) or when the socket closes. If it cannot be started or dies, each
 * batch runs in a fork of the agent instead (offload.h), and when even that fork fails, in place
 * on the loop (one scan: the old blocking behaviour). A batch the helper took when it died is
 * swept again.
 *
 * Pid reuse: a sid is only ever a reaped leader's pid. cm_sweeper_forget drops a pending sid
 * that has been handed to a new process (the containerizer calls it with every new leader's
 * pid), and the scan itself skips a sid that is the pid of a live process (see
 * cm_launcher_kill_sessions), which also covers a sid reused while its batch is being swept.
 *
 * cm_sweeper_free sweeps what is still pending in place (bounded: one scan), closes the socket
 * and waits for the helper to finish the batch it has and exit; a forked batch still running is
 * left to finish on its own (its result is dropped). Single-threaded: call on the loop's thread.
 */
#ifndef CM_AGENT_SWEEPER_H
#define CM_AGENT_SWEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct cm_sweeper;

/* Builds a sweeper on base and forks its helper. Returns 0 and *out; or an error from the
 * helper's start (-errno), in which case *out still works, with a fork per batch (the caller
 * may log that). */
int cm_sweeper_new(struct event_base *base, struct cm_sweeper **out);
/* See above. NULL is a no-op. */
void cm_sweeper_free(struct cm_sweeper *s);
/* sid's leader was reaped: sweep its session (now, or with the next batch). sid <= 1 is
 * ignored. */
void cm_sweeper_add(struct cm_sweeper *s, pid_t sid);
/* A new process got this pid: if it is a pending sid, that session is empty and the number is
 * someone else's now, so it is dropped. */
void cm_sweeper_forget(struct cm_sweeper *s, pid_t pid);

struct cm_sweeper_stats {
    uint64_t sweeps;  /* batches finished */
    uint64_t sids;    /* sids in those batches */
    uint64_t killed;  /* processes they signalled */
    size_t pending;   /* sids waiting plus those in the batch being swept */
    pid_t helper_pid; /* 0 when batches are forked */
};
void cm_sweeper_stats(const struct cm_sweeper *s, struct cm_sweeper_stats *out);

#endif
