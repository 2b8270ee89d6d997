/*
 * agent.c: construction and teardown of the agent (agent.h): flags checked, resources and
 * attributes detected, the containerizer, HTTP server, fetcher, GC and /files set up, the
 * checkpointed state recovered (agent_recover.h), then registration started over the master
 * link (agent_link.h). The work itself lives in the modules agent_internal.h lists.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_internal.h"
#include "agent_auth.h"
#include "agent_operator.h"
#include "agent_ckpt.h"
#include "agent_executors.h"
#include "agent_link.h"
#include "agent_recover.h"
#include "agent_state.h"
#include "agent_updates.h"
#include "errors.h"
#include "executor_env.h"
#include "ids.h"
#include "log.h"
#include "paths.h"

#define MOD "agent"

/* The directory of the running binary (the build tree keeps mesos-executor beside it). */
static char *self_dir(void)
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

static bool has_executor(const char *dir)
{
    char *exe = cm_xasprintf("%s/mesos-executor", dir);
    bool ok = access(exe, X_OK) == 0;
    free(exe);
    return ok;
}

/* Where mesos-executor is: --launcher_dir if given; else, for an installed agent, the libexec
 * directory relative to this binary (CMESOS_LIBEXECDIR_FROM_SBIN, so a tree installed with any
 * --prefix, or moved, still works); else beside this binary, where the build tree puts it;
 * else the absolute libexec directory chosen at configure time (CMESOS_LIBEXECDIR). The
 * relative and beside-itself forms come first so a build-tree agent never picks up an older
 * installed executor. */
static char *pick_launcher_dir(const struct cm_agent_flags *fl)
{
    if (fl->launcher_dir && *fl->launcher_dir)
        return cm_xstrdup(fl->launcher_dir);
    char *self = self_dir();
#ifdef CMESOS_LIBEXECDIR_FROM_SBIN
    char *rel = cm_xasprintf("%s/%s", self, CMESOS_LIBEXECDIR_FROM_SBIN);
    if (has_executor(rel)) {
        char *clean = realpath(rel, NULL); /* for the log: no "sbin/../" */
        free(self);
        if (clean) {
            free(rel);
            return clean;
        }
        return rel;
    }
    free(rel);
#endif
#ifdef CMESOS_LIBEXECDIR
    if (!has_executor(self) && has_executor(CMESOS_LIBEXECDIR)) {
        free(self);
        return cm_xstrdup(CMESOS_LIBEXECDIR);
    }
#endif
    return self;
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
    if (!fl->hostname_lookup)
        return cm_xstrdup(ip);
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
    agent_auth_install_files(a);
    if (fl->log_dir && *fl->log_dir) {
        if ((rc = cm_paths_mkdirs(fl->log_dir, 0755)) != 0)
            return cm_fail(rc, why, whylen, "Failed to create log_dir '%s': %s", fl->log_dir,
                           cm_strerror(rc));
        char *path = cm_xasprintf("%s/mesos-agent.INFO", fl->log_dir);
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
    a->users = cm_user_cache_new(a->clock, CM_AGENT_USER_CACHE_TTL, NULL);
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

/* The images live executors use (image GC keeps them). */
static void images_in_use(void *arg, cm_provisioner_each_fn fn, void *ctx)
{
    struct cm_agent *a = arg;
    struct cm_strmap_iter fi;
    cm_strmap_iter_init(&fi, &a->frameworks);
    struct agent_framework *f;
    while ((f = cm_strmap_iter_value(&fi, NULL))) {
        struct cm_strmap_iter ei;
        cm_strmap_iter_init(&ei, &f->executors);
        struct agent_executor *e;
        while ((e = cm_strmap_iter_value(&ei, NULL))) {
            struct cm_strmap_iter ti;
            cm_strmap_iter_init(&ti, &e->tasks);
            struct agent_task *t;
            while ((t = cm_strmap_iter_value(&ti, NULL))) {
                const char *name = cm_provisioner_image_name(t->info->container);
                if (name)
                    fn(ctx, name);
            }
        }
    }
}

/* --image_providers: the provisioner (docs/containers-images.md). */
static int agent_images_init(struct cm_agent *a, char *why, size_t whylen)
{
    const struct cm_agent_flags *fl = a->flags;
    if (!fl->image_providers || !*fl->image_providers) {
        const char *unused[][2] = {{"docker_registry", fl->docker_registry},
                                   {"docker_store_dir", fl->docker_store_dir},
                                   {"image_gc_config", fl->image_gc_config}};
        for (size_t i = 0; i < 3; i++)
            if (unused[i][1])
                CM_WARN(MOD, "Flag '--%s' has no effect in cmesos without --image_providers=docker",
                        unused[i][0]);
        return 0;
    }
    if (strcasecmp(fl->image_providers, "docker") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'image_providers': '%s' is not supported (only 'docker': Docker and "
                       "OCI images; APPC images are not)",
                       fl->image_providers);
    if (!strstr(cm_containerizer_isolation(a->containerizer), "filesystem/linux"))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'image_providers' needs the filesystem/linux isolator in --isolation "
                       "(the container's root filesystem is mounted in its own mount namespace)");
    struct cm_provisioner_options po = {
        .base = a->base,
        .work_dir = fl->work_dir,
        .store_dir = fl->docker_store_dir,
        .registry_dir = fl->docker_registry,
        .gc_config = fl->image_gc_config,
    };
    int rc = cm_provisioner_new(&po, images_in_use, a, &a->provisioner, why, whylen);
    if (!rc)
        CM_INFO(MOD, "Container images: docker from %s, store %s", fl->docker_registry,
                cm_provisioner_store_dir(a->provisioner));
    return rc;
}

int cm_agent_new(struct event_base *base, const struct cm_agent_flags *flags,
                 const struct cm_clock *clock, struct cm_agent **out, char *why, size_t whylen)
{
    return cm_agent_new_with(base, flags, clock, NULL, out, why, whylen);
}

int cm_agent_new_with(struct event_base *base, const struct cm_agent_flags *flags,
                      const struct cm_clock *clock, const struct cm_agent_link *link,
                      struct cm_agent **out, char *why, size_t whylen)
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
    cm_ring_init(&a->completed_frameworks, CM_AGENT_MAX_COMPLETED_FRAMEWORKS,
                 agent_state_framework_free);
    if (link)
        a->link = *link;
    else
        agent_link_http_init(a, &a->link);

    if (!flags->work_dir || !*flags->work_dir) {
        rc = cm_fail(CM_EINVAL, why, whylen, "Flag 'work_dir' is required");
        goto fail;
    }
    if ((rc = cm_detector_new(base, flags->master, &a->detector, why, whylen)) != 0)
        goto fail;
    cm_detector_watch(a->detector, agent_link_leader_changed, a);
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
            /* With the loop, launches return once cloned and teardowns run on timers. */
            .base = a->base,
            .clock = a->clock,
            .launched = agent_exec_launched,
            .joined = agent_exec_joined,
            .cb_arg = a,
            .disk_watch_interval = flags->container_disk_watch_interval,
            .enforce_disk_quota = flags->enforce_container_disk_quota,
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
    a->launcher_dir = pick_launcher_dir(flags);
    {
        bool with_docker = false;
        rc = cm_docker_containerizers_parse(flags->containerizers, &a->mesos_containerizer,
                                            &with_docker, why, whylen);
        if (rc != 0)
            goto fail;
        if (with_docker) {
            struct cm_docker_options dopt = {.base = a->base,
                                             .docker = flags->docker,
                                             .socket = flags->docker_socket,
                                             .kill_orphans = flags->docker_kill_orphans,
                                             .remove_delay = flags->docker_remove_delay,
                                             .stop_timeout = flags->docker_stop_timeout,
                                             .cfs = flags->cgroups_enable_cfs,
                                             .launcher_dir = a->launcher_dir};
            a->docker = cm_docker_new(&dopt, why, whylen);
            if (!a->docker) {
                rc = CM_EINVAL;
                goto fail;
            }
            CM_INFO(MOD, "Docker containerizer enabled (docker '%s', socket %s)", flags->docker,
                    flags->docker_socket);
        }
    }
    a->bind_ip = cm_xstrdup(flags->ip && *flags->ip ? flags->ip : "0.0.0.0");
    a->ip = pick_ip(flags);
    a->hostname = pick_hostname(flags, a->ip);
    if (flags->port < 0 || flags->port > 65535) {
        rc = cm_fail(CM_EINVAL, why, whylen, "Flag 'port': %ld is not a port", flags->port);
        goto fail;
    }

    if ((rc = agent_auth_init(a, why, whylen)) != 0)
        goto fail;
    a->http = cm_http_server_new(base, "slave(1)", 16u * 1024u * 1024u);
    if (!a->http) {
        rc = cm_fail(-ENOMEM, why, whylen, "Failed to create the HTTP server");
        goto fail;
    }
    cm_http_server_set_limits(
        a->http, &(struct cm_http_server_limits){.max_connections = (size_t)flags->max_connections,
                                                 .max_buffered_body = flags->http_max_buffered_body,
                                                 .idle_timeout = flags->http_idle_timeout,
                                                 .request_timeout = flags->http_request_timeout});
    if ((rc = cm_http_server_tls_from_env(a->http, why, whylen)) != 0)
        goto fail;
    cm_agent_http_routes(a);
    agent_auth_install_guard(a);
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
    /* The agent's calls to its master come in bursts (an ack and three updates per task): a
     * few kept-alive connections carry them instead of a connect per call. The REGISTER
     * stream holds one. */
    cm_http_client_set_max_host_connections(a->client, 8);
    a->sum = cm_sum_new(clock, agent_updates_send, a);
    a->register_timer = evtimer_new(base, agent_link_register_timer_cb, a);
    a->tick_timer = event_new(base, -1, EV_PERSIST, agent_link_tick_cb, a);
    struct timeval one = {1, 0};
    event_add(a->tick_timer, &one);
    a->sigchld_event = evsignal_new(base, SIGCHLD, agent_exec_sigchld, a);
    event_add(a->sigchld_event, NULL);
    if (!a->client || !a->register_timer || !a->tick_timer || !a->sigchld_event) {
        rc = cm_fail(-ENOMEM, why, whylen, "Failed to set up the event loop");
        goto fail;
    }
    if ((rc = setup_sandbox_services(a, why, whylen)) != 0)
        goto fail;
    if ((rc = agent_images_init(a, why, whylen)) != 0)
        goto fail;
    char *res_text = cm_resources_format(&a->total);
    CM_INFO(MOD, "Agent %s (%s) started with resources %s; launcher_dir %s", a->pid, a->hostname,
            res_text, a->launcher_dir);
    free(res_text);
    if ((rc = agent_recover_state(a, why, whylen)) != 0)
        goto fail;
    agent_link_schedule(a, 0);
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
    if (a->link_open) {
        a->link_open = false;
        a->link.close(a->link.arg);
    }
    /* Without checkpointing nothing could recover these executors: take them down with us. */
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &a->executors_by_pid);
    struct agent_executor *e;
    while ((e = cm_strmap_iter_value(&it, NULL))) {
        /* Executors of checkpointing frameworks outlive the agent (Mesos does the same on
         * SIGTERM): the next agent run re-attaches to them. */
        if (e->pid > 0 && !agent_ckpt_enabled(e->framework)) {
            CM_INFO(MOD, "Killing executor '%s' (pid %d) on shutdown", e->id, (int)e->pid);
            cm_containerizer_kill(a->containerizer, e->container_id, SIGKILL);
            waitpid(e->pid, NULL, 0);
            cm_containerizer_reaped(a->containerizer, e->container_id);
            e->pid = 0;
        }
    }
    cm_strmap_cleanup(&a->executors_by_pid);
    /* Streams first (their close callbacks point into executors), then the state. */
    cm_strmap_cleanup_values(&a->frameworks, agent_state_framework_free);
    cm_ring_cleanup(&a->completed_frameworks);
    /* After the executors (they cancel their fetches and detach their paths), before the
     * HTTP client the fetcher downloads with. */
    cm_fetcher_free(a->fetcher);
    cm_user_cache_free(a->users);
    cm_gc_free(a->gc);
    cm_agent_op_free(a->op);
    cm_http_server_free(a->http);
    cm_files_free(a->files);
    if (a->log_file) {
        cm_log_set_file(NULL);
        fclose(a->log_file);
    }
    /* The link's stream client borrows the HTTP client: it goes first. */
    agent_link_http_cleanup(a);
    cm_http_client_free(a->client);
    if (a->register_timer)
        event_free(a->register_timer);
    if (a->tick_timer)
        event_free(a->tick_timer);
    if (a->reregister_timer)
        event_free(a->reregister_timer);
    if (a->launch_timer)
        event_free(a->launch_timer);
    if (a->reap_timer)
        event_free(a->reap_timer);
    agent_link_backlog_free(a);
    if (a->sigchld_event)
        event_free(a->sigchld_event);
    cm_sum_free(a->sum);
    cm_provisioner_free(a->provisioner);
    cm_containerizer_free(a->containerizer);
    cm_docker_free(a->docker);
    cm_detector_free(a->detector);
    cm_resources_cleanup(&a->total);
    cm_attributes_cleanup(&a->attributes);
    json_decref(a->executor_env);
    agent_auth_cleanup(a);
    free(a->bind_ip);
    free(a->ip);
    free(a->hostname);
    free(a->pid);
    free(a->launcher_dir);
    free(a->agent_id);
    free(a->master_hostname);
    free(a);
}
