/*
 * mesos-agent-emulator: N emulated agents against a real mesos-master (emulator.h,
 * docs/emulator.md). Controls: a line-based control socket (--control_port, --control_port_file)
 * taking the commands of cm_emu_command, one per line, each answered with one line; and a script
 * of timed commands (--events="10:partition 0-99 30;60:kill 5").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "emulator.h"
#include "errors.h"
#include "flags.h"
#include "log.h"
#include "util.h"

#define MAX_FLAGS 32
#define MAX_CONTROL_LINE 1024

struct settings {
    char *master, *resources, *attributes, *run_time, *hostname_prefix, *source_ips;
    char *control_port_file, *events, *logging_level;
    long agents, first_index, register_concurrency, call_connections, pipeline, control_port;
    long agents_per_stream, batch_us;
    double update_retry, backoff, stats_interval, duration, zk_session_timeout;
};

struct app {
    struct event_base *base;
    struct cm_emu *emu;
    struct evconnlistener *listener;
    struct event *stats_ev, *stop_ev, *sigterm, *sigint;
    struct event **script;
    size_t nscript;
};

struct script_item {
    struct app *app;
    char *cmd;
    struct event *ev;
};

static void print_stats(struct app *app)
{
    char *j = cm_emu_stats_json(app->emu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("%.3f %s\n", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, j);
    fflush(stdout);
    free(j);
}

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    print_stats(arg);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(((struct app *)arg)->base);
}

static void script_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct script_item *it = arg;
    char out[2048];
    int rc = cm_emu_command(it->app->emu, it->cmd, out, sizeof out);
    if (rc)
        CM_ERROR("emulator", "Scripted command '%s': %s", it->cmd, out);
    else
        CM_INFO("emulator", "Scripted command '%s': %s", it->cmd, out);
}

/* "T:command;T:command": T seconds after start. */
static int parse_script(struct app *app, const char *text, char *why, size_t whylen)
{
    char *copy = cm_xstrdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(tok, ':'), *end;
        double at = colon ? strtod(tok, &end) : -1;
        if (!colon || end != colon || at < 0 || !isfinite(at)) {
            int rc = cm_fail(CM_EINVAL, why, whylen,
                             "Bad --events entry '%s': expected SECONDS:COMMAND", tok);
            free(copy); /* tok points into it */
            return rc;
        }
        struct script_item *it = cm_xcalloc(1, sizeof *it);
        it->app = app;
        it->cmd = cm_xstrdup(colon + 1);
        it->ev = evtimer_new(app->base, script_cb, it);
        struct timeval tv = {(time_t)at, (suseconds_t)((at - (time_t)at) * 1e6)};
        evtimer_add(it->ev, &tv);
        app->script = cm_xrealloc(app->script, (app->nscript + 1) * sizeof *app->script);
        app->script[app->nscript++] = (struct event *)it;
    }
    free(copy);
    return 0;
}

static void control_read(struct bufferevent *bev, void *arg)
{
    struct app *app = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;
    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF))) {
        char out[4096];
        if (n > MAX_CONTROL_LINE)
            snprintf(out, sizeof out, "error: line too long");
        else
            cm_emu_command(app->emu, line, out, sizeof out);
        free(line);
        evbuffer_add_printf(bufferevent_get_output(bev), "%s\n", out);
    }
    if (evbuffer_get_length(in) > MAX_CONTROL_LINE) {
        bufferevent_free(bev); /* a line that never ends */
    }
}

static void control_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void control_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                           int salen, void *arg)
{
    (void)l, (void)sa, (void)salen;
    struct app *app = arg;
    struct bufferevent *bev = bufferevent_socket_new(app->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        close(fd);
        return;
    }
    bufferevent_setcb(bev, control_read, NULL, control_event, app);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static int open_control(struct app *app, const struct settings *s, char *why, size_t whylen)
{
    if (s->control_port < 0)
        return 0;
    if (s->control_port > 65535)
        return cm_fail(CM_EINVAL, why, whylen, "Bad --control_port %ld", s->control_port);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)s->control_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    app->listener = evconnlistener_new_bind(app->base, control_accept, app,
                                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                            (struct sockaddr *)&sa, sizeof sa);
    if (!app->listener)
        return cm_fail(-errno, why, whylen, "Cannot listen on 127.0.0.1:%ld: %s", s->control_port,
                       strerror(errno));
    socklen_t sl = sizeof sa;
    getsockname(evconnlistener_get_fd(app->listener), (struct sockaddr *)&sa, &sl);
    int port = ntohs(sa.sin_port);
    CM_INFO("emulator", "Control socket on 127.0.0.1:%d", port);
    if (s->control_port_file) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", s->control_port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
            rename(tmp, s->control_port_file) != 0)
            return cm_fail(-errno, why, whylen, "Cannot write --control_port_file '%s'",
                           s->control_port_file);
    }
    return 0;
}

/* Each link stream (an agent's, or a shared one) holds one socket: take every descriptor the
 * hard limit allows. */
static void raise_nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need > rl.rlim_cur)
        CM_WARN("emulator",
                "RLIMIT_NOFILE is %llu but the link streams need about %ld descriptors (one "
                "socket each): registrations past the limit fail; share streams "
                "(--agents_per_stream), run several emulators or raise the hard limit",
                (unsigned long long)rl.rlim_cur, need);
}

/* The loop; with batch_us > 0 it sleeps that long after each pass over the ready events, so
 * that the next pass finds more of them (the master's answers and events of a whole batch):
 * fewer epoll_wait and read calls per task for up to batch_us more per step. Timers fire up to
 * batch_us late. */
static void run_loop(struct event_base *base, long batch_us)
{
    if (batch_us <= 0) {
        event_base_dispatch(base);
        return;
    }
    struct timespec ts = {batch_us / 1000000, (batch_us % 1000000) * 1000};
    while (event_base_loop(base, EVLOOP_ONCE) == 0 && !event_base_got_break(base) &&
           !event_base_got_exit(base))
        nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    struct settings s = {
        .resources = "cpus:4;mem:8192;disk:10240",
        .run_time = "fixed:10",
        .hostname_prefix = "emu",
        .logging_level = "INFO",
        .agents = 100,
        .agents_per_stream = 1,
        .register_concurrency = 1000,
        .call_connections = 16,
        .pipeline = 1,
        .control_port = -1,
        .update_retry = 10,
        .backoff = 1,
        .zk_session_timeout = 10,
        .batch_us = 1000, /* see run_loop: a third of the wake-ups per task at 1,000s/s */
    };
    struct cm_flag flags[MAX_FLAGS];
    size_t nf = 0;
#define ADD(name, type, dst, help, req)                                                            \
    cm_flags_add(flags, MAX_FLAGS, &nf, name, NULL, type, dst, help, req)
    ADD("master", CM_FLAG_STRING, &s.master,
        "The master: host:port, zk://host:port/path or file:///path", true);
    ADD("agents", CM_FLAG_INT, &s.agents, "Number of emulated agents", false);
    ADD("first_index", CM_FLAG_INT, &s.first_index,
        "Index of the first agent (hostnames are <hostname_prefix>-<index>)", false);
    ADD("hostname_prefix", CM_FLAG_STRING, &s.hostname_prefix, "Prefix of agent hostnames", false);
    ADD("resources", CM_FLAG_STRING, &s.resources, "Resources of each agent", false);
    ADD("attributes", CM_FLAG_STRING, &s.attributes, "Attributes of each agent (name:value;...)",
        false);
    ADD("task_run_time", CM_FLAG_STRING, &s.run_time,
        "How long tasks run: fixed:S, uniform:A,B, exp:MEAN or forever", false);
    ADD("update_retry", CM_FLAG_DURATION, &s.update_retry,
        "Resend an unacknowledged status update after this long", false);
    ADD("registration_backoff_factor", CM_FLAG_DURATION, &s.backoff,
        "First re-registration back-off (doubles up to 1 min)", false);
    ADD("register_concurrency", CM_FLAG_INT, &s.register_concurrency,
        "Registrations in flight at once", false);
    ADD("call_connections", CM_FLAG_INT, &s.call_connections,
        "Keep-alive connections shared by all agents' calls", false);
    ADD("pipeline", CM_FLAG_INT, &s.pipeline, "Requests outstanding per call connection", false);
    ADD("agents_per_stream", CM_FLAG_INT, &s.agents_per_stream,
        "Agents sharing one link stream (1: a stream, so a connection, each, as real agents; up "
        "to 10000: OPEN_STREAM, see docs/agent-link.md)",
        false);
    ADD("source_ips", CM_FLAG_STRING, &s.source_ips,
        "Comma-separated local IPv4 addresses agents' streams are spread over (each gives ~28k "
        "ports towards one master)",
        false);
    ADD("control_port", CM_FLAG_INT, &s.control_port,
        "Serve the control socket on 127.0.0.1:PORT (0 picks one; -1: none)", false);
    ADD("control_port_file", CM_FLAG_STRING, &s.control_port_file,
        "Write the control socket's port here", false);
    ADD("events", CM_FLAG_STRING, &s.events,
        "Timed commands: 'SECONDS:COMMAND;...' (kill, restart, partition, heal, stats)", false);
    ADD("stats_interval", CM_FLAG_DURATION, &s.stats_interval,
        "Print the counters as JSON to stdout this often (0: only at exit)", false);
    ADD("duration", CM_FLAG_DURATION, &s.duration, "Exit after this long (0: run until SIGTERM)",
        false);
    ADD("zk_session_timeout", CM_FLAG_DURATION, &s.zk_session_timeout,
        "ZooKeeper session timeout for leader detection", false);
    ADD("logging_level", CM_FLAG_STRING, &s.logging_level, "INFO, WARNING or ERROR", false);
    ADD("batch_us", CM_FLAG_INT, &s.batch_us,
        "Sleep this many microseconds after each pass over the ready events (0: none), so that "
        "what arrives meanwhile is read and answered in bulk (fewer system calls per task)",
        false);
#undef ADD
    char why[1024];
    int rc = cm_flags_parse(flags, nf, argc, argv,
                            "Usage: mesos-agent-emulator --master=HOST:PORT [options]\n\n"
                            "Emulates many agents in one process against a real mesos-master.",
                            why, sizeof why);
    if (rc == CM_EHELP)
        return 0;
    if (rc) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    enum cm_log_level lvl;
    if (cm_log_parse_level(s.logging_level, &lvl) == 0)
        cm_log_set_level(lvl);
    signal(SIGPIPE, SIG_IGN);
    if (s.agents < 1 || s.agents > 10000000 || s.register_concurrency < 1 ||
        s.call_connections < 1 || s.call_connections > 4096 || s.pipeline < 1 ||
        s.first_index < 0 || s.agents_per_stream < 1 || s.agents_per_stream > 10000 ||
        s.batch_us < 0 || s.batch_us > 100000) {
        fprintf(stderr, "Bad --agents, --first_index, --register_concurrency, --call_connections, "
                        "--pipeline, --agents_per_stream or --batch_us: each must be positive "
                        "(first_index >= 0, agents_per_stream <= 10000, batch_us 0..100000)\n");
        return 1;
    }
    raise_nofile((s.agents + s.agents_per_stream - 1) / s.agents_per_stream + s.call_connections +
                 64);
    struct cm_emu_opts o = {
        .master = s.master,
        .agents = (int)s.agents,
        .first_index = (int)s.first_index,
        .hostname_prefix = s.hostname_prefix,
        .resources = s.resources,
        .attributes = s.attributes,
        .update_retry = s.update_retry,
        .backoff = s.backoff,
        .register_concurrency = (int)s.register_concurrency,
        .call_connections = (int)s.call_connections,
        .pipeline = (int)s.pipeline,
        .source_ips = s.source_ips,
        .zk_session_timeout = s.zk_session_timeout,
        .agents_per_stream = (int)s.agents_per_stream,
    };
    if (cm_emu_dist_parse(s.run_time, &o.run_time, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    srand48((long)time(NULL) ^ (long)getpid());
    struct app app = {0};
    app.base = event_base_new();
    app.emu = cm_emu_new(app.base, &o, why, sizeof why);
    if (!app.emu) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    if (open_control(&app, &s, why, sizeof why) != 0 ||
        (s.events && parse_script(&app, s.events, why, sizeof why) != 0)) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    if (s.stats_interval > 0) {
        app.stats_ev = event_new(app.base, -1, EV_PERSIST, stats_cb, &app);
        struct timeval tv = {(time_t)s.stats_interval,
                             (suseconds_t)((s.stats_interval - (time_t)s.stats_interval) * 1e6)};
        event_add(app.stats_ev, &tv);
    }
    if (s.duration > 0) {
        app.stop_ev = evtimer_new(app.base, stop_cb, &app);
        struct timeval tv = {(time_t)s.duration,
                             (suseconds_t)((s.duration - (time_t)s.duration) * 1e6)};
        evtimer_add(app.stop_ev, &tv);
    }
    app.sigterm = evsignal_new(app.base, SIGTERM, stop_cb, &app);
    app.sigint = evsignal_new(app.base, SIGINT, stop_cb, &app);
    event_add(app.sigterm, NULL);
    event_add(app.sigint, NULL);
    if (cm_emu_start(app.emu) != 0) {
        fprintf(stderr, "Cannot start leader detection\n");
        return 1;
    }
    run_loop(app.base, s.batch_us);
    print_stats(&app);
    for (size_t i = 0; i < app.nscript; i++) {
        struct script_item *it = (struct script_item *)app.script[i];
        event_free(it->ev);
        free(it->cmd);
        free(it);
    }
    free(app.script);
    if (app.listener)
        evconnlistener_free(app.listener);
    if (app.stats_ev)
        event_free(app.stats_ev);
    if (app.stop_ev)
        event_free(app.stop_ev);
    event_free(app.sigterm);
    event_free(app.sigint);
    cm_emu_free(app.emu);
    event_base_free(app.base);
    cm_flags_cleanup(flags, nf);
    return 0;
}
