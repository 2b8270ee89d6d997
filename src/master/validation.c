/* validation.c: the master's checks of calls and infos from outside — scheduler calls
 * (docs/wire-protocol.md §2.2), FrameworkInfo (§2.5), agent registrations. Pure functions of the
 * input and the master's flags; part of the core so that both the core and the edges can ask. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "ids.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define MOD "master"

typedef Mesos__V1__Scheduler__Call Call;
typedef Cmesos__Internal__AgentCall AgentCall;

/* ------------------------------------------------------------------------------------------ */
/* validation */

int cm_master_validate_call(const Call *call, char *why, size_t whylen)
{
    if (!call->has_type)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'type' to be present");
    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        if (!call->subscribe)
            return cm_fail(CM_EINVAL, why, whylen, "Expecting 'subscribe' to be present");
        const Mesos__V1__FrameworkInfo *fi = call->subscribe->framework_info;
        const char *a = call->framework_id ? call->framework_id->value : NULL;
        const char *b = fi && fi->id ? fi->id->value : NULL;
        if ((a || b) && (!a || !b || strcmp(a, b) != 0))
            return cm_fail(CM_EINVAL, why, whylen,
                           "'framework_id' differs from 'subscribe.framework_info.id'");
        return 0;
    }
    if (!call->framework_id || !call->framework_id->value)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'framework_id' to be present");
    const void *body = NULL;
    const char *name = NULL;
    switch (call->type) {
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT: body = call->accept, name = "accept"; break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE: body = call->decline, name = "decline"; break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS:
        body = call->accept_inverse_offers, name = "accept_inverse_offers";
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS:
        body = call->decline_inverse_offers, name = "decline_inverse_offers";
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__KILL: body = call->kill, name = "kill"; break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN:
        body = call->shutdown, name = "shutdown";
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
        body = call->acknowledge, name = "acknowledge";
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS:
        body = call->acknowledge_operation_status, name = "acknowledge_operation_status";
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
        body = call->reconcile, name = "reconcile";
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS:
        body = call->reconcile_operations, name = "reconcile_operations";
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE: body = call->message, name = "message"; break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST: body = call->request, name = "request"; break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK:
        body = call->update_framework, name = "update_framework";
        break;
    default: return 0; /* TEARDOWN, REVIVE, SUPPRESS need no body; UNKNOWN is answered later */
    }
    if (!body)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting '%s' to be present", name);
    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE &&
        call->acknowledge->uuid.len != 16)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Expecting 'acknowledge.uuid' to be a 16-byte UUID, got %zu bytes",
                       call->acknowledge->uuid.len);
    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS &&
        (call->acknowledge_operation_status->uuid.len != 16 ||
         !call->acknowledge_operation_status->agent_id))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Expecting 'acknowledge_operation_status' to have a 16-byte 'uuid' and "
                       "an 'agent_id'");
    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK) {
        const Mesos__V1__FrameworkInfo *fi = call->update_framework->framework_info;
        if (!fi || !fi->id || !fi->id->value ||
            strcmp(fi->id->value, call->framework_id->value) != 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "'framework_id' differs from 'update_framework.framework_info.id'");
    }
    return 0;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static bool role_is_set(const Mesos__V1__FrameworkInfo *info)
{
    /* protobuf-c points an absent defaulted string at its default value. */
    return info->role && info->role != mesos__v1__framework_info__role__default_value;
}
static const char *role_of(const Mesos__V1__FrameworkInfo *info)
{
    return info->role && info->role[0] ? info->role : "*";
}
#pragma GCC diagnostic pop

static bool role_whitelisted(const struct cm_master *m, const char *role)
{
    const char *wl = m->flags->roles;
    if (!wl || !*wl || strcmp(role, "*") == 0)
        return true;
    size_t n = strlen(role);
    for (const char *p = wl; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, role, n) == 0)
            return true;
        p += len + (e ? 1 : 0);
    }
    return false;
}

int cm_master_validate_framework_info(const struct cm_master *m,
                                      const Mesos__V1__FrameworkInfo *info, char *const *suppressed,
                                      size_t nsuppressed, char *why, size_t whylen)
{
    const char *r = NULL;
    bool multi = false;
    for (size_t i = 0; i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type &&
            info->capabilities[i]->type == MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE)
            multi = true;
    if (!info->user)
        return cm_fail(CM_EINVAL, why, whylen, "'FrameworkInfo.user' must be set");
    if (info->id && info->id->value && info->id->value[0] &&
        cm_id_validate(info->id->value, &r) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "'FrameworkInfo.id' is invalid: %s", r);
    if (multi && role_is_set(info))
        return cm_fail(CM_EINVAL, why, whylen,
                       "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE "
                       "capable");
    if (!multi && info->n_roles > 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'FrameworkInfo.roles' must not be set when the framework is not "
                       "MULTI_ROLE capable");
    if (multi) {
        for (size_t i = 0; i < info->n_roles; i++) {
            if (cm_role_validate(info->roles[i], &r) != 0)
                return cm_fail(CM_EINVAL, why, whylen, "Invalid role '%s' in 'roles': %s",
                               info->roles[i], r);
            for (size_t j = 0; j < i; j++)
                if (strcmp(info->roles[i], info->roles[j]) == 0)
                    return cm_fail(CM_EINVAL, why, whylen,
                                   "'FrameworkInfo.roles' contains duplicate role '%s'",
                                   info->roles[i]);
            if (!role_whitelisted(m, info->roles[i]))
                return cm_fail(CM_EINVAL, why, whylen, "Role '%s' is not present in --roles",
                               info->roles[i]);
        }
    } else {
        const char *role = role_of(info);
        if (cm_role_validate(role, &r) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "Invalid 'FrameworkInfo.role' '%s': %s", role,
                           r);
        if (!role_whitelisted(m, role))
            return cm_fail(CM_EINVAL, why, whylen, "Role '%s' is not present in --roles", role);
    }
    if (!m->flags->root_submissions && strcmp(info->user, "root") == 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "User 'root' is not allowed to run frameworks "
                       "without --root_submissions set");
    if (info->has_failover_timeout &&
        (!isfinite(info->failover_timeout) || fabs(info->failover_timeout) > 1e13))
        return cm_fail(CM_EINVAL, why, whylen,
                       "'FrameworkInfo.failover_timeout' is not a valid duration");
    for (size_t i = 0; i < nsuppressed; i++) {
        bool found = false;
        if (multi) {
            for (size_t j = 0; j < info->n_roles; j++)
                found = found || strcmp(info->roles[j], suppressed[i]) == 0;
        } else {
            found = strcmp(role_of(info), suppressed[i]) == 0;
        }
        if (!found)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Suppressed role '%s' is not contained in the list of roles",
                           suppressed[i]);
    }
    return 0;
}

int cm_master_agent_validate_register(const struct cm_master *m, const AgentCall *call, char *why,
                                      size_t whylen)
{
    (void)m;
    const char *r = NULL;
    const Cmesos__Internal__AgentCall__Register *reg = call->register_;
    if (!reg || !reg->agent_info)
        return cm_fail(CM_EINVAL, why, whylen, "Expecting 'register.agent_info' to be present");
    const Mesos__V1__AgentInfo *info = reg->agent_info;
    if (!info->hostname || !info->hostname[0])
        return cm_fail(CM_EINVAL, why, whylen, "agent_info.hostname missing");
    if (info->has_port && (info->port <= 0 || info->port > 65535))
        return cm_fail(CM_EINVAL, why, whylen, "agent_info.port %d is invalid", info->port);
    if (call->agent_id) {
        if (cm_id_validate(call->agent_id->value, &r) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "agent_id is invalid: %s", r);
        if (info->id && strcmp(info->id->value, call->agent_id->value) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "agent_info.id '%s' differs from agent_id '%s'",
                           info->id->value, call->agent_id->value);
    } else if (info->id && info->id->value[0]) {
        return cm_fail(CM_EINVAL, why, whylen, "agent_info.id is set but agent_id is not");
    }
    struct cm_resources res;
    cm_resources_init(&res);
    char rwhy[256];
    int rc = cm_resources_from_proto(&res, info->resources, info->n_resources, rwhy, sizeof rwhy);
    cm_resources_cleanup(&res);
    if (rc)
        return cm_fail(CM_EINVAL, why, whylen, "agent_info.resources are invalid: %s", rwhy);
    for (size_t i = 0; i < reg->n_tasks; i++) {
        const Mesos__V1__Task *t = reg->tasks[i];
        if (cm_id_validate(t->task_id->value, &r) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "register.tasks[%zu].task_id is invalid: %s", i,
                           r);
        if (cm_id_validate(t->framework_id->value, &r) != 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "register.tasks[%zu].framework_id is invalid: %s", i, r);
    }
    for (size_t i = 0; i < reg->n_frameworks; i++) {
        const Mesos__V1__FrameworkInfo *fi = reg->frameworks[i];
        if (!fi->id || cm_id_validate(fi->id->value, &r) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "register.frameworks[%zu].id is invalid", i);
    }
    return 0;
}
