/*
 * cgroups.c: cgroup v1/v2 detection, per-container directories, limits, usage and OOM (the
 * kill and removal steps are in cgroups_kill.c).
 *
 * All control-file access goes through write_text/read_text so every failure names the file.
 * Control files are never created (O_CREAT is not used): on a real cgroupfs the kernel makes
 * them, and a missing file means the controller is not there.
 */
#include "cgroups.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroups_internal.h"
#include "errors.h"
#include "strmap.h"

#define MOUNTINFO_MAX (1024 * 1024)
#define STAT_MAX (64 * 1024)

static const char *const ctl_names[CM_CG_NCTL] = {"cpu", "cpuacct", "memory", "pids", "freezer"};

const char *cm_cgroups_ctl_name(enum cm_cgroups_ctl ctl)
{
    return (unsigned)ctl < CM_CG_NCTL ? ctl_names[ctl] : "?";
}

/* ---- validation ---- */

static int validate_component(const char *s, size_t len, const char *what, char *why, size_t whylen)
{
    if (len == 0)
        return cm_fail(CM_EINVAL, why, whylen, "%s must not be empty", what);
    if (len > 255)
        return cm_fail(CM_EINVAL, why, whylen, "%s must be at most 255 bytes", what);
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return cm_fail(CM_EINVAL, why, whylen, "%s must not be '.' or '..'", what);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/')
            return cm_fail(CM_EINVAL, why, whylen, "%s must not contain '/'", what);
        if (c < 0x20 || c == 0x7f)
            return cm_fail(CM_EINVAL, why, whylen, "%s must not contain control characters", what);
    }
    return 0;
}

int cm_cgroups_validate_id(const char *id, char *why, size_t whylen)
{
    if (!id)
        return cm_fail(CM_EINVAL, why, whylen, "container id is missing");
    /* A nested container's id is "<parent>/mesos/<child>" (any depth): its cgroup lives in
     * its parent's subtree, as Mesos's v1 layout <root>/<parent>/mesos/<child>. */
    const char *slash = strchr(id, '/');
    if (!slash)
        return validate_component(id, strlen(id), "container id", why, whylen);
    int rc = validate_component(id, (size_t)(slash - id), "container id", why, whylen);
    if (rc)
        return rc;
    if (strncmp(slash, "/" CM_CGROUPS_NESTED_DIR "/", sizeof CM_CGROUPS_NESTED_DIR + 1) != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "nested container id must be <parent>/" CM_CGROUPS_NESTED_DIR "/<child>");
    return cm_cgroups_validate_id(slash + sizeof CM_CGROUPS_NESTED_DIR + 1, why, whylen);
}

int cm_cgroups_validate_root(const char *root, char *why, size_t whylen)
{
    if (!root || !*root)
        return cm_fail(CM_EINVAL, why, whylen, "cgroups_root must not be empty");
    if (strlen(root) >= CM_CGROUPS_ROOT_MAX)
        return cm_fail(CM_EINVAL, why, whylen, "cgroups_root is too long");
    const char *p = root;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        int rc = validate_component(p, len, "cgroups_root component", why, whylen);
        if (rc)
            return rc;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

/* ---- pure mappings ---- */

uint64_t cm_cgroups_cpu_shares(double cpus)
{
    if (!(cpus > 0))
        return 2;
    double s = 1024.0 * cpus;
    if (s > 262144.0)
        s = 262144.0; /* the kernel's MAX_SHARES */
    uint64_t shares = (uint64_t)s;
    return shares < 2 ? 2 : shares;
}

uint64_t cm_cgroups_cpu_weight(uint64_t shares)
{
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cm_cgroups_cfs_quota(double cpus, uint64_t period_us)
{
    double q = cpus > 0 ? cpus * (double)period_us : 0;
    uint64_t quota = (uint64_t)q;
    return quota < 1000 ? 1000 : quota; /* the kernel refuses quotas below 1 ms */
}

/* ---- file helpers ---- */

static int join(char *buf, size_t len, const char *a, const char *b, const char *c)
{
    int n = snprintf(buf, len, "%s%s%s%s%s", a, b ? "/" : "", b ? b : "", c ? "/" : "", c ? c : "");
    return n < 0 || (size_t)n >= len ? CM_ETOOBIG : 0;
}

int cm_cgroups_write_text(const char *path, const char *text, char *why, size_t whylen)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        return cm_fail(err, why, whylen, "open %s: %s", path, strerror(-err));
    }
    size_t len = strlen(text);
    /* memory.limit_in_bytes and friends answer EINTR when a signal (the agent's SIGCHLD)
     * arrives while they reclaim; the write is simply retried. */
    ssize_t w;
    do {
        w = write(fd, text, len);
    } while (w < 0 && errno == EINTR);
    int err = w < 0 ? -errno : 0;
    close(fd);
    if (w < 0)
        return cm_fail(err, why, whylen, "write '%s' to %s: %s", text, path, strerror(-err));
    if ((size_t)w != len)
        return cm_fail(-EIO, why, whylen, "short write to %s", path);
    return 0;
}

/* Reads at most max-1 bytes into a malloc'd NUL-terminated buffer. */
int cm_cgroups_read_text(const char *path, size_t max, char **out, char *why, size_t whylen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        return cm_fail(err, why, whylen, "open %s: %s", path, strerror(-err));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= max) {
                close(fd);
                free(buf);
                return cm_fail(CM_ETOOBIG, why, whylen, "%s is larger than %zu bytes", path, max);
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                abort();
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int err = -errno;
            close(fd);
            free(buf);
            return cm_fail(err, why, whylen, "read %s: %s", path, strerror(-err));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return CM_EPARSE;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno)
        return CM_EPARSE;
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (*end)
        return CM_EPARSE;
    *v = x;
    return 0;
}

/* Finds "key value" on its own line of a flat-keyed file; returns CM_ENOTFOUND if absent. */
static int find_key(const char *text, const char *key, uint64_t *v)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            char num[32];
            size_t n = (nl ? (size_t)(nl - line) : strlen(line)) - klen - 1;
            if (n >= sizeof num)
                return CM_EPARSE;
            memcpy(num, line + klen + 1, n);
            num[n] = '\0';
            return parse_u64(num, v);
        }
        line = nl ? nl + 1 : NULL;
    }
    return CM_ENOTFOUND;
}

static int read_u64_file(const char *path, uint64_t *v, char *why, size_t whylen)
{
    char *text;
    int rc = cm_cgroups_read_text(path, STAT_MAX, &text, why, whylen);
    if (rc)
        return rc;
    rc = parse_u64(text, v);
    free(text);
    if (rc)
        return cm_fail(rc, why, whylen, "%s does not hold a number", path);
    return 0;
}

/* Reads the flat-keyed file and extracts keys[i] into vals[i]; a missing key is an error
 * only when required. */
static int read_keys(const char *path, const char *const *keys, uint64_t *vals, size_t n,
                     int required, char *why, size_t whylen)
{
    char *text;
    int rc = cm_cgroups_read_text(path, STAT_MAX, &text, why, whylen);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = find_key(text, keys[i], &vals[i]);
        if (rc == CM_ENOTFOUND && !required) {
            vals[i] = 0;
            rc = 0;
        }
        if (rc) {
            rc = cm_fail(rc == CM_ENOTFOUND ? CM_EPARSE : rc, why, whylen, "%s: no valid '%s' line",
                         path, keys[i]);
            break;
        }
    }
    free(text);
    return rc;
}

int cm_cgroups_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- detection ---- */

/* Decodes mountinfo's octal escapes (\040 for space) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static int has_token(const char *list, const char *tok, char sep)
{
    size_t tl = strlen(tok);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == tl && strncmp(p, tok, tl) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Finds the agent's own path for ctl in /proc/self/cgroup text ("N:ctl,ctl:/path", v2 "0::/p"). */
static const char *self_path(const char *self, const char *ctl, char *buf, size_t len)
{
    for (const char *line = self; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        char tmp[CM_CGROUPS_PATH_MAX];
        if (ll < sizeof tmp) {
            memcpy(tmp, line, ll);
            tmp[ll] = '\0';
            char *c1 = strchr(tmp, ':');
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2) {
                *c2 = '\0';
                const char *ctls = c1 + 1;
                int match = ctl ? has_token(ctls, ctl, ',') : *ctls == '\0';
                if (match && c2[1] == '/' && strlen(c2 + 1) < len) {
                    strcpy(buf, c2 + 1);
                    return buf;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* base = mount point [+ own cgroup path]; the path must not contain ".." components. */
static int set_base(struct cm_cgroups *cg, int ctl, const char *mnt, const char *self,
                    const char *ctl_name)
{
    char own[CM_CGROUPS_PATH_MAX] = "";
    if (self) {
        const char *p = self_path(self, ctl_name, own, sizeof own);
        if (!p || strstr(p, "/../") || strcmp(p, "/") == 0)
            own[0] = '\0';
        if (p && strlen(p) >= 3 && strcmp(p + strlen(p) - 3, "/..") == 0)
            own[0] = '\0';
    }
    int n = snprintf(cg->base[ctl], sizeof cg->base[ctl], "%s%s", mnt, own);
    if (n < 0 || (size_t)n >= sizeof cg->base[ctl]) {
        cg->base[ctl][0] = '\0';
        return CM_ETOOBIG;
    }
    return 0;
}

static int under_root(const char *mnt, const char *root)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    return strncmp(mnt, root, rl) == 0 && (mnt[rl] == '\0' || mnt[rl] == '/');
}

static int same_dir(const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b);
    while (al > 1 && a[al - 1] == '/')
        al--;
    while (bl > 1 && b[bl - 1] == '/')
        bl--;
    return al == bl && strncmp(a, b, al) == 0;
}

static void describe_missing(struct cm_cgroups *cg)
{
    static const int wanted[] = {CM_CG_CPU, CM_CG_MEMORY, CM_CG_PIDS, CM_CG_FREEZER};
    char list[128] = "";
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        if (cg->usable & CM_CG_BIT(wanted[i]))
            continue;
        if (*list)
            strcat(list, ", ");
        strcat(list, ctl_names[wanted[i]]);
    }
    if (*list)
        snprintf(cg->missing, sizeof cg->missing, "cgroup v%d under %.100s lacks: %.60s",
                 (int)cg->version, cg->root, list);
    else
        cg->missing[0] = '\0';
}

int cm_cgroups_detect(const struct cm_cgroups_options *opts, struct cm_cgroups *cg, char *why,
                      size_t whylen)
{
    static const struct cm_cgroups_options defaults = {0};
    if (!opts)
        opts = &defaults;
    memset(cg, 0, sizeof *cg);
    const char *root = opts->root ? opts->root : "/sys/fs/cgroup";
    const char *croot = opts->cgroups_root ? opts->cgroups_root : "mesos";
    int rc = cm_cgroups_validate_root(croot, why, whylen);
    if (rc)
        return rc;
    if (strlen(root) >= sizeof cg->root || root[0] != '/')
        return cm_fail(CM_EINVAL, why, whylen, "cgroup hierarchy root '%s' is not absolute", root);
    strcpy(cg->root, root);
    strcpy(cg->cgroups_root, croot);
    cg->user_hz = opts->user_hz > 0 ? opts->user_hz : sysconf(_SC_CLK_TCK);
    if (cg->user_hz <= 0)
        cg->user_hz = 100;

    char *owned = NULL;
    const char *mi = opts->mountinfo;
    if (!mi) {
        rc = cm_cgroups_read_text("/proc/self/mountinfo", MOUNTINFO_MAX, &owned, why, whylen);
        if (rc)
            return rc;
        mi = owned;
    }

    char v2_mount[CM_CGROUPS_PATH_MAX] = "";
    unsigned v1 = 0;
    for (const char *line = mi; line && *line;) {
        const char *start = line, *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        line = nl ? nl + 1 : NULL;
        char tmp[4096];
        if (ll >= sizeof tmp)
            continue;
        memcpy(tmp, start, ll);
        tmp[ll] = '\0';
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        char *save = NULL, *f[5];
        int nf = 0;
        for (char *t = strtok_r(tmp, " ", &save); t && nf < 5; t = strtok_r(NULL, " ", &save))
            f[nf++] = t;
        if (nf < 5)
            continue;
        char *fstype = NULL, *superopts = NULL;
        for (char *t = strtok_r(NULL, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            if (strcmp(t, "-") == 0) {
                fstype = strtok_r(NULL, " ", &save);
                (void)strtok_r(NULL, " ", &save); /* source */
                superopts = strtok_r(NULL, " ", &save);
                break;
            }
        }
        if (!fstype)
            continue;
        char *mnt = f[4];
        unescape(mnt);
        if (!under_root(mnt, root))
            continue;
        if (strcmp(fstype, "cgroup2") == 0) {
            if (same_dir(mnt, root) && !*v2_mount && strlen(mnt) < sizeof v2_mount)
                strcpy(v2_mount, mnt);
            continue;
        }
        if (strcmp(fstype, "cgroup") != 0 || !superopts)
            continue;
        for (int c = 0; c < CM_CG_NCTL; c++) {
            if ((v1 & CM_CG_BIT(c)) || !has_token(superopts, ctl_names[c], ','))
                continue;
            if (set_base(cg, c, mnt, opts->self_cgroup, ctl_names[c]) == 0)
                v1 |= CM_CG_BIT(c);
        }
    }
    free(owned);

    const unsigned core = CM_CG_BIT(CM_CG_CPU) | CM_CG_BIT(CM_CG_MEMORY) | CM_CG_BIT(CM_CG_PIDS);
    if (v1 & core) {
        cg->version = CM_CGROUPS_V1;
        cg->usable = v1;
        describe_missing(cg);
        return 0;
    }
    for (int c = 0; c < CM_CG_NCTL; c++)
        cg->base[c][0] = '\0';
    if (!*v2_mount)
        return cm_fail(CM_ESTATE, why, whylen,
                       "no cgroup v1 cpu/memory/pids mounts and no cgroup2 mount at %s", root);

    /* v2: one base for everything. */
    char base[CM_CGROUPS_PATH_MAX];
    {
        struct cm_cgroups tmpcg;
        memset(&tmpcg, 0, sizeof tmpcg);
        if (set_base(&tmpcg, 0, v2_mount, opts->self_cgroup, NULL))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup2 base path is too long");
        strcpy(base, tmpcg.base[0]);
    }
    char path[CM_CGROUPS_PATH_MAX + 32], *text = NULL;
    if (join(path, sizeof path, base, "cgroup.controllers", NULL))
        return cm_fail(CM_ETOOBIG, why, whylen, "cgroup2 base path is too long");
    rc = cm_cgroups_read_text(path, STAT_MAX, &text, why, whylen);
    if (rc)
        return cm_fail(CM_ESTATE, why, whylen, "cgroup2 at %s has no readable %s", root, path);
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    cg->version = CM_CGROUPS_V2;
    if (has_token(text, "cpu", ' '))
        cg->usable |= CM_CG_BIT(CM_CG_CPU) | CM_CG_BIT(CM_CG_CPUACCT);
    if (has_token(text, "memory", ' '))
        cg->usable |= CM_CG_BIT(CM_CG_MEMORY);
    if (has_token(text, "pids", ' '))
        cg->usable |= CM_CG_BIT(CM_CG_PIDS);
    free(text);
    /* cgroup.freeze is core in v2 (no controller), present in every non-root cgroup. */
    cg->usable |= CM_CG_BIT(CM_CG_FREEZER);
    if (join(path, sizeof path, base, "cgroup.subtree_control", NULL) == 0 &&
        cm_cgroups_read_text(path, STAT_MAX, &text, NULL, 0) == 0) {
        nl = strchr(text, '\n');
        if (nl)
            *nl = '\0';
        for (int c = 0; c < CM_CG_NCTL; c++)
            if (has_token(text, ctl_names[c], ' '))
                cg->enabled |= CM_CG_BIT(c);
        free(text);
    }
    for (int c = 0; c < CM_CG_NCTL; c++)
        if (cg->usable & CM_CG_BIT(c))
            strcpy(cg->base[c], base);
    describe_missing(cg);
    if (!(cg->usable & core))
        return cm_fail(CM_ESTATE, why, whylen, "%s", cg->missing);
    return 0;
}

/* ---- per container ---- */

int cm_cgroups_path(const struct cm_cgroups *cg, enum cm_cgroups_ctl ctl, const char *id, char *buf,
                    size_t len)
{
    if ((unsigned)ctl >= CM_CG_NCTL || !(cg->usable & CM_CG_BIT(ctl)))
        return CM_ENOTFOUND;
    return join(buf, len, cg->base[ctl], cg->cgroups_root, id);
}

/* True when ctl's directory is the same as an earlier controller's (co-mounted in v1, or
 * everything in v2), so it is handled once. */
int cm_cgroups_duplicate(const struct cm_cgroups *cg, int ctl)
{
    for (int c = 0; c < ctl; c++)
        if ((cg->usable & CM_CG_BIT(c)) && strcmp(cg->base[c], cg->base[ctl]) == 0)
            return 1;
    return 0;
}

int cm_cgroups_check(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen)
{
    if (cg->version == CM_CGROUPS_NONE)
        return cm_fail(CM_ESTATE, why, whylen, "cgroups were not detected");
    return cm_cgroups_validate_id(id, why, whylen);
}

/* Whether fds (cm_cgroups_open_roots) has ctl's root directory open. */
static int have_root(const struct cm_cgroups *cg, const int *fds, int ctl)
{
    return fds && cg->version == CM_CGROUPS_V1 && fds[ctl] >= 0;
}

static int mkdir_ok(const char *path, char *why, size_t whylen)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    int err = -errno;
    return cm_fail(err, why, whylen, "mkdir %s: %s", path, strerror(-err));
}

/* Builds the v2 subtree_control text "+cpu +memory +pids" for the usable controllers. */
static void v2_enable_text(const struct cm_cgroups *cg, char *buf, size_t len)
{
    static const int ctls[] = {CM_CG_CPU, CM_CG_MEMORY, CM_CG_PIDS};
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof ctls / sizeof ctls[0]; i++) {
        if (!(cg->usable & CM_CG_BIT(ctls[i])))
            continue;
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, "%s+%s", l ? " " : "", ctl_names[ctls[i]]);
    }
}

int cm_cgroups_create(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen)
{
    return cm_cgroups_create_at(cg, NULL, id, why, whylen);
}

int cm_cgroups_create_at(const struct cm_cgroups *cg, const int *fds, const char *id, char *why,
                         size_t whylen)
{
    int rc = cm_cgroups_check(cg, id, why, whylen);
    if (rc)
        return rc;
    char path[CM_CGROUPS_PATH_MAX], ctlfile[CM_CGROUPS_PATH_MAX + 32];
    if (cg->version == CM_CGROUPS_V2 && strchr(id, '/'))
        return cm_fail(-ENOTSUP, why, whylen,
                       "nested cgroups ('%s') are not supported with cgroup v2", id);
    if (cg->version == CM_CGROUPS_V2) {
        /* Walk from the base down, enabling controllers in each parent before descending. */
        char enable[64];
        v2_enable_text(cg, enable, sizeof enable);
        const char *base = cg->base[CM_CG_CPU][0] ? cg->base[CM_CG_CPU] : cg->base[CM_CG_MEMORY];
        if (!*base)
            base = cg->base[CM_CG_PIDS];
        if (join(path, sizeof path, base, cg->cgroups_root, id))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", id);
        size_t blen = strlen(base);
        for (char *p = path + blen + 1;; p++) {
            int last = *p == '\0';
            if (*p != '/' && !last)
                continue;
            char saved = *p;
            *p = '\0';
            /* The parent of this level is everything before the last '/'. */
            char *slash = strrchr(path, '/');
            *slash = '\0';
            int n = snprintf(ctlfile, sizeof ctlfile, "%s/cgroup.subtree_control", path);
            *slash = '/';
            if (n < 0 || (size_t)n >= sizeof ctlfile)
                return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path is too long");
            if (*enable && (rc = cm_cgroups_write_text(ctlfile, enable, why, whylen)) != 0)
                return rc;
            if ((rc = mkdir_ok(path, why, whylen)) != 0)
                return rc;
            *p = saved;
            if (last)
                break;
        }
        return 0;
    }
    for (int c = 0; c < CM_CG_NCTL; c++) {
        if (!(cg->usable & CM_CG_BIT(c)) || cm_cgroups_duplicate(cg, c))
            continue;
        if (cm_cgroups_path(cg, c, id, path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", id);
        /* The container's level first: the cgroups_root levels exist after the first launch,
         * and an mkdir that answers EEXIST costs a path walk per hierarchy and launch. */
        if (have_root(cg, fds, c) && !strchr(id, '/') &&
            (mkdirat(fds[c], id, 0755) == 0 || errno == EEXIST))
            continue;
        if (mkdir(path, 0755) == 0 || errno == EEXIST)
            continue;
        if (errno != ENOENT)
            return cm_fail(-errno, why, whylen, "mkdir %s: %s", path, strerror(errno));
        /* Intermediate cgroups_root levels first; mkdir -p semantics. */
        size_t blen = strlen(cg->base[c]);
        for (char *p = path + blen + 1; *p; p++) {
            if (*p != '/')
                continue;
            *p = '\0';
            rc = mkdir_ok(path, why, whylen);
            *p = '/';
            if (rc)
                return rc;
        }
        if ((rc = mkdir_ok(path, why, whylen)) != 0)
            return rc;
    }
    return 0;
}

int cm_cgroups_rename(const struct cm_cgroups *cg, const char *from, const char *to, char *why,
                      size_t whylen)
{
    int rc = cm_cgroups_check(cg, from, why, whylen);
    if (!rc)
        rc = cm_cgroups_check(cg, to, why, whylen);
    if (rc)
        return rc;
    if (strchr(from, '/') || strchr(to, '/'))
        return cm_fail(CM_EINVAL, why, whylen, "nested cgroups are not renamed");
    char a[CM_CGROUPS_PATH_MAX], b[CM_CGROUPS_PATH_MAX];
    for (int c = 0; c < CM_CG_NCTL; c++) {
        if (!(cg->usable & CM_CG_BIT(c)) || cm_cgroups_duplicate(cg, c))
            continue;
        if (cm_cgroups_path(cg, c, from, a, sizeof a) || cm_cgroups_path(cg, c, to, b, sizeof b))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", to);
        if (rename(a, b) != 0)
            return cm_fail(-errno, why, whylen, "Failed to rename %s to %s: %s", a, b,
                           strerror(errno));
    }
    return 0;
}

/* Writes text to <container dir of ctl>/<file>: relative to ctl's root directory when fds has
 * it open, else by its full path. */
static int write_ctl(const struct cm_cgroups *cg, const int *fds, int ctl, const char *id,
                     const char *file, const char *text, char *why, size_t whylen)
{
    char dir[CM_CGROUPS_PATH_MAX], path[CM_CGROUPS_PATH_MAX + 64];
    if (have_root(cg, fds, ctl)) {
        char rel[CM_CGROUPS_PATH_MAX];
        if (join(rel, sizeof rel, id, file, NULL))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", id);
        int fd = openat(fds[ctl], rel, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            size_t len = strlen(text);
            ssize_t w;
            do {
                w = write(fd, text, len);
            } while (w < 0 && errno == EINTR);
            int err = w < 0 ? errno : 0;
            close(fd);
            if (w >= 0 && (size_t)w == len)
                return 0;
            if (cm_cgroups_ctl_file(cg, ctl, id, file, path, sizeof path))
                snprintf(path, sizeof path, "%s", rel);
            if (w >= 0)
                return cm_fail(-EIO, why, whylen, "short write to %s", path);
            return cm_fail(-err, why, whylen, "write '%s' to %s: %s", text, path, strerror(err));
        }
        /* Fall through: the full path reports the error with its name. */
    }
    if (cm_cgroups_path(cg, ctl, id, dir, sizeof dir) || join(path, sizeof path, dir, file, NULL))
        return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path for '%s' is too long", id);
    return cm_cgroups_write_text(path, text, why, whylen);
}

int cm_cgroups_open_roots(const struct cm_cgroups *cg, int fds[CM_CG_NCTL])
{
    int n = 0;
    for (int c = 0; c < CM_CG_NCTL; c++) {
        fds[c] = -1;
        char dir[CM_CGROUPS_PATH_MAX];
        if (cg->version != CM_CGROUPS_V1 || !(cg->usable & CM_CG_BIT(c)) ||
            cm_cgroups_path(cg, c, NULL, dir, sizeof dir))
            continue;
        fds[c] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        n += fds[c] >= 0;
    }
    return n;
}

void cm_cgroups_close_roots(int fds[CM_CG_NCTL])
{
    for (int c = 0; c < CM_CG_NCTL; c++) {
        if (fds[c] >= 0)
            close(fds[c]);
        fds[c] = -1;
    }
}

int cm_cgroups_ctl_file(const struct cm_cgroups *cg, int ctl, const char *id, const char *file,
                        char *path, size_t len)
{
    char dir[CM_CGROUPS_PATH_MAX];
    int rc = cm_cgroups_path(cg, ctl, id, dir, sizeof dir);
    return rc ? rc : join(path, len, dir, file, NULL);
}

int cm_cgroups_set_limits(const struct cm_cgroups *cg, const char *id,
                          const struct cm_cgroups_limits *l, char *why, size_t whylen)
{
    return cm_cgroups_set_limits_at(cg, NULL, id, l, why, whylen);
}

int cm_cgroups_set_limits_at(const struct cm_cgroups *cg, const int *fds, const char *id,
                             const struct cm_cgroups_limits *l, char *why, size_t whylen)
{
    int rc = cm_cgroups_check(cg, id, why, whylen);
    if (rc)
        return rc;
    char val[64];
    int v2 = cg->version == CM_CGROUPS_V2;
    if (l->cpus > 0 && (cg->usable & CM_CG_BIT(CM_CG_CPU))) {
        uint64_t shares = cm_cgroups_cpu_shares(l->cpus);
        if (v2) {
            snprintf(val, sizeof val, "%llu", (unsigned long long)cm_cgroups_cpu_weight(shares));
            rc = write_ctl(cg, fds, CM_CG_CPU, id, "cpu.weight", val, why, whylen);
        } else {
            snprintf(val, sizeof val, "%llu", (unsigned long long)shares);
            rc = write_ctl(cg, fds, CM_CG_CPU, id, "cpu.shares", val, why, whylen);
        }
        if (rc)
            return rc;
        if (l->cfs_quota) {
            uint64_t quota = cm_cgroups_cfs_quota(l->cpus, CM_CGROUPS_CFS_PERIOD_US);
            if (v2) {
                snprintf(val, sizeof val, "%llu %d", (unsigned long long)quota,
                         CM_CGROUPS_CFS_PERIOD_US);
                rc = write_ctl(cg, fds, CM_CG_CPU, id, "cpu.max", val, why, whylen);
            } else {
                snprintf(val, sizeof val, "%d", CM_CGROUPS_CFS_PERIOD_US);
                rc = write_ctl(cg, fds, CM_CG_CPU, id, "cpu.cfs_period_us", val, why, whylen);
                if (!rc) {
                    snprintf(val, sizeof val, "%llu", (unsigned long long)quota);
                    rc = write_ctl(cg, fds, CM_CG_CPU, id, "cpu.cfs_quota_us", val, why, whylen);
                }
            }
            if (rc)
                return rc;
        }
    }
    if (l->mem_bytes && (cg->usable & CM_CG_BIT(CM_CG_MEMORY))) {
        snprintf(val, sizeof val, "%llu", (unsigned long long)l->mem_bytes);
        if (v2) {
            rc = write_ctl(cg, fds, CM_CG_MEMORY, id, "memory.max", val, why, whylen);
        } else {
            rc = write_ctl(cg, fds, CM_CG_MEMORY, id, "memory.soft_limit_in_bytes", val, why,
                           whylen);
            if (!rc)
                rc =
                    write_ctl(cg, fds, CM_CG_MEMORY, id, "memory.limit_in_bytes", val, why, whylen);
        }
        /* memsw must not go below limit_in_bytes, so it is written after it. */
        if (!rc && l->limit_swap)
            rc = v2 ? write_ctl(cg, fds, CM_CG_MEMORY, id, "memory.swap.max", "0", why, whylen)
                    : write_ctl(cg, fds, CM_CG_MEMORY, id, "memory.memsw.limit_in_bytes", val, why,
                                whylen);
        if (rc)
            return rc;
    }
    if (l->pids_max && (cg->usable & CM_CG_BIT(CM_CG_PIDS))) {
        snprintf(val, sizeof val, "%llu", (unsigned long long)l->pids_max);
        rc = write_ctl(cg, fds, CM_CG_PIDS, id, "pids.max", val, why, whylen);
        if (rc)
            return rc;
    }
    return 0;
}

int cm_cgroups_add_pid(const struct cm_cgroups *cg, const char *id, pid_t pid, char *why,
                       size_t whylen)
{
    return cm_cgroups_add_pid_at(cg, NULL, id, pid, why, whylen);
}

int cm_cgroups_add_pid_at(const struct cm_cgroups *cg, const int *fds, const char *id, pid_t pid,
                          char *why, size_t whylen)
{
    int rc = cm_cgroups_check(cg, id, why, whylen);
    if (rc)
        return rc;
    char val[32];
    snprintf(val, sizeof val, "%ld", (long)pid);
    for (int c = 0; c < CM_CG_NCTL; c++) {
        if (!(cg->usable & CM_CG_BIT(c)) || cm_cgroups_duplicate(cg, c))
            continue;
        if ((rc = write_ctl(cg, fds, c, id, "cgroup.procs", val, why, whylen)) != 0)
            return rc;
    }
    return 0;
}

int cm_cgroups_usage(const struct cm_cgroups *cg, const char *id, struct cm_cgroups_usage *u,
                     char *why, size_t whylen)
{
    memset(u, 0, sizeof *u);
    int rc = cm_cgroups_check(cg, id, why, whylen);
    if (rc)
        return rc;
    char path[CM_CGROUPS_PATH_MAX + 64];
    int v2 = cg->version == CM_CGROUPS_V2;
    if (v2 && (cg->usable & CM_CG_BIT(CM_CG_CPU))) {
        static const char *const keys[] = {"usage_usec", "user_usec",    "system_usec",
                                           "nr_periods", "nr_throttled", "throttled_usec"};
        uint64_t v[6];
        if (cm_cgroups_ctl_file(cg, CM_CG_CPU, id, "cpu.stat", path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path too long");
        /* nr_* only exist with the cpu controller enabled; usage_usec always does. */
        if ((rc = read_keys(path, keys, v, 3, 1, why, whylen)) != 0 ||
            (rc = read_keys(path, keys + 3, v + 3, 3, 0, why, whylen)) != 0)
            return rc;
        u->cpus_user_time_secs = (double)v[1] / 1e6;
        u->cpus_system_time_secs = (double)v[2] / 1e6;
        u->cpus_nr_periods = v[3];
        u->cpus_nr_throttled = v[4];
        u->cpus_throttled_time_secs = (double)v[5] / 1e6;
        u->have |= CM_CG_BIT(CM_CG_CPU) | CM_CG_BIT(CM_CG_CPUACCT);
    }
    if (!v2 && (cg->usable & CM_CG_BIT(CM_CG_CPUACCT))) {
        static const char *const keys[] = {"user", "system"};
        uint64_t v[2];
        if (cm_cgroups_ctl_file(cg, CM_CG_CPUACCT, id, "cpuacct.stat", path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path too long");
        if ((rc = read_keys(path, keys, v, 2, 1, why, whylen)) != 0)
            return rc;
        u->cpus_user_time_secs = (double)v[0] / (double)cg->user_hz;
        u->cpus_system_time_secs = (double)v[1] / (double)cg->user_hz;
        u->have |= CM_CG_BIT(CM_CG_CPUACCT);
    }
    if (!v2 && (cg->usable & CM_CG_BIT(CM_CG_CPU))) {
        static const char *const keys[] = {"nr_periods", "nr_throttled", "throttled_time"};
        uint64_t v[3];
        if (cm_cgroups_ctl_file(cg, CM_CG_CPU, id, "cpu.stat", path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path too long");
        if ((rc = read_keys(path, keys, v, 3, 1, why, whylen)) != 0)
            return rc;
        u->cpus_nr_periods = v[0];
        u->cpus_nr_throttled = v[1];
        u->cpus_throttled_time_secs = (double)v[2] / 1e9; /* nanoseconds in v1 */
        u->have |= CM_CG_BIT(CM_CG_CPU);
    }
    if (cg->usable & CM_CG_BIT(CM_CG_MEMORY)) {
        if (cm_cgroups_ctl_file(cg, CM_CG_MEMORY, id,
                                v2 ? "memory.current" : "memory.usage_in_bytes", path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path too long");
        if ((rc = read_u64_file(path, &u->mem_total_bytes, why, whylen)) != 0)
            return rc;
        static const char *const k1[] = {"rss", "cache"}, *const k2[] = {"anon", "file"};
        uint64_t v[2];
        if (cm_cgroups_ctl_file(cg, CM_CG_MEMORY, id, "memory.stat", path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path too long");
        if ((rc = read_keys(path, v2 ? k2 : k1, v, 2, 1, why, whylen)) != 0)
            return rc;
        u->mem_rss_bytes = v[0];
        u->mem_cache_bytes = v[1];
        u->have |= CM_CG_BIT(CM_CG_MEMORY);
    }
    if (cg->usable & CM_CG_BIT(CM_CG_PIDS)) {
        if (cm_cgroups_ctl_file(cg, CM_CG_PIDS, id, "pids.current", path, sizeof path))
            return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path too long");
        if ((rc = read_u64_file(path, &u->pids_current, why, whylen)) != 0)
            return rc;
        u->have |= CM_CG_BIT(CM_CG_PIDS);
    }
    return 0;
}

int cm_cgroups_oom(const struct cm_cgroups *cg, const char *id, struct cm_cgroups_oom *o, char *why,
                   size_t whylen)
{
    memset(o, 0, sizeof *o);
    int rc = cm_cgroups_check(cg, id, why, whylen);
    if (rc)
        return rc;
    if (!(cg->usable & CM_CG_BIT(CM_CG_MEMORY)))
        return cm_fail(CM_ESTATE, why, whylen, "the memory controller is not usable");
    char path[CM_CGROUPS_PATH_MAX + 64], *text;
    if (cm_cgroups_ctl_file(cg, CM_CG_MEMORY, id,
                            cg->version == CM_CGROUPS_V2 ? "memory.events" : "memory.oom_control",
                            path, sizeof path))
        return cm_fail(CM_ETOOBIG, why, whylen, "cgroup path too long");
    if ((rc = cm_cgroups_read_text(path, STAT_MAX, &text, why, whylen)) != 0)
        return rc;
    int have_kill = find_key(text, "oom_kill", &o->oom_kill) == 0;
    uint64_t under = 0;
    if (cg->version == CM_CGROUPS_V1 && find_key(text, "under_oom", &under) == 0)
        o->under_oom = under != 0;
    free(text);
    if (cg->version == CM_CGROUPS_V2) {
        if (!have_kill)
            return cm_fail(CM_EPARSE, why, whylen, "%s: no valid 'oom_kill' line", path);
        o->oomed = o->oom_kill > 0;
        return 0;
    }
    if (cm_cgroups_ctl_file(cg, CM_CG_MEMORY, id, "memory.failcnt", path, sizeof path) == 0 &&
        cm_cgroups_exists(path))
        (void)read_u64_file(path, &o->failcnt, NULL, 0);
    /* Kernels before 4.13 have no oom_kill counter; a hit limit is the best evidence then. */
    o->oomed = o->oom_kill > 0 || o->under_oom || (!have_kill && o->failcnt > 0);
    return 0;
}

/* Appends name unless seen holds it (the same container in several hierarchies). A map, not a
 * scan of the list: an agent can start next to thousands of cgroups left by others. */
static void list_add(char ***ids, size_t *n, size_t *cap, struct cm_strmap *seen, const char *name)
{
    if (cm_strmap_get(seen, name))
        return;
    if (*n + 2 > *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **ni = realloc(*ids, nc * sizeof *ni);
        if (!ni)
            abort();
        *ids = ni;
        *cap = nc;
    }
    (*ids)[*n] = strdup(name);
    if (!(*ids)[*n])
        abort();
    cm_strmap_put(seen, name, (*ids)[*n]);
    (*n)++;
    (*ids)[*n] = NULL;
}

void cm_cgroups_list_free(char **ids)
{
    if (!ids)
        return;
    for (char **p = ids; *p; p++)
        free(*p);
    free(ids);
}

int cm_cgroups_list(const struct cm_cgroups *cg, char ***ids, size_t *n, char *why, size_t whylen)
{
    *ids = NULL;
    *n = 0;
    if (cg->version == CM_CGROUPS_NONE)
        return cm_fail(CM_ESTATE, why, whylen, "cgroups were not detected");
    size_t cap = 0;
    char **out = calloc(1, sizeof *out);
    if (!out)
        abort();
    cap = 1;
    struct cm_strmap seen;
    cm_strmap_init(&seen);
    char dir[CM_CGROUPS_PATH_MAX];
    for (int c = 0; c < CM_CG_NCTL; c++) {
        if (!(cg->usable & CM_CG_BIT(c)) || cm_cgroups_duplicate(cg, c))
            continue;
        if (cm_cgroups_path(cg, c, NULL, dir, sizeof dir))
            continue;
        DIR *d = opendir(dir);
        if (!d) {
            if (errno == ENOENT)
                continue;
            int err = -errno;
            cm_cgroups_list_free(out);
            cm_strmap_cleanup(&seen);
            *n = 0;
            return cm_fail(err, why, whylen, "opendir %s: %s", dir, strerror(-err));
        }
        int dfd = dirfd(d);
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (cm_cgroups_validate_id(e->d_name, NULL, 0) != 0)
                continue;
            /* cgroupfs reports the type; stat only where a file system does not. */
            struct stat st;
            if (e->d_type != DT_DIR &&
                (e->d_type != DT_UNKNOWN ||
                 fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)))
                continue;
            list_add(&out, n, &cap, &seen, e->d_name);
        }
        closedir(d);
    }
    cm_strmap_cleanup(&seen);
    *ids = out;
    return 0;
}
