/*
 * executor_api.h: validation of v1 executor API calls (docs/wire-protocol.md §4.1, §4.2).
 *
 * Pure functions, no state: the executor API (agent_xapi.h) decodes the body, asks this module
 * whether the call is well formed, and only then looks the framework and executor up and
 * checks what the call claims against them.
 */
#ifndef CM_AGENT_EXECUTOR_API_H
#define CM_AGENT_EXECUTOR_API_H

#include <stddef.h>

#include "mesos/v1/executor/executor.pb-c.h"

/* Returns 0, or CM_EINVAL with why naming the problem (the handler answers
 * 400 "Failed to validate Executor::Call: <why>"). Rules: type set and known; executor_id and
 * framework_id present and valid IDs; SUBSCRIBE needs subscribe; UPDATE needs update.status
 * with a 16-byte uuid, source SOURCE_EXECUTOR, state not TASK_STAGING nor a master-only state
 * (TASK_UNREACHABLE, TASK_GONE_BY_OPERATOR, TASK_UNKNOWN) and status.executor_id (if set) equal to
 * the call's; MESSAGE needs message. */
int cm_executor_call_validate(const Mesos__V1__Executor__Call *call, char *why, size_t whylen);

/* Decodes a call body of the given media (1 = JSON, 2 = protobuf, as enum cm_media) through
 * codec.h: required fields present and every enum declared (an undeclared status.state is
 * refused, naming the field; an undeclared optional enum such as status.reason is unset). Returns 0
 * and *out (free with protobuf_c_message_free_unpacked), or CM_EINVAL/CM_EPARSE with why. */
int cm_executor_call_decode(int media, const void *body, size_t len,
                            Mesos__V1__Executor__Call **out, char *why, size_t whylen);

#endif
