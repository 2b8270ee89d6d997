/*
 * mesos_api.h: how the `mesos` CLI reaches a cluster (prefix cm_cli_).
 *
 * The master is given as --master or MESOS_MASTER, in any form an agent's --master takes:
 * "host:port", "http://host:port", "zk://host:port,.../path" or "file:///path" holding one of
 * those. ZooKeeper specs go through the leader detector (leader.h) on a private event loop
 * until it names a leader or the timeout passes. Operator calls are POST /api/v1 with a
 * mesos.v1.master.Call in JSON; a 307 from a standby master is followed (at most 3 times).
 * Everything here blocks: the CLI is a short-lived program with nothing else to do.
 * Requests carry HTTP Basic credentials when a principal is given, and go over https with the
 * LIBPROCESS_SSL_* settings (tls.h) when LIBPROCESS_SSL_ENABLED is set, as the daemons do.
 *
 * Errors: functions return 0 or a CM_CLI_EXIT_* code, with a why a user can act on.
 */
#ifndef CM_CLI_API_H
#define CM_CLI_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit statuses of `mesos` (also documented in its --help). */
enum {
    CM_CLI_EXIT_OK = 0,
    CM_CLI_EXIT_FAILED = 1,      /* the cluster answered, but refused or found nothing */
    CM_CLI_EXIT_USAGE = 2,       /* bad command line */
    CM_CLI_EXIT_UNREACHABLE = 3, /* no leading master could be reached */
};

struct cm_cli {
    const char *spec; /* --master / MESOS_MASTER as given */
    char *master;     /* "host:port" of the leading master once resolved (owned) */
    double timeout;   /* seconds, per request and for leader detection */
    bool json;        /* --json */
    /* HTTP Basic credentials for masters and agents that authenticate their endpoints
     * (--principal/--secret, or MESOS_PRINCIPAL/MESOS_SECRET); NULL principal: none sent. */
    const char *principal;
    const char *secret;
};

/* Resolves cli->spec to cli->master (once). */
int cm_cli_resolve(struct cm_cli *cli, char *why, size_t whylen);

/* POSTs call (not consumed) to the leading master's /api/v1. On 200 with a body, *response is
 * the parsed JSON (caller frees), else NULL. Statuses other than 200/202 fail with the
 * master's message in why. */
int cm_cli_call(struct cm_cli *cli, json_t *call, json_t **response, char *why, size_t whylen);

/* GET http://<hostport><path_and_query>; *body (caller frees, NUL-terminated) on 200. */
int cm_cli_get(struct cm_cli *cli, const char *hostport, const char *path_and_query, char **body,
               size_t *len, char *why, size_t whylen);

void cm_cli_cleanup(struct cm_cli *cli);

#endif
