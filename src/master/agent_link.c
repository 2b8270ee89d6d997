/* agent_link.c: the master's side of the master<->agent link, call layer: decoding and
 * dispatch of AgentCalls; the transitions are the core's (agents.c, tasks.c). See agent_link.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "log.h"
#include "agent_link.h"
#include "util.h"

#define MOD "master"

typedef Cmesos__Internal__AgentCall AgentCall;

int cm_master_agent_decode(enum cm_media media, const uint8_t *body, size_t len, AgentCall **out,
                           char *why, size_t whylen)
{
    *out = NULL;
    if (media != CM_MEDIA_PROTOBUF && media != CM_MEDIA_JSON)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Expecting 'Content-Type' of application/x-protobuf"),
               415;
    /* The agent link is as untrusted as the scheduler API (a task can reach it): required
     * fields and every enum, nested ones included (TaskStatus.state in a status update, the
     * task states of REGISTER), are checked here before anything reads them. */
    ProtobufCMessage *msg = NULL;
    char cwhy[400];
    int rc = cm_pb_decode(&cmesos__internal__agent_call__descriptor, media, body, len, &msg, cwhy,
                          sizeof cwhy);
    if (rc == CM_EPARSE)
        return cm_fail(rc, why, whylen, "Failed to parse body into AgentCall: %s", cwhy), 400;
    if (rc)
        return cm_fail(rc, why, whylen, "Failed to parse body into AgentCall protobuf: %s", cwhy),
               400;
    *out = (AgentCall *)msg;
    return 0;
}

static void handle_status_update(struct cm_master *m, struct cm_agent *a,
                                 const Cmesos__Internal__AgentCall__StatusUpdate *su)
{
    m->metrics.messages_status_update++;
    const Mesos__V1__TaskStatus *st = su->status;
    struct cm_framework *fw = cm_master_framework(m, su->framework_id->value);
    if (!fw) {
        CM_WARN(MOD, "Dropping status update %s for task %s of unknown framework %s from %s",
                cm_task_state_name(st->state), st->task_id->value, su->framework_id->value, a->id);
        m->metrics.invalid_status_updates++;
        if (cm_strmap_get(&m->completed, su->framework_id->value) && st->has_uuid) {
            /* Nobody will ever acknowledge it: do so here so the agent stops retrying. */
            cm_master_send_ack(m, a, su->framework_id->value, st->task_id->value, st->uuid.data,
                               st->uuid.len);
        }
        return;
    }
    struct cm_task *t = cm_strmap_get(&fw->tasks, st->task_id->value);
    if (t && t->agent == a)
        t->launch_unacked = false; /* an update from the agent proves it has the task */
    if (t) {
        /* A retried update (same uuid) is forwarded again but applied only once. */
        bool retry = t->has_uuid && st->has_uuid && st->uuid.len == 16 &&
                     memcmp(t->uuid, st->uuid.data, 16) == 0;
        if (!retry)
            cm_master_update_task(m, t, st, su->has_latest_state ? (int)su->latest_state : -1);
    }
    m->metrics.valid_status_updates++;
    if (!fw->connected) {
        CM_DEBUG(MOD, "Framework %s is disconnected; dropping update (the agent retries)", fw->id);
        return;
    }
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    Mesos__V1__TaskStatus copy = *st;
    if (!copy.agent_id)
        copy.agent_id = a->info->id;
    if (!copy.executor_id && su->executor_id)
        copy.executor_id = su->executor_id;
    up.status = &copy;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &up;
    cm_master_send_event(m, fw, &ev);
}

/* Checks what the decoder cannot: one update of a batch that fails here is dropped (counted
 * in invalid_status_updates) while the others of the call are handled. Returns 0 or fills why
 * naming the field. */
static int check_status_update(const struct cm_agent *a,
                               const Cmesos__Internal__AgentCall__StatusUpdate *su, char *why,
                               size_t whylen)
{
    const Mesos__V1__TaskStatus *st = su->status;
    if (!su->framework_id->value[0])
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'framework_id' to be non-empty");
    if (!st->task_id->value[0])
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'status.task_id' to be non-empty");
    /* Acknowledgements are matched by uuid; one of another size could never be matched. */
    if (st->has_uuid && st->uuid.len != 16)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'status.uuid' to be 16 bytes, got %zu",
                       st->uuid.len);
    /* An agent speaks for its own tasks only. */
    if (st->agent_id && strcmp(st->agent_id->value, a->id) != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'status.agent_id' (%s) is not the calling agent (%s)", st->agent_id->value,
                       a->id);
    return 0;
}

/* STATUS_UPDATE: status_update (the single form) and then each of status_updates, each
 * checked and handled on its own. 202 unless the call has no update, or every update in it is
 * invalid (400 naming the first problem). */
static int handle_status_updates(struct cm_master *m, struct cm_agent *a, const AgentCall *call,
                                 char *why, size_t whylen)
{
    size_t n = call->n_status_updates + (call->status_update ? 1 : 0);
    if (n == 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Expecting 'status_update' or 'status_updates' to be present"),
               400;
    size_t bad = 0;
    char first[320] = "";
    for (size_t i = 0; i < n; i++) {
        const Cmesos__Internal__AgentCall__StatusUpdate *su =
            call->status_update ? (i == 0 ? call->status_update : call->status_updates[i - 1])
                                : call->status_updates[i];
        char w[256];
        if (check_status_update(a, su, w, sizeof w) != 0) {
            m->metrics.messages_status_update++;
            m->metrics.invalid_status_updates++;
            CM_WARN(MOD, "Dropping invalid status update %zu of %zu from agent %s: %s", i + 1, n,
                    a->id, w);
            if (bad++ == 0)
                snprintf(first, sizeof first, "update %zu of %zu: %s", i + 1, n, w);
            continue;
        }
        handle_status_update(m, a, su);
    }
    if (bad == n)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid status update (%s)", first), 400;
    return 202;
}

static void handle_launch_ack(struct cm_master *m, struct cm_agent *a,
                              const Cmesos__Internal__AgentCall__TaskLaunchAck *ack)
{
    struct cm_framework *fw = cm_master_framework(m, ack->framework_id->value);
    struct cm_task *t = fw ? cm_strmap_get(&fw->tasks, ack->task_id->value) : NULL;
    /* Only the agent the task was sent to can acknowledge it. */
    if (!t || t->agent != a) {
        CM_DEBUG(MOD,
                 "Ignoring launch acknowledgement for unknown task %s of framework %s from "
                 "agent %s",
                 ack->task_id->value, ack->framework_id->value, a->id);
        return;
    }
    t->launch_unacked = false;
}

static void handle_exited_executor(struct cm_master *m, struct cm_agent *a,
                                   const Cmesos__Internal__AgentCall__ExitedExecutor *ee)
{
    m->metrics.messages_exited_executor++;
    cm_master_executor_exited(m, a, ee->framework_id->value, ee->executor_id->value);
    struct cm_framework *fw = cm_master_framework(m, ee->framework_id->value);
    if (!fw)
        return;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Failure f = MESOS__V1__SCHEDULER__EVENT__FAILURE__INIT;
    f.agent_id = a->info->id;
    f.executor_id = ee->executor_id;
    f.has_status = ee->has_status;
    f.status = ee->status;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE;
    ev.failure = &f;
    cm_master_send_event(m, fw, &ev);
}

static void handle_executor_message(struct cm_master *m, struct cm_agent *a,
                                    const Cmesos__Internal__AgentCall__ExecutorMessage *em)
{
    m->metrics.messages_executor_to_framework++;
    struct cm_framework *fw = cm_master_framework(m, em->framework_id->value);
    if (!fw || !fw->connected) {
        m->metrics.invalid_executor_to_framework_messages++;
        return;
    }
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Message msg = MESOS__V1__SCHEDULER__EVENT__MESSAGE__INIT;
    msg.agent_id = a->info->id;
    msg.executor_id = em->executor_id;
    msg.data = em->data;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE;
    ev.message = &msg;
    cm_master_send_event(m, fw, &ev);
    m->metrics.valid_executor_to_framework_messages++;
}

int cm_master_agent_call(struct cm_master *m, const AgentCall *call, const struct cm_sink *sink,
                         const char *stream_id, struct cm_agent **agent_out, char *why,
                         size_t whylen)
{
    if (!call->has_type || call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__UNKNOWN)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'type' to be present"), 400;
    if (call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER) {
        if (!sink)
            return cm_fail(CM_EINVAL, why, whylen, "REGISTER needs a stream"), 400;
        return cm_master_register_agent(m, call, sink, stream_id, agent_out, why, whylen);
    }
    if (call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG && call->n_pong_agent_ids > 0)
        return cm_master_agent_stream_pongs(m, call, stream_id, why, whylen); /* shared stream */
    if (!call->agent_id)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'agent_id' to be present"), 400;
    struct cm_agent *a = cm_master_agent(m, call->agent_id->value);
    if (!a || !a->connected)
        return cm_fail(CM_ESTATE, why, whylen, "Agent is not registered"), 403;
    if (!stream_id)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'Mesos-Stream-Id' to be present"), 400;
    if (strcmp(stream_id, a->stream_id) != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "The stream ID '%s' does not match the agent's current stream", stream_id),
               400;
    switch (call->type) {
    case CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE:
        return handle_status_updates(m, a, call, why, whylen);
    case CMESOS__INTERNAL__AGENT_CALL__TYPE__TASK_LAUNCH_ACK:
        if (call->n_task_launch_acks == 0)
            return cm_fail(CM_EINVAL, why, whylen, "Expecting 'task_launch_acks'"), 400;
        for (size_t i = 0; i < call->n_task_launch_acks; i++)
            handle_launch_ack(m, a, call->task_launch_acks[i]);
        break;
    case CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG: a->last_pong = cm_clock_now(m->clock); break;
    case CMESOS__INTERNAL__AGENT_CALL__TYPE__EXITED_EXECUTOR:
        if (!call->exited_executor)
            return cm_fail(CM_EINVAL, why, whylen, "Expecting 'exited_executor'"), 400;
        handle_exited_executor(m, a, call->exited_executor);
        break;
    case CMESOS__INTERNAL__AGENT_CALL__TYPE__EXECUTOR_MESSAGE:
        if (!call->executor_message)
            return cm_fail(CM_EINVAL, why, whylen, "Expecting 'executor_message'"), 400;
        handle_executor_message(m, a, call->executor_message);
        break;
    case CMESOS__INTERNAL__AGENT_CALL__TYPE__UNREGISTER:
        m->metrics.messages_unregister_slave++;
        cm_master_remove_agent(m, a);
        break;
    default:
        return cm_fail(CM_EINVAL, why, whylen, "Unsupported agent call type %d", call->type), 400;
    }
    return 202;
}
