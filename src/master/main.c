/* main.c: mesos-master — flags, logging, signals and the event loop around struct cm_master. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmesos_version.h"
#include "errors.h"
#include "log.h"
#include "master.h"
#include "master_http.h"
#include "master_flags.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    CM_INFO("master", "Received signal %d; shutting down", (int)sig);
    event_base_loopbreak(arg);
}

/* Opens <log_dir>/mesos-master.INFO (the name Mesos's glog gives its current INFO log) and
 * sends log lines there. */
static int open_log(const char *dir, FILE **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mesos-master.INFO", dir);
    FILE *f = fopen(path, "ae");
    if (!f) {
        CM_ERROR("master", "Failed to open the log file %s", path);
        return -1;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    CM_INFO("master", "Logging to %s", path);
    cm_log_set_file(f);
    *out = f;
    return 0;
}

int main(int argc, char **argv)
{
    struct cm_master_flags flags;
    char why[512] = "";
    int status = 1;
    struct event_base *base = NULL;
    struct cm_master *m = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    FILE *logf = NULL;

    cm_master_flags_init(&flags);
    int rc = cm_master_flags_parse(&flags, argc, argv, why, sizeof why);
    if (rc == CM_EHELP) {
        status = 0;
        goto out;
    }
    if (rc) {
        fprintf(stderr, "%s\n\nSee 'mesos-master --help' for the flags.\n", why);
        goto out;
    }
    if (flags.version) {
        printf("%s\n", CMESOS_VERSION_LINE);
        status = 0;
        goto out;
    }
    enum cm_log_level level;
    if (cm_log_parse_level(flags.logging_level, &level) != 0) {
        fprintf(stderr, "Invalid --logging_level '%s'\n", flags.logging_level);
        goto out;
    }
    cm_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);

    /* libevent's epoll changelist folds the add/delete/modify of one fd within a loop turn into
     * one epoll_ctl at the next epoll_wait (about half the master's epoll_ctl calls). libevent's
     * warning: unsafe when fds are cloned by dup() (or inherited by a fork): epoll keys its
     * registrations by file description, so a deferred EPOLL_CTL_DEL that finds the fd already
     * closed fails and leaves the registration alive through the clone, firing for a reused fd
     * number. The master clones none of its loop's descriptors: it never dup()s, fork()s or
     * passes sockets (offload.c, which forks, is the agent's only), so the flag is safe here;
     * EVENT_EPOLL_USE_CHANGELIST in the environment is honoured either way. */
    struct event_config *cfg = event_config_new();
    if (cfg) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (!base)
        base = event_base_new();
    if (!base) {
        fprintf(stderr, "Failed to create the event loop\n");
        goto out;
    }
    m = cm_master_new(base, &flags);
    if (!m)
        goto out;
    if (cm_master_http_start(m) != 0)
        goto out;
    /* The log file is opened only now: a master that cannot bind its port creates nothing on
     * disk (the registry directory, too, is created at the first registry write). Lines logged
     * before this went to stderr. */
    if (flags.log_dir && open_log(flags.log_dir, &logf) != 0)
        goto out;
    for (size_t i = 0; i < flags.known.nignored; i++) {
        char msg[1024];
        cm_flags_ignored_message(flags.known.ignored[i], msg, sizeof msg);
        CM_WARN("master", "%s", msg);
    }
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    if (!sigint || !sigterm || evsignal_add(sigint, NULL) || evsignal_add(sigterm, NULL))
        goto out;
    event_base_dispatch(base);
    /* A registry that can no longer be written is fatal, as in Mesos (the loop was broken). */
    status = m->registrar_failed ? 1 : 0;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    cm_master_free(m);
    if (base)
        event_base_free(base);
    cm_master_flags_cleanup(&flags);
    if (logf) {
        cm_log_set_file(NULL);
        fclose(logf);
    }
    return status;
}
