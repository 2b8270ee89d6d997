/* docker.c: the agent's side of the Docker containerizer (contract in docker.h). */
#include "docker.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker_run.h"
#include "errors.h"
#include "http_client.h"
#include "log.h"
#include "util.h"

#define MOD "docker"
#define CALL_TIMEOUT 30.0

struct removal {
    struct removal *next, *prev;
    struct cm_docker *d;
    char *name;
    struct event *timer;
};

/* A container's full Docker id, looked up for its statistics. */
struct known {
    struct known *next;
    struct cm_docker *d;
    char *container_id;
    char docker_id[72]; /* "" until known */
    bool in_flight;
    double last_try;
};

struct cm_docker {
    struct event_base *base;
    char *docker, *socket, *launcher_dir;
    bool kill_orphans, cfs;
    double remove_delay, stop_timeout;
    struct cm_http_client *http;
    size_t in_flight;
    struct removal *removals;
    struct known *known;
    char *cgroups_root;
    long user_hz;
    /* Containers whose recovery listing must leave alone (a copy of live ids). */
    char **live;
    size_t nlive;
};

int cm_docker_containerizers_parse(const char *text, bool *mesos, bool *docker, char *why,
                                   size_t whylen)
{
    *mesos = *docker = false;
    if (!text || !*text)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'containerizers' is empty");
    const char *p = text;
    while (true) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        bool *slot = NULL;
        if (n == 5 && strncmp(p, "mesos", 5) == 0)
            slot = mesos;
        else if (n == 6 && strncmp(p, "docker", 6) == 0)
            slot = docker;
        if (!slot)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Flag 'containerizers': unknown containerizer '%.*s' (expected "
                           "'mesos' or 'docker')",
                           (int)(n > 40 ? 40 : n), p);
        if (*slot)
            return cm_fail(CM_EINVAL, why, whylen, "Flag 'containerizers': '%.*s' is listed twice",
                           (int)n, p);
        *slot = true;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

struct cm_docker *cm_docker_new(const struct cm_docker_options *o, char *why, size_t whylen)
{
    const char *docker = o->docker ? o->docker : "docker";
    const char *socket = o->socket ? o->socket : "/var/run/docker.sock";
    struct sockaddr_un sun;
    if (!o->base) {
        cm_fail(CM_EINVAL, why, whylen, "internal: the Docker containerizer needs the loop");
        return NULL;
    }
    if (!*docker) {
        cm_fail(CM_EINVAL, why, whylen, "Flag 'docker' is empty");
        return NULL;
    }
    if (!*socket || strlen(socket) >= sizeof sun.sun_path) {
        cm_fail(CM_EINVAL, why, whylen,
                "Flag 'docker_socket' must be a unix socket path of 1..%zu bytes",
                sizeof sun.sun_path - 1);
        return NULL;
    }
    if (o->remove_delay < 0 || o->stop_timeout < 0) {
        cm_fail(CM_EINVAL, why, whylen,
                "Flags 'docker_remove_delay' and 'docker_stop_timeout' must not be negative");
        return NULL;
    }
    struct cm_docker *d = cm_xcalloc(1, sizeof *d);
    d->base = o->base;
    d->docker = cm_xstrdup(docker);
    d->socket = cm_xstrdup(socket);
    d->launcher_dir = cm_xstrdup(o->launcher_dir ? o->launcher_dir : ".");
    d->kill_orphans = o->kill_orphans;
    d->cfs = o->cfs;
    d->remove_delay = o->remove_delay;
    d->stop_timeout = o->stop_timeout;
    d->cgroups_root = cm_xstrdup(o->cgroups_root ? o->cgroups_root : "/sys/fs/cgroup");
    d->user_hz = sysconf(_SC_CLK_TCK);
    if (d->user_hz <= 0)
        d->user_hz = 100;
    d->http = cm_http_client_new(o->base);
    if (!d->http)
        abort();
    return d;
}

static void removal_free(struct removal *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        r->d->removals = r->next;
    if (r->next)
        r->next->prev = r->prev;
    event_free(r->timer);
    free(r->name);
    free(r);
}

void cm_docker_free(struct cm_docker *d)
{
    if (!d)
        return;
    while (d->removals)
        removal_free(d->removals);
    cm_http_client_free(d->http); /* before the lookups it would call back */
    while (d->known) {
        struct known *k = d->known;
        d->known = k->next;
        free(k->container_id);
        free(k);
    }
    free(d->cgroups_root);
    for (size_t i = 0; i < d->nlive; i++)
        free(d->live[i]);
    free(d->live);
    free(d->docker);
    free(d->socket);
    free(d->launcher_dir);
    free(d);
}

int cm_docker_check_task(const Mesos__V1__TaskInfo *task, char *why, size_t whylen)
{
    if (task->executor)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Custom executors in Docker containers are not supported; give the task "
                       "a 'command'");
    struct cm_docker_run_params p = {.name = "mesos-check", .sandbox = "/sandbox"};
    char **argv = NULL;
    int rc = cm_docker_run_argv(task, &p, &argv, why, whylen);
    cm_docker_strv_free(argv);
    return rc;
}

void cm_docker_executor_command(const struct cm_docker *d, const char *container_id,
                                Mesos__V1__CommandInfo *cmd)
{
    free(cmd->value);
    for (size_t i = 0; i < cmd->n_arguments; i++)
        free(cmd->arguments[i]);
    free(cmd->arguments);
    cmd->value = cm_xasprintf("%s/mesos-docker-executor", d->launcher_dir);
    cmd->n_arguments = 8;
    cmd->arguments = cm_xcalloc(cmd->n_arguments, sizeof *cmd->arguments);
    cmd->arguments[0] = cm_xstrdup("mesos-docker-executor");
    cmd->arguments[1] = cm_xasprintf("--container=%s%s", CM_DOCKER_NAME_PREFIX, container_id);
    cmd->arguments[2] = cm_xasprintf("--docker=%s", d->docker);
    cmd->arguments[3] = cm_xasprintf("--docker_socket=%s", d->socket);
    cmd->arguments[4] = cm_xasprintf("--mapped_directory=%s", CM_DOCKER_MAPPED_SANDBOX);
    cmd->arguments[5] = cm_xasprintf("--stop_timeout=%g", d->stop_timeout);
    cmd->arguments[6] = cm_xasprintf("--launcher_dir=%s", d->launcher_dir);
    cmd->arguments[7] = cm_xasprintf("--cgroups_enable_cfs=%s", d->cfs ? "true" : "false");
}

bool cm_docker_is_executor(const Mesos__V1__ExecutorInfo *info)
{
    const char *v = info && info->command ? info->command->value : NULL;
    const char *tail = "/mesos-docker-executor";
    size_t n = v ? strlen(v) : 0, t = strlen(tail);
    return n >= t && strcmp(v + n - t, tail) == 0;
}

/* ---- calls to dockerd ---------------------------------------------------------------- */

struct call {
    struct cm_docker *d;
    char what[240];
};

static void on_call_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    struct call *c = arg;
    c->d->in_flight--;
    if (err)
        CM_WARN(MOD, "%s: dockerd did not answer: %s", c->what, errmsg ? errmsg : cm_strerror(err));
    else if (resp->status >= 300 && resp->status != 404 && resp->status != 409 &&
             resp->status != 304)
        CM_WARN(MOD, "%s: dockerd answered %ld: %.200s", c->what, resp->status,
                resp->body ? resp->body : "");
    else
        CM_INFO(MOD, "%s: done (%ld)", c->what, resp->status);
    free(c);
}

static int call_start(struct cm_docker *d, const char *method, const char *path,
                      cm_http_done_cb done, void *arg)
{
    char url[512];
    snprintf(url, sizeof url, "http://docker%s", path);
    struct cm_http_request_opts o = {.method = method,
                                     .url = url,
                                     .timeout_secs = CALL_TIMEOUT,
                                     .on_done = done,
                                     .arg = arg,
                                     .external = true,
                                     .unix_socket = d->socket};
    int rc = cm_http_client_start(d->http, &o, NULL);
    if (rc) {
        CM_WARN(MOD, "%s %s: cannot start the call: %s", method, path, cm_strerror(rc));
        return rc;
    }
    d->in_flight++;
    return 0;
}

static void simple_call(struct cm_docker *d, const char *method, const char *path, const char *what)
{
    struct call *c = cm_xcalloc(1, sizeof *c);
    c->d = d;
    snprintf(c->what, sizeof c->what, "%s", what);
    if (call_start(d, method, path, on_call_done, c) != 0)
        free(c);
}

static void remove_now(struct cm_docker *d, const char *name)
{
    char path[256], what[240];
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", name);
    snprintf(what, sizeof what, "Removing Docker container %s", name);
    simple_call(d, "DELETE", path, what);
}

static void on_removal_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct removal *r = arg;
    remove_now(r->d, r->name);
    removal_free(r);
}

void cm_docker_container_exited(struct cm_docker *d, const char *container_id)
{
    if (!d || !cm_docker_id_valid(container_id))
        return;
    for (struct known **kp = &d->known; *kp; kp = &(*kp)->next)
        if (strcmp((*kp)->container_id, container_id) == 0) {
            struct known *k = *kp;
            if (k->in_flight) {
                k->container_id[0] = '\0'; /* the lookup's answer frees it */
            } else {
                *kp = k->next;
                free(k->container_id);
                free(k);
            }
            break;
        }
    char name[160], path[256], what[240];
    snprintf(name, sizeof name, "%s%s", CM_DOCKER_NAME_PREFIX, container_id);
    if (d->remove_delay <= 0) {
        remove_now(d, name);
        return;
    }
    /* A container the executor left running (it was killed) must not run on. */
    snprintf(path, sizeof path, "/containers/%s/kill", name);
    snprintf(what, sizeof what, "Killing Docker container %s (its executor is gone)", name);
    simple_call(d, "POST", path, what);
    struct removal *r = cm_xcalloc(1, sizeof *r);
    r->d = d;
    r->name = cm_xstrdup(name);
    r->timer = evtimer_new(d->base, on_removal_timer, r);
    r->next = d->removals;
    if (d->removals)
        d->removals->prev = r;
    d->removals = r;
    double t = d->remove_delay;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - floor(t)) * 1e6)};
    evtimer_add(r->timer, &tv);
}

static bool is_live(const struct cm_docker *d, const char *id)
{
    for (size_t i = 0; i < d->nlive; i++)
        if (strcmp(d->live[i], id) == 0)
            return true;
    return false;
}

static void on_list_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    struct cm_docker *d = arg;
    d->in_flight--;
    if (err || resp->status != 200) {
        CM_WARN(MOD, "Cannot list Docker containers for recovery: %s",
                err ? (errmsg ? errmsg : cm_strerror(err)) : "dockerd refused the call");
        return;
    }
    json_error_t jerr;
    json_t *list = json_loadb(resp->body, resp->body_len, 0, &jerr);
    size_t i, orphans = 0;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        json_t *names = json_object_get(c, "Names");
        size_t j;
        json_t *n;
        json_array_foreach(names, j, n)
        {
            const char *name = json_string_value(n);
            if (!name)
                continue;
            if (*name == '/')
                name++;
            size_t plen = strlen(CM_DOCKER_NAME_PREFIX);
            if (strncmp(name, CM_DOCKER_NAME_PREFIX, plen) != 0 ||
                !cm_docker_id_valid(name + plen) || is_live(d, name + plen))
                continue;
            orphans++;
            if (d->kill_orphans)
                remove_now(d, name);
            else
                CM_INFO(MOD,
                        "Docker container %s belongs to no recovered executor; left alone "
                        "(--docker_kill_orphans=false)",
                        name);
        }
    }
    json_decref(list);
    CM_INFO(MOD, "Docker recovery: %zu live container(s), %zu orphan(s)%s", d->nlive, orphans,
            orphans && d->kill_orphans ? " removed" : "");
}

void cm_docker_recover(struct cm_docker *d, const char *const *live_ids, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nlive; i++)
        free(d->live[i]);
    free(d->live);
    d->live = cm_xcalloc(n ? n : 1, sizeof *d->live);
    d->nlive = n;
    for (size_t i = 0; i < n; i++)
        d->live[i] = cm_xstrdup(live_ids[i]);
    /* filters={"name":["mesos-"]} */
    call_start(d, "GET", "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22mesos-%22%5D%7D",
               on_list_done, d);
}

/* ---- statistics ------------------------------------------------------------------------ */

static void known_drop(struct cm_docker *d, struct known *k)
{
    for (struct known **kp = &d->known; *kp; kp = &(*kp)->next)
        if (*kp == k) {
            *kp = k->next;
            break;
        }
    free(k->container_id);
    free(k);
}

static void on_inspect_done(void *arg, int err, const char *errmsg,
                            const struct cm_http_response *resp)
{
    (void)errmsg;
    struct known *k = arg;
    struct cm_docker *d = k->d;
    d->in_flight--;
    k->in_flight = false;
    if (!k->container_id[0]) { /* the container went while we asked */
        known_drop(d, k);
        return;
    }
    if (err || resp->status != 200)
        return;
    json_error_t jerr;
    json_t *j = json_loadb(resp->body, resp->body_len, 0, &jerr);
    const char *id = json_string_value(json_object_get(j, "Id"));
    json_t *running = json_object_get(json_object_get(j, "State"), "Running");
    bool hex = id && strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64;
    if (hex && json_is_true(running))
        snprintf(k->docker_id, sizeof k->docker_id, "%s", id);
    json_decref(j);
}

/* The values of keys (in order) from a "key value" lines file; 0 when all were found. */
static int read_keys(const char *path, const char *const *keys, uint64_t *v, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    size_t found = 0;
    while (fgets(line, sizeof line, f)) {
        char key[64];
        unsigned long long val;
        if (sscanf(line, "%63s %llu", key, &val) != 2)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(key, keys[i]) == 0) {
                v[i] = val;
                found++;
            }
    }
    fclose(f);
    return found == n ? 0 : -1;
}

static int read_u64(const char *path, uint64_t *v)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    unsigned long long x;
    int ok = fscanf(f, "%llu", &x) == 1;
    fclose(f);
    *v = x;
    return ok ? 0 : -1;
}

static void add_number(json_t *stats, const char *key, double v)
{
    json_t *old = json_object_get(stats, key);
    double base = json_is_number(old) ? json_number_value(old) : 0;
    if (json_is_integer(old) || !old)
        json_object_set_new(stats, key, json_integer((json_int_t)(base + v)));
    else
        json_object_set_new(stats, key, json_real(base + v));
}

static void add_real(json_t *stats, const char *key, double v)
{
    json_t *old = json_object_get(stats, key);
    json_object_set_new(stats, key,
                        json_real((json_is_number(old) ? json_number_value(old) : 0) + v));
}

/* Adds the container's cgroup usage; returns false when its cgroups are not there. */
static bool add_usage(const struct cm_docker *d, const char *id, json_t *stats)
{
    char path[512];
    uint64_t v[2], mem;
    static const char *const cpu_v1[] = {"user", "system"};
    static const char *const cpu_v2[] = {"user_usec", "system_usec"};
    static const char *const mem_v1[] = {"rss", "cache"};
    static const char *const mem_v2[] = {"anon", "file"};
    /* cgroup v2 (cgroupfs driver): one directory. */
    snprintf(path, sizeof path, "%s/docker/%s/cpu.stat", d->cgroups_root, id);
    if (read_keys(path, cpu_v2, v, 2) == 0) {
        add_real(stats, "cpus_user_time_secs", (double)v[0] / 1e6);
        add_real(stats, "cpus_system_time_secs", (double)v[1] / 1e6);
        snprintf(path, sizeof path, "%s/docker/%s/memory.current", d->cgroups_root, id);
        if (read_u64(path, &mem) == 0)
            add_number(stats, "mem_total_bytes", (double)mem);
        snprintf(path, sizeof path, "%s/docker/%s/memory.stat", d->cgroups_root, id);
        if (read_keys(path, mem_v2, v, 2) == 0) {
            add_number(stats, "mem_rss_bytes", (double)v[0]);
            add_number(stats, "mem_cache_bytes", (double)v[1]);
        }
        return true;
    }
    /* cgroup v1: cpuacct (alone or with cpu) and memory hierarchies. */
    bool any = false;
    const char *cpuacct[] = {"cpuacct", "cpu,cpuacct", "cpuacct,cpu"};
    for (size_t i = 0; i < 3 && !any; i++) {
        snprintf(path, sizeof path, "%s/%s/docker/%s/cpuacct.stat", d->cgroups_root, cpuacct[i],
                 id);
        if (read_keys(path, cpu_v1, v, 2) == 0) {
            add_real(stats, "cpus_user_time_secs", (double)v[0] / (double)d->user_hz);
            add_real(stats, "cpus_system_time_secs", (double)v[1] / (double)d->user_hz);
            any = true;
        }
    }
    snprintf(path, sizeof path, "%s/memory/docker/%s/memory.usage_in_bytes", d->cgroups_root, id);
    if (read_u64(path, &mem) == 0) {
        add_number(stats, "mem_total_bytes", (double)mem);
        any = true;
        snprintf(path, sizeof path, "%s/memory/docker/%s/memory.stat", d->cgroups_root, id);
        if (read_keys(path, mem_v1, v, 2) == 0) {
            add_number(stats, "mem_rss_bytes", (double)v[0]);
            add_number(stats, "mem_cache_bytes", (double)v[1]);
        }
    }
    return any;
}

void cm_docker_usage(struct cm_docker *d, const char *container_id, double now, json_t *statistics)
{
    if (!d || !cm_docker_id_valid(container_id))
        return;
    struct known *k = d->known;
    while (k && strcmp(k->container_id, container_id) != 0)
        k = k->next;
    if (!k) {
        k = cm_xcalloc(1, sizeof *k);
        k->d = d;
        k->container_id = cm_xstrdup(container_id);
        k->last_try = -1e9;
        k->next = d->known;
        d->known = k;
    }
    if (k->docker_id[0]) {
        if (add_usage(d, k->docker_id, statistics))
            return;
        k->docker_id[0] = '\0'; /* gone (or restarted): look it up again */
    }
    if (k->in_flight || now - k->last_try < 1.0)
        return;
    k->last_try = now;
    char path[256];
    snprintf(path, sizeof path, "/containers/%s%s/json", CM_DOCKER_NAME_PREFIX, container_id);
    if (call_start(d, "GET", path, on_inspect_done, k) == 0)
        k->in_flight = true;
}

size_t cm_docker_pending(const struct cm_docker *d)
{
    size_t n = d ? d->in_flight : 0;
    for (const struct removal *r = d ? d->removals : NULL; r; r = r->next)
        n++;
    return n;
}
