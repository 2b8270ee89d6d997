/*
 * agent.c: the agent's lifecycle, master link, executors and status updates.
 */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <unistd.h>

#include "agent_internal.h"
#include "checkpoint.h"
#include "recover.h"
#include <fcntl.h>
#include <sys/syscall.h>

/* Mesos still fills deprecated fields (ExecutorInfo.source, FrameworkInfo.role) for old
 * tooling, so we must read and write them. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include "cmesos/internal.pb-c.h"
#include "codec.h"
#include "errors.h"
#include "executor_api.h"
#include "executor_env.h"
#include "ids.h"
#include "log.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "paths.h"
#include "pbjson.h"
#include "util.h"

#define MOD "agent"
#define MAX_RECORD (16u * 1024u * 1024u)
#define MAX_STATUSES_PER_TASK 32
#define EXECUTOR_OVERHEAD_CPUS 0.1
#define EXECUTOR_OVERHEAD_MEM 32.0

extern char **environ;

/* ---- small helpers ---------------------------------------------------------------------- */

static void pb_free(void *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

static double now(const struct cm_agent *a)
{
    return cm_clock_now(a->clock);
}

/* ---- checkpoints (checkpoint.h, layout in paths.h) ------------------------------------ */

static bool fw_checkpoints(const struct agent_framework *f)
{
    return f && f->info && f->info->has_checkpoint && f->info->checkpoint;
}

static void ckpt_failed(int rc, const char *what, const char *path)
{
    CM_ERROR(MOD, "Failed to checkpoint %s to '%s': %s", what, path ? path : "(invalid id)",
             cm_strerror(rc));
}

static void ckpt_message(const char *path, const ProtobufCMessage *m, const char *what)
{
    int rc = path ? cm_ckpt_write_message(path, m) : CM_EINVAL;
    if (rc)
        ckpt_failed(rc, what, path);
}

static char *meta_task_file(const struct cm_agent *a, const struct agent_executor *e,
                            const char *tid, const char *file)
{
    char *d = cm_paths_meta_task_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id,
                                     e->container_id, tid);
    if (!d)
        return NULL;
    char *p = cm_xasprintf("%s/%s", d, file);
    free(d);
    return p;
}

/* The agent's id and info, so a restart re-registers as the same agent (always written,
 * like Mesos; the rest only for checkpointing frameworks). */
static void ckpt_agent(struct cm_agent *a, const Mesos__V1__AgentInfo *info)
{
    char *path = cm_paths_meta_agent_info(a->flags->work_dir, a->agent_id);
    ckpt_message(path, &info->base, "the agent info");
    free(path);
    char *latest = cm_paths_meta_latest(a->flags->work_dir);
    char *tmp = cm_xasprintf("%s.tmp", latest);
    unlink(tmp);
    if (symlink(a->agent_id, tmp) != 0 || rename(tmp, latest) != 0) {
        ckpt_failed(-errno, "the agent id", latest);
        unlink(tmp);
    } else {
        char *dir = cm_paths_meta_slaves_dir(a->flags->work_dir);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        free(dir);
    }
    free(tmp);
    free(latest);
}

/* Framework, executor and task infos, before anything is launched. */
static void ckpt_launch(struct cm_agent *a, struct agent_executor *e, struct agent_task *t)
{
    const char *wd = a->flags->work_dir, *fid = e->framework->id;
    char *d = cm_paths_meta_framework_dir(wd, a->agent_id, fid);
    char *path = d ? cm_xasprintf("%s/" CM_PATHS_FRAMEWORK_INFO, d) : NULL;
    ckpt_message(path, &e->framework->info->base, "the framework info");
    free(path);
    free(d);
    d = cm_paths_meta_executor_dir(wd, a->agent_id, fid, e->id);
    path = d ? cm_xasprintf("%s/" CM_PATHS_EXECUTOR_INFO, d) : NULL;
    ckpt_message(path, &e->info->base, "the executor info");
    free(path);
    free(d);
    path = meta_task_file(a, e, t->info->task_id->value, CM_PATHS_TASK_INFO);
    ckpt_message(path, &t->info->base, "the task info");
    free(path);
}

/* UPDATE_FRAMEWORK from the master (the framework updated or re-subscribed): the new info
 * replaces ours, except user and checkpoint, which never change for a running framework (the
 * executors run as that user and were set up for that recovery mode); a checkpointing
 * framework's copy on disk is refreshed so a recovered agent reports the new info. */
static void framework_update(struct cm_agent *a, struct agent_framework *f,
                             const Mesos__V1__FrameworkInfo *fi)
{
    Mesos__V1__FrameworkInfo *copy = (Mesos__V1__FrameworkInfo *)cm_pb_dup(&fi->base);
    free(copy->user);
    copy->user = f->info->user ? cm_xstrdup(f->info->user) : NULL;
    copy->has_checkpoint = f->info->has_checkpoint;
    copy->checkpoint = f->info->checkpoint;
    pb_free(f->info);
    f->info = copy;
    CM_INFO(MOD, "Updated the info of framework %s (%s)", f->id, copy->name ? copy->name : "");
    if (!a->agent_id || !fw_checkpoints(f))
        return;
    char *d = cm_paths_meta_framework_dir(a->flags->work_dir, a->agent_id, f->id);
    char *path = d ? cm_xasprintf("%s/" CM_PATHS_FRAMEWORK_INFO, d) : NULL;
    ckpt_message(path, &f->info->base, "the framework info");
    free(path);
    free(d);
}

static void ckpt_pid(struct cm_agent *a, struct agent_executor *e)
{
    char *d = cm_paths_meta_run_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id,
                                    e->container_id);
    if (!d)
        return;
    char *path = cm_xasprintf("%s/" CM_PATHS_FORKED_PID, d);
    unsigned long long start = 0;
    int rc = cm_ckpt_proc_start_time(e->pid, &start);
    if (rc == 0)
        rc = cm_ckpt_write_pid(path, e->pid, start);
    if (rc)
        ckpt_failed(rc, "the executor's pid", path);
    free(path);
    free(d);
}

static void ckpt_update(struct cm_agent *a, struct agent_executor *e,
                        const Mesos__V1__TaskStatus *status)
{
    char *path = meta_task_file(a, e, status->task_id->value, CM_PATHS_TASK_UPDATES);
    int rc = path ? cm_ckpt_append_update(path, status) : CM_EINVAL;
    if (rc)
        ckpt_failed(rc, "a status update", path);
    free(path);
}

static void ckpt_ack(struct cm_agent *a, struct agent_executor *e, const char *tid,
                     const uint8_t *uuid)
{
    char *path = meta_task_file(a, e, tid, CM_PATHS_TASK_UPDATES);
    int rc = path ? cm_ckpt_append_ack(path, uuid) : CM_EINVAL;
    if (rc)
        ckpt_failed(rc, "an acknowledgement", path);
    free(path);
}

static void ckpt_remove(char *path)
{
    if (!path)
        return;
    int rc = cm_paths_rmtree(path);
    if (rc)
        CM_WARN(MOD, "Failed to remove checkpoint '%s': %s", path, cm_strerror(rc));
    free(path);
}

static void recovery_done(struct cm_agent *a);

/* ---- state records ---------------------------------------------------------------------- */

static void task_free(void *p)
{
    struct agent_task *t = p;
    if (!t)
        return;
    pb_free(t->info);
    for (size_t i = 0; i < t->nstatuses; i++)
        pb_free(t->statuses[i]);
    free(t->statuses);
    free(t);
}

/* Appends a copy of st to the task's history, bounded by MAX_STATUSES_PER_TASK: the first
 * (STARTING) and the newest ones are kept. */
static void task_add_status(struct agent_task *t, const Mesos__V1__TaskStatus *st)
{
    if (t->nstatuses == MAX_STATUSES_PER_TASK) {
        pb_free(t->statuses[1]);
        memmove(&t->statuses[1], &t->statuses[2], (t->nstatuses - 2) * sizeof *t->statuses);
        t->nstatuses--;
    }
    t->statuses = realloc(t->statuses, (t->nstatuses + 1) * sizeof *t->statuses);
    if (!t->statuses)
        abort();
    t->statuses[t->nstatuses++] = cm_pb_dup(&st->base);
}

/* ---- sandboxes: /files attachments and GC ----------------------------------------------- */

static char *sandbox_virtual(const struct agent_executor *e, const char *run)
{
    return cm_xasprintf("/frameworks/%s/executors/%s/runs/%s", e->framework->id, e->id, run);
}

/* The sandbox is browsable under its real path and both virtual paths (protocol doc §4.6). */
static void sandbox_attach(struct cm_agent *a, struct agent_executor *e)
{
    if (!a->files || !e->directory)
        return;
    char *v1 = sandbox_virtual(e, e->container_id), *v2 = sandbox_virtual(e, "latest");
    cm_files_attach(a->files, e->directory, e->directory);
    cm_files_attach(a->files, e->directory, v1);
    cm_files_attach(a->files, e->directory, v2);
    free(v1);
    free(v2);
}

/* Only the attachments that still point at this run: a newer run of the same executor id
 * owns "latest" now. */
static void sandbox_detach(struct cm_agent *a, struct agent_executor *e)
{
    if (!a || !a->files || !e->directory || !e->framework)
        return;
    char *v1 = sandbox_virtual(e, e->container_id), *v2 = sandbox_virtual(e, "latest");
    cm_files_detach(a->files, e->directory, e->directory);
    cm_files_detach(a->files, v1, e->directory);
    cm_files_detach(a->files, v2, e->directory);
    free(v1);
    free(v2);
}

/* The whole executor directory (every run and runs/latest) goes after --gc_delay. */
static void sandbox_schedule_gc(struct cm_agent *a, struct agent_executor *e)
{
    if (!a->gc || !e->directory || !a->agent_id)
        return;
    char *dir =
        cm_paths_executor_dir(a->flags->work_dir, a->agent_id, e->framework->id, e->id, NULL);
    if (dir)
        cm_gc_schedule(a->gc, a->flags->gc_delay, dir);
    free(dir);
}

/* A new run of an executor id whose directory is waiting for GC keeps it. */
static void sandbox_unschedule_gc(struct cm_agent *a, const char *fid, const char *eid)
{
    if (!a->gc || !a->agent_id)
        return;
    char *dir = cm_paths_executor_dir(a->flags->work_dir, a->agent_id, fid, eid, NULL);
    if (dir)
        cm_gc_unschedule(a->gc, dir);
    free(dir);
}

static void executor_free(void *p)
{
    struct agent_executor *e = p;
    if (!e)
        return;
    if (e->stream)
        cm_http_stream_end(e->stream);
    if (e->registration_timer)
        event_free(e->registration_timer);
    if (e->shutdown_timer)
        event_free(e->shutdown_timer);
    if (e->pidfd_event) {
        event_free(e->pidfd_event);
        close(e->pidfd);
    }
    cm_fetch_cancel(e->fetch);
    sandbox_detach(e->agent, e);
    cm_strmap_cleanup_values(&e->tasks, task_free);
    cm_ring_cleanup(&e->completed_tasks);
    cm_resources_cleanup(&e->resources);
    pb_free(e->info);
    free(e->id);
    free(e->directory);
    free(e->failure_message);
    free(e);
}

static void framework_free(void *p)
{
    struct agent_framework *f = p;
    if (!f)
        return;
    cm_strmap_cleanup_values(&f->executors, executor_free);
    cm_strmap_cleanup(&f->task_index);
    cm_ring_cleanup(&f->completed_executors);
    pb_free(f->info);
    free(f->id);
    free(f);
}

/* ---- master link: outgoing calls -------------------------------------------------------- */

static void schedule_register(struct cm_agent *a, double delay);

static void post_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    struct cm_agent *a = arg;
    if (err) {
        CM_WARN(MOD, "Call to master failed: %s", errmsg ? errmsg : cm_strerror(err));
        return;
    }
    if (resp->status == 202 || resp->status == 200)
        return;
    CM_WARN(MOD, "Master answered %ld to a call: %.*s", resp->status, (int)resp->body_len,
            resp->body ? resp->body : "");
    if (resp->status == 403 && a->registered) {
        /* The master forgot us (e.g. it restarted): register again with our id. */
        a->registered = false;
        cm_sum_set_connected(a->sum, false);
        if (a->register_call) {
            cm_http_call_cancel(a->register_call);
            a->register_call = NULL;
        }
        schedule_register(a, 0);
    }
}

/* Sends call (not REGISTER) to the master on the current stream. Dropped when not registered:
 * status updates are retried by the status update manager, the rest is best effort. */
static void post_call(struct cm_agent *a, Cmesos__Internal__AgentCall *call)
{
    if (!a->registered || !a->stream_id || !a->master_url)
        return;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = a->agent_id;
    call->agent_id = &aid;
    size_t len = protobuf_c_message_get_packed_size(&call->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    protobuf_c_message_pack(&call->base, buf);
    char *sid = cm_xasprintf("Mesos-Stream-Id: %s", a->stream_id);
    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", sid, NULL};
    struct cm_http_request_opts o = {
        .method = "POST",
        .url = a->master_url,
        .headers = headers,
        .body = buf,
        .body_len = len,
        .timeout_secs = 30,
        .on_done = post_done,
        .arg = a,
    };
    int rc = cm_http_client_start(a->client, &o, NULL);
    if (rc != 0)
        CM_WARN(MOD, "Failed to start a call to the master: %s", cm_strerror(rc));
    free(sid);
    free(buf);
    call->agent_id = NULL;
}

static void sum_send(void *arg, const char *framework_id, const char *executor_id,
                     const Mesos__V1__TaskStatus *status, Mesos__V1__TaskState latest_state)
{
    struct cm_agent *a = arg;
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__StatusUpdate su =
        CMESOS__INTERNAL__AGENT_CALL__STATUS_UPDATE__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    fid.value = (char *)framework_id;
    su.framework_id = &fid;
    if (executor_id) {
        eid.value = (char *)executor_id;
        su.executor_id = &eid;
    }
    su.status = (Mesos__V1__TaskStatus *)status;
    su.has_latest_state = 1;
    su.latest_state = latest_state;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
    call.status_update = &su;
    CM_INFO(MOD, "Forwarding status update %s for task '%s' of framework '%s'",
            cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)status->state, "(unknown)"),
            status->task_id->value, framework_id);
    post_call(a, &call);
}

/* ---- executor stream -------------------------------------------------------------------- */

static void executor_send(struct agent_executor *e, Mesos__V1__Executor__Event *ev)
{
    if (!e->stream)
        return;
    uint8_t *payload;
    size_t len;
    if (e->media == CM_MEDIA_JSON) {
        char *text = cm_pbjson_to_text(&ev->base);
        payload = (uint8_t *)text;
        len = strlen(text);
    } else {
        len = protobuf_c_message_get_packed_size(&ev->base);
        payload = malloc(len ? len : 1);
        if (!payload)
            abort();
        protobuf_c_message_pack(&ev->base, payload);
    }
    char header[32];
    size_t hl = cm_recordio_header(len, header);
    uint8_t *rec = malloc(hl + len);
    if (!rec)
        abort();
    memcpy(rec, header, hl);
    memcpy(rec + hl, payload, len);
    if (cm_http_stream_send(e->stream, rec, hl + len) != 0)
        CM_WARN(MOD, "Failed to send an event to executor '%s'", e->id);
    free(rec);
    free(payload);
}

static void executor_send_type(struct agent_executor *e, Mesos__V1__Executor__Event__Type type)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    ev.has_type = 1;
    ev.type = type;
    executor_send(e, &ev);
}

/* ---- status updates --------------------------------------------------------------------- */

static void count_terminal(struct cm_agent *a, Mesos__V1__TaskState s)
{
    switch (s) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED: a->metrics.tasks_finished++; break;
    case MESOS__V1__TASK_STATE__TASK_FAILED: a->metrics.tasks_failed++; break;
    case MESOS__V1__TASK_STATE__TASK_KILLED: a->metrics.tasks_killed++; break;
    case MESOS__V1__TASK_STATE__TASK_LOST: a->metrics.tasks_lost++; break;
    case MESOS__V1__TASK_STATE__TASK_ERROR: a->metrics.tasks_error++; break;
    case MESOS__V1__TASK_STATE__TASK_DROPPED: a->metrics.tasks_dropped++; break;
    case MESOS__V1__TASK_STATE__TASK_GONE: a->metrics.tasks_gone++; break;
    default: break;
    }
}

/* Takes ownership of status (a complete message with uuid). Records it on the task (if the
 * agent knows the task) and queues it in the status update manager. Returns the manager's
 * result (CM_EEXIST for a duplicate). */
/* A task that died because its container hit a limit (the kernel OOM-killed it) is reported
 * with the limitation's reason and message, as Mesos does, instead of the executor's "killed
 * by signal". Checked when the update arrives, while the container's cgroups still exist. */
static void apply_limitation(struct cm_agent *a, struct agent_executor *e,
                             Mesos__V1__TaskStatus *status)
{
    char msg[256];
    double mem_mb = 0;
    if (cm_containerizer_limitation(a->containerizer, e->container_id, msg, sizeof msg, &mem_mb) !=
        CM_LIMITATION_MEMORY)
        return;
    status->state = MESOS__V1__TASK_STATE__TASK_FAILED;
    status->has_reason = 1;
    status->reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
    status->has_source = 1;
    status->source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT;
    free(status->message);
    status->message = cm_xstrdup(msg);
    if (!status->limitation) {
        Mesos__V1__TaskResourceLimitation *l = cm_xcalloc(1, sizeof *l);
        mesos__v1__task_resource_limitation__init(l);
        Mesos__V1__Resource *r = cm_xcalloc(1, sizeof *r);
        mesos__v1__resource__init(r);
        r->name = cm_xstrdup("mem");
        r->type = MESOS__V1__VALUE__TYPE__SCALAR;
        r->scalar = cm_xcalloc(1, sizeof *r->scalar);
        mesos__v1__value__scalar__init(r->scalar);
        r->scalar->value = mem_mb;
        l->n_resources = 1;
        l->resources = cm_xcalloc(1, sizeof *l->resources);
        l->resources[0] = r;
        status->limitation = l;
    }
}

static int handle_update(struct cm_agent *a, const char *framework_id, struct agent_executor *e,
                         Mesos__V1__TaskStatus *status)
{
    if (e && e->pid > 0 && status->state == MESOS__V1__TASK_STATE__TASK_FAILED &&
        !(status->has_source && status->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT))
        apply_limitation(a, e, status);
    if (!status->agent_id && a->agent_id) {
        status->agent_id = cm_xcalloc(1, sizeof *status->agent_id);
        mesos__v1__agent_id__init(status->agent_id);
        status->agent_id->value = cm_xstrdup(a->agent_id);
    }
    if (!status->executor_id && e) {
        status->executor_id = cm_xcalloc(1, sizeof *status->executor_id);
        mesos__v1__executor_id__init(status->executor_id);
        status->executor_id->value = cm_xstrdup(e->id);
    }
    if (!status->has_timestamp) {
        status->has_timestamp = 1;
        status->timestamp = now(a);
    }
    int rc = cm_sum_update(a->sum, framework_id, e ? e->id : NULL, status);
    if (rc == 0) {
        struct agent_task *t = e ? cm_strmap_get(&e->tasks, status->task_id->value) : NULL;
        if (t && fw_checkpoints(e->framework))
            ckpt_update(a, e, status); /* durable before the executor gets ACKNOWLEDGED */
        if (t) {
            bool was_terminal = cm_task_state_terminal(t->state);
            t->state = status->state;
            if (!was_terminal && cm_task_state_terminal(t->state))
                count_terminal(a, t->state);
            task_add_status(t, status);
        } else if (cm_task_state_terminal(status->state)) {
            count_terminal(a, status->state);
        }
    }
    pb_free(status);
    return rc;
}

/* An update the agent itself generates (SOURCE_AGENT). */
static void agent_update(struct cm_agent *a, const char *framework_id, struct agent_executor *e,
                         const char *task_id, Mesos__V1__TaskState state,
                         Mesos__V1__TaskStatus__Reason reason, const char *message)
{
    Mesos__V1__TaskStatus *s = cm_xcalloc(1, sizeof *s);
    mesos__v1__task_status__init(s);
    s->task_id = cm_xcalloc(1, sizeof *s->task_id);
    mesos__v1__task_id__init(s->task_id);
    s->task_id->value = cm_xstrdup(task_id);
    s->state = state;
    s->message = cm_xstrdup(message);
    s->has_source = 1;
    s->source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT;
    s->has_reason = 1;
    s->reason = reason;
    s->has_uuid = 1;
    s->uuid.len = 16;
    s->uuid.data = malloc(16);
    if (!s->uuid.data)
        abort();
    cm_uuid_random(s->uuid.data);
    CM_INFO(MOD, "Generating %s for task '%s' of framework '%s': %s",
            cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)state, "(unknown)"), task_id,
            framework_id, message);
    handle_update(a, framework_id, e, s);
}

/* ---- completion bookkeeping ------------------------------------------------------------- */

static void maybe_remove_framework(struct cm_agent *a, struct agent_framework *f)
{
    if (cm_strmap_count(&f->executors) != 0)
        return;
    CM_INFO(MOD, "Framework '%s' has no executors left; moving it to completed", f->id);
    if (a->agent_id)
        ckpt_remove(cm_paths_meta_framework_dir(a->flags->work_dir, a->agent_id, f->id));
    cm_strmap_remove(&a->frameworks, f->id);
    cm_ring_push(&a->completed_frameworks, f);
}

static void maybe_remove_executor(struct cm_agent *a, struct agent_executor *e)
{
    if (e->state != EXECUTOR_TERMINATED || cm_strmap_count(&e->tasks) != 0)
        return;
    struct agent_framework *f = e->framework;
    if (e->stream) {
        cm_http_stream_end(e->stream);
        e->stream = NULL;
    }
    cm_strmap_remove(&f->executors, e->id);
    if (a->agent_id)
        ckpt_remove(cm_paths_meta_executor_dir(a->flags->work_dir, a->agent_id, f->id, e->id));
    sandbox_schedule_gc(a, e);
    cm_ring_push(&f->completed_executors, e);
    maybe_remove_framework(a, f);
}

static void complete_task(struct cm_agent *a, struct agent_framework *f, const char *task_id)
{
    struct agent_executor *e = cm_strmap_get(&f->task_index, task_id);
    if (!e)
        return;
    struct agent_task *t = cm_strmap_remove(&e->tasks, task_id);
    cm_strmap_remove(&f->task_index, task_id);
    cm_sum_remove_task(a->sum, f->id, task_id);
    if (a->agent_id && fw_checkpoints(f))
        ckpt_remove(cm_paths_meta_task_dir(a->flags->work_dir, a->agent_id, f->id, e->id,
                                           e->container_id, task_id));
    if (t)
        cm_ring_push(&e->completed_tasks, t);
    maybe_remove_executor(a, e);
}

/* ---- executors: launch, kill, reap ------------------------------------------------------ */

static void fetch_aborted(struct cm_agent *a, struct agent_executor *e);

static void executor_kill(struct cm_agent *a, struct agent_executor *e)
{
    if (e->fetch) {
        /* Still fetching: there is no process yet, so stopping the fetch ends the executor. */
        CM_INFO(MOD, "Cancelling the fetch of executor '%s' of framework '%s'", e->id,
                e->framework->id);
        cm_fetch_cancel(e->fetch);
        e->fetch = NULL;
        fetch_aborted(a, e);
        return;
    }
    if (e->pid <= 0)
        return;
    int rc = cm_containerizer_kill(a->containerizer, e->container_id, SIGKILL);
    if (rc != 0)
        CM_WARN(MOD, "Failed to kill executor '%s' (pid %d): %s", e->id, (int)e->pid,
                cm_strerror(rc));
}

static void shutdown_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_executor *e = arg;
    CM_INFO(MOD, "Killing executor '%s' of framework '%s' after the shutdown grace period", e->id,
            e->framework->id);
    executor_kill(e->agent, e);
}

static void executor_shutdown(struct cm_agent *a, struct agent_executor *e)
{
    if (e->state == EXECUTOR_TERMINATED || e->state == EXECUTOR_TERMINATING)
        return;
    CM_INFO(MOD, "Shutting down executor '%s' of framework '%s'", e->id, e->framework->id);
    e->state = EXECUTOR_TERMINATING;
    if (!e->stream) {
        executor_kill(a, e);
        return;
    }
    executor_send_type(e, MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN);
    if (!e->shutdown_timer)
        e->shutdown_timer = evtimer_new(a->base, shutdown_timer_cb, e);
    struct timeval tv = {(time_t)e->shutdown_grace,
                         (suseconds_t)((e->shutdown_grace - (time_t)e->shutdown_grace) * 1e6)};
    evtimer_add(e->shutdown_timer, &tv);
}

static void registration_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_executor *e = arg;
    if (e->state != EXECUTOR_REGISTERING)
        return;
    char buf[64];
    cm_duration_format(e->agent->flags->executor_registration_timeout, buf, sizeof buf);
    CM_WARN(MOD, "Executor '%s' of framework '%s' did not register within %s; killing it", e->id,
            e->framework->id, buf);
    e->failure_reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_REGISTRATION_TIMEOUT;
    free(e->failure_message);
    e->failure_message = cm_xasprintf("Executor did not register within %s", buf);
    e->state = EXECUTOR_TERMINATING;
    executor_kill(e->agent, e);
}

/* The framework is gone: its updates will never be acknowledged, so stop retrying them and
 * complete the executor's tasks now (Mesos cleans the framework's streams likewise). */
static void complete_all_tasks(struct cm_agent *a, struct agent_executor *e)
{
    struct agent_framework *f = e->framework;
    cm_sum_drop_framework(a->sum, f->id);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    const char *tid;
    while ((t = cm_strmap_iter_value(&it, &tid))) {
        cm_strmap_remove(&f->task_index, tid);
        cm_strmap_remove(&e->tasks, tid);
        cm_ring_push(&e->completed_tasks, t);
    }
}

static void executor_exited(struct cm_agent *a, struct agent_executor *e, int status)
{
    char key[32];
    snprintf(key, sizeof key, "%d", (int)e->pid);
    cm_strmap_remove(&a->executors_by_pid, key);
    char limit_msg[256];
    if (cm_containerizer_limitation(a->containerizer, e->container_id, limit_msg, sizeof limit_msg,
                                    NULL) == CM_LIMITATION_MEMORY) {
        e->failure_reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
        free(e->failure_message);
        e->failure_message = cm_xstrdup(limit_msg);
    }
    cm_containerizer_reaped(a->containerizer, e->container_id);
    if (e->pidfd_event) {
        event_free(e->pidfd_event);
        e->pidfd_event = NULL;
        close(e->pidfd);
    }
    if (e->recovered && e->state == EXECUTOR_REGISTERING && a->awaiting_executors > 0 &&
        --a->awaiting_executors == 0)
        recovery_done(a);
    e->pid = 0;
    e->wait_status = status;
    e->state = EXECUTOR_TERMINATED;
    a->metrics.executors_terminated++;
    if (e->registration_timer)
        evtimer_del(e->registration_timer);
    if (e->shutdown_timer)
        evtimer_del(e->shutdown_timer);
    if (e->stream) {
        cm_http_stream_end(e->stream);
        e->stream = NULL;
    }
    char how[128];
    if (status == -1)
        snprintf(how, sizeof how, "terminated (exit status unknown: not a child of this agent)");
    else if (WIFEXITED(status))
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "terminated with signal %s", strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "terminated (wait status %d)", status);
    CM_INFO(MOD, "Executor '%s' of framework '%s' %s", e->id, e->framework->id, how);

    char *msg =
        e->failure_message ? cm_xstrdup(e->failure_message) : cm_xasprintf("Executor %s", how);
    /* Collect first: agent_update does not change the table, but keep it obviously safe. */
    size_t n = cm_strmap_count(&e->tasks), k = 0;
    char **ids = cm_xcalloc(n + 1, sizeof *ids);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL)))
        if (!cm_task_state_terminal(t->state))
            ids[k++] = t->info->task_id->value;
    for (size_t i = 0; i < k; i++)
        agent_update(a, e->framework->id, e, ids[i], MESOS__V1__TASK_STATE__TASK_FAILED,
                     e->failure_reason, msg);
    free(ids);
    free(msg);

    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__ExitedExecutor ex =
        CMESOS__INTERNAL__AGENT_CALL__EXITED_EXECUTOR__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    fid.value = e->framework->id;
    eid.value = e->id;
    ex.framework_id = &fid;
    ex.executor_id = &eid;
    ex.has_status = 1;
    ex.status = status;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__EXITED_EXECUTOR;
    call.exited_executor = &ex;
    post_call(a, &call);

    if (e->framework->shutting_down)
        complete_all_tasks(a, e);
    maybe_remove_executor(a, e);
}

static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        char key[32];
        snprintf(key, sizeof key, "%d", (int)pid);
        struct agent_executor *e = cm_strmap_get(&a->executors_by_pid, key);
        if (e)
            executor_exited(a, e, status);
        else if (a->fetcher)
            cm_fetcher_reaped(a->fetcher, pid, status); /* an extractor (tar, unzip, gzip) */
    }
}

/* Builds the command executor's ExecutorInfo for a command task (protocol doc §4.6). */
static Mesos__V1__ExecutorInfo *
command_executor_info(struct cm_agent *a, const Mesos__V1__TaskInfo *task, const char *framework_id,
                      struct cm_resources *exec_resources, const char *alloc_role)
{
    Mesos__V1__ExecutorInfo *info = cm_xcalloc(1, sizeof *info);
    mesos__v1__executor_info__init(info);
    info->has_type = 1;
    info->type = MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT;
    info->executor_id = cm_xcalloc(1, sizeof *info->executor_id);
    mesos__v1__executor_id__init(info->executor_id);
    info->executor_id->value = cm_xstrdup(task->task_id->value);
    info->framework_id = cm_xcalloc(1, sizeof *info->framework_id);
    mesos__v1__framework_id__init(info->framework_id);
    info->framework_id->value = cm_xstrdup(framework_id);

    const Mesos__V1__CommandInfo *tc = task->command;
    char *shown;
    if (!tc->has_shell || tc->shell) {
        shown = cm_xstrdup(tc->value ? tc->value : "");
    } else {
        size_t cap = 3;
        for (size_t i = 0; i < tc->n_arguments; i++)
            cap += strlen(tc->arguments[i]) + 2;
        shown = cm_xcalloc(1, cap);
        strcat(shown, "[");
        for (size_t i = 0; i < tc->n_arguments; i++) {
            if (i)
                strcat(shown, ", ");
            strcat(shown, tc->arguments[i]);
        }
        strcat(shown, "]");
    }
    if (strlen(shown) > 15) {
        shown[12] = '\0';
        char *t = cm_xasprintf("%s...", shown);
        free(shown);
        shown = t;
    }
    info->name = cm_xasprintf("Command Executor (Task: %s) (Command: sh -c '%s')",
                              task->task_id->value, shown);
    free(shown);
    info->source = cm_xstrdup(task->task_id->value);

    Mesos__V1__CommandInfo *cmd = cm_xcalloc(1, sizeof *cmd);
    mesos__v1__command_info__init(cmd);
    cmd->value = cm_xasprintf("%s/mesos-executor", a->launcher_dir);
    cmd->has_shell = 1;
    cmd->shell = 0;
    cmd->n_arguments = 2;
    cmd->arguments = cm_xcalloc(2, sizeof *cmd->arguments);
    cmd->arguments[0] = cm_xstrdup("mesos-executor");
    cmd->arguments[1] = cm_xasprintf("--launcher_dir=%s", a->launcher_dir);
    if (tc->n_uris) {
        cmd->n_uris = tc->n_uris;
        cmd->uris = cm_xcalloc(tc->n_uris, sizeof *cmd->uris);
        for (size_t i = 0; i < tc->n_uris; i++)
            cmd->uris[i] = cm_pb_dup(&tc->uris[i]->base);
    }
    if (tc->environment)
        cmd->environment = cm_pb_dup(&tc->environment->base);
    if (tc->user)
        cmd->user = cm_xstrdup(tc->user);
    info->command = cmd;
    if (task->labels)
        info->labels = cm_pb_dup(&task->labels->base);
    if (task->discovery)
        info->discovery = cm_pb_dup(&task->discovery->base);

    Mesos__V1__Resource **pb = NULL;
    size_t npb = 0;
    cm_resources_to_proto(exec_resources, alloc_role, &pb, &npb);
    info->n_resources = npb;
    info->resources = cm_xcalloc(npb ? npb : 1, sizeof *info->resources);
    for (size_t i = 0; i < npb; i++)
        info->resources[i] = cm_pb_dup(&pb[i]->base);
    cm_resources_proto_free(pb, npb);
    return info;
}

static const char *task_allocation_role(const Mesos__V1__TaskInfo *task,
                                        const Mesos__V1__FrameworkInfo *fi)
{
    for (size_t i = 0; i < task->n_resources; i++)
        if (task->resources[i]->allocation_info && task->resources[i]->allocation_info->role)
            return task->resources[i]->allocation_info->role;
    if (fi->n_roles > 0)
        return fi->roles[0];
    return fi->role ? fi->role : "*";
}

/* The executor could not be started (sandbox, fetch or launch): its task fails. */
static void launch_failed(struct cm_agent *a, struct agent_executor *e, struct agent_task *t,
                          const char *message)
{
    const char *tid = t->info->task_id->value;
    CM_ERROR(MOD, "Task '%s' of framework '%s': %s", tid, e->framework->id, message);
    a->metrics.container_launch_errors++;
    t->queued = false;
    agent_update(a, e->framework->id, e, tid, MESOS__V1__TASK_STATE__TASK_FAILED,
                 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, message);
    e->state = EXECUTOR_TERMINATED;
    /* The task stays until its TASK_FAILED is acknowledged, then the executor completes. */
}

static struct agent_task *queued_task(struct agent_executor *e)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL)))
        if (t->queued && !cm_task_state_terminal(t->state))
            return t;
    return NULL;
}

static void launch_executor(struct cm_agent *a, struct agent_executor *e, struct agent_task *t);

static void fetch_done(void *arg, int err, const char *message)
{
    struct agent_executor *e = arg;
    struct cm_agent *a = e->agent;
    e->fetch = NULL;
    struct agent_task *t = queued_task(e);
    if (!t) {
        fetch_aborted(a, e);
        return;
    }
    if (err) {
        launch_failed(a, e, t, message);
        return;
    }
    CM_INFO(MOD, "Fetched the URIs of executor '%s' of framework '%s'", e->id, e->framework->id);
    launch_executor(a, e, t);
}

static void start_fetch(struct cm_agent *a, struct agent_executor *e)
{
    const Mesos__V1__CommandInfo *c = e->info->command;
    const char *user = c->user ? c->user : e->framework->info->user;
    CM_INFO(MOD, "Fetching %zu URI(s) for executor '%s' of framework '%s' into %s", c->n_uris,
            e->id, e->framework->id, e->directory);
    e->fetch = cm_fetcher_fetch(a->fetcher, c->uris, c->n_uris, e->directory, user, fetch_done, e);
}

/* The fetch was stopped (kill, framework shutdown): the executor ends without a process. */
static void fetch_aborted(struct cm_agent *a, struct agent_executor *e)
{
    e->state = EXECUTOR_TERMINATED;
    struct agent_task *t;
    while ((t = queued_task(e))) {
        t->queued = false;
        agent_update(a, e->framework->id, e, t->info->task_id->value,
                     MESOS__V1__TASK_STATE__TASK_KILLED,
                     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH,
                     "Task killed while its URIs were being fetched");
    }
    if (e->framework->shutting_down)
        complete_all_tasks(a, e);
    maybe_remove_executor(a, e);
}

static void run_task(struct cm_agent *a, const Mesos__V1__FrameworkInfo *fi,
                     const Mesos__V1__TaskInfo *task)
{
    const char *why = NULL;
    const char *fid = fi->id && fi->id->value ? fi->id->value : "";
    const char *tid = task->task_id->value;
    char whybuf[256];
    if (cm_id_validate(fid, &why) != 0 || cm_id_validate(tid, &why) != 0) {
        snprintf(whybuf, sizeof whybuf, "Invalid framework or task id: %s", why);
        agent_update(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, whybuf);
        return;
    }
    if (!task->command || task->executor) {
        agent_update(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID,
                     task->executor ? "Custom executors are not supported by this agent yet"
                                    : "Task has neither 'command' nor 'executor'");
        return;
    }
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    if (f && cm_strmap_get(&f->task_index, tid)) {
        CM_WARN(MOD, "Ignoring RUN_TASK for task '%s' of framework '%s': already running", tid,
                fid);
        return;
    }
    if (f && cm_strmap_get(&f->executors, tid)) {
        agent_update(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID,
                     "An executor with the task's id is already running");
        return;
    }
    struct cm_resources task_res;
    cm_resources_init(&task_res);
    if (cm_resources_from_proto(&task_res, task->resources, task->n_resources, whybuf,
                                sizeof whybuf) != 0) {
        cm_resources_cleanup(&task_res);
        agent_update(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_ERROR,
                     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, whybuf);
        return;
    }
    if (!f) {
        f = cm_xcalloc(1, sizeof *f);
        f->id = cm_xstrdup(fid);
        f->info = cm_pb_dup(&fi->base);
        cm_strmap_init(&f->executors);
        cm_strmap_init(&f->task_index);
        cm_ring_init(&f->completed_executors, CM_AGENT_MAX_COMPLETED_EXECUTORS, executor_free);
        cm_strmap_put(&a->frameworks, fid, f);
    } else {
        pb_free(f->info);
        f->info = cm_pb_dup(&fi->base);
    }

    const char *role = task_allocation_role(task, fi);
    struct agent_executor *e = cm_xcalloc(1, sizeof *e);
    e->agent = a;
    e->framework = f;
    e->id = cm_xstrdup(tid);
    e->state = EXECUTOR_REGISTERING;
    e->failure_reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED;
    e->shutdown_grace = a->flags->executor_shutdown_grace_period;
    cm_strmap_init(&e->tasks);
    cm_ring_init(&e->completed_tasks, CM_AGENT_MAX_COMPLETED_TASKS, task_free);
    cm_resources_init(&e->resources);
    cm_uuid_string(e->container_id);

    /* The overhead goes to the container, not against the offer (deliberate overcommit). */
    struct cm_resources overhead;
    cm_resources_init(&overhead);
    char otext[64];
    snprintf(otext, sizeof otext, "cpus:%.1f;mem:%.0f", EXECUTOR_OVERHEAD_CPUS,
             EXECUTOR_OVERHEAD_MEM);
    cm_resources_parse(&overhead, otext, "*", NULL, 0);
    cm_resources_add(&e->resources, &task_res);
    cm_resources_add(&e->resources, &overhead);
    e->info = command_executor_info(a, task, fid, &e->resources, role);
    cm_resources_cleanup(&overhead);
    cm_resources_cleanup(&task_res);

    struct agent_task *t = cm_xcalloc(1, sizeof *t);
    t->executor = e;
    t->info = cm_pb_dup(&task->base);
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    t->queued = true;
    cm_strmap_put(&e->tasks, tid, t);
    cm_strmap_put(&f->executors, e->id, e);
    cm_strmap_put(&f->task_index, tid, e);
    if (fw_checkpoints(f))
        ckpt_launch(a, e, t);

    sandbox_unschedule_gc(a, fid, e->id);
    int rc = cm_paths_create_sandbox(a->flags->work_dir, a->agent_id, fid, e->id, e->container_id,
                                     &e->directory, &why);
    if (rc != 0) {
        snprintf(whybuf, sizeof whybuf, "Failed to create the sandbox: %s",
                 rc == CM_EINVAL ? why : cm_strerror(rc));
        launch_failed(a, e, t, whybuf);
        return;
    }
    sandbox_attach(a, e);
    if (e->info->command->n_uris > 0 && a->fetcher) {
        /* The task stays STAGING while its URIs are fetched; the executor starts after. */
        start_fetch(a, e);
        return;
    }
    launch_executor(a, e, t);
}

/* Starts the executor of e in its ready (created, fetched) sandbox; a failure fails t. */
static void launch_executor(struct cm_agent *a, struct agent_executor *e, struct agent_task *t)
{
    const Mesos__V1__FrameworkInfo *fi = e->framework->info;
    const char *fid = e->framework->id;
    const char *tid = t->info->task_id->value;
    char whybuf[256];
    int rc;
    char **env = NULL;
    char *out_path = NULL, *err_path = NULL;
    struct cm_executor_env_params ep = {
        .framework_id = fid,
        .executor_id = e->id,
        .agent_id = a->agent_id,
        .agent_ip = a->ip,
        .agent_port = a->port,
        .directory = e->directory,
        .sandbox = e->directory,
        .checkpoint = fi->has_checkpoint && fi->checkpoint,
        .shutdown_grace_period = e->shutdown_grace,
        .recovery_timeout = a->flags->recovery_timeout,
        .subscription_backoff_max = a->flags->executor_reregistration_timeout,
        .env_flag = a->executor_env,
        .inherited = environ,
    };
    env = cm_executor_env_build(&ep);
    out_path = cm_xasprintf("%s/stdout", e->directory);
    err_path = cm_xasprintf("%s/stderr", e->directory);
    char *argv[] = {e->info->command->value, e->info->command->arguments[1], NULL};
    struct cm_launch_spec spec = {
        .container_id = e->container_id,
        .argv = argv,
        .envp = env,
        .cwd = e->directory,
        .stdout_path = out_path,
        .stderr_path = err_path,
        .resources = &e->resources,
    };
    char lwhy[200] = "";
    rc = cm_containerizer_launch(a->containerizer, &spec, &e->pid, lwhy, sizeof lwhy);
    if (rc != 0) {
        snprintf(whybuf, sizeof whybuf, "Failed to launch the executor: %s",
                 *lwhy ? lwhy : cm_strerror(rc));
        goto fail;
    }
    cm_executor_env_free(env);
    free(out_path);
    free(err_path);
    char key[32];
    snprintf(key, sizeof key, "%d", (int)e->pid);
    cm_strmap_put(&a->executors_by_pid, key, e);
    if (fw_checkpoints(e->framework))
        ckpt_pid(a, e);
    e->registration_timer = evtimer_new(a->base, registration_timeout_cb, e);
    double rt = a->flags->executor_registration_timeout;
    struct timeval tv = {(time_t)rt, (suseconds_t)((rt - (time_t)rt) * 1e6)};
    evtimer_add(e->registration_timer, &tv);
    CM_INFO(MOD, "Launched executor '%s' of framework '%s' (pid %d) in container %s at %s", e->id,
            fid, (int)e->pid, e->container_id, e->directory);
    return;

fail:
    CM_ERROR(MOD, "Task '%s' of framework '%s': %s", tid, fid, whybuf);
    a->metrics.container_launch_errors++;
    cm_executor_env_free(env);
    free(out_path);
    free(err_path);
    t->queued = false;
    agent_update(a, fid, e, tid, MESOS__V1__TASK_STATE__TASK_FAILED,
                 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, whybuf);
    e->state = EXECUTOR_TERMINATED;
    /* The task stays until its TASK_FAILED is acknowledged, then the executor completes. */
}

static void kill_task(struct cm_agent *a, const Cmesos__Internal__AgentEvent__KillTask *k)
{
    const char *fid = k->framework_id->value;
    const char *tid = k->task_id->value;
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    struct agent_executor *e = f ? cm_strmap_get(&f->task_index, tid) : NULL;
    struct agent_task *t = e ? cm_strmap_get(&e->tasks, tid) : NULL;
    if (!t) {
        agent_update(a, fid, NULL, tid, MESOS__V1__TASK_STATE__TASK_LOST,
                     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNKNOWN,
                     "Task unknown to the agent");
        return;
    }
    if (cm_task_state_terminal(t->state)) {
        CM_INFO(MOD, "Ignoring kill of terminal task '%s' of framework '%s'", tid, fid);
        return;
    }
    if (t->queued) {
        t->queued = false;
        agent_update(a, fid, e, tid, MESOS__V1__TASK_STATE__TASK_KILLED,
                     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH,
                     "Task killed before it was launched");
        /* A command executor has nothing else to run. */
        executor_shutdown(a, e);
        return;
    }
    if (!e->stream) {
        CM_WARN(MOD, "Cannot kill task '%s': executor '%s' is not connected", tid, e->id);
        return;
    }
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Kill kill = MESOS__V1__EXECUTOR__EVENT__KILL__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__KILL;
    kill.task_id = k->task_id;
    kill.kill_policy = k->kill_policy ? k->kill_policy : t->info->kill_policy;
    ev.kill = &kill;
    CM_INFO(MOD, "Asking executor '%s' to kill task '%s'", e->id, tid);
    executor_send(e, &ev);
}

/* ---- executor API ----------------------------------------------------------------------- */

static void build_agent_info(struct cm_agent *a, Mesos__V1__AgentInfo *info, Mesos__V1__AgentID *id,
                             Mesos__V1__Resource ***res, size_t *nres)
{
    mesos__v1__agent_info__init(info);
    info->hostname = a->hostname;
    info->has_port = 1;
    info->port = a->port;
    cm_resources_to_proto(&a->total, NULL, res, nres);
    info->resources = *res;
    info->n_resources = *nres;
    info->attributes = a->attributes.v;
    info->n_attributes = a->attributes.n;
    if (a->agent_id) {
        mesos__v1__agent_id__init(id);
        id->value = a->agent_id;
        info->id = id;
    }
}

static void executor_stream_closed(struct cm_http_stream *stream, void *arg)
{
    (void)stream;
    struct agent_executor *e = arg;
    e->stream = NULL;
    CM_INFO(MOD, "Executor '%s' of framework '%s' closed its subscription", e->id,
            e->framework->id);
}

static void send_launches(struct agent_executor *e)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL))) {
        if (!t->queued)
            continue;
        t->queued = false;
        Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Launch l = MESOS__V1__EXECUTOR__EVENT__LAUNCH__INIT;
        ev.has_type = 1;
        ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH;
        l.task = t->info;
        ev.launch = &l;
        executor_send(e, &ev);
    }
}

static bool task_has_uuid(const struct agent_task *t, const ProtobufCBinaryData *uuid)
{
    for (size_t i = 0; i < t->nstatuses; i++) {
        const Mesos__V1__TaskStatus *s = t->statuses[i];
        if (s->has_uuid && s->uuid.len == uuid->len &&
            memcmp(s->uuid.data, uuid->data, uuid->len) == 0)
            return true;
    }
    return false;
}

/* What an executor could lie about in an UPDATE beyond the call's form (executor_api.c): the
 * task must be one of its own (not another executor's or another framework's), the status may
 * only name this agent, and a task that reached a terminal state stays there. Mesos's agent
 * drops such updates; we also answer 400 so the executor learns why. A resent copy of an
 * update the agent already holds (same uuid) is a duplicate, not a lie. */
static int check_executor_update(const struct cm_agent *a, const struct agent_executor *e,
                                 const Mesos__V1__TaskStatus *s, char *why, size_t whylen)
{
    const char *tid = s->task_id->value;
    const struct agent_task *t = cm_strmap_get(&e->tasks, tid);
    if (!t) {
        const struct agent_executor *owner = cm_strmap_get(&e->framework->task_index, tid);
        if (owner)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Task '%s' belongs to executor '%s', not to executor '%s'", tid,
                           owner->id, e->id);
        return cm_fail(CM_EINVAL, why, whylen,
                       "Task '%s' is not a task of executor '%s' of framework '%s'", tid, e->id,
                       e->framework->id);
    }
    if (s->agent_id && s->agent_id->value &&
        (!a->agent_id || strcmp(s->agent_id->value, a->agent_id) != 0))
        return cm_fail(CM_EINVAL, why, whylen,
                       "AgentID in TaskStatus: %s does not match this agent's id",
                       s->agent_id->value);
    if (task_has_uuid(t, &s->uuid))
        return 0;
    if (t->queued)
        return cm_fail(CM_EINVAL, why, whylen, "Task '%s' was not launched on executor '%s' yet",
                       tid, e->id);
    if (cm_task_state_terminal(t->state) && s->state != t->state)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Task '%s' is already in terminal state %s; it cannot move to %s", tid,
                       cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)t->state, "?"),
                       cm_enum_name_or(&mesos__v1__task_state__descriptor, (int)s->state, "?"));
    return 0;
}

static void handle_subscribe(struct cm_agent *a, struct cm_http_request *req,
                             struct agent_executor *e, Mesos__V1__Executor__Call *call,
                             enum cm_media media)
{
    if (e->state == EXECUTOR_TERMINATED || e->state == EXECUTOR_TERMINATING) {
        cm_http_respond_text(req, 403, "Executor is terminating");
        return;
    }
    if (e->stream) {
        cm_http_stream_end(e->stream);
        e->stream = NULL;
    }
    e->media = media;
    e->stream = cm_http_stream_start(req, 200, cm_media_name(media), executor_stream_closed, e);
    if (e->recovered && e->state == EXECUTOR_REGISTERING) {
        CM_INFO(MOD, "Recovered executor '%s' of framework '%s' re-subscribed", e->id,
                e->framework->id);
        if (a->awaiting_executors > 0 && --a->awaiting_executors == 0)
            recovery_done(a);
    }
    e->state = EXECUTOR_RUNNING;
    /* A task the executor already got (it resends it as unacknowledged) is not launched
     * again; one it never got (the agent died before sending LAUNCH) is. */
    for (size_t i = 0; call->subscribe && i < call->subscribe->n_unacknowledged_tasks; i++) {
        const Mesos__V1__TaskInfo *ut = call->subscribe->unacknowledged_tasks[i];
        struct agent_task *qt =
            ut && ut->task_id ? cm_strmap_get(&e->tasks, ut->task_id->value) : NULL;
        if (qt)
            qt->queued = false;
    }
    if (e->registration_timer)
        evtimer_del(e->registration_timer);
    CM_INFO(MOD, "Executor '%s' of framework '%s' subscribed", e->id, e->framework->id);

    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Subscribed sub = MESOS__V1__EXECUTOR__EVENT__SUBSCRIBED__INIT;
    Mesos__V1__AgentInfo ai;
    Mesos__V1__AgentID aid;
    Mesos__V1__Resource **res = NULL;
    size_t nres = 0;
    Mesos__V1__ContainerID cid = MESOS__V1__CONTAINER_ID__INIT;
    build_agent_info(a, &ai, &aid, &res, &nres);
    cid.value = e->container_id;
    sub.executor_info = e->info;
    sub.framework_info = e->framework->info;
    sub.agent_info = &ai;
    sub.container_id = &cid;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    executor_send(e, &ev);
    cm_resources_proto_free(res, nres);

    /* Updates the executor could not get acknowledged before are handled again (duplicates
     * are dropped by the status update manager) and acknowledged on the new stream. */
    for (size_t i = 0; call->subscribe && i < call->subscribe->n_unacknowledged_updates; i++) {
        Mesos__V1__Executor__Call__Update *u = call->subscribe->unacknowledged_updates[i];
        char uwhy[256];
        if (!u->status || !u->status->has_uuid || u->status->uuid.len != 16 ||
            !u->status->task_id || !u->status->has_source ||
            u->status->source != MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR ||
            !cm_strmap_get(&e->tasks, u->status->task_id->value)) {
            a->metrics.invalid_status_updates++;
            CM_WARN(MOD, "Dropping an unacknowledged update of executor '%s' that is not its own",
                    e->id);
            continue;
        }
        /* An executor reporting on a task evidently has it: it is not launched again. */
        struct agent_task *ut = cm_strmap_get(&e->tasks, u->status->task_id->value);
        ut->queued = false;
        if (check_executor_update(a, e, u->status, uwhy, sizeof uwhy) != 0) {
            a->metrics.invalid_status_updates++;
            CM_WARN(MOD, "Dropping an unacknowledged update of executor '%s': %s", e->id, uwhy);
            continue;
        }
        Mesos__V1__Executor__Event ack = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Acknowledged ak =
            MESOS__V1__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
        ak.task_id = u->status->task_id;
        ak.uuid = u->status->uuid;
        ack.has_type = 1;
        ack.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
        ack.acknowledged = &ak;
        handle_update(a, e->framework->id, e, cm_pb_dup(&u->status->base));
        executor_send(e, &ack);
    }
    send_launches(e);
}

void cm_agent_executor_api(struct cm_http_request *req, void *arg)
{
    struct cm_agent *a = arg;
    if (strcmp(req->method, "POST") != 0) {
        cm_http_add_header(req, "Allow", "POST");
        cm_http_respond_text(req, 405, "Expecting a 'POST' request, received '%s'", req->method);
        return;
    }
    const char *ct = cm_http_request_header(req, "Content-Type");
    if (!ct) {
        cm_http_respond_text(req, 400, "Expecting 'Content-Type' to be present");
        return;
    }
    enum cm_media media = cm_http_content_type(ct);
    if (media != CM_MEDIA_JSON && media != CM_MEDIA_PROTOBUF) {
        cm_http_respond_text(req, 415,
                             "Expecting 'Content-Type' of application/json or "
                             "application/x-protobuf");
        return;
    }
    char why[512];
    Mesos__V1__Executor__Call *call = NULL;
    if (cm_executor_call_decode(media, req->body, req->body_len, &call, why, sizeof why) != 0) {
        cm_http_respond_text(req, 400, "%s", why);
        return;
    }
    if (cm_executor_call_validate(call, why, sizeof why) != 0) {
        if (call->has_type && call->type == MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE)
            a->metrics.invalid_status_updates++;
        cm_http_respond_text(req, 400, "Failed to validate Executor::Call: %s", why);
        goto out;
    }
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__UNKNOWN) {
        cm_http_respond_text(req, 501, "Received an unexpected 'UNKNOWN' call");
        goto out;
    }
    enum cm_media accept = CM_MEDIA_JSON;
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE) {
        accept = cm_http_negotiate(cm_http_request_header(req, "Accept"));
        if (accept == CM_MEDIA_NONE || accept == CM_MEDIA_UNSUPPORTED) {
            cm_http_respond_text(req, 406,
                                 "Expecting 'Accept' to allow application/json or "
                                 "application/x-protobuf");
            goto out;
        }
    }
    if (call->type == MESOS__V1__EXECUTOR__CALL__TYPE__HEARTBEAT) {
        cm_http_respond(req, 202, NULL, NULL, 0);
        goto out;
    }
    struct agent_framework *f = cm_strmap_get(&a->frameworks, call->framework_id->value);
    if (!f) {
        cm_http_respond_text(req, 400, "Framework cannot be found");
        goto out;
    }
    struct agent_executor *e = cm_strmap_get(&f->executors, call->executor_id->value);
    if (!e) {
        cm_http_respond_text(req, 400, "Executor cannot be found");
        goto out;
    }
    switch (call->type) {
    case MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE:
        handle_subscribe(a, req, e, call, accept);
        break;
    case MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE: {
        if (!e->stream) {
            cm_http_respond_text(req, 403, "Executor is not subscribed");
            break;
        }
        Mesos__V1__TaskStatus *s = call->update->status;
        if (check_executor_update(a, e, s, why, sizeof why) != 0) {
            a->metrics.invalid_status_updates++;
            CM_WARN(MOD, "Refusing an update from executor '%s' of framework '%s': %s", e->id,
                    f->id, why);
            cm_http_respond_text(req, 400, "Failed to validate Executor::Call: %s", why);
            break;
        }
        Mesos__V1__Executor__Event ack = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Acknowledged ak =
            MESOS__V1__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
        ak.task_id = s->task_id;
        ak.uuid = s->uuid;
        ack.has_type = 1;
        ack.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
        ack.acknowledged = &ak;
        int rc = handle_update(a, f->id, e, cm_pb_dup(&s->base));
        if (rc == 0 || rc == CM_EEXIST)
            a->metrics.valid_status_updates += rc == 0;
        cm_http_respond(req, 202, NULL, NULL, 0);
        /* ACKNOWLEDGED means "the agent has it": sent even for a duplicate. */
        executor_send(e, &ack);
        break;
    }
    case MESOS__V1__EXECUTOR__CALL__TYPE__MESSAGE: {
        if (!e->stream) {
            cm_http_respond_text(req, 403, "Executor is not subscribed");
            break;
        }
        Cmesos__Internal__AgentCall mc = CMESOS__INTERNAL__AGENT_CALL__INIT;
        Cmesos__Internal__AgentCall__ExecutorMessage em =
            CMESOS__INTERNAL__AGENT_CALL__EXECUTOR_MESSAGE__INIT;
        em.framework_id = call->framework_id;
        em.executor_id = call->executor_id;
        em.data = call->message->data;
        mc.has_type = 1;
        mc.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__EXECUTOR_MESSAGE;
        mc.executor_message = &em;
        post_call(a, &mc);
        cm_http_respond(req, 202, NULL, NULL, 0);
        break;
    }
    default: cm_http_respond_text(req, 501, "Unsupported call"); break;
    }
out:
    pb_free(call);
}

/* ---- master link: registration and events ----------------------------------------------- */

static void start_register(struct cm_agent *a);

static void register_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_register(arg);
}

static void schedule_register(struct cm_agent *a, double delay)
{
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (time_t)delay) * 1e6)};
    evtimer_add(a->register_timer, &tv);
}

/* Random delay in [0, backoff], then the back-off doubles up to 1 minute. */
static void reconnect_later(struct cm_agent *a)
{
    double delay = a->backoff * ((double)random() / (double)RAND_MAX);
    a->backoff *= 2;
    if (a->backoff > 60)
        a->backoff = 60;
    CM_INFO(MOD, "Trying to (re-)register with the master in %.3f secs", delay);
    schedule_register(a, delay);
}

static void handle_registered(struct cm_agent *a, const Cmesos__Internal__AgentEvent__Registered *r)
{
    if (!r || !r->agent_id || cm_id_validate(r->agent_id->value, NULL) != 0) {
        CM_ERROR(MOD, "Master sent REGISTERED without a valid agent id");
        return;
    }
    bool again = a->agent_id != NULL;
    if (a->agent_id && strcmp(a->agent_id, r->agent_id->value) != 0)
        CM_WARN(MOD, "Master changed our id from '%s' to '%s'", a->agent_id, r->agent_id->value);
    free(a->agent_id);
    a->agent_id = cm_xstrdup(r->agent_id->value);
    a->ping_interval = r->has_ping_interval_seconds && r->ping_interval_seconds > 0
                           ? r->ping_interval_seconds
                           : 15;
    free(a->master_hostname);
    a->master_hostname = NULL;
    if (r->master_info)
        a->master_hostname = cm_xstrdup(r->master_info->hostname  ? r->master_info->hostname
                                        : r->master_info->address ? r->master_info->address->ip
                                                                  : "");
    a->registered = true;
    a->backoff = a->flags->registration_backoff_factor;
    {
        Mesos__V1__AgentInfo ai;
        Mesos__V1__AgentID aid;
        Mesos__V1__Resource **res = NULL;
        size_t nres = 0;
        build_agent_info(a, &ai, &aid, &res, &nres);
        ckpt_agent(a, &ai);
        cm_resources_proto_free(res, nres);
    }
    CM_INFO(MOD, "%s with master %s as agent '%s'", again ? "Re-registered" : "Registered",
            cm_detector_leader(a->detector), a->agent_id);
    cm_sum_set_connected(a->sum, true);
}

static void send_pong(struct cm_agent *a)
{
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__PONG;
    post_call(a, &call);
}

static void shutdown_framework(struct cm_agent *a, const char *fid)
{
    struct agent_framework *f = cm_strmap_get(&a->frameworks, fid);
    if (!f)
        return;
    CM_INFO(MOD, "Shutting down framework '%s'", fid);
    f->shutting_down = true;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &f->executors);
    struct agent_executor *e;
    while ((e = cm_strmap_iter_value(&it, NULL))) {
        if (e->state == EXECUTOR_TERMINATED) {
            /* Already exited; only unacknowledged updates kept it here. */
            complete_all_tasks(a, e);
            maybe_remove_executor(a, e); /* may free f when it was the last executor */
            if (!cm_strmap_get(&a->frameworks, fid))
                return;
        } else {
            executor_shutdown(a, e);
        }
    }
}

/* Returns non-zero to drop the stream. */
static int handle_event(struct cm_agent *a, const Cmesos__Internal__AgentEvent *ev)
{
    a->last_event = now(a);
    if (!ev->has_type)
        return 0;
    if (!a->registered && ev->type != CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED) {
        CM_WARN(MOD, "Dropping event %d from the master before REGISTERED", (int)ev->type);
        return 0;
    }
    switch (ev->type) {
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED:
        handle_registered(a, ev->registered);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING: send_pong(a); break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK:
        if (ev->run_task)
            run_task(a, ev->run_task->framework_info, ev->run_task->task);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK:
        if (ev->kill_task)
            kill_task(a, ev->kill_task);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE: {
        const Cmesos__Internal__AgentEvent__Acknowledge *k = ev->acknowledge;
        if (!k)
            break;
        Mesos__V1__TaskState st;
        bool done = false;
        int rc = cm_sum_acknowledge(a->sum, k->framework_id->value, k->task_id->value, k->uuid.data,
                                    k->uuid.len, &st, &done);
        if (rc != 0) {
            CM_WARN(MOD, "Ignoring unexpected acknowledgement for task '%s' of framework '%s'",
                    k->task_id->value, k->framework_id->value);
            break;
        }
        {
            struct agent_framework *af = cm_strmap_get(&a->frameworks, k->framework_id->value);
            struct agent_executor *ae =
                af ? cm_strmap_get(&af->task_index, k->task_id->value) : NULL;
            if (ae && fw_checkpoints(af) && k->uuid.len == 16)
                ckpt_ack(a, ae, k->task_id->value, k->uuid.data);
        }
        if (done && cm_task_state_terminal(st)) {
            struct agent_framework *f = cm_strmap_get(&a->frameworks, k->framework_id->value);
            if (f)
                complete_task(a, f, k->task_id->value);
        }
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK:
        if (ev->shutdown_framework)
            shutdown_framework(a, ev->shutdown_framework->framework_id->value);
        break;
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_EXECUTOR: {
        const Cmesos__Internal__AgentEvent__ShutdownExecutor *s = ev->shutdown_executor;
        struct agent_framework *f =
            s ? cm_strmap_get(&a->frameworks, s->framework_id->value) : NULL;
        struct agent_executor *e = f ? cm_strmap_get(&f->executors, s->executor_id->value) : NULL;
        if (e)
            executor_shutdown(a, e);
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__FRAMEWORK_MESSAGE: {
        const Cmesos__Internal__AgentEvent__FrameworkMessage *m = ev->framework_message;
        struct agent_framework *f =
            m ? cm_strmap_get(&a->frameworks, m->framework_id->value) : NULL;
        struct agent_executor *e = f ? cm_strmap_get(&f->executors, m->executor_id->value) : NULL;
        if (!e || !e->stream) {
            a->metrics.invalid_framework_messages++;
            CM_WARN(MOD, "Dropping framework message for unknown or unsubscribed executor");
            break;
        }
        a->metrics.valid_framework_messages++;
        Mesos__V1__Executor__Event out = MESOS__V1__EXECUTOR__EVENT__INIT;
        Mesos__V1__Executor__Event__Message msg = MESOS__V1__EXECUTOR__EVENT__MESSAGE__INIT;
        msg.data = m->data;
        out.has_type = 1;
        out.type = MESOS__V1__EXECUTOR__EVENT__TYPE__MESSAGE;
        out.message = &msg;
        executor_send(e, &out);
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK: {
        const Mesos__V1__FrameworkInfo *fi =
            ev->update_framework ? ev->update_framework->framework_info : NULL;
        struct agent_framework *f =
            fi && fi->id ? cm_strmap_get(&a->frameworks, fi->id->value) : NULL;
        if (f)
            framework_update(a, f, fi);
        break;
    }
    case CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN:
        CM_ERROR(MOD, "Master asked this agent to shut down: %s",
                 ev->message ? ev->message : "(no reason)");
        event_base_loopbreak(a->base);
        return 1;
    default: break;
    }
    return 0;
}

static int on_record(void *arg, const uint8_t *data, size_t len)
{
    struct cm_agent *a = arg;
    ProtobufCMessage *m = NULL;
    char why[256];
    int rc =
        cm_pb_unpack(&cmesos__internal__agent_event__descriptor, data, len, &m, why, sizeof why);
    if (rc == CM_EPARSE) {
        CM_ERROR(MOD, "Master sent an event that is not an AgentEvent; dropping the stream");
        return 1;
    }
    if (rc != 0) {
        /* Well framed but wrong inside (a missing field, an undeclared enum): one bad event
         * does not cost the link. */
        CM_WARN(MOD, "Ignoring malformed event from the master: %s", why);
        return 0;
    }
    Cmesos__Internal__AgentEvent *ev = (Cmesos__Internal__AgentEvent *)m;
    rc = handle_event(a, ev);
    pb_free(ev);
    return rc;
}

static int register_headers(void *arg, const struct cm_http_response *resp)
{
    struct cm_agent *a = arg;
    if (resp->status == 307) {
        /* A standby master: a fixed --master follows its Location (the leader). */
        cm_detector_redirect(a->detector, cm_http_response_header(resp, "Location"));
        return 1;
    }
    if (resp->status != 200) {
        CM_WARN(MOD, "Master refused registration with status %ld", resp->status);
        return 1;
    }
    const char *sid = cm_http_response_header(resp, "Mesos-Stream-Id");
    free(a->stream_id);
    a->stream_id = sid ? cm_xstrdup(sid) : NULL;
    return 0;
}

static int register_data(void *arg, const void *data, size_t len)
{
    struct cm_agent *a = arg;
    int rc = cm_recordio_feed(&a->decoder, data, len, on_record, a);
    if (rc < 0)
        CM_ERROR(MOD, "Bad RecordIO from the master: %s", cm_strerror(rc));
    return rc != 0;
}

static void register_done(void *arg, int err, const char *errmsg,
                          const struct cm_http_response *resp)
{
    struct cm_agent *a = arg;
    (void)resp;
    a->register_call = NULL;
    if (a->registered)
        CM_WARN(MOD, "Lost the master's event stream (%s)",
                err ? (errmsg ? errmsg : cm_strerror(err)) : "stream ended");
    else
        CM_WARN(MOD, "Registration with the master failed: %s",
                err ? (errmsg ? errmsg : cm_strerror(err)) : "stream ended");
    a->registered = false;
    cm_sum_set_connected(a->sum, false);
    reconnect_later(a);
}

static void start_register(struct cm_agent *a)
{
    if (a->register_call || a->recovering)
        return;
    const char *leader = cm_detector_leader(a->detector);
    if (!leader) {
        reconnect_later(a);
        return;
    }
    free(a->master_url);
    a->master_url = cm_xasprintf("http://%s/master/api/v1/agent", leader);
    cm_recordio_decoder_cleanup(&a->decoder);
    cm_recordio_decoder_init(&a->decoder, MAX_RECORD);

    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__Register reg = CMESOS__INTERNAL__AGENT_CALL__REGISTER__INIT;
    Mesos__V1__AgentInfo ai;
    Mesos__V1__AgentID aid, aid2 = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__Resource **res = NULL;
    size_t nres = 0;
    build_agent_info(a, &ai, &aid, &res, &nres);
    static const Mesos__V1__AgentInfo__Capability__Type caps[] = {
        MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__MULTI_ROLE,
        MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__HIERARCHICAL_ROLE,
        MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__RESERVATION_REFINEMENT,
    };
    Mesos__V1__AgentInfo__Capability capv[3];
    Mesos__V1__AgentInfo__Capability *capp[3];
    for (size_t i = 0; i < 3; i++) {
        mesos__v1__agent_info__capability__init(&capv[i]);
        capv[i].has_type = 1;
        capv[i].type = caps[i];
        capp[i] = &capv[i];
    }
    reg.agent_info = &ai;
    reg.version = CMESOS_VERSION;
    reg.capabilities = capp;
    reg.n_capabilities = 3;
    reg.pid = a->pid;
    reg.address_ip = a->ip;

    /* Re-registration: report what still runs here so the master keeps it. */
    size_t nf = cm_strmap_count(&a->frameworks), ne = 0, nt = 0;
    struct cm_strmap_iter fit, eit, tit;
    struct agent_framework *f;
    struct agent_executor *e;
    struct agent_task *t;
    cm_strmap_iter_init(&fit, &a->frameworks);
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        ne += cm_strmap_count(&f->executors);
        cm_strmap_iter_init(&eit, &f->executors);
        while ((e = cm_strmap_iter_value(&eit, NULL)))
            nt += cm_strmap_count(&e->tasks);
    }
    Mesos__V1__FrameworkInfo **fv = cm_xcalloc(nf + 1, sizeof *fv);
    Mesos__V1__ExecutorInfo **ev = cm_xcalloc(ne + 1, sizeof *ev);
    Mesos__V1__Task **tv = cm_xcalloc(nt + 1, sizeof *tv);
    Mesos__V1__Task *tasks = cm_xcalloc(nt + 1, sizeof *tasks);
    Mesos__V1__FrameworkID *fids = cm_xcalloc(nt + 1, sizeof *fids);
    Mesos__V1__ExecutorID *eids = cm_xcalloc(nt + 1, sizeof *eids);
    size_t fi = 0, ei = 0, ti = 0;
    if (a->agent_id) {
        aid2.value = a->agent_id;
        call.agent_id = &aid2;
        cm_strmap_iter_init(&fit, &a->frameworks);
        while ((f = cm_strmap_iter_value(&fit, NULL))) {
            fv[fi++] = f->info;
            cm_strmap_iter_init(&eit, &f->executors);
            while ((e = cm_strmap_iter_value(&eit, NULL))) {
                ev[ei++] = e->info;
                cm_strmap_iter_init(&tit, &e->tasks);
                while ((t = cm_strmap_iter_value(&tit, NULL))) {
                    Mesos__V1__Task *pt = &tasks[ti];
                    mesos__v1__task__init(pt);
                    pt->name = t->info->name;
                    pt->task_id = t->info->task_id;
                    mesos__v1__framework_id__init(&fids[ti]);
                    fids[ti].value = f->id;
                    pt->framework_id = &fids[ti];
                    mesos__v1__executor_id__init(&eids[ti]);
                    eids[ti].value = e->id;
                    pt->executor_id = &eids[ti];
                    pt->agent_id = &aid2;
                    pt->state = t->state;
                    pt->resources = t->info->resources;
                    pt->n_resources = t->info->n_resources;
                    if (t->nstatuses) {
                        pt->statuses = t->statuses;
                        pt->n_statuses = t->nstatuses;
                    }
                    Mesos__V1__TaskState head;
                    if (cm_sum_pending(a->sum, f->id, t->info->task_id->value, &head) > 0) {
                        pt->has_status_update_state = 1;
                        pt->status_update_state = head;
                    }
                    tv[ti++] = pt;
                }
            }
        }
    }
    reg.frameworks = fv;
    reg.n_frameworks = fi;
    reg.executors = ev;
    reg.n_executors = ei;
    reg.tasks = tv;
    reg.n_tasks = ti;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER;
    call.register_ = &reg;

    size_t len = protobuf_c_message_get_packed_size(&call.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    protobuf_c_message_pack(&call.base, buf);
    cm_resources_proto_free(res, nres);
    free(fv);
    free(ev);
    free(tv);
    free(tasks);
    free(fids);
    free(eids);

    const char *headers[] = {"Content-Type: application/x-protobuf",
                             "Accept: application/x-protobuf", NULL};
    struct cm_http_request_opts o = {
        .method = "POST",
        .url = a->master_url,
        .headers = headers,
        .body = buf,
        .body_len = len,
        .connect_timeout_secs = 10,
        .on_headers = register_headers,
        .on_data = register_data,
        .on_done = register_done,
        .arg = a,
    };
    CM_INFO(MOD, "%s with master at %s", a->agent_id ? "Re-registering" : "Registering",
            a->master_url);
    int rc = cm_http_client_start(a->client, &o, &a->register_call);
    free(buf);
    if (rc != 0) {
        CM_ERROR(MOD, "Failed to start registration: %s", cm_strerror(rc));
        a->register_call = NULL;
        reconnect_later(a);
    }
}

/* The detector saw a new leading master (or none): drop the old stream and re-register with
 * our id at once, so that a failover costs no back-off. */
static void on_leader_changed(void *arg, const char *leader)
{
    struct cm_agent *a = arg;
    if (a->register_call) {
        cm_http_call_cancel(a->register_call);
        a->register_call = NULL;
    }
    if (a->registered) {
        a->registered = false;
        cm_sum_set_connected(a->sum, false);
    }
    a->backoff =
        a->flags->registration_backoff_factor > 0 ? a->flags->registration_backoff_factor : 1;
    if (leader && a->register_timer)
        schedule_register(a, 0);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_agent *a = arg;
    cm_sum_tick(a->sum);
    if (a->registered && now(a) - a->last_event > 5 * a->ping_interval) {
        CM_WARN(MOD, "No event from the master for %.0f secs; re-registering",
                now(a) - a->last_event);
        a->registered = false;
        cm_sum_set_connected(a->sum, false);
        if (a->register_call) {
            cm_http_call_cancel(a->register_call);
            a->register_call = NULL;
        }
        reconnect_later(a);
    }
}

/* ---- recovery after a restart (recover.h) ----------------------------------------------- */

static void recovery_done(struct cm_agent *a)
{
    if (!a->recovering)
        return;
    a->recovering = false;
    if (a->reregister_timer)
        evtimer_del(a->reregister_timer);
    CM_INFO(MOD, "Recovery finished; registering with the master as agent '%s'",
            a->agent_id ? a->agent_id : "(new)");
    schedule_register(a, 0);
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
            executor_kill(a, e);
        }
    }
    a->awaiting_executors = 0;
    recovery_done(a);
}

static void pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_executor *e = arg;
    executor_exited(e->agent, e, -1);
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

static struct agent_framework *framework_new(struct cm_agent *a, const char *fid,
                                             const Mesos__V1__FrameworkInfo *fi)
{
    struct agent_framework *f = cm_xcalloc(1, sizeof *f);
    f->id = cm_xstrdup(fid);
    f->info = cm_pb_dup(&fi->base);
    cm_strmap_init(&f->executors);
    cm_strmap_init(&f->task_index);
    cm_ring_init(&f->completed_executors, CM_AGENT_MAX_COMPLETED_EXECUTORS, executor_free);
    cm_strmap_put(&a->frameworks, fid, f);
    return f;
}

/* Rebuilds one task and replays its update stream into the status update manager (which is
 * not connected yet, so nothing is sent before the agent re-registers). */
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
        if (t->nstatuses < MAX_STATUSES_PER_TASK || i + MAX_STATUSES_PER_TASK >= s->n)
            task_add_status(t, st);
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
        complete_task(a, f, rt->id);
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

static int recover_state(struct cm_agent *a, char *why, size_t whylen)
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
    size_t ngone = 0;
    for (size_t i = 0; i < rs.nframeworks; i++) {
        struct cm_rec_framework *rf = &rs.frameworks[i];
        struct agent_framework *f = framework_new(a, rf->id, rf->info);
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
            cm_ring_init(&e->completed_tasks, CM_AGENT_MAX_COMPLETED_TASKS, task_free);
            cm_resources_init(&e->resources);
            cm_resources_from_proto(&e->resources, e->info->resources, e->info->n_resources, NULL,
                                    0);
            e->directory = cm_paths_sandbox_dir(fl->work_dir, a->agent_id, f->id, e->id,
                                                e->container_id, NULL);
            cm_strmap_put(&f->executors, e->id, e);
            sandbox_attach(a, e);
            e->pid = re->pid;
            if (watch_recovered(a, e, re->start_time)) {
                ids[nadopt] = e->container_id;
                pids[nadopt] = e->pid;
                adopted[nadopt++] = e;
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
    cm_containerizer_recover(a->containerizer, ids, pids, nadopt);
    for (size_t i = 0; i < nadopt; i++)
        cm_containerizer_update(a->containerizer, adopted[i]->container_id, &adopted[i]->resources);
    /* Executors that died while the agent was down: their live tasks fail now. */
    for (size_t i = 0; i < ngone; i++) {
        struct agent_executor *e = gone[i];
        free(e->failure_message);
        e->failure_message = cm_xstrdup("Executor terminated while the agent was down");
        e->state = EXECUTOR_TERMINATING;
        executor_exited(a, e, -1);
    }
    /* Frameworks left with nothing (all tasks complete) are done. */
    struct cm_strmap_iter fit;
    struct agent_framework *f;
    cm_strmap_iter_init(&fit, &a->frameworks);
    while ((f = cm_strmap_iter_value(&fit, NULL)))
        if (cm_strmap_count(&f->executors) == 0)
            maybe_remove_framework(a, f);
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
    cm_recover_state_cleanup(&rs);
    return 0;
}

/* ---- construction ----------------------------------------------------------------------- */

static char *default_launcher_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return cm_xstrdup(".");
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash && slash != buf)
        *slash = '\0';
    return cm_xstrdup(buf);
}

/* The advertised IP: --advertise_ip, else --ip unless it is 0.0.0.0, else what the hostname
 * resolves to, else 127.0.0.1. */
static char *pick_ip(const struct cm_agent_flags *fl)
{
    if (fl->advertise_ip && *fl->advertise_ip)
        return cm_xstrdup(fl->advertise_ip);
    if (fl->ip && *fl->ip && strcmp(fl->ip, "0.0.0.0") != 0)
        return cm_xstrdup(fl->ip);
    char host[256];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        struct addrinfo hints = {.ai_family = AF_INET}, *res = NULL;
        if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
            char ip[INET_ADDRSTRLEN];
            const struct sockaddr_in *sin = (const struct sockaddr_in *)res->ai_addr;
            inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
            freeaddrinfo(res);
            return cm_xstrdup(ip);
        }
    }
    return cm_xstrdup("127.0.0.1");
}

static char *pick_hostname(const struct cm_agent_flags *fl, const char *ip)
{
    if (fl->hostname && *fl->hostname)
        return cm_xstrdup(fl->hostname);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    char host[NI_MAXHOST];
    if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1 &&
        getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, NULL, 0, NI_NAMEREQD) ==
            0)
        return cm_xstrdup(host);
    return cm_xstrdup(ip);
}

/* /files (with the agent log at /slave/log when there is --log_dir), the fetcher and the
 * sandbox GC. */
static int setup_sandbox_services(struct cm_agent *a, char *why, size_t whylen)
{
    const struct cm_agent_flags *fl = a->flags;
    int rc;
    a->files = cm_files_new();
    cm_files_routes(a->files, a->http);
    if (fl->log_dir && *fl->log_dir) {
        if ((rc = cm_paths_mkdirs(fl->log_dir, 0755)) != 0)
            return cm_fail(rc, why, whylen, "Failed to create log_dir '%s': %s", fl->log_dir,
                           cm_strerror(rc));
        char *path = cm_xasprintf("%s/mesos-agent.log", fl->log_dir);
        a->log_file = fopen(path, "ae");
        if (!a->log_file) {
            rc = cm_fail(-errno, why, whylen, "Failed to open '%s': %s", path, strerror(errno));
            free(path);
            return rc;
        }
        setvbuf(a->log_file, NULL, _IOLBF, 0);
        cm_log_set_file(a->log_file);
        cm_files_attach(a->files, path, "/slave/log");
        CM_INFO(MOD, "Logging to %s", path);
        free(path);
    }
    if (fl->gc_disk_headroom < 0 || fl->gc_disk_headroom > 1)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'gc_disk_headroom' must be in [0, 1]");
    char *cache_dir = fl->fetcher_cache_dir && *fl->fetcher_cache_dir
                          ? cm_xstrdup(fl->fetcher_cache_dir)
                          : cm_xasprintf("%s/fetch", fl->work_dir);
    struct cm_fetcher_config fc = {
        .cache_dir = cache_dir,
        .cache_size = fl->fetcher_cache_size,
        .stall_timeout = fl->fetcher_stall_timeout,
        .total_timeout = fl->fetcher_timeout,
        .frameworks_home = fl->frameworks_home,
    };
    rc = cm_fetcher_new(a->base, a->client, &fc, &a->fetcher, why, whylen);
    free(cache_dir);
    if (rc != 0)
        return rc;
    struct cm_gc_config gc = {
        .delay = fl->gc_delay,
        .headroom = fl->gc_disk_headroom,
        .disk_watch_interval = fl->disk_watch_interval,
        .work_dir = fl->work_dir,
    };
    a->gc = cm_gc_new(a->base, a->clock, &gc);
    return 0;
}

unsigned cm_agent_port(const struct cm_agent *agent)
{
    return agent->port;
}

int cm_agent_new(struct event_base *base, const struct cm_agent_flags *flags,
                 const struct cm_clock *clock, struct cm_agent **out, char *why, size_t whylen)
{
    *out = NULL;
    int rc;
    struct cm_agent *a = cm_xcalloc(1, sizeof *a);
    a->base = base;
    a->flags = flags;
    a->clock = clock;
    a->start_time = cm_clock_now(clock);
    a->backoff = flags->registration_backoff_factor > 0 ? flags->registration_backoff_factor : 1;
    cm_resources_init(&a->total);
    cm_strmap_init(&a->frameworks);
    cm_strmap_init(&a->executors_by_pid);
    cm_ring_init(&a->completed_frameworks, CM_AGENT_MAX_COMPLETED_FRAMEWORKS, framework_free);
    cm_recordio_decoder_init(&a->decoder, MAX_RECORD);

    if (!flags->work_dir || !*flags->work_dir) {
        rc = cm_fail(CM_EINVAL, why, whylen, "Flag 'work_dir' is required");
        goto fail;
    }
    if ((rc = cm_detector_new(base, flags->master, &a->detector, why, whylen)) != 0)
        goto fail;
    cm_detector_watch(a->detector, on_leader_changed, a);
    if (flags->default_role && cm_role_validate(flags->default_role, NULL) != 0) {
        rc = cm_fail(CM_EINVAL, why, whylen, "Flag 'default_role': invalid role '%s'",
                     flags->default_role);
        goto fail;
    }
    if ((rc = cm_paths_mkdirs(flags->work_dir, 0755)) != 0) {
        rc = cm_fail(rc, why, whylen, "Failed to create work_dir '%s': %s", flags->work_dir,
                     cm_strerror(rc));
        goto fail;
    }
    struct cm_sysinfo si;
    cm_detect_sysinfo(flags->work_dir, &si);
    if ((rc = cm_detect_resources(&si, flags->resources, flags->default_role, &a->total, why,
                                  whylen)) != 0)
        goto fail;
    if ((rc = cm_attributes_parse(&a->attributes, flags->attributes, why, whylen)) != 0)
        goto fail;
    if (flags->executor_environment_variables && *flags->executor_environment_variables) {
        a->executor_env =
            cm_executor_env_parse_flag(flags->executor_environment_variables, why, whylen);
        if (!a->executor_env) {
            rc = CM_EINVAL;
            goto fail;
        }
    }
    {
        char *runtime = cm_xasprintf("%s/runtime/containers", flags->work_dir);
        struct cm_containerizer_options co = {
            .isolation = flags->isolation,
            .launcher = flags->launcher,
            .cgroups_hierarchy = flags->cgroups_hierarchy,
            .cgroups_root = flags->cgroups_root,
            .cgroups_enable_cfs = flags->cgroups_enable_cfs,
            .cgroups_limit_swap = flags->cgroups_limit_swap,
            .cgroups_max_pids = flags->cgroups_max_pids > 0 ? (uint64_t)flags->cgroups_max_pids : 0,
            .runtime_dir = runtime,
            .defer_orphan_cleanup = true, /* recover_state re-attaches survivors first */
        };
        rc = cm_containerizer_new(&co, &a->containerizer, why, whylen);
        free(runtime);
        if (rc != 0)
            goto fail;
        if (strncmp(cm_containerizer_describe(a->containerizer), "Falling back", 12) == 0)
            CM_WARN(MOD, "%s", cm_containerizer_describe(a->containerizer));
        else
            CM_INFO(MOD, "%s", cm_containerizer_describe(a->containerizer));
    }
    a->launcher_dir = flags->launcher_dir && *flags->launcher_dir ? cm_xstrdup(flags->launcher_dir)
                                                                  : default_launcher_dir();
    a->bind_ip = cm_xstrdup(flags->ip && *flags->ip ? flags->ip : "0.0.0.0");
    a->ip = pick_ip(flags);
    a->hostname = pick_hostname(flags, a->ip);
    if (flags->port < 0 || flags->port > 65535) {
        rc = cm_fail(CM_EINVAL, why, whylen, "Flag 'port': %ld is not a port", flags->port);
        goto fail;
    }

    a->http = cm_http_server_new(base, "slave(1)", 16u * 1024u * 1024u);
    if (!a->http) {
        rc = cm_fail(-ENOMEM, why, whylen, "Failed to create the HTTP server");
        goto fail;
    }
    cm_agent_http_routes(a);
    if ((rc = cm_http_server_bind(a->http, a->bind_ip, (uint16_t)flags->port, &a->port)) != 0) {
        rc = cm_fail(rc, why, whylen, "Failed to bind %s:%ld: %s", a->bind_ip, flags->port,
                     cm_strerror(rc));
        goto fail;
    }
    a->pid = cm_xasprintf("slave(1)@%s:%u", a->ip, (unsigned)a->port);
    if (flags->port_file && *flags->port_file) {
        char *tmp = cm_xasprintf("%s.tmp", flags->port_file);
        FILE *fp = fopen(tmp, "w");
        if (!fp || fprintf(fp, "%u\n", (unsigned)a->port) < 0 || fclose(fp) != 0 ||
            rename(tmp, flags->port_file) != 0) {
            rc = cm_fail(-errno, why, whylen, "Failed to write port_file '%s': %s",
                         flags->port_file, strerror(errno));
            free(tmp);
            goto fail;
        }
        free(tmp);
    }

    a->client = cm_http_client_new(base);
    a->sum = cm_sum_new(clock, sum_send, a);
    a->register_timer = evtimer_new(base, register_timer_cb, a);
    a->tick_timer = event_new(base, -1, EV_PERSIST, tick_cb, a);
    struct timeval one = {1, 0};
    event_add(a->tick_timer, &one);
    a->sigchld_event = evsignal_new(base, SIGCHLD, sigchld_cb, a);
    event_add(a->sigchld_event, NULL);
    if (!a->client || !a->register_timer || !a->tick_timer || !a->sigchld_event) {
        rc = cm_fail(-ENOMEM, why, whylen, "Failed to set up the event loop");
        goto fail;
    }
    if ((rc = setup_sandbox_services(a, why, whylen)) != 0)
        goto fail;
    char *res_text = cm_resources_format(&a->total);
    CM_INFO(MOD, "Agent %s (%s) started with resources %s; launcher_dir %s", a->pid, a->hostname,
            res_text, a->launcher_dir);
    free(res_text);
    if ((rc = recover_state(a, why, whylen)) != 0)
        goto fail;
    schedule_register(a, 0);
    *out = a;
    return 0;
fail:
    cm_agent_free(a);
    return rc;
}

void cm_agent_free(struct cm_agent *a)
{
    if (!a)
        return;
    /* Without checkpointing nothing could recover these executors: take them down with us. */
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->executors_by_pid);
    struct agent_executor *e;
    while ((e = cm_strmap_iter_value(&it, NULL))) {
        /* Executors of checkpointing frameworks outlive the agent (Mesos does the same on
         * SIGTERM): the next agent run re-attaches to them. */
        if (e->pid > 0 && !fw_checkpoints(e->framework)) {
            CM_INFO(MOD, "Killing executor '%s' (pid %d) on shutdown", e->id, (int)e->pid);
            cm_containerizer_kill(a->containerizer, e->container_id, SIGKILL);
            waitpid(e->pid, NULL, 0);
            cm_containerizer_reaped(a->containerizer, e->container_id);
            e->pid = 0;
        }
    }
    cm_strmap_cleanup(&a->executors_by_pid);
    /* Streams first (their close callbacks point into executors), then the state. */
    cm_strmap_cleanup_values(&a->frameworks, framework_free);
    cm_ring_cleanup(&a->completed_frameworks);
    /* After the executors (they cancel their fetches and detach their paths), before the
     * HTTP client the fetcher downloads with. */
    cm_fetcher_free(a->fetcher);
    cm_gc_free(a->gc);
    cm_http_server_free(a->http);
    cm_files_free(a->files);
    if (a->log_file) {
        cm_log_set_file(NULL);
        fclose(a->log_file);
    }
    cm_http_client_free(a->client);
    if (a->register_timer)
        event_free(a->register_timer);
    if (a->tick_timer)
        event_free(a->tick_timer);
    if (a->reregister_timer)
        event_free(a->reregister_timer);
    if (a->sigchld_event)
        event_free(a->sigchld_event);
    cm_sum_free(a->sum);
    cm_containerizer_free(a->containerizer);
    cm_detector_free(a->detector);
    cm_recordio_decoder_cleanup(&a->decoder);
    cm_resources_cleanup(&a->total);
    cm_attributes_cleanup(&a->attributes);
    json_decref(a->executor_env);
    free(a->bind_ip);
    free(a->ip);
    free(a->hostname);
    free(a->pid);
    free(a->launcher_dir);
    free(a->agent_id);
    free(a->stream_id);
    free(a->master_hostname);
    free(a->master_url);
    free(a);
}
