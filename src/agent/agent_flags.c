/*
 * agent_flags.c: the agent's flag table (docs/wire-protocol.md §12.3) and its defaults.
 */
#include <string.h>

#include "agent.h"
#include "agent_flags_mesos.h"
#include "errors.h"
#include "http_guard.h"

#define SUMMARY "Usage: mesos-agent --master=HOST:PORT|zk://... --work_dir=DIR [options]"

static void add(struct cm_agent_flags *f, const char *name, const char *alias,
                enum cm_flag_type type, void *dst, const char *help, bool required)
{
    cm_flags_add(f->table, sizeof f->table / sizeof f->table[0], &f->ntable, name, alias, type, dst,
                 help, required);
}

void cm_agent_flags_init(struct cm_agent_flags *f)
{
    memset(f, 0, sizeof *f);
    f->ip = "0.0.0.0";
    f->port = 5051;
    f->default_role = "*";
    f->isolation = NULL; /* the containerizer picks the best the machine allows */
    f->cgroups_hierarchy = "/sys/fs/cgroup";
    f->cgroups_root = "mesos";
    f->cgroups_max_pids = 4096;
    f->logging_level = "INFO";
    f->executor_registration_timeout = 60;
    f->executor_shutdown_grace_period = 5;
    f->registration_backoff_factor = 1;
    add(f, "master", NULL, CM_FLAG_STRING, &f->master,
        "Master to register with: host:port, zk://host:port,.../path or file:///path", true);
    add(f, "work_dir", NULL, CM_FLAG_STRING, &f->work_dir,
        "Directory of sandboxes, checkpoints and the fetcher cache", true);
    add(f, "ip", NULL, CM_FLAG_STRING, &f->ip, "IP address to listen on", false);
    add(f, "port", NULL, CM_FLAG_INT, &f->port, "Port to listen on; 0 picks any free port", false);
    add(f, "port_file", NULL, CM_FLAG_STRING, &f->port_file,
        "cmesos: write the bound port to this file after binding. Default: none", false);
    f->hostname_lookup = true;
    add(f, "hostname_lookup", NULL, CM_FLAG_BOOL, &f->hostname_lookup,
        "Without --hostname, advertise the reverse DNS name of the IP (else the IP itself)", false);
    f->known.list = cm_agent_flags_mesos;
    f->known.n = cm_agent_flags_mesos_count;
    add(f, "hostname", NULL, CM_FLAG_STRING, &f->hostname,
        "Hostname to advertise. Default: reverse DNS of the IP (see --hostname_lookup)", false);
    add(f, "advertise_ip", NULL, CM_FLAG_STRING, &f->advertise_ip,
        "IP address to advertise to the master and frameworks. Default: --ip, or the address used "
        "to reach the master",
        false);
    add(f, "resources", NULL, CM_FLAG_STRING, &f->resources,
        "Total resources, text (cpus:4;mem:8192) or a JSON array; each named resource overrides "
        "its detected value. Default: detected cpus, mem, disk and ports",
        false);
    add(f, "attributes", NULL, CM_FLAG_STRING, &f->attributes,
        "Attributes, e.g. rack:r1;zone:z2;cores:8;ids:[1-5]. Default: none", false);
    add(f, "default_role", NULL, CM_FLAG_STRING, &f->default_role,
        "Role of the resources given without one and of the detected ones", false);
    add(f, "launcher_dir", NULL, CM_FLAG_STRING, &f->launcher_dir,
        "Directory of mesos-executor. Default: the installed libexec/mesos, else the agent "
        "binary's directory",
        false);
    add(f, "executor_registration_timeout", NULL, CM_FLAG_DURATION,
        &f->executor_registration_timeout,
        "How long an executor may take to subscribe before it is killed", false);
    add(f, "executor_shutdown_grace_period", NULL, CM_FLAG_DURATION,
        &f->executor_shutdown_grace_period,
        "Time an executor gets to shut down before it is killed", false);
    add(f, "executor_environment_variables", NULL, CM_FLAG_STRING,
        &f->executor_environment_variables,
        "JSON object of the environment given to executors (default: the agent's)", false);
    add(f, "isolation", NULL, CM_FLAG_STRING, &f->isolation,
        "Isolators, comma separated: posix/cpu, posix/mem, posix/disk, cgroups/cpu, cgroups/mem, "
        "cgroups/pids, namespaces/pid, namespaces/ipc, namespaces/uts, filesystem/linux. "
        "Default: cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid where the machine allows "
        "it (root, cgroups v1 or v2), else posix/cpu,posix/mem (the agent logs the fallback)",
        false);
    add(f, "launcher", NULL, CM_FLAG_STRING, &f->launcher,
        "linux (clone into namespaces) or posix (fork); default: linux when namespaces or "
        "cgroups are used",
        false);
    add(f, "cgroups_hierarchy", NULL, CM_FLAG_STRING, &f->cgroups_hierarchy,
        "Where the cgroup hierarchies are mounted", false);
    add(f, "cgroups_root", NULL, CM_FLAG_STRING, &f->cgroups_root,
        "Name of the cgroup under which containers' cgroups are created", false);
    add(f, "cgroups_enable_cfs", NULL, CM_FLAG_BOOL, &f->cgroups_enable_cfs,
        "Hard-limit cpu with a CFS quota of cpus * 100ms per 100ms (else shares only)", false);
    add(f, "cgroups_limit_swap", NULL, CM_FLAG_BOOL, &f->cgroups_limit_swap,
        "Limit memory + swap to the memory limit (no swap)", false);
    add(f, "cgroups_max_pids", NULL, CM_FLAG_INT, &f->cgroups_max_pids,
        "cmesos: pids.max of each container (cgroups/pids): the most processes and threads it "
        "may have",
        false);
    add(f, "logging_level", NULL, CM_FLAG_STRING, &f->logging_level,
        "Lowest level logged: DEBUG, INFO, WARNING or ERROR", false);
    add(f, "registration_backoff_factor", NULL, CM_FLAG_DURATION, &f->registration_backoff_factor,
        "Upper bound of the first random back-off before (re-)registering; it doubles per retry",
        false);
    add(f, "version", NULL, CM_FLAG_BOOL, &f->version,
        "Print the cmesos version and the Mesos API version, and exit", false);

    f->fetcher_cache_size = 2ull * 1024 * 1024 * 1024;
    f->fetcher_stall_timeout = 60;
    f->fetcher_timeout = 3600;
    f->gc_delay = 7 * 86400;
    f->gc_disk_headroom = 0.1;
    f->disk_watch_interval = 60;
    add(f, "fetcher_cache_dir", NULL, CM_FLAG_STRING, &f->fetcher_cache_dir,
        "Directory of the fetcher cache (default: <work_dir>/fetch)", false);
    add(f, "fetcher_cache_size", NULL, CM_FLAG_BYTES, &f->fetcher_cache_size,
        "Size bound of the fetcher cache (least recently used entries are evicted)", false);
    add(f, "fetcher_stall_timeout", NULL, CM_FLAG_DURATION, &f->fetcher_stall_timeout,
        "A download that receives no data for this long fails", false);
    add(f, "fetcher_timeout", NULL, CM_FLAG_DURATION, &f->fetcher_timeout,
        "cmesos: the most a task's whole fetch may take before the task fails", false);
    add(f, "frameworks_home", NULL, CM_FLAG_STRING, &f->frameworks_home,
        "Directory that relative URI paths are resolved against. Default: none", false);
    add(f, "gc_delay", NULL, CM_FLAG_DURATION, &f->gc_delay,
        "How long after its executor finished a sandbox is removed (sooner under disk pressure)",
        false);
    add(f, "gc_disk_headroom", NULL, CM_FLAG_DOUBLE, &f->gc_disk_headroom,
        "Free disk fraction to keep: sandboxes older than gc_delay * max(0, 1 - headroom - "
        "usage) are removed",
        false);
    add(f, "disk_watch_interval", NULL, CM_FLAG_DURATION, &f->disk_watch_interval,
        "How often the disk usage of the work_dir file system is checked", false);
    add(f, "log_dir", NULL, CM_FLAG_STRING, &f->log_dir,
        "Directory of the agent's log file mesos-agent.INFO (served at /files as /slave/log). "
        "Default: none, log to stderr",
        false);

    f->recover = "reconnect";
    f->strict = true;
    f->executor_reregistration_timeout = 2;
    f->recovery_timeout = 15 * 60;
    add(f, "recover", NULL, CM_FLAG_STRING, &f->recover,
        "reconnect: re-attach to the executors of checkpointing frameworks after a restart; "
        "cleanup: kill every old executor and start as a new agent",
        false);
    add(f, "strict", NULL, CM_FLAG_BOOL, &f->strict,
        "Recovery errors (corrupt or unreadable checkpoints) are fatal; with --no-strict the "
        "broken entry is skipped with an error log and everything else is recovered",
        false);
    add(f, "executor_reregistration_timeout", NULL, CM_FLAG_DURATION,
        &f->executor_reregistration_timeout,
        "How long recovered executors get to re-subscribe after an agent restart (max 15secs)",
        false);
    add(f, "recovery_timeout", NULL, CM_FLAG_DURATION, &f->recovery_timeout,
        "How long executors of checkpointing frameworks keep trying to reconnect to a restarting "
        "agent (MESOS_RECOVERY_TIMEOUT)",
        false);

    add(f, "authenticate_http_executors", NULL, CM_FLAG_BOOL, &f->authenticate_http_executors,
        "Only executors presenting the token the agent gave them (Authorization: Bearer, the "
        "MESOS_EXECUTOR_AUTHENTICATION_TOKEN of their environment) may call the executor API, "
        "and only for their own framework, executor and container. Needs --jwt_secret_key",
        false);
    add(f, "jwt_secret_key", "executor_secret_key", CM_FLAG_STRING, &f->jwt_secret_key,
        "Path to a file containing the key used to sign executors' tokens (JWT, HS256)", false);
    add(f, "credential", NULL, CM_FLAG_STRING, &f->credential,
        "Path (or file://path) of a file with this agent's credential towards the master: JSON "
        "{\"principal\": \"p\", \"secret\": \"s\"} or one 'principal secret' line; sent as "
        "HTTP Basic on the master link",
        false);
    add(f, "authenticate_http_readonly", NULL, CM_FLAG_BOOL, &f->authenticate_http_readonly,
        "Read-only HTTP endpoints that can be authenticated (/state, /flags, /files/*, "
        "/monitor/statistics, /containers, /metrics/snapshot) need HTTP Basic credentials from "
        "--http_credentials",
        false);
    add(f, "authenticate_http_readwrite", NULL, CM_FLAG_BOOL, &f->authenticate_http_readwrite,
        "HTTP endpoints that can change state (/logging/toggle, the operator API) need HTTP "
        "Basic credentials from --http_credentials",
        false);
    add(f, "http_credentials", NULL, CM_FLAG_STRING, &f->http_credentials,
        "Path (or file://path) of the credentials allowed to call the agent's HTTP endpoints, "
        "JSON {\"credentials\": [...]} or 'principal secret' lines",
        false);
    f->authorizer = "local";
    add(f, "acls", NULL, CM_FLAG_STRING, &f->acls,
        "ACLs in Mesos's JSON format (inline, a path or file://) for the local authorizer: who "
        "may see sandboxes, logs, state, flags and containers, and set the log level",
        false);
    add(f, "authorizer", NULL, CM_FLAG_STRING, &f->authorizer,
        "Authorizer: local (the only one cmesos has; authorizer modules cannot be loaded)", false);
    f->switch_user = true;
    f->container_disk_watch_interval = 5;
    f->enforce_container_disk_quota = true;
    add(f, "switch_user", NULL, CM_FLAG_BOOL, &f->switch_user,
        "Run each task as its CommandInfo.user, else its FrameworkInfo.user (the agent must be "
        "root for another user); the sandbox is owned by that user and the fetcher writes as "
        "it. With --switch_user=false tasks run as the agent's user",
        false);
    add(f, "container_disk_watch_interval", NULL, CM_FLAG_DURATION,
        &f->container_disk_watch_interval,
        "How often each container's sandbox disk usage is measured (posix/disk; cmesos default "
        "5secs, Mesos 15secs)",
        false);
    add(f, "enforce_container_disk_quota", NULL, CM_FLAG_BOOL, &f->enforce_container_disk_quota,
        "Fail a task whose sandbox grows over its 'disk' resource with "
        "REASON_CONTAINER_LIMITATION_DISK (cmesos: on by default; Mesos: off)",
        false);
    f->max_connections = CM_HTTP_MAX_CONNECTIONS_DEFAULT;
    f->http_idle_timeout = CM_HTTP_IDLE_TIMEOUT_DEFAULT;
    f->http_request_timeout = CM_HTTP_REQUEST_TIMEOUT_DEFAULT;
    f->http_max_buffered_body = CM_HTTP_MAX_BUFFERED_DEFAULT;
    add(f, "max_connections", NULL, CM_FLAG_INT, &f->max_connections,
        "cmesos: most HTTP connections open at once (bounded by RLIMIT_NOFILE); at the limit the "
        "longest-idle connection is closed, or the new one gets 503",
        false);
    add(f, "http_idle_timeout", NULL, CM_FLAG_DURATION, &f->http_idle_timeout,
        "cmesos: close an HTTP connection with no request in progress after this long", false);
    add(f, "http_request_timeout", NULL, CM_FLAG_DURATION, &f->http_request_timeout,
        "cmesos: answer 408 to a request (head and body) not received in full within this long",
        false);
    add(f, "http_max_buffered_body", NULL, CM_FLAG_BYTES, &f->http_max_buffered_body,
        "cmesos: request-body bytes buffered across all HTTP connections; past it requests get 503",
        false);
    /* Container images for the Mesos containerizer (docs/containers-images.md). */
    add(f, "image_providers", NULL, CM_FLAG_STRING, &f->image_providers,
        "Image types the Mesos containerizer runs: docker (Docker and OCI images from the local "
        "--docker_registry). Needs the filesystem/linux isolator. Default: none",
        false);
    add(f, "docker_registry", NULL, CM_FLAG_STRING, &f->docker_registry,
        "Local directory of images: `docker save` archives named <image>.tar as Mesos names them "
        "(busybox:latest -> busybox:latest.tar, localhost/busybox -> localhost/busybox.tar), or "
        "cmesos: OCI image layouts <name>/ (index.json, tag in the ref.name annotation). Remote "
        "registries are not supported",
        false);
    add(f, "docker_store_dir", NULL, CM_FLAG_STRING, &f->docker_store_dir,
        "Where image layers are extracted and kept (once per layer digest). Default: "
        "<work_dir>/store/docker (Mesos: /tmp/mesos/store/docker)",
        false);
    add(f, "image_gc_config", NULL, CM_FLAG_STRING, &f->image_gc_config,
        "JSON (inline or a file path) of Mesos's ImageGcConfig: image_disk_headroom, "
        "image_disk_watch_interval {nanoseconds}, excluded_images. Default: no automatic image GC",
        false);
    cm_agent_flags_docker_init(f);
}

int cm_agent_flags_parse(struct cm_agent_flags *f, int argc, char **argv, char *why, size_t whylen)
{
    /* --version needs no --master; look for it before required-flag checks. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--version") == 0) {
            f->version = true;
            return 0;
        }
    int rc = cm_flags_parse_with(f->table, f->ntable, &f->known, argc, argv, SUMMARY, why, whylen);
    if (rc)
        return rc;
    if (f->max_connections < 1)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'max_connections' must be at least 1");
    if (!(f->http_idle_timeout > 0) || !(f->http_request_timeout > 0))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flags 'http_idle_timeout' and 'http_request_timeout' must be positive");
    if (f->http_max_buffered_body < 1)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'http_max_buffered_body' must be positive");
    if (!f->authorizer || strcmp(f->authorizer, "local") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Authorizer '%s' not found: cmesos has only the 'local' authorizer (--acls)",
                       f->authorizer ? f->authorizer : "");
    return 0;
}

void cm_agent_flags_cleanup(struct cm_agent_flags *f)
{
    cm_flags_cleanup(f->table, f->ntable);
}
