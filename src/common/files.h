/*
 * files.h: the /files endpoints (docs/wire-protocol.md §6.3): browse, read, download and debug
 * over a table of attached paths (Mesos's Files process), shared by the agent and the master.
 *
 * The master attaches its log file at /master/log. The agent attaches each sandbox under its
 * real path (the executor's "directory" in /state)
 * and under its virtual paths (/frameworks/<fid>/executors/<eid>/runs/<container_id> and
 * .../runs/latest), and its log file at /slave/log when it has one. A request path is resolved
 * by the longest attached prefix, then confined: a ".." component is refused (403) and a path
 * under no attached prefix is unknown (404). The rest of the path is opened beneath a
 * descriptor of the attached root by safe_open.h (openat2 with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk), so no symlink is followed anywhere on the way,
 * not even one pointing inside the sandbox (403), and a task that swaps a directory for a
 * symlink while a request is served cannot lead it out: there is no check-then-open window.
 * Browse lists the opened directory descriptor (fdopendir, fstatat without following), read
 * and download use the opened file (fstat, pread, sendfile). A missing path parameter is
 * 400; a sandbox that is removed (GC) simply answers 404.
 *
 * Ownership: the table copies the paths it is given. Threading: the owning daemon's loop only.
 */
#ifndef CM_COMMON_FILES_H
#define CM_COMMON_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct cm_files;
struct cm_http_server;
struct cm_http_request;

/* Authorization hook of /files/{browse,read,download}: called before anything is opened, with
 * the attached root (the real path given to cm_files_attach) the requested path resolves to;
 * /files/debug calls it with root NULL. Returns true to serve the request; false when it has
 * answered the request itself (e.g. 403). A path that does not resolve is answered 400/403/404
 * without calling it. */
typedef bool (*cm_files_authorize_fn)(struct cm_http_request *req, const char *root, void *arg);

struct cm_files *cm_files_new(void);
/* NULL is a no-op. Routes registered on a server must not be served afterwards. */
void cm_files_free(struct cm_files *files);

/* Makes real_path (a directory or a single file) reachable as virtual_path (absolute, e.g.
 * "/slave/log"). Re-attaching a virtual path replaces its target. Returns 0 or CM_EINVAL
 * (a path that is not absolute or contains a ".." component). */
int cm_files_attach(struct cm_files *files, const char *real_path, const char *virtual_path);
/* Forgets virtual_path if it is attached to real_path (any target when real_path is NULL), so
 * a stale executor record never detaches a newer run's "latest". */
void cm_files_detach(struct cm_files *files, const char *virtual_path, const char *real_path);
size_t cm_files_count(const struct cm_files *files);

/* Sets (fn NULL: clears) the authorization hook; without one every request is served. */
void cm_files_set_authorizer(struct cm_files *files, cm_files_authorize_fn fn, void *arg);

/* Registers /files/{browse,read,download,debug} and their ".json" aliases. */
void cm_files_routes(struct cm_files *files, struct cm_http_server *srv);

/* Splits a requested path into its attached root (the real path, malloc'd) and the rest
 * relative to it (malloc'd, "" for the root itself); textual only, nothing is opened.
 * Returns 0, CM_EINVAL (empty/relative path: 400), -EACCES (a ".." component: 403) or
 * CM_ENOTFOUND (under no attached path: 404). */
int cm_files_resolve(const struct cm_files *files, const char *path, char **root, char **rel);

/* Resolves and opens a requested path with open(2) flags (O_CLOEXEC and O_NOFOLLOW added):
 * 0 and *fd (the caller's), and the last component in *name (malloc'd) when name is not
 * NULL; else the errors of cm_files_resolve, or -EACCES when a symlink is on the way
 * (whether it points in or out), or CM_ENOTFOUND. */
int cm_files_open(const struct cm_files *files, const char *path, int flags, int *fd, char **name);

/* "drwxr-xr-x" for a st_mode, into out[11]. */
void cm_files_mode_string(unsigned mode, char out[11]);

/* Length of the longest prefix of buf[len] that ends on a UTF-8 character boundary, with
 * invalid bytes in it replaced by '?' in place (so /files/read returns valid JSON text and the
 * offset arithmetic of clients still counts bytes). */
size_t cm_files_utf8_sanitize(char *buf, size_t len);

/* One entry of a listing: the requested path joined with the entry's name, and the entry's
 * own status (a symlink is described as itself, never followed). */
struct cm_files_entry {
    char *path; /* malloc'd */
    struct stat st;
};

/* Lists a requested path as /files/browse does (the operator API's LIST_FILES): the entries
 * of a directory sorted by name (at most 100000), or the one entry of a file. Returns 0 with
 * *entries (free with cm_files_entries_free) and *n, or the errors of cm_files_open. */
int cm_files_list(const struct cm_files *files, const char *path, struct cm_files_entry **entries,
                  size_t *n);
void cm_files_entries_free(struct cm_files_entry *entries, size_t n);

/* Reads a requested regular file as the operator API's READ_FILE does: up to length bytes
 * (and at most max) from offset; an offset past the end reads nothing. Returns 0 with *data
 * (malloc'd, caller frees), *len and *size (the file's size); CM_EINVAL for a directory or a
 * special file; or the errors of cm_files_open. */
int cm_files_read(const struct cm_files *files, const char *path, uint64_t offset, uint64_t length,
                  uint64_t max, void **data, size_t *len, uint64_t *size);

/* The endpoints of cm_files_routes, for a daemon that installs its own routes (to
 * authenticate and authorize first) and then lets the module answer. */
enum cm_files_endpoint {
    CM_FILES_BROWSE,
    CM_FILES_READ,
    CM_FILES_DOWNLOAD,
    CM_FILES_DEBUG,
};
struct cm_http_request;
void cm_files_serve(struct cm_files *files, enum cm_files_endpoint endpoint,
                    struct cm_http_request *req);

#endif
