/*
 * agent.h: the mesos-agent daemon (struct cm_agent) — the only daemon struct of the agent.
 *
 * The agent registers with the master over our link (docs: link.md, proto/cmesos/internal.proto),
 * launches the built-in command executor (mesos-executor) for every command task in a sandbox
 * under --work_dir (paths.h), serves the v1 executor API (docs/wire-protocol.md §4) on
 * /api/v1/executor and /slave(1)/api/v1/executor, relays status updates through the status
 * update manager (status_update.h) and serves /state, /flags, /health, /version and
 * /metrics/snapshot.
 *
 * State: frameworks -> executors -> tasks, each level a hash table by id; completed
 * frameworks/executors/tasks are kept in bounded FIFO lists (50 / 150 / 200 as Mesos).
 * Everything runs on one libevent loop; children are reaped on it (SIGCHLD via evsignal).
 * Time is read from the injectable clock. On cm_agent_free executors of non-checkpointing
 * frameworks are killed; those of checkpointing frameworks (checkpoint: true) are checkpointed
 * under <work_dir>/meta (paths.h, checkpoint.h) and re-attached by the next run (recover.h).
 */
#ifndef CM_AGENT_AGENT_H
#define CM_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "flags.h"

struct event_base;

/* Read-only after parsing; strings are owned by the flag table (cm_agent_flags_cleanup). */
struct cm_agent_flags {
    char *master;
    char *work_dir;
    char *ip;
    long port;
    char *port_file;
    char *hostname;
    bool hostname_lookup; /* without --hostname: reverse DNS of the IP (else the IP) */
    char *advertise_ip;
    char *resources;
    char *attributes;
    char *default_role;
    char *launcher_dir;
    double executor_registration_timeout;
    double executor_shutdown_grace_period;
    char *executor_environment_variables;
    char *isolation; /* NULL = the best default the machine allows (containerizer.h) */
    char *launcher;  /* linux | posix; NULL = by isolation */
    char *cgroups_hierarchy;
    char *cgroups_root;
    bool cgroups_enable_cfs;
    bool cgroups_limit_swap;
    long cgroups_max_pids;
    char *logging_level;
    double registration_backoff_factor;
    bool version;
    /* Fetcher (fetcher.h), sandbox GC (gc.h) and /files (files.h). */
    char *fetcher_cache_dir; /* NULL = <work_dir>/fetch */
    uint64_t fetcher_cache_size;
    double fetcher_stall_timeout;
    double fetcher_timeout;
    char *frameworks_home;
    double gc_delay;
    double gc_disk_headroom;
    double disk_watch_interval;
    char *log_dir;
    /* Recovery (recover.h). */
    char *recover; /* reconnect | cleanup */
    bool strict;   /* recovery errors are fatal */
    double executor_reregistration_timeout;
    double recovery_timeout;
    /* Authentication (docs/security.md). */
    bool authenticate_http_executors; /* executor API calls need their executor's JWT */
    char *jwt_secret_key;             /* path of the file holding the JWT signing key */
    char *credential;                 /* path: this agent's credential towards the master */
    bool authenticate_http_readonly;  /* /state, /flags, /files/ ... need HTTP Basic */
    bool authenticate_http_readwrite; /* /containers, ... need HTTP Basic */
    char *http_credentials;           /* path: who may call the agent's HTTP endpoints */
    char *acls;                       /* Mesos's ACLs JSON (inline, path or file://) */
    char *authorizer;                 /* "local", the only authorizer */
    /* Users and disk (user.h, disk.h). */
    bool switch_user;                     /* run tasks as CommandInfo.user / FrameworkInfo.user */
    double container_disk_watch_interval; /* seconds between sandbox disk measurements */
    bool enforce_container_disk_quota;    /* kill a container over its disk (cmesos: on) */
    /* cmesos: HTTP server limits (http_server.h) */
    long max_connections;
    double http_idle_timeout, http_request_timeout;
    uint64_t http_max_buffered_body;
    /* Container images (provisioner.h). */
    char *image_providers;  /* "docker" or NULL */
    char *docker_registry;  /* local directory */
    char *docker_store_dir; /* NULL = <work_dir>/store/docker */
    char *image_gc_config;
    /* Containerizers (docker.h): --containerizers and the Docker containerizer's flags. */
    char *containerizers; /* "mesos" (default), "docker,mesos", ... */
    char *docker;         /* the docker CLI */
    char *docker_socket;
    bool docker_kill_orphans;
    double docker_remove_delay;
    double docker_stop_timeout;

    struct cm_flag table[80];
    size_t ntable;
    /* Mesos flags outside the table (agent_flags_mesos.c) and those given (warned at start). */
    struct cm_flags_known known;
};

/* Sets defaults and builds the table. */
void cm_agent_flags_init(struct cm_agent_flags *f);
/* The Docker containerizer's part of the table (agent_flags_docker.c); called by the above. */
void cm_agent_flags_docker_init(struct cm_agent_flags *f);
/* Parses argv. Returns 0, CM_EHELP (usage printed) or CM_EINVAL with why. */
int cm_agent_flags_parse(struct cm_agent_flags *f, int argc, char **argv, char *why, size_t whylen);
void cm_agent_flags_cleanup(struct cm_agent_flags *f);

struct cm_agent;

/* Creates the agent: validates flags (resources, attributes, isolation, environment, master),
 * binds the HTTP server, writes --port_file, and starts registering with the master.
 * flags must outlive the agent. Returns 0 and *out, or an error with why. */
int cm_agent_new(struct event_base *base, const struct cm_agent_flags *flags,
                 const struct cm_clock *clock, struct cm_agent **out, char *why, size_t whylen);
struct cm_agent_link;
/* Like cm_agent_new, but the master link goes through link (agent_link.h; copied) instead of
 * HTTP: unit tests capture the agent's calls and inject the master's events with it. NULL =
 * the HTTP transport. */
int cm_agent_new_with(struct event_base *base, const struct cm_agent_flags *flags,
                      const struct cm_clock *clock, const struct cm_agent_link *link,
                      struct cm_agent **out, char *why, size_t whylen);
/* Kills running executors' process groups, closes everything and frees. NULL is a no-op. */
void cm_agent_free(struct cm_agent *agent);

/* The bound HTTP port. */
unsigned cm_agent_port(const struct cm_agent *agent);

#endif
