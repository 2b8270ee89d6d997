/*
 * agent_recover.c: the recovery of the agent core (contract in agent_recover.h).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_recover.h"

#include "agent_internal.h"
#include <signal.h>
#include <sys/syscall.h>

#include "agent_ckpt.h"
#include "agent_executors.h"
#include "agent_link.h"
#include "agent_nested.h"
#include "agent_state.h"
#include "log.h"
#include "paths.h"
#include "recover.h"

#define MOD "agent"

void agent_recover_done(struct cm_agent *a)
{
    if (!a->recovering)
        return;
    a->recovering = false;
    if (a->reregister_timer)
        evtimer_del(a->reregister_timer);
    CM_INFO(MOD, "Recovery finished; registering with the master as agent '%s'",
            a->agent_id ? a->agent_id : "(new)");
    agent_link_schedule(a, 0);
}

/* Executors that did not re-subscribe in time are destroyed; their tasks fail when the
 * leader's exit is seen (Mesos: REASON_EXECUTOR_REREGISTRATION_TIMEOUT). */
static void reregister_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    char buf[64];
    cm_duration_format(a->flags->executor_reregistration_timeout, buf, sizeof buf);
    struct cm_strmap_iter fit, eit;
    struct agent_framework *f;
    struct agent_executor *e;
    cm_strmap_iter_init(&fit, &a->frameworks);
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        cm_strmap_iter_init(&eit, &f->executors);
        while ((e = cm_strmap_iter_value(&eit, NULL))) {
            if (!e->recovered || e->state != EXECUTOR_REGISTERING)
                continue;
            CM_WARN(MOD,
                    "Recovered executor '%s' of framework '%s' did not re-subscribe within "
                    "%s; destroying it",
                    e->id, f->id, buf);
            e->failure_reason =
                MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_REREGISTRATION_TIMEOUT;
            free(e->failure_message);
            e->failure_message = cm_xasprintf("Executor did not re-register within %s", buf);
            e->state = EXECUTOR_TERMINATING;
            agent_exec_kill(a, e);
        }
    }
    a->awaiting_executors = 0;
    agent_recover_done(a);
}

static void pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_executor *e = arg;
    agent_exec_exited(e->agent, e, -1);
}

/* Watches a recovered leader that is not our child: a pidfd becomes readable when it exits.
 * Returns false if the process is gone (or is not the one we started: the pid was reused). */
static bool watch_recovered(struct cm_agent *a, struct agent_executor *e,
                            unsigned long long start_time)
{
    unsigned long long now_start = 0;
    if (e->pid <= 1 || cm_ckpt_proc_start_time(e->pid, &now_start) != 0 || now_start != start_time)
        return false;
    int fd = (int)syscall(SYS_pidfd_open, e->pid, 0);
    if (fd < 0) {
        CM_WARN(MOD, "pidfd_open(%d) for executor '%s' failed: %s", (int)e->pid, e->id,
                strerror(errno));
        return false;
    }
    e->pidfd = fd;
    e->pidfd_event = event_new(a->base, fd, EV_READ, pidfd_cb, e);
    event_add(e->pidfd_event, NULL);
    return true;
}

/* Rebuilds one task and replays its update stream into the status update manager (which is
 * not connected yet, so nothing is sent before the agent re-registers). */
/* A checkpointed executor run with no pid and no status update for any of its tasks was never
 * started: the agent died while it waited in the launch queue. */
static bool never_started(const struct cm_rec_executor *re)
{
    if (re->ntasks == 0)
        return false;
    for (size_t k = 0; k < re->ntasks; k++)
        if (re->tasks[k].stream.n > 0)
            return false;
    return true;
}

static void recover_task(struct cm_agent *a, struct agent_executor *e, struct cm_rec_task *rt)
{
    struct agent_framework *f = e->framework;
    struct agent_task *t = cm_xcalloc(1, sizeof *t);
    t->executor = e;
    t->info = rt->info;
    rt->info = NULL;
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    struct cm_ckpt_stream *s = &rt->stream;
    for (size_t i = 0; i < s->n; i++) {
        const Mesos__V1__TaskStatus *st = s->updates[i];
        t->state = st->state;
        cm_sum_update(a->sum, f->id, e->id, st);
        if (t->nstatuses < CM_AGENT_MAX_STATUSES_PER_TASK ||
            i + CM_AGENT_MAX_STATUSES_PER_TASK >= s->n)
            agent_state_task_add_status(t, st);
    }
    for (size_t i = 0; i < s->acked; i++)
        cm_sum_acknowledge(a->sum, f->id, rt->id, s->updates[i]->uuid.data, 16, NULL, NULL);
    /* A task with no update yet was never started by the executor (or the agent died before
     * the LAUNCH went out): it is launched when the executor (re-)subscribes, unless the
     * executor reports it as already received. */
    t->queued = s->n == 0;
    cm_strmap_put(&e->tasks, rt->id, t);
    cm_strmap_put(&f->task_index, rt->id, e);
    if (s->n > 0 && s->acked == s->n && cm_task_state_terminal(t->state)) {
        /* The terminal update was acknowledged; only the cleanup was lost. */
        agent_state_complete_task(a, f, rt->id);
    }
}

/* Kills a leftover executor that --recover=cleanup (or a pid that cannot be re-attached)
 * leaves behind: its whole process group, or with a pid namespace its init. */
static void kill_leftover(pid_t pid, unsigned long long start_time)
{
    unsigned long long now_start = 0;
    if (pid <= 1 || cm_ckpt_proc_start_time(pid, &now_start) != 0 || now_start != start_time)
        return;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

int agent_recover_state(struct cm_agent *a, char *why, size_t whylen)
{
    const struct cm_agent_flags *fl = a->flags;
    bool cleanup = false;
    if (fl->recover && strcmp(fl->recover, "cleanup") == 0)
        cleanup = true;
    else if (fl->recover && strcmp(fl->recover, "reconnect") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'recover': expected 'reconnect' or 'cleanup', got '%s'", fl->recover);
    if (fl->executor_reregistration_timeout < 0 || fl->executor_reregistration_timeout > 15)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'executor_reregistration_timeout' must be at most 15secs");

    struct cm_rec_state rs;
    int rc = cm_recover_read(fl->work_dir, fl->strict, &rs, why, whylen);
    if (rc)
        return rc;
    if (!rs.agent_id) {
        cm_containerizer_recover(a->containerizer, NULL, NULL, 0);
        cm_docker_recover(a->docker, NULL, 0);
        return 0;
    }
    if (cleanup) {
        size_t killed = 0;
        for (size_t i = 0; i < rs.nframeworks; i++)
            for (size_t j = 0; j < rs.frameworks[i].nexecutors; j++) {
                struct cm_rec_executor *re = &rs.frameworks[i].executors[j];
                if (re->pid > 0) {
                    kill_leftover(re->pid, re->start_time);
                    killed++;
                }
            }
        cm_containerizer_recover(a->containerizer, NULL, NULL, 0);
        cm_docker_recover(a->docker, NULL, 0);
        char *slaves = cm_paths_meta_slaves_dir(fl->work_dir);
        rc = cm_paths_rmtree(slaves);
        free(slaves);
        CM_WARN(MOD,
                "--recover=cleanup: killed %zu executor(s) of agent '%s' and removed its "
                "checkpoints; starting as a new agent",
                killed, rs.agent_id);
        cm_recover_state_cleanup(&rs);
        if (rc)
            return cm_fail(rc, why, whylen, "Failed to remove the old checkpoints: %s",
                           cm_strerror(rc));
        return 0;
    }
    rc = cm_recover_check_agent_info(rs.agent_info, &a->total, &a->attributes, why, whylen);
    if (rc) {
        cm_recover_state_cleanup(&rs);
        return rc;
    }
    a->agent_id = cm_xstrdup(rs.agent_id);
    CM_INFO(MOD, "Recovering agent '%s' from %s/meta", a->agent_id, fl->work_dir);

    size_t cap = 1, nadopt = 0;
    for (size_t i = 0; i < rs.nframeworks; i++)
        cap += rs.frameworks[i].nexecutors;
    const char **ids = cm_xcalloc(cap, sizeof *ids);
    pid_t *pids = cm_xcalloc(cap, sizeof *pids);
    struct agent_executor **adopted = cm_xcalloc(cap, sizeof *adopted);
    struct agent_executor **gone = cm_xcalloc(cap, sizeof *gone);
    struct agent_executor **unstarted = cm_xcalloc(cap, sizeof *unstarted);
    size_t ngone = 0, nunstarted = 0;
    for (size_t i = 0; i < rs.nframeworks; i++) {
        struct cm_rec_framework *rf = &rs.frameworks[i];
        struct agent_framework *f = agent_state_framework_new(a, rf->id, rf->info);
        for (size_t j = 0; j < rf->nexecutors; j++) {
            struct cm_rec_executor *re = &rf->executors[j];
            if (!re->container_id || cm_strmap_get(&f->executors, re->id))
                continue;
            struct agent_executor *e = cm_xcalloc(1, sizeof *e);
            e->agent = a;
            e->framework = f;
            e->id = cm_xstrdup(re->id);
            e->info = re->info;
            re->info = NULL;
            snprintf(e->container_id, sizeof e->container_id, "%s", re->container_id);
            e->recovered = true;
            e->state = EXECUTOR_REGISTERING;
            e->failure_reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED;
            e->shutdown_grace = fl->executor_shutdown_grace_period;
            cm_strmap_init(&e->tasks);
            cm_ring_init(&e->completed_tasks, CM_AGENT_MAX_COMPLETED_TASKS, agent_state_task_free);
            cm_resources_init(&e->resources);
            cm_resources_from_proto(&e->resources, e->info->resources, e->info->n_resources, NULL,
                                    0);
            e->directory = cm_paths_sandbox_dir(fl->work_dir, a->agent_id, f->id, e->id,
                                                e->container_id, NULL);
            cm_strmap_put(&f->executors, e->id, e);
            agent_state_sandbox_attach(a, e);
            e->pid = re->pid;
            if (watch_recovered(a, e, re->start_time)) {
                ids[nadopt] = e->container_id;
                pids[nadopt] = e->pid;
                adopted[nadopt++] = e;
            } else if (re->pid <= 0 && never_started(re)) {
                /* Checkpointed and acknowledged, but the agent died before it cloned the
                 * executor (it waited in the launch queue): nothing ran, so it starts now. */
                e->recovered = false;
                e->pid = 0;
                unstarted[nunstarted++] = e;
            } else {
                if (re->pid > 0)
                    CM_WARN(MOD, "Executor '%s' of framework '%s' (pid %d) is gone", e->id, f->id,
                            (int)re->pid);
                e->pid = 0;
                gone[ngone++] = e;
            }
            for (size_t k = 0; k < re->ntasks; k++)
                recover_task(a, e, &re->tasks[k]);
        }
    }
    /* Their nested containers (task groups) come back with them; the containerizer
     * re-attaches both in one go, and its orphan cleanup (which kills a parent's cgroup
     * subtree) spares them. */
    for (size_t i = 0; i < nadopt; i++)
        agent_nested_recover(a, adopted[i]);
    const char **nids;
    pid_t *npids;
    size_t nnested = agent_nested_live(a, &nids, &npids);
    ids = cm_xrealloc(ids, (cap + nnested) * sizeof *ids);
    pids = cm_xrealloc(pids, (cap + nnested) * sizeof *pids);
    for (size_t i = 0; i < nnested; i++) {
        ids[nadopt + i] = nids[i];
        pids[nadopt + i] = npids[i];
    }
    free(nids);
    free(npids);
    cm_containerizer_recover(a->containerizer, ids, pids, nadopt + nnested);
    agent_nested_recovered_limits(a);
    cm_docker_recover(a->docker, ids, nadopt);
    for (size_t i = 0; i < nadopt; i++)
        cm_containerizer_update(a->containerizer, adopted[i]->container_id, &adopted[i]->resources);
    for (size_t i = 0; i < nadopt; i++)
        cm_containerizer_watch_disk(a->containerizer, adopted[i]->container_id,
                                    adopted[i]->directory, &adopted[i]->resources);
    /* After the orphan cleanup above: a container that was cloned but whose pid never reached
     * its checkpoint is killed there, so an unstarted executor cannot run twice, and its
     * launch fails cleanly if that container id is still being torn down. */
    for (size_t i = 0; i < nunstarted; i++)
        agent_exec_start_unstarted(a, unstarted[i]);
    /* Executors that died while the agent was down: their live tasks fail now. */
    for (size_t i = 0; i < ngone; i++) {
        struct agent_executor *e = gone[i];
        free(e->failure_message);
        e->failure_message = cm_xstrdup("Executor terminated while the agent was down");
        e->state = EXECUTOR_TERMINATING;
        agent_exec_exited(a, e, -1);
    }
    /* Frameworks left with nothing (all tasks complete) are done. */
    struct cm_strmap_iter fit;
    struct agent_framework *f;
    cm_strmap_iter_init(&fit, &a->frameworks);
    while ((f = cm_strmap_iter_value(&fit, NULL)))
        if (cm_strmap_count(&f->executors) == 0)
            agent_state_maybe_remove_framework(a, f);
    CM_INFO(MOD, "Recovered %zu framework(s); %zu executor(s) to re-attach, %zu gone%s",
            cm_strmap_count(&a->frameworks), nadopt, ngone,
            rs.errors ? " (some checkpoints were skipped because of errors)" : "");
    a->awaiting_executors = nadopt;
    if (nadopt > 0) {
        a->recovering = true;
        a->reregister_timer = evtimer_new(a->base, reregister_timeout_cb, a);
        double t = fl->executor_reregistration_timeout;
        struct timeval tv = {(time_t)t, (suseconds_t)((t - (time_t)t) * 1e6)};
        evtimer_add(a->reregister_timer, &tv);
    }
    free(ids);
    free(pids);
    free(adopted);
    free(gone);
    free(unstarted);
    cm_recover_state_cleanup(&rs);
    return 0;
}
