/*
 * main.c: mesos-agent — flags, logging, the event loop, clean shutdown on SIGINT/SIGTERM.
 *
 * On SIGINT/SIGTERM the agent kills the executors of non-checkpointing frameworks before
 * exiting; executors of checkpointing frameworks keep running and the next agent run
 * re-attaches to them (recover.h, --recover=reconnect).
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "errors.h"
#include "log.h"

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    CM_INFO("main", "Received signal %d; shutting down", (int)sig);
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    struct cm_agent_flags flags;
    char why[1024] = "";
    int status = EXIT_FAILURE;
    cm_agent_flags_init(&flags);
    int rc = cm_agent_flags_parse(&flags, argc, argv, why, sizeof why);
    if (rc == CM_EHELP) {
        cm_agent_flags_cleanup(&flags);
        return EXIT_SUCCESS;
    }
    if (rc != 0) {
        fprintf(stderr, "%s\n\nSee 'mesos-agent --help' for the flags.\n", why);
        cm_agent_flags_cleanup(&flags);
        return EXIT_FAILURE;
    }
    if (flags.version) {
        printf("mesos %s\n", CMESOS_VERSION);
        cm_agent_flags_cleanup(&flags);
        return EXIT_SUCCESS;
    }
    enum cm_log_level level;
    if (cm_log_parse_level(flags.logging_level, &level) != 0) {
        fprintf(stderr, "Flag 'logging_level': unknown level '%s'\n", flags.logging_level);
        cm_agent_flags_cleanup(&flags);
        return EXIT_FAILURE;
    }
    cm_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);

    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "Failed to create the event loop\n");
        cm_agent_flags_cleanup(&flags);
        return EXIT_FAILURE;
    }
    struct cm_agent *agent = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    rc = cm_agent_new(base, &flags, &cm_clock_real, &agent, why, sizeof why);
    if (rc != 0) {
        CM_ERROR("main", "%s", why);
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(base);
    status = EXIT_SUCCESS;
out:
    cm_agent_free(agent);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    event_base_free(base);
    cm_agent_flags_cleanup(&flags);
    libevent_global_shutdown();
    return status;
}
