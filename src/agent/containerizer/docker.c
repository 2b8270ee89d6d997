/* docker.c: the agent's side of the Docker containerizer (contract in docker.h). */
#include "docker.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

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

struct cm_docker {
    struct event_base *base;
    char *docker, *socket, *launcher_dir;
    bool kill_orphans, cfs;
    double remove_delay, stop_timeout;
    struct cm_http_client *http;
    size_t in_flight;
    struct removal *removals;
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
    cm_http_client_free(d->http);
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

size_t cm_docker_pending(const struct cm_docker *d)
{
    size_t n = d ? d->in_flight : 0;
    for (const struct removal *r = d ? d->removals : NULL; r; r = r->next)
        n++;
    return n;
}
