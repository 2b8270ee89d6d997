/*
 * agent_flags.c: the agent's flag table (protocol doc §12.3) and its defaults.
 */
#include <string.h>

#include "agent.h"
#include "errors.h"

#define SUMMARY "Usage: mesos-agent --master=HOST:PORT --work_dir=DIR [options]"

static void add(struct cm_agent_flags *f, const char *name, const char *alias,
                enum cm_flag_type type, void *dst, const char *help, bool required)
{
    struct cm_flag *fl = &f->table[f->ntable++];
    memset(fl, 0, sizeof *fl);
    fl->name = name;
    fl->alias = alias;
    fl->type = type;
    fl->dst = dst;
    fl->help = help;
    fl->required = required;
}

void cm_agent_flags_init(struct cm_agent_flags *f)
{
    memset(f, 0, sizeof *f);
    f->ip = "0.0.0.0";
    f->port = 5051;
    f->default_role = "*";
    f->isolation = "posix/cpu,posix/mem";
    f->logging_level = "INFO";
    f->executor_registration_timeout = 60;
    f->executor_shutdown_grace_period = 5;
    f->registration_backoff_factor = 1;
    add(f, "master", NULL, CM_FLAG_STRING, &f->master, "Master to register with: host:port", true);
    add(f, "work_dir", NULL, CM_FLAG_STRING, &f->work_dir,
        "Directory for sandboxes and (later) checkpoints", true);
    add(f, "ip", NULL, CM_FLAG_STRING, &f->ip, "IP address to listen on", false);
    add(f, "port", NULL, CM_FLAG_INT, &f->port, "Port to listen on (0 = any free port)", false);
    add(f, "port_file", NULL, CM_FLAG_STRING, &f->port_file,
        "cmesos: write the bound port to this file after binding", false);
    add(f, "hostname", NULL, CM_FLAG_STRING, &f->hostname, "Hostname to advertise", false);
    add(f, "advertise_ip", NULL, CM_FLAG_STRING, &f->advertise_ip, "IP address to advertise",
        false);
    add(f, "resources", NULL, CM_FLAG_STRING, &f->resources,
        "Total resources, text (cpus:4;mem:8192) or a JSON array; overrides detection by name",
        false);
    add(f, "attributes", NULL, CM_FLAG_STRING, &f->attributes,
        "Attributes, e.g. rack:r1;zone:z2;cores:8;ids:[1-5]", false);
    add(f, "default_role", NULL, CM_FLAG_STRING, &f->default_role,
        "Role of unreserved/detected resources", false);
    add(f, "launcher_dir", NULL, CM_FLAG_STRING, &f->launcher_dir,
        "Directory of mesos-executor (default: the agent binary's directory)", false);
    add(f, "executor_registration_timeout", NULL, CM_FLAG_DURATION,
        &f->executor_registration_timeout, "How long an executor may take to subscribe", false);
    add(f, "executor_shutdown_grace_period", NULL, CM_FLAG_DURATION,
        &f->executor_shutdown_grace_period, "Time an executor gets to shut down", false);
    add(f, "executor_environment_variables", NULL, CM_FLAG_STRING,
        &f->executor_environment_variables,
        "JSON object of the environment given to executors (default: the agent's)", false);
    add(f, "isolation", NULL, CM_FLAG_STRING, &f->isolation, "Isolators, comma separated", false);
    add(f, "logging_level", NULL, CM_FLAG_STRING, &f->logging_level,
        "INFO, WARNING or ERROR (also DEBUG)", false);
    add(f, "registration_backoff_factor", NULL, CM_FLAG_DURATION, &f->registration_backoff_factor,
        "Initial back-off of (re-)registration", false);
    add(f, "version", NULL, CM_FLAG_BOOL, &f->version, "Print the version and exit", false);
}

int cm_agent_flags_parse(struct cm_agent_flags *f, int argc, char **argv, char *why, size_t whylen)
{
    /* --version needs no --master; look for it before required-flag checks. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--version") == 0) {
            f->version = true;
            return 0;
        }
    return cm_flags_parse(f->table, f->ntable, argc, argv, SUMMARY, why, whylen);
}

void cm_agent_flags_cleanup(struct cm_agent_flags *f)
{
    cm_flags_cleanup(f->table, f->ntable);
}
