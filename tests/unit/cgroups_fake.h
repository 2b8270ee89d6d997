/*
 * cgroups_fake.h: fake cgroup v1/v2 trees under a temporary root for the cgroups unit tests
 * (test_agent_cgroups.c, test_agent_cgroups_nested.c): mountinfo text for each layout, file
 * helpers, detection against the fake root and the path of a container's cgroup.
 *
 * Each test program includes it once; fresh_root() makes a new empty root (removing the last
 * one) and drop_root() removes it. why holds the last error text of detect().
 */
#ifndef CM_TEST_CGROUPS_FAKE_H
#define CM_TEST_CGROUPS_FAKE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "containerizer/cgroups.h"

static char tmproot[256];
static char why[512];

static inline void mk(const char *fmt, const char *a)
{
    char p[1024];
    snprintf(p, sizeof p, fmt, tmproot, a);
    mkdir(p, 0755);
}

static inline void put(const char *dir, const char *file, const char *text)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    if (!f) {
        fprintf(stderr, "cannot create %s\n", p);
        return;
    }
    fputs(text, f);
    fclose(f);
}

/* Returns the file's text (static buffer, trailing newline stripped) or "" if unreadable. */
static inline const char *get(const char *dir, const char *file)
{
    static char buf[4096];
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    buf[0] = '\0';
    FILE *f = fopen(p, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return buf;
}

static inline int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void fresh_root(void)
{
    if (tmproot[0])
        nftw(tmproot, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(tmproot, sizeof tmproot, "/tmp/cm-cgtest-XXXXXX");
    if (!mkdtemp(tmproot)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline void drop_root(void)
{
    if (tmproot[0])
        nftw(tmproot, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmproot[0] = '\0';
}

/* A v1 hybrid layout like this machine: separate cpu and cpuacct, plus a cgroup2 "unified". */
static inline char *v1_mountinfo(int comount, int with_pids_freezer)
{
    static char mi[4096];
    static const char *const ctls[] = {"cpu", "cpuacct", "memory", "pids", "freezer", "unified"};
    int n = snprintf(mi, sizeof mi,
                     "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                     "31 23 0:28 / %s rw - tmpfs tmpfs rw,mode=755\n",
                     tmproot);
    if (comount) {
        mk("%s/%s", "cpu,cpuacct");
        n += snprintf(mi + n, sizeof mi - n,
                      "32 31 0:29 / %s/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
                      "rw,cpu,cpuacct\n",
                      tmproot);
    }
    for (size_t i = comount ? 2 : 0; i < 6; i++) {
        if (!with_pids_freezer && (i == 3 || i == 4))
            continue;
        mk("%s/%s", ctls[i]);
        if (i == 5)
            n += snprintf(mi + n, sizeof mi - n,
                          "41 31 0:38 / %s/unified rw,relatime - cgroup2 cgroup2 rw\n", tmproot);
        else
            n += snprintf(mi + n, sizeof mi - n,
                          "%zu 31 0:%zu / %s/%s rw,relatime - cgroup cgroup rw,%s\n", 32 + i,
                          29 + i, tmproot, ctls[i], ctls[i]);
    }
    /* A mount elsewhere must be ignored. */
    snprintf(mi + n, sizeof mi - n,
             "50 22 0:40 / /elsewhere/memory rw - cgroup cgroup rw,memory\n");
    return mi;
}

static inline char *v2_mountinfo(void)
{
    static char mi[1024];
    snprintf(mi, sizeof mi,
             "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
             "30 22 0:27 / %s rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
             "rw,nsdelegate\n",
             tmproot);
    put(tmproot, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(tmproot, "cgroup.subtree_control", "cpu memory\n");
    return mi;
}

static inline int detect(const char *mi, const char *croot, struct cm_cgroups *cg)
{
    struct cm_cgroups_options o = {
        .root = tmproot, .mountinfo = mi, .cgroups_root = croot, .user_hz = 100};
    return cm_cgroups_detect(&o, cg, why, sizeof why);
}

static inline const char *cdir(const struct cm_cgroups *cg, enum cm_cgroups_ctl ctl, const char *id)
{
    static char p[CM_CGROUPS_PATH_MAX];
    if (cm_cgroups_path(cg, ctl, id, p, sizeof p) != 0)
        return "";
    return p;
}

static inline int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

#endif
