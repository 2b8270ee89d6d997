/*
 * exec_internal.h: what libcmexecutor offers its own programs and tests beyond the public
 * header (include/cmesos/executor.h). Not installed, not exported from the shared library;
 * reachable when linking the internal archive cm_exec_core or the static library.
 *
 * Threading and ownership as in the public header: loop thread only; the hooks borrow their
 * arguments for the executor's life.
 */
#ifndef CM_EXEC_INTERNAL_H
#define CM_EXEC_INTERNAL_H

#include <stdint.h>

#include "cmesos/executor.h"

struct cm_clock;

/* A deep copy of src into dst (exec_env.c); 0, or -ENOMEM with nothing held. The name is
 * outside the cm_exec_ prefix so the shared library's version script keeps it local. */
int exec_env_copy(struct cm_exec_env *dst, const struct cm_exec_env *src);

/* Sends a call instead of the HTTP POST (unit tests without sockets). Returns 0 when the call
 * counts as delivered, or a negative error (an UPDATE is then retried after 1 s). The call is
 * borrowed during the hook only. */
typedef int (*cm_exec_send_hook)(void *arg, const Mesos__V1__Executor__Call *call);
void cm_exec_set_send_hook(struct cm_exec *ex, cm_exec_send_hook hook, void *arg);

/* The clock that stamps updates and measures the recovery timeout (default: the real one). */
void cm_exec_set_clock(struct cm_exec *ex, const struct cm_clock *clock);

/* Acts on one event as if it came from the agent's stream (tests; the stream decoder). */
void cm_exec_handle_event(struct cm_exec *ex, const Mesos__V1__Executor__Event *event);

/* Packs the SUBSCRIBE call for the current state (unacknowledged updates and tasks).
 * Returns 0 and a malloc'd buffer, or -ENOMEM. */
int cm_exec_pack_subscribe(struct cm_exec *ex, uint8_t **buf, size_t *len);

/* Delay between a failed UPDATE POST and its retry, in seconds (default 1; tests shorten). */
void cm_exec_set_resend_delay(struct cm_exec *ex, double secs);

#endif
