/* registrar_writer.c: the file registry's writer child; see registrar_writer.h. */
#include "registrar_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "errors.h"
#include "log.h"
#include "registrar.h"
#include "util.h"

#define MOD "registrar"

/* The child's descriptors once it has set itself up. */
#define CHILD_SOCK 3
#define CHILD_MEMFD 4
#define WHY_MAX 1024
#define EXIT_WAIT_MS 5000

struct req {
    uint64_t len; /* bytes of the registry at the start of the memfd */
};

struct resp {
    int32_t err;
    char why[WHY_MAX]; /* NUL-terminated */
};

struct cm_reg_writer {
    pid_t pid;
    int sock;      /* parent's end of the socketpair */
    int memfd;     /* the registry being handed over */
    size_t mem_sz; /* bytes the memfd holds (its size) */
    uint8_t *map;  /* the memfd mapped in the parent (cm_reg_writer_buffer), or NULL */
    size_t map_len;
    struct event *ev;
    bool busy, dead;
    char *path;
    cm_reg_writer_done_cb cb;
    void *arg;
};

/* ---- the child ---- */

static int send_resp(int err, const char *why)
{
    struct resp r;
    memset(&r, 0, sizeof r);
    r.err = err;
    snprintf(r.why, sizeof r.why, "%s", why ? why : "");
    /* Only the used part of why: a packet ends where the message ends. */
    size_t n = offsetof(struct resp, why) + strlen(r.why) + 1;
    ssize_t w;
    do {
        w = send(CHILD_SOCK, &r, n, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    return w == (ssize_t)n ? 0 : -1;
}

/* Serves stores until the parent closes its end. Runs in the forked child: uses only its own
 * descriptors, the path (its copy of the parent's memory) and the registry file functions. */
static void __attribute__((noreturn)) child_main(const char *path)
{
    char why[WHY_MAX];
    for (;;) {
        struct req q;
        ssize_t n = recv(CHILD_SOCK, &q, sizeof q, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            _exit(0); /* the master closed the channel: it is done with us */
        if (n != (ssize_t)sizeof q)
            _exit(3);
        struct stat st;
        int rc = 0;
        if (fstat(CHILD_MEMFD, &st) != 0 || q.len > (uint64_t)st.st_size) {
            rc = cm_fail(-EINVAL, why, sizeof why,
                         "Registry writer: asked to write %llu bytes, the shared buffer holds %lld",
                         (unsigned long long)q.len, (long long)st.st_size);
        } else {
            size_t len = (size_t)q.len;
            void *map = NULL;
            if (len > 0) {
                map = mmap(NULL, len, PROT_READ, MAP_SHARED, CHILD_MEMFD, 0);
                if (map == MAP_FAILED) {
                    map = NULL;
                    rc = cm_fail(-errno, why, sizeof why,
                                 "Registry writer: failed to map the registry (%zu bytes): %s", len,
                                 strerror(errno));
                }
            }
            if (rc == 0)
                rc = cm_registry_file_store(path, map ? map : (const void *)"", len, why,
                                            sizeof why);
            if (map)
                munmap(map, len);
        }
        if (send_resp(rc, rc ? why : NULL) != 0)
            _exit(0); /* the master is gone */
    }
}

/* Right after the fork, in the child. */
static void __attribute__((noreturn))
child_start(pid_t parent, int sock, int memfd, const char *path)
{
    /* Die with the master: an unfinished write never reaches its rename. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0);
    setpgid(0, 0);
    /* SCHED_BATCH: woken by a store, the writer does not preempt the master (which would stop
     * the loop for the writer's CRC and copies on a busy CPU); it runs when a CPU is free. */
    struct sched_param sp = {.sched_priority = 0};
    sched_setscheduler(0, SCHED_BATCH, &sp);
    for (int s = 1; s < NSIG; s++) {
        struct sigaction sa;
        if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL)
            signal(s, SIG_DFL);
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Above every descriptor number we are about to use, then into place. */
    int a = fcntl(sock, F_DUPFD, 16), b = fcntl(memfd, F_DUPFD, 16);
    if (a < 0 || b < 0 || dup2(a, CHILD_SOCK) < 0 || dup2(b, CHILD_MEMFD) < 0)
        _exit(2);
    /* Nothing else stays open: a listening socket held here would keep a restarted master
     * from binding its port. Without close_range (kernels before 5.9), one by one. */
    if (syscall(SYS_close_range, (unsigned)CHILD_MEMFD + 1, ~0U, 0U) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = CHILD_MEMFD + 1; fd < (max > 0 && max < 1048576 ? max : 65536); fd++)
            close((int)fd);
    }
    child_main(path);
}

/* ---- the parent ---- */

static void describe_exit(struct cm_reg_writer *w, char *buf, size_t len)
{
    int status = 0;
    pid_t got = 0;
    /* The end of file comes as the child exits, a moment before its exit status: wait for that
     * moment (at most 10 ms, once, on a path where the registrar is about to fail). */
    for (int tries = 0; tries < 20; tries++) {
        do {
            got = waitpid(w->pid, &status, WNOHANG);
        } while (got < 0 && errno == EINTR);
        if (got != 0)
            break;
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    if (got == w->pid && WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else if (got == w->pid && WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, len, "closed its end of the channel");
    if (got == w->pid)
        w->pid = -1; /* reaped */
}

static void complete(struct cm_reg_writer *w, int err, const char *why)
{
    cm_reg_writer_done_cb cb = w->cb;
    void *arg = w->arg;
    w->busy = false;
    w->cb = NULL;
    w->arg = NULL;
    if (cb)
        cb(arg, err, why);
}

static void on_dead(struct cm_reg_writer *w)
{
    char how[64], why[WHY_MAX];
    w->dead = true;
    event_del(w->ev);
    int pid = (int)w->pid;
    describe_exit(w, how, sizeof how);
    snprintf(why, sizeof why,
             "The registry writer (pid %d, writing %s) %s%s; no registry store can complete", pid,
             w->path, how,
             w->busy ? " during a store: the file holds the previous registry or the new one" : "");
    if (w->busy)
        complete(w, -EPIPE, why); /* the storage logs it */
    else
        CM_ERROR(MOD, "%s", why);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct cm_reg_writer *w = arg;
    struct resp r;
    ssize_t n = recv(fd, &r, sizeof r, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        on_dead(w);
        return;
    }
    if ((size_t)n <= offsetof(struct resp, why) || !w->busy) {
        /* Not what the child sends: treat it as broken rather than trust the rest. */
        CM_ERROR(MOD, "The registry writer (pid %d) sent %zd unexpected bytes; stopping it",
                 (int)w->pid, n);
        if (w->pid > 0)
            kill(w->pid, SIGKILL);
        on_dead(w);
        return;
    }
    r.why[sizeof r.why - 1] = 0;
    complete(w, r.err, r.err ? r.why : NULL);
}

int cm_reg_writer_new(struct event_base *base, const char *path, struct cm_reg_writer **out,
                      char *why, size_t whylen)
{
    *out = NULL;
    int sv[2] = {-1, -1};
    int memfd = memfd_create("cmesos-registry", MFD_CLOEXEC);
    if (memfd < 0)
        return cm_fail(-errno, why, whylen, "Registry writer: memfd_create: %s", strerror(errno));
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        int rc = cm_fail(-errno, why, whylen, "Registry writer: socketpair: %s", strerror(errno));
        close(memfd);
        return rc;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int rc = cm_fail(-errno, why, whylen, "Registry writer: fork: %s", strerror(errno));
        close(memfd);
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    if (pid == 0)
        child_start(parent, sv[1], memfd, path);
    close(sv[1]);
    struct cm_reg_writer *w = cm_xcalloc(1, sizeof *w);
    w->pid = pid;
    w->sock = sv[0];
    w->memfd = memfd;
    w->path = cm_xstrdup(path);
    w->ev = event_new(base, w->sock, EV_READ | EV_PERSIST, on_readable, w);
    if (!w->ev || event_add(w->ev, NULL) != 0) {
        cm_reg_writer_free(w);
        return cm_fail(-ENOMEM, why, whylen, "Registry writer: cannot watch its socket");
    }
    *out = w;
    return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n)
{
    off_t off = 0;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

int cm_reg_writer_submit(struct cm_reg_writer *w, const uint8_t *data, size_t len,
                         cm_reg_writer_done_cb cb, void *arg)
{
    if (w->busy)
        return CM_ESTATE;
    char why[WHY_MAX];
    if (w->dead) {
        snprintf(why, sizeof why,
                 "The registry writer for %s is dead; the registry cannot be "
                 "written",
                 w->path);
        cb(arg, -EPIPE, why);
        return 0;
    }
    /* Assembled in the shared buffer already, or copied in now. */
    bool shared = w->map && data == w->map && len <= w->mem_sz;
    int rc = shared ? 0 : pwrite_all(w->memfd, data, len);
    /* A registry that shrank to under half the buffer gives the memory back (the mapping is
     * only ever used within the memfd's size). */
    if (rc == 0 && len < w->mem_sz / 2 && ftruncate(w->memfd, (off_t)len) == 0)
        w->mem_sz = len;
    if (rc == 0 && len > w->mem_sz)
        w->mem_sz = len;
    if (rc != 0) {
        /* Out of memory for the shared buffer (tmpfs/shmem limits): a failed store, as a
         * failed write of the file would be. */
        snprintf(why, sizeof why, "Failed to hand %zu bytes of registry to its writer: %s", len,
                 strerror(-rc));
        cb(arg, rc, why);
        return 0;
    }
    struct req q = {.len = len};
    ssize_t n;
    do {
        n = send(w->sock, &q, sizeof q, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof q) {
        /* The child is gone (EPIPE/ECONNRESET); its end of file is seen here first. */
        w->busy = true;
        w->cb = cb;
        w->arg = arg;
        on_dead(w);
        return 0;
    }
    w->busy = true;
    w->cb = cb;
    w->arg = arg;
    return 0;
}

uint8_t *cm_reg_writer_buffer(struct cm_reg_writer *w, size_t len)
{
    if (w->busy || w->dead)
        return NULL;
    if (len > w->mem_sz) {
        size_t want = len + len / 8;
        if (ftruncate(w->memfd, (off_t)want) != 0)
            return NULL;
        w->mem_sz = want;
    }
    if (w->map_len < w->mem_sz || !w->map) {
        if (w->map)
            munmap(w->map, w->map_len);
        w->map = NULL;
        w->map_len = 0;
        size_t maplen = w->mem_sz ? w->mem_sz : 1;
        if (maplen > w->mem_sz && ftruncate(w->memfd, (off_t)maplen) == 0)
            w->mem_sz = maplen;
        void *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, w->memfd, 0);
        if (m == MAP_FAILED)
            return NULL;
        w->map = m;
        w->map_len = maplen;
    }
    return w->map;
}

bool cm_reg_writer_busy(const struct cm_reg_writer *w)
{
    return w->busy;
}

bool cm_reg_writer_dead(const struct cm_reg_writer *w)
{
    return w->dead;
}

int cm_reg_writer_pid(const struct cm_reg_writer *w)
{
    return (int)w->pid;
}

/* Waits for the child (it exits once it has seen the channel close), killing it after
 * EXIT_WAIT_MS. */
static void reap(pid_t pid)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int k;
        do {
            k = poll(&p, 1, EXIT_WAIT_MS);
        } while (k < 0 && errno == EINTR);
        if (k == 0) {
            CM_ERROR(MOD, "The registry writer (pid %d) did not exit within %d ms; killing it",
                     (int)pid, EXIT_WAIT_MS);
            kill(pid, SIGKILL);
        }
        close(pidfd);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

void cm_reg_writer_free(struct cm_reg_writer *w)
{
    if (!w)
        return;
    if (w->ev)
        event_free(w->ev);
    if (w->map)
        munmap(w->map, w->map_len);
    close(w->sock);
    close(w->memfd);
    if (w->pid > 0)
        reap(w->pid);
    free(w->path);
    free(w);
}
