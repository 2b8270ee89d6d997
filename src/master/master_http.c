/* master_http.c: the master's HTTP edge — starting the server with every route, and the 307
 * to the leader that every handler gives first. See master_http.h. */
#include "master_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contender.h"
#include "errors.h"
#include "log.h"
#include "util.h"
#include "webui.h"

#define MOD "master"

bool cm_master_http_redirect(struct cm_master *m, struct cm_http_request *req)
{
    if (cm_contender_acting(m->contender))
        return false;
    char leader[300];
    if (!m->contender->ops->leader(m->contender, leader, sizeof leader)) {
        cm_http_respond_text(req, 503, "No leader elected");
        return true;
    }
    /* Protocol-relative, with the path under /master as Mesos delegates it (§2.1, §6.3). */
    const char *path = req->path ? req->path : "/";
    bool prefixed = strncmp(path, "/master/", 8) == 0 || strcmp(path, "/master") == 0;
    char *loc = cm_xasprintf("//%s%s%.2000s%s%.2000s", leader, prefixed ? "" : "/master", path,
                             req->query ? "?" : "", req->query ? req->query : "");
    cm_http_add_header(req, "Location", loc);
    cm_http_respond(req, 307, NULL, NULL, 0);
    free(loc);
    return true;
}

static int write_port_file(const char *path, uint16_t port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", (unsigned)port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        int rc = errno ? -errno : -EIO;
        CM_ERROR(MOD, "Failed to write --port_file %s: %s", path, strerror(errno));
        return rc;
    }
    return 0;
}

int cm_master_http_start(struct cm_master *m)
{
    m->http = cm_http_server_new(m->base, "master", 16 * 1024 * 1024);
    if (!m->http)
        return -ENOMEM;
    cm_http_server_set_limits(m->http, &(struct cm_http_server_limits){
                                           .max_connections = (size_t)m->flags->max_connections,
                                           .max_buffered_body = m->flags->http_max_buffered_body,
                                           .idle_timeout = m->flags->http_idle_timeout,
                                           .request_timeout = m->flags->http_request_timeout});
    char tls_why[256];
    int tls_rc = cm_http_server_tls_from_env(m->http, tls_why, sizeof tls_why);
    if (tls_rc) {
        CM_ERROR(MOD, "%s", tls_why);
        return tls_rc;
    }
    cm_master_endpoints_routes(m);
    cm_master_scheduler_http_routes(m);
    cm_master_agent_link_http_routes(m);
    cm_master_operator_http_routes(m);
    cm_master_files_routes(m);
    cm_master_webui_routes(m);
    uint16_t bound = 0;
    int rc = cm_http_server_bind(m->http, m->flags->ip, (uint16_t)m->flags->port, &bound);
    if (rc) {
        CM_ERROR(MOD, "Failed to bind %s:%ld: %s", m->flags->ip, m->flags->port, cm_strerror(rc));
        return rc;
    }
    if ((rc = cm_master_run(m, bound)) != 0)
        return rc;
    /* Written last: whoever waits for the file may talk to the master at once. */
    if (m->flags->port_file && (rc = write_port_file(m->flags->port_file, bound)) != 0)
        return rc;
    return 0;
}
