/*
 * agent_nested.h: nested containers under an executor's container, for the agent v1 operator
 * API's LAUNCH_NESTED_CONTAINER, WAIT_NESTED_CONTAINER, KILL_NESTED_CONTAINER and
 * REMOVE_NESTED_CONTAINER (Mesos's message shapes: a ContainerID whose parent is the
 * executor's container). The default executor runs each task of a group this way.
 *
 * What a nested container is here: the CommandInfo (shell or argv, its environment, its user
 * under --switch_user) launched through the agent's containerizer as container
 * "<parent>/mesos/<child>": its cgroups are in the executor's subtree (v1
 * <root>/<parent>/mesos/<child>, cgroups.h), limited by the resources LAUNCH_CONTAINER carries
 * (LAUNCH_NESTED_CONTAINER carries none: the executor's limits bound it); it enters the
 * executor's network, UTS and IPC namespaces and a copy of its mount namespace, and has a pid
 * namespace of its own under namespaces/pid (Mesos's defaults for the default executor's
 * tasks). Its sandbox is <executor sandbox>/containers/<child id> (stdout/stderr there) with
 * MESOS_SANDBOX pointing at it. A memory-limit kill is reported in the WAIT answer (state
 * TASK_FAILED, reason REASON_CONTAINER_LIMITATION_MEMORY, message). Only one level of nesting
 * (parent = a live executor's container) is accepted. When the executor's container exits its
 * nested containers are killed (SIGKILL), and the parent's cgroup teardown takes their cgroups.
 * For a checkpointing framework each nested container is checkpointed and recovered with its
 * executor (agent_nested_recover).
 *
 * Authorization: a call made with an executor's token (caller_cid: the token's container
 * claim) may only name children of that container (403 otherwise); without a token
 * (caller_cid NULL) the operator endpoint's own authentication applies.
 *
 * Replies go through the operator API's reply callback, exactly once: LAUNCH 200 (empty),
 * 400 (invalid: no parent, an id that is not a valid ID, nesting deeper than one level,
 * unsupported ContainerInfo (container_info.h; a linux_info holding only share_cgroups: false
 * is accepted, share_cgroups: true is refused), a child id already in use), 403, 404 (unknown
 * parent), 500 (the launch failed); WAIT 200 with Response.wait_nested_container{exit_status} once
 * it exited (held until then, at most CM_AGENT_NESTED_MAX_WAITERS at once: else 503), 404 unknown;
 * KILL 200 (signal, default SIGKILL), 400 bad signal, 404 unknown or already exited; REMOVE 200 for
 * an exited container (its record is forgotten), 400 while it runs, 404 unknown.
 *
 * Ownership: the table lives in the agent (a->nested) and is freed by agent_nested_free
 * (held WAITs answered 503). Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_NESTED_H
#define CM_AGENT_AGENT_NESTED_H

#include <jansson.h>
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

/* LAUNCH_CONTAINER: with container_id.parent, a nested container like LAUNCH_NESTED_CONTAINER
 * whose cgroups get the limits of `resources` (cpus: shares, and a CFS quota under
 * --cgroups_enable_cfs; mem: the memory limit); an id already in use is 202 Accepted, as
 * Mesos answers. Without a parent: 501 (no standalone containers). The `limits` field
 * (limits above the requests) is not applied: the requests are the limits. */
void agent_nested_launch_container(struct cm_agent *a, const char *caller_cid,
                                   const Mesos__V1__Agent__Call__LaunchContainer *l,
                                   cm_agent_op_reply_fn reply, void *arg);

/* WAIT_CONTAINER, KILL_CONTAINER and REMOVE_CONTAINER with container_id.parent name nested
 * containers too (Mesos's newer calls): the operator API routes them to agent_nested_kill and
 * agent_nested_remove, and to this, which answers like agent_nested_wait but with
 * Response.wait_container. */
void agent_nested_wait_container(struct cm_agent *a, const char *caller_cid,
                                 const Mesos__V1__ContainerID *id, enum cm_media media,
                                 cm_agent_op_reply_fn reply, void *arg);

/* The containerizer's id of a nested container: "<parent_cid>/mesos/<child>" (malloc'd). */
char *agent_nested_cid(const char *parent_cid, const char *child);

/* Agent recovery, for an executor being re-attached (before cm_containerizer_recover): reads
 * its checkpointed nested containers (<meta run dir>/containers/<child>/: forked.pid, and
 * status once it exited). A live leader (same pid and start time) is watched through a pidfd;
 * when it exits its wait status is unknown (it is not the agent's child), so its WAIT answer
 * has no exit_status. One that exited before the crash answers with the checkpointed status. */
void agent_nested_recover(struct cm_agent *a, struct agent_executor *e);
/* The recovered nested containers still running: their containerizer ids (borrowed) and
 * leader pids, for cm_containerizer_recover. The arrays are malloc'd (caller frees). */
size_t agent_nested_live(struct cm_agent *a, const char ***ids, pid_t **pids);

/* Agent recovery, after cm_containerizer_recover: the recovered nested containers get their
 * checkpointed cpus/mem back as the containerizer's limits (statistics, limitation). */
void agent_nested_recovered_limits(struct cm_agent *a);

/* /containers?show_nested=true: for each executor entry of entries (a /containers array), appends
 * one entry per running nested container of that executor's container, with its own
 * statistics (read from its nested cgroups), container_id "<parent>.<child>" (Mesos's string
 * form) and status.container_id {value: child, parent: {value: parent}}. */
void agent_nested_usage_json(struct cm_agent *a, json_t *entries, double now);

/* GET_CONTAINERS with show_nested: appends to resp (already filtered by --acls) one entry per
 * running nested container of each executor container listed, with its statistics; the
 * entries live in ar. */
void agent_nested_op_containers(struct cm_agent *a, struct cm_agent_op_arena *ar,
                                Mesos__V1__Agent__Response *resp, double now);

/* SIGCHLD: true when pid was a nested container's (its waiters are answered). */
bool agent_nested_reaped(struct cm_agent *a, pid_t pid, int status);
/* The executor container parent_cid exited: its nested containers are killed. */
void agent_nested_parent_exited(struct cm_agent *a, const char *parent_cid);
/* Answers held WAITs with 503 and frees the table. */
void agent_nested_free(struct cm_agent *a);

#endif
