/* registrar.c: see registrar.h. The in-memory storage keeps packed AgentInfos by agent id. */
#include "registrar.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct mem_entry {
    uint8_t *data;
    size_t len;
};

static void mem_entry_free(struct mem_entry *e)
{
    if (e) {
        free(e->data);
        free(e);
    }
}

static void mem_admit(struct cm_registrar *r, const Mesos__V1__AgentInfo *info,
                      cm_registrar_done_cb cb, void *arg)
{
    struct cm_strmap *map = r->state;
    if (!info->id || !info->id->value) {
        cb(arg, -22);
        return;
    }
    struct mem_entry *e = calloc(1, sizeof *e);
    if (!e)
        abort();
    e->len = protobuf_c_message_get_packed_size(&info->base);
    e->data = malloc(e->len ? e->len : 1);
    if (!e->data)
        abort();
    protobuf_c_message_pack(&info->base, e->data);
    mem_entry_free(cm_strmap_put(map, info->id->value, e));
    cb(arg, 0);
}

static void mem_remove(struct cm_registrar *r, const char *agent_id, cm_registrar_done_cb cb,
                       void *arg)
{
    mem_entry_free(cm_strmap_remove(r->state, agent_id));
    if (cb)
        cb(arg, 0);
}

static size_t mem_count(const struct cm_registrar *r)
{
    return cm_strmap_count((const struct cm_strmap *)r->state);
}

static void mem_destroy(struct cm_registrar *r)
{
    struct cm_strmap *map = r->state;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, map); cm_strmap_iter_next(&it);)
        mem_entry_free(it.cur->value);
    cm_strmap_cleanup(map);
    free(map);
}

static const struct cm_registry_storage_ops mem_ops = {
    .name = "in_memory",
    .admit = mem_admit,
    .remove = mem_remove,
    .count = mem_count,
    .destroy = mem_destroy,
};

static const struct cm_registry_storage_ops *const storages[] = {&mem_ops};

struct cm_registrar *cm_registrar_new(const char *name)
{
    for (size_t i = 0; i < sizeof storages / sizeof storages[0]; i++) {
        if (strcmp(storages[i]->name, name) != 0)
            continue;
        struct cm_registrar *r = calloc(1, sizeof *r);
        struct cm_strmap *map = calloc(1, sizeof *map);
        if (!r || !map)
            abort();
        cm_strmap_init(map);
        r->ops = storages[i];
        r->state = map;
        return r;
    }
    return NULL;
}

void cm_registrar_free(struct cm_registrar *r)
{
    if (!r)
        return;
    r->ops->destroy(r);
    free(r);
}
