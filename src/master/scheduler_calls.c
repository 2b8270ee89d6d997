/* scheduler_calls.c: the scheduler API's decisions and call handlers (docs/wire-protocol.md §2).
 * See scheduler_calls.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "checks.h"
#include "codec.h"
#include "contender.h"
#include "registrar.h"
#include "errors.h"
#include "ids.h"
#include "log.h"
#include "scheduler_calls.h"
#include "pbjson.h"

#define MOD "master"
#define YEAR_SECS (365.0 * 24 * 3600)

typedef Mesos__V1__Scheduler__Call Call;

static const char *call_type_name(int type)
{
    return cm_enum_name_or(&mesos__v1__scheduler__call__type__descriptor, type, "UNKNOWN");
}

/* ------------------------------------------------------------------------------------------ */
/* helpers */

static double refuse_seconds(const Mesos__V1__Filters *f)
{
    if (!f || !f->has_refuse_seconds)
        return 5.0;
    double v = f->refuse_seconds;
    if (isnan(v) || v < 0)
        return 5.0;
    return v > YEAR_SECS ? YEAR_SECS : v;
}

static bool bytes_eq(const uint8_t a[16], ProtobufCBinaryData b)
{
    return b.len == 16 && memcmp(a, b.data, 16) == 0;
}

static void count_master_update(struct cm_master *m, struct cm_framework *fw, int state, int reason)
{
    (void)fw;
    cm_master_count_status(m, state, MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER, true, reason,
                           true);
}

/* ------------------------------------------------------------------------------------------ */
/* ACCEPT / DECLINE */

static void fail_tasks(struct cm_master *m, struct cm_framework *fw,
                       const Mesos__V1__Scheduler__Call__Accept *acc, int state, int reason,
                       const char *message)
{
    for (size_t i = 0; i < acc->n_operations; i++) {
        const Mesos__V1__Offer__Operation *op = acc->operations[i];
        if (op->launch) {
            for (size_t j = 0; j < op->launch->n_task_infos; j++) {
                const Mesos__V1__TaskInfo *ti = op->launch->task_infos[j];
                cm_master_send_master_update(m, fw, ti->task_id->value,
                                             ti->agent_id ? ti->agent_id->value : NULL, state,
                                             reason, message);
                count_master_update(m, fw, state, reason);
            }
        }
        if (op->launch_group && op->launch_group->task_group) {
            for (size_t j = 0; j < op->launch_group->task_group->n_tasks; j++) {
                const Mesos__V1__TaskInfo *ti = op->launch_group->task_group->tasks[j];
                cm_master_send_master_update(m, fw, ti->task_id->value,
                                             ti->agent_id ? ti->agent_id->value : NULL, state,
                                             reason, message);
                count_master_update(m, fw, state, reason);
            }
        }
    }
}

/* A custom executor's CommandInfo: a value to run, plain environment values only. */
static int validate_command(const Mesos__V1__CommandInfo *c, char *why, size_t whylen)
{
    if ((!c->has_shell || c->shell) && !c->value)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'ExecutorInfo.command.value' must be set when 'shell' is true");
    if (c->has_shell && !c->shell && !c->value)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'ExecutorInfo.command.value' (the program) must be set");
    for (size_t i = 0; c->environment && i < c->environment->n_variables; i++) {
        const Mesos__V1__Environment__Variable *v = c->environment->variables[i];
        if (v->has_type && v->type != MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__VALUE)
            return cm_fail(CM_EINVAL, why, whylen,
                           "'ExecutorInfo.command.environment' variable '%s': only type VALUE "
                           "is supported (cmesos has no secret resolver)",
                           v->name ? v->name : "");
        if (!v->value)
            return cm_fail(CM_EINVAL, why, whylen,
                           "'ExecutorInfo.command.environment' variable '%s' has no value",
                           v->name ? v->name : "");
    }
    return 0;
}

/* A task's custom executor (Mesos's executor validation): a valid id, this framework's id if
 * set, type CUSTOM with a command, valid resources, only plain environment values; one the
 * agent already runs (or this ACCEPT just placed) must be named with an identical ExecutorInfo.
 * *exec_res gets the resources a new executor takes from the offer (empty for an existing
 * one). Returns 0 or CM_EINVAL with why. */
static int validate_executor(struct cm_framework *fw, struct cm_agent *agent,
                             const Mesos__V1__ExecutorInfo *ei, bool group,
                             struct cm_resources *exec_res, char *why, size_t whylen)
{
    const char *r = NULL;
    if (!ei->executor_id || !ei->executor_id->value)
        return cm_fail(CM_EINVAL, why, whylen, "'ExecutorInfo.executor_id' must be set");
    const char *eid = ei->executor_id->value;
    if (cm_id_validate_n(eid, strlen(eid), &r) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "'ExecutorInfo.executor_id' '%s' is invalid: %s",
                       eid, r);
    if (ei->framework_id && (!ei->framework_id->value || strcmp(ei->framework_id->value, fw->id)))
        return cm_fail(CM_EINVAL, why, whylen,
                       "ExecutorInfo has an invalid FrameworkID (Actual: %s vs Expected: %s)",
                       ei->framework_id->value ? ei->framework_id->value : "", fw->id);
    if (group) {
        /* Mesos: LAUNCH_GROUP runs on the DEFAULT executor, which the agent provides. */
        if (!ei->has_type || ei->type != MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT)
            return cm_fail(CM_EINVAL, why, whylen,
                           "'ExecutorInfo.type' must be 'DEFAULT' for a LAUNCH_GROUP operation");
        if (ei->command)
            return cm_fail(CM_EINVAL, why, whylen,
                           "'ExecutorInfo.command' must not be set for 'DEFAULT' executor");
        if (ei->container && ei->container->type != MESOS__V1__CONTAINER_INFO__TYPE__MESOS)
            return cm_fail(CM_EINVAL, why, whylen,
                           "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor");
    } else if (ei->has_type && ei->type != MESOS__V1__EXECUTOR_INFO__TYPE__CUSTOM)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'ExecutorInfo.type' must be 'CUSTOM' for a LAUNCH operation (DEFAULT "
                       "executors run task groups: use LAUNCH_GROUP)");
    if (!group && !ei->command)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'ExecutorInfo.command' must be set for a custom "
                       "executor");
    if (!group && validate_command(ei->command, why, whylen) != 0)
        return CM_EINVAL;
    char rwhy[256];
    if (cm_resources_from_proto(exec_res, ei->resources, ei->n_resources, rwhy, sizeof rwhy) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Executor uses invalid resources: %s", rwhy);
    if (group) {
        /* The default executor needs room of its own (docs/wire-protocol.md §2.7). */
        bool disk = false;
        for (size_t i = 0; i < exec_res->n; i++)
            disk = disk || strcmp(exec_res->v[i].name, "disk") == 0;
        if (cm_resources_scalar(exec_res, "cpus") < 10 ||
            cm_resources_scalar(exec_res, "mem") < 32000 || !disk)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Executor resources must hold at least 0.01 cpus, 32 MB of mem and a "
                           "'disk' entry for a task group's DEFAULT executor");
    }
    const struct cm_executor *have = cm_master_executor(agent, fw->id, eid);
    if (!have)
        return 0;
    /* Same executor: the ExecutorInfo must be the one it was started with. (A DEFAULT
     * executor learnt from an agent's re-registration carries the command the agent filled
     * in: commands are not compared for those.) */
    Mesos__V1__ExecutorInfo *mine = (Mesos__V1__ExecutorInfo *)cm_pb_dup(&ei->base);
    Mesos__V1__ExecutorInfo *theirs = (Mesos__V1__ExecutorInfo *)cm_pb_dup(&have->info->base);
    if (!mine->framework_id) {
        mine->framework_id = cm_xcalloc(1, sizeof *mine->framework_id);
        mesos__v1__framework_id__init(mine->framework_id);
        mine->framework_id->value = cm_xstrdup(fw->id);
    }
    if (group && theirs->command) {
        protobuf_c_message_free_unpacked(&theirs->command->base, NULL);
        theirs->command = NULL;
    }
    size_t la = protobuf_c_message_get_packed_size(&mine->base);
    size_t lb = protobuf_c_message_get_packed_size(&theirs->base);
    bool same = la == lb;
    if (same) {
        uint8_t *pa = cm_xcalloc(1, la + 1), *pb = cm_xcalloc(1, lb + 1);
        protobuf_c_message_pack(&mine->base, pa);
        protobuf_c_message_pack(&theirs->base, pb);
        same = memcmp(pa, pb, la) == 0;
        free(pa);
        free(pb);
    }
    protobuf_c_message_free_unpacked(&mine->base, NULL);
    protobuf_c_message_free_unpacked(&theirs->base, NULL);
    if (!same)
        return cm_fail(CM_EINVAL, why, whylen,
                       "ExecutorInfo is not compatible with the ExecutorInfo of the running "
                       "executor '%s' (a task naming an existing executor must carry its "
                       "ExecutorInfo unchanged)",
                       eid);
    cm_resources_cleanup(exec_res);
    cm_resources_init(exec_res);
    return 0;
}

static int validate_task(struct cm_master *m, struct cm_framework *fw, struct cm_agent *agent,
                         const Mesos__V1__TaskInfo *ti, const struct cm_resources *remaining,
                         struct cm_resources *res, struct cm_resources *exec_res, char *why,
                         size_t whylen)
{
    (void)m;
    const char *r = NULL;
    const char *tid = ti->task_id->value;
    if (cm_id_validate_n(tid, strlen(tid), &r) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Task ID '%s' is invalid: %s", tid, r);
    if (!!ti->command == !!ti->executor)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Task should have at least one (but not both) of CommandInfo or "
                       "ExecutorInfo present");
    if (ti->executor &&
        validate_executor(fw, agent, ti->executor, false, exec_res, why, whylen) != 0)
        return CM_EINVAL;
    if (cm_strmap_get(&fw->tasks, tid))
        return cm_fail(CM_EINVAL, why, whylen, "Task has duplicate ID: %s", tid);
    if (strcmp(ti->agent_id->value, agent->id) != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Task uses agent ID %s which does not match the offer's agent %s",
                       ti->agent_id->value, agent->id);
    /* Like Mesos, a bad (health) check fails the launch here instead of in the executor. */
    char cwhy[512];
    if (ti->health_check && cm_check_validate_health(ti->health_check, cwhy, sizeof cwhy) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Task uses invalid health check: %s", cwhy);
    if (ti->check && cm_check_validate_check(ti->check, cwhy, sizeof cwhy) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Task uses invalid check: %s", cwhy);
    if (ti->n_resources == 0)
        return cm_fail(CM_EINVAL, why, whylen, "Task uses no resources");
    char rwhy[256];
    if (cm_resources_from_proto(res, ti->resources, ti->n_resources, rwhy, sizeof rwhy) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Task uses invalid resources: %s", rwhy);
    if (cm_resources_empty(res))
        return cm_fail(CM_EINVAL, why, whylen, "Task uses no resources");
    struct cm_resources total;
    cm_resources_init(&total);
    cm_resources_add(&total, res);
    cm_resources_add(&total, exec_res);
    bool fits = cm_resources_contains(remaining, &total);
    if (!fits) {
        char *a = cm_resources_format(&total), *b = cm_resources_format(remaining);
        cm_fail(CM_EINVAL, why, whylen, "Task %suses more resources %s than available %s",
                cm_resources_empty(exec_res) ? "" : "and its executor ", a, b);
        free(a);
        free(b);
    }
    cm_resources_cleanup(&total);
    return fits ? 0 : CM_EINVAL;
}

static void launch_task(struct cm_master *m, struct cm_framework *fw, struct cm_agent *agent,
                        const Mesos__V1__TaskInfo *ti, const struct cm_resources *res,
                        const struct cm_resources *exec_res, const char *role)
{
    struct cm_task *t = cm_master_add_task(m, fw, agent, ti, res, role);
    if (t->info->executor) {
        /* As Mesos, the master fills in the executor's framework id for the agent. */
        Mesos__V1__ExecutorInfo *ei = t->info->executor;
        if (!ei->framework_id) {
            ei->framework_id = cm_xcalloc(1, sizeof *ei->framework_id);
            mesos__v1__framework_id__init(ei->framework_id);
            ei->framework_id->value = cm_xstrdup(fw->id);
        }
        if (!cm_master_executor(agent, fw->id, ei->executor_id->value))
            cm_master_add_executor(m, fw, agent, ei, exec_res, role);
    }
    CM_INFO(MOD, "Launching task %s of framework %s on agent %s", t->id, fw->id, agent->id);
    cm_master_send_run_task(m, t);
}

static void fail_group(struct cm_master *m, struct cm_framework *fw, struct cm_agent *agent,
                       const Mesos__V1__TaskGroupInfo *g, int reason, const char *why)
{
    CM_WARN(MOD, "Task group of framework %s refused: %s", fw->id, why);
    for (size_t j = 0; j < g->n_tasks; j++) {
        const Mesos__V1__TaskInfo *ti = g->tasks[j];
        cm_master_send_master_update(m, fw, ti->task_id->value, agent->id,
                                     MESOS__V1__TASK_STATE__TASK_ERROR, reason, why);
        count_master_update(m, fw, MESOS__V1__TASK_STATE__TASK_ERROR, reason);
    }
}

/* LAUNCH_GROUP (Mesos's task group validation): a non-empty group of distinct, valid command
 * tasks for this agent, none naming an executor; a DEFAULT executor (identical to the running
 * one if the agent has it); the tasks and a new executor fit in what is left of the offers.
 * Any failure refuses the whole group (TASK_ERROR, REASON_TASK_GROUP_INVALID or
 * _UNAUTHORIZED); else every task is added and the agent gets one RUN_TASK_GROUP. */
static void launch_group(struct cm_master *m, struct cm_framework *fw, struct cm_agent *agent,
                         const Mesos__V1__Offer__Operation__LaunchGroup *lg,
                         struct cm_resources *remaining, const char *role)
{
    const Mesos__V1__TaskGroupInfo *g = lg->task_group;
    char why[700];
    const int invalid = MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID;
    if (g->n_tasks == 0) {
        CM_WARN(MOD, "Framework %s sent an empty task group", fw->id);
        return;
    }
    if (!lg->executor) {
        fail_group(m, fw, agent, g, invalid, "'LaunchGroup.executor' must be set");
        return;
    }
    for (size_t j = 0; j < g->n_tasks; j++) {
        const Mesos__V1__TaskInfo *ti = g->tasks[j];
        const char *user = ti->command && ti->command->user && ti->command->user[0]
                               ? ti->command->user
                               : fw->info->user;
        if (!cm_acls_allowed(m->acls, CM_ACL_RUN_TASK, fw->info->principal, user)) {
            snprintf(why, sizeof why, "Not authorized to run_tasks as user '%s' (principal '%s')",
                     user, fw->info->principal ? fw->info->principal : "(none)");
            fail_group(m, fw, agent, g,
                       MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_UNAUTHORIZED, why);
            return;
        }
    }
    struct cm_resources exec_res, sum, *res = cm_xcalloc(g->n_tasks, sizeof *res);
    cm_resources_init(&exec_res);
    cm_resources_init(&sum);
    for (size_t j = 0; j < g->n_tasks; j++)
        cm_resources_init(&res[j]);
    int rc = validate_executor(fw, agent, lg->executor, true, &exec_res, why, sizeof why);
    for (size_t j = 0; rc == 0 && j < g->n_tasks; j++) {
        const Mesos__V1__TaskInfo *ti = g->tasks[j];
        struct cm_resources none;
        cm_resources_init(&none);
        char twhy[600];
        if (ti->executor) {
            rc = cm_fail(CM_EINVAL, why, sizeof why,
                         "Task '%s' is invalid: 'TaskInfo.executor' must not be set",
                         ti->task_id->value);
        } else if (validate_task(m, fw, agent, ti, remaining, &res[j], &none, twhy, sizeof twhy) !=
                   0) {
            rc = cm_fail(CM_EINVAL, why, sizeof why, "Task '%s' is invalid: %s", ti->task_id->value,
                         twhy);
        }
        for (size_t k = 0; rc == 0 && k < j; k++)
            if (strcmp(g->tasks[k]->task_id->value, ti->task_id->value) == 0)
                rc = cm_fail(CM_EINVAL, why, sizeof why, "Duplicate task ID '%s' in task group",
                             ti->task_id->value);
        cm_resources_cleanup(&none);
        cm_resources_add(&sum, &res[j]);
    }
    if (rc == 0) {
        struct cm_resources total;
        cm_resources_init(&total);
        cm_resources_add(&total, &sum);
        cm_resources_add(&total, &exec_res);
        if (!cm_resources_contains(remaining, &total)) {
            char *a = cm_resources_format(&total), *b = cm_resources_format(remaining);
            rc = cm_fail(CM_EINVAL, why, sizeof why,
                         "Task group and its executor use more resources %s than available %s", a,
                         b);
            free(a);
            free(b);
        }
        cm_resources_cleanup(&total);
    }
    if (rc != 0) {
        fail_group(m, fw, agent, g, invalid, why);
    } else {
        cm_resources_subtract(remaining, &sum);
        cm_resources_subtract(remaining, &exec_res);
        Mesos__V1__ExecutorInfo *ei = (Mesos__V1__ExecutorInfo *)cm_pb_dup(&lg->executor->base);
        if (!ei->framework_id) {
            ei->framework_id = cm_xcalloc(1, sizeof *ei->framework_id);
            mesos__v1__framework_id__init(ei->framework_id);
            ei->framework_id->value = cm_xstrdup(fw->id);
        }
        if (!cm_master_executor(agent, fw->id, ei->executor_id->value))
            cm_master_add_executor(m, fw, agent, ei, &exec_res, role);
        struct cm_task **tasks = cm_xcalloc(g->n_tasks, sizeof *tasks);
        for (size_t j = 0; j < g->n_tasks; j++) {
            tasks[j] = cm_master_add_task(m, fw, agent, g->tasks[j], &res[j], role);
            tasks[j]->info->executor = (Mesos__V1__ExecutorInfo *)cm_pb_dup(&ei->base);
            CM_INFO(MOD,
                    "Launching task %s of framework %s on agent %s (task group on executor "
                    "'%s')",
                    tasks[j]->id, fw->id, agent->id, ei->executor_id->value);
        }
        cm_master_send_run_task_group(m, tasks, g->n_tasks);
        free(tasks);
        protobuf_c_message_free_unpacked(&ei->base, NULL);
    }
    for (size_t j = 0; j < g->n_tasks; j++)
        cm_resources_cleanup(&res[j]);
    free(res);
    cm_resources_cleanup(&sum);
    cm_resources_cleanup(&exec_res);
}

static void handle_accept(struct cm_master *m, struct cm_framework *fw,
                          const Mesos__V1__Scheduler__Call__Accept *acc)
{
    m->metrics.messages_launch_tasks++;
    char err[512] = "";
    size_t n = acc->n_offer_ids;
    struct cm_offer **offers = calloc(n ? n : 1, sizeof *offers);
    if (!offers)
        abort();
    size_t nvalid = 0;
    if (n == 0)
        snprintf(err, sizeof err, "No offers specified");
    for (size_t i = 0; i < n; i++) {
        const char *oid = acc->offer_ids[i]->value;
        struct cm_offer *o = cm_strmap_get(&m->offers, oid);
        bool dup = false;
        for (size_t j = 0; j < nvalid; j++)
            dup = dup || offers[j] == o;
        if (!o) {
            if (!err[0])
                snprintf(err, sizeof err, "Offer %s is no longer valid", oid);
            continue;
        }
        if (o->fw != fw) {
            if (!err[0])
                snprintf(err, sizeof err, "Offer %s has invalid framework", oid);
            continue;
        }
        if (dup) {
            if (!err[0])
                snprintf(err, sizeof err, "Offer %s appears more than once", oid);
            continue;
        }
        if (nvalid > 0 && o->agent != offers[0]->agent && !err[0])
            snprintf(err, sizeof err, "Aggregated offers must belong to one single agent");
        if (nvalid > 0 && strcmp(o->role, offers[0]->role) != 0 && !err[0])
            snprintf(err, sizeof err, "Aggregated offers must be allocated to the same role");
        offers[nvalid++] = o;
    }
    if (err[0]) {
        CM_WARN(MOD, "ACCEPT from framework %s with invalid offers: %s", fw->id, err);
        for (size_t i = 0; i < nvalid; i++)
            cm_master_remove_offer(m, offers[i], true, false, 0);
        char msg[600];
        snprintf(msg, sizeof msg, "Task launched with invalid offers: %s", err);
        int state = fw->partition_aware ? MESOS__V1__TASK_STATE__TASK_DROPPED
                                        : MESOS__V1__TASK_STATE__TASK_LOST;
        fail_tasks(m, fw, acc, state, MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS, msg);
        free(offers);
        return;
    }

    struct cm_agent *agent = offers[0]->agent;
    char *role = cm_xstrdup(offers[0]->role);
    struct cm_resources remaining;
    cm_resources_init(&remaining);
    for (size_t i = 0; i < nvalid; i++) {
        cm_resources_add(&remaining, &offers[i]->resources);
        fw->metrics.offers_accepted++;
        cm_master_remove_offer(m, offers[i], false, false, 0);
    }
    free(offers);

    /* Operations apply in order against what is left of the offered resources. */
    for (size_t i = 0; i < acc->n_operations; i++) {
        const Mesos__V1__Offer__Operation *op = acc->operations[i];
        if (op->type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH && op->launch) {
            for (size_t j = 0; j < op->launch->n_task_infos; j++) {
                const Mesos__V1__TaskInfo *ti = op->launch->task_infos[j];
                struct cm_resources res, exec_res;
                cm_resources_init(&res);
                cm_resources_init(&exec_res);
                char why[700];
                const Mesos__V1__CommandInfo *uc = ti->command    ? ti->command
                                                   : ti->executor ? ti->executor->command
                                                                  : NULL;
                const char *user = uc && uc->user && uc->user[0] ? uc->user : fw->info->user;
                if (!cm_acls_allowed(m->acls, CM_ACL_RUN_TASK, fw->info->principal, user)) {
                    snprintf(why, sizeof why,
                             "Not authorized to run_tasks as user '%s' (principal '%s')", user,
                             fw->info->principal ? fw->info->principal : "(none)");
                    CM_WARN(MOD, "Task %s of framework %s: %s", ti->task_id->value, fw->id, why);
                    cm_master_send_master_update(
                        m, fw, ti->task_id->value, agent->id, MESOS__V1__TASK_STATE__TASK_ERROR,
                        MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED, why);
                    count_master_update(m, fw, MESOS__V1__TASK_STATE__TASK_ERROR,
                                        MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED);
                } else if (validate_task(m, fw, agent, ti, &remaining, &res, &exec_res, why,
                                         sizeof why) != 0) {
                    CM_WARN(MOD, "Task %s of framework %s is invalid: %s", ti->task_id->value,
                            fw->id, why);
                    cm_master_send_master_update(
                        m, fw, ti->task_id->value, agent->id, MESOS__V1__TASK_STATE__TASK_ERROR,
                        MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, why);
                    count_master_update(m, fw, MESOS__V1__TASK_STATE__TASK_ERROR,
                                        MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
                } else {
                    cm_resources_subtract(&remaining, &res);
                    cm_resources_subtract(&remaining, &exec_res);
                    launch_task(m, fw, agent, ti, &res, &exec_res, role);
                }
                cm_resources_cleanup(&res);
                cm_resources_cleanup(&exec_res);
            }
        } else if (op->type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP &&
                   op->launch_group && op->launch_group->task_group) {
            launch_group(m, fw, agent, op->launch_group, &remaining, role);
        } else {
            /* Honest gap: reservations, volumes and disks are not implemented yet; the
             * operation is ignored (no OPERATION_ERROR feedback) and its resources stay in the
             * remainder that is declined below. */
            CM_WARN(MOD, "Ignoring unsupported offer operation %s from framework %s",
                    cm_enum_name_or(&mesos__v1__offer__operation__type__descriptor, op->type,
                                    "UNKNOWN"),
                    fw->id);
        }
    }
    if (!cm_resources_empty(&remaining)) {
        /* Like Mesos, recovered resources wait for the next periodic cycle: allocating at once
         * would re-offer each declined piece on its own instead of the agent's free whole. */
        cm_allocator_recover(m->allocator, fw->id, role, agent->id, &remaining,
                             refuse_seconds(acc->filters));
    }
    cm_resources_cleanup(&remaining);
    free(role);
}

static void handle_decline(struct cm_master *m, struct cm_framework *fw,
                           const Mesos__V1__Scheduler__Call__Decline *d)
{
    m->metrics.messages_decline_offers++;
    double refuse = refuse_seconds(d->filters);
    for (size_t i = 0; i < d->n_offer_ids; i++) {
        struct cm_offer *o = cm_strmap_get(&m->offers, d->offer_ids[i]->value);
        if (!o || o->fw != fw) {
            CM_WARN(MOD, "Ignoring DECLINE of unknown offer %s by framework %s",
                    d->offer_ids[i]->value, fw->id);
            continue;
        }
        fw->metrics.offers_declined++;
        cm_master_decline_offer(m, o, refuse);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* REVIVE / SUPPRESS */

static bool strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static void set_suppressed(struct cm_framework *fw, char *const *roles, size_t n, bool suppress)
{
    bool all = n == 0;
    char **src = all ? fw->roles : (char **)roles;
    size_t ns = all ? fw->nroles : n;
    for (size_t i = 0; i < ns; i++) {
        const char *r = src[i];
        if (!strv_has(fw->roles, fw->nroles, r))
            continue;
        bool has = strv_has(fw->suppressed, fw->nsuppressed, r);
        if (suppress && !has) {
            fw->suppressed = realloc(fw->suppressed, (fw->nsuppressed + 2) * sizeof(char *));
            if (!fw->suppressed)
                abort();
            fw->suppressed[fw->nsuppressed++] = cm_xstrdup(r);
        } else if (!suppress && has) {
            for (size_t j = 0; j < fw->nsuppressed; j++) {
                if (strcmp(fw->suppressed[j], r) == 0) {
                    free(fw->suppressed[j]);
                    fw->suppressed[j] = fw->suppressed[--fw->nsuppressed];
                    break;
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* RECONCILE / KILL */

/* Explicit reconciliation of one task (docs/wire-protocol.md §2.10); implicit reconciliation only
 * asks about tasks the master knows. */
static void reconcile_one(struct cm_master *m, struct cm_framework *fw, const char *task_id,
                          const char *agent_id)
{
    const int reason = MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION;
    struct cm_task *t = cm_strmap_get(&fw->tasks, task_id);
    if (t && (!agent_id || strcmp(agent_id, t->agent_id) == 0)) {
        int st = t->status_update_state >= 0 ? t->status_update_state : t->state;
        cm_master_send_master_update(m, fw, t->id, t->agent_id, cm_master_task_state_for(fw, st),
                                     reason, "Reconciliation: Latest task state");
        return;
    }
    /* Agents expected back after a master restart: no answer yet (the framework retries). */
    if (agent_id && cm_master_agent_recovering(m, agent_id))
        return;
    struct cm_task *ut = cm_strmap_get(&fw->unreachable_tasks, task_id);
    if (ut && (!agent_id || strcmp(agent_id, ut->agent_id) == 0)) {
        cm_master_send_master_update_ex(
            m, fw, task_id, ut->agent_id,
            cm_master_task_state_for(fw, MESOS__V1__TASK_STATE__TASK_UNREACHABLE), reason,
            "Reconciliation: Task is unreachable", ut->unreachable_time);
        return;
    }
    if (!agent_id && cm_strmap_count(&m->recovering_agents) > 0)
        return;
    double when = 0;
    if (agent_id && cm_master_agent(m, agent_id)) {
        cm_master_send_master_update(m, fw, task_id, agent_id,
                                     cm_master_task_state_for(fw, MESOS__V1__TASK_STATE__TASK_GONE),
                                     reason, "Reconciliation: Task is unknown to the agent");
    } else if (agent_id && cm_registrar_unreachable(m->registrar, agent_id, &when)) {
        cm_master_send_master_update_ex(
            m, fw, task_id, agent_id,
            cm_master_task_state_for(fw, MESOS__V1__TASK_STATE__TASK_UNREACHABLE), reason,
            "Reconciliation: Task is unreachable", when);
    } else if (agent_id && cm_registrar_gone(m->registrar, agent_id, &when)) {
        cm_master_send_master_update(
            m, fw, task_id, agent_id,
            cm_master_task_state_for(fw, MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR), reason,
            "Reconciliation: Task is gone");
    } else {
        cm_master_send_master_update(
            m, fw, task_id, agent_id,
            cm_master_task_state_for(fw, MESOS__V1__TASK_STATE__TASK_UNKNOWN), reason,
            "Reconciliation: Task is unknown");
    }
}

static void handle_reconcile(struct cm_master *m, struct cm_framework *fw,
                             const Mesos__V1__Scheduler__Call__Reconcile *rec)
{
    m->metrics.messages_reconcile_tasks++;
    if (rec->n_tasks == 0) {
        /* Implicit: every task the master still tracks (non-terminal or not yet acked). */
        size_t n = cm_strmap_count(&fw->tasks), i = 0;
        struct cm_task **v = calloc(n ? n : 1, sizeof *v);
        if (!v)
            abort();
        struct cm_strmap_iter it;
        for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);)
            v[i++] = it.cur->value;
        for (i = 0; i < n; i++)
            reconcile_one(m, fw, v[i]->id, NULL);
        free(v);
        return;
    }
    for (size_t i = 0; i < rec->n_tasks; i++) {
        const Mesos__V1__Scheduler__Call__Reconcile__Task *rt = rec->tasks[i];
        reconcile_one(m, fw, rt->task_id->value, rt->agent_id ? rt->agent_id->value : NULL);
    }
}

static void handle_kill(struct cm_master *m, struct cm_framework *fw,
                        const Mesos__V1__Scheduler__Call__Kill *k)
{
    m->metrics.messages_kill_task++;
    const char *agent_id = k->agent_id ? k->agent_id->value : NULL;
    struct cm_task *t = cm_strmap_get(&fw->tasks, k->task_id->value);
    if (!t) {
        CM_WARN(MOD, "Asked to kill unknown task %s of framework %s", k->task_id->value, fw->id);
        reconcile_one(m, fw, k->task_id->value, agent_id);
        return;
    }
    if (agent_id && strcmp(agent_id, t->agent_id) != 0) {
        CM_WARN(MOD, "Ignoring KILL of task %s: agent %s given, task is on %s", t->id, agent_id,
                t->agent_id);
        return;
    }
    t->kill_asked = true;
    if (!t->agent || !t->agent->connected) {
        /* Remembered and sent when the agent re-registers. */
        t->kill_pending = true;
        return;
    }
    cm_master_send_kill(m, t, k->kill_policy);
}

/* ------------------------------------------------------------------------------------------ */
/* ACKNOWLEDGE / MESSAGE / SHUTDOWN */

static void handle_acknowledge(struct cm_master *m, struct cm_framework *fw,
                               const Mesos__V1__Scheduler__Call__Acknowledge *ack)
{
    m->metrics.messages_status_update_acknowledgement++;
    struct cm_agent *a = cm_master_agent(m, ack->agent_id->value);
    if (!a || !a->connected) {
        CM_WARN(MOD, "Cannot relay acknowledgement for task %s: agent %s is not connected",
                ack->task_id->value, ack->agent_id->value);
        m->metrics.invalid_status_update_acknowledgements++;
        return;
    }
    /* Held until the end of the loop turn: one ACKNOWLEDGE event per agent (tasks.c). */
    cm_master_send_ack(m, a, fw->id, ack->task_id->value, ack->uuid.data, ack->uuid.len);
    m->metrics.valid_status_update_acknowledgements++;
    struct cm_task *t = cm_strmap_get(&fw->tasks, ack->task_id->value);
    if (t && t->has_uuid && bytes_eq(t->uuid, ack->uuid) &&
        cm_task_state_terminal(t->status_update_state)) {
        CM_INFO(MOD, "Task %s of framework %s completed (terminal update acknowledged)", t->id,
                fw->id);
        cm_master_complete_task(m, t);
    }
}

static void handle_message(struct cm_master *m, struct cm_framework *fw,
                           const Mesos__V1__Scheduler__Call__Message *msg)
{
    m->metrics.messages_framework_to_executor++;
    struct cm_agent *a = cm_master_agent(m, msg->agent_id->value);
    if (!a || !a->connected) {
        m->metrics.invalid_framework_to_executor_messages++;
        return;
    }
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__FrameworkMessage fm =
        CMESOS__INTERNAL__AGENT_EVENT__FRAMEWORK_MESSAGE__INIT;
    fm.framework_id = fw->info->id;
    fm.executor_id = msg->executor_id;
    fm.data = msg->data;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__FRAMEWORK_MESSAGE;
    ev.framework_message = &fm;
    cm_master_send_agent(m, a, &ev);
    m->metrics.valid_framework_to_executor_messages++;
}

static void handle_shutdown(struct cm_master *m, struct cm_framework *fw,
                            const Mesos__V1__Scheduler__Call__Shutdown *sd)
{
    struct cm_agent *a = cm_master_agent(m, sd->agent_id->value);
    if (!a || !a->connected) {
        CM_WARN(MOD, "Cannot shut down executor %s: agent %s is not connected",
                sd->executor_id->value, sd->agent_id->value);
        return;
    }
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__ShutdownExecutor se =
        CMESOS__INTERNAL__AGENT_EVENT__SHUTDOWN_EXECUTOR__INIT;
    se.framework_id = fw->info->id;
    se.executor_id = sd->executor_id;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_EXECUTOR;
    ev.shutdown_executor = &se;
    cm_master_send_agent(m, a, &ev);
}

static int handle_update_framework(struct cm_master *m, struct cm_framework *fw,
                                   const Mesos__V1__Scheduler__Call__UpdateFramework *uf, char *why,
                                   size_t whylen)
{
    const Mesos__V1__FrameworkInfo *info = uf->framework_info;
    if (cm_master_validate_framework_info(m, info, uf->suppressed_roles, uf->n_suppressed_roles,
                                          why, whylen))
        return 400;
    const char *oldp = fw->info->principal, *newp = info->principal;
    const char *bad = NULL;
    if (strcmp(info->user, fw->info->user) != 0)
        bad = "Updating 'FrameworkInfo.user' is unsupported";
    else if ((info->has_checkpoint && info->checkpoint) !=
             (fw->info->has_checkpoint && fw->info->checkpoint))
        bad = "Updating 'FrameworkInfo.checkpoint' is unsupported";
    else if ((oldp || newp) && (!oldp || !newp || strcmp(oldp, newp) != 0))
        bad = "Changing framework's principal is not allowed.";
    if (bad) {
        snprintf(why, whylen, "%s", bad);
        return 400;
    }
    cm_master_apply_framework_info(m, fw, info, uf->suppressed_roles, uf->n_suppressed_roles);
    return 200;
}

/* ------------------------------------------------------------------------------------------ */
/* authentication and authorization of SUBSCRIBE (docs/security.md) */

/* Returns 0, or 403 with why: the FrameworkInfo must carry the authenticated principal; an
 * existing framework id stays with the principal it subscribed with (answered before any
 * stream opens, so the owner keeps its stream); register_frameworks must allow every role. */
static int check_subscribe(struct cm_master *m, const Mesos__V1__FrameworkInfo *info,
                           const char *principal, char *why, size_t whylen)
{
    const char *claimed = info->principal && info->principal[0] ? info->principal : NULL;
    if (principal && (!claimed || strcmp(claimed, principal) != 0))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Authenticated principal '%s' does not match principal '%s' set in "
                       "FrameworkInfo",
                       principal, claimed ? claimed : ""),
               403;
    const char *id = info->id && info->id->value && info->id->value[0] ? info->id->value : NULL;
    struct cm_framework *fw = id ? cm_master_framework(m, id) : NULL;
    if (fw) {
        const char *owner =
            fw->info->principal && fw->info->principal[0] ? fw->info->principal : NULL;
        if ((owner || claimed) && (!owner || !claimed || strcmp(owner, claimed) != 0)) {
            CM_WARN(MOD,
                    "Refusing SUBSCRIBE for framework %s by principal '%s': it belongs to '%s'", id,
                    claimed ? claimed : "", owner ? owner : "");
            return cm_fail(CM_EINVAL, why, whylen,
                           "Framework %s is registered by another principal; refusing "
                           "principal '%s'",
                           id, claimed ? claimed : ""),
                   403;
        }
        if (fw->connected && !principal)
            CM_WARN(MOD,
                    "Unauthenticated SUBSCRIBE for connected framework %s: failing over to the "
                    "new stream (turn on --authenticate_http_frameworks to bind it to a "
                    "principal)",
                    id);
    }
    const char *roles[64];
    size_t n = cm_master_framework_info_roles(info, roles, sizeof roles / sizeof roles[0]);
    for (size_t i = 0; i < n; i++) {
        if (!cm_acls_allowed(m->acls, CM_ACL_REGISTER_FRAMEWORK, claimed, roles[i]))
            return cm_fail(CM_EINVAL, why, whylen,
                           "Not authorized to register_frameworks with role '%s' as principal "
                           "'%s'",
                           roles[i], claimed ? claimed : "(none)"),
                   403;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* the request decision (§2.1) */

#define RESULT(c, ...)                                                                             \
    do {                                                                                           \
        res->code = (c);                                                                           \
        snprintf(res->text, sizeof res->text, __VA_ARGS__);                                        \
        goto out;                                                                                  \
    } while (0)

void cm_master_scheduler_request(struct cm_master *m, const struct cm_sched_request *req,
                                 struct cm_sched_result *res)
{
    Call *call = NULL;
    char why[768];
    memset(res, 0, sizeof *res);

    const struct cm_contender *c = m->contender;
    if (!c->ops->is_leader(c)) {
        char leader[300];
        if (c->ops->leader(c, leader, sizeof leader))
            RESULT(307, "//%s/master/api/v1/scheduler", leader);
        RESULT(503, "No leader elected");
    }
    if (c->ops->recovering(c) || !cm_registrar_recovered(m->registrar))
        RESULT(503, "Master has not finished recovery");
    if (strcmp(req->method, "POST") != 0)
        RESULT(405, "Expecting a 'POST' request, received '%s'", req->method);
    if (!req->content_type)
        RESULT(400, "Expecting 'Content-Type' to be present");
    enum cm_media ct = cm_http_content_type(req->content_type);
    if (ct != CM_MEDIA_JSON && ct != CM_MEDIA_PROTOBUF)
        RESULT(415, "Expecting 'Content-Type' of application/json or application/x-protobuf");
    /* One decode for both media: required fields and enums are checked there, so a call with
     * an undeclared value in a required enum (say TaskStatus.state) is answered 400 naming it,
     * and an undeclared optional enum arrives unset. */
    ProtobufCMessage *msg = NULL;
    int rc = cm_pb_decode(&mesos__v1__scheduler__call__descriptor, ct, req->body, req->body_len,
                          &msg, why, sizeof why);
    if (rc == CM_EPARSE && ct == CM_MEDIA_JSON)
        RESULT(400, "Failed to parse body into JSON: %s", why);
    if (rc == CM_EPARSE)
        RESULT(400, "Failed to parse body into Call protobuf");
    if (rc && ct == CM_MEDIA_JSON)
        RESULT(400, "Failed to convert JSON into Call protobuf: %s", why);
    if (rc)
        RESULT(400, "Failed to parse body into Call protobuf: %s", why);
    call = (Call *)msg;
    if (cm_master_validate_call(call, why, sizeof why))
        RESULT(400, "Failed to validate scheduler::Call: %s", why);

    const char *principal = req->principal && req->principal[0] ? req->principal : NULL;
    if (cm_master_auth_frameworks(m) && !principal)
        RESULT(401, "Framework authentication is required (--authenticate_http_frameworks)");

    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        enum cm_media media = cm_http_negotiate(req->accept);
        if (media == CM_MEDIA_NONE || media == CM_MEDIA_UNSUPPORTED)
            RESULT(406, "Expecting 'Accept' to allow application/json or "
                        "application/x-protobuf");
        if (req->stream_id)
            RESULT(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
        if ((rc = check_subscribe(m, call->subscribe->framework_info, principal, why,
                                  sizeof why)) != 0)
            RESULT(rc, "%s", why);
        res->code = 200;
        res->media = media;
        res->call = call;
        return;
    }

    struct cm_framework *fw = cm_master_framework(m, call->framework_id->value);
    if (!fw)
        RESULT(400, "Framework cannot be found");
    if (!fw->connected)
        RESULT(403, "Framework is not subscribed");
    if (!req->stream_id)
        RESULT(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
    if (strcmp(req->stream_id, fw->stream_id) != 0)
        RESULT(400,
               "The stream ID '%s' included in this request didn't match the stream ID "
               "currently associated with framework ID %s",
               req->stream_id, fw->id);
    if (principal && (!fw->info->principal || strcmp(principal, fw->info->principal) != 0))
        RESULT(403, "Authenticated principal '%s' is not the principal of framework %s", principal,
               fw->id);

    fw->metrics.calls++;
    if (call->type < CM_MASTER_NCALL_TYPES)
        fw->metrics.call_types[call->type]++;
    CM_DEBUG(MOD, "Processing %s call from framework %s", call_type_name(call->type), fw->id);
    res->code = 202;
    switch (call->type) {
    case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
        m->metrics.messages_unregister_framework++;
        cm_master_remove_framework(m, fw);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT: handle_accept(m, fw, call->accept); break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE: handle_decline(m, fw, call->decline); break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE: {
        m->metrics.messages_revive_offers++;
        size_t n = call->revive ? call->revive->n_roles : 0;
        char **roles = call->revive ? call->revive->roles : NULL;
        set_suppressed(fw, roles, n, false);
        cm_allocator_revive(m->allocator, fw->id, (const char *const *)roles, n);
        cm_master_allocate_soon(m);
        break;
    }
    case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS: {
        m->metrics.messages_suppress_offers++;
        size_t n = call->suppress ? call->suppress->n_roles : 0;
        char **roles = call->suppress ? call->suppress->roles : NULL;
        set_suppressed(fw, roles, n, true);
        cm_allocator_suppress(m->allocator, fw->id, (const char *const *)roles, n);
        break;
    }
    case MESOS__V1__SCHEDULER__CALL__TYPE__KILL: handle_kill(m, fw, call->kill); break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN: handle_shutdown(m, fw, call->shutdown); break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
        handle_acknowledge(m, fw, call->acknowledge);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
        handle_reconcile(m, fw, call->reconcile);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE: handle_message(m, fw, call->message); break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST:
        /* Passed to the allocator in Mesos, where the default allocator ignores it. */
        m->metrics.messages_resource_request++;
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS:
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS:
        break; /* no maintenance, so no inverse offers exist */
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS:
        break; /* no operation feedback is generated yet */
    case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS:
        m->metrics.messages_reconcile_operations++;
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK:
        res->code = handle_update_framework(m, fw, call->update_framework, why, sizeof why);
        if (res->code != 200)
            snprintf(res->text, sizeof res->text, "%s", why);
        break;
    default: RESULT(501, "Received an unexpected '%s' call", call_type_name(call->type));
    }
out:
    if (call)
        protobuf_c_message_free_unpacked(&call->base, NULL);
}
