/*
 * janitor.c: fixed-size records over a SOCK_SEQPACKET socket pair (message boundaries kept;
 * MSG_NOSIGNAL, so a dead janitor is -EPIPE, not a SIGPIPE).
 */
#include "janitor.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "errors.h"
#include "helper_child.h"

#define ID_MAX 256

enum op { OP_REMOVE, OP_CREATE };

struct request {
    char id[ID_MAX];
    int op;
    uint64_t pids_max; /* OP_CREATE */
};

struct answer {
    char id[ID_MAX];
    int op;
    int rc;
    char why[256];
};

struct cm_janitor {
    pid_t pid;
    int fd; /* our end of the socket pair, non-blocking */
    struct event *ev;
    cm_janitor_done_fn done;
    cm_janitor_done_fn created;
    void *arg;
};

/* The janitor (cm_helper_child_fork: only its socket, descriptor 3, is open). */
static void janitor_main(void *arg)
{
    const struct cm_cgroups *cg = arg;
    for (;;) {
        struct request r;
        ssize_t n = recv(3, &r, sizeof r, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof r)
            _exit(0); /* EOF: the containerizer is gone */
        r.id[ID_MAX - 1] = '\0';
        struct answer a;
        memset(&a, 0, sizeof a);
        memcpy(a.id, r.id, sizeof a.id);
        a.op = r.op;
        if (r.op == OP_CREATE) {
            struct cm_cgroups_limits l = {.pids_max = r.pids_max};
            a.rc = cm_cgroups_create(cg, r.id, a.why, sizeof a.why);
            if (!a.rc && r.pids_max && (cg->usable & CM_CG_BIT(CM_CG_PIDS)))
                a.rc = cm_cgroups_set_limits(cg, r.id, &l, a.why, sizeof a.why);
        } else {
            a.rc = cm_cgroups_destroy(cg, r.id, a.why, sizeof a.why);
        }
        ssize_t w;
        do {
            w = send(3, &a, sizeof a, MSG_NOSIGNAL);
        } while (w < 0 && errno == EINTR);
        if (w != (ssize_t)sizeof a)
            _exit(0);
    }
}

void cm_janitor_poll(struct cm_janitor *j)
{
    for (;;) {
        struct answer a;
        ssize_t n = recv(j->fd, &a, sizeof a, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof a)
            return; /* EAGAIN, or EOF: cm_janitor_remove will see -EPIPE */
        a.id[ID_MAX - 1] = '\0';
        a.why[sizeof a.why - 1] = '\0';
        if (a.op == OP_CREATE) {
            if (j->created)
                j->created(j->arg, a.id, a.rc, a.why);
        } else {
            j->done(j->arg, a.id, a.rc, a.why);
        }
    }
}

static void answer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cm_janitor_poll(arg);
}

int cm_janitor_new(struct event_base *base, const struct cm_cgroups *cg, cm_janitor_done_fn done,
                   void *arg, struct cm_janitor **out)
{
    *out = NULL;
    pid_t pid;
    int fd;
    /* The child reads the configuration through its copy of our memory. */
    int err = cm_helper_child_fork(janitor_main, (void *)cg, 0, &pid, &fd);
    if (err)
        return err;
    struct cm_janitor *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->pid = pid;
    j->fd = fd;
    j->done = done;
    j->arg = arg;
    fcntl(j->fd, F_SETFL, O_NONBLOCK);
    j->ev = event_new(base, j->fd, EV_READ | EV_PERSIST, answer_cb, j);
    if (!j->ev || event_add(j->ev, NULL) != 0)
        abort();
    *out = j;
    return 0;
}

void cm_janitor_free(struct cm_janitor *j)
{
    if (!j)
        return;
    event_free(j->ev);
    close(j->fd);
    /* It exits at the EOF; if the agent's reaper takes it first, ECHILD ends the wait. */
    while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(j);
}

void cm_janitor_on_created(struct cm_janitor *j, cm_janitor_done_fn created)
{
    j->created = created;
}

static int send_request(struct cm_janitor *j, const char *id, int op, uint64_t pids_max)
{
    struct request r;
    memset(&r, 0, sizeof r);
    r.op = op;
    r.pids_max = pids_max;
    size_t len = strlen(id);
    if (len >= sizeof r.id)
        return CM_ETOOBIG;
    memcpy(r.id, id, len);
    ssize_t w;
    do {
        w = send(j->fd, &r, sizeof r, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w == (ssize_t)sizeof r)
        return 0;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -EAGAIN;
    return -EPIPE;
}

int cm_janitor_remove(struct cm_janitor *j, const char *id)
{
    return send_request(j, id, OP_REMOVE, 0);
}

int cm_janitor_create(struct cm_janitor *j, const char *id, uint64_t pids_max)
{
    return send_request(j, id, OP_CREATE, pids_max);
}
