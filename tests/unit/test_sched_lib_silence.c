/*
 * test_sched_lib_silence.c: libcmscheduler as a framework sees it (linked alone, public header
 * only): it writes nothing to stdout or stderr, whatever happens (an unreachable master, a
 * ZooKeeper ensemble that is not there), and its lines reach the caller's log callback, per
 * instance. No daemon is started; the sockets are closed ports on 127.0.0.1.
 */
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmesos/scheduler.h"
#include "test.h"

struct seen {
    int lines;
    int disconnects;
    char last[256];
};

static void on_log(void *arg, enum cm_scheduler_log_level level, const char *message)
{
    struct seen *s = arg;
    (void)level;
    s->lines++;
    snprintf(s->last, sizeof s->last, "%s", message);
}

static void on_disconnected(struct cm_scheduler *sched, void *arg, const char *reason, double delay)
{
    (void)sched;
    (void)reason;
    (void)delay;
    ((struct seen *)arg)->disconnects++;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static unsigned closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        abort();
    close(fd);
    return ntohs(sa.sin_port);
}

/* Runs a scheduler against master for secs with stdout and stderr captured; returns the
 * number of bytes the process wrote to them meanwhile. */
static long run_captured(const char *master, bool with_log, struct seen *seen, double secs)
{
    fflush(stdout);
    fflush(stderr);
    FILE *cap = tmpfile();
    if (!cap)
        abort();
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(cap), 1);
    dup2(fileno(cap), 2);

    struct event_base *base = event_base_new();
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    fi.user = "nobody";
    fi.name = "silence";
    struct cm_scheduler_config cfg = {0};
    cfg.master = master;
    cfg.framework_info = &fi;
    cfg.base = base;
    cfg.callbacks.disconnected = on_disconnected;
    cfg.callback_arg = seen;
    if (with_log) {
        cfg.log = on_log;
        cfg.log_arg = seen;
    }
    cfg.backoff_initial = 0.01;
    cfg.backoff_max = 0.05;
    char why[256] = "";
    struct cm_scheduler *s = cm_scheduler_new(&cfg, why, sizeof why);
    if (s) {
        cm_scheduler_start(s);
        struct event *t = evtimer_new(base, on_timer, base);
        struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
        evtimer_add(t, &tv);
        event_base_dispatch(base);
        event_free(t);
        cm_scheduler_free(s);
    }
    event_base_free(base);

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    /* The descriptors were written directly; ask the file, not the FILE. */
    long n = (long)lseek(fileno(cap), 0, SEEK_END);
    if (n > 0) {
        char buf[512] = "";
        ssize_t got = pread(fileno(cap), buf, sizeof buf - 1, 0);
        buf[got > 0 ? got : 0] = '\0';
        printf("captured output: %s\n", buf);
    }
    fclose(cap);
    if (!s)
        printf("cm_scheduler_new failed: %s\n", why);
    return s ? n : -1;
}

static void test_silent_without_callback(void)
{
    char master[64];
    snprintf(master, sizeof master, "127.0.0.1:%u", closed_port());
    struct seen seen = {0};
    CHECK_INT(run_captured(master, false, &seen, 0.3), 0);
    CHECK(seen.disconnects >= 2); /* it did retry, quietly */
    CHECK_INT(seen.lines, 0);
}

static void test_lines_reach_the_callback(void)
{
    char master[64];
    snprintf(master, sizeof master, "http://127.0.0.1:%u", closed_port());
    struct seen seen = {0};
    CHECK_INT(run_captured(master, true, &seen, 0.3), 0);
    CHECK(seen.lines >= 2);
    CHECK(seen.disconnects >= 2);
    printf("last line: %s\n", seen.last);
}

/* The ZooKeeper client inside the library logs through us; nothing may reach the terminal. */
static void test_zk_silent(void)
{
    char master[96];
    snprintf(master, sizeof master, "zk://127.0.0.1:%u/mesos", closed_port());
    struct seen seen = {0};
    CHECK_INT(run_captured(master, false, &seen, 0.5), 0);
    struct seen seen2 = {0};
    CHECK_INT(run_captured(master, true, &seen2, 0.5), 0);
    CHECK(seen2.lines >= 1);
}

TEST_MAIN(TEST(test_silent_without_callback), TEST(test_lines_reach_the_callback),
          TEST(test_zk_silent))
