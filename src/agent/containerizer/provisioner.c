/*
 * provisioner.c: pulling images off the loop, the launch's rootfs and executor environment,
 * and image GC (see provisioner.h).
 */
#include "provisioner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "errors.h"
#include "log.h"
#include "offload.h"
#include "store.h"
#include "strmap.h"
#include "util.h"

#define MOD "provisioner"
#define DEFAULT_TMPFS (1024ull * 1024 * 1024)

struct waiter {
    struct waiter *next;
    cm_provisioner_done_fn done;
    void *arg;
    void (*arg_free)(void *);
};

struct pull {
    struct cm_provisioner *p;
    char *image;
    struct cm_offload *offload;
    int pid;
    struct waiter *waiters;
};

struct gc_job {
    struct cm_provisioner *p;
    char **keep;
    size_t n;
    void (*done)(void *arg, int rc);
    void *arg;
};

struct cm_provisioner {
    struct event_base *base;
    char *store_dir;
    char *registry_dir;
    char *mnt;
    uint64_t tmpfs_bytes;
    struct cm_strmap cache; /* image -> struct cm_store_image */
    struct cm_strmap pulls; /* image -> struct pull */
    cm_provisioner_in_use_fn in_use;
    void *in_use_arg;
    /* GC */
    bool gc_enabled;
    double gc_headroom;
    double gc_interval;
    char **gc_excluded;
    size_t gc_n_excluded;
    struct event *gc_timer;
    struct cm_offload *gc_offload;
};

static void image_free(void *v)
{
    cm_store_image_cleanup(v);
    free(v);
}

/* ---- GC config ---- */

static int parse_gc_config(struct cm_provisioner *p, const char *text, char *why, size_t whylen)
{
    json_error_t err;
    json_t *root = NULL;
    if (text[0] == '{' || text[0] == ' ')
        root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    else
        root = json_load_file(strncmp(text, "file://", 7) == 0 ? text + 7 : text,
                              JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'image_gc_config': not a JSON object: %s",
                       err.text);
    }
    int rc = 0;
    p->gc_headroom = 0.1;
    p->gc_interval = 60;
    json_t *h = json_object_get(root, "image_disk_headroom");
    if (h) {
        if (!json_is_number(h) || json_number_value(h) < 0 || json_number_value(h) > 1) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "Flag 'image_gc_config': 'image_disk_headroom' must be a number in "
                         "[0, 1]");
            goto out;
        }
        p->gc_headroom = json_number_value(h);
    }
    json_t *iv = json_object_get(root, "image_disk_watch_interval");
    if (iv) {
        json_t *ns = json_object_get(iv, "nanoseconds");
        if (!json_is_integer(ns) || json_integer_value(ns) <= 0) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "Flag 'image_gc_config': 'image_disk_watch_interval.nanoseconds' must "
                         "be a positive integer");
            goto out;
        }
        p->gc_interval = (double)json_integer_value(ns) / 1e9;
    }
    json_t *ex = json_object_get(root, "excluded_images");
    if (ex && (!json_is_array(ex) || json_array_size(ex) > 1024)) {
        rc = cm_fail(CM_EINVAL, why, whylen,
                     "Flag 'image_gc_config': 'excluded_images' must be an array (of at most "
                     "1024 images)");
        goto out;
    }
    p->gc_excluded = cm_xcalloc(json_array_size(ex) + 1, sizeof *p->gc_excluded);
    for (size_t i = 0; i < json_array_size(ex); i++) {
        json_t *im = json_array_get(ex, i);
        const char *name =
            json_string_value(json_object_get(json_object_get(im, "docker"), "name"));
        if (!name) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "Flag 'image_gc_config': 'excluded_images[%zu].docker.name' is missing "
                         "(only Docker images are supported)",
                         i);
            goto out;
        }
        p->gc_excluded[p->gc_n_excluded++] = cm_xstrdup(name);
    }
    p->gc_enabled = true;
out:
    json_decref(root);
    return rc;
}

static void gc_arm(struct cm_provisioner *p)
{
    struct timeval tv = {(time_t)p->gc_interval,
                         (suseconds_t)((p->gc_interval - (double)(time_t)p->gc_interval) * 1e6)};
    evtimer_add(p->gc_timer, &tv);
}

static void gc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_provisioner *p = arg;
    struct statvfs sv;
    if (statvfs(p->store_dir, &sv) == 0 && sv.f_blocks > 0) {
        double free_frac = (double)sv.f_bavail / (double)sv.f_blocks;
        if (free_frac < p->gc_headroom)
            cm_provisioner_gc(p, NULL, NULL);
    }
    gc_arm(p);
}

/* ---- life cycle ---- */

int cm_provisioner_new(const struct cm_provisioner_options *o, cm_provisioner_in_use_fn in_use,
                       void *in_use_arg, struct cm_provisioner **out, char *why, size_t whylen)
{
    *out = NULL;
    if (!o->registry_dir || o->registry_dir[0] != '/')
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'docker_registry': '%s' is not an absolute local directory (cmesos "
                       "pulls images only from a local directory of `docker save` archives or "
                       "OCI layouts)",
                       o->registry_dir ? o->registry_dir : "");
    struct stat st;
    if (stat(o->registry_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'docker_registry': %s is not a directory",
                       o->registry_dir);
    struct cm_provisioner *p = cm_xcalloc(1, sizeof *p);
    p->base = o->base;
    p->store_dir = o->store_dir && *o->store_dir ? cm_xstrdup(o->store_dir)
                                                 : cm_xasprintf("%s/store/docker", o->work_dir);
    p->registry_dir = cm_xstrdup(o->registry_dir);
    p->mnt = cm_xasprintf("%s/provisioner/mnt", o->work_dir);
    p->tmpfs_bytes = o->rootfs_tmpfs_bytes ? o->rootfs_tmpfs_bytes : DEFAULT_TMPFS;
    p->in_use = in_use;
    p->in_use_arg = in_use_arg;
    cm_strmap_init(&p->cache);
    cm_strmap_init(&p->pulls);
    int rc = cm_store_init(p->store_dir, why, whylen);
    if (!rc) {
        char *prov = cm_xasprintf("%s/provisioner", o->work_dir);
        if ((mkdir(prov, 0700) != 0 && errno != EEXIST) ||
            (mkdir(p->mnt, 0700) != 0 && errno != EEXIST))
            rc = cm_fail(-errno, why, whylen, "Failed to create %s: %s", p->mnt, strerror(errno));
        free(prov);
    }
    if (!rc && o->gc_config && *o->gc_config)
        rc = parse_gc_config(p, o->gc_config, why, whylen);
    if (!rc && p->gc_enabled && p->base) {
        p->gc_timer = evtimer_new(p->base, gc_timer_cb, p);
        gc_arm(p);
    }
    if (rc) {
        cm_provisioner_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void pull_free(struct pull *pl, bool cancel)
{
    if (cancel)
        cm_offload_cancel(pl->offload);
    for (struct waiter *w = pl->waiters, *next; w; w = next) {
        next = w->next;
        if (w->arg_free)
            w->arg_free(w->arg);
        free(w);
    }
    free(pl->image);
    free(pl);
}

void cm_provisioner_free(struct cm_provisioner *p)
{
    if (!p)
        return;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &p->pulls);
    struct pull *pl;
    while ((pl = cm_strmap_iter_value(&it, NULL)))
        pull_free(pl, true);
    cm_strmap_cleanup(&p->pulls);
    cm_strmap_cleanup_values(&p->cache, image_free);
    if (p->gc_timer)
        event_free(p->gc_timer);
    cm_offload_cancel(p->gc_offload);
    for (size_t i = 0; i < p->gc_n_excluded; i++)
        free(p->gc_excluded[i]);
    free(p->gc_excluded);
    free(p->store_dir);
    free(p->registry_dir);
    free(p->mnt);
    free(p);
}

const char *cm_provisioner_store_dir(const struct cm_provisioner *p)
{
    return p->store_dir;
}

const char *cm_provisioner_image_name(const Mesos__V1__ContainerInfo *ci)
{
    if (!ci || ci->type != MESOS__V1__CONTAINER_INFO__TYPE__MESOS || !ci->mesos ||
        !ci->mesos->image || !ci->mesos->image->docker)
        return NULL;
    return ci->mesos->image->docker->name;
}

/* ---- pulls ---- */

static const struct cm_store_image *cached(struct cm_provisioner *p, const char *image)
{
    struct cm_store_image *img = cm_strmap_get(&p->cache, image);
    if (img)
        return img;
    img = cm_xcalloc(1, sizeof *img);
    if (cm_store_load(p->store_dir, image, img, NULL, 0) != 0) {
        free(img);
        return NULL;
    }
    cm_strmap_put(&p->cache, image, img);
    return img;
}

static void why_path(const struct cm_provisioner *p, int pid, char *out, size_t len)
{
    snprintf(out, len, "%s/staging/why.%d", p->store_dir, pid);
}

/* In the offload child. */
static int pull_job(void *arg)
{
    struct pull *pl = arg;
    char why[1024] = "";
    size_t extracted = 0;
    int rc = cm_store_pull(pl->p->store_dir, pl->p->registry_dir, pl->image, &extracted, why,
                           sizeof why);
    if (rc) {
        char path[4096];
        why_path(pl->p, (int)getpid(), path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t w = write(fd, why, strlen(why));
            (void)w;
            close(fd);
        }
    }
    return rc;
}

static void pull_done(void *arg, int result)
{
    struct pull *pl = arg;
    struct cm_provisioner *p = pl->p;
    cm_strmap_remove(&p->pulls, pl->image);
    char why[1024] = "";
    if (result == 0 && !cached(p, pl->image)) {
        result = CM_ENOTFOUND;
        snprintf(why, sizeof why, "Image '%s' was pulled but its record cannot be read", pl->image);
    } else if (result != 0) {
        char path[4096];
        why_path(p, pl->pid, path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, why, sizeof why - 1);
            why[n > 0 ? n : 0] = '\0';
            close(fd);
            unlink(path);
        }
        if (!*why)
            snprintf(why, sizeof why, "Failed to pull image '%s': %s", pl->image,
                     cm_strerror(result));
        CM_WARN(MOD, "Pulling image '%s' failed: %s", pl->image, why);
    } else {
        CM_INFO(MOD, "Image '%s' is in the store %s", pl->image, p->store_dir);
    }
    for (struct waiter *w = pl->waiters; w; w = w->next)
        w->done(w->arg, result, why);
    pull_free(pl, false);
}

static int pull_start(struct pull *pl)
{
    struct cm_provisioner *p = pl->p;
    CM_INFO(MOD, "Pulling image '%s' from %s into %s", pl->image, p->registry_dir, p->store_dir);
    int rc = cm_offload_start(p->base, pull_job, pl, pull_done, pl, &pl->offload);
    if (!rc)
        pl->pid = cm_offload_pid(pl->offload);
    return rc;
}

int cm_provisioner_pull(struct cm_provisioner *p, const char *image, cm_provisioner_done_fn done,
                        void *arg, void (*arg_free)(void *), char *why, size_t whylen)
{
    struct cm_image_ref ref;
    int rc = cm_image_ref_parse(image, &ref, why, whylen);
    if (rc || cached(p, image)) {
        if (arg_free)
            arg_free(arg);
        return rc ? rc : 1;
    }
    struct waiter *w = cm_xcalloc(1, sizeof *w);
    w->done = done;
    w->arg = arg;
    w->arg_free = arg_free;
    struct pull *pl = cm_strmap_get(&p->pulls, image);
    if (pl) {
        w->next = pl->waiters;
        pl->waiters = w;
        return 0;
    }
    pl = cm_xcalloc(1, sizeof *pl);
    pl->p = p;
    pl->image = cm_xstrdup(image);
    pl->waiters = w;
    if (p->gc_offload) {
        /* The GC may be removing layers this image shares: the pull starts after it. */
        CM_INFO(MOD, "Image '%s' will be pulled once the image GC is done", image);
        cm_strmap_put(&p->pulls, image, pl);
        return 0;
    }
    if ((rc = pull_start(pl)) != 0) {
        pull_free(pl, false);
        return cm_fail(rc, why, whylen, "Failed to start pulling image '%s': %s", image,
                       strerror(-rc));
    }
    cm_strmap_put(&p->pulls, image, pl);
    return 0;
}

/* ---- launches ---- */

void cm_provisioner_launch_free(struct cm_provisioner_launch *l)
{
    if (!l)
        return;
    cm_rootfs_spec_free(l->rootfs);
    cm_image_strv_free(l->env);
    free(l);
}

static void env_add(char ***v, size_t *n, char *entry)
{
    *v = cm_xrealloc(*v, (*n + 2) * sizeof **v);
    (*v)[(*n)++] = entry;
    (*v)[*n] = NULL;
}

int cm_provisioner_prepare(struct cm_provisioner *p, const Mesos__V1__ContainerInfo *ci,
                           const Mesos__V1__CommandInfo *cmd, const char *sandbox,
                           struct cm_provisioner_launch **out, char *why, size_t whylen)
{
    *out = NULL;
    const char *image = cm_provisioner_image_name(ci);
    const struct cm_store_image *img = image ? cached(p, image) : NULL;
    if (!img)
        return cm_fail(CM_ENOTFOUND, why, whylen, "Image '%s' is not in the store",
                       image ? image : "");
    char **layers = cm_xcalloc(img->n_layers + 1, sizeof *layers);
    for (size_t i = 0; i < img->n_layers; i++) {
        char lp[4096];
        cm_store_layer_path(p->store_dir, img->layers[i], lp, sizeof lp);
        layers[i] = cm_xstrdup(lp);
    }
    struct cm_provisioner_launch *l = cm_xcalloc(1, sizeof *l);
    l->rootfs = cm_rootfs_spec_new(p->mnt, layers, img->n_layers, sandbox, p->tmpfs_bytes);
    cm_image_strv_free(layers);
    int rc = 0;
    for (size_t i = 0; i < ci->n_volumes && !rc; i++) {
        const Mesos__V1__Volume *v = ci->volumes[i];
        if (v->source || v->image) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "'volumes[%zu]': only host_path volumes are supported (no 'source' or "
                         "'image' volumes)",
                         i);
            break;
        }
        bool ro = v->mode == MESOS__V1__VOLUME__MODE__RO;
        rc = cm_rootfs_spec_add_volume(l->rootfs, i, v->host_path, v->container_path, ro, why,
                                       whylen);
    }
    if (img->config.user && *img->config.user)
        CM_WARN(MOD,
                "Image '%s' asks for user '%s', which is not supported (as in Mesos): the "
                "task runs as root",
                image, img->config.user);
    /* docker/runtime: the command and the environment the image asks for. */
    char **argv = NULL;
    if (!rc && cmd) {
        bool shell = !cmd->has_shell || cmd->shell;
        rc = cm_image_launch_argv(shell, cmd->value, cmd->arguments, cmd->n_arguments, &img->config,
                                  &argv, why, whylen);
    }
    if (rc) {
        cm_provisioner_launch_free(l);
        return rc;
    }
    size_t n = 0;
    env_add(&l->env, &n, cm_xasprintf("MESOS_ROOTFS=%s", l->rootfs->rootfs));
    env_add(&l->env, &n, cm_xasprintf("MESOS_SANDBOX_DIRECTORY=%s", CM_ROOTFS_SANDBOX));
    const char *wd =
        img->config.workdir && *img->config.workdir ? img->config.workdir : CM_ROOTFS_SANDBOX;
    env_add(&l->env, &n, cm_xasprintf("MESOS_WORKING_DIRECTORY=%s", wd));
    json_t *te = json_object();
    for (char **e = img->config.env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue; /* Mesos skips malformed entries too */
        char *name = cm_xstrndup(*e, (size_t)(eq - *e));
        json_object_set_new(te, name, json_string(eq + 1));
        free(name);
    }
    char *tes = json_dumps(te, JSON_COMPACT);
    json_decref(te);
    env_add(&l->env, &n, cm_xasprintf("MESOS_TASK_ENVIRONMENT=%s", tes ? tes : "{}"));
    free(tes);
    if (argv) {
        /* Mesos's --task_command: a CommandInfo in JSON. */
        json_t *c = json_object();
        json_object_set_new(c, "shell", json_false());
        json_object_set_new(c, "value", json_string(argv[0]));
        json_t *args = json_array();
        for (char **a = argv; *a; a++)
            json_array_append_new(args, json_string(*a));
        json_object_set_new(c, "arguments", args);
        char *cs = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        env_add(&l->env, &n, cm_xasprintf("MESOS_TASK_COMMAND=%s", cs ? cs : "{}"));
        free(cs);
        cm_image_strv_free(argv);
    }
    *out = l;
    return 0;
}

char **cm_provisioner_env(const struct cm_provisioner_launch *l, char **env)
{
    size_t n = 0, m = 0;
    while (env && env[n])
        n++;
    while (l->env && l->env[m])
        m++;
    env = cm_xrealloc(env, (n + m + 1) * sizeof *env);
    for (size_t i = 0; i < m; i++)
        env[n + i] = cm_xstrdup(l->env[i]);
    env[n + m] = NULL;
    return env;
}

/* ---- GC ---- */

static void keep_add(void *ctx, const char *image)
{
    struct gc_job *j = ctx;
    j->keep = cm_xrealloc(j->keep, (j->n + 1) * sizeof *j->keep);
    j->keep[j->n++] = cm_xstrdup(image);
}

static int gc_job_run(void *arg)
{
    struct gc_job *j = arg;
    size_t ni = 0, nl = 0;
    return cm_store_gc(j->p->store_dir, (const char *const *)j->keep, j->n, &ni, &nl, NULL, 0);
}

static void gc_job_done(void *arg, int rc)
{
    struct gc_job *j = arg;
    struct cm_provisioner *p = j->p;
    p->gc_offload = NULL;
    /* Forget cached images that may be gone; kept ones reload on demand. */
    cm_strmap_cleanup_values(&p->cache, image_free);
    cm_strmap_init(&p->cache);
    CM_INFO(MOD, "Image GC of %s finished (%s); %zu image(s) kept", p->store_dir,
            rc ? cm_strerror(rc) : "ok", j->n);
    /* Pulls asked for during the collection start now. */
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &p->pulls);
    struct pull *pl;
    while ((pl = cm_strmap_iter_value(&it, NULL))) {
        if (pl->offload)
            continue;
        int prc = pull_start(pl);
        if (prc) {
            char why[256];
            snprintf(why, sizeof why, "Failed to start pulling image '%s': %s", pl->image,
                     strerror(-prc));
            cm_strmap_iter_remove(&it);
            for (struct waiter *w = pl->waiters; w; w = w->next)
                w->done(w->arg, prc, why);
            pull_free(pl, false);
        }
    }
    if (j->done)
        j->done(j->arg, rc);
    for (size_t i = 0; i < j->n; i++)
        free(j->keep[i]);
    free(j->keep);
    free(j);
}

int cm_provisioner_gc(struct cm_provisioner *p, void (*done)(void *arg, int rc), void *arg)
{
    if (p->gc_offload || cm_strmap_count(&p->pulls))
        return CM_ESTATE;
    struct gc_job *j = cm_xcalloc(1, sizeof *j);
    j->p = p;
    j->done = done;
    j->arg = arg;
    for (size_t i = 0; i < p->gc_n_excluded; i++)
        keep_add(j, p->gc_excluded[i]);
    if (p->in_use)
        p->in_use(p->in_use_arg, keep_add, j);
    int rc = cm_offload_start(p->base, gc_job_run, j, gc_job_done, j, &p->gc_offload);
    if (rc) {
        for (size_t i = 0; i < j->n; i++)
            free(j->keep[i]);
        free(j->keep);
        free(j);
        return rc;
    }
    return 0;
}
