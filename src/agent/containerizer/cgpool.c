/*
 * cgpool.c: the ready entries are a small ring of names; the janitor makes them in order.
 */
#include "cgpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "janitor.h"
#include "records.h"
#include "util.h"

#define POOL_MAX 64

struct cm_cgpool {
    struct cm_janitor *janitor;
    struct cm_records *records;
    size_t target;
    uint64_t pids_max;
    char prefix[64];
    unsigned long seq;
    char *ready[POOL_MAX]; /* a ring: head .. head + nready */
    size_t head, nready;
    size_t pending;
    int failed; /* the last creation failed: no refill until a take asks again */
};

struct cm_cgpool *cm_cgpool_new(struct cm_janitor *janitor, struct cm_records *records,
                                size_t target, uint64_t pids_max)
{
    struct cm_cgpool *p = cm_xcalloc(1, sizeof *p);
    p->janitor = janitor;
    p->records = records;
    p->target = target > POOL_MAX ? POOL_MAX : target;
    p->pids_max = pids_max;
    unsigned r = 0;
    FILE *f = fopen("/dev/urandom", "re");
    if (f) {
        if (fread(&r, sizeof r, 1, f) != 1)
            r = 0;
        fclose(f);
    }
    snprintf(p->prefix, sizeof p->prefix, ".pool-%d-%08x-", (int)getpid(), r);
    return p;
}

void cm_cgpool_free(struct cm_cgpool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nready; i++)
        free(p->ready[(p->head + i) % POOL_MAX]);
    free(p);
}

int cm_cgpool_owns(const struct cm_cgpool *p, const char *name)
{
    return strncmp(name, p->prefix, strlen(p->prefix)) == 0;
}

void cm_cgpool_refill(struct cm_cgpool *p)
{
    while (!p->failed && p->nready + p->pending < p->target) {
        char name[96];
        snprintf(name, sizeof name, "%s%lu", p->prefix, p->seq++);
        /* The record first: an entry made by a run that dies is an orphan of the next. */
        if (cm_records_add(p->records, name) != 0) {
            p->failed = 1;
            return;
        }
        if (cm_janitor_create(p->janitor, name, p->pids_max) != 0) {
            cm_records_remove(p->records, name);
            return; /* full or gone: the next take asks again */
        }
        p->pending++;
    }
}

char *cm_cgpool_take(struct cm_cgpool *p)
{
    char *name = NULL;
    if (p->nready) {
        name = p->ready[p->head];
        p->head = (p->head + 1) % POOL_MAX;
        p->nready--;
    }
    p->failed = 0;
    cm_cgpool_refill(p);
    return name;
}

void cm_cgpool_created(struct cm_cgpool *p, const char *name, int rc, const char *why)
{
    (void)why;
    if (p->pending)
        p->pending--;
    if (rc != 0 || p->nready == POOL_MAX) {
        /* Whatever was made is removed by the next start's orphan cleanup (it is recorded);
         * launches make their own cgroups meanwhile. */
        p->failed = rc != 0;
        return;
    }
    p->ready[(p->head + p->nready) % POOL_MAX] = cm_xstrdup(name);
    p->nready++;
    cm_cgpool_refill(p);
}

void cm_cgpool_used(struct cm_cgpool *p, const char *name)
{
    cm_records_remove(p->records, name);
}

size_t cm_cgpool_drain(struct cm_cgpool *p, void (*fn)(void *arg, const char *name), void *arg)
{
    size_t n = 0;
    p->failed = 1; /* no refill from here on */
    while (p->nready) {
        char *name = p->ready[p->head];
        p->head = (p->head + 1) % POOL_MAX;
        p->nready--;
        fn(arg, name);
        free(name);
        n++;
    }
    return n;
}

size_t cm_cgpool_ready(const struct cm_cgpool *p)
{
    return p->nready;
}

size_t cm_cgpool_pending(const struct cm_cgpool *p)
{
    return p->pending;
}
