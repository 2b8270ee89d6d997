/*
 * containerizer.c: the launcher + isolator table and the live-container index.
 */
#include "containerizer.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "hmap.h"
#include "log.h"

#define MAX_ISOLATORS 16

/* posix/cpu and posix/mem only report usage in Mesos; they carry no hooks here yet. */
static const struct cm_isolator_ops posix_cpu = {.name = "posix/cpu"};
static const struct cm_isolator_ops posix_mem = {.name = "posix/mem"};
static const struct cm_isolator_ops posix_disk = {.name = "posix/disk"};

static const struct cm_isolator_ops *const isolator_table[] = {&posix_cpu, &posix_mem, &posix_disk};

struct container {
    pid_t pid;
};

struct cm_containerizer {
    const struct cm_launcher_ops *launcher;
    const struct cm_isolator_ops *isolators[MAX_ISOLATORS];
    void *isolator_state[MAX_ISOLATORS];
    size_t nisolators;
    struct cm_hmap containers; /* container id -> struct container */
};

static const struct cm_isolator_ops *find_isolator(const char *name)
{
    for (size_t i = 0; i < sizeof isolator_table / sizeof isolator_table[0]; i++)
        if (strcmp(isolator_table[i]->name, name) == 0)
            return isolator_table[i];
    return NULL;
}

int cm_containerizer_new(const char *isolation, struct cm_containerizer **out, char *why,
                         size_t whylen)
{
    *out = NULL;
    struct cm_containerizer *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->launcher = &cm_launcher_posix;
    cm_hmap_init(&c->containers);
    char *list = strdup(isolation && *isolation ? isolation : "posix/cpu,posix/mem");
    if (!list)
        abort();
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        const struct cm_isolator_ops *ops = find_isolator(tok);
        if (!ops) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "Unknown or unsupported isolator '%s' in --isolation (supported: "
                         "posix/cpu, posix/mem, posix/disk)",
                         tok);
            break;
        }
        int dup = 0;
        for (size_t i = 0; i < c->nisolators; i++)
            dup |= c->isolators[i] == ops;
        if (dup)
            continue;
        if (c->nisolators == MAX_ISOLATORS) {
            rc = cm_fail(CM_EINVAL, why, whylen, "Too many isolators in --isolation");
            break;
        }
        c->isolator_state[c->nisolators] = ops->create ? ops->create() : NULL;
        c->isolators[c->nisolators++] = ops;
    }
    free(list);
    if (rc != 0) {
        cm_containerizer_free(c);
        return rc;
    }
    for (size_t i = 0; i < c->nisolators; i++)
        if (c->isolators[i]->recover)
            c->isolators[i]->recover(c->isolator_state[i]);
    *out = c;
    return 0;
}

void cm_containerizer_free(struct cm_containerizer *c)
{
    if (!c)
        return;
    struct cm_hmap_iter it;
    cm_hmap_iter_init(&it, &c->containers);
    struct container *ct;
    while ((ct = cm_hmap_iter_next(&it, NULL)))
        free(ct);
    cm_hmap_cleanup(&c->containers);
    for (size_t i = 0; i < c->nisolators; i++)
        if (c->isolators[i]->destroy)
            c->isolators[i]->destroy(c->isolator_state[i]);
    free(c);
}

static void cleanup_isolators(struct cm_containerizer *c, const char *container_id)
{
    for (size_t i = c->nisolators; i-- > 0;)
        if (c->isolators[i]->cleanup)
            c->isolators[i]->cleanup(c->isolator_state[i], container_id);
}

int cm_containerizer_launch(struct cm_containerizer *c, const struct cm_launch_spec *spec,
                            pid_t *pid)
{
    if (cm_hmap_get(&c->containers, spec->container_id))
        return CM_EEXIST;
    int rc = 0;
    for (size_t i = 0; i < c->nisolators && rc == 0; i++)
        if (c->isolators[i]->prepare)
            rc = c->isolators[i]->prepare(c->isolator_state[i], spec);
    if (rc == 0)
        rc = c->launcher->fork(spec, pid);
    if (rc != 0) {
        cleanup_isolators(c, spec->container_id);
        return rc;
    }
    for (size_t i = 0; i < c->nisolators && rc == 0; i++)
        if (c->isolators[i]->isolate)
            rc = c->isolators[i]->isolate(c->isolator_state[i], spec->container_id, *pid);
    struct container *ct = calloc(1, sizeof *ct);
    if (!ct)
        abort();
    ct->pid = *pid;
    cm_hmap_put(&c->containers, spec->container_id, ct);
    if (rc != 0) {
        /* The process exists; kill it and let the reaper finish the cleanup. */
        c->launcher->kill(*pid, SIGKILL, 1);
        return rc;
    }
    return 0;
}

int cm_containerizer_kill(struct cm_containerizer *c, const char *container_id, int sig)
{
    struct container *ct = cm_hmap_get(&c->containers, container_id);
    if (!ct)
        return CM_ENOTFOUND;
    return c->launcher->kill(ct->pid, sig, 1);
}

void cm_containerizer_reaped(struct cm_containerizer *c, const char *container_id)
{
    struct container *ct = cm_hmap_del(&c->containers, container_id);
    if (!ct)
        return;
    /* Tasks the executor forked stay in its group; they must not outlive it. */
    c->launcher->kill(ct->pid, SIGKILL, 0);
    cleanup_isolators(c, container_id);
    free(ct);
}

size_t cm_containerizer_count(const struct cm_containerizer *c)
{
    return cm_hmap_count(&c->containers);
}
