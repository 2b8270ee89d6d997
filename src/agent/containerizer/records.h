/*
 * records.h: which containers this work dir launched, for the orphan cleanup after a restart.
 *
 * A container is recorded before any of its cgroups exist and forgotten once its teardown is
 * done; at start, the cgroups of recorded containers that were not recovered are orphans (and
 * the cgroups of unrecorded ones belong to someone else sharing the cgroups root). The record
 * used to be one empty file per container in the runtime dir; on ext4 every such file is an
 * inode allocated and freed per task, and each freed inode is one that the next allocations in
 * that block group scan past (ext4 skips recently deleted inodes), which made the sandbox's own
 * inodes slower too. So the records are now one append-only log, <dir>.log, of lines "+<id>"
 * (launched) and "-<id>" (torn down); the last line for an id wins. The launch child appends
 * its own "+" line (cm_records_append: open by path, one O_APPEND write, close; no inode is
 * allocated); the agent appends "-" lines on its loop and rewrites the log from its live set
 * (a temporary file renamed over the log) when it has grown past twice the live set plus
 * 1,024 lines, and at start once the orphans are known. A child that appends to the old file
 * just as it is replaced loses nothing: the rewrite is made from the agent's set, which holds
 * the id from before the clone. Files left in <dir> by an older version (one per id) are read
 * as records too and removed by the first rewrite.
 *
 * Ids with a newline cannot be recorded (they are ignored). Errors writing the log are logged
 * by the caller and otherwise ignored: a lost record means an orphan is left alone, never that
 * someone else's container is killed. Single-threaded (the loop), except cm_records_append,
 * which is async-signal-safe.
 */
#ifndef CM_AGENT_RECORDS_H
#define CM_AGENT_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

struct cm_records;

/* Creates dir (mkdir -p), reads <dir>.log and dir's legacy files. Returns 0 and *out, or a
 * negative error with why naming the path. */
int cm_records_open(const char *dir, struct cm_records **out, char *why, size_t whylen);
/* NULL is a no-op. The log stays. */
void cm_records_free(struct cm_records *r);
/* The log's path (for cm_records_append in a child). */
const char *cm_records_log(const struct cm_records *r);
/* Whether id is recorded. */
bool cm_records_has(const struct cm_records *r, const char *id);
/* Adds id to the set only; the launch child appends its line (cm_records_append). */
void cm_records_note(struct cm_records *r, const char *id);
/* Adds id and appends its "+" line (e.g. a recovered container). Returns 0 or -errno. */
int cm_records_add(struct cm_records *r, const char *id);
/* Forgets id and appends its "-" line; rewrites the log when it has grown (see above).
 * Returns 0 or -errno. */
int cm_records_remove(struct cm_records *r, const char *id);
/* Forgets every id keep() rejects, rewrites the log from what is left and removes legacy
 * files. Returns 0 or -errno. */
int cm_records_prune(struct cm_records *r, bool (*keep)(void *arg, const char *id), void *arg);
/* Number of recorded ids. */
size_t cm_records_count(const struct cm_records *r);

/* Async-signal-safe: appends "+<id>\n" to the log at log_path. Returns 0 or an errno value. */
int cm_records_append(const char *log_path, const char *id);

#endif
