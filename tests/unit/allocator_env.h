/*
 * allocator_env.h: the allocator unit tests' environment: an allocator on a fake clock whose
 * offer callback records each offer (up to MAX_OFFERS per cycle, more aborts), and helpers to
 * parse resources and add agents (a bad resource text aborts: it is a test's own mistake).
 *
 * Header-only (static functions), for test_allocator*.c; the includer includes test.h.
 */
#ifndef CM_ALLOCATOR_ENV_H
#define CM_ALLOCATOR_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "clock.h"

#define MAX_OFFERS 64

struct offer {
    char fw[64], role[64], agent[64];
    struct cm_resources res;
};

struct env {
    struct cm_fake_clock clock;
    struct cm_allocator *a;
    struct offer offers[MAX_OFFERS];
    size_t n;
};

static void on_offer(void *arg, const char *fw, const char *role, const char *agent,
                     const struct cm_resources *res)
{
    struct env *e = arg;
    if (e->n >= MAX_OFFERS)
        abort();
    struct offer *o = &e->offers[e->n++];
    snprintf(o->fw, sizeof o->fw, "%s", fw);
    snprintf(o->role, sizeof o->role, "%s", role);
    snprintf(o->agent, sizeof o->agent, "%s", agent);
    cm_resources_init(&o->res);
    cm_resources_add(&o->res, res);
}

static void clear_offers(struct env *e)
{
    for (size_t i = 0; i < e->n; i++)
        cm_resources_cleanup(&e->offers[i].res);
    e->n = 0;
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof *e);
    cm_fake_clock_init(&e->clock, 1000.0);
    e->a = cm_allocator_new(&e->clock.clock, on_offer, e);
}

static void env_cleanup(struct env *e)
{
    clear_offers(e);
    cm_allocator_free(e->a);
}

static struct cm_resources res(const char *text)
{
    struct cm_resources r;
    char why[256];
    cm_resources_init(&r);
    if (cm_resources_parse(&r, text, NULL, why, sizeof why) != 0) {
        fprintf(stderr, "bad resources %s: %s\n", text, why);
        abort();
    }
    return r;
}

static int add_agent(struct env *e, const char *id, const char *text)
{
    struct cm_resources r = res(text);
    int rc = cm_allocator_add_agent(e->a, id, &r);
    cm_resources_cleanup(&r);
    return rc;
}

/* Runs cycle (cm_allocator_run or cm_allocator_run_dirty) after dropping the previous cycle's
 * records; returns the offers made (aborts if they are not the offers recorded). */
static size_t env_cycle(struct env *e, size_t (*cycle)(struct cm_allocator *))
{
    clear_offers(e);
    size_t n = cycle(e->a);
    if (n != e->n)
        abort();
    return n;
}

#endif
