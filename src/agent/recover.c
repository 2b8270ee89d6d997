/*
 * recover.c: reading the checkpoint tree back after an agent restart.
 */
#include "recover.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "ids.h"
#include "log.h"
#include "paths.h"
#include "util.h"

#define MOD "recover"

/* Names of the subdirectories of dir that are valid ids (malloc'd array of malloc'd names). */
static char **list_ids(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t cap = 0;
    char **v = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || cm_id_validate(de->d_name, NULL) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            v = realloc(v, cap * sizeof *v);
            if (!v)
                abort();
        }
        v[(*n)++] = cm_xstrdup(de->d_name);
    }
    closedir(d);
    return v;
}

static void free_ids(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Records an error: fatal with strict (returns it), else logged and counted (returns 0). */
static int broken(struct cm_rec_state *s, bool strict, int rc, const char *what, const char *w,
                  char *why, size_t whylen)
{
    if (strict)
        return cm_fail(rc, why, whylen,
                       "%s. Recovery is strict (--strict): fix or remove the file, or restart "
                       "with --no-strict to skip %s (its tasks are lost)",
                       w, what);
    CM_ERROR(MOD, "%s; skipping %s (--no-strict)", w, what);
    s->errors++;
    return 0;
}

static void task_cleanup(struct cm_rec_task *t)
{
    free(t->id);
    if (t->info)
        protobuf_c_message_free_unpacked(&t->info->base, NULL);
    cm_ckpt_stream_cleanup(&t->stream);
    free(t->updates_path);
}

static void executor_cleanup(struct cm_rec_executor *e)
{
    for (size_t i = 0; i < e->ntasks; i++)
        task_cleanup(&e->tasks[i]);
    free(e->tasks);
    free(e->id);
    free(e->container_id);
    if (e->info)
        protobuf_c_message_free_unpacked(&e->info->base, NULL);
}

static void framework_cleanup(struct cm_rec_framework *f)
{
    for (size_t i = 0; i < f->nexecutors; i++)
        executor_cleanup(&f->executors[i]);
    free(f->executors);
    free(f->id);
    if (f->info)
        protobuf_c_message_free_unpacked(&f->info->base, NULL);
}

void cm_recover_state_cleanup(struct cm_rec_state *s)
{
    for (size_t i = 0; i < s->nframeworks; i++)
        framework_cleanup(&s->frameworks[i]);
    free(s->frameworks);
    free(s->agent_id);
    if (s->agent_info)
        protobuf_c_message_free_unpacked(&s->agent_info->base, NULL);
    memset(s, 0, sizeof *s);
}

static int read_tasks(struct cm_rec_state *s, bool strict, const char *run_dir,
                      struct cm_rec_executor *e, char *why, size_t whylen)
{
    char *tasks_dir = cm_xasprintf("%s/tasks", run_dir);
    size_t n = 0;
    char **ids = list_ids(tasks_dir, &n);
    int rc = 0;
    e->tasks = cm_xcalloc(n + 1, sizeof *e->tasks);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char w[768] = "";
        char *info_path = cm_xasprintf("%s/%s/" CM_PATHS_TASK_INFO, tasks_dir, ids[i]);
        ProtobufCMessage *m = NULL;
        int r = cm_ckpt_read_message(info_path, &mesos__v1__task_info__descriptor, &m, w, sizeof w);
        free(info_path);
        if (r == -ENOENT) {
            CM_WARN(MOD,
                    "Task '%s' of executor '%s' has no task.info (crashed while launching); "
                    "skipping it",
                    ids[i], e->id);
            continue;
        }
        Mesos__V1__TaskInfo *info = (Mesos__V1__TaskInfo *)m;
        if (r == 0 && (!info->task_id || strcmp(info->task_id->value, ids[i]) != 0))
            r = cm_fail(CM_EPARSE, w, sizeof w, "Checkpoint of task '%s' names another task",
                        ids[i]);
        if (r) {
            if (m)
                protobuf_c_message_free_unpacked(m, NULL);
            char *what = cm_xasprintf("task '%s'", ids[i]);
            rc = broken(s, strict, r, what, w, why, whylen);
            free(what);
            continue;
        }
        struct cm_rec_task *t = &e->tasks[e->ntasks];
        memset(t, 0, sizeof *t);
        t->updates_path = cm_xasprintf("%s/%s/" CM_PATHS_TASK_UPDATES, tasks_dir, ids[i]);
        r = cm_ckpt_stream_read(t->updates_path, &t->stream, w, sizeof w);
        if (r) {
            protobuf_c_message_free_unpacked(m, NULL);
            free(t->updates_path);
            t->updates_path = NULL;
            char *what = cm_xasprintf("task '%s'", ids[i]);
            rc = broken(s, strict, r, what, w, why, whylen);
            free(what);
            continue;
        }
        if (t->stream.truncated) {
            CM_WARN(MOD,
                    "Status update stream '%s' ends with a partial record (torn write); "
                    "truncating it to its %zu complete bytes",
                    t->updates_path, t->stream.valid_len);
            if (truncate(t->updates_path, (off_t)t->stream.valid_len) != 0)
                CM_WARN(MOD, "Failed to truncate '%s': %s", t->updates_path, strerror(errno));
        }
        t->id = cm_xstrdup(ids[i]);
        t->info = info;
        e->ntasks++;
    }
    free_ids(ids, n);
    free(tasks_dir);
    return rc;
}

static int read_executor(struct cm_rec_state *s, bool strict, const char *exec_dir, const char *eid,
                         struct cm_rec_framework *f, char *why, size_t whylen)
{
    char w[768] = "";
    char *info_path = cm_xasprintf("%s/" CM_PATHS_EXECUTOR_INFO, exec_dir);
    ProtobufCMessage *m = NULL;
    int r = cm_ckpt_read_message(info_path, &mesos__v1__executor_info__descriptor, &m, w, sizeof w);
    free(info_path);
    if (r == -ENOENT) {
        CM_WARN(MOD, "Executor '%s' of framework '%s' has no executor.info; skipping it", eid,
                f->id);
        return 0;
    }
    if (r) {
        char *what = cm_xasprintf("executor '%s' of framework '%s'", eid, f->id);
        int rc = broken(s, strict, r, what, w, why, whylen);
        free(what);
        return rc;
    }
    struct cm_rec_executor *e = &f->executors[f->nexecutors];
    memset(e, 0, sizeof *e);
    e->id = cm_xstrdup(eid);
    e->info = (Mesos__V1__ExecutorInfo *)m;

    char *runs_dir = cm_xasprintf("%s/runs", exec_dir);
    size_t n = 0;
    char **runs = list_ids(runs_dir, &n);
    int rc = 0;
    /* One run per executor id in this agent (a new run only after the old one completed and
     * its checkpoints were removed); a leftover extra run is ignored with a warning. */
    if (n > 1)
        CM_WARN(MOD, "Executor '%s' of framework '%s' has %zu runs; recovering '%s'", eid, f->id, n,
                runs[0]);
    if (n >= 1) {
        e->container_id = cm_xstrdup(runs[0]);
        char *run_dir = cm_xasprintf("%s/%s", runs_dir, runs[0]);
        char *pid_path = cm_xasprintf("%s/" CM_PATHS_FORKED_PID, run_dir);
        r = cm_ckpt_read_pid(pid_path, &e->pid, &e->start_time, w, sizeof w);
        if (r && r != -ENOENT) {
            /* Without a trustworthy pid the container cannot be re-attached: it is treated as
             * gone (killed as an orphan) and its tasks fail, but they are still reported. */
            char *what = cm_xasprintf("the pid of executor '%s'", eid);
            rc = broken(s, strict, r, what, w, why, whylen);
            free(what);
            e->pid = 0;
        } else if (r == -ENOENT) {
            e->pid = 0;
        }
        if (rc == 0)
            rc = read_tasks(s, strict, run_dir, e, why, whylen);
        free(pid_path);
        free(run_dir);
    }
    free_ids(runs, n);
    free(runs_dir);
    f->nexecutors++;
    return rc;
}

static int read_framework(struct cm_rec_state *s, bool strict, const char *fw_dir, const char *fid,
                          char *why, size_t whylen)
{
    char w[768] = "";
    char *info_path = cm_xasprintf("%s/" CM_PATHS_FRAMEWORK_INFO, fw_dir);
    ProtobufCMessage *m = NULL;
    int r =
        cm_ckpt_read_message(info_path, &mesos__v1__framework_info__descriptor, &m, w, sizeof w);
    free(info_path);
    if (r == -ENOENT) {
        CM_WARN(MOD, "Framework '%s' has no framework.info; skipping it", fid);
        return 0;
    }
    if (r) {
        char *what = cm_xasprintf("framework '%s'", fid);
        int rc = broken(s, strict, r, what, w, why, whylen);
        free(what);
        return rc;
    }
    struct cm_rec_framework *f = &s->frameworks[s->nframeworks++];
    memset(f, 0, sizeof *f);
    f->id = cm_xstrdup(fid);
    f->info = (Mesos__V1__FrameworkInfo *)m;
    char *exec_root = cm_xasprintf("%s/executors", fw_dir);
    size_t n = 0;
    char **ids = list_ids(exec_root, &n);
    f->executors = cm_xcalloc(n + 1, sizeof *f->executors);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *dir = cm_xasprintf("%s/%s", exec_root, ids[i]);
        rc = read_executor(s, strict, dir, ids[i], f, why, whylen);
        free(dir);
    }
    free_ids(ids, n);
    free(exec_root);
    return rc;
}

int cm_recover_read(const char *work_dir, bool strict, struct cm_rec_state *out, char *why,
                    size_t whylen)
{
    memset(out, 0, sizeof *out);
    char *latest = cm_paths_meta_latest(work_dir);
    char target[PATH_MAX];
    ssize_t len = readlink(latest, target, sizeof target - 1);
    int rc = 0;
    if (len < 0) {
        if (errno != ENOENT)
            rc = cm_fail(-errno, why, whylen, "Failed to read '%s': %s", latest, strerror(errno));
        free(latest);
        return rc;
    }
    target[len] = '\0';
    free(latest);
    const char *w = NULL;
    if (cm_id_validate(target, &w) != 0) {
        cm_recover_state_cleanup(out);
        return cm_fail(CM_EPARSE, why, whylen,
                       "'%s/meta/slaves/latest' points at '%s', which is not an agent id (%s); "
                       "remove it to start as a new agent",
                       work_dir, target, w);
    }
    out->agent_id = cm_xstrdup(target);
    char buf[768] = "";
    char *info_path = cm_paths_meta_agent_info(work_dir, target);
    ProtobufCMessage *m = NULL;
    rc = cm_ckpt_read_message(info_path, &mesos__v1__agent_info__descriptor, &m, buf, sizeof buf);
    free(info_path);
    if (rc) {
        cm_recover_state_cleanup(out);
        return cm_fail(rc == -ENOENT ? CM_EPARSE : rc, why, whylen,
                       "%s; remove '%s/meta/slaves/latest' to start as a new agent", buf, work_dir);
    }
    out->agent_info = (Mesos__V1__AgentInfo *)m;

    char *agent_dir = cm_paths_meta_agent_dir(work_dir, target);
    char *fw_root = cm_xasprintf("%s/frameworks", agent_dir);
    size_t n = 0;
    char **ids = list_ids(fw_root, &n);
    out->frameworks = cm_xcalloc(n + 1, sizeof *out->frameworks);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *dir = cm_xasprintf("%s/%s", fw_root, ids[i]);
        rc = read_framework(out, strict, dir, ids[i], why, whylen);
        free(dir);
    }
    free_ids(ids, n);
    free(fw_root);
    free(agent_dir);
    if (rc)
        cm_recover_state_cleanup(out);
    return rc;
}

/* The attributes packed back to back (compared only, never shown). */
static uint8_t *attributes_packed(Mesos__V1__Attribute *const *v, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += protobuf_c_message_get_packed_size(&v[i]->base);
    uint8_t *b = cm_xcalloc(1, total + 1);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += protobuf_c_message_pack(&v[i]->base, b + off);
    *len = off;
    return b;
}

int cm_recover_check_agent_info(const Mesos__V1__AgentInfo *old, const struct cm_resources *total,
                                const struct cm_attributes *attrs, char *why, size_t whylen)
{
    struct cm_resources prev;
    cm_resources_init(&prev);
    char w[256] = "";
    int rc = cm_resources_from_proto(&prev, old->resources, old->n_resources, w, sizeof w);
    if (rc == 0 && !cm_resources_equal(&prev, total)) {
        char *a = cm_resources_format(&prev), *b = cm_resources_format(total);
        rc = cm_fail(CM_EINVAL, why, whylen,
                     "Incompatible agent info detected: resources changed from '%s' to '%s'. "
                     "Either restore the old --resources, or remove "
                     "<work_dir>/meta/slaves/latest (after draining the agent) to start as a new "
                     "agent",
                     a, b);
        free(a);
        free(b);
    } else if (rc != 0) {
        rc =
            cm_fail(CM_EINVAL, why, whylen, "Checkpointed agent info has invalid resources: %s", w);
    }
    cm_resources_cleanup(&prev);
    if (rc)
        return rc;
    size_t xl = 0, yl = 0;
    uint8_t *x = attributes_packed(old->attributes, old->n_attributes, &xl);
    uint8_t *y = attributes_packed(attrs->v, attrs->n, &yl);
    bool same = old->n_attributes == attrs->n && xl == yl && memcmp(x, y, xl) == 0;
    free(x);
    free(y);
    if (!same)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Incompatible agent info detected: attributes changed. Either restore the "
                       "old --attributes, or remove <work_dir>/meta/slaves/latest (after draining "
                       "the agent) to start as a new agent");
    return 0;
}
