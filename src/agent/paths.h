/*
 * paths.h: the agent's on-disk tree, drawn once here (Mesos's slave/paths.hpp).
 *
 *   <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/
 *       runs/<container_id>        the sandbox (cwd, stdout, stderr of the executor)
 *       runs/latest -> <container_id>
 *   <work_dir>/meta/               checkpoints (checkpoint.h; only checkpointing frameworks):
 *     slaves/latest -> <agent_id>                       symlink: the id to recover
 *     slaves/<agent_id>/slave.info                      AgentInfo (resources, attributes)
 *     slaves/<agent_id>/frameworks/<fid>/framework.info FrameworkInfo
 *       executors/<eid>/executor.info                   ExecutorInfo
 *       executors/<eid>/runs/<container_id>/pids/forked.pid   "<pid> <start time>" of the
 *                                                       container's leader (init)
 *       executors/<eid>/runs/<container_id>/tasks/<tid>/task.info     TaskInfo
 *       executors/<eid>/runs/<container_id>/tasks/<tid>/task.updates  append-only stream of
 *                                                       UPDATE / ACK records
 *   Every file but task.updates holds one checkpoint record written temp + fsync + rename.
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

/* ---- checkpoint layout (meta) ---- */

/* <work_dir>/meta/slaves */
char *cm_paths_meta_slaves_dir(const char *work_dir);
/* <work_dir>/meta/slaves/latest */
char *cm_paths_meta_latest(const char *work_dir);
/* <work_dir>/meta/slaves/<aid>; NULL if the id is invalid. */
char *cm_paths_meta_agent_dir(const char *work_dir, const char *agent_id);
/* .../slaves/<aid>/slave.info */
char *cm_paths_meta_agent_info(const char *work_dir, const char *agent_id);
/* .../slaves/<aid>/frameworks/<fid> */
char *cm_paths_meta_framework_dir(const char *work_dir, const char *agent_id, const char *fid);
/* .../executors/<eid> */
char *cm_paths_meta_executor_dir(const char *work_dir, const char *agent_id, const char *fid,
                                 const char *eid);
/* .../executors/<eid>/runs/<cid> */
char *cm_paths_meta_run_dir(const char *work_dir, const char *agent_id, const char *fid,
                            const char *eid, const char *cid);
/* .../runs/<cid>/tasks/<tid> */
char *cm_paths_meta_task_dir(const char *work_dir, const char *agent_id, const char *fid,
                             const char *eid, const char *cid, const char *tid);
/* File names inside those directories. */
#define CM_PATHS_AGENT_INFO "slave.info"
#define CM_PATHS_FRAMEWORK_INFO "framework.info"
#define CM_PATHS_EXECUTOR_INFO "executor.info"
#define CM_PATHS_FORKED_PID "pids/forked.pid"
#define CM_PATHS_TASK_INFO "task.info"
#define CM_PATHS_TASK_UPDATES "task.updates"

/* rm -rf path (no symlinks followed). Returns 0 or -errno of the first failure. */
int cm_paths_rmtree(const char *path);

/* mkdir -p. Returns 0 or -errno. */
int cm_paths_mkdirs(const char *path, unsigned mode);

#endif
