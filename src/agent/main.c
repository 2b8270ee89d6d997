/*
 * main.c: mesos-agent — flags, logging, the event loop, clean shutdown on SIGINT/SIGTERM.
 *
 * On SIGINT/SIGTERM the agent kills the executors of non-checkpointing frameworks before
 * exiting; executors of checkpointing frameworks keep running and the next agent run
 * re-attaches to them (recover.h, --recover=reconnect).
 *
 * The loop's timers are backed by a timerfd (EVENT_BASE_FLAG_PRECISE_TIMER): plain epoll_wait
 * timeouts are rounded to the kernel tick (4 ms at HZ=250). With CMESOS_LOOP_PROBE=<seconds>
 * in the environment, a loop probe (loop_probe.h) ticks every millisecond and the agent logs
 * the loop's longest stall, its p99 and the stalls over 5 and 50 ms every <seconds>.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "cmesos_version.h"
#include "errors.h"
#include "log.h"
#include "loop_probe.h"

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    CM_INFO("main", "Received signal %d; shutting down", (int)sig);
    event_base_loopbreak(arg);
}

struct probe_report {
    struct cm_loop_probe *probe;
    double every;
};

static void probe_report_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct probe_report *pr = arg;
    struct cm_loop_probe_stats st;
    cm_loop_probe_stats(pr->probe, &st);
    CM_INFO("main",
            "Event loop over the last %.0f s: longest stall %.2f ms (%.2f ms not counting waits "
            "for a CPU), p99 %.3f ms, %llu stalls over 5 ms, %llu over 50 ms",
            pr->every, st.max_stall * 1e3, st.max_self * 1e3, st.p99 * 1e3,
            (unsigned long long)st.over[1], (unsigned long long)st.over[3]);
    cm_loop_probe_reset(pr->probe);
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
        printf("%s\n", CMESOS_VERSION_LINE);
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

    struct event_config *cfg = event_config_new();
    if (cfg)
        event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = cfg ? event_base_new_with_config(cfg) : NULL;
    if (cfg)
        event_config_free(cfg);
    if (!base) {
        fprintf(stderr, "Failed to create the event loop\n");
        cm_agent_flags_cleanup(&flags);
        return EXIT_FAILURE;
    }
    struct cm_agent *agent = NULL;
    struct event *sigint = NULL, *sigterm = NULL, *probe_timer = NULL;
    struct probe_report pr = {NULL, 0};
    rc = cm_agent_new(base, &flags, &cm_clock_real, &agent, why, sizeof why);
    if (rc != 0) {
        CM_ERROR("main", "%s", why);
        goto out;
    }
    for (size_t i = 0; i < flags.known.nignored; i++) {
        char msg[1024];
        cm_flags_ignored_message(flags.known.ignored[i], msg, sizeof msg);
        CM_WARN("main", "%s", msg);
    }
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    const char *probe_env = getenv("CMESOS_LOOP_PROBE");
    pr.every = probe_env ? atof(probe_env) : 0;
    if (pr.every > 0 && (pr.probe = cm_loop_probe_new(base, 0.001)) != NULL) {
        probe_timer = event_new(base, -1, EV_PERSIST, probe_report_cb, &pr);
        struct timeval tv = {(time_t)pr.every, (suseconds_t)((pr.every - (time_t)pr.every) * 1e6)};
        event_add(probe_timer, &tv);
    }
    event_base_dispatch(base);
    status = EXIT_SUCCESS;
out:
    cm_agent_free(agent);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (probe_timer)
        event_free(probe_timer);
    cm_loop_probe_free(pr.probe);
    event_base_free(base);
    cm_agent_flags_cleanup(&flags);
    libevent_global_shutdown();
    return status;
}
