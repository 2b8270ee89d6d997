/* master_flags.c: see master_flags.h. */
#include "master_flags.h"
#include "master_flags_mesos.h"

#include <math.h>
#include <string.h>

#include "errors.h"
#include "http_guard.h"

static void add(struct cm_master_flags *f, const char *name, const char *alias,
                enum cm_flag_type type, void *dst, const char *help)
{
    cm_flags_add(f->table, sizeof f->table / sizeof f->table[0], &f->nflags, name, alias, type, dst,
                 help, false);
}

static void add_auth_flags(struct cm_master_flags *f);
static int check_auth_flags(const struct cm_master_flags *f, char *why, size_t whylen);

void cm_master_flags_init(struct cm_master_flags *f)
{
    memset(f, 0, sizeof *f);
    f->ip = "0.0.0.0";
    f->port = 5050;
    f->hostname_lookup = true;
    f->logging_level = "INFO";
    f->registry = NULL; /* file with --work_dir, else in_memory (resolved after parsing) */
    f->registry_storage = "in_memory";
    f->registry_gc_interval = 15 * 60.0;
    f->registry_max_agent_age = 14 * 24 * 3600.0;
    f->registry_max_agent_count = 102400;
    f->registry_fetch_timeout = 60.0;
    f->registry_store_timeout = 20.0;
    f->zk_session_timeout = 10.0;
    f->framework_sorter = "drf";
    f->role_sorter = "drf";
    f->allocator = "HierarchicalDRF";
    f->allocation_interval = 1.0;
    f->agent_ping_timeout = 15.0;
    f->max_agent_ping_timeouts = 5;
    f->agent_reregister_timeout = 600.0;
    f->max_completed_frameworks = 50;
    f->max_completed_tasks_per_framework = 1000;
    f->max_unreachable_tasks_per_framework = 1000;
    f->root_submissions = true;
    f->publish_per_framework_metrics = true;
    f->min_allocatable_resources = "cpus:0.01|mem:32";
    f->known.list = cm_master_flags_mesos;
    f->known.n = cm_master_flags_mesos_count;

    add(f, "ip", NULL, CM_FLAG_STRING, &f->ip, "IP address to listen on");
    add(f, "port", NULL, CM_FLAG_INT, &f->port, "Port to listen on; 0 picks any free port");
    add(f, "hostname", NULL, CM_FLAG_STRING, &f->hostname,
        "Hostname to advertise. Default: looked up from --ip, or the IP itself with "
        "--no-hostname_lookup");
    add(f, "hostname_lookup", NULL, CM_FLAG_BOOL, &f->hostname_lookup,
        "Look the hostname up (reverse DNS of --ip) when --hostname is not given");
    add(f, "advertise_ip", NULL, CM_FLAG_STRING, &f->advertise_ip,
        "IP address to advertise to agents and frameworks. Default: --ip");
    add(f, "advertise_port", NULL, CM_FLAG_INT, &f->advertise_port,
        "Port to advertise to agents and frameworks; 0 advertises the bound port");
    add(f, "work_dir", NULL, CM_FLAG_STRING, &f->work_dir,
        "Directory of the registry; required unless --registry=in_memory. Nothing is created there "
        "before the port is bound. Default: none");
    add(f, "port_file", NULL, CM_FLAG_STRING, &f->port_file,
        "cmesos: after binding, write the bound port to this file. Default: none");
    add(f, "logging_level", NULL, CM_FLAG_STRING, &f->logging_level,
        "Lowest level logged: DEBUG, INFO, WARNING or ERROR");
    add(f, "log_dir", NULL, CM_FLAG_STRING, &f->log_dir,
        "Directory of the log file mesos-master.INFO (opened after the port is bound). Default: "
        "none, log to stderr");
    add(f, "registry", NULL, CM_FLAG_STRING, &f->registry,
        "Registry storage: file (under --work_dir), zk (in ZooKeeper under --zk), in_memory (lost "
        "at exit; the only one that needs no --work_dir), or replicated_log (zk with --zk, else "
        "file). Default: zk with --zk, else file");
    add(f, "registry_gc_interval", NULL, CM_FLAG_DURATION, &f->registry_gc_interval,
        "How often unreachable agents are pruned from the registry");
    add(f, "registry_max_agent_age", NULL, CM_FLAG_DURATION, &f->registry_max_agent_age,
        "Unreachable agents older than this are pruned from the registry");
    add(f, "registry_max_agent_count", NULL, CM_FLAG_INT, &f->registry_max_agent_count,
        "At most this many unreachable agents are kept in the registry");
    add(f, "registry_fetch_timeout", NULL, CM_FLAG_DURATION, &f->registry_fetch_timeout,
        "Time to fetch the registry during recovery");
    add(f, "registry_store_timeout", NULL, CM_FLAG_DURATION, &f->registry_store_timeout,
        "Time to store an update of the registry");
    add(f, "cluster", NULL, CM_FLAG_STRING, &f->cluster,
        "Cluster name reported in /master/state. Default: none");
    add(f, "roles", NULL, CM_FLAG_STRING, &f->roles,
        "Deprecated: comma-separated list of the only roles frameworks may use. Default: any role");
    add(f, "weights", NULL, CM_FLAG_STRING, &f->weights,
        "Role weights for DRF as role=weight,... Default: every role weighs 1");
    add(f, "framework_sorter", NULL, CM_FLAG_STRING, &f->framework_sorter,
        "Sorter that orders frameworks within a role; only drf exists");
    add(f, "role_sorter", "user_sorter", CM_FLAG_STRING, &f->role_sorter,
        "Sorter that orders roles; only drf exists");
    add(f, "allocator", NULL, CM_FLAG_STRING, &f->allocator,
        "Allocator; only the built-in HierarchicalDRF exists");
    add(f, "zk", NULL, CM_FLAG_STRING, &f->zk,
        "ZooKeeper URL for leader election and the registry: zk://[user:pass@]host:port,.../path "
        "or file:///path holding one. Default: none, a standalone master");
    add(f, "quorum", NULL, CM_FLAG_INT, &f->quorum,
        "Number of masters that form a majority: required with --zk and kept for Mesos "
        "compatibility (the zk registry needs no quorum of its own). Default: none");
    add(f, "zk_session_timeout", NULL, CM_FLAG_DURATION, &f->zk_session_timeout,
        "ZooKeeper session timeout of leader election and the zk registry");
    add(f, "allocation_interval", NULL, CM_FLAG_DURATION, &f->allocation_interval,
        "Time between batch allocations");
    add(f, "offer_timeout", NULL, CM_FLAG_DURATION, &f->offer_timeout,
        "Rescind offers held longer than this (default: never)");
    add(f, "agent_ping_timeout", "slave_ping_timeout", CM_FLAG_DURATION, &f->agent_ping_timeout,
        "Interval of master->agent pings");
    add(f, "max_agent_ping_timeouts", "max_slave_ping_timeouts", CM_FLAG_INT,
        &f->max_agent_ping_timeouts, "Missed pings after which an agent is marked unreachable");
    add(f, "agent_reregister_timeout", "slave_reregister_timeout", CM_FLAG_DURATION,
        &f->agent_reregister_timeout, "Time agents have to re-register after a master failover");
    add(f, "max_completed_frameworks", NULL, CM_FLAG_INT, &f->max_completed_frameworks,
        "Completed frameworks kept for the state endpoints");
    add(f, "max_completed_tasks_per_framework", NULL, CM_FLAG_INT,
        &f->max_completed_tasks_per_framework,
        "Completed tasks kept per framework for the state endpoints");
    add(f, "max_unreachable_tasks_per_framework", NULL, CM_FLAG_INT,
        &f->max_unreachable_tasks_per_framework,
        "Unreachable tasks kept per framework for the state endpoints");
    add(f, "root_submissions", NULL, CM_FLAG_BOOL, &f->root_submissions,
        "Allow frameworks to register with user root");
    add(f, "publish_per_framework_metrics", NULL, CM_FLAG_BOOL, &f->publish_per_framework_metrics,
        "Publish per-framework metrics in /metrics/snapshot");
    add(f, "min_allocatable_resources", NULL, CM_FLAG_STRING, &f->min_allocatable_resources,
        "Minimum free resources to offer (cpus:0.01|mem:32)");
    add(f, "version", NULL, CM_FLAG_BOOL, &f->version, "Print the version and exit");
    add_auth_flags(f);
    f->max_connections = CM_HTTP_MAX_CONNECTIONS_DEFAULT;
    f->http_idle_timeout = CM_HTTP_IDLE_TIMEOUT_DEFAULT;
    f->http_request_timeout = CM_HTTP_REQUEST_TIMEOUT_DEFAULT;
    f->http_max_buffered_body = CM_HTTP_MAX_BUFFERED_DEFAULT;
    add(f, "max_connections", NULL, CM_FLAG_INT, &f->max_connections,
        "cmesos: most HTTP connections open at once (bounded by RLIMIT_NOFILE); at the limit the "
        "longest-idle connection is closed, or the new one gets 503");
    add(f, "http_idle_timeout", NULL, CM_FLAG_DURATION, &f->http_idle_timeout,
        "cmesos: close an HTTP connection with no request in progress after this long");
    add(f, "http_request_timeout", NULL, CM_FLAG_DURATION, &f->http_request_timeout,
        "cmesos: answer 408 to a request (head and body) not received in full within this long");
    add(f, "http_max_buffered_body", NULL, CM_FLAG_BYTES, &f->http_max_buffered_body,
        "cmesos: request-body bytes buffered across all HTTP connections; past it requests get "
        "503");
}

static int check_positive(double v, const char *name, char *why, size_t whylen)
{
    if (!isfinite(v) || v <= 0)
        return cm_fail(CM_EINVAL, why, whylen, "Flag '%s' must be a positive duration", name);
    return 0;
}

int cm_master_flags_parse(struct cm_master_flags *f, int argc, char **argv, char *why,
                          size_t whylen)
{
    int rc = cm_flags_parse_with(f->table, f->nflags, &f->known, argc, argv,
                                 "Usage: mesos-master [options]\n\nStarts a cmesos master.", why,
                                 whylen);
    if (rc)
        return rc;
    if (f->version)
        return 0; /* --version needs no other flag */
    if (f->port < 0 || f->port > 65535)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'port' must be between 0 and 65535");
    if (f->advertise_port < 0 || f->advertise_port > 65535)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'advertise_port' must be between 0 and 65535");
    if ((rc = check_positive(f->allocation_interval, "allocation_interval", why, whylen)) ||
        (rc = check_positive(f->agent_ping_timeout, "agent_ping_timeout", why, whylen)))
        return rc;
    if (f->offer_timeout < 0 || !isfinite(f->offer_timeout))
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'offer_timeout' must not be negative");
    if (f->max_agent_ping_timeouts < 1)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'max_agent_ping_timeouts' must be >= 1");
    if (f->max_completed_frameworks < 0 || f->max_completed_tasks_per_framework < 0)
        return cm_fail(CM_EINVAL, why, whylen, "Completed-object limits must not be negative");
    if (f->zk) {
        if (cm_zk_url_parse_flag(f->zk, &f->zk_url, why, whylen) != 0)
            return CM_EINVAL; /* why names the URL and what is wrong with it */
        if (f->quorum < 1)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Flag 'quorum' is required with --zk and must be >= 1");
        if (!isfinite(f->zk_session_timeout) || f->zk_session_timeout < 1 ||
            f->zk_session_timeout > 600)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Flag 'zk_session_timeout' must be between 1secs and 10mins");
    }
    if (f->registry && strcmp(f->registry, "zk") == 0 && !f->zk)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'registry=zk' needs --zk");
    if (f->zk && (!f->registry || strcmp(f->registry, "zk") == 0 ||
                  strcmp(f->registry, "replicated_log") == 0)) {
        f->registry_storage = "zk";
    } else if (!f->registry) {
        f->registry_storage = "file";
    } else if (strcmp(f->registry, "in_memory") == 0) {
        f->registry_storage = "in_memory";
    } else if (strcmp(f->registry, "file") == 0 || strcmp(f->registry, "replicated_log") == 0) {
        if (!f->work_dir)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Flag 'registry=%s' needs --work_dir (where the registry is kept)",
                           f->registry);
        f->registry_storage = "file";
    } else {
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'registry' must be zk, file, in_memory or replicated_log, not '%s'",
                       f->registry);
    }
    /* As Mesos: only an in-memory registry runs without a work directory. */
    if (strcmp(f->registry_storage, "in_memory") != 0 && (!f->work_dir || !*f->work_dir))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'work_dir' is required unless --registry=in_memory (as in Mesos)");
    if ((rc = check_positive(f->registry_gc_interval, "registry_gc_interval", why, whylen)) ||
        (rc = check_positive(f->registry_max_agent_age, "registry_max_agent_age", why, whylen)) ||
        (rc = check_positive(f->agent_reregister_timeout, "agent_reregister_timeout", why, whylen)))
        return rc;
    if (f->registry_max_agent_count < 0)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'registry_max_agent_count' must be >= 0");
    if (f->max_unreachable_tasks_per_framework < 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'max_unreachable_tasks_per_framework' must not be negative");
    if (strcmp(f->framework_sorter, "drf") != 0 || strcmp(f->role_sorter, "drf") != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Only the 'drf' sorter is supported");
    if ((rc = check_auth_flags(f, why, whylen)) != 0)
        return rc;
    if (f->max_connections < 1)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'max_connections' must be at least 1");
    if ((rc = check_positive(f->http_idle_timeout, "http_idle_timeout", why, whylen)) ||
        (rc = check_positive(f->http_request_timeout, "http_request_timeout", why, whylen)))
        return rc;
    if (f->http_max_buffered_body < 1)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'http_max_buffered_body' must be positive");
    return 0;
}

void cm_master_flags_cleanup(struct cm_master_flags *f)
{
    cm_flags_cleanup(f->table, f->nflags);
    cm_zk_url_cleanup(&f->zk_url);
}

/* ------------------------------------------------------------------------------------------ */
/* Authentication and authorization (docs/security.md) */

static void add_auth_flags(struct cm_master_flags *f)
{
    f->authenticators = "crammd5";
    f->http_authenticators = "basic";
    f->authorizers = "local";
    add(f, "authenticate_frameworks", "authenticate", CM_FLAG_BOOL, &f->authenticate_frameworks,
        "Only authenticated frameworks may subscribe (cmesos frameworks all use the HTTP "
        "scheduler API, so this has the effect of --authenticate_http_frameworks)");
    add(f, "authenticate_http_frameworks", NULL, CM_FLAG_BOOL, &f->authenticate_http_frameworks,
        "Every scheduler API call needs HTTP Basic credentials from --credentials");
    add(f, "authenticate_agents", NULL, CM_FLAG_BOOL, &f->authenticate_agents,
        "Agents must authenticate (HTTP Basic, --credentials) to register");
    add(f, "authenticate_http_readonly", NULL, CM_FLAG_BOOL, &f->authenticate_http_readonly,
        "Read-only endpoints (/state, /frameworks, /tasks, /slaves, /flags, /metrics/snapshot, "
        "...) need HTTP Basic credentials");
    add(f, "authenticate_http_readwrite", NULL, CM_FLAG_BOOL, &f->authenticate_http_readwrite,
        "Read-write endpoints need HTTP Basic credentials");
    add(f, "credentials", NULL, CM_FLAG_STRING, &f->credentials,
        "Path (or file://) of the accepted credentials: Mesos's JSON "
        "{\"credentials\":[{\"principal\":..,\"secret\":..}]} or 'principal secret' lines");
    add(f, "http_credentials", NULL, CM_FLAG_STRING, &f->http_credentials,
        "cmesos: credentials for the read-only and read-write endpoints (default: --credentials)");
    add(f, "authenticators", NULL, CM_FLAG_STRING, &f->authenticators,
        "crammd5 (Mesos's name) or basic: cmesos authenticates frameworks and agents with HTTP "
        "Basic over its HTTP APIs either way");
    add(f, "http_authenticators", NULL, CM_FLAG_STRING, &f->http_authenticators,
        "HTTP authenticator for the endpoints: basic");
    add(f, "http_framework_authenticators", NULL, CM_FLAG_STRING, &f->http_framework_authenticators,
        "HTTP authenticator for the scheduler API: basic");
    add(f, "acls", NULL, CM_FLAG_STRING, &f->acls,
        "ACLs in Mesos's JSON format (inline, a path or file://) for the local authorizer");
    add(f, "authorizers", NULL, CM_FLAG_STRING, &f->authorizers,
        "Authorizer: local (the only one cmesos has)");
}

static int check_auth_flags(const struct cm_master_flags *f, char *why, size_t whylen)
{
    if (strcmp(f->authenticators, "crammd5") != 0 && strcmp(f->authenticators, "basic") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Authenticator '%s' not found: cmesos has 'crammd5' (Mesos's name; "
                       "cmesos authenticates with HTTP Basic) and 'basic'",
                       f->authenticators);
    if (strcmp(f->http_authenticators, "basic") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "HTTP authenticator '%s' not found: cmesos has only 'basic'",
                       f->http_authenticators);
    if (f->http_framework_authenticators && strcmp(f->http_framework_authenticators, "basic") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "HTTP framework authenticator '%s' not found: cmesos has only 'basic'",
                       f->http_framework_authenticators);
    if (strcmp(f->authorizers, "local") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Authorizer '%s' not found: cmesos has only the 'local' authorizer "
                       "(--acls)",
                       f->authorizers);
    if ((f->authenticate_frameworks || f->authenticate_http_frameworks || f->authenticate_agents) &&
        !f->credentials)
        return cm_fail(CM_EINVAL, why, whylen,
                       "--authenticate_%s needs --credentials (the accepted principals and "
                       "secrets)",
                       f->authenticate_agents ? "agents" : "frameworks");
    if ((f->authenticate_http_readonly || f->authenticate_http_readwrite) && !f->credentials &&
        !f->http_credentials)
        return cm_fail(CM_EINVAL, why, whylen,
                       "--authenticate_http_%s needs --credentials or --http_credentials",
                       f->authenticate_http_readonly ? "readonly" : "readwrite");
    return 0;
}
