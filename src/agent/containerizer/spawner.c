/*
 * spawner.c: one request record per launch over a SOCK_SEQPACKET socket pair (message
 * boundaries kept; MSG_NOSIGNAL, so a dead helper is -EPIPE, not a SIGPIPE), one answer
 * record back with the status pipe attached.
 *
 * Request: a fixed header, then the supplementary groups, then NUL-terminated strings: the
 * fixed fields present in header.present (in enum field order), then argc argv strings, then
 * envc envp strings. The helper checks every length against the record it got.
 */
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "helper_child.h"
#include "records.h"
#include "user.h"

#define SPAWN_MAGIC 0x636d7370u  /* "cmsp" */
#define CONFIG_MAGIC 0x636d7363u /* "cmsc" */
#define MB (1024.0 * 1024.0)
#define ANSWER_TIMEOUT_MS 10000
#define MAX_STRINGS 65536
#define MAX_GROUPS 65536

enum field {
    F_ID,
    F_CWD,
    F_STDOUT,
    F_STDERR,
    F_LINK,
    F_LINK_TMP,
    F_LINK_TARGET,
    F_EXIT_STATUS,
    F_USER,
    F_POOL,
    F_NFIELDS,
};

struct req_hdr {
    uint32_t magic;
    uint32_t present; /* bit per enum field */
    uint32_t create_cwd;
    uint32_t argc, envc, ngroups;
    uint32_t uid, gid;
    struct cm_spawn_limits limits;
};

struct answer {
    int rc;
    int pid;
    char why[300];
};

/* The configuration record, and the helper's greeting in answer to it. */
struct config_msg {
    uint32_t magic;
    struct cm_spawn_config cfg;
};

struct hello {
    uint32_t magic;
    int lean; /* 1: the exec'd program */
};

struct cm_spawner {
    pid_t pid;
    int fd; /* blocking; our end of the socket pair */
    int lean;
    char *buf;
};

/* ---- the helper ---- */

struct join_call {
    const struct cm_spawn_config *cfg;
    const char *id;
    const char *pool; /* a pool entry to rename (cgpool.h), or NULL */
    struct cm_spawn_limits limits;
    int made;         /* the cgroup was made, limited and cloned into by the helper (v2) */
    const int *roots; /* the helper's cm_cgroups_open_roots descriptors (v1), or NULL */
};

/* The helper's state beside its configuration. */
struct helper_state {
    int into;               /* clone into the cgroup (v2, cm_spawner_clone_into_cgroup) */
    int roots[CM_CG_NCTL];  /* v1: the cgroup roots, open (cm_cgroups_open_roots) */
    int nroots, want_roots; /* how many are open, of how many usable */
    int root_tries;         /* opens tried (the first launch makes a missing cgroups_root) */
};

/* Makes id's cgroups (or takes the pool entry) and sets the configured limits. No allocation:
 * also runs in the cloned child. */
static int make_cgroups(const struct cm_spawn_config *cfg, const int *roots, const char *id,
                        const char *pool, const struct cm_spawn_limits *limits, char *why,
                        size_t whylen)
{
    /* A pool entry is renamed, with pids.max set already; else (or should that fail) mkdir. */
    int pooled = pool && cm_cgroups_rename(&cfg->cg, pool, id, why, whylen) == 0;
    int rc = pooled ? 0 : cm_cgroups_create_at(&cfg->cg, roots, id, why, whylen);
    if (!rc && cfg->limit_cpu) {
        struct cm_cgroups_limits l = {.cpus = limits->cpus, .cfs_quota = cfg->cfs_quota};
        rc = cm_cgroups_set_limits_at(&cfg->cg, roots, id, &l, why, whylen);
    }
    if (!rc && cfg->limit_mem) {
        struct cm_cgroups_limits l = {.mem_bytes = (uint64_t)(limits->mem_mb * MB),
                                      .limit_swap = cfg->limit_swap};
        rc = cm_cgroups_set_limits_at(&cfg->cg, roots, id, &l, why, whylen);
    }
    if (!rc && cfg->limit_pids && !pooled) {
        struct cm_cgroups_limits l = {.pids_max = cfg->max_pids};
        rc = cm_cgroups_set_limits_at(&cfg->cg, roots, id, &l, why, whylen);
    }
    return rc;
}

/* ctx->join in the cloned child: what the containerizer's join does in the agent's spawn
 * (record, create, limit, join), from the configuration. Async-signal-safe. */
static int config_join(const void *arg, char *why, size_t whylen)
{
    const struct join_call *jc = arg;
    const struct cm_spawn_config *cfg = jc->cfg;
    if (jc->made)
        return 0; /* the helper recorded it and made its cgroup */
    if (cfg->records_log[0])
        cm_records_append(cfg->records_log, jc->id);
    if (!cfg->use_cgroups)
        return 0;
    int rc = make_cgroups(cfg, jc->roots, jc->id, jc->pool, &jc->limits, why, whylen);
    if (!rc)
        rc = cm_cgroups_add_pid_at(&cfg->cg, jc->roots, jc->id, 0, why, whylen);
    return rc;
}

int cm_spawner_clone_into_cgroup(const struct cm_spawn_config *cfg, int kernel_ok)
{
    if (!kernel_ok || !cfg->join || !cfg->use_cgroups || cfg->cg.version != CM_CGROUPS_V2)
        return 0;
    /* Every limit the isolators set needs its controller; else the in-child join reports the
     * missing one, as on v1. */
    if ((cfg->limit_cpu && !(cfg->cg.usable & CM_CG_BIT(CM_CG_CPU))) ||
        (cfg->limit_mem && !(cfg->cg.usable & CM_CG_BIT(CM_CG_MEMORY))) ||
        (cfg->limit_pids && !(cfg->cg.usable & CM_CG_BIT(CM_CG_PIDS))))
        return 0;
    return cfg->cg.base[CM_CG_CPU][0] || cfg->cg.base[CM_CG_MEMORY][0] ||
           cfg->cg.base[CM_CG_PIDS][0];
}

/* v2: what the child's join does first (the record, the cgroup and its limits), here in the
 * helper, then opens the cgroup's directory for clone3. Returns the descriptor, or a negative
 * error with why (worded as the child's report of its cgroup step). */
static int open_v2_cgroup(const struct cm_spawn_config *cfg, const char *id, const char *pool,
                          const struct cm_spawn_limits *limits, char *why, size_t whylen)
{
    if (cfg->records_log[0])
        cm_records_append(cfg->records_log, id);
    char cwhy[256] = "";
    int rc = make_cgroups(cfg, NULL, id, pool, limits, cwhy, sizeof cwhy);
    if (rc)
        return cm_fail(rc < 0 ? rc : -EINVAL, why, whylen,
                       "Failed to set up the container's cgroups: %s", cwhy);
    /* The directory cm_cgroups_create made: v2 has one, under the first base that is set. */
    const char *base = cfg->cg.base[CM_CG_CPU][0]      ? cfg->cg.base[CM_CG_CPU]
                       : cfg->cg.base[CM_CG_MEMORY][0] ? cfg->cg.base[CM_CG_MEMORY]
                                                       : cfg->cg.base[CM_CG_PIDS];
    char dir[CM_CGROUPS_PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s/%s/%s", base, cfg->cg.cgroups_root, id);
    if (n < 0 || (size_t)n >= sizeof dir)
        return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", id);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cm_fail(-errno, why, whylen, "Failed to open %s: %s", dir, strerror(errno));
    return fd;
}

/* Takes the next NUL-terminated string at *off; NULL when the record ends first. */
static const char *take(const char *buf, size_t len, size_t *off)
{
    if (*off >= len)
        return NULL;
    const char *s = buf + *off;
    const char *nul = memchr(s, '\0', len - *off);
    if (!nul)
        return NULL;
    *off += (size_t)(nul - s) + 1;
    return s;
}

static void answer(int sock, const struct answer *a, int fd)
{
    struct iovec iov = {(void *)a, sizeof *a};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.b;
        mh.msg_controllen = sizeof ctl.b;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    ssize_t w;
    do {
        w = sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof *a)
        _exit(0); /* the agent is gone */
}

/* Decodes one request and spawns it. Returns 0 with pid and the status pipe, or an error.
 * hs->into: whether to clone straight into the container's cgroup (v2); cleared for good when
 * the kernel refuses it. */
static int serve(const struct cm_spawn_config *cfg, struct helper_state *hs, const char *buf,
                 size_t len, pid_t *pid, int *status_fd, char *why, size_t whylen)
{
    int *into = &hs->into;
    struct req_hdr hdr;
    if (len < sizeof hdr)
        return cm_fail(CM_EPROTO, why, whylen, "Short launch request");
    memcpy(&hdr, buf, sizeof hdr);
    if (hdr.magic != SPAWN_MAGIC || hdr.argc == 0 || hdr.argc > MAX_STRINGS ||
        hdr.envc > MAX_STRINGS || hdr.ngroups > MAX_GROUPS ||
        sizeof hdr + (size_t)hdr.ngroups * sizeof(gid_t) > len || !(hdr.present & (1u << F_ID)))
        return cm_fail(CM_EPROTO, why, whylen, "Malformed launch request");
    size_t off = sizeof hdr;
    gid_t *groups = NULL;
    if (hdr.ngroups) {
        groups = malloc((size_t)hdr.ngroups * sizeof *groups);
        if (!groups)
            return cm_fail(-ENOMEM, why, whylen, "Out of memory");
        memcpy(groups, buf + off, (size_t)hdr.ngroups * sizeof *groups);
        off += (size_t)hdr.ngroups * sizeof *groups;
    }
    const char *f[F_NFIELDS] = {NULL};
    char **argv = calloc((size_t)hdr.argc + 1, sizeof *argv);
    char **envp = calloc((size_t)hdr.envc + 1, sizeof *envp);
    int rc = 0;
    if (!argv || !envp) {
        rc = cm_fail(-ENOMEM, why, whylen, "Out of memory");
        goto out;
    }
    for (int i = 0; i < F_NFIELDS; i++)
        if ((hdr.present & (1u << i)) && !(f[i] = take(buf, len, &off))) {
            rc = cm_fail(CM_EPROTO, why, whylen, "Malformed launch request");
            goto out;
        }
    for (uint32_t i = 0; i < hdr.argc + hdr.envc; i++) {
        const char *s = take(buf, len, &off);
        if (!s) {
            rc = cm_fail(CM_EPROTO, why, whylen, "Malformed launch request");
            goto out;
        }
        if (i < hdr.argc)
            argv[i] = (char *)s;
        else
            envp[i - hdr.argc] = (char *)s;
    }
    struct cm_user user = {(char *)f[F_USER], hdr.uid, hdr.gid, groups, hdr.ngroups};
    struct cm_launch_spec spec = {
        .container_id = f[F_ID],
        .argv = argv,
        .envp = envp,
        .cwd = f[F_CWD],
        .stdout_path = f[F_STDOUT],
        .stderr_path = f[F_STDERR],
        .create_cwd = hdr.create_cwd != 0,
        .link = f[F_LINK],
        .link_tmp = f[F_LINK_TMP],
        .link_target = f[F_LINK_TARGET],
        .user = f[F_USER] ? &user : NULL,
        .exit_status_path = f[F_EXIT_STATUS],
    };
    if (hs->nroots < hs->want_roots && hs->root_tries < 4) {
        hs->root_tries++;
        /* A cgroups_root the first launch had still to make: open what exists now. */
        cm_cgroups_close_roots(hs->roots);
        hs->nroots = cm_cgroups_open_roots(&cfg->cg, hs->roots);
    }
    struct join_call jc = {cfg, f[F_ID], f[F_POOL], hdr.limits, 0, hs->nroots ? hs->roots : NULL};
    /* CLONE_PARENT: the container is the agent's child, not ours. */
    struct cm_launch_ctx ctx = {
        .clone_flags = cfg->clone_flags | CLONE_PARENT,
        .join = cfg->join ? config_join : NULL,
        .join_arg = &jc,
        .status_fd = status_fd,
        .signals_default = 1, /* helper_start reset them all, and nothing here sets one */
        .cgroup_fd = -1,
    };
    if (*into) {
        /* cgroup v2: the child is born in its cgroup (no cgroup.procs write, no migration). */
        int fd = open_v2_cgroup(cfg, f[F_ID], f[F_POOL], &hdr.limits, why, whylen);
        if (fd < 0) {
            rc = fd;
            goto out;
        }
        jc.made = 1;
        ctx.into_cgroup = 1;
        ctx.cgroup_fd = fd;
        rc = cm_launcher_spawn(&spec, &ctx, pid, why, whylen);
        close(fd);
        if (rc != -ENOSYS && rc != -EINVAL && rc != -E2BIG)
            goto out;
        /* A kernel that refuses the flag after all: join after the clone from now on (the
         * cgroup exists and is limited; the join's mkdir and writes are idempotent). */
        *into = 0;
        jc.made = 0;
        ctx.into_cgroup = 0;
        ctx.cgroup_fd = -1;
    }
    rc = cm_launcher_spawn(&spec, &ctx, pid, why, whylen);

out:
    free(groups);
    free(argv);
    free(envp);
    return rc;
}

/* The helper's loop on sock: the configuration, then one launch per request. */
static int helper_loop(int sock, int lean)
{
    struct config_msg cm;
    ssize_t n;
    do {
        n = recv(sock, &cm, sizeof cm, 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof cm || cm.magic != CONFIG_MAGIC)
        return 1;
    cm.cfg.records_log[sizeof cm.cfg.records_log - 1] = '\0';
    struct hello hi = {CONFIG_MAGIC, lean};
    if (send(sock, &hi, sizeof hi, MSG_NOSIGNAL) != (ssize_t)sizeof hi)
        return 0;
    char *buf = malloc(CM_SPAWNER_MAX_REQUEST);
    if (!buf)
        return 1;
    struct helper_state hs = {0};
    hs.into = cm_spawner_clone_into_cgroup(&cm.cfg, cm_launcher_clone_into_cgroup_usable());
    for (int c = 0; c < CM_CG_NCTL; c++)
        hs.roots[c] = -1;
    if (cm.cfg.join && cm.cfg.use_cgroups && cm.cfg.cg.version == CM_CGROUPS_V1) {
        for (int c = 0; c < CM_CG_NCTL; c++)
            hs.want_roots += (cm.cfg.cg.usable & CM_CG_BIT(c)) != 0;
        hs.nroots = cm_cgroups_open_roots(&cm.cfg.cg, hs.roots);
    }
    for (;;) {
        n = recv(sock, buf, CM_SPAWNER_MAX_REQUEST, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF: the containerizer is gone */
        struct answer a;
        memset(&a, 0, sizeof a);
        pid_t pid = -1;
        int status_fd = -1;
        a.rc = serve(&cm.cfg, &hs, buf, (size_t)n, &pid, &status_fd, a.why, sizeof a.why);
        a.pid = (int)pid;
        answer(sock, &a, a.rc == 0 ? status_fd : -1);
        if (status_fd >= 0)
            close(status_fd);
    }
    cm_cgroups_close_roots(hs.roots);
    free(buf);
    return 0;
}

int cm_spawner_serve(int sock)
{
    return helper_loop(sock, 1);
}

/* The forked child: dies with the agent, keeps only the socket (as fd 3: the agent's sockets
 * and files must not live on in the helper, nor reach the containers it clones), then becomes
 * the lean program, or serves itself when it cannot. */
static void helper_start(void *arg)
{
    const char *program = arg;
    if (program) {
        char *argv[] = {CM_SPAWNER_PROGRAM, NULL};
        char *envp[] = {NULL};
        execve(program, argv, envp);
    }
    int fl = fcntl(3, F_GETFD);
    if (fl >= 0)
        fcntl(3, F_SETFD, fl | FD_CLOEXEC);
    prctl(PR_SET_NAME, "cm-launch-helper");
    _exit(helper_loop(3, 0));
}

/* ---- the agent's side ---- */

int cm_spawner_new(const struct cm_spawn_config *cfg, const char *program, struct cm_spawner **out)
{
    *out = NULL;
    if (program && access(program, X_OK) != 0)
        program = NULL;
    pid_t pid;
    int fd;
    /* A request is one record: make room for the largest. */
    int err =
        cm_helper_child_fork(helper_start, (void *)program, 2 * CM_SPAWNER_MAX_REQUEST, &pid, &fd);
    if (err)
        return err;
    struct cm_spawner *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->pid = pid;
    s->fd = fd;
    s->buf = malloc(CM_SPAWNER_MAX_REQUEST);
    if (!s->buf)
        abort();
    struct config_msg *cm = calloc(1, sizeof *cm);
    if (!cm)
        abort();
    cm->magic = CONFIG_MAGIC;
    cm->cfg = *cfg;
    ssize_t w;
    do {
        w = send(s->fd, cm, sizeof *cm, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    free(cm);
    struct hello hi = {0, 0};
    struct pollfd p = {s->fd, POLLIN, 0};
    int pr = 0;
    if (w == (ssize_t)sizeof *cm)
        do {
            pr = poll(&p, 1, ANSWER_TIMEOUT_MS);
        } while (pr < 0 && errno == EINTR);
    if (pr <= 0 || recv(s->fd, &hi, sizeof hi, 0) != (ssize_t)sizeof hi ||
        hi.magic != CONFIG_MAGIC) {
        kill(pid, SIGKILL);
        cm_spawner_free(s);
        return -ECONNRESET;
    }
    s->lean = hi.lean;
    *out = s;
    return 0;
}

int cm_spawner_lean(const struct cm_spawner *s)
{
    return s->lean;
}

void cm_spawner_free(struct cm_spawner *s)
{
    if (!s)
        return;
    close(s->fd);
    /* It exits at the EOF; if the agent's reaper takes it first, ECHILD ends the wait. */
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(s->buf);
    free(s);
}

pid_t cm_spawner_pid(const struct cm_spawner *s)
{
    return s->pid;
}

/* Appends str (and its NUL) at *off; false when it does not fit. */
static bool put(char *buf, size_t *off, const char *str)
{
    size_t n = strlen(str) + 1;
    if (n > CM_SPAWNER_MAX_REQUEST - *off)
        return false;
    memcpy(buf + *off, str, n);
    *off += n;
    return true;
}

/* Encodes spec into buf; returns the length, or 0 when it does not fit. */
static size_t encode(char *buf, const struct cm_launch_spec *spec,
                     const struct cm_spawn_limits *limits, const char *pool)
{
    struct req_hdr hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.magic = SPAWN_MAGIC;
    hdr.create_cwd = spec->create_cwd;
    hdr.limits = *limits;
    const char *f[F_NFIELDS] = {
        [F_ID] = spec->container_id,
        [F_CWD] = spec->cwd,
        [F_STDOUT] = spec->stdout_path,
        [F_STDERR] = spec->stderr_path,
        [F_LINK] = spec->link,
        [F_LINK_TMP] = spec->link_tmp,
        [F_LINK_TARGET] = spec->link_target,
        [F_EXIT_STATUS] = spec->exit_status_path,
        [F_USER] = spec->user ? spec->user->name : NULL,
        [F_POOL] = pool,
    };
    for (int i = 0; i < F_NFIELDS; i++)
        if (f[i])
            hdr.present |= 1u << i;
    while (spec->argv[hdr.argc])
        hdr.argc++;
    if (spec->envp)
        while (spec->envp[hdr.envc])
            hdr.envc++;
    if (spec->user) {
        hdr.uid = spec->user->uid;
        hdr.gid = spec->user->gid;
        hdr.ngroups = (uint32_t)spec->user->ngroups;
    }
    if (hdr.argc == 0 || hdr.argc > MAX_STRINGS || hdr.envc > MAX_STRINGS ||
        hdr.ngroups > MAX_GROUPS ||
        sizeof hdr + (size_t)hdr.ngroups * sizeof(gid_t) > CM_SPAWNER_MAX_REQUEST)
        return 0;
    memcpy(buf, &hdr, sizeof hdr);
    size_t off = sizeof hdr;
    if (hdr.ngroups) {
        memcpy(buf + off, spec->user->groups, (size_t)hdr.ngroups * sizeof(gid_t));
        off += (size_t)hdr.ngroups * sizeof(gid_t);
    }
    for (int i = 0; i < F_NFIELDS; i++)
        if (f[i] && !put(buf, &off, f[i]))
            return 0;
    for (uint32_t i = 0; i < hdr.argc; i++)
        if (!put(buf, &off, spec->argv[i]))
            return 0;
    for (uint32_t i = 0; i < hdr.envc; i++)
        if (!put(buf, &off, spec->envp[i]))
            return 0;
    return off;
}

int cm_spawner_broken(int rc)
{
    return rc == CM_ECLOSED || rc == -ETIMEDOUT || rc == -ECONNRESET;
}

int cm_spawner_accepts(const struct cm_launch_spec *spec)
{
    return !spec->rootfs && spec->enter_pid <= 0;
}

int cm_spawner_spawn(struct cm_spawner *s, const struct cm_launch_spec *spec,
                     const struct cm_spawn_limits *limits, const char *pool, pid_t *pid,
                     int *status_fd, char *why, size_t whylen)
{
    *pid = -1;
    *status_fd = -1;
    size_t len = encode(s->buf, spec, limits, pool);
    if (len == 0)
        return cm_fail(CM_ETOOBIG, why, whylen, "The launch is too large for the launch helper");
    ssize_t w;
    do {
        w = send(s->fd, s->buf, len, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len)
        return cm_fail(CM_ECLOSED, why, whylen, "The launch helper is gone: %s",
                       w < 0 ? strerror(errno) : "short write");
    struct pollfd p = {s->fd, POLLIN, 0};
    int pr;
    do {
        pr = poll(&p, 1, ANSWER_TIMEOUT_MS);
    } while (pr < 0 && errno == EINTR);
    if (pr <= 0) {
        kill(s->pid, SIGKILL);
        return cm_fail(-ETIMEDOUT, why, whylen, "The launch helper did not answer");
    }
    struct answer a;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {&a, sizeof a};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    ssize_t n;
    do {
        n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    int fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    if (n != (ssize_t)sizeof a) {
        if (fd >= 0)
            close(fd);
        kill(s->pid, SIGKILL);
        return cm_fail(-ECONNRESET, why, whylen, "The launch helper died during the launch");
    }
    a.why[sizeof a.why - 1] = '\0';
    if (a.rc) {
        if (fd >= 0)
            close(fd);
        return cm_fail(a.rc, why, whylen, "%s", a.why);
    }
    if (fd < 0 || a.pid <= 0) {
        if (fd >= 0)
            close(fd);
        return cm_fail(CM_EPROTO, why, whylen, "The launch helper answered without a launch");
    }
    *pid = (pid_t)a.pid;
    *status_fd = fd;
    return 0;
}
