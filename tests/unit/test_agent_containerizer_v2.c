/*
 * test_agent_containerizer_v2.c: cloning a container straight into its cgroup v2 (clone3 with
 * CLONE_INTO_CGROUP) instead of joining it after the clone.
 *
 * The decision (cm_spawner_clone_into_cgroup) is pure and tested everywhere. The mechanism is
 * tested for real where the machine has a cgroup2 mount and a kernel with the flag, as root:
 * the launcher alone (and its error for a bad cgroup descriptor), and the launch helper with a
 * v2 layout on that mount (no controllers needed: a launch without limits), whose container
 * must report the new cgroup as its own in /proc/self/cgroup. A v1 machine's hybrid cgroup2
 * mount (e.g. /sys/fs/cgroup/unified) serves. Elsewhere those cases are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerizer/cgroups.h"
#include "containerizer/containerizer.h"
#include "containerizer/spawner.h"
#include "errors.h"
#include "test.h"

static char why[512];
static char tmpdir[256];
static char cg2[512];    /* the cgroup2 mount point, "" when none */
static char cgname[64];  /* our directory under it */
static char cgpath[640]; /* cg2/cgname */

/* Copies src into out when it fits; else leaves "". */
static void copy(char *out, size_t len, const char *src)
{
    size_t n = strlen(src);
    out[0] = '\0';
    if (n < len)
        memcpy(out, src, n + 1);
}

static void v2_config(struct cm_spawn_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->join = 1;
    cfg->use_cgroups = 1;
    cfg->cg.version = CM_CGROUPS_V2;
    cfg->cg.usable = CM_CG_BIT(CM_CG_CPU) | CM_CG_BIT(CM_CG_MEMORY) | CM_CG_BIT(CM_CG_PIDS);
    for (int c = CM_CG_CPU; c <= CM_CG_PIDS; c++)
        if (c != CM_CG_CPUACCT)
            snprintf(cfg->cg.base[c], sizeof cfg->cg.base[c], "/sys/fs/cgroup");
    snprintf(cfg->cg.cgroups_root, sizeof cfg->cg.cgroups_root, "mesos");
}

static void test_decision(void)
{
    struct cm_spawn_config cfg;
    v2_config(&cfg);
    cfg.limit_cpu = cfg.limit_mem = cfg.limit_pids = 1;
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 1);
    /* A kernel without clone3's CLONE_INTO_CGROUP. */
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 0), 0);
    /* cgroup v1: the child joins each hierarchy after the clone. */
    cfg.cg.version = CM_CGROUPS_V1;
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
    cfg.cg.version = CM_CGROUPS_NONE;
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
    /* No cgroups at all, or no join step. */
    v2_config(&cfg);
    cfg.use_cgroups = 0;
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
    v2_config(&cfg);
    cfg.join = 0;
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
    /* A limit whose controller is missing: the join in the child reports it, as on v1. */
    v2_config(&cfg);
    cfg.limit_mem = 1;
    cfg.cg.usable &= ~CM_CG_BIT(CM_CG_MEMORY);
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
    cfg.limit_mem = 0; /* not asked for: fine without it */
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 1);
    v2_config(&cfg);
    cfg.limit_pids = 1;
    cfg.cg.usable &= ~CM_CG_BIT(CM_CG_PIDS);
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
    v2_config(&cfg);
    cfg.limit_cpu = 1;
    cfg.cg.usable &= ~CM_CG_BIT(CM_CG_CPU);
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
    /* No directory to make the cgroup in. */
    v2_config(&cfg);
    for (int c = 0; c < CM_CG_NCTL; c++)
        cfg.cg.base[c][0] = '\0';
    CHECK_INT(cm_spawner_clone_into_cgroup(&cfg, 1), 0);
}

/* The first cgroup2 mount in the mount table, or "". */
static void find_cgroup2(char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        /* id parent maj:min root mountpoint options ... - fstype source superoptions */
        char root[1024], mnt[1024];
        const char *dash = strstr(line, " - ");
        if (!dash || strncmp(dash + 3, "cgroup2 ", 8) != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) == 2 && strcmp(root, "/") == 0) {
            copy(out, len, mnt);
            break;
        }
    }
    fclose(f);
}

/* Whether the real cases can run; says why not on stderr. */
static int real_usable(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "  (needs root)\n");
        return 0;
    }
    if (!cg2[0]) {
        fprintf(stderr, "  (no cgroup2 mount)\n");
        return 0;
    }
    if (!cm_launcher_clone_into_cgroup_usable()) {
        fprintf(stderr, "  (the kernel has no clone3 CLONE_INTO_CGROUP)\n");
        return 0;
    }
    return 1;
}

/* Reads the "0::<path>" line of a /proc/<pid>/cgroup text saved in file. */
static int v2_line(const char *file, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(file, "re");
    if (!f)
        return -1;
    char line[1024];
    int found = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            copy(out, len, line + 3);
            found = 0;
        }
    fclose(f);
    return found;
}

static void test_launcher_clones_into_cgroup(void)
{
    if (!real_usable())
        SKIP_CASE("needs root, a cgroup2 mount and clone3 with CLONE_INTO_CGROUP");
    char dir[768], out[512], err[512];
    snprintf(dir, sizeof dir, "%s/direct", cgpath);
    REQUIRE(mkdir(dir, 0755) == 0);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    snprintf(out, sizeof out, "%s/direct.out", tmpdir);
    snprintf(err, sizeof err, "%s/direct.err", tmpdir);
    char *argv[] = {"/bin/cat", "/proc/self/cgroup", NULL};
    char *envp[] = {NULL};
    struct cm_launch_spec spec = {.container_id = "direct",
                                  .argv = argv,
                                  .envp = envp,
                                  .cwd = tmpdir,
                                  .stdout_path = out,
                                  .stderr_path = err};
    struct cm_launch_ctx ctx = {.into_cgroup = 1, .cgroup_fd = fd};
    pid_t pid = -1;
    int rc = cm_launcher_spawn(&spec, &ctx, &pid, why, sizeof why);
    close(fd);
    CHECK_INT(rc, 0);
    REQUIRE(pid > 0);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char got[512], want[768];
    CHECK_INT(v2_line(out, got, sizeof got), 0);
    snprintf(want, sizeof want, "/%s/direct", cgname);
    CHECK_STR(got, want);
    CHECK(rmdir(dir) == 0);

    /* A bad descriptor is the clone's error, with the step named. */
    struct cm_launch_ctx bad = {.into_cgroup = 1, .cgroup_fd = 1000000};
    pid = -1;
    rc = cm_launcher_spawn(&spec, &bad, &pid, why, sizeof why);
    CHECK_INT(rc, -EBADF);
    CHECK(strstr(why, "Failed to clone the executor") != NULL);
    CHECK_INT(pid, -1);
}

/* The helper's path: a v2 layout on the cgroup2 mount; the helper makes the container's
 * cgroup and clones into it (in new pid and mount namespaces where that works). */
static void test_helper_clones_into_cgroup(void)
{
    if (!real_usable())
        SKIP_CASE("needs root, a cgroup2 mount and clone3 with CLONE_INTO_CGROUP");
    struct cm_spawn_config *cfg = calloc(1, sizeof *cfg);
    REQUIRE(cfg != NULL);
    cfg->join = 1;
    cfg->use_cgroups = 1;
    cfg->clone_flags = cm_launcher_linux_usable() ? (CLONE_NEWPID | CLONE_NEWNS) : 0;
    cfg->cg.version = CM_CGROUPS_V2;
    cfg->cg.usable = 0; /* no limits, so no controller is needed */
    snprintf(cfg->cg.base[CM_CG_CPU], sizeof cfg->cg.base[CM_CG_CPU], "%s", cg2);
    snprintf(cfg->cg.cgroups_root, sizeof cfg->cg.cgroups_root, "%s", cgname);
    /* The record is appended once, by the helper (the child's join has nothing left to do). */
    char records[512];
    snprintf(records, sizeof records, "%s/containers.log", tmpdir);
    snprintf(cfg->records_log, sizeof cfg->records_log, "%s", records);
    CHECK_INT(cm_spawner_clone_into_cgroup(cfg, 1), 1);

    /* The lean program when the build has it beside this test, else a fork of the test. */
    char program[1024], self[768];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(program, sizeof program, "%s/%s", self, CM_SPAWNER_PROGRAM);
    struct cm_spawner *s = NULL;
    int rc = cm_spawner_new(cfg, access(program, X_OK) == 0 ? program : NULL, &s);
    free(cfg);
    REQUIRE(rc == 0);

    char out[512], err[512];
    snprintf(out, sizeof out, "%s/helper.out", tmpdir);
    snprintf(err, sizeof err, "%s/helper.err", tmpdir);
    char *argv[] = {"/bin/cat", "/proc/self/cgroup", NULL};
    char *envp[] = {NULL};
    struct cm_launch_spec spec = {.container_id = "c1",
                                  .argv = argv,
                                  .envp = envp,
                                  .cwd = tmpdir,
                                  .stdout_path = out,
                                  .stderr_path = err};
    struct cm_spawn_limits limits = {0.1, 32};
    pid_t pid = -1;
    int status_fd = -1;
    rc = cm_spawner_spawn(s, &spec, &limits, NULL, &pid, &status_fd, why, sizeof why);
    if (rc)
        fprintf(stderr, "  spawn: %s\n", why);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        /* The status pipe: "joined", then the EOF of the exec. */
        int joined = 0, st = -EAGAIN;
        for (int i = 0; i < 500 && st != 0 && (st == -EAGAIN || st == CM_LAUNCH_JOINED); i++) {
            struct pollfd p = {status_fd, POLLIN, 0};
            poll(&p, 1, 20);
            st = cm_launcher_read_status(status_fd, argv[0], why, sizeof why);
            joined += st == CM_LAUNCH_JOINED;
        }
        CHECK_INT(st, 0);
        CHECK_INT(joined, 1);
        close(status_fd);
        int ws = 0;
        CHECK(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        char got[512], want[768];
        CHECK_INT(v2_line(out, got, sizeof got), 0);
        snprintf(want, sizeof want, "/%s/c1", cgname);
        CHECK_STR(got, want);
        FILE *f = fopen(records, "re");
        char line[128], all[512] = "";
        while (f && fgets(line, sizeof line, f) && strlen(all) + strlen(line) < sizeof all)
            strcat(all, line);
        if (f)
            fclose(f);
        CHECK_STR(all, "+c1\n");
    }
    cm_spawner_free(s);
    char dir[768];
    snprintf(dir, sizeof dir, "%s/c1", cgpath);
    CHECK(rmdir(dir) == 0);
}

static void test_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cm-v2-XXXXXX");
    if (!mkdtemp(tmpdir))
        abort();
    find_cgroup2(cg2, sizeof cg2);
    snprintf(cgname, sizeof cgname, "cmtest-v2-%d", (int)getpid());
    snprintf(cgpath, sizeof cgpath, "%s/%s", cg2, cgname);
    if (cg2[0] && geteuid() == 0 && mkdir(cgpath, 0755) != 0)
        cg2[0] = '\0'; /* not writable here: the real cases skip */
}

static void test_cleanup(void)
{
    if (cg2[0])
        rmdir(cgpath);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

TEST_MAIN(FIXTURE(test_setup), TEST(test_decision), TEST(test_launcher_clones_into_cgroup),
          TEST(test_helper_clones_into_cgroup), FIXTURE(test_cleanup))
