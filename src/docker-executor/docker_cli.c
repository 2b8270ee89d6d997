/* docker_cli.c: docker CLI children on the loop (contract in docker_cli.h). */
#include "docker_cli.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

struct sink {
    int fd;
    struct event *ev;
    char *buf;
    size_t len;
};

struct cm_dcli {
    pid_t pid;
    bool reaped;
    int status;
    struct event *sigchld;
    struct event *poll; /* a fallback re-check: SIGCHLD may have been consumed before add */
    struct sink out, err;
    cm_dcli_done_fn done;
    void *arg;
};

static void maybe_done(struct cm_dcli *c)
{
    if (!c->reaped || c->out.fd >= 0 || c->err.fd >= 0)
        return;
    cm_dcli_done_fn done = c->done;
    c->done = NULL;
    if (done)
        done(c->arg, c, c->status, c->out.buf ? c->out.buf : "", c->err.buf ? c->err.buf : "");
}

static void sink_close(struct sink *s)
{
    if (s->ev) {
        event_free(s->ev);
        s->ev = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct cm_dcli *c = arg;
    struct sink *s = fd == c->out.fd ? &c->out : &c->err;
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        sink_close(s);
        maybe_done(c);
        return;
    }
    size_t keep = (size_t)n;
    if (s->len + keep > CM_DCLI_MAX_OUTPUT)
        keep = CM_DCLI_MAX_OUTPUT - s->len;
    if (keep) {
        s->buf = cm_xrealloc(s->buf, s->len + keep + 1);
        memcpy(s->buf + s->len, tmp, keep);
        s->len += keep;
        s->buf[s->len] = '\0';
    }
}

/* Reaps the child if it ended. Returns true when it was reaped by this call: the done
 * callback may then have run and freed c, so the caller must not touch c again. */
static bool check_child(struct cm_dcli *c)
{
    if (c->reaped)
        return false;
    int st;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r != c->pid)
        return false;
    c->reaped = true;
    c->status = st;
    evsignal_del(c->sigchld);
    evtimer_del(c->poll);
    maybe_done(c);
    return true;
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    check_child(arg);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_dcli *c = arg;
    if (check_child(c) || c->reaped)
        return;
    struct timeval tv = {0, 200000};
    evtimer_add(c->poll, &tv);
}

static int sink_open(struct event_base *base, struct cm_dcli *c, struct sink *s, int fd)
{
    s->fd = fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
    return s->ev && event_add(s->ev, NULL) == 0 ? 0 : -1;
}

struct cm_dcli *cm_dcli_run(struct event_base *base, char *const *argv, bool capture,
                            cm_dcli_done_fn done, void *arg, char *why, size_t whylen)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (capture && (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)) {
        snprintf(why, whylen, "Failed to create a pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (po[i] >= 0)
                close(po[i]);
            if (pe[i] >= 0)
                close(pe[i]);
        }
        return NULL;
    }
    struct cm_dcli *c = cm_xcalloc(1, sizeof *c);
    c->out.fd = c->err.fd = -1;
    c->done = done;
    c->arg = arg;
    c->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, c);
    c->poll = evtimer_new(base, on_poll, c);
    evsignal_add(c->sigchld, NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "Failed to fork: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (po[i] >= 0)
                close(po[i]);
            if (pe[i] >= 0)
                close(pe[i]);
        }
        event_free(c->sigchld);
        event_free(c->poll);
        free(c);
        return NULL;
    }
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        if (capture) {
            dup2(po[1], 1);
            dup2(pe[1], 2);
        }
        execvp(argv[0], argv);
        dprintf(2, "Failed to execute '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    if (capture) {
        close(po[1]);
        close(pe[1]);
        if (sink_open(base, c, &c->out, po[0]) != 0 || sink_open(base, c, &c->err, pe[0]) != 0)
            abort(); /* libevent allocation */
    }
    struct timeval tv = {0, 200000};
    evtimer_add(c->poll, &tv);
    return c;
}

pid_t cm_dcli_pid(const struct cm_dcli *c)
{
    return c->pid;
}

void cm_dcli_kill(struct cm_dcli *c, int sig)
{
    if (c && !c->reaped && c->pid > 0)
        kill(c->pid, sig);
}

void cm_dcli_free(struct cm_dcli *c)
{
    if (!c)
        return;
    if (!c->reaped && c->pid > 0) {
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    sink_close(&c->out);
    sink_close(&c->err);
    event_free(c->sigchld);
    event_free(c->poll);
    free(c->out.buf);
    free(c->err.buf);
    free(c);
}

const char *cm_dcli_message(const char *text, const char *fallback, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    const char *p = text ? text : "";
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && (p[l - 1] == '\r' || p[l - 1] == ' '))
            l--;
        while (l && *p == ' ') {
            p++;
            l--;
        }
        if (l && strncmp(p, "See '", 5) != 0 && n + 2 < len) {
            int w = snprintf(buf + n, len - n, "%s%.*s", n ? " " : "", (int)l, p);
            n = w > 0 && (size_t)w < len - n ? n + (size_t)w : len - 1;
        }
        p = e ? e + 1 : p + strlen(p);
    }
    if (!buf[0])
        snprintf(buf, len, "%s", fallback);
    return buf;
}
