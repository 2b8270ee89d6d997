/*
 * agent_nested.h: nested containers under an executor's container, for the agent v1 operator
 * API's LAUNCH_NESTED_CONTAINER, WAIT_NESTED_CONTAINER, KILL_NESTED_CONTAINER and
 * REMOVE_NESTED_CONTAINER (Mesos's message shapes: a ContainerID whose parent is the
 * executor's container). The default executor runs each task of a group this way.
 *
 * What a nested container is here: the CommandInfo (shell or argv, its environment, its user
 * under --switch_user) launched through the agent's containerizer as a container of its own,
 * with its sandbox at <executor sandbox>/containers/<child id> (stdout/stderr there) and
 * MESOS_SANDBOX pointing at it, so it shares the executor's sandbox tree. Deviation from Mesos,
 * stated: the containerizer has no nesting, so the child gets its own cgroups beside the
 * executor's (not beneath them), no resource limits of its own (LAUNCH_NESTED_CONTAINER carries
 * none), and its own namespaces rather than the executor's. Only one level of nesting (parent
 * = a live executor's container) is accepted. When the executor's container exits, its nested
 * containers are killed (SIGKILL), as Mesos destroys them with their parent.
 *
 * Authorization: a call made with an executor's token (caller_cid: the token's container
 * claim) may only name children of that container (403 otherwise); without a token
 * (caller_cid NULL) the operator endpoint's own authentication applies.
 *
 * Replies go through the operator API's reply callback, exactly once: LAUNCH 200 (empty),
 * 400 (invalid: no parent, an id that is not a valid ID, nesting deeper than one level,
 * unsupported ContainerInfo, a child id already in use), 403, 404 (unknown parent), 500 (the
 * launch failed); WAIT 200 with Response.wait_nested_container{exit_status} once it exited
 * (held until then, at most CM_AGENT_NESTED_MAX_WAITERS at once: else 503), 404 unknown; KILL
 * 200 (signal, default SIGKILL), 400 bad signal, 404 unknown or already exited; REMOVE 200 for
 * an exited container (its record is forgotten), 400 while it runs, 404 unknown.
 *
 * Ownership: the table lives in the agent (a->nested) and is freed by agent_nested_free
 * (held WAITs answered 503). Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_NESTED_H
#define CM_AGENT_AGENT_NESTED_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent_internal.h"
#include "agent_operator.h"
#include "mesos/v1/agent/agent.pb-c.h"

#define CM_AGENT_NESTED_MAX_WAITERS 1024
/* Nested containers (live and exited, not yet removed) held at once. */
#define CM_AGENT_NESTED_MAX 4096

void agent_nested_launch(struct cm_agent *a, const char *caller_cid,
                         const Mesos__V1__Agent__Call__LaunchNestedContainer *l,
                         cm_agent_op_reply_fn reply, void *arg);
void agent_nested_wait(struct cm_agent *a, const char *caller_cid, const Mesos__V1__ContainerID *id,
                       enum cm_media media, cm_agent_op_reply_fn reply, void *arg);
void agent_nested_kill(struct cm_agent *a, const char *caller_cid, const Mesos__V1__ContainerID *id,
                       bool has_signal, int signal, cm_agent_op_reply_fn reply, void *arg);
void agent_nested_remove(struct cm_agent *a, const char *caller_cid,
                         const Mesos__V1__ContainerID *id, cm_agent_op_reply_fn reply, void *arg);

/* SIGCHLD: true when pid was a nested container's (its waiters are answered). */
bool agent_nested_reaped(struct cm_agent *a, pid_t pid, int status);
/* The executor container parent_cid exited: its nested containers are killed. */
void agent_nested_parent_exited(struct cm_agent *a, const char *parent_cid);
/* Answers held WAITs with 503 and frees the table. */
void agent_nested_free(struct cm_agent *a);

#endif
