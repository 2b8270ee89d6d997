/*
 * mesos_cmds.h: the `mesos` CLI's commands (prefix cm_cli_cmd_), each on the master's v1
 * operator API (mesos_api.h). A command prints its result to stdout (a table, or the
 * Response's JSON with --json) and errors to stderr, and returns a CM_CLI_EXIT_* status.
 */
#ifndef CM_CLI_CMDS_H
#define CM_CLI_CMDS_H

#include <stdbool.h>

#include "mesos_api.h"

struct cm_cli_opts {
    bool all;               /* task list / framework list: completed ones too */
    const char *file;       /* task log: sandbox file (default stdout) */
    bool follow;            /* task log: keep printing what is appended */
    long lines;             /* task log: last N lines (default 10; -1 = whole file) */
    const char *framework;  /* task log: which framework's task, when ids clash */
    double max_grace;       /* agent drain: max_grace_period seconds (< 0: not given) */
    bool mark_gone;         /* agent drain */
    double follow_interval; /* task log --follow: seconds between reads */
};

int cm_cli_cmd_agent_list(struct cm_cli *cli);
int cm_cli_cmd_framework_list(struct cm_cli *cli, const struct cm_cli_opts *o);
int cm_cli_cmd_task_list(struct cm_cli *cli, const struct cm_cli_opts *o);
int cm_cli_cmd_task_log(struct cm_cli *cli, const char *task, const struct cm_cli_opts *o);
/* verb: drain, deactivate, reactivate or gone. agent: an agent ID or a unique hostname. */
int cm_cli_cmd_agent_action(struct cm_cli *cli, const char *verb, const char *agent,
                            const struct cm_cli_opts *o);
int cm_cli_cmd_framework_teardown(struct cm_cli *cli, const char *id);
int cm_cli_cmd_leader(struct cm_cli *cli);
int cm_cli_cmd_state(struct cm_cli *cli);

#endif
