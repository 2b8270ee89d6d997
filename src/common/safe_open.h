/*
 * safe_open.h: opening paths inside a directory that someone else (a task) can write, without
 * a race that leads outside of it.
 *
 * A sandbox is written by its task while the agent reads it (/files) or writes it (fetcher).
 * Checking a path with realpath() and then opening it is a race: between the two the task can
 * swap any directory on the way for a symlink (to /etc, say), and O_NOFOLLOW only guards the
 * last component. Here every path is resolved by the kernel relative to a directory
 * descriptor of the trusted root and no symlink is followed anywhere on the way:
 *
 *   - openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS where the
 *     kernel has it (Linux 5.6+; called through syscall(), so no libc support is needed);
 *   - else (ENOSYS, or EPERM from a seccomp filter that does not know the call) a walk from
 *     the root descriptor, one component at a time: each directory with
 *     openat(O_PATH | O_DIRECTORY | O_NOFOLLOW), the last with the caller's flags | O_NOFOLLOW.
 *
 * Both refuse the same things: a ".." component (CM_EINVAL, before any system call) and a
 * symlink at any position, including the last (-ELOOP). The choice is made per call (no
 * global state): the fallback costs one failed system call on an old kernel.
 *
 * Relative paths only: empty, "." and "/" separated runs are fine ("" and "." name the root
 * itself). Errors are 0 or -errno (or CM_EINVAL); descriptors returned are O_CLOEXEC and owned
 * by the caller. Thread-safe (no state), except cm_safe_fsids_*, which change the calling
 * thread's file-system ids.
 */
#ifndef CM_SAFE_OPEN_H
#define CM_SAFE_OPEN_H

#include <stdbool.h>
#include <sys/types.h>

/* Opens root (absolute; trusted: only its last component is checked not to be a symlink) as
 * an O_PATH directory descriptor to resolve beneath. Returns 0 and *out, or -errno (-ELOOP
 * when root is a symlink, -ENOTDIR when it is not a directory). */
int cm_safe_open_root(const char *root, int *out);

/* Opens rel beneath the directory dirfd with open(2) flags and mode (for O_CREAT), never
 * following a symlink (openat2 where available, else the walk). Returns 0 and *out, -ELOOP
 * (a symlink on the way), CM_EINVAL (absolute path or a ".." component), or -errno. */
int cm_safe_openat(int dirfd, const char *rel, int flags, mode_t mode, int *out);

/* The component-by-component walk alone (what cm_safe_openat falls back to; tests use it to
 * check the fallback on kernels that have openat2). Same contract. */
int cm_safe_openat_walk(int dirfd, const char *rel, int flags, mode_t mode, int *out);

/* cm_safe_open_root(root) then cm_safe_openat(rel): the one-shot form. */
int cm_safe_open(const char *root, const char *rel, int flags, mode_t mode, int *out);

/* mkdir -p of rel beneath dirfd: every component is created with mode if missing (mkdirat)
 * and entered without following symlinks, so a planted link is an error (-ELOOP), never a
 * way out. Returns 0 and, if out is not NULL, an O_PATH descriptor of the last directory;
 * else -errno or CM_EINVAL. */
int cm_safe_mkdirs_at(int dirfd, const char *rel, mode_t mode, int *out);

/* Splits a relative path into its directory part and last component, both malloc'd ("a/b/c"
 * -> "a/b" and "c"; "c" -> "" and "c"). Returns 0, or CM_EINVAL (empty, absolute, "..", or
 * no last component). */
int cm_safe_split(const char *rel, char **dir, char **base);

/* The calling thread's file-system ids (setfsuid/setfsgid): while switched, every open,
 * create and permission check is done as uid/gid (and root's file capabilities are dropped),
 * so the agent reads and writes a task's files as the task's user without a child process.
 * Supplementary groups are not changed (they are per process). */
struct cm_safe_fsids {
    uid_t uid;
    gid_t gid;
    bool switched;
};
/* Switches to uid/gid (a no-op when they are already the file-system ids). Returns 0 or
 * -EPERM (not privileged). */
int cm_safe_fsids_switch(uid_t uid, gid_t gid, struct cm_safe_fsids *saved);
/* Restores what cm_safe_fsids_switch saved. */
void cm_safe_fsids_restore(const struct cm_safe_fsids *saved);

#endif
