/*
 * sweeper.c: a pending set of sids, one batch in flight at a time; the batch goes to the
 * helper (an array of int32 sids in one SOCK_SEQPACKET message, answered by one int32 count),
 * else to a fork of the agent (offload.h), else is swept in place.
 */
#include "sweeper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "containerizer.h"
#include "helper_child.h"
#include "offload.h"
#include "util.h"

/* Sids per request: one message of 4 KiB, well inside a socket pair's buffer. */
#define MAX_BATCH 1024
/* Sweeps start at least this far apart (seconds), so a scan costs at most its own time per
 * MIN_GAP of one CPU however fast containers end; sids reaped meanwhile wait and share it. */
#define MIN_GAP 0.01

struct cm_sweeper {
    struct event_base *base;
    pid_t helper; /* 0: none (never started, or dropped) */
    int fd;       /* our end of the socket pair, non-blocking; -1 without a helper */
    struct event *ev;
    struct cm_offload *offload; /* a forked batch in flight */
    struct forked *forked;      /* its argument */
    pid_t *pending;
    size_t npending, cap;
    pid_t inflight[MAX_BATCH]; /* the batch being swept (given back if the helper dies) */
    size_t ninflight;
    bool busy;
    struct event *gap; /* fires when MIN_GAP since the last start has passed */
    double last_start; /* CLOCK_MONOTONIC seconds; 0 = never */
    uint64_t sweeps, sids, killed;
};

/* A batch handed to a fork: the child reads it as it was at the fork. */
struct forked {
    struct cm_sweeper *s;
    size_t n;
    pid_t sids[];
};

static void kick(struct cm_sweeper *s);

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void gap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kick(arg);
}

/* The helper (cm_helper_child_fork: only its socket, descriptor 3, is open). */
static void helper_main(void *arg)
{
    (void)arg;
    static int32_t req[MAX_BATCH];
    static pid_t sids[MAX_BATCH];
    for (;;) {
        ssize_t n = recv(3, req, sizeof req, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || n % (ssize_t)sizeof req[0])
            _exit(0); /* EOF: the agent is done with us */
        size_t count = (size_t)n / sizeof req[0];
        for (size_t i = 0; i < count; i++)
            sids[i] = (pid_t)req[i];
        int32_t killed = cm_launcher_kill_sessions(sids, count, SIGKILL);
        ssize_t w;
        do {
            w = send(3, &killed, sizeof killed, MSG_NOSIGNAL);
        } while (w < 0 && errno == EINTR);
        if (w != (ssize_t)sizeof killed)
            _exit(0);
    }
}

static void finished(struct cm_sweeper *s, int killed)
{
    s->busy = false;
    s->sweeps++;
    s->sids += s->ninflight;
    if (killed > 0)
        s->killed += (uint64_t)killed;
    s->ninflight = 0;
    kick(s);
}

static void push_pending(struct cm_sweeper *s, const pid_t *sids, size_t n)
{
    if (s->npending + n > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->npending + n)
            cap *= 2;
        s->pending = cm_xrealloc(s->pending, cap * sizeof *s->pending);
        s->cap = cap;
    }
    memcpy(s->pending + s->npending, sids, n * sizeof *sids);
    s->npending += n;
}

/* The helper is gone (or broke): later batches are forked. */
static void helper_drop(struct cm_sweeper *s)
{
    if (s->fd < 0)
        return;
    event_free(s->ev);
    s->ev = NULL;
    close(s->fd);
    s->fd = -1;
    /* It exits at the EOF if it still lives; the agent's reaper may have taken it already. */
    while (waitpid(s->helper, NULL, 0) < 0 && errno == EINTR)
        ;
    s->helper = 0;
}

static void answer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct cm_sweeper *s = arg;
    int32_t killed;
    ssize_t n;
    do {
        n = recv(fd, &killed, sizeof killed, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n == (ssize_t)sizeof killed && s->busy) {
        finished(s, killed);
        return;
    }
    /* EOF, an error or a reply out of turn: the helper is gone; its batch is swept again. */
    helper_drop(s);
    if (s->busy) {
        push_pending(s, s->inflight, s->ninflight);
        s->ninflight = 0;
        s->busy = false;
    }
    kick(s);
}

static int forked_main(void *arg)
{
    struct forked *f = arg;
    return cm_launcher_kill_sessions(f->sids, f->n, SIGKILL);
}

static void forked_done(void *arg, int rc)
{
    struct forked *f = arg;
    struct cm_sweeper *s = f->s;
    free(f);
    s->offload = NULL;
    s->forked = NULL;
    finished(s, rc);
}

static bool send_batch(struct cm_sweeper *s)
{
    int32_t req[MAX_BATCH];
    for (size_t i = 0; i < s->ninflight; i++)
        req[i] = (int32_t)s->inflight[i];
    size_t len = s->ninflight * sizeof req[0];
    ssize_t w;
    do {
        w = send(s->fd, req, len, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    return w == (ssize_t)len;
}

/* Starts the next batch unless one is in flight. */
static void kick(struct cm_sweeper *s)
{
    while (!s->busy && s->npending > 0) {
        double wait = s->last_start > 0 ? s->last_start + MIN_GAP - now_mono() : 0;
        if (wait > 0) {
            if (!evtimer_pending(s->gap, NULL)) {
                struct timeval tv = {0, (suseconds_t)(wait * 1e6) + 1};
                evtimer_add(s->gap, &tv);
            }
            return;
        }
        s->last_start = now_mono();
        size_t n = s->npending < MAX_BATCH ? s->npending : MAX_BATCH;
        memcpy(s->inflight, s->pending, n * sizeof *s->pending);
        s->ninflight = n;
        s->npending -= n;
        memmove(s->pending, s->pending + n, s->npending * sizeof *s->pending);
        s->busy = true;
        if (s->fd >= 0) {
            if (send_batch(s))
                return;
            helper_drop(s); /* one request at a time never fills the socket: it is gone */
        }
        struct forked *f = cm_xmalloc(sizeof *f + n * sizeof f->sids[0]);
        f->s = s;
        f->n = n;
        memcpy(f->sids, s->inflight, n * sizeof f->sids[0]);
        if (cm_offload_start(s->base, forked_main, f, forked_done, f, &s->offload) == 0) {
            s->forked = f;
            return;
        }
        free(f);
        /* No fork either: sweep in place (one scan) and go on with what is pending. */
        finished(s, cm_launcher_kill_sessions(s->inflight, n, SIGKILL));
        return; /* finished() kicked the rest */
    }
}

int cm_sweeper_new(struct event_base *base, struct cm_sweeper **out)
{
    struct cm_sweeper *s = cm_xcalloc(1, sizeof *s);
    s->base = base;
    s->fd = -1;
    s->gap = evtimer_new(base, gap_cb, s);
    if (!s->gap)
        abort();
    *out = s;
    pid_t pid;
    int fd;
    int err = cm_helper_child_fork(helper_main, NULL, 0, &pid, &fd);
    if (err)
        return err;
    s->helper = pid;
    s->fd = fd;
    fcntl(s->fd, F_SETFL, O_NONBLOCK);
    s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST, answer_cb, s);
    if (!s->ev || event_add(s->ev, NULL) != 0)
        abort();
    return 0;
}

void cm_sweeper_free(struct cm_sweeper *s)
{
    if (!s)
        return;
    /* The daemon is exiting: what is pending is swept here, once. */
    if (s->npending)
        cm_launcher_kill_sessions(s->pending, s->npending, SIGKILL);
    helper_drop(s);
    /* A forked batch's child finishes its sweep on its own (it has its own copy). */
    cm_offload_cancel(s->offload);
    free(s->forked);
    event_free(s->gap);
    free(s->pending);
    free(s);
}

void cm_sweeper_add(struct cm_sweeper *s, pid_t sid)
{
    if (sid <= 1)
        return;
    push_pending(s, &sid, 1);
    kick(s);
}

void cm_sweeper_forget(struct cm_sweeper *s, pid_t pid)
{
    for (size_t i = 0; i < s->npending; i++)
        if (s->pending[i] == pid) {
            s->pending[i] = s->pending[--s->npending];
            return;
        }
}

void cm_sweeper_stats(const struct cm_sweeper *s, struct cm_sweeper_stats *out)
{
    out->sweeps = s->sweeps;
    out->sids = s->sids;
    out->killed = s->killed;
    out->pending = s->npending + s->ninflight;
    out->helper_pid = s->helper;
}
