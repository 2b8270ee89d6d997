/*
 * paths.c: the agent's directory layout.
 */
#include "paths.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "ids.h"
#include "util.h"

char *cm_paths_meta_dir(const char *work_dir)
{
    return cm_xasprintf("%s/meta", work_dir);
}

static int check_ids(const char *const *ids, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++) {
        const char *r = NULL;
        if (cm_id_validate(ids[i], &r) != 0) {
            if (why)
                *why = r;
            return CM_EINVAL;
        }
    }
    return 0;
}

char *cm_paths_executor_dir(const char *work_dir, const char *agent_id, const char *framework_id,
                            const char *executor_id, const char **why)
{
    const char *ids[] = {agent_id, framework_id, executor_id};
    if (check_ids(ids, 3, why) != 0)
        return NULL;
    return cm_xasprintf("%s/slaves/%s/frameworks/%s/executors/%s", work_dir, agent_id, framework_id,
                        executor_id);
}

char *cm_paths_sandbox_dir(const char *work_dir, const char *agent_id, const char *framework_id,
                           const char *executor_id, const char *container_id, const char **why)
{
    const char *ids[] = {agent_id, framework_id, executor_id, container_id};
    if (check_ids(ids, 4, why) != 0)
        return NULL;
    return cm_xasprintf("%s/slaves/%s/frameworks/%s/executors/%s/runs/%s", work_dir, agent_id,
                        framework_id, executor_id, container_id);
}

/* Creates p, creating missing parents first. It starts at the end: a sandbox's parents mostly
 * exist already, and each mkdir of an existing level still costs a path walk and a lock. */
static int mkdirs_from_end(char *p, unsigned mode)
{
    if (mkdir(p, mode) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -errno;
    char *slash = strrchr(p, '/');
    while (slash && slash > p && slash[1] == '\0') {
        /* A trailing slash names the same directory: look past it. */
        *slash = '\0';
        slash = strrchr(p, '/');
    }
    if (!slash || slash == p)
        return -ENOENT;
    *slash = '\0';
    int rc = mkdirs_from_end(p, mode);
    *slash = '/';
    if (rc)
        return rc;
    return mkdir(p, mode) == 0 || errno == EEXIST ? 0 : -errno;
}

int cm_paths_mkdirs(const char *path, unsigned mode)
{
    char *p = strdup(path);
    if (!p)
        abort();
    int rc = mkdirs_from_end(p, mode);
    if (rc == 0) {
        struct stat st;
        if (stat(path, &st) != 0)
            rc = -errno;
        else if (!S_ISDIR(st.st_mode))
            rc = -ENOTDIR;
    }
    free(p);
    return rc;
}

int cm_paths_create_sandbox(const char *work_dir, const char *agent_id, const char *framework_id,
                            const char *executor_id, const char *container_id, char **out,
                            const char **why)
{
    *out = NULL;
    char *dir =
        cm_paths_sandbox_dir(work_dir, agent_id, framework_id, executor_id, container_id, why);
    if (!dir)
        return CM_EINVAL;
    int rc = cm_paths_mkdirs(dir, 0755);
    if (rc != 0) {
        free(dir);
        return rc;
    }
    /* runs/latest is relative so the tree can be moved; replace it atomically via rename. */
    char *exec_dir = cm_paths_executor_dir(work_dir, agent_id, framework_id, executor_id, why);
    char *tmp = cm_xasprintf("%s/runs/.latest.tmp", exec_dir);
    char *latest = cm_xasprintf("%s/runs/latest", exec_dir);
    unlink(tmp);
    if (symlink(container_id, tmp) != 0 || rename(tmp, latest) != 0) {
        rc = -errno;
        unlink(tmp);
    }
    free(tmp);
    free(latest);
    free(exec_dir);
    if (rc != 0) {
        free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

/* ---- checkpoint layout ---- */

char *cm_paths_meta_slaves_dir(const char *work_dir)
{
    return cm_xasprintf("%s/meta/slaves", work_dir);
}

char *cm_paths_meta_latest(const char *work_dir)
{
    return cm_xasprintf("%s/meta/slaves/latest", work_dir);
}

char *cm_paths_meta_agent_dir(const char *work_dir, const char *agent_id)
{
    const char *ids[] = {agent_id};
    if (check_ids(ids, 1, NULL) != 0)
        return NULL;
    return cm_xasprintf("%s/meta/slaves/%s", work_dir, agent_id);
}

char *cm_paths_meta_agent_info(const char *work_dir, const char *agent_id)
{
    const char *ids[] = {agent_id};
    if (check_ids(ids, 1, NULL) != 0)
        return NULL;
    return cm_xasprintf("%s/meta/slaves/%s/" CM_PATHS_AGENT_INFO, work_dir, agent_id);
}

char *cm_paths_meta_framework_dir(const char *work_dir, const char *agent_id, const char *fid)
{
    const char *ids[] = {agent_id, fid};
    if (check_ids(ids, 2, NULL) != 0)
        return NULL;
    return cm_xasprintf("%s/meta/slaves/%s/frameworks/%s", work_dir, agent_id, fid);
}

char *cm_paths_meta_executor_dir(const char *work_dir, const char *agent_id, const char *fid,
                                 const char *eid)
{
    const char *ids[] = {agent_id, fid, eid};
    if (check_ids(ids, 3, NULL) != 0)
        return NULL;
    return cm_xasprintf("%s/meta/slaves/%s/frameworks/%s/executors/%s", work_dir, agent_id, fid,
                        eid);
}

char *cm_paths_meta_run_dir(const char *work_dir, const char *agent_id, const char *fid,
                            const char *eid, const char *cid)
{
    const char *ids[] = {agent_id, fid, eid, cid};
    if (check_ids(ids, 4, NULL) != 0)
        return NULL;
    return cm_xasprintf("%s/meta/slaves/%s/frameworks/%s/executors/%s/runs/%s", work_dir, agent_id,
                        fid, eid, cid);
}

char *cm_paths_meta_task_dir(const char *work_dir, const char *agent_id, const char *fid,
                             const char *eid, const char *cid, const char *tid)
{
    const char *ids[] = {agent_id, fid, eid, cid, tid};
    if (check_ids(ids, 5, NULL) != 0)
        return NULL;
    return cm_xasprintf("%s/meta/slaves/%s/frameworks/%s/executors/%s/runs/%s/tasks/%s", work_dir,
                        agent_id, fid, eid, cid, tid);
}

static int rmtree_at(int dirfd_, const char *name)
{
    int rc = 0;
    if (unlinkat(dirfd_, name, 0) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int fd = openat(dirfd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = rmtree_at(dirfd(d), de->d_name);
        if (r && !rc)
            rc = r;
    }
    closedir(d);
    if (unlinkat(dirfd_, name, AT_REMOVEDIR) != 0 && errno != ENOENT && !rc)
        rc = -errno;
    return rc;
}

int cm_paths_rmtree(const char *path)
{
    return rmtree_at(AT_FDCWD, path);
}
