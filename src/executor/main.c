/*
 * mesos-executor: the built-in command executor. The agent starts it in the task's sandbox
 * with the environment of docs/wire-protocol.md §4.5; it runs one command task and exits once the
 * agent has acknowledged the task's terminal update (see executor.h).
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "clock.h"
#include "executor.h"
#include "log.h"

extern char **environ;

struct exit_state {
    struct event_base *base;
    int code;
};

static void on_exit_requested(void *arg, int code)
{
    struct exit_state *st = arg;
    st->code = code;
    event_base_loopbreak(st->base);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    CM_INFO("executor", "Received signal %d; shutting down", (int)sig);
    cm_executor_shutdown(arg);
}

#ifdef CM_EXECUTOR_LEAN
/* This build speaks plain HTTP to a numeric address only (src/executor-lib/http_lite.c). For
 * an https agent, or one named by a host name, it becomes mesos-executor-full, the same program
 * on libcurl, installed next to it. Returns only if that cannot be done. */
static bool needs_full_build(const struct cm_exec_env *env)
{
    if (env->https)
        return true;
    char host[256];
    const char *ep = env->agent_endpoint;
    const char *colon = strrchr(ep, ':');
    size_t n = colon ? (size_t)(colon - ep) : strlen(ep);
    if (n >= sizeof host)
        return true;
    memcpy(host, ep, n);
    host[n] = '\0';
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1;
}

static void exec_full_build(char **argv)
{
    char self[PATH_MAX], full[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return;
    *slash = '\0';
    snprintf(full, sizeof full, "%s/mesos-executor-full", self);
    argv[0] = full;
    execv(full, argv);
    CM_ERROR("executor", "Cannot run %s: %s", full, strerror(errno));
}
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: mesos-executor [--launcher_dir=DIR] ...\n"
            "The built-in command executor. It is started by mesos-agent with the\n"
            "MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_SLAVE_ID and MESOS_AGENT_ENDPOINT\n"
            "environment variables and runs one command task. Flags are accepted and ignored.\n");
}

int main(int argc, char **argv)
{
    char why[512];
    struct cm_exec_env cfg;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    /* Writes to a closed agent connection must be errors, not a fatal signal. */
    signal(SIGPIPE, SIG_IGN);
    if (cm_exec_env_from_env(&cfg, environ, why, sizeof why) != 0) {
        CM_ERROR("executor", "Invalid environment: %s", why);
        usage(stderr);
        return 1;
    }
#ifdef CM_EXECUTOR_LEAN
    if (needs_full_build(&cfg)) {
        exec_full_build(argv); /* returns only on failure */
        cm_exec_env_cleanup(&cfg);
        return 1;
    }
#endif
    /* The token is the executor's, not the task's: the task (and its health checks) are
     * started from environ, so it leaves the environment here (Mesos's executor library
     * erases it the same way). */
    unsetenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");

    /* libevent's EVENT_NO* variables are its debugging knobs; reading them costs a getenv and
     * four uid/gid system calls per backend (its set-uid check), every task. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_IGNORE_ENV);
    struct exit_state st = {.base = ecfg ? event_base_new_with_config(ecfg) : NULL, .code = 1};
    if (ecfg)
        event_config_free(ecfg);
    if (!st.base) {
        CM_ERROR("executor", "Failed to create the event loop");
        cm_exec_env_cleanup(&cfg);
        return 1;
    }
    struct cm_executor_opts opts = {.base = st.base,
                                    .cfg = &cfg,
                                    .clock = &cm_clock_real,
                                    .envp = environ,
                                    .on_exit = on_exit_requested,
                                    .exit_arg = &st,
                                    /* Mesos's HTTP command executor exits as soon as its
                                     * terminal update is acknowledged: the agent has it. */
                                    .exit_delay = 0};
    struct cm_executor *ex = cm_executor_new(&opts);
    struct event *term = evsignal_new(st.base, SIGTERM, on_term, ex);
    struct event *intr = evsignal_new(st.base, SIGINT, on_term, ex);
    evsignal_add(term, NULL);
    evsignal_add(intr, NULL);
    CM_INFO("executor", "Starting command executor '%s' of framework '%s' (agent %s)",
            cfg.executor_id, cfg.framework_id, cfg.agent_endpoint);
    if (cm_executor_start(ex) == 0)
        event_base_dispatch(st.base);
    else
        CM_ERROR("executor", "Failed to start the agent link");
    event_free(term);
    event_free(intr);
    cm_executor_free(ex);
    event_base_free(st.base);
    cm_exec_env_cleanup(&cfg);
    return st.code;
}
