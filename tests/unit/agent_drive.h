/*
 * agent_drive.h: drives the agent core in-process without a master (shared by
 * test_agent_core.c and the libFuzzer harness tests/fuzz/fuzz_agent.c). Its link is a capture
 * (struct cm_agent_link) that records every call and through which the master's events are
 * injected as packed records; the clock is fake; executors are a shell script run by the posix
 * launcher (what it does is chosen by CM_TEST_EXECUTOR: "exit", "late" or, by default, sleep
 * 60s) while the caller plays its executor API calls in-process (cm_agent_executor_call with
 * a callback).
 *
 * Header-only (static inline functions).
 */
#ifndef CM_AGENT_DRIVE_H
#define CM_AGENT_DRIVE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_internal.h"
#include "agent_link.h"
#include "agent_updates.h"
#include "agent_xapi.h"
#include "codec.h"
#include "log.h"

#define FID "fw-1"
#define AID "agent-1"
#define MAXCAP 4096

/* ---- the capture link ---- */

struct link_cap {
    Cmesos__Internal__AgentCall *calls[MAXCAP];
    size_t n;
    int opens, closes;
    Cmesos__Internal__AgentCall *reg; /* the last REGISTER */
    /* STATUS_UPDATE calls that carried several updates (each update is also recorded as a
     * call of its own, in the single form, so the tests look at updates one by one). */
    size_t update_batches, batched_updates;
    struct cm_agent *agent; /* for cap_sync */
};

/* The agent sends the status updates of a loop turn together at the end of the turn; the
 * tests look right after an action, so the updates held are sent now. */
static inline void cap_sync(const struct link_cap *c)
{
    if (c->agent)
        agent_updates_flush(c->agent);
}

static inline int cap_open(void *arg, const char *leader, const Cmesos__Internal__AgentCall *reg,
                           char *why, size_t whylen)
{
    (void)leader;
    (void)why;
    (void)whylen;
    struct link_cap *c = arg;
    c->opens++;
    if (c->reg)
        protobuf_c_message_free_unpacked(&c->reg->base, NULL);
    c->reg = cm_pb_dup(&reg->base);
    return 0;
}

static inline int cap_send(void *arg, const Cmesos__Internal__AgentCall *call)
{
    struct link_cap *c = arg;
    if (call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE &&
        call->n_status_updates > 0) {
        c->update_batches++;
        c->batched_updates += call->n_status_updates;
        for (size_t i = 0; i < call->n_status_updates && c->n < MAXCAP; i++) {
            Cmesos__Internal__AgentCall one = *call;
            one.status_update = call->status_updates[i];
            one.n_status_updates = 0;
            one.status_updates = NULL;
            c->calls[c->n++] = cm_pb_dup(&one.base);
        }
        return 0;
    }
    if (c->n < MAXCAP)
        c->calls[c->n++] = cm_pb_dup(&call->base);
    return 0;
}

static inline void cap_close(void *arg)
{
    ((struct link_cap *)arg)->closes++;
}

static inline void link_clear(struct link_cap *c)
{
    for (size_t i = 0; i < c->n; i++)
        protobuf_c_message_free_unpacked(&c->calls[i]->base, NULL);
    c->n = 0;
}

/* ---- the executor side ---- */

struct exec_cap {
    Mesos__V1__Executor__Event *ev[256];
    size_t n;
};

static inline void exec_cb(void *arg, const Mesos__V1__Executor__Event *ev)
{
    struct exec_cap *c = arg;
    if (c->n < 256)
        c->ev[c->n++] = cm_pb_dup(&ev->base);
}

static inline void exec_clear(struct exec_cap *c)
{
    for (size_t i = 0; i < c->n; i++)
        protobuf_c_message_free_unpacked(&c->ev[i]->base, NULL);
    c->n = 0;
}

struct fx {
    char dir[64], work[128], launcher[128];
    char *argv[16];
    int argc;
    struct cm_agent_flags flags;
    struct cm_fake_clock clock;
    struct event_base *base;
    struct cm_agent *a;
    struct link_cap link;
};

#define PUMP_UNTIL(f, cond, ms)                                                                    \
    do {                                                                                           \
        for (int i_ = 0; i_ < (ms) / 5 && !(cond); i_++) {                                         \
            event_base_loop((f)->base, EVLOOP_NONBLOCK);                                           \
            usleep(5000);                                                                          \
        }                                                                                          \
        event_base_loop((f)->base, EVLOOP_NONBLOCK);                                               \
    } while (0)

/* The executor is a script: the tests play its API calls, the process only has to live (or
 * exit) the way the case needs, chosen by CM_TEST_EXECUTOR in the inherited environment. */
static inline void write_executor(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/mesos-executor", dir);
    FILE *fp = fopen(path, "w");
    if (!fp)
        abort();
    fputs("#!/bin/sh\n"
          "case \"$CM_TEST_EXECUTOR\" in\n"
          "  exit) exit 0 ;;\n"
          "  late) sleep 0.4; exit 0 ;;\n"
          "  *) exec sleep 60 ;;\n"
          "esac\n",
          fp);
    fclose(fp);
    chmod(path, 0755);
}

static inline void fx_flags(struct fx *f)
{
    f->argc = 0;
    f->argv[f->argc++] = "mesos-agent";
    f->argv[f->argc++] = "--master=127.0.0.1:5050";
    static char work[160], launcher[160];
    snprintf(work, sizeof work, "--work_dir=%s", f->work);
    snprintf(launcher, sizeof launcher, "--launcher_dir=%s", f->launcher);
    f->argv[f->argc++] = work;
    f->argv[f->argc++] = launcher;
    f->argv[f->argc++] = "--ip=127.0.0.1";
    f->argv[f->argc++] = "--hostname=localhost";
    f->argv[f->argc++] = "--port=0";
    f->argv[f->argc++] = "--launcher=posix";
    f->argv[f->argc++] = "--isolation=posix/cpu,posix/mem";
    f->argv[f->argc++] = "--resources=cpus:4;mem:2048;disk:1024;ports:[31000-32000]";
    f->argv[f->argc++] = "--executor_shutdown_grace_period=2secs";
    f->argv[f->argc++] = "--executor_reregistration_timeout=10secs";
    f->argv[f->argc++] = "--logging_level=WARNING";
    f->argv[f->argc] = NULL;
}

static inline int fx_agent(struct fx *f)
{
    cm_agent_flags_init(&f->flags);
    fx_flags(f);
    char why[512];
    if (cm_agent_flags_parse(&f->flags, f->argc, f->argv, why, sizeof why) != 0) {
        fprintf(stderr, "flags: %s\n", why);
        return -1;
    }
    struct cm_agent_link link = {cap_open, cap_send, cap_close, &f->link};
    if (cm_agent_new_with(f->base, &f->flags, &f->clock.clock, &link, &f->a, why, sizeof why) !=
        0) {
        fprintf(stderr, "agent: %s\n", why);
        cm_agent_flags_cleanup(&f->flags);
        return -1;
    }
    f->link.agent = f->a;
    return 0;
}

static inline int fx_init(struct fx *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/agent-core-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->work, sizeof f->work, "%s/work", f->dir);
    snprintf(f->launcher, sizeof f->launcher, "%s/bin", f->dir);
    mkdir(f->launcher, 0755);
    write_executor(f->launcher);
    cm_fake_clock_init(&f->clock, 1000000);
    f->base = event_base_new();
    cm_log_set_level(CM_LOG_WARNING);
    setenv("CM_TEST_EXECUTOR", "sleep", 1);
    return fx_agent(f);
}

static inline void fx_stop_agent(struct fx *f)
{
    cm_agent_free(f->a);
    f->a = NULL;
    f->link.agent = NULL;
    cm_agent_flags_cleanup(&f->flags);
}

static inline void fx_cleanup(struct fx *f)
{
    fx_stop_agent(f);
    link_clear(&f->link);
    if (f->link.reg)
        protobuf_c_message_free_unpacked(&f->link.reg->base, NULL);
    event_base_free(f->base);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
}

/* ---- events from the "master" (packed, then fed as a record, so decoding is exercised) ---- */

static inline int inject(struct fx *f, Cmesos__Internal__AgentEvent *ev)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&ev->base, CM_MEDIA_PROTOBUF, &buf, &len);
    int rc = cm_agent_link_record(f->a, buf, len);
    free(buf);
    return rc;
}

static inline void ev_registered(struct fx *f)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__Registered r = CMESOS__INTERNAL__AGENT_EVENT__REGISTERED__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = AID;
    r.agent_id = &aid;
    r.has_ping_interval_seconds = 1;
    r.ping_interval_seconds = 15;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED;
    ev.registered = &r;
    inject(f, &ev);
}

/* Injects a RUN_TASK; the executor only waits in the agent's launch queue afterwards. */
static inline void ev_run_task_queued(struct fx *f, const char *fid, const char *tid,
                                      bool checkpoint)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__RunTask rt = CMESOS__INTERNAL__AGENT_EVENT__RUN_TASK__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__Resource cpus = MESOS__V1__RESOURCE__INIT, mem = MESOS__V1__RESOURCE__INIT;
    Mesos__V1__Value__Scalar s1 = MESOS__V1__VALUE__SCALAR__INIT,
                             s2 = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__Resource *res[] = {&cpus, &mem};
    fwid.value = (char *)fid;
    fi.id = &fwid;
    fi.user = getenv("USER") ? getenv("USER") : "root";
    fi.name = "test";
    fi.has_checkpoint = 1;
    fi.checkpoint = checkpoint;
    taskid.value = (char *)tid;
    aid.value = AID;
    ti.name = (char *)tid;
    ti.task_id = &taskid;
    ti.agent_id = &aid;
    cmd.value = "true";
    ti.command = &cmd;
    cpus.name = "cpus";
    cpus.type = MESOS__V1__VALUE__TYPE__SCALAR;
    s1.value = 0.1;
    cpus.scalar = &s1;
    mem.name = "mem";
    mem.type = MESOS__V1__VALUE__TYPE__SCALAR;
    s2.value = 32;
    mem.scalar = &s2;
    ti.resources = res;
    ti.n_resources = 2;
    rt.framework_info = &fi;
    rt.task = &ti;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK;
    ev.run_task = &rt;
    inject(f, &ev);
}

/* Injects a RUN_TASK and turns the loop until the agent started every queued executor. */
static inline void ev_run_task(struct fx *f, const char *fid, const char *tid, bool checkpoint)
{
    ev_run_task_queued(f, fid, tid, checkpoint);
    PUMP_UNTIL(f, f->a->launch_head == NULL, 2000);
}

/* Starts the agent and brings it to REGISTERED. */
static inline int fx_up(struct fx *f)
{
    if (fx_init(f) != 0)
        return -1;
    PUMP_UNTIL(f, f->link.opens > 0, 2000);
    if (f->link.opens == 0)
        return -1;
    ev_registered(f);
    return f->a->registered ? 0 : -1;
}

static inline struct agent_executor *executor_of(struct fx *f, const char *fid, const char *eid)
{
    struct agent_framework *fw = cm_strmap_get(&f->a->frameworks, fid);
    return fw ? cm_strmap_get(&fw->executors, eid) : NULL;
}

/* The newest run of executor eid that ended (live, or moved to the completed rings of its
 * framework or of a completed framework), or NULL. A command executor's exit is not reported
 * to the master (as in Mesos), so the tests look here for its wait status. */
static inline const struct agent_executor *exited_executor(struct fx *f, const char *fid,
                                                           const char *eid)
{
    const struct agent_executor *e = executor_of(f, fid, eid);
    if (e && e->state == EXECUTOR_TERMINATED && e->pid == 0)
        return e;
    const struct agent_framework *fws[1 + CM_AGENT_MAX_COMPLETED_FRAMEWORKS];
    size_t nf = 0;
    struct agent_framework *live = cm_strmap_get(&f->a->frameworks, fid);
    if (live)
        fws[nf++] = live;
    for (size_t i = cm_ring_count(&f->a->completed_frameworks); i-- > 0;) {
        const struct agent_framework *cf = cm_ring_at(&f->a->completed_frameworks, i);
        if (nf < sizeof fws / sizeof *fws && strcmp(cf->id, fid) == 0)
            fws[nf++] = cf;
    }
    for (size_t k = 0; k < nf; k++)
        for (size_t i = cm_ring_count(&fws[k]->completed_executors); i-- > 0;) {
            const struct agent_executor *ce = cm_ring_at(&fws[k]->completed_executors, i);
            if (strcmp(ce->id, eid) == 0 && ce->state == EXECUTOR_TERMINATED)
                return ce;
        }
    return NULL;
}

/* ---- executor calls ---- */

static inline int xcall_raw(struct fx *f, enum cm_media media, const void *body, size_t len,
                            struct exec_cap *cap, char *why, size_t whylen)
{
    struct cm_agent_exec_client c = {.cb = exec_cb, .arg = cap};
    return cm_agent_executor_call(f->a, media, body, len, CM_MEDIA_PROTOBUF, &c, why, whylen);
}

static inline int xcall(struct fx *f, Mesos__V1__Executor__Call *call, struct exec_cap *cap,
                        char *why, size_t whylen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cm_pb_encode(&call->base, CM_MEDIA_PROTOBUF, &buf, &len);
    int code = xcall_raw(f, CM_MEDIA_PROTOBUF, buf, len, cap, why, whylen);
    free(buf);
    return code;
}

static inline int subscribe(struct fx *f, const char *fid, const char *eid, struct exec_cap *cap)
{
    Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
    Mesos__V1__Executor__Call__Subscribe sub = MESOS__V1__EXECUTOR__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkID fwid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__ExecutorID exid = MESOS__V1__EXECUTOR_ID__INIT;
    fwid.value = (char *)fid;
    exid.value = (char *)eid;
    call.framework_id = &fwid;
    call.executor_id = &exid;
    call.has_type = 1;
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    char why[512];
    return xcall(f, &call, cap, why, sizeof why);
}

/* Fuzzing logs every refusal; keep the test output readable. */
static inline FILE *quiet_logs(void)
{
    FILE *null = fopen("/dev/null", "w");
    if (null)
        cm_log_set_file(null);
    return null;
}

static inline void loud_logs(FILE *null)
{
    cm_log_set_file(NULL);
    if (null)
        fclose(null);
}

#endif
