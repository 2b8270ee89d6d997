/*
 * mesos-default-executor: runs task groups (pods) in nested containers of its own container.
 * The agent starts it with the environment of docs/wire-protocol.md §4.5 for an executor of
 * type DEFAULT; see default_executor.h for what it does.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "default_executor.h"
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
    CM_INFO("default-executor", "Received signal %d; shutting down", (int)sig);
    cm_defexec_shutdown(arg);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: mesos-default-executor [--launcher_dir=DIR] ...\n"
               "The default executor: runs the task groups (LAUNCH_GROUP) of one executor in\n"
               "nested containers. It is started by mesos-agent with the MESOS_FRAMEWORK_ID,\n"
               "MESOS_EXECUTOR_ID, MESOS_SLAVE_ID and MESOS_AGENT_ENDPOINT environment\n"
               "variables. Flags are accepted and ignored.\n");
}

int main(int argc, char **argv)
{
    char why[512];
    struct cm_exec_env env;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (cm_exec_env_from_env(&env, environ, why, sizeof why) != 0) {
        CM_ERROR("default-executor", "Invalid environment: %s", why);
        usage(stderr);
        return 1;
    }
    /* The token is the executor's: the tasks' health-check commands must not see it. */
    unsetenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    struct exit_state st = {.base = event_base_new(), .code = 1};
    if (!st.base) {
        CM_ERROR("default-executor", "Failed to create the event loop");
        cm_exec_env_cleanup(&env);
        return 1;
    }
    struct cm_defexec_opts opts = {.base = st.base,
                                   .env = &env,
                                   .clock = &cm_clock_real,
                                   .envp = environ,
                                   .on_exit = on_exit_requested,
                                   .exit_arg = &st};
    struct cm_defexec *d = cm_defexec_new(&opts);
    if (!d) {
        event_base_free(st.base);
        cm_exec_env_cleanup(&env);
        return 1;
    }
    struct event *term = evsignal_new(st.base, SIGTERM, on_term, d);
    struct event *intr = evsignal_new(st.base, SIGINT, on_term, d);
    evsignal_add(term, NULL);
    evsignal_add(intr, NULL);
    CM_INFO("default-executor", "Starting default executor '%s' of framework '%s' (agent %s)",
            env.executor_id, env.framework_id, env.agent_endpoint);
    if (cm_defexec_start(d) == 0)
        event_base_dispatch(st.base);
    else
        CM_ERROR("default-executor", "Failed to start the agent link");
    event_free(term);
    event_free(intr);
    cm_defexec_free(d);
    event_base_free(st.base);
    cm_exec_env_cleanup(&env);
    return st.code;
}
