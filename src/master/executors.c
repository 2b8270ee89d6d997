/* executors.c: custom executors in the master — the ExecutorInfos of tasks launched with one,
 * their resources (accounted on the framework, the agent and in the allocator until the agent
 * reports the exit), and what a re-registering agent says runs. Part of the master's core: it
 * calls only the core and src/common. See master.h.
 *
 * As in Mesos, the executors the agent generates for command tasks are not the master's: they
 * are never recorded here, and a re-registering agent's report of them is ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "codec.h"
#include "log.h"
#include "master.h"
#include "util.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define MOD "master"

static void key2(char *buf, size_t len, const char *a, const char *b)
{
    snprintf(buf, len, "%s %s", a, b);
}

struct cm_executor *cm_master_executor(const struct cm_agent *a, const char *fid, const char *eid)
{
    char key[600];
    key2(key, sizeof key, fid, eid);
    return cm_strmap_get((struct cm_strmap *)&a->executors, key);
}

struct cm_executor *cm_master_add_executor(struct cm_master *m, struct cm_framework *fw,
                                           struct cm_agent *agent,
                                           const Mesos__V1__ExecutorInfo *info,
                                           const struct cm_resources *res, const char *role)
{
    (void)m;
    struct cm_executor *e = cm_xcalloc(1, sizeof *e);
    e->id = cm_xstrdup(info->executor_id->value);
    e->fw = fw;
    e->agent = agent;
    e->role = cm_xstrdup(role);
    e->info = (Mesos__V1__ExecutorInfo *)cm_pb_dup(&info->base);
    if (!e->info->framework_id) {
        e->info->framework_id = cm_xcalloc(1, sizeof *e->info->framework_id);
        mesos__v1__framework_id__init(e->info->framework_id);
        e->info->framework_id->value = cm_xstrdup(fw->id);
    }
    cm_resources_init(&e->resources);
    cm_resources_copy(&e->resources, res);
    char key[600];
    key2(key, sizeof key, fw->id, e->id);
    cm_strmap_put(&agent->executors, key, e);
    key2(key, sizeof key, agent->id, e->id);
    cm_strmap_put(&fw->executors, key, e);
    cm_resources_add(&fw->used, res);
    cm_resources_add(&agent->used, res);
    CM_INFO(MOD, "Added executor '%s' of framework %s on agent %s", e->id, fw->id, agent->id);
    return e;
}

static void executor_free(struct cm_executor *e)
{
    cm_resources_cleanup(&e->resources);
    if (e->info)
        protobuf_c_message_free_unpacked(&e->info->base, NULL);
    free(e->role);
    free(e->id);
    free(e);
}

void cm_master_remove_executor(struct cm_master *m, struct cm_executor *e, bool recover)
{
    char key[600];
    key2(key, sizeof key, e->fw->id, e->id);
    cm_strmap_remove(&e->agent->executors, key);
    key2(key, sizeof key, e->agent->id, e->id);
    cm_strmap_remove(&e->fw->executors, key);
    if (recover)
        cm_allocator_recover(m->allocator, e->fw->id, e->role, e->agent->id, &e->resources, 0);
    cm_resources_subtract(&e->fw->used, &e->resources);
    cm_resources_subtract(&e->agent->used, &e->resources);
    CM_INFO(MOD, "Removed executor '%s' of framework %s on agent %s", e->id, e->fw->id,
            e->agent->id);
    executor_free(e);
}

void cm_master_executor_exited(struct cm_master *m, struct cm_agent *a, const char *fid,
                               const char *eid)
{
    struct cm_executor *e = cm_master_executor(a, fid, eid);
    if (e)
        cm_master_remove_executor(m, e, true);
}

/* Collects the values of a map first: removal edits it. */
static struct cm_executor **collect(struct cm_strmap *map, size_t *n)
{
    *n = cm_strmap_count(map);
    struct cm_executor **v = cm_xcalloc(*n + 1, sizeof *v);
    size_t i = 0;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, map); cm_strmap_iter_next(&it);)
        v[i++] = it.cur->value;
    return v;
}

void cm_master_remove_framework_executors(struct cm_master *m, struct cm_framework *fw)
{
    size_t n;
    struct cm_executor **v = collect(&fw->executors, &n);
    for (size_t i = 0; i < n; i++)
        cm_master_remove_executor(m, v[i], true);
    free(v);
}

bool cm_master_executor_is_command(const Mesos__V1__ExecutorInfo *info)
{
    /* The agent's command executors are DEFAULT-typed and named "Command Executor (Task: ...";
     * a framework cannot launch a DEFAULT executor with LAUNCH (validation refuses it). */
    return info->has_type && info->type == MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT && info->name &&
           strncmp(info->name, "Command Executor", 16) == 0;
}

static const char *executor_role(const Mesos__V1__ExecutorInfo *info, const struct cm_framework *fw)
{
    for (size_t i = 0; i < info->n_resources; i++)
        if (info->resources[i]->allocation_info && info->resources[i]->allocation_info->role)
            return info->resources[i]->allocation_info->role;
    return fw->nroles ? fw->roles[0] : "*";
}

static struct cm_framework *
framework_of(struct cm_master *m, const Cmesos__Internal__AgentCall__Register *reg, const char *fid)
{
    struct cm_framework *fw = cm_master_framework(m, fid);
    if (fw || cm_strmap_get(&m->completed, fid))
        return fw;
    for (size_t i = 0; i < reg->n_frameworks; i++)
        if (reg->frameworks[i]->id && strcmp(reg->frameworks[i]->id->value, fid) == 0)
            return cm_master_recover_framework(m, reg->frameworks[i]);
    return NULL;
}

void cm_master_reconcile_executors(struct cm_master *m, struct cm_agent *a,
                                   const Cmesos__Internal__AgentCall__Register *reg, bool known)
{
    struct cm_strmap reported;
    cm_strmap_init(&reported);
    for (size_t i = 0; i < reg->n_executors; i++) {
        const Mesos__V1__ExecutorInfo *info = reg->executors[i];
        if (!info->executor_id || !info->framework_id || cm_master_executor_is_command(info))
            continue;
        const char *fid = info->framework_id->value, *eid = info->executor_id->value;
        char key[600];
        key2(key, sizeof key, fid, eid);
        cm_strmap_put(&reported, key, (void *)info);
        if (cm_master_executor(a, fid, eid))
            continue;
        struct cm_framework *fw = framework_of(m, reg, fid);
        if (!fw) {
            CM_WARN(MOD, "Agent %s reports executor '%s' of unknown framework %s", a->id, eid, fid);
            continue;
        }
        struct cm_resources res;
        cm_resources_init(&res);
        char why[256];
        if (cm_resources_from_proto(&res, info->resources, info->n_resources, why, sizeof why) !=
            0) {
            CM_WARN(MOD, "Agent %s reports executor '%s' with invalid resources: %s", a->id, eid,
                    why);
            cm_resources_cleanup(&res);
            continue;
        }
        const char *role = executor_role(info, fw);
        cm_master_add_executor(m, fw, a, info, &res, role);
        cm_allocator_allocate(m->allocator, fw->id, role, a->id, &res);
        cm_resources_cleanup(&res);
    }
    if (known) {
        size_t n;
        struct cm_executor **v = collect(&a->executors, &n);
        for (size_t i = 0; i < n; i++) {
            char key[600];
            key2(key, sizeof key, v[i]->fw->id, v[i]->id);
            if (!cm_strmap_get(&reported, key)) {
                CM_WARN(MOD, "Executor '%s' of framework %s is unknown to re-registered agent %s",
                        v[i]->id, v[i]->fw->id, a->id);
                cm_master_remove_executor(m, v[i], true);
            }
        }
        free(v);
    }
    cm_strmap_cleanup(&reported);
}

void cm_master_executors_free_agent(struct cm_agent *a)
{
    size_t n;
    struct cm_executor **v = collect(&a->executors, &n);
    for (size_t i = 0; i < n; i++) {
        char key[600];
        key2(key, sizeof key, a->id, v[i]->id);
        cm_strmap_remove(&v[i]->fw->executors, key);
        cm_resources_subtract(&v[i]->fw->used, &v[i]->resources);
        executor_free(v[i]);
    }
    free(v);
    cm_strmap_cleanup(&a->executors);
}

void cm_master_executors_free_framework(struct cm_framework *fw)
{
    size_t n;
    struct cm_executor **v = collect(&fw->executors, &n);
    for (size_t i = 0; i < n; i++) {
        char key[600];
        key2(key, sizeof key, fw->id, v[i]->id);
        cm_strmap_remove(&v[i]->agent->executors, key);
        cm_resources_subtract(&v[i]->agent->used, &v[i]->resources);
        executor_free(v[i]);
    }
    free(v);
    cm_strmap_cleanup(&fw->executors);
}

json_t *cm_master_executor_json(const struct cm_executor *e)
{
    const Mesos__V1__ExecutorInfo *info = e->info;
    json_t *o = json_object();
    json_object_set_new(o, "executor_id", json_string(e->id));
    json_object_set_new(o, "name", json_string(info->name ? info->name : ""));
    json_object_set_new(o, "framework_id", json_string(e->fw->id));
    if (info->has_type)
        json_object_set_new(o, "type",
                            json_string(cm_enum_name_or(&mesos__v1__executor_info__type__descriptor,
                                                        info->type, "UNKNOWN")));
    if (info->command)
        json_object_set_new(o, "command", cm_pbjson_to_json(&info->command->base));
    json_object_set_new(o, "resources", cm_resources_summary_json(&e->resources));
    if (info->labels && info->labels->n_labels) {
        json_t *l = cm_pbjson_to_json(&info->labels->base);
        json_t *arr = json_object_get(l, "labels");
        if (arr)
            json_object_set(o, "labels", arr);
        json_decref(l);
    }
    if (info->container)
        json_object_set_new(o, "container", cm_pbjson_to_json(&info->container->base));
    json_object_set_new(o, "slave_id", json_string(e->agent->id));
    return o;
}
