/*
 * master_flags.h: mesos-master's command-line flags (docs/wire-protocol.md §12.1, §12.2).
 *
 * cm_master_flags_init fills defaults and the flag table; cm_master_flags_parse parses argv
 * (with MESOS_* environment fallback, via flags.c) and checks values. The struct is read-only
 * after parsing; the master keeps a pointer to it, so it must outlive the master.
 */
#ifndef CM_MASTER_FLAGS_H
#define CM_MASTER_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags.h"
#include "zk_url.h"

#define CM_MASTER_NFLAGS 96

struct cm_master_flags {
    char *ip;
    long port;
    char *hostname;
    bool hostname_lookup;
    char *advertise_ip;
    long advertise_port;
    char *work_dir;
    char *port_file; /* cmesos: write the bound port here */
    char *logging_level;
    char *log_dir;
    char *registry;
    const char *registry_storage; /* resolved after parsing: "file", "in_memory" or "zk" */
    double registry_gc_interval, registry_max_agent_age;
    long registry_max_agent_count;
    double registry_fetch_timeout, registry_store_timeout;
    char *cluster;
    char *roles;   /* deprecated whitelist, comma separated; NULL = any */
    char *weights; /* "role=w,..." */
    char *framework_sorter, *role_sorter, *allocator;
    char *zk;
    long quorum;
    double zk_session_timeout;
    struct cm_zk_url zk_url; /* parsed --zk (servers NULL without --zk) */
    double allocation_interval;
    double offer_timeout; /* 0 = never */
    double agent_ping_timeout;
    long max_agent_ping_timeouts;
    double agent_reregister_timeout;
    long max_completed_frameworks;
    long max_completed_tasks_per_framework;
    long max_unreachable_tasks_per_framework;
    bool root_submissions;
    bool publish_per_framework_metrics;
    bool authenticate_http_frameworks;
    char *min_allocatable_resources;
    char *webui_dir;
    bool version;
    /* Authentication and authorization (docs/security.md). authenticate_http_frameworks is
     * above. Files are loaded by the master (master_auth.c), not here. */
    bool authenticate_frameworks; /* alias --authenticate */
    bool authenticate_agents;
    bool authenticate_http_readonly, authenticate_http_readwrite;
    char *credentials;      /* path or file:// of Mesos's credentials (JSON or text) */
    char *http_credentials; /* cmesos: separate set for the operator endpoints' realms */
    char *authenticators;   /* "crammd5" (Mesos's name) or "basic": both mean HTTP Basic */
    char *http_authenticators, *http_framework_authenticators; /* "basic" */
    char *acls;                                                /* JSON text, path or file:// */
    char *authorizers;                                         /* "local" */
    /* cmesos: HTTP server limits (http_server.h) */
    long max_connections;
    double http_idle_timeout, http_request_timeout;
    uint64_t http_max_buffered_body;

    struct cm_flag table[CM_MASTER_NFLAGS];
    size_t nflags;
    /* Mesos flags outside the table (master_flags_mesos.c) and those given (warned at start). */
    struct cm_flags_known known;
};

/* Defaults and the table. */
void cm_master_flags_init(struct cm_master_flags *f);
/* Parses argv. Returns 0, CM_EHELP (usage printed) or CM_EINVAL with why. */
int cm_master_flags_parse(struct cm_master_flags *f, int argc, char **argv, char *why,
                          size_t whylen);
void cm_master_flags_cleanup(struct cm_master_flags *f);

#endif
