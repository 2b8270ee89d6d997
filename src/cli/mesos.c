/*
 * mesos: operate a cmesos (or Mesos) cluster through the master's v1 operator API.
 *
 *   mesos [--master=HOST:PORT|zk://...] [--json] [--timeout=SECS] COMMAND [ARGS] [OPTIONS]
 *
 * Commands are in usage() below; mesos_cmds.h implements them, mesos_api.h reaches the master.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmesos_version.h"
#include "mesos_api.h"
#include "mesos_cmds.h"

static void usage(FILE *f)
{
    fputs("Usage: mesos [--master=HOST:PORT|zk://HOST:PORT,.../PATH] [--json] [--timeout=SECS]\n"
          "             COMMAND [ARGS] [OPTIONS]\n"
          "\n"
          "Operates a cmesos or Mesos cluster through the leading master's v1 operator API\n"
          "(POST /api/v1). The master comes from --master or the MESOS_MASTER environment\n"
          "variable; a zk:// or file:// value finds the leader through ZooKeeper, and a standby\n"
          "master's redirect is followed.\n"
          "\n"
          "Commands:\n"
          "  agent list                      registered agents, their state and resources\n"
          "  agent drain AGENT               kill the agent's tasks and keep it out of offers\n"
          "        [--max-grace-period=SECS] [--mark-gone]\n"
          "  agent deactivate AGENT          keep the agent out of offers; its tasks keep running\n"
          "  agent reactivate AGENT          offer the agent again (also ends draining)\n"
          "  agent gone AGENT                mark the agent gone for good: its tasks are lost\n"
          "  framework list [--all]          frameworks (--all: completed ones too)\n"
          "  framework teardown ID           end a framework and kill its tasks\n"
          "  task list [--all]               live tasks (--all: unreachable and completed too)\n"
          "  task log TASK [--file=stdout]   a file of the task's sandbox, read from its agent\n"
          "        [--lines=N] [--follow] [--framework=ID]\n"
          "  leader                          the leading master\n"
          "  state                           a summary of the cluster (--json: GET_STATE)\n"
          "\n"
          "AGENT is an agent ID or a hostname only one agent has. task log prints the last\n"
          "--lines lines (default 10; --lines=-1 for the whole file), and with --follow keeps\n"
          "printing what is appended until the task has ended.\n"
          "\n"
          "Options:\n"
          "  --master=VALUE    the master (default: $MESOS_MASTER)\n"
          "  --json            print the master's JSON response instead of a table\n"
          "  --principal=NAME  HTTP Basic principal for clusters that authenticate their\n"
          "                    endpoints (default: $MESOS_PRINCIPAL)\n"
          "  --secret=VALUE    its secret (default: $MESOS_SECRET)\n"
          "  --timeout=SECS    per request, and for finding the leader (default: 10)\n"
          "  --help            this text\n"
          "  --version         the cmesos version and the Mesos API version\n"
          "\n"
          "Exit status: 0 done; 1 the cluster refused or found nothing; 2 bad command line;\n"
          "3 no leading master could be reached.\n",
          f);
}

static int bad(const char *fmt, const char *arg)
{
    fputs("mesos: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nSee 'mesos --help'.\n", stderr);
    return CM_CLI_EXIT_USAGE;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    *out = strtod(v, &end);
    return *v && !*end ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct cm_cli cli = {.spec = getenv("MESOS_MASTER"),
                         .timeout = 10,
                         .principal = getenv("MESOS_PRINCIPAL"),
                         .secret = getenv("MESOS_SECRET")};
    struct cm_cli_opts o = {.lines = 10, .max_grace = -1, .follow_interval = 1.0};
    const char *pos[4] = {NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        const char *v = eq ? eq + 1 : NULL;
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
#define IS(name) (nlen == strlen(name) && strncmp(a, name, nlen) == 0)
        if (strncmp(a, "--", 2) != 0) {
            if (npos == 4)
                return bad("too many arguments at '%s'", a);
            pos[npos++] = a;
        } else if (IS("--help")) {
            usage(stdout);
            return 0;
        } else if (IS("--version")) {
            printf("%s\n", CMESOS_VERSION_LINE);
            return 0;
        } else if (IS("--json") && !v) {
            cli.json = true;
        } else if (IS("--all") && !v) {
            o.all = true;
        } else if (IS("--follow") && !v) {
            o.follow = true;
        } else if (IS("--mark-gone") && !v) {
            o.mark_gone = true;
        } else if (IS("--master") && v && *v) {
            cli.spec = v;
        } else if (IS("--principal") && v && *v) {
            cli.principal = v;
        } else if (IS("--secret") && v) {
            cli.secret = v;
        } else if (IS("--file") && v && *v) {
            o.file = v;
        } else if (IS("--framework") && v && *v) {
            o.framework = v;
        } else if (IS("--lines") && v) {
            double d;
            if (parse_double(v, &d) || d < -1 || d != (long)d)
                return bad("--lines takes a whole number of lines (or -1), not '%s'", v);
            o.lines = (long)d;
        } else if (IS("--timeout") && v) {
            if (parse_double(v, &cli.timeout) || cli.timeout <= 0 || cli.timeout > 3600)
                return bad("--timeout takes seconds between 0 and 3600, not '%s'", v);
        } else if (IS("--max-grace-period") && v) {
            if (parse_double(v, &o.max_grace) || o.max_grace < 0 || o.max_grace > 1e9)
                return bad("--max-grace-period takes seconds, not '%s'", v);
        } else {
            return bad("unknown option '%s' (or a value is missing or not expected)", a);
        }
#undef IS
    }
    if (npos == 0) {
        usage(stderr);
        return CM_CLI_EXIT_USAGE;
    }
    const char *group = pos[0], *verb = npos > 1 ? pos[1] : NULL;
    int rc = -1;
#define CMD(g, v, n) (strcmp(group, g) == 0 && verb && strcmp(verb, v) == 0 && npos == (n))
    if (strcmp(group, "leader") == 0 && npos == 1)
        rc = cm_cli_cmd_leader(&cli);
    else if (strcmp(group, "state") == 0 && npos == 1)
        rc = cm_cli_cmd_state(&cli);
    else if (CMD("agent", "list", 2))
        rc = cm_cli_cmd_agent_list(&cli);
    else if ((CMD("agent", "drain", 3) || CMD("agent", "deactivate", 3) ||
              CMD("agent", "reactivate", 3) || CMD("agent", "gone", 3)))
        rc = cm_cli_cmd_agent_action(&cli, verb, pos[2], &o);
    else if (CMD("framework", "list", 2))
        rc = cm_cli_cmd_framework_list(&cli, &o);
    else if (CMD("framework", "teardown", 3))
        rc = cm_cli_cmd_framework_teardown(&cli, pos[2]);
    else if (CMD("task", "list", 2))
        rc = cm_cli_cmd_task_list(&cli, &o);
    else if (CMD("task", "log", 3))
        rc = cm_cli_cmd_task_log(&cli, pos[2], &o);
#undef CMD
    if (rc < 0) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s%s%s", group, verb ? " " : "", verb ? verb : "");
        cm_cli_cleanup(&cli);
        return bad("unknown command or wrong number of arguments: '%s'", cmd);
    }
    /* Options that belong to another command are refused rather than ignored. */
    cm_cli_cleanup(&cli);
    return rc;
}
