/*
 * containerizer.c: the isolator table, the launcher choice, the per-container cgroup
 * lifecycle (create + limits before the launch, kill + remove after the reap), usage
 * statistics, the OOM limitation, and orphan cleanup from recorded container ids. With the
 * agent's loop, launches are asynchronous (the status pipe is an event) and teardowns run on
 * the timer-driven state machine of teardown.c.
 */
#include "containerizer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "cgroups.h"
#include "clock.h"
#include "cgpool.h"
#include "disk.h"
#include "errors.h"
#include "isolators.h"
#include "janitor.h"
#include "log.h"
#include "records.h"
#include "spawner.h"
#include "strmap.h"
#include "sweeper.h"
#include "teardown.h"
#include "util.h"

#define MOD "containerizer"
#define MAX_ISOLATORS 16
/* Mesos's floors for a container's limits. */
#define MIN_CPUS 0.01
#define MIN_MEM_MB 32.0

struct cm_containerizer {
    struct cm_containerizer_options opts;
    const struct cm_launcher_ops *launcher;
    const struct isolator *isolators[MAX_ISOLATORS];
    size_t nisolators;
    unsigned long clone_flags;
    unsigned cg_needed;
    bool use_cgroups;
    struct cm_cgroups cg;
    struct cm_records *records; /* with a runtime dir: launched ids (records.h) */
    char isolation[256];
    char description[768];
    struct cm_strmap containers; /* container id -> struct container */
    const struct cm_clock *clock;
    struct cm_teardowns *teardowns; /* with a base: reaped containers and orphans */
    struct cm_janitor *janitor;     /* with a base: removes cgroups off the loop */
    struct cm_strmap removals;      /* id -> struct removal, requests to the janitor */
    struct cm_sweeper *sweeper;     /* with a base, posix without pid namespace (sweeper.h) */
    struct cm_disk_watch *disk;     /* with a base and a disk watch interval (disk.h) */
    struct cm_spawner *spawner;     /* with a base: the launch helper (spawner.h) */
    struct cm_cgpool *pool;         /* with the janitor: cgroups made ahead (cgpool.h) */
};

/* A removal asked of the janitor, until the teardown collects its answer. */
struct removal {
    bool answered;
    int rc;
    char why[256];
};

static struct container *container_new(struct cm_containerizer *c, const char *id)
{
    struct container *ct = calloc(1, sizeof *ct);
    if (!ct)
        abort();
    ct->c = c;
    ct->id = strdup(id);
    if (!ct->id)
        abort();
    ct->status_fd = -1;
    return ct;
}

static void container_free(struct container *ct)
{
    if (!ct)
        return;
    if (ct->status_ev)
        event_free(ct->status_ev);
    if (ct->status_fd >= 0)
        close(ct->status_fd);
    free(ct->id);
    free(ct->argv0);
    free(ct->launch_error);
    free(ct->pool);
    free(ct);
}

static void container_free_void(void *p)
{
    container_free(p);
}

/* ---- construction ---- */

/* The helper program: beside the running one (the build tree), else in the installed libexec
 * directory relative to it or at its configured path, as the agent finds mesos-executor.
 * Leaves "" when there is none. */
static void find_helper_program(char *program, size_t len)
{
    char self[768];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    const char *dirs[3] = {slash ? self : NULL, NULL, NULL};
    char rel[1024] = "";
#ifdef CMESOS_LIBEXECDIR_FROM_SBIN
    if (slash) {
        snprintf(rel, sizeof rel, "%s/%s", self, CMESOS_LIBEXECDIR_FROM_SBIN);
        dirs[1] = rel;
    }
#endif
#ifdef CMESOS_LIBEXECDIR
    dirs[2] = CMESOS_LIBEXECDIR;
#endif
    for (size_t i = 0; i < 3; i++) {
        if (!dirs[i])
            continue;
        int w = snprintf(program, len, "%s/%s", dirs[i], CM_SPAWNER_PROGRAM);
        if (w > 0 && (size_t)w < len && access(program, X_OK) == 0)
            return;
    }
    program[0] = '\0';
}

/* The launch helper (spawner.h): the program unless the options name another; without it, a
 * fork of the agent while it is still small. */
static void start_spawner(struct cm_containerizer *c)
{
    struct cm_spawn_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        abort();
    cfg->clone_flags = c->clone_flags;
    cfg->join = c->use_cgroups || c->records;
    cfg->use_cgroups = c->use_cgroups;
    for (size_t i = 0; i < c->nisolators; i++) {
        const char *n = c->isolators[i]->name;
        cfg->limit_cpu |= strcmp(n, "cgroups/cpu") == 0;
        cfg->limit_mem |= strcmp(n, "cgroups/mem") == 0;
        cfg->limit_pids |= strcmp(n, "cgroups/pids") == 0;
    }
    cfg->cfs_quota = c->opts.cgroups_enable_cfs;
    cfg->limit_swap = c->opts.cgroups_limit_swap;
    cfg->max_pids = c->opts.cgroups_max_pids;
    cfg->cg = c->cg;
    if (c->records)
        snprintf(cfg->records_log, sizeof cfg->records_log, "%s", cm_records_log(c->records));
    char program[1024] = "";
    if (c->opts.launch_helper)
        snprintf(program, sizeof program, "%s", c->opts.launch_helper);
    else
        find_helper_program(program, sizeof program);
    int rc = cm_spawner_new(cfg, *program ? program : NULL, &c->spawner);
    free(cfg);
    if (rc)
        CM_WARN(MOD, "Failed to start the launch helper (%s); containers are cloned from the agent",
                cm_strerror(rc));
    else
        CM_INFO(MOD, "Launch helper started (pid %d, %s)", (int)cm_spawner_pid(c->spawner),
                cm_spawner_lean(c->spawner) ? program : "a fork of the agent");
}

static int add_isolators(struct cm_containerizer *c, const char *list, char *why, size_t whylen)
{
    char *copy = strdup(list);
    if (!copy)
        abort();
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (!*tok)
            continue;
        const struct isolator *iso = cm_isolator_find(tok);
        if (!iso) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "Unknown or unsupported isolator '%s' in --isolation (supported: "
                         "posix/cpu, posix/mem, posix/disk, cgroups/cpu, cgroups/mem, "
                         "cgroups/pids, namespaces/pid, namespaces/ipc, namespaces/uts, "
                         "filesystem/linux)",
                         tok);
            break;
        }
        bool dup = false;
        for (size_t i = 0; i < c->nisolators; i++)
            dup |= c->isolators[i] == iso;
        if (dup)
            continue;
        if (c->nisolators == MAX_ISOLATORS) {
            rc = cm_fail(CM_EINVAL, why, whylen, "Too many isolators in --isolation");
            break;
        }
        c->isolators[c->nisolators++] = iso;
        c->clone_flags |= iso->clone_flags;
        c->cg_needed |= iso->cgroups;
        size_t used = strlen(c->isolation);
        snprintf(c->isolation + used, sizeof c->isolation - used, "%s%s", used ? "," : "",
                 iso->name);
    }
    free(copy);
    return rc;
}

static int detect_cgroups(struct cm_containerizer *c, char *why, size_t whylen)
{
    struct cm_cgroups_options co = {
        .root = c->opts.cgroups_hierarchy,
        .cgroups_root = c->opts.cgroups_root,
        .mountinfo = c->opts.mountinfo,
    };
    int rc = cm_cgroups_detect(&co, &c->cg, why, whylen);
    if (rc)
        return rc;
    /* Mounted is not enough: an unprivileged agent could not create a container's cgroup. */
    unsigned check = c->cg_needed ? c->cg_needed : c->cg.usable; /* auto mode: all */
    for (int i = 0; i < CM_CG_NCTL; i++)
        if ((c->cg.usable & check & CM_CG_BIT(i)) && access(c->cg.base[i], W_OK) != 0)
            return cm_fail(CM_ESTATE, why, whylen, "cannot create cgroups under %s: %s",
                           c->cg.base[i], strerror(errno));
    return 0;
}

/* Auto mode: cgroups cpu/mem/pids where usable, a pid namespace where allowed, posix for the
 * rest. Writes the choice (and what was missing) into the description. */
static int choose_default(struct cm_containerizer *c, bool posix_only, char *why, size_t whylen)
{
    char cgwhy[256] = "";
    bool cg_ok = detect_cgroups(c, cgwhy, sizeof cgwhy) == 0;
    bool ns_ok = !posix_only && cm_launcher_linux_usable();
    char list[256] = "";
    bool cpu = cg_ok && (c->cg.usable & CM_CG_BIT(CM_CG_CPU));
    bool mem = cg_ok && (c->cg.usable & CM_CG_BIT(CM_CG_MEMORY));
    bool pids = cg_ok && (c->cg.usable & CM_CG_BIT(CM_CG_PIDS));
    snprintf(list, sizeof list, "%s,%s%s%s", cpu ? "cgroups/cpu" : "posix/cpu",
             mem ? "cgroups/mem" : "posix/mem", pids ? ",cgroups/pids" : "",
             ns_ok ? ",namespaces/pid" : "");
    int rc = add_isolators(c, list, why, whylen);
    if (rc)
        return rc;
    if (cpu && mem && pids && ns_ok) {
        snprintf(c->description, sizeof c->description,
                 "Using the default isolation '%s' with the %s launcher (cgroups v%d%s%s)",
                 c->isolation, ns_ok ? "linux" : "posix", (int)c->cg.version,
                 *c->cg.missing ? "; " : "", c->cg.missing);
    } else {
        snprintf(c->description, sizeof c->description,
                 "Falling back to isolation '%s' with the %s launcher: %s%s%s%s", c->isolation,
                 ns_ok ? "linux" : "posix", cg_ok ? "" : "cgroups are not usable (",
                 cg_ok ? (*c->cg.missing ? c->cg.missing : "") : cgwhy, cg_ok ? "" : ")",
                 ns_ok        ? ""
                 : posix_only ? "; no namespaces with --launcher=posix"
                              : "; namespaces are not usable (needs root and CAP_SYS_ADMIN)");
    }
    return 0;
}

/* The orphan record (records.h): created is the agent's side of a launch (the child appends
 * the line), else the container is gone. */
static void runtime_record(const struct cm_containerizer *c, const char *id, bool create)
{
    if (!c->records)
        return;
    int rc = create ? (cm_records_note(c->records, id), 0) : cm_records_remove(c->records, id);
    if (rc)
        CM_WARN(MOD, "Container %s: updating %s: %s", id, cm_records_log(c->records),
                cm_strerror(rc));
}

static int is_recorded_orphan(void *arg, const char *id)
{
    const struct cm_containerizer *c = arg;
    /* "known" means leave alone: everything this work dir did not record belongs to someone
     * else (another agent sharing the cgroups root); recovered containers are ours to keep. */
    return !cm_records_has(c->records, id) || cm_strmap_get(&c->containers, id) != NULL ||
           (c->pool && cm_cgpool_owns(c->pool, id));
}

static void set_limits_from(struct container *ct, const struct cm_resources *r);

/* A record stays while its container is live or still being torn down. */
static bool record_kept(void *arg, const char *id)
{
    const struct cm_containerizer *c = arg;
    return cm_strmap_get(&c->containers, id) ||
           (c->teardowns && cm_teardowns_busy(c->teardowns, id)) ||
           (c->pool && cm_cgpool_owns(c->pool, id));
}

/* Kills and removes the cgroups of containers a previous run recorded, then forgets them. */
static void clean_orphans(struct cm_containerizer *c)
{
    if (!c->records)
        return;
    if (c->use_cgroups && c->teardowns) {
        /* The same state machine as a reaped container: nothing waits on the loop. The
         * runtime record goes when the teardown is done. */
        char **ids;
        size_t n, started = 0;
        char why[256] = "";
        if (cm_cgroups_list(&c->cg, &ids, &n, why, sizeof why) != 0) {
            CM_WARN(MOD, "Listing orphan containers: %s", why);
        } else {
            for (size_t i = 0; i < n; i++) {
                if (is_recorded_orphan(c, ids[i]))
                    continue;
                /* One kill round now (a few system calls, no waiting): an orphan's executor
                 * must not get to subscribe to this agent as the executor it will relaunch. */
                size_t left = 0;
                char kwhy[256] = "";
                if (cm_cgroups_kill_step(&c->cg, ids[i], &left, kwhy, sizeof kwhy) != 0)
                    CM_WARN(MOD, "Orphan container %s: %s", ids[i], kwhy);
                if (cm_teardowns_start(c->teardowns, ids[i]) == 0)
                    started++;
            }
            cm_cgroups_list_free(ids);
        }
        if (started)
            CM_INFO(MOD, "Cleaning %zu orphan container(s) of a previous run", started);
    } else if (c->use_cgroups) {
        size_t cleaned = 0;
        char why[256] = "";
        int rc = cm_cgroups_clean_orphans(&c->cg, is_recorded_orphan, c, &cleaned, why, sizeof why);
        if (cleaned)
            CM_INFO(MOD, "Cleaned %zu orphan container(s) of a previous run", cleaned);
        if (rc)
            CM_WARN(MOD, "Cleaning orphan containers: %s", why);
    }
    int rc = cm_records_prune(c->records, record_kept, c);
    if (rc)
        CM_WARN(MOD, "Rewriting %s: %s", cm_records_log(c->records), cm_strerror(rc));
}

void cm_containerizer_recover(struct cm_containerizer *c, const char *const *ids, const pid_t *pids,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cm_strmap_get(&c->containers, ids[i]) || pids[i] <= 0)
            continue;
        struct container *ct = container_new(c, ids[i]);
        ct->pid = pids[i];
        ct->alive = true;
        set_limits_from(ct, NULL);
        cm_strmap_put(&c->containers, ids[i], ct);
        int rrc = c->records ? cm_records_add(c->records, ids[i]) : 0;
        if (rrc)
            CM_WARN(MOD, "Container %s: updating %s: %s", ids[i], cm_records_log(c->records),
                    cm_strerror(rrc));
        CM_INFO(MOD, "Recovered container %s (leader pid %d)", ids[i], (int)pids[i]);
    }
    clean_orphans(c);
}

static int teardown_kill(void *arg, const char *id, size_t *left, char *why, size_t whylen)
{
    const struct cm_containerizer *c = arg;
    return cm_cgroups_kill_step(&c->cg, id, left, why, whylen);
}

/* With the janitor: the first call sends the request and says "busy"; the answer pokes the
 * teardown, whose next call collects it. Without it (or when it died): rmdir in place. */
static int teardown_remove(void *arg, const char *id, char *why, size_t whylen)
{
    struct cm_containerizer *c = arg;
    if (!c->janitor)
        return cm_cgroups_remove_step(&c->cg, id, why, whylen);
    struct removal *r = cm_strmap_get(&c->removals, id);
    if (r && !r->answered)
        cm_janitor_poll(c->janitor); /* for cm_teardowns_finish, which runs without the loop */
    if (r && r->answered) {
        int rc = r->rc;
        cm_fail(rc, why, whylen, "%s", r->why);
        free(cm_strmap_remove(&c->removals, id));
        return rc;
    }
    if (r)
        return cm_fail(-EBUSY, why, whylen, "waiting for the cgroup janitor to remove %s", id);
    int rc = cm_janitor_remove(c->janitor, id);
    if (rc == -EAGAIN)
        return cm_fail(-EBUSY, why, whylen, "the cgroup janitor is busy");
    if (rc) {
        CM_WARN(MOD, "The cgroup janitor is gone (%s); removing cgroups in place", cm_strerror(rc));
        cm_janitor_free(c->janitor);
        c->janitor = NULL;
        /* Its entries stay recorded: the next start removes them. */
        cm_cgpool_free(c->pool);
        c->pool = NULL;
        return cm_cgroups_remove_step(&c->cg, id, why, whylen);
    }
    r = calloc(1, sizeof *r);
    if (!r)
        abort();
    cm_strmap_put(&c->removals, id, r);
    return cm_fail(-EBUSY, why, whylen, "waiting for the cgroup janitor to remove %s", id);
}

static void janitor_done(void *arg, const char *id, int rc, const char *why)
{
    struct cm_containerizer *c = arg;
    struct removal *r = cm_strmap_get(&c->removals, id);
    if (!r)
        return;
    r->answered = true;
    r->rc = rc;
    snprintf(r->why, sizeof r->why, "%s", why);
    cm_teardowns_poke(c->teardowns, id);
}

static void pool_created(void *arg, const char *id, int rc, const char *why)
{
    struct cm_containerizer *c = arg;
    if (rc)
        CM_WARN(MOD, "Making the pool cgroup %s: %s", id, why);
    if (c->pool)
        cm_cgpool_created(c->pool, id, rc, why);
}

/* A pool entry no launch will take (or one a failed launch took): removed like a container. */
static void pool_discard(void *arg, const char *name)
{
    struct cm_containerizer *c = arg;
    if (!c->teardowns || cm_teardowns_start(c->teardowns, name) != 0)
        CM_WARN(MOD, "Pool cgroup %s is left for the next start's orphan cleanup", name);
}

static void teardown_done(void *arg, const char *id, int rc, const char *why)
{
    struct cm_containerizer *c = arg;
    if (rc == 0)
        runtime_record(c, id, false);
    else
        CM_WARN(MOD, "Container %s: tearing it down: %s (left for the orphan cleanup)", id, why);
    if (c->pool && cm_cgpool_owns(c->pool, id))
        return; /* a pool entry, not a container */
    if (c->opts.destroyed)
        c->opts.destroyed(c->opts.cb_arg, id, rc, why);
}

/* A container went over its disk (enforcement on): it is killed; cm_containerizer_limitation
 * then names the cause when its executor's exit is handled. */
static void disk_exceeded(void *arg, const char *container_id, uint64_t used, uint64_t limit)
{
    struct cm_containerizer *c = arg;
    CM_WARN(MOD, "Container %s uses %llu bytes of disk, over its limit of %llu: killing it",
            container_id, (unsigned long long)used, (unsigned long long)limit);
    int rc = cm_containerizer_kill(c, container_id, SIGKILL);
    if (rc)
        CM_WARN(MOD, "Container %s: failed to kill it: %s", container_id, cm_strerror(rc));
}

int cm_containerizer_new(const struct cm_containerizer_options *opts, struct cm_containerizer **out,
                         char *why, size_t whylen)
{
    static const struct cm_containerizer_options none = {0};
    *out = NULL;
    struct cm_containerizer *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->opts = opts ? *opts : none;
    if (!c->opts.cgroups_max_pids)
        c->opts.cgroups_max_pids = CM_CONTAINERIZER_DEFAULT_MAX_PIDS;
    cm_strmap_init(&c->containers);
    cm_strmap_init(&c->removals);
    int rc = 0;
    const char *launcher = c->opts.launcher && *c->opts.launcher ? c->opts.launcher : NULL;
    if (launcher && strcmp(launcher, "linux") != 0 && strcmp(launcher, "posix") != 0) {
        rc = cm_fail(CM_EINVAL, why, whylen, "Unknown --launcher '%s' (linux or posix)", launcher);
        goto fail;
    }

    if (!c->opts.isolation || !*c->opts.isolation) {
        bool posix_only = launcher && strcmp(launcher, "posix") == 0;
        if ((rc = choose_default(c, posix_only, why, whylen)) != 0)
            goto fail;
    } else {
        if ((rc = add_isolators(c, c->opts.isolation, why, whylen)) != 0)
            goto fail;
        if (c->cg_needed) {
            char cgwhy[256] = "";
            if (detect_cgroups(c, cgwhy, sizeof cgwhy) != 0) {
                rc = cm_fail(CM_ESTATE, why, whylen,
                             "--isolation '%s' needs cgroups, which are not usable: %s",
                             c->isolation, cgwhy);
                goto fail;
            }
            unsigned core = c->cg_needed & ~CM_CG_BIT(CM_CG_CPUACCT);
            if ((c->cg.usable & core) != core) {
                rc = cm_fail(CM_ESTATE, why, whylen,
                             "--isolation '%s' needs cgroup controllers that are not usable: %s",
                             c->isolation, c->cg.missing);
                goto fail;
            }
        }
        if (c->clone_flags && !cm_launcher_linux_usable()) {
            rc = cm_fail(CM_ESTATE, why, whylen,
                         "--isolation '%s' needs namespaces, which this process cannot create "
                         "(needs root and CAP_SYS_ADMIN)",
                         c->isolation);
            goto fail;
        }
    }
    c->use_cgroups = c->cg_needed != 0;
    if (c->use_cgroups) {
        /* Only the selected controllers get directories, plus the freezer to kill reliably,
         * unless a pid namespace already guarantees that (its init's death kills all). */
        unsigned keep = c->cg_needed;
        if (!(c->clone_flags & CLONE_NEWPID))
            keep |= CM_CG_BIT(CM_CG_FREEZER);
        for (int i = 0; i < CM_CG_NCTL; i++)
            if (!(keep & CM_CG_BIT(i))) {
                c->cg.usable &= ~CM_CG_BIT(i);
                c->cg.base[i][0] = '\0';
            }
    }
    if (launcher && strcmp(launcher, "posix") == 0) {
        if (c->clone_flags) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "--launcher=posix cannot create the namespaces of --isolation '%s'",
                         c->isolation);
            goto fail;
        }
        c->launcher = &cm_launcher_posix;
    } else if (launcher || c->clone_flags) {
        c->launcher = &cm_launcher_linux;
    } else {
        c->launcher = &cm_launcher_posix;
    }
    if (!*c->description)
        snprintf(c->description, sizeof c->description,
                 "Using isolation '%s' with the %s launcher%s%s", c->isolation, c->launcher->name,
                 c->use_cgroups
                     ? (c->cg.version == CM_CGROUPS_V2 ? " (cgroups v2)" : " (cgroups v1)")
                     : "",
                 "");

    if (c->opts.runtime_dir &&
        (rc = cm_records_open(c->opts.runtime_dir, &c->records, why, whylen)))
        goto fail;
    c->opts.isolation = c->isolation;
    c->clock = c->opts.clock ? c->opts.clock : &cm_clock_real;
    if (c->opts.base && c->use_cgroups) {
        struct cm_teardown_ops ops = {teardown_kill, teardown_remove, c};
        struct cm_teardown_config tc = {
            .base = c->opts.base,
            .clock = c->clock,
            .first_delay = 0.001,
            .max_delay = 0.1,
            .timeout = 60,
            .done = teardown_done,
            .done_arg = c,
        };
        c->teardowns = cm_teardowns_new(&ops, &tc);
        int jrc = cm_janitor_new(c->opts.base, &c->cg, janitor_done, c, &c->janitor);
        if (jrc)
            CM_WARN(MOD, "Failed to start the cgroup janitor (%s); cgroups are removed in place",
                    cm_strerror(jrc));
        if (!jrc && c->records && c->opts.cgroup_pool > 0) {
            bool pids = false;
            for (size_t i = 0; i < c->nisolators; i++)
                pids |= strcmp(c->isolators[i]->name, "cgroups/pids") == 0;
            c->pool = cm_cgpool_new(c->janitor, c->records, (size_t)c->opts.cgroup_pool,
                                    pids ? c->opts.cgroups_max_pids : 0);
            cm_janitor_on_created(c->janitor, pool_created);
            cm_cgpool_refill(c->pool);
        }
    }
    if (c->opts.base && c->opts.disk_watch_interval > 0)
        c->disk = cm_disk_watch_new(c->opts.base, c->opts.disk_watch_interval,
                                    c->opts.enforce_disk_quota, disk_exceeded, c);
    if (c->opts.base && !c->use_cgroups && !(c->clone_flags & CLONE_NEWPID)) {
        /* Before the spawner: the sweeper's helper is a fork of the agent as it is now. */
        int src = cm_sweeper_new(c->opts.base, &c->sweeper);
        if (src)
            CM_WARN(MOD, "Failed to start the session sweeper (%s); each sweep forks the agent",
                    cm_strerror(src));
    }
    if (c->opts.base && !c->opts.no_launch_helper)
        start_spawner(c);
    if (!c->opts.defer_orphan_cleanup)
        clean_orphans(c);
    *out = c;
    return 0;

fail:
    cm_containerizer_free(c);
    return rc;
}

void cm_containerizer_free(struct cm_containerizer *c)
{
    if (!c)
        return;
    cm_spawner_free(c->spawner);
    if (c->pool)
        cm_cgpool_drain(c->pool, pool_discard, c);
    if (c->teardowns) {
        /* The daemon is exiting: finish what can be finished (blocking, bounded); what is
         * left keeps its runtime record and is cleaned as an orphan at the next start. */
        cm_teardowns_finish(c->teardowns, 5.0);
        cm_teardowns_free(c->teardowns);
    }
    cm_janitor_free(c->janitor);
    cm_cgpool_free(c->pool);
    cm_disk_watch_free(c->disk);
    cm_sweeper_free(c->sweeper);
    cm_strmap_cleanup_values(&c->removals, free);
    cm_strmap_cleanup_values(&c->containers, container_free_void);
    cm_records_free(c->records);
    free(c);
}

size_t cm_containerizer_pool_ready(const struct cm_containerizer *c)
{
    return c->pool ? cm_cgpool_ready(c->pool) : 0;
}

pid_t cm_containerizer_helper_pid(const struct cm_containerizer *c)
{
    return c->spawner ? cm_spawner_pid(c->spawner) : 0;
}

const char *cm_containerizer_describe(const struct cm_containerizer *c)
{
    return c->description;
}

const char *cm_containerizer_isolation(const struct cm_containerizer *c)
{
    return c->isolation;
}

/* ---- per container ---- */

static void set_limits_from(struct container *ct, const struct cm_resources *r)
{
    ct->cpus = r ? cm_scalar_to_double(cm_resources_scalar(r, "cpus")) : 0;
    ct->mem_mb = r ? cm_scalar_to_double(cm_resources_scalar(r, "mem")) : 0;
    if (ct->cpus < MIN_CPUS)
        ct->cpus = MIN_CPUS;
    if (ct->mem_mb < MIN_MEM_MB)
        ct->mem_mb = MIN_MEM_MB;
}

static int prepare_all(struct cm_containerizer *c, const char *id, const struct container *ct,
                       char *why, size_t whylen)
{
    struct iso_ctx x = {&c->cg, &c->opts};
    for (size_t i = 0; i < c->nisolators; i++)
        if (c->isolators[i]->prepare) {
            int rc = c->isolators[i]->prepare(&x, id, ct, why, whylen);
            if (rc)
                return rc;
        }
    return 0;
}

static void destroy_cgroups(struct cm_containerizer *c, const char *id)
{
    char why[256] = "";
    if (cm_cgroups_kill_all(&c->cg, id, why, sizeof why) != 0)
        CM_WARN(MOD, "Container %s: killing its processes: %s", id, why);
    if (cm_cgroups_destroy(&c->cg, id, why, sizeof why) != 0)
        CM_WARN(MOD, "Container %s: removing its cgroups: %s", id, why);
}

struct join_arg {
    struct cm_containerizer *c;
    const char *id;
    const struct container *ct;
    pid_t enter_pid;  /* nested: the parent's process whose namespaces the child enters */
    const char *pool; /* a pool entry to rename (cgpool.h), or NULL */
};

static int join_cgroups(const void *arg, char *why, size_t whylen);

/* In the cloned child of a nested launch: the cgroups first (as for any container), then
 * the parent's namespaces (containerizer.h, enter_pid). */
static int join_nested(const void *arg, char *why, size_t whylen)
{
    const struct join_arg *ja = arg;
    int rc = join_cgroups(arg, why, whylen);
    if (rc || !ja->c->clone_flags)
        return rc; /* without namespaces the parent's are the agent's, and so the child's */
    static const struct {
        const char *name;
        int type;
    } ns[] = {
        {"net", CLONE_NEWNET}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"mnt", CLONE_NEWNS}};
    /* Entering a mount namespace resets the root directory to that namespace's root; the
     * parent's own root (a chroot the agent runs in, or any root the parent was given) is
     * taken from /proc/<pid>/root first and adopted after the switch, as nsenter --root does.
     * Otherwise a nested container of an agent in a chroot would resolve its sandbox against
     * the host's root. */
    int rootfd = -1;
    if (ja->c->clone_flags & CLONE_NEWNS) {
        char rpath[64];
        snprintf(rpath, sizeof rpath, "/proc/%ld/root", (long)ja->enter_pid);
        rootfd = open(rpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
            rc = -errno;
            return cm_fail(rc, why, whylen,
                           "Failed to enter the parent container's namespaces: %s: %s", rpath,
                           strerror(-rc));
        }
    }
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        if (ns[i].type == CLONE_NEWNS && !(ja->c->clone_flags & CLONE_NEWNS))
            continue; /* no mount namespaces: the parent shares the agent's */
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/ns/%s", (long)ja->enter_pid, ns[i].name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, ns[i].type) != 0) {
            rc = -errno;
            if (fd >= 0)
                close(fd);
            if (rootfd >= 0)
                close(rootfd);
            return cm_fail(rc, why, whylen,
                           "Failed to enter the parent container's namespaces: %s: %s", path,
                           strerror(-rc));
        }
        close(fd);
    }
    if (rootfd >= 0) {
        /* The parent's root (rootfd belongs to the parent's mount namespace, entered above),
         * then a copy of that namespace: the launcher's /proc and rootfs mounts stay the
         * child's own, and unshare carries the root and cwd over to the copy. */
        const char *step = "fchdir";
        if (fchdir(rootfd) != 0 || (step = "chroot", chroot(".") != 0) ||
            (step = "unshare", unshare(CLONE_NEWNS) != 0)) {
            rc = -errno;
            close(rootfd);
            return cm_fail(rc, why, whylen,
                           "Failed to enter the parent container's namespaces: %s: %s", step,
                           strerror(-rc));
        }
        close(rootfd);
    }
    return 0;
}

/* In the cloned child (a copy of the agent): create the cgroups, limit them, then join them
 * ("0" in cgroup.procs moves the writer itself). Limits are in place before the join, so
 * nothing the child does afterwards (and nothing the executor does) runs unconfined. */
static int join_cgroups(const void *arg, char *why, size_t whylen)
{
    const struct join_arg *ja = arg;
    /* The orphan record first: it must exist before any cgroup does. Appended here, off the
     * agent's loop. A failure leaves an orphan to the operator rather than fail the task. */
    if (ja->c->records)
        cm_records_append(cm_records_log(ja->c->records), ja->id);
    if (!ja->c->use_cgroups)
        return 0;
    /* A pool entry becomes the container's cgroups by a rename per hierarchy, with pids.max
     * already set; without one (or should a rename fail), mkdir as ever. */
    struct container ct = *ja->ct;
    ct.pids_preset = ja->pool && cm_cgroups_rename(&ja->c->cg, ja->pool, ja->id, why, whylen) == 0;
    int rc = ct.pids_preset ? 0 : cm_cgroups_create(&ja->c->cg, ja->id, why, whylen);
    if (!rc)
        rc = prepare_all(ja->c, ja->id, &ct, why, whylen);
    if (!rc)
        rc = cm_cgroups_add_pid(&ja->c->cg, ja->id, 0, why, whylen);
    return rc;
}

/* The report of an asynchronous launch is in (or the child is gone): record it. The
 * launched callback runs last, when ct is consistent, and ct is not touched after it. */
static void status_done(struct container *ct, int rc, const char *why)
{
    struct cm_containerizer *c = ct->c;
    if (ct->status_ev) {
        event_free(ct->status_ev);
        ct->status_ev = NULL;
    }
    close(ct->status_fd);
    ct->status_fd = -1;
    if (rc && ct->pool) {
        /* It failed before it joined: whatever is left of the entry goes. */
        pool_discard(c, ct->pool);
        free(ct->pool);
        ct->pool = NULL;
    }
    if (rc) {
        free(ct->launch_error);
        ct->launch_error = strdup(why);
        if (!ct->launch_error)
            abort();
        /* Nothing to kill: the child exits with status 127 right after its report, and the
         * reaper hears of it as of any exit. */
        CM_ERROR(MOD, "Container %s: %s", ct->id, why);
    } else if (ct->reapply_limits) {
        char uwhy[256] = "";
        ct->reapply_limits = false;
        if (prepare_all(c, ct->id, ct, uwhy, sizeof uwhy) != 0)
            CM_WARN(MOD, "Container %s: updating limits: %s", ct->id, uwhy);
    }
    if (c->opts.launched)
        c->opts.launched(c->opts.cb_arg, ct->id, ct->pid, rc, rc ? why : "");
}

/* Reads the status pipe if there is something to read; returns true once the report is in. */
static bool status_poll(struct container *ct)
{
    if (ct->status_fd < 0)
        return true;
    char why[512] = "";
    int rc;
    while ((rc = cm_launcher_read_status(ct->status_fd, ct->argv0, why, sizeof why)) ==
           CM_LAUNCH_JOINED) {
        if (ct->pool) {
            /* Renamed to the container's id by now: the entry is gone. */
            if (ct->c->pool)
                cm_cgpool_used(ct->c->pool, ct->pool);
            free(ct->pool);
            ct->pool = NULL;
        }
        if (ct->c->opts.joined)
            ct->c->opts.joined(ct->c->opts.cb_arg, ct->id);
    }
    if (rc == -EAGAIN)
        return false;
    status_done(ct, rc, why);
    return true;
}

static void status_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    status_poll(arg);
}

int cm_containerizer_launch(struct cm_containerizer *c, const struct cm_launch_spec *spec,
                            pid_t *pid, char *why, size_t whylen)
{
    const char *id = spec->container_id;
    int rc;
    if (c->use_cgroups && (rc = cm_cgroups_validate_id(id, why, whylen)) != 0)
        return rc;
    if (cm_containerizer_busy(c, id))
        return cm_fail(CM_EEXIST, why, whylen, "Container %s already exists", id);
    struct container *ct = container_new(c, id);
    set_limits_from(ct, spec->resources);
    runtime_record(c, id, true); /* the set; the child appends the record before its cgroups */
    if (c->pool && spec->enter_pid <= 0 && !strchr(id, '/'))
        ct->pool = cm_cgpool_take(c->pool);
    struct join_arg ja = {c, id, ct, spec->enter_pid, ct->pool};
    int status_fd = -1;
    struct cm_launch_ctx ctx = {
        .clone_flags = c->clone_flags,
        .join = spec->enter_pid > 0            ? join_nested
                : c->use_cgroups || c->records ? join_cgroups
                                               : NULL,
        .join_arg = &ja,
        .status_fd = c->opts.base ? &status_fd : NULL,
    };
    rc = CM_ECLOSED;
    if (c->spawner && ctx.status_fd && cm_spawner_accepts(spec)) {
        struct cm_spawn_limits lim = {ct->cpus, ct->mem_mb};
        rc = cm_spawner_spawn(c->spawner, spec, &lim, ct->pool, pid, &status_fd, why, whylen);
        if (cm_spawner_broken(rc)) {
            CM_WARN(MOD, "Container %s: %s; containers are cloned from the agent from now on", id,
                    why);
            cm_spawner_free(c->spawner);
            c->spawner = NULL;
        }
        if (rc && rc != CM_ECLOSED && rc != CM_ETOOBIG)
            goto fail;
    }
    /* Without the helper (or for what it does not take): clone the agent itself. */
    if (rc && (rc = c->launcher->fork(spec, &ctx, pid, why, whylen)) != 0)
        goto fail;
    ct->pid = *pid;
    ct->alive = true;
    if (c->sweeper) /* a reaped leader's session with this number is empty now */
        cm_sweeper_forget(c->sweeper, *pid);
    if (status_fd >= 0) {
        ct->status_fd = status_fd;
        ct->argv0 = strdup(spec->argv[0]);
        ct->status_ev = event_new(c->opts.base, status_fd, EV_READ | EV_PERSIST, status_cb, ct);
        if (!ct->argv0 || !ct->status_ev || event_add(ct->status_ev, NULL) != 0)
            abort();
    }
    cm_strmap_put(&c->containers, id, ct);
    if (spec->cwd)
        cm_containerizer_watch_disk(c, id, spec->cwd, spec->resources);
    return 0;

fail:
    if (c->use_cgroups)
        destroy_cgroups(c, id);
    runtime_record(c, id, false);
    if (ct->pool)
        pool_discard(c, ct->pool);
    container_free(ct);
    return rc;
}

const char *cm_containerizer_launch_error(struct cm_containerizer *c, const char *container_id)
{
    struct container *ct = cm_strmap_get(&c->containers, container_id);
    if (!ct)
        return NULL;
    status_poll(ct);
    return ct->launch_error;
}

bool cm_containerizer_busy(const struct cm_containerizer *c, const char *container_id)
{
    return cm_strmap_get(&c->containers, container_id) ||
           (c->teardowns && cm_teardowns_busy(c->teardowns, container_id));
}

size_t cm_containerizer_tearing_down(const struct cm_containerizer *c)
{
    return c->teardowns ? cm_teardowns_count(c->teardowns) : 0;
}

int cm_containerizer_kill(struct cm_containerizer *c, const char *container_id, int sig)
{
    struct container *ct = cm_strmap_get(&c->containers, container_id);
    if (!ct)
        return CM_ENOTFOUND;
    if (sig == SIGKILL && ct->alive && (c->clone_flags & CLONE_NEWPID)) {
        /* The namespace's init dies, and the kernel kills everything else in it. */
        return kill(ct->pid, SIGKILL) == 0 ? 0 : -errno;
    }
    if (sig == SIGKILL && c->use_cgroups) {
        char why[256] = "";
        int rc;
        if (c->teardowns) {
            /* One round now; the teardown after the reap re-checks until the cgroups are
             * empty, on timers. */
            size_t left;
            rc = cm_cgroups_kill_step(&c->cg, container_id, &left, why, sizeof why);
        } else {
            rc = cm_cgroups_kill_all(&c->cg, container_id, why, sizeof why);
        }
        if (rc)
            CM_WARN(MOD, "Container %s: %s", container_id, why);
        return rc;
    }
    return c->launcher->kill(ct->pid, sig, ct->alive);
}

int cm_containerizer_update(struct cm_containerizer *c, const char *container_id,
                            const struct cm_resources *resources)
{
    struct container *ct = cm_strmap_get(&c->containers, container_id);
    if (!ct)
        return CM_ENOTFOUND;
    set_limits_from(ct, resources);
    if (!c->use_cgroups)
        return 0;
    if (ct->status_fd >= 0 && !status_poll(ct)) {
        /* The child is still creating its cgroups with the old limits: writing now could be
         * overwritten by it, so the new ones are written once its report is in. */
        ct->reapply_limits = true;
        return 0;
    }
    char why[256] = "";
    int rc = prepare_all(c, container_id, ct, why, sizeof why);
    if (rc)
        CM_WARN(MOD, "Container %s: updating limits: %s", container_id, why);
    return rc;
}

void cm_containerizer_reaped(struct cm_containerizer *c, const char *container_id)
{
    struct container *ct = cm_strmap_get(&c->containers, container_id);
    if (!ct)
        return;
    /* A report that raced the reap is read now (the child wrote it before it exited); the
     * leader is gone, so nothing is sent to its pid any more. */
    ct->alive = false;
    status_poll(ct);
    if (cm_strmap_remove(&c->containers, container_id) != ct)
        return; /* the launched callback already reaped it */
    if (c->disk)
        cm_disk_watch_remove(c->disk, container_id);
    bool keep_record = false;
    if (c->use_cgroups && c->teardowns) {
        /* Double-forked processes are in the cgroups too; the teardown kills them and removes
         * the cgroups on timers, then drops the runtime record. */
        keep_record = cm_teardowns_start(c->teardowns, container_id) == 0;
    } else if (c->use_cgroups) {
        destroy_cgroups(c, container_id);
    } else if (!(c->clone_flags & CLONE_NEWPID)) {
        /* Tasks the executor forked into groups of their own stay in its session: the group
         * now, the session sweep (a /proc scan) off the loop, in one scan with the sessions of
         * every other container reaped meanwhile (sweeper.h). */
        c->launcher->kill(ct->pid, SIGKILL, 0);
        if (c->sweeper)
            cm_sweeper_add(c->sweeper, ct->pid);
        else
            cm_launcher_kill_session(ct->pid, SIGKILL);
    }
    if (!keep_record)
        runtime_record(c, container_id, false);
    container_free(ct);
}

void cm_containerizer_watch_disk(struct cm_containerizer *c, const char *container_id,
                                 const char *sandbox, const struct cm_resources *resources)
{
    if (!c->disk || !sandbox || !cm_strmap_get(&c->containers, container_id))
        return;
    double mb = resources ? cm_scalar_to_double(cm_resources_scalar(resources, "disk")) : 0;
    cm_disk_watch_add(c->disk, container_id, sandbox, (uint64_t)(mb * MB));
}

size_t cm_containerizer_count(const struct cm_containerizer *c)
{
    return cm_strmap_count(&c->containers);
}

int cm_containerizer_usage(struct cm_containerizer *c, const char *container_id, double now,
                           json_t *stats)
{
    struct container *ct = cm_strmap_get(&c->containers, container_id);
    if (!ct)
        return CM_ENOTFOUND;
    json_object_set_new(stats, "timestamp", json_real(now));
    json_object_set_new(stats, "cpus_limit", json_real(ct->cpus));
    json_object_set_new(stats, "mem_limit_bytes", json_integer((json_int_t)(ct->mem_mb * MB)));
    struct cm_cgroups_usage u;
    memset(&u, 0, sizeof u);
    if (c->use_cgroups) {
        char why[256] = "";
        /* A container that is going away may lose its files mid-read; report what we have. */
        if (cm_cgroups_usage(&c->cg, container_id, &u, why, sizeof why) != 0)
            CM_DEBUG(MOD, "Container %s: usage: %s", container_id, why);
    }
    struct iso_ctx x = {&c->cg, &c->opts};
    for (size_t i = 0; i < c->nisolators; i++)
        if (c->isolators[i]->usage)
            c->isolators[i]->usage(&x, ct, &u, stats);
    uint64_t used = 0, limit = 0;
    if (c->disk && cm_disk_watch_usage(c->disk, container_id, &used, &limit) == 0) {
        json_object_set_new(stats, "disk_used_bytes", json_integer((json_int_t)used));
        if (limit)
            json_object_set_new(stats, "disk_limit_bytes", json_integer((json_int_t)limit));
    }
    return 0;
}

static uint64_t read_u64(const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

enum cm_limitation cm_containerizer_limitation(struct cm_containerizer *c, const char *container_id,
                                               char *message, size_t len, double *mem_limit_mb)
{
    struct container *ct = cm_strmap_get(&c->containers, container_id);
    /* A container over its disk was killed for it: that is the cause, whatever else shows. */
    if (ct && c->disk && cm_disk_watch_exceeded(c->disk, container_id, message, len))
        return CM_LIMITATION_DISK;
    if (!ct || !c->use_cgroups || !(c->cg_needed & CM_CG_BIT(CM_CG_MEMORY)))
        return CM_LIMITATION_NONE;
    struct cm_cgroups_oom o;
    if (cm_cgroups_oom(&c->cg, container_id, &o, NULL, 0) != 0 || !o.oomed)
        return CM_LIMITATION_NONE;
    char dir[CM_CGROUPS_PATH_MAX], path[CM_CGROUPS_PATH_MAX + 64];
    uint64_t peak = 0;
    if (cm_cgroups_path(&c->cg, CM_CG_MEMORY, container_id, dir, sizeof dir) == 0) {
        snprintf(path, sizeof path, "%s/%s", dir,
                 c->cg.version == CM_CGROUPS_V2 ? "memory.peak" : "memory.max_usage_in_bytes");
        peak = read_u64(path);
    }
    uint64_t limit = (uint64_t)(ct->mem_mb * MB);
    if (!peak)
        peak = limit;
    snprintf(message, len, "Memory limit exceeded: Requested: %lluMB Maximum Used: %lluMB",
             (unsigned long long)(limit / (1024 * 1024)),
             (unsigned long long)(peak / (1024 * 1024)));
    if (mem_limit_mb)
        *mem_limit_mb = ct->mem_mb;
    return CM_LIMITATION_MEMORY;
}
