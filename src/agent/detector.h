/*
 * detector.h: where the leading master is (the master detector seam).
 *
 * Today only the static form --master=host:port (optionally "http://host:port") exists; the
 * zk:// detector of a later issue implements the same interface and reports leader changes
 * through the callback. The agent always asks cm_detector_leader() before (re-)registering.
 */
#ifndef CM_AGENT_DETECTOR_H
#define CM_AGENT_DETECTOR_H

#include <stddef.h>

struct cm_detector;

/* Called when the leader changes (leader may be NULL = none known). */
typedef void (*cm_detector_cb)(void *arg, const char *leader);

/* Parses --master. Returns 0 and *out, or CM_EINVAL with why (e.g. zk:// not supported yet,
 * missing port). */
int cm_detector_new(const char *master, struct cm_detector **out, char *why, size_t whylen);
void cm_detector_free(struct cm_detector *d);
/* "host:port" of the current leader, or NULL. Valid until the next change. */
const char *cm_detector_leader(const struct cm_detector *d);
/* Registers the change callback (the static detector never calls it). */
void cm_detector_watch(struct cm_detector *d, cm_detector_cb cb, void *arg);

#endif
