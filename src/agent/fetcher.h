/*
 * fetcher.h: fetches a task's CommandInfo.uris into its sandbox before the executor starts
 * (Mesos's fetcher, done inside the agent on its event loop instead of a mesos-fetcher child).
 *
 * Sources: http:// and https:// (libcurl through http_client.h, streamed to disk, redirects
 * followed up to 5 hops), file:///abs/path and plain absolute paths (copied in bounded chunks,
 * one chunk per loop turn, so a big file never blocks the loop), and relative paths resolved
 * against --frameworks_home (an error when it is unset). Other schemes are refused.
 *
 * Per URI: the file lands in the sandbox under output_file (validated: relative, no "..") or
 * the URI's base name; then `executable` makes it 0755, or else `extract` unpacks tar, tar.gz,
 * tar.bz2, tar.xz (tar), zip (unzip) and gz (gzip -dc) into the file's directory with a child
 * process in its own process group. URIs with `cache` go through a size-bounded LRU cache
 * (cm_fetch_cache below) keyed by user and URI: a hit is copied from the cache without
 * downloading. Progress and errors are appended to the sandbox's stderr file.
 *
 * Timeouts: a download that receives nothing for --fetcher_stall_timeout fails, and the whole
 * fetch of a task fails after the total timeout, so a fetch never hangs a task. A failed fetch
 * ends with a message "Failed to fetch '<uri>': <why>".
 *
 * Children: the fetcher never waits; the agent's SIGCHLD handler reaps every child and hands
 * the ones it does not know to cm_fetcher_reaped.
 *
 * Ownership: the fetcher copies the URIs and paths it is given. A fetch ends with exactly one
 * done callback unless cancelled first (no callback after cm_fetch_cancel); the done callback
 * is never run from inside cm_fetcher_fetch. Threading: the agent's loop only.
 */
#ifndef CM_AGENT_FETCHER_H
#define CM_AGENT_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mesos/v1/mesos.pb-c.h"

struct event_base;
struct cm_http_client;
struct cm_fetcher;
struct cm_fetch;

struct cm_fetcher_config {
    const char *cache_dir;       /* --fetcher_cache_dir (created; stale entries removed) */
    uint64_t cache_size;         /* --fetcher_cache_size in bytes */
    double stall_timeout;        /* --fetcher_stall_timeout, seconds (<= 0: none) */
    double total_timeout;        /* --fetcher_timeout, seconds (<= 0: none) */
    const char *frameworks_home; /* --frameworks_home or NULL */
};

struct cm_fetcher_metrics {
    double task_fetches_succeeded;
    double task_fetches_failed;
};

/* err is 0 on success, else a negative error and message "Failed to fetch '<uri>': <why>". */
typedef void (*cm_fetch_done_cb)(void *arg, int err, const char *message);

/* Creates the fetcher. client is borrowed (the agent's). Returns 0 or an error with why. */
int cm_fetcher_new(struct event_base *base, struct cm_http_client *client,
                   const struct cm_fetcher_config *cfg, struct cm_fetcher **out, char *why,
                   size_t whylen);
/* Cancels every fetch (no callbacks), kills and reaps their children, frees. NULL is a no-op. */
void cm_fetcher_free(struct cm_fetcher *f);

/* Starts fetching uris into sandbox (whose "stderr" file gets the progress) for user (may be
 * NULL; part of the cache key). Returns the handle (never NULL); done runs later. */
struct cm_fetch *cm_fetcher_fetch(struct cm_fetcher *f, Mesos__V1__CommandInfo__URI *const *uris,
                                  size_t n, const char *sandbox, const char *user,
                                  cm_fetch_done_cb done, void *arg);
struct cm_user;
/* cm_fetcher_fetch for a task that runs as owner (--switch_user; user.h; copied; NULL = the
 * agent's user): every file and directory the fetch makes in the sandbox is created with
 * owner's file-system ids (setfsuid/setfsgid on the loop thread, so it is owned by the user
 * and permission checks are the user's), a local source is opened with the user's rights (a
 * framework cannot fetch a file its user cannot read), and the extractor child drops to the
 * user (groups, gid, uid) before it execs tar/unzip/gzip. The cache stays the agent's. */
struct cm_fetch *cm_fetcher_fetch_as(struct cm_fetcher *f, Mesos__V1__CommandInfo__URI *const *uris,
                                     size_t n, const char *sandbox, const char *user,
                                     const struct cm_user *owner, cm_fetch_done_cb done, void *arg);
/* Stops a fetch in flight (kills its child, drops its download); no callback. NULL: no-op. */
void cm_fetch_cancel(struct cm_fetch *fetch);

/* A child exited (reaped by the agent). Returns true if it was one of the fetcher's. */
bool cm_fetcher_reaped(struct cm_fetcher *f, pid_t pid, int status);

const struct cm_fetcher_metrics *cm_fetcher_metrics(const struct cm_fetcher *f);
uint64_t cm_fetcher_cache_total_bytes(const struct cm_fetcher *f);
uint64_t cm_fetcher_cache_used_bytes(const struct cm_fetcher *f);

/* ---- pieces exported for unit tests ------------------------------------------------------ */

enum cm_fetch_source { CM_FETCH_HTTP, CM_FETCH_LOCAL };

/* Classifies a URI value: http(s) URLs (*out = the URL) or local files (*out = the absolute
 * path, file:// stripped, relative paths joined to frameworks_home). Returns 0 or CM_EINVAL
 * with why (unsupported scheme, relative path without frameworks_home, empty, too long). */
int cm_fetcher_resolve_uri(const char *value, const char *frameworks_home,
                           enum cm_fetch_source *source, char **out, char *why, size_t whylen);
/* The file name a URI is saved under when there is no output_file (last path component,
 * query and fragment dropped). Returns 0 or CM_EINVAL with why. */
int cm_fetcher_basename(const char *value, char **out, char *why, size_t whylen);
/* output_file must be a relative path inside the sandbox: non-empty, no leading '/', no ".."
 * component. Returns 0 or CM_EINVAL with why. */
int cm_fetcher_validate_output_file(const char *output_file, char *why, size_t whylen);

enum cm_archive { CM_ARCHIVE_NONE, CM_ARCHIVE_TAR, CM_ARCHIVE_ZIP, CM_ARCHIVE_GZ };
/* By extension (case-insensitive): .tar .tar.gz .tgz .tar.bz2 .tbz2 .tar.xz .txz, .zip, .gz. */
enum cm_archive cm_fetcher_archive_type(const char *name);

/* The fetcher cache (fetch_cache.c): files in dir named c-<n>, an LRU list and a byte
 * budget. An entry in use (being copied into a sandbox) is never evicted. */
struct cm_fetch_cache;
/* Creates dir if needed and removes stale c-* and tmp-* files from a previous run. */
int cm_fetch_cache_new(const char *dir, uint64_t capacity, struct cm_fetch_cache **out);
void cm_fetch_cache_free(struct cm_fetch_cache *c);
/* A hit: marks the entry used (front of the LRU) and in use; returns its path (malloc'd) or
 * NULL on a miss. Pair with cm_fetch_cache_release. */
char *cm_fetch_cache_acquire(struct cm_fetch_cache *c, const char *key);
void cm_fetch_cache_release(struct cm_fetch_cache *c, const char *key);
/* A fresh path in the cache directory to download into (malloc'd). */
char *cm_fetch_cache_temp_path(struct cm_fetch_cache *c);
/* Moves the downloaded temp file of size bytes in as key, evicting least recently used
 * entries that are not in use until it fits. On success the entry is in use (release it) and
 * *path is its path (malloc'd). CM_ETOOBIG if it cannot fit, CM_EEXIST if key is present
 * (the caller keeps its temp file either way), or -errno. */
int cm_fetch_cache_insert(struct cm_fetch_cache *c, const char *key, const char *temp,
                          uint64_t size, char **path);
uint64_t cm_fetch_cache_used(const struct cm_fetch_cache *c);
uint64_t cm_fetch_cache_capacity(const struct cm_fetch_cache *c);
size_t cm_fetch_cache_count(const struct cm_fetch_cache *c);
bool cm_fetch_cache_contains(const struct cm_fetch_cache *c, const char *key);

#endif
