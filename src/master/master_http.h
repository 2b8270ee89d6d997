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

/* The /metrics/snapshot object (caller decrefs). (endpoints.c) */
json_t *cm_master_metrics_json(struct cm_master *m);

#endif
