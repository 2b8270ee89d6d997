/*
 * cgroups_kill.c: emptying and removing a container's cgroups, as single non-blocking steps
 * (for the containerizer's teardown state machine) and as the bounded blocking loops built on
 * them (for callers without a loop: tests, tools, shutdown).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroups.h"
#include "cgroups_internal.h"
#include "errors.h"

#define PROCS_MAX (4 * 1024 * 1024)
#define KILL_BATCH 1024
/* The blocking forms: 100 rounds 10 ms apart, so about a second at most. */
#define DRAIN_ROUNDS 100
#define DRAIN_SLEEP_NS 10000000L

static void nap(void)
{
    struct timespec ts = {0, DRAIN_SLEEP_NS};
    nanosleep(&ts, NULL);
}

/* Reads cgroup.procs; *n is the number of live (non-zombie) pids, pids filled up to cap. */
static int read_procs(const char *path, pid_t *pids, size_t cap, size_t *n, char *why,
                      size_t whylen)
{
    char *text;
    *n = 0;
    int rc = cm_cgroups_read_text(path, PROCS_MAX, &text, why, whylen);
    if (rc)
        return rc;
    for (char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        p = end;
        if (v <= 0)
            continue;
        /* A zombie stays listed on some kernels until reaped; it needs no more killing. This
         * reads one small file per listed process of this container only, never all of /proc. */
        char st[64], buf[512];
        snprintf(st, sizeof st, "/proc/%ld/stat", v);
        int fd = open(st, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (r > 0) {
                buf[r] = '\0';
                char *rp = strrchr(buf, ')');
                if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
                    continue;
            }
        }
        if (*n < cap)
            pids[*n] = (pid_t)v;
        (*n)++;
    }
    free(text);
    return 0;
}

/* The ids ("<id>/mesos/<name>") of the nested containers whose cgroups exist under id's
 * directory of ctl. *out is NULL-terminated; free with free_ids. Missing directory: none. */
static void nested_ids(const struct cm_cgroups *cg, int ctl, const char *id, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char dir[CM_CGROUPS_PATH_MAX];
    if (cm_cgroups_ctl_file(cg, ctl, id, CM_CGROUPS_NESTED_DIR, dir, sizeof dir))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_type != DT_DIR || cm_cgroups_validate_id(e->d_name, NULL, 0) != 0)
            continue;
        if (*n + 2 > cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = realloc(*out, cap * sizeof *grown);
            if (!grown)
                abort();
            *out = grown;
        }
        size_t len = strlen(id) + sizeof CM_CGROUPS_NESTED_DIR + strlen(e->d_name) + 2;
        char *child = malloc(len);
        if (!child)
            abort();
        snprintf(child, len, "%s/%s/%s", id, CM_CGROUPS_NESTED_DIR, e->d_name);
        (*out)[(*n)++] = child;
        (*out)[*n] = NULL;
    }
    closedir(d);
}

static void free_ids(char **ids)
{
    for (char **p = ids; p && *p; p++)
        free(*p);
    free(ids);
}

static int kill_own(const struct cm_cgroups *cg, const char *id, size_t *left, char *why,
                    size_t whylen);

int cm_cgroups_kill_step(const struct cm_cgroups *cg, const char *id, size_t *left, char *why,
                         size_t whylen)
{
    int rc = kill_own(cg, id, left, why, whylen);
    if (rc || cg->version != CM_CGROUPS_V1)
        return rc; /* v2's cgroup.kill takes the subtree; v2 has no nesting here anyway */
    /* v1: the nested containers' processes are listed in their own cgroups only. */
    int pc = (cg->usable & CM_CG_BIT(CM_CG_FREEZER)) ? CM_CG_FREEZER : -1;
    for (int c = 0; c < CM_CG_NCTL && pc < 0; c++)
        if (cg->usable & CM_CG_BIT(c))
            pc = c;
    char **kids;
    size_t n;
    nested_ids(cg, pc, id, &kids, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        size_t more = 0;
        rc = cm_cgroups_kill_step(cg, kids[i], &more, why, whylen);
        *left += more;
    }
    free_ids(kids);
    return rc;
}

static int kill_own(const struct cm_cgroups *cg, const char *id, size_t *left, char *why,
                    size_t whylen)
{
    *left = 0;
    int rc = cm_cgroups_check(cg, id, why, whylen);
    if (rc)
        return rc;
    int v2 = cg->version == CM_CGROUPS_V2;
    /* The freezer's directory has every process when it exists, else any controller's. */
    int pc = -1;
    if (cg->usable & CM_CG_BIT(CM_CG_FREEZER))
        pc = CM_CG_FREEZER;
    for (int c = 0; c < CM_CG_NCTL && pc < 0; c++)
        if (cg->usable & CM_CG_BIT(c))
            pc = c;
    char procs[CM_CGROUPS_PATH_MAX + 64], freeze[CM_CGROUPS_PATH_MAX + 64];
    char killf[CM_CGROUPS_PATH_MAX + 64];
    if (pc < 0 || cm_cgroups_ctl_file(cg, pc, id, "cgroup.procs", procs, sizeof procs) ||
        cm_cgroups_ctl_file(cg, pc, id, v2 ? "cgroup.freeze" : "freezer.state", freeze,
                            sizeof freeze) ||
        cm_cgroups_ctl_file(cg, pc, id, "cgroup.kill", killf, sizeof killf))
        return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", id);
    if (!cm_cgroups_exists(procs))
        return 0; /* never created or already destroyed: nothing to kill */

    if (v2 && cm_cgroups_exists(killf)) {
        /* The kernel kills the whole subtree, forks included; we only count what is left. */
        if ((rc = cm_cgroups_write_text(killf, "1", why, whylen)) != 0)
            return rc;
        return read_procs(procs, NULL, 0, left, why, whylen);
    }

    pid_t pids[KILL_BATCH];
    size_t n;
    if ((rc = read_procs(procs, pids, KILL_BATCH, &n, why, whylen)) != 0 || n == 0)
        return rc;
    int can_freeze = (cg->usable & CM_CG_BIT(CM_CG_FREEZER)) && cm_cgroups_exists(freeze);
    if (can_freeze) {
        /* Frozen, nothing can fork between our read and our kill. The v1 freezer may still be
         * FREEZING after the write; we do not wait for it: the kill goes out anyway and the
         * next round (the caller re-checks) catches any child forked in between. */
        if ((rc = cm_cgroups_write_text(freeze, v2 ? "1" : "FROZEN", why, whylen)) != 0)
            return rc;
        if ((rc = read_procs(procs, pids, KILL_BATCH, &n, why, whylen)) != 0)
            return rc;
    }
    for (size_t i = 0; i < n && i < KILL_BATCH; i++)
        if (kill(pids[i], SIGKILL) != 0 && errno != ESRCH) {
            int err = -errno;
            rc = cm_fail(err, why, whylen, "kill %ld from %s: %s", (long)pids[i], procs,
                         strerror(-err));
            break;
        }
    if (can_freeze) {
        /* Thawing lets the SIGKILLs take effect. */
        int trc = cm_cgroups_write_text(freeze, v2 ? "0" : "THAWED", rc ? NULL : why, whylen);
        if (!rc)
            rc = trc;
    }
    /* The killed are still listed until the kernel has torn them down. */
    *left = n;
    return rc;
}

int cm_cgroups_remove_step(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen)
{
    int rc = cm_cgroups_check(cg, id, why, whylen), first = 0;
    if (rc)
        return rc;
    char path[CM_CGROUPS_PATH_MAX];
    for (int c = 0; c < CM_CG_NCTL; c++) {
        if (!(cg->usable & CM_CG_BIT(c)) || cm_cgroups_duplicate(cg, c))
            continue;
        if (cm_cgroups_path(cg, c, id, path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", id);
        /* Nested containers' cgroups first (deepest first), then their "mesos" directory. */
        char **kids;
        size_t nk;
        nested_ids(cg, c, id, &kids, &nk);
        for (size_t i = 0; i < nk; i++) {
            int krc = cm_cgroups_remove_step(cg, kids[i], !first ? why : NULL, whylen);
            if (krc && (!first || first == -EBUSY))
                first = krc;
        }
        free_ids(kids);
        char sub[CM_CGROUPS_PATH_MAX + 16];
        if (snprintf(sub, sizeof sub, "%s/%s", path, CM_CGROUPS_NESTED_DIR) < (int)sizeof sub)
            rmdir(sub); /* ENOENT (none) or EBUSY (a child left): the rmdir below says so */
        if (rmdir(path) == 0 || errno == ENOENT)
            continue;
        int err = -errno;
        /* A busy directory is worth another try; any other failure is the answer, but the
         * other controllers' directories are still removed. */
        if (err == -EBUSY) {
            if (!first || first == -EBUSY)
                first = cm_fail(err, why, whylen, "rmdir %s: still busy", path);
        } else if (!first || first == -EBUSY) {
            first = cm_fail(err, why, whylen, "rmdir %s: %s", path, strerror(-err));
        }
    }
    return first;
}

int cm_cgroups_kill_all(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen)
{
    for (int round = 0; round < DRAIN_ROUNDS; round++) {
        size_t left;
        int rc = cm_cgroups_kill_step(cg, id, &left, why, whylen);
        if (rc || left == 0)
            return rc;
        nap();
    }
    return cm_fail(-ETIMEDOUT, why, whylen,
                   "the cgroups of '%s' still list processes after killing", id);
}

int cm_cgroups_destroy(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen)
{
    int rc = 0;
    for (int i = 0; i < DRAIN_ROUNDS; i++) {
        rc = cm_cgroups_remove_step(cg, id, why, whylen);
        if (rc != -EBUSY)
            return rc;
        nap();
    }
    return rc;
}

int cm_cgroups_clean_orphans(const struct cm_cgroups *cg, cm_cgroups_known_fn known, void *arg,
                             size_t *cleaned, char *why, size_t whylen)
{
    *cleaned = 0;
    char **ids;
    size_t n;
    int rc = cm_cgroups_list(cg, &ids, &n, why, whylen), first = 0;
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (known && known(arg, ids[i]))
            continue;
        rc = cm_cgroups_kill_all(cg, ids[i], first ? NULL : why, whylen);
        if (!rc)
            rc = cm_cgroups_destroy(cg, ids[i], first ? NULL : why, whylen);
        if (rc && !first)
            first = rc;
        if (!rc)
            (*cleaned)++;
    }
    cm_cgroups_list_free(ids);
    return first;
}
