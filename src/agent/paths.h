/*
 * paths.h: the agent's on-disk tree, drawn once here (Mesos's slave/paths.hpp).
 *
 *   <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/
 *       runs/<container_id>        the sandbox (cwd, stdout, stderr of the executor)
 *       runs/latest -> <container_id>
 *   <work_dir>/meta/               reserved for checkpoints (a later issue)
 *
 * Every ID that becomes a path component is checked with cm_id_validate first, so "..",
 * "a/b" and friends are refused before the file system is touched. Path builders return
 * malloc'd strings; the caller frees them.
 */
#ifndef CM_AGENT_PATHS_H
#define CM_AGENT_PATHS_H

#include <stddef.h>

/* <work_dir>/meta */
char *cm_paths_meta_dir(const char *work_dir);

/* <work_dir>/slaves/<agent_id>/frameworks/<fid>/executors/<eid> ; NULL if an id is invalid
 * (the reason goes to *why). */
char *cm_paths_executor_dir(const char *work_dir, const char *agent_id, const char *framework_id,
                            const char *executor_id, const char **why);

/* .../executors/<eid>/runs/<container_id> ; NULL if an id is invalid. */
char *cm_paths_sandbox_dir(const char *work_dir, const char *agent_id, const char *framework_id,
                           const char *executor_id, const char *container_id, const char **why);

/* Creates the sandbox directory (and its parents, mode 0755) and points runs/latest at it
 * (replacing an older link). On success *out is the sandbox path (malloc'd).
 * Returns 0, CM_EINVAL (bad id; reason in *why) or -errno. */
int cm_paths_create_sandbox(const char *work_dir, const char *agent_id, const char *framework_id,
                            const char *executor_id, const char *container_id, char **out,
                            const char **why);

/* mkdir -p. Returns 0 or -errno. */
int cm_paths_mkdirs(const char *path, unsigned mode);

#endif
