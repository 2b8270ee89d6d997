/*
 * agent_operator_state.c: the operator API's responses built from the agent's records — GET_STATE,
 * GET_TASKS, GET_EXECUTORS, GET_FRAMEWORKS, GET_CONTAINERS, GET_AGENT — and LIST_FILES /
 * READ_FILE through the /files table (contract in agent_operator.h).
 *
 * The messages point into the agent's records (TaskInfo, statuses, FrameworkInfo, ExecutorInfo)
 * instead of copying them; only what is built here is allocated, from the arena.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_operator.h"
#include "agent_state.h"

/* Mesos still fills deprecated fields; we only read what the records hold. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include "codec.h"
#include "errors.h"
#include "pbjson.h"
#include "util.h"

/* A LIST_FILES of a huge directory is cut here (as /files/browse is). */
#define LIST_MAX_ENTRIES 100000

void *cm_agent_op_alloc(struct cm_agent_op_arena *ar, size_t size)
{
    if (ar->n == ar->cap) {
        ar->cap = ar->cap ? ar->cap * 2 : 32;
        ar->ptrs = cm_xrealloc(ar->ptrs, ar->cap * sizeof *ar->ptrs);
    }
    void *p = cm_xcalloc(1, size ? size : 1);
    ar->ptrs[ar->n++] = p;
    return p;
}

static char *arena_strdup(struct cm_agent_op_arena *ar, const char *s)
{
    size_t n = strlen(s);
    char *d = cm_agent_op_alloc(ar, n + 1);
    memcpy(d, s, n + 1);
    return d;
}

/* Takes a protobuf-c message allocated elsewhere (freed with the arena through its unpacked
 * free): kept in a second list so the arena frees it the right way. */
static void arena_keep_msg(struct cm_agent_op_arena *ar, ProtobufCMessage *msg);

void cm_agent_op_arena_free(struct cm_agent_op_arena *ar)
{
    for (size_t i = 0; i < ar->n; i++) {
        uintptr_t p = (uintptr_t)ar->ptrs[i];
        if (p & 1)
            protobuf_c_message_free_unpacked((ProtobufCMessage *)(p & ~(uintptr_t)1), NULL);
        else
            free(ar->ptrs[i]);
    }
    free(ar->ptrs);
    ar->ptrs = NULL;
    ar->n = ar->cap = 0;
}

static void arena_keep_msg(struct cm_agent_op_arena *ar, ProtobufCMessage *msg)
{
    if (ar->n == ar->cap) {
        ar->cap = ar->cap ? ar->cap * 2 : 32;
        ar->ptrs = cm_xrealloc(ar->ptrs, ar->cap * sizeof *ar->ptrs);
    }
    /* Heap pointers are at least 2-aligned: the low bit marks a protobuf message. */
    ar->ptrs[ar->n++] = (void *)((uintptr_t)msg | 1);
}

void cm_agent_op_keep_msg(struct cm_agent_op_arena *ar, ProtobufCMessage *msg)
{
    arena_keep_msg(ar, msg);
}

/* A growing array of pointers in the arena. */
struct vec {
    void **v;
    size_t n, cap;
};

static void vec_push(struct cm_agent_op_arena *ar, struct vec *vec, void *item)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 8;
        void **nv = cm_agent_op_alloc(ar, cap * sizeof *nv);
        if (vec->n)
            memcpy(nv, vec->v, vec->n * sizeof *nv);
        vec->v = nv;
        vec->cap = cap;
    }
    vec->v[vec->n++] = item;
}

/* ---- walking the records ------------------------------------------------------------------ */

typedef void (*executor_fn)(struct cm_agent *a, struct agent_framework *f, struct agent_executor *e,
                            bool completed, void *arg);

/* Every executor: live ones of live frameworks (completed = false), then the completed ones of
 * live frameworks and every executor of completed frameworks (completed = true). */
static void each_executor(struct cm_agent *a, executor_fn fn, void *arg)
{
    struct cm_strmap_iter fit, eit;
    struct agent_framework *f;
    struct agent_executor *e;
    cm_strmap_iter_init(&fit, &a->frameworks);
    while ((f = cm_strmap_iter_value(&fit, NULL))) {
        cm_strmap_iter_init(&eit, &f->executors);
        while ((e = cm_strmap_iter_value(&eit, NULL)))
            fn(a, f, e, false, arg);
        for (size_t i = 0; i < cm_ring_count(&f->completed_executors); i++)
            fn(a, f, cm_ring_at(&f->completed_executors, i), true, arg);
    }
    for (size_t j = 0; j < cm_ring_count(&a->completed_frameworks); j++) {
        f = cm_ring_at(&a->completed_frameworks, j);
        cm_strmap_iter_init(&eit, &f->executors);
        while ((e = cm_strmap_iter_value(&eit, NULL)))
            fn(a, f, e, true, arg);
        for (size_t i = 0; i < cm_ring_count(&f->completed_executors); i++)
            fn(a, f, cm_ring_at(&f->completed_executors, i), true, arg);
    }
}

struct find_ctx {
    const char *cid;
    struct agent_executor *found;
};

static void find_fn(struct cm_agent *a, struct agent_framework *f, struct agent_executor *e,
                    bool completed, void *arg)
{
    (void)a;
    (void)f;
    struct find_ctx *c = arg;
    /* A live record wins over a completed one (a restarted executor reuses nothing, but be
     * safe: the first live match, else the first completed one). */
    if (strcmp(e->container_id, c->cid) != 0)
        return;
    if (!c->found || (!completed && c->found->state == EXECUTOR_TERMINATED))
        c->found = e;
}

struct agent_executor *cm_agent_op_find_container(struct cm_agent *a, const char *container_id)
{
    struct find_ctx c = {container_id, NULL};
    each_executor(a, find_fn, &c);
    return c.found;
}

/* ---- tasks -------------------------------------------------------------------------------- */

static Mesos__V1__Task *task_pb(struct cm_agent *a, struct cm_agent_op_arena *ar,
                                const struct agent_framework *f, const struct agent_task *t)
{
    const Mesos__V1__TaskInfo *ti = t->info;
    Mesos__V1__Task *pb = cm_agent_op_alloc(ar, sizeof *pb);
    mesos__v1__task__init(pb);
    pb->name = ti->name ? ti->name : "";
    pb->task_id = ti->task_id;
    Mesos__V1__FrameworkID *fid = cm_agent_op_alloc(ar, sizeof *fid);
    mesos__v1__framework_id__init(fid);
    fid->value = f->id;
    pb->framework_id = fid;
    if (ti->executor)
        pb->executor_id = ti->executor->executor_id;
    if (ti->agent_id) {
        pb->agent_id = ti->agent_id;
    } else {
        Mesos__V1__AgentID *aid = cm_agent_op_alloc(ar, sizeof *aid);
        mesos__v1__agent_id__init(aid);
        aid->value = a->agent_id ? a->agent_id : "";
        pb->agent_id = aid;
    }
    pb->state = t->state;
    pb->n_resources = ti->n_resources;
    pb->resources = ti->resources;
    pb->n_statuses = t->nstatuses;
    pb->statuses = t->statuses;
    pb->labels = ti->labels;
    pb->discovery = ti->discovery;
    pb->container = ti->container;
    pb->health_check = ti->health_check;
    pb->kill_policy = ti->kill_policy;
    if (ti->command && ti->command->user)
        pb->user = ti->command->user;
    else if (f->info && f->info->user)
        pb->user = f->info->user;
    return pb;
}

struct tasks_ctx {
    struct cm_agent_op_arena *ar;
    struct vec queued, launched, terminated, completed;
};

static void tasks_fn(struct cm_agent *a, struct agent_framework *f, struct agent_executor *e,
                     bool completed, void *arg)
{
    (void)completed;
    struct tasks_ctx *c = arg;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &e->tasks);
    const struct agent_task *t;
    while ((t = cm_strmap_iter_value(&it, NULL))) {
        Mesos__V1__Task *pb = task_pb(a, c->ar, f, t);
        if (t->queued)
            vec_push(c->ar, &c->queued, pb);
        else if (cm_task_state_terminal(t->state))
            vec_push(c->ar, &c->terminated, pb);
        else
            vec_push(c->ar, &c->launched, pb);
    }
    for (size_t i = 0; i < cm_ring_count(&e->completed_tasks); i++)
        vec_push(c->ar, &c->completed, task_pb(a, c->ar, f, cm_ring_at(&e->completed_tasks, i)));
}

static Mesos__V1__Agent__Response__GetTasks *build_tasks(struct cm_agent *a,
                                                         struct cm_agent_op_arena *ar)
{
    struct tasks_ctx c = {.ar = ar};
    each_executor(a, tasks_fn, &c);
    Mesos__V1__Agent__Response__GetTasks *g = cm_agent_op_alloc(ar, sizeof *g);
    mesos__v1__agent__response__get_tasks__init(g);
    /* Every task the agent holds has reached its executor's queue: none is pending. */
    g->n_queued_tasks = c.queued.n;
    g->queued_tasks = (Mesos__V1__Task **)c.queued.v;
    g->n_launched_tasks = c.launched.n;
    g->launched_tasks = (Mesos__V1__Task **)c.launched.v;
    g->n_terminated_tasks = c.terminated.n;
    g->terminated_tasks = (Mesos__V1__Task **)c.terminated.v;
    g->n_completed_tasks = c.completed.n;
    g->completed_tasks = (Mesos__V1__Task **)c.completed.v;
    return g;
}

void cm_agent_op_get_tasks(struct cm_agent *a, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp)
{
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_TASKS;
    resp->get_tasks = build_tasks(a, ar);
}

/* ---- executors and frameworks ------------------------------------------------------------- */

struct exec_ctx {
    struct cm_agent_op_arena *ar;
    struct vec live, completed;
};

static void exec_fn(struct cm_agent *a, struct agent_framework *f, struct agent_executor *e,
                    bool completed, void *arg)
{
    (void)a;
    (void)f;
    struct exec_ctx *c = arg;
    if (!e->info)
        return;
    Mesos__V1__Agent__Response__GetExecutors__Executor *x = cm_agent_op_alloc(c->ar, sizeof *x);
    mesos__v1__agent__response__get_executors__executor__init(x);
    x->executor_info = e->info;
    /* A live record whose process has ended is reported as completed, as Mesos does once the
     * executor has terminated. */
    if (completed || e->state == EXECUTOR_TERMINATED)
        vec_push(c->ar, &c->completed, x);
    else
        vec_push(c->ar, &c->live, x);
}

static Mesos__V1__Agent__Response__GetExecutors *build_executors(struct cm_agent *a,
                                                                 struct cm_agent_op_arena *ar)
{
    struct exec_ctx c = {.ar = ar};
    each_executor(a, exec_fn, &c);
    Mesos__V1__Agent__Response__GetExecutors *g = cm_agent_op_alloc(ar, sizeof *g);
    mesos__v1__agent__response__get_executors__init(g);
    g->n_executors = c.live.n;
    g->executors = (Mesos__V1__Agent__Response__GetExecutors__Executor **)c.live.v;
    g->n_completed_executors = c.completed.n;
    g->completed_executors = (Mesos__V1__Agent__Response__GetExecutors__Executor **)c.completed.v;
    return g;
}

void cm_agent_op_get_executors(struct cm_agent *a, struct cm_agent_op_arena *ar,
                               Mesos__V1__Agent__Response *resp)
{
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_EXECUTORS;
    resp->get_executors = build_executors(a, ar);
}

static Mesos__V1__Agent__Response__GetFrameworks__Framework *
framework_pb(struct cm_agent_op_arena *ar, const struct agent_framework *f)
{
    Mesos__V1__Agent__Response__GetFrameworks__Framework *x = cm_agent_op_alloc(ar, sizeof *x);
    mesos__v1__agent__response__get_frameworks__framework__init(x);
    x->framework_info = f->info;
    return x;
}

static Mesos__V1__Agent__Response__GetFrameworks *build_frameworks(struct cm_agent *a,
                                                                   struct cm_agent_op_arena *ar)
{
    struct vec live = {0}, done = {0};
    struct cm_strmap_iter it;
    const struct agent_framework *f;
    cm_strmap_iter_init(&it, &a->frameworks);
    while ((f = cm_strmap_iter_value(&it, NULL)))
        if (f->info)
            vec_push(ar, &live, framework_pb(ar, f));
    for (size_t i = 0; i < cm_ring_count(&a->completed_frameworks); i++) {
        f = cm_ring_at(&a->completed_frameworks, i);
        if (f->info)
            vec_push(ar, &done, framework_pb(ar, f));
    }
    Mesos__V1__Agent__Response__GetFrameworks *g = cm_agent_op_alloc(ar, sizeof *g);
    mesos__v1__agent__response__get_frameworks__init(g);
    g->n_frameworks = live.n;
    g->frameworks = (Mesos__V1__Agent__Response__GetFrameworks__Framework **)live.v;
    g->n_completed_frameworks = done.n;
    g->completed_frameworks = (Mesos__V1__Agent__Response__GetFrameworks__Framework **)done.v;
    return g;
}

void cm_agent_op_get_frameworks(struct cm_agent *a, struct cm_agent_op_arena *ar,
                                Mesos__V1__Agent__Response *resp)
{
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_FRAMEWORKS;
    resp->get_frameworks = build_frameworks(a, ar);
}

void cm_agent_op_get_state(struct cm_agent *a, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp)
{
    Mesos__V1__Agent__Response__GetState *s = cm_agent_op_alloc(ar, sizeof *s);
    mesos__v1__agent__response__get_state__init(s);
    s->get_tasks = build_tasks(a, ar);
    s->get_executors = build_executors(a, ar);
    s->get_frameworks = build_frameworks(a, ar);
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_STATE;
    resp->get_state = s;
}

/* ---- containers --------------------------------------------------------------------------- */

struct cont_ctx {
    struct cm_agent_op_arena *ar;
    struct vec v;
};

static void cont_fn(struct cm_agent *a, struct agent_framework *f, struct agent_executor *e,
                    bool completed, void *arg)
{
    struct cont_ctx *c = arg;
    struct cm_agent_op_arena *ar = c->ar;
    if (completed || e->pid <= 0)
        return; /* only containers that are running */
    Mesos__V1__Agent__Response__GetContainers__Container *x = cm_agent_op_alloc(ar, sizeof *x);
    mesos__v1__agent__response__get_containers__container__init(x);
    Mesos__V1__FrameworkID *fid = cm_agent_op_alloc(ar, sizeof *fid);
    mesos__v1__framework_id__init(fid);
    fid->value = f->id;
    x->framework_id = fid;
    Mesos__V1__ExecutorID *eid = cm_agent_op_alloc(ar, sizeof *eid);
    mesos__v1__executor_id__init(eid);
    eid->value = e->id;
    x->executor_id = eid;
    x->executor_name = e->info && e->info->name ? e->info->name : "";
    Mesos__V1__ContainerID *cid = cm_agent_op_alloc(ar, sizeof *cid);
    mesos__v1__container_id__init(cid);
    cid->value = e->container_id;
    x->container_id = cid;
    Mesos__V1__ContainerStatus *st = cm_agent_op_alloc(ar, sizeof *st);
    mesos__v1__container_status__init(st);
    st->container_id = cid;
    st->has_executor_pid = 1;
    st->executor_pid = (uint32_t)e->pid;
    x->container_status = st;
    /* Usage as /containers reports it; a container whose cgroups cannot be read goes without
     * statistics rather than without its entry. */
    json_t *stats = json_object();
    if (cm_containerizer_usage(a->containerizer, e->container_id, cm_clock_now(a->clock), stats) ==
        0) {
        if (a->docker && cm_docker_is_executor(e->info))
            cm_docker_usage(a->docker, e->container_id, cm_clock_now(a->clock), stats);
        ProtobufCMessage *msg = NULL;
        char why[256];
        if (cm_pbjson_from_json(&mesos__v1__resource_statistics__descriptor, stats, &msg, why,
                                sizeof why) == 0) {
            arena_keep_msg(ar, msg);
            x->resource_statistics = (Mesos__V1__ResourceStatistics *)msg;
        }
    }
    json_decref(stats);
    vec_push(ar, &c->v, x);
}

void cm_agent_op_get_containers(struct cm_agent *a, struct cm_agent_op_arena *ar,
                                Mesos__V1__Agent__Response *resp)
{
    struct cont_ctx c = {.ar = ar};
    each_executor(a, cont_fn, &c);
    Mesos__V1__Agent__Response__GetContainers *g = cm_agent_op_alloc(ar, sizeof *g);
    mesos__v1__agent__response__get_containers__init(g);
    g->n_containers = c.v.n;
    g->containers = (Mesos__V1__Agent__Response__GetContainers__Container **)c.v.v;
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_CONTAINERS;
    resp->get_containers = g;
}

/* ---- agent -------------------------------------------------------------------------------- */

void cm_agent_op_get_agent(struct cm_agent *a, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp)
{
    Mesos__V1__AgentInfo *info = cm_agent_op_alloc(ar, sizeof *info);
    Mesos__V1__AgentID *id = cm_agent_op_alloc(ar, sizeof *id);
    mesos__v1__agent_info__init(info);
    mesos__v1__agent_id__init(id);
    Mesos__V1__Resource **res = NULL;
    size_t nres = 0;
    agent_state_agent_info(a, info, id, &res, &nres);
    /* The resources are protobuf-c messages from cm_resources_to_proto: copy the whole info
     * into one unpacked message the arena can free, then drop the originals. */
    Mesos__V1__AgentInfo *copy = cm_pb_dup(&info->base);
    cm_resources_proto_free(res, nres);
    arena_keep_msg(ar, &copy->base);
    Mesos__V1__Agent__Response__GetAgent *g = cm_agent_op_alloc(ar, sizeof *g);
    mesos__v1__agent__response__get_agent__init(g);
    g->agent_info = copy;
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__GET_AGENT;
    resp->get_agent = g;
}

/* ---- files -------------------------------------------------------------------------------- */

/* Opens a requested path through the /files module, which resolves it beneath its attached
 * directory without following symlinks (so a task cannot race the operator API out of its
 * sandbox either). Returns 0 with *fd, or the HTTP code with why. */
static int open_path(struct cm_agent *a, const char *path, int flags, int *fd, char *why,
                     size_t whylen)
{
    int rc = cm_files_open(a->files, path, flags, fd, NULL);
    if (rc == 0)
        return 0;
    if (rc == CM_EINVAL) {
        cm_fail(rc, why, whylen, "Expecting an absolute 'path', got '%s'", path);
        return 400;
    }
    if (rc == -EACCES) {
        cm_fail(rc, why, whylen,
                "Path '%s' is outside of the attached directories or crosses a symlink", path);
        return 403;
    }
    cm_fail(rc, why, whylen, "No such file or directory: '%s'", path);
    return 404;
}

static Mesos__V1__FileInfo *file_info(struct cm_agent_op_arena *ar, const char *shown,
                                      const struct stat *st)
{
    Mesos__V1__FileInfo *fi = cm_agent_op_alloc(ar, sizeof *fi);
    mesos__v1__file_info__init(fi);
    fi->path = arena_strdup(ar, shown);
    fi->has_nlink = 1;
    fi->nlink = (int32_t)st->st_nlink;
    fi->has_size = 1;
    fi->size = (uint64_t)st->st_size;
    Mesos__V1__TimeInfo *t = cm_agent_op_alloc(ar, sizeof *t);
    mesos__v1__time_info__init(t);
    t->nanoseconds = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    fi->mtime = t;
    fi->has_mode = 1;
    fi->mode = (uint32_t)st->st_mode;
    char buf[1024];
    struct passwd pw, *pres = NULL;
    if (getpwuid_r(st->st_uid, &pw, buf, sizeof buf, &pres) == 0 && pres) {
        fi->uid = arena_strdup(ar, pres->pw_name);
    } else {
        fi->uid = cm_agent_op_alloc(ar, 16);
        snprintf(fi->uid, 16, "%u", (unsigned)st->st_uid);
    }
    struct group gr, *gres = NULL;
    if (getgrgid_r(st->st_gid, &gr, buf, sizeof buf, &gres) == 0 && gres) {
        fi->gid = arena_strdup(ar, gres->gr_name);
    } else {
        fi->gid = cm_agent_op_alloc(ar, 16);
        snprintf(fi->gid, 16, "%u", (unsigned)st->st_gid);
    }
    return fi;
}

static int cmp_file_info(const void *x, const void *y)
{
    const Mesos__V1__FileInfo *a = *(Mesos__V1__FileInfo *const *)x;
    const Mesos__V1__FileInfo *b = *(Mesos__V1__FileInfo *const *)y;
    return strcmp(a->path, b->path);
}

int cm_agent_op_list_files(struct cm_agent *a, const char *path, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp, char *why, size_t whylen)
{
    int fd = -1;
    int code = open_path(a, path, O_RDONLY | O_NONBLOCK, &fd, why, whylen);
    if (code)
        return code;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        cm_fail(CM_ENOTFOUND, why, whylen, "No such file or directory: '%s'", path);
        return 404;
    }
    struct vec v = {0};
    if (!S_ISDIR(st.st_mode)) {
        close(fd);
        vec_push(ar, &v, file_info(ar, path, &st));
    } else {
        DIR *d = fdopendir(fd);
        if (!d) {
            int err = errno;
            close(fd);
            cm_fail(CM_ENOTFOUND, why, whylen, "Failed to open directory '%s': %s", path,
                    strerror(err));
            return err == EACCES ? 403 : 404;
        }
        int dfd = dirfd(d);
        size_t plen = strlen(path);
        while (path[0] && plen > 1 && path[plen - 1] == '/')
            plen--;
        struct dirent *de;
        while ((de = readdir(d)) && v.n < LIST_MAX_ENTRIES) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            struct stat es;
            if (fstatat(dfd, de->d_name, &es, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
            char *shown = cm_xasprintf("%.*s/%s", (int)(plen == 1 ? 0 : plen), path, de->d_name);
            vec_push(ar, &v, file_info(ar, shown, &es));
            free(shown);
        }
        closedir(d);
        qsort(v.v, v.n, sizeof *v.v, cmp_file_info);
    }
    Mesos__V1__Agent__Response__ListFiles *l = cm_agent_op_alloc(ar, sizeof *l);
    mesos__v1__agent__response__list_files__init(l);
    l->n_file_infos = v.n;
    l->file_infos = (Mesos__V1__FileInfo **)v.v;
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__LIST_FILES;
    resp->list_files = l;
    return 0;
}

int cm_agent_op_read_file(struct cm_agent *a, const char *path, uint64_t offset, bool has_length,
                          uint64_t length, struct cm_agent_op_arena *ar,
                          Mesos__V1__Agent__Response *resp, char *why, size_t whylen)
{
    int fd = -1;
    int code = open_path(a, path, O_RDONLY | O_NONBLOCK, &fd, why, whylen);
    if (code)
        return code;
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode) || !S_ISREG(st.st_mode)) {
        bool dir = S_ISDIR(st.st_mode);
        close(fd);
        cm_fail(CM_EINVAL, why, whylen,
                dir ? "Cannot read a directory: '%s'" : "Cannot read '%s': not a regular file",
                path);
        return 400;
    }
    uint64_t size = (uint64_t)st.st_size;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t cap = (uint64_t)(page > 0 ? page : 4096) * CM_AGENT_OP_READ_PAGES;
    uint64_t want = offset < size ? size - offset : 0;
    if (has_length && length < want)
        want = length;
    if (want > cap)
        want = cap;
    uint8_t *data = cm_agent_op_alloc(ar, (size_t)want);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, data + got, (size_t)(want - got), (off_t)(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    Mesos__V1__Agent__Response__ReadFile *rf = cm_agent_op_alloc(ar, sizeof *rf);
    mesos__v1__agent__response__read_file__init(rf);
    rf->size = size;
    rf->data.data = data;
    rf->data.len = got;
    resp->has_type = 1;
    resp->type = MESOS__V1__AGENT__RESPONSE__TYPE__READ_FILE;
    resp->read_file = rf;
    return 0;
}
