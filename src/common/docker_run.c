/* docker_run.c: the `docker run` command line of a DOCKER task (contract in docker_run.h). */
#include "docker_run.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "errors.h"
#include "util.h"

#define MIN_CPU_SHARES 2
#define CFS_PERIOD_US 100000
#define MIN_CFS_QUOTA_US 1000
#define MIN_MEMORY_BYTES (32ull << 20)

/* A growable NULL-terminated string vector. */
struct strv {
    char **v;
    size_t n, cap;
};

static void push_owned(struct strv *s, char *item)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = cm_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = item;
    s->v[s->n] = NULL;
}

static void push(struct strv *s, const char *item)
{
    push_owned(s, cm_xstrdup(item));
}

void cm_docker_strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static void push_host(struct strv *s, const char *docker, const char *socket)
{
    push(s, docker && *docker ? docker : "docker");
    if (socket && *socket) {
        push(s, "-H");
        push_owned(s, cm_xasprintf("unix://%s", socket));
    }
}

char **cm_docker_cli_argv(const char *docker, const char *socket, const char *const *args)
{
    struct strv s = {0};
    push_host(&s, docker, socket);
    for (const char *const *a = args; a && *a; a++)
        push(&s, *a);
    return s.v;
}

bool cm_docker_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_.-", id[i]))
            return false;
    return true;
}

static bool param_key_valid(const char *k)
{
    if (!k || !*k || *k == '-')
        return false;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && !strchr("-_.", *k))
            return false;
    return true;
}

/* The task's scalar resource name summed over its Resource entries; -1 when absent. */
static double scalar(const Mesos__V1__TaskInfo *t, const char *name)
{
    double sum = -1;
    for (size_t i = 0; i < t->n_resources; i++) {
        const Mesos__V1__Resource *r = t->resources[i];
        if (r->name && strcmp(r->name, name) == 0 && r->scalar)
            sum = (sum < 0 ? 0 : sum) + r->scalar->value;
    }
    return sum;
}

static bool port_in_resources(const Mesos__V1__TaskInfo *t, uint32_t port)
{
    for (size_t i = 0; i < t->n_resources; i++) {
        const Mesos__V1__Resource *r = t->resources[i];
        if (!r->name || strcmp(r->name, "ports") != 0 || !r->ranges)
            continue;
        for (size_t j = 0; j < r->ranges->n_range; j++)
            if (port >= r->ranges->range[j]->begin && port <= r->ranges->range[j]->end)
                return true;
    }
    return false;
}

static char *join_path(const char *dir, const char *rel)
{
    size_t n = strlen(dir);
    return cm_xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", rel);
}

static int add_volumes(struct strv *s, const Mesos__V1__ContainerInfo *ci, const char *sandbox,
                       const char *mapped, char *why, size_t whylen)
{
    for (size_t i = 0; i < ci->n_volumes; i++) {
        const Mesos__V1__Volume *v = ci->volumes[i];
        if (!v->container_path || !*v->container_path)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.volumes[%zu].container_path is not set", i);
        if (!v->host_path || !*v->host_path)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.volumes[%zu]: only volumes with host_path are supported by "
                           "the Docker containerizer (no volume 'source' or Docker volume drivers)",
                           i);
        if (strchr(v->host_path, ':') || strchr(v->container_path, ':'))
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.volumes[%zu]: paths must not contain ':'", i);
        bool habs = v->host_path[0] == '/', cabs = v->container_path[0] == '/';
        if (!habs && !cabs)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.volumes[%zu]: both host_path '%s' and container_path '%s' "
                           "are relative",
                           i, v->host_path, v->container_path);
        if ((!habs && strstr(v->host_path, "..")) || (!cabs && strstr(v->container_path, "..")))
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.volumes[%zu]: a relative path must not contain '..'", i);
        const char *mode;
        if (v->mode == MESOS__V1__VOLUME__MODE__RW)
            mode = "rw";
        else if (v->mode == MESOS__V1__VOLUME__MODE__RO)
            mode = "ro";
        else
            return cm_fail(CM_EINVAL, why, whylen, "container.volumes[%zu].mode %d is unknown", i,
                           (int)v->mode);
        char *host = habs ? cm_xstrdup(v->host_path) : join_path(sandbox, v->host_path);
        char *cont = cabs ? cm_xstrdup(v->container_path) : join_path(mapped, v->container_path);
        push(s, "-v");
        push_owned(s, cm_xasprintf("%s:%s:%s", host, cont, mode));
        free(host);
        free(cont);
    }
    return 0;
}

/* --net and -p. */
static int add_network(struct strv *s, const Mesos__V1__TaskInfo *t, char *why, size_t whylen)
{
    const Mesos__V1__ContainerInfo *ci = t->container;
    const Mesos__V1__ContainerInfo__DockerInfo *di = ci->docker;
    const char *net = "host";
    int mode =
        di->has_network ? (int)di->network : MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST;
    switch (mode) {
    case MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST: net = "host"; break;
    case MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__BRIDGE: net = "bridge"; break;
    case MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__NONE: net = "none"; break;
    case MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__USER:
        if (ci->n_network_infos != 1)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.docker.network USER needs exactly one "
                           "container.network_infos (it has %zu)",
                           ci->n_network_infos);
        if (!ci->network_infos[0]->name || !*ci->network_infos[0]->name)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.network_infos[0].name is required with network USER");
        net = ci->network_infos[0]->name;
        break;
    default: return cm_fail(CM_EINVAL, why, whylen, "container.docker.network %d is unknown", mode);
    }
    if (mode != MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__USER && ci->n_network_infos)
        return cm_fail(CM_EINVAL, why, whylen,
                       "container.network_infos is only supported with docker.network USER");
    /* A parameter "net" or "network" replaces the mode, as in Mesos. */
    for (size_t i = 0; i < di->n_parameters; i++) {
        const char *k = di->parameters[i]->key;
        if (k && (strcmp(k, "net") == 0 || strcmp(k, "network") == 0) && di->parameters[i]->value) {
            net = di->parameters[i]->value;
            break;
        }
    }
    push(s, "--net");
    push(s, net);
    bool hostlike = strcmp(net, "host") == 0 || strcmp(net, "none") == 0;
    if (ci->hostname) {
        if (strcmp(net, "host") == 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.hostname cannot be set with the host network");
        push(s, "--hostname");
        push(s, ci->hostname);
    }
    if (di->n_port_mappings && hostlike)
        return cm_fail(CM_EINVAL, why, whylen,
                       "container.docker.port_mappings are only supported for bridge and "
                       "user-defined networks (network is '%s')",
                       net);
    for (size_t i = 0; i < di->n_port_mappings; i++) {
        const Mesos__V1__ContainerInfo__DockerInfo__PortMapping *m = di->port_mappings[i];
        if (m->host_port == 0 || m->host_port > 65535 || m->container_port == 0 ||
            m->container_port > 65535)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.docker.port_mappings[%zu]: ports must be in 1..65535", i);
        if (!port_in_resources(t, m->host_port))
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.docker.port_mappings[%zu]: host port %u is not in the "
                           "task's 'ports' resources",
                           i, m->host_port);
        const char *proto = m->protocol ? m->protocol : "";
        if (*proto && strcasecmp(proto, "tcp") != 0 && strcasecmp(proto, "udp") != 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.docker.port_mappings[%zu].protocol '%.32s' is not tcp or udp",
                           i, proto);
        push(s, "-p");
        push_owned(s, cm_xasprintf("%u:%u%s%s", m->host_port, m->container_port, *proto ? "/" : "",
                                   *proto ? (strcasecmp(proto, "udp") == 0 ? "udp" : "tcp") : ""));
    }
    return 0;
}

static bool env_name_valid(const char *n)
{
    return n && *n && !strchr(n, '=');
}

int cm_docker_run_argv(const Mesos__V1__TaskInfo *t, const struct cm_docker_run_params *p,
                       char ***out, char *why, size_t whylen)
{
    *out = NULL;
    const Mesos__V1__ContainerInfo *ci = t->container;
    if (!ci || ci->type != MESOS__V1__CONTAINER_INFO__TYPE__DOCKER || !ci->docker)
        return cm_fail(CM_EINVAL, why, whylen,
                       "container.type DOCKER needs container.docker (a DockerInfo)");
    const Mesos__V1__ContainerInfo__DockerInfo *di = ci->docker;
    if (!di->image || !*di->image)
        return cm_fail(CM_EINVAL, why, whylen, "container.docker.image is not set");
    if (di->image[0] == '-' || strpbrk(di->image, " \t\n"))
        return cm_fail(CM_EINVAL, why, whylen,
                       "container.docker.image '%.64s' is not an image name", di->image);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    bool volume_driver = di->volume_driver != NULL; /* deprecated in Mesos, still refused */
#pragma GCC diagnostic pop
    if (volume_driver)
        return cm_fail(CM_EINVAL, why, whylen,
                       "container.docker.volume_driver is not supported (no Docker volume "
                       "drivers)");
    if (ci->mesos && ci->mesos->image)
        return cm_fail(CM_EINVAL, why, whylen,
                       "container.mesos.image cannot be combined with type DOCKER");
    const char *what = ci->linux_info    ? "linux_info"
                       : ci->rlimit_info ? "rlimit_info"
                       : ci->tty_info    ? "tty_info"
                                         : NULL;
    if (what)
        return cm_fail(CM_EINVAL, why, whylen,
                       "container.%s is not supported by the Docker containerizer", what);
    const Mesos__V1__CommandInfo *cmd = t->command;
    if (!cmd)
        return cm_fail(CM_EINVAL, why, whylen,
                       "a Docker task needs 'command' (custom executors in Docker are not "
                       "supported)");
    bool shell = !cmd->has_shell || cmd->shell;
    if (shell && (!cmd->value || !*cmd->value))
        return cm_fail(CM_EINVAL, why, whylen, "command.shell is true but command.value is empty");
    for (size_t i = 0; i < di->n_parameters; i++)
        if (!param_key_valid(di->parameters[i]->key) || !di->parameters[i]->value)
            return cm_fail(CM_EINVAL, why, whylen,
                           "container.docker.parameters[%zu]: key '%.32s' is not a docker run "
                           "option name",
                           i, di->parameters[i]->key ? di->parameters[i]->key : "");
    if (!p->name || !p->sandbox)
        return cm_fail(CM_EINVAL, why, whylen, "internal: container name or sandbox missing");
    const char *mapped = p->mapped_sandbox ? p->mapped_sandbox : CM_DOCKER_MAPPED_SANDBOX;

    struct strv s = {0};
    push_host(&s, p->docker, p->socket);
    push(&s, "run");
    push(&s, "-d");
    if (di->has_privileged && di->privileged)
        push(&s, "--privileged");
    double cpus = scalar(t, "cpus"), mem = scalar(t, "mem");
    if (cpus > 0) {
        uint64_t shares = (uint64_t)(cpus * 1024);
        push_owned(&s, cm_xasprintf("--cpu-shares=%" PRIu64,
                                    shares < MIN_CPU_SHARES ? (uint64_t)MIN_CPU_SHARES : shares));
        if (p->cfs) {
            uint64_t quota = (uint64_t)(cpus * CFS_PERIOD_US);
            push_owned(&s, cm_xasprintf("--cpu-period=%d", CFS_PERIOD_US));
            push_owned(&s,
                       cm_xasprintf("--cpu-quota=%" PRIu64,
                                    quota < MIN_CFS_QUOTA_US ? (uint64_t)MIN_CFS_QUOTA_US : quota));
        }
    }
    if (mem > 0) {
        uint64_t bytes = (uint64_t)llround(mem * 1048576.0);
        if (bytes < MIN_MEMORY_BYTES)
            bytes = MIN_MEMORY_BYTES;
        push_owned(&s, cm_xasprintf("--memory=%" PRIu64, bytes));
        push_owned(&s, cm_xasprintf("--memory-swap=%" PRIu64, bytes));
    }
    int rc = 0;
    if (cmd->environment) {
        for (size_t i = 0; i < cmd->environment->n_variables; i++) {
            const Mesos__V1__Environment__Variable *v = cmd->environment->variables[i];
            if (v->has_type && v->type != MESOS__V1__ENVIRONMENT__VARIABLE__TYPE__VALUE) {
                rc = cm_fail(CM_EINVAL, why, whylen,
                             "command.environment.variables[%zu]: only VALUE variables are "
                             "supported (no secrets)",
                             i);
                goto fail;
            }
            if (!env_name_valid(v->name)) {
                rc = cm_fail(CM_EINVAL, why, whylen,
                             "command.environment.variables[%zu].name is empty or holds '='", i);
                goto fail;
            }
            push(&s, "-e");
            push_owned(&s, cm_xasprintf("%s=%s", v->name, v->value ? v->value : ""));
        }
    }
    push(&s, "-e");
    push_owned(&s, cm_xasprintf("MESOS_SANDBOX=%s", mapped));
    push(&s, "-e");
    push_owned(&s, cm_xasprintf("MESOS_CONTAINER_NAME=%s", p->name));
    for (char *const *e = p->extra_env; e && *e; e++) {
        push(&s, "-e");
        push(&s, *e);
    }
    if ((rc = add_volumes(&s, ci, p->sandbox, mapped, why, whylen)) != 0)
        goto fail;
    push(&s, "-v");
    push_owned(&s, cm_xasprintf("%s:%s", p->sandbox, mapped));
    if ((rc = add_network(&s, t, why, whylen)) != 0)
        goto fail;
    if (cmd->user && *cmd->user) {
        push(&s, "-u");
        push(&s, cmd->user);
    }
    if (shell) {
        push(&s, "--entrypoint");
        push(&s, "/bin/sh");
    }
    push(&s, "--name");
    push(&s, p->name);
    for (size_t i = 0; i < di->n_parameters; i++) {
        const char *k = di->parameters[i]->key;
        if (strcmp(k, "net") == 0 || strcmp(k, "network") == 0)
            continue;
        push_owned(&s, cm_xasprintf("--%s=%s", k, di->parameters[i]->value));
    }
    push(&s, di->image);
    if (shell) {
        push(&s, "-c");
        push(&s, cmd->value);
    } else {
        if (cmd->value && *cmd->value)
            push(&s, cmd->value);
        for (size_t i = 0; i < cmd->n_arguments; i++)
            push(&s, cmd->arguments[i] ? cmd->arguments[i] : "");
    }
    *out = s.v;
    return 0;
fail:
    cm_docker_strv_free(s.v);
    return rc;
}

/* "-p host:container[/proto]" into ExposedPorts and PortBindings. */
static int add_port(json_t *exposed, json_t *bindings, const char *spec)
{
    unsigned host, cont;
    char proto[8] = "tcp";
    if (sscanf(spec, "%u:%u/%7s", &host, &cont, proto) < 2)
        return -1;
    char key[32], hp[16];
    snprintf(key, sizeof key, "%u/%s", cont, proto);
    snprintf(hp, sizeof hp, "%u", host);
    json_object_set_new(exposed, key, json_object());
    json_t *list = json_object_get(bindings, key);
    if (!list) {
        list = json_array();
        json_object_set_new(bindings, key, list);
    }
    json_array_append_new(list, json_pack("{s:s}", "HostPort", hp));
    return 0;
}

/* json_string that flags a value JSON cannot carry (not UTF-8): the caller falls back. */
static json_t *js(const char *v, int *rc)
{
    json_t *j = json_string(v);
    if (!j)
        *rc = CM_ESTATE;
    return j;
}

static bool u64_opt(const char *arg, const char *prefix, json_t *hc, const char *key)
{
    size_t n = strlen(prefix);
    if (strncmp(arg, prefix, n) != 0)
        return false;
    json_object_set_new(hc, key, json_integer((json_int_t)strtoll(arg + n, NULL, 10)));
    return true;
}

int cm_docker_api_create(char *const *argv, char **body, char **name)
{
    *body = *name = NULL;
    size_t i = 1;
    /* Skip "-H unix://..." and expect "run -d". */
    if (argv[i] && strcmp(argv[i], "-H") == 0)
        i += 2;
    if (!argv[i] || strcmp(argv[i], "run") != 0 || !argv[i + 1] || strcmp(argv[i + 1], "-d") != 0)
        return CM_ESTATE;
    i += 2;
    json_t *c = json_object(), *hc = json_object(), *env = json_array(), *binds = json_array();
    json_t *exposed = json_object(), *bindings = json_object();
    const char *nm = NULL;
    int rc = 0;
    for (; argv[i] && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--privileged") == 0) {
            json_object_set_new(hc, "Privileged", json_true());
            continue;
        }
        if (u64_opt(a, "--cpu-shares=", hc, "CpuShares") ||
            u64_opt(a, "--cpu-period=", hc, "CpuPeriod") ||
            u64_opt(a, "--cpu-quota=", hc, "CpuQuota") ||
            u64_opt(a, "--memory-swap=", hc, "MemorySwap") || u64_opt(a, "--memory=", hc, "Memory"))
            continue;
        if (!v) {
            rc = CM_ESTATE;
            break;
        } else if (strcmp(a, "-e") == 0)
            json_array_append_new(env, js(v, &rc));
        else if (strcmp(a, "-v") == 0)
            json_array_append_new(binds, js(v, &rc));
        else if (strcmp(a, "--net") == 0)
            json_object_set_new(hc, "NetworkMode", js(v, &rc));
        else if (strcmp(a, "--hostname") == 0)
            json_object_set_new(c, "Hostname", js(v, &rc));
        else if (strcmp(a, "-u") == 0)
            json_object_set_new(c, "User", js(v, &rc));
        else if (strcmp(a, "--entrypoint") == 0)
            json_object_set_new(c, "Entrypoint", json_pack("[s]", v));
        else if (strcmp(a, "--name") == 0)
            nm = v;
        else if (strcmp(a, "-p") == 0) {
            if (add_port(exposed, bindings, v) != 0) {
                rc = CM_ESTATE;
                break;
            }
        } else {
            rc = CM_ESTATE; /* a --key=value parameter: only the CLI knows them all */
            break;
        }
        i++; /* the option's value */
    }
    if (rc == 0 && (!argv[i] || !nm))
        rc = CM_ESTATE;
    if (rc == 0) {
        json_object_set_new(c, "Image", js(argv[i++], &rc));
        if (argv[i]) {
            json_t *cmd = json_array();
            for (; argv[i]; i++)
                json_array_append_new(cmd, js(argv[i], &rc));
            json_object_set_new(c, "Cmd", cmd);
        }
        json_object_set(c, "Env", env);
        json_object_set(hc, "Binds", binds);
        if (json_object_size(exposed)) {
            json_object_set(c, "ExposedPorts", exposed);
            json_object_set(hc, "PortBindings", bindings);
        }
        json_object_set(c, "HostConfig", hc);
    }
    if (rc == 0) {
        *body = json_dumps(c, JSON_COMPACT);
        *name = cm_xstrdup(nm);
        if (!*body)
            abort();
    }
    json_decref(c);
    json_decref(hc);
    json_decref(env);
    json_decref(binds);
    json_decref(exposed);
    json_decref(bindings);
    return rc;
}
