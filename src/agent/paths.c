/*
 * paths.c: the agent's directory layout.
 */
#include "paths.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "ids.h"

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return s;
}

char *cm_paths_meta_dir(const char *work_dir)
{
    return xasprintf("%s/meta", work_dir);
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
    return xasprintf("%s/slaves/%s/frameworks/%s/executors/%s", work_dir, agent_id, framework_id,
                     executor_id);
}

char *cm_paths_sandbox_dir(const char *work_dir, const char *agent_id, const char *framework_id,
                           const char *executor_id, const char *container_id, const char **why)
{
    const char *ids[] = {agent_id, framework_id, executor_id, container_id};
    if (check_ids(ids, 4, why) != 0)
        return NULL;
    return xasprintf("%s/slaves/%s/frameworks/%s/executors/%s/runs/%s", work_dir, agent_id,
                     framework_id, executor_id, container_id);
}

int cm_paths_mkdirs(const char *path, unsigned mode)
{
    char *p = strdup(path);
    if (!p)
        abort();
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char saved = *s;
            *s = '\0';
            if (mkdir(p, mode) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *s = saved;
            if (saved == '\0')
                break;
        }
    }
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
    char *tmp = xasprintf("%s/runs/.latest.tmp", exec_dir);
    char *latest = xasprintf("%s/runs/latest", exec_dir);
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
