/*
 * executor_harness.h: drives the command executor's state machine in unit tests without
 * sockets: every Call the executor would send is captured (as a copy), time is a fake clock,
 * and the loop runs in short ticks until the wanted number of calls has been sent.
 * Shared by test_executor_core.c and test_executor_health.c.
 */
#ifndef CM_TEST_EXECUTOR_HARNESS_H
#define CM_TEST_EXECUTOR_HARNESS_H

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "executor.h"

#define MAX_CALLS 32

struct harness {
    struct event_base *base;
    struct cm_fake_clock clock;
    struct cm_exec_env cfg;
    struct cm_executor *ex;
    Mesos__V1__Executor__Call *calls[MAX_CALLS];
    size_t ncalls;
    int exit_code; /* -1 until on_exit */
};

static inline int capture(void *arg, const Mesos__V1__Executor__Call *call)
{
    struct harness *h = arg;
    size_t len = mesos__v1__executor__call__get_packed_size(call);
    uint8_t *buf = malloc(len ? len : 1);
    mesos__v1__executor__call__pack(call, buf);
    Mesos__V1__Executor__Call *copy = mesos__v1__executor__call__unpack(NULL, len, buf);
    free(buf);
    if (copy && h->ncalls < MAX_CALLS)
        h->calls[h->ncalls++] = copy;
    else if (copy)
        mesos__v1__executor__call__free_unpacked(copy, NULL);
    return 0;
}

static inline void on_exit_cb(void *arg, int code)
{
    struct harness *h = arg;
    h->exit_code = code;
    event_base_loopbreak(h->base);
}

/* Creates an executor configured from envp whose calls land in h->calls. */
static inline int harness_start(struct harness *h, char **envp)
{
    char why[256];
    memset(h, 0, sizeof *h);
    h->exit_code = -1;
    h->base = event_base_new();
    cm_fake_clock_init(&h->clock, 1000.0);
    if (!h->base || cm_exec_env_from_env(&h->cfg, envp, why, sizeof why) != 0)
        return -1;
    struct cm_executor_opts o = {.base = h->base,
                                 .cfg = &h->cfg,
                                 .clock = &h->clock.clock,
                                 .envp = envp,
                                 .send = capture,
                                 .send_arg = h,
                                 .on_exit = on_exit_cb,
                                 .exit_arg = h,
                                 .exit_delay = 0};
    h->ex = cm_executor_new(&o);
    return h->ex ? 0 : -1;
}

static inline void harness_cleanup(struct harness *h)
{
    cm_executor_free(h->ex);
    for (size_t i = 0; i < h->ncalls; i++)
        mesos__v1__executor__call__free_unpacked(h->calls[i], NULL);
    cm_exec_env_cleanup(&h->cfg);
    event_base_free(h->base);
}

/* Runs the loop until the executor has sent want calls (or exits, or 10 s pass). */
static inline void run_until_calls(struct harness *h, size_t want)
{
    double t0 = cm_monotonic_secs();
    while (h->ncalls < want && h->exit_code < 0 && cm_monotonic_secs() - t0 < 10) {
        struct timeval tick = {0, 20 * 1000};
        event_base_loopexit(h->base, &tick);
        event_base_dispatch(h->base);
    }
}

#endif
