/* master_files.c: the master's /files endpoints over its own log (see master_http.h).
 *
 * As in Mesos, the master attaches its log file as /master/log when it logs to a file
 * (--log_dir: <log_dir>/mesos-master.INFO, docs/flags.md "Log files"), and serves
 * /files/{browse,read,download,debug} (and the ".json" aliases; the server's "master" prefix
 * adds /master/files/...) through the shared module (files.h), so the same confinement applies
 * as on the agent. Each master serves its own log: a standby answers too, no 307.
 *
 * Access, as Mesos's files process on the master: the read-only realm
 * (--authenticate_http_readonly), then access_mesos_logs for a path under an attached one
 * (paths under none are answered by the module: 404, 403 or 400) and get_endpoints on
 * "/files/debug" for the debug map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acls.h"
#include "files.h"
#include "log.h"
#include "master_http.h"
#include "util.h"

struct cm_files *cm_master_files(struct cm_master *m)
{
    if (m->files)
        return m->files;
    m->files = cm_files_new();
    if (m->flags->log_dir && *m->flags->log_dir) {
        /* The file may not exist yet (it is opened after the bind): it is looked up per
         * request, and answers 404 until it does. */
        const char *dir = m->flags->log_dir;
        char cwd[4096] = "";
        if (dir[0] != '/' && !getcwd(cwd, sizeof cwd))
            cwd[0] = '\0';
        char *path = cm_xasprintf("%s%s%s/mesos-master.INFO", cwd, cwd[0] ? "/" : "", dir);
        if (cm_files_attach(m->files, path, "/master/log") != 0)
            CM_WARN("master", "Cannot serve the log file '%s' as /master/log", path);
        free(path);
    }
    return m->files;
}

static void serve(struct cm_master *m, struct cm_http_request *req, enum cm_files_endpoint ep)
{
    char *principal = NULL;
    if (!cm_master_http_authenticate(m, req, CM_MASTER_REALM_READONLY, &principal))
        return;
    struct cm_files *files = cm_master_files(m);
    bool ok = true;
    if (ep == CM_FILES_DEBUG) {
        ok = cm_master_http_authorize(m, req, CM_ACL_GET_ENDPOINT, principal, "/files/debug");
    } else {
        char *path = cm_http_request_query_param(req, "path");
        char *root = NULL, *rel = NULL;
        if (path && cm_files_resolve(files, path, &root, &rel) == 0)
            ok = cm_master_http_authorize(m, req, CM_ACL_ACCESS_MESOS_LOG, principal, NULL);
        free(root);
        free(rel);
        free(path);
    }
    free(principal);
    if (ok)
        cm_files_serve(files, ep, req);
}

static void handle_browse(struct cm_http_request *req, void *arg)
{
    serve(arg, req, CM_FILES_BROWSE);
}

static void handle_read(struct cm_http_request *req, void *arg)
{
    serve(arg, req, CM_FILES_READ);
}

static void handle_download(struct cm_http_request *req, void *arg)
{
    serve(arg, req, CM_FILES_DOWNLOAD);
}

static void handle_debug(struct cm_http_request *req, void *arg)
{
    serve(arg, req, CM_FILES_DEBUG);
}

void cm_master_files_routes(struct cm_master *m)
{
    struct cm_http_server *h = m->http;
    cm_master_files(m);
    cm_http_server_route(h, "/files/browse", handle_browse, m);
    cm_http_server_route(h, "/files/browse.json", handle_browse, m);
    cm_http_server_route(h, "/files/read", handle_read, m);
    cm_http_server_route(h, "/files/read.json", handle_read, m);
    cm_http_server_route(h, "/files/download", handle_download, m);
    cm_http_server_route(h, "/files/download.json", handle_download, m);
    cm_http_server_route(h, "/files/debug", handle_debug, m);
    cm_http_server_route(h, "/files/debug.json", handle_debug, m);
}
