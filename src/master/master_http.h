/*
 * master_http.h: the master's HTTP edge — the server's start, the routes, and what every
 * handler shares (the 307 to the leading master).
 *
 * Layer: the top. These files turn HTTP requests into calls of the call layer
 * (scheduler_calls.h, agent_link.h) and of the core (master.h), and hold the streams the core
 * writes to through struct cm_sink. Nothing below includes this header; the core learns about
 * a stream only through the sink (send, end, bind_cb). Threading: the master's loop.
 */
#ifndef CM_MASTER_HTTP_H
#define CM_MASTER_HTTP_H

#include <jansson.h>
#include <stdbool.h>

#include "http_server.h"
#include "master.h"

/* Creates m->http, installs every route, binds --ip/--port, writes --port_file, then starts
 * the master (cm_master_run) on the bound port. Returns 0 or -errno. */
int cm_master_http_start(struct cm_master *m);

/* When this master is not the acting leader, answers req — 307 to the leader (protocol
 * relative, the path under /master as Mesos delegates it, §2.1, §6.3) or 503 when no leader is
 * known — and returns true. Returns false when the request is this master's to answer. */
bool cm_master_http_redirect(struct cm_master *m, struct cm_http_request *req);

/* Route installers, one per edge file. */
void cm_master_scheduler_http_routes(struct cm_master *m);  /* scheduler_http.c */
void cm_master_agent_link_http_routes(struct cm_master *m); /* agent_link_http.c */
void cm_master_endpoints_routes(struct cm_master *m);       /* endpoints.c */
void cm_master_operator_http_routes(struct cm_master *m);   /* operator_http.c */
void cm_master_files_routes(struct cm_master *m);           /* master_files.c */

/* The master's /files table (files.h), created at the first call with the master's log
 * attached as /master/log when there is --log_dir; freed with the master. (master_files.c) */
struct cm_files *cm_master_files(struct cm_master *m);

/* Authentication realms of the master's HTTP edge (Mesos's names, auth.h). */
enum cm_master_realm {
    CM_MASTER_REALM_READONLY,  /* --authenticate_http_readonly: state, metrics, flags, ... */
    CM_MASTER_REALM_READWRITE, /* --authenticate_http_readwrite: endpoints that change state */
    CM_MASTER_REALM_SCHEDULER, /* --authenticate_http_frameworks: /api/v1/scheduler */
    CM_MASTER_REALM_AGENT,     /* --authenticate_agents: the agent link's REGISTER */
};

/* Authenticates req for realm when that realm's flag is on (HTTP Basic against --credentials,
 * or --http_credentials for the read-only and read-write realms). Returns true with *principal
 * (malloc'd, caller frees; NULL when the realm needs no authentication: as in Mesos, the
 * request is then anonymous), or answers 401 with the realm's WWW-Authenticate challenge and
 * returns false. (master_auth.c) */
bool cm_master_http_authenticate(struct cm_master *m, struct cm_http_request *req,
                                 enum cm_master_realm realm, char **principal);
/* Checks action on object (NULL: none) for principal (NULL: anonymous) against --acls;
 * answers 403 naming the action and returns false when denied. (master_auth.c) */
bool cm_master_http_authorize(struct cm_master *m, struct cm_http_request *req,
                              enum cm_acl_action action, const char *principal, const char *object);

/* The /metrics/snapshot object (caller decrefs). (endpoints.c) */
json_t *cm_master_metrics_json(struct cm_master *m);

#endif
