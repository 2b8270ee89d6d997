/*
 * executor_api.c: executor call decoding and validation.
 */
#include "executor_api.h"

#include <string.h>

#include "codec.h"
#include "errors.h"
#include "http_server.h"
#include "ids.h"

int cm_executor_call_decode(int media, const void *body, size_t len,
                            Mesos__V1__Executor__Call **out, char *why, size_t whylen)
{
    *out = NULL;
    ProtobufCMessage *msg = NULL;
    char inner[512];
    /* codec.h checks required fields and every enum: a status.state the descriptor does not
     * declare is refused here, naming the field, before any code looks its name up. */
    int rc = cm_pb_decode(&mesos__v1__executor__call__descriptor, (enum cm_media)media, body, len,
                          &msg, inner, sizeof inner);
    if (rc != 0) {
        if (media == CM_MEDIA_JSON)
            return cm_fail(rc == CM_EPARSE ? CM_EPARSE : CM_EINVAL, why, whylen,
                           "Failed to convert JSON into Call protobuf: %s", inner);
        if (rc == CM_EPARSE)
            return cm_fail(CM_EPARSE, why, whylen, "Failed to parse body into Call protobuf");
        return cm_fail(CM_EINVAL, why, whylen, "Failed to parse body into Call protobuf: %s",
                       inner);
    }
    *out = (Mesos__V1__Executor__Call *)msg;
    return 0;
}

int cm_executor_call_validate(const Mesos__V1__Executor__Call *call, char *why, size_t whylen)
{
    const char *r = NULL;
    if (!call->has_type)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'type' to be present");
    if (!call->executor_id || !call->executor_id->value)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'executor_id' to be present");
    if (!call->framework_id || !call->framework_id->value)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'framework_id' to be present");
    if (cm_id_validate(call->executor_id->value, &r) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid 'executor_id': %s", r);
    if (cm_id_validate(call->framework_id->value, &r) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid 'framework_id': %s", r);
    switch (call->type) {
    case MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE:
        if (!call->subscribe)
            return cm_fail(CM_EINVAL, why, whylen, "Expecting 'subscribe' to be present");
        return 0;
    case MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE: {
        if (!call->update || !call->update->status)
            return cm_fail(CM_EINVAL, why, whylen, "Expecting 'update' to be present");
        const Mesos__V1__TaskStatus *s = call->update->status;
        if (!s->has_uuid)
            return cm_fail(CM_EINVAL, why, whylen, "'uuid' must be present");
        if (s->uuid.len != 16)
            return cm_fail(CM_EINVAL, why, whylen, "'uuid' must be 16 bytes, got %zu", s->uuid.len);
        if (!s->has_source || s->source != MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Received Call from executor with invalid source: 'source' must be "
                           "SOURCE_EXECUTOR");
        if (s->state == MESOS__V1__TASK_STATE__TASK_STAGING)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Received TASK_STAGING from executor which is not allowed");
        /* States only the master infers about a task it cannot see (Mesos's agent would pass
         * them on; nothing good comes of an executor claiming them). */
        if (s->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE ||
            s->state == MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR ||
            s->state == MESOS__V1__TASK_STATE__TASK_UNKNOWN)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Received %s from executor: only the master reports that state",
                           cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)s->state, "?"));
        if (!s->task_id || !s->task_id->value || cm_id_validate(s->task_id->value, &r) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "Invalid 'status.task_id'");
        if (s->executor_id && s->executor_id->value &&
            strcmp(s->executor_id->value, call->executor_id->value) != 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "ExecutorID in Call: %s does not match ExecutorID in TaskStatus: %s",
                           call->executor_id->value, s->executor_id->value);
        return 0;
    }
    case MESOS__V1__EXECUTOR__CALL__TYPE__MESSAGE:
        if (!call->message)
            return cm_fail(CM_EINVAL, why, whylen, "Expecting 'message' to be present");
        return 0;
    case MESOS__V1__EXECUTOR__CALL__TYPE__HEARTBEAT:
    case MESOS__V1__EXECUTOR__CALL__TYPE__UNKNOWN: /* the handler answers 501 */ return 0;
    default: return cm_fail(CM_EINVAL, why, whylen, "Unknown call type %d", (int)call->type);
    }
}
