/*
 * detector.h: where the leading master is (the agent's master detector).
 *
 * --master takes three forms, as in Mesos:
 *   host:port (also http://host:port)  a fixed master; a 307 from it (a standby master
 *                                      answering the agent link) moves the detector to the
 *                                      Location's host:port (cm_detector_redirect);
 *   zk://[user:pass@]h1:p1,.../path    ZooKeeper (src/common/leader.h): the leader is the
 *   file:///path (holding such a URL)  lowest json.info_ znode; every change is reported.
 * The agent asks cm_detector_leader() before (re-)registering and re-registers at once when
 * the watch callback reports a new leader. During a ZooKeeper disconnection shorter than the
 * session timeout the last leader stays known (as in Mesos).
 *
 * Threading: the agent's loop; callbacks never run inside the call that caused them.
 */
#ifndef CM_AGENT_DETECTOR_H
#define CM_AGENT_DETECTOR_H

#include <stddef.h>

struct cm_detector;
struct event_base;

/* The ZooKeeper session timeout of the detector (Mesos's default). */
#define CM_DETECTOR_ZK_SESSION_TIMEOUT 10.0

/* Called when the leader changes (leader "host:port", or NULL = none known). */
typedef void (*cm_detector_cb)(void *arg, const char *leader);

/* Parses --master and, for ZooKeeper, starts detecting on base. Returns 0 and *out, or
 * CM_EINVAL with why (bad URL, missing port). */
int cm_detector_new(struct event_base *base, const char *master, struct cm_detector **out,
                    char *why, size_t whylen);
void cm_detector_free(struct cm_detector *d);
/* "host:port" of the current leader, or NULL. Valid until the next change. */
const char *cm_detector_leader(const struct cm_detector *d);
/* Registers the change callback. */
void cm_detector_watch(struct cm_detector *d, cm_detector_cb cb, void *arg);
/* A master answered 307 with location ("//host:port/path" or "http://host:port/path"): a
 * fixed detector follows it (returns 1); a ZooKeeper detector keeps trusting ZooKeeper
 * (returns 0). */
int cm_detector_redirect(struct cm_detector *d, const char *location);

#endif
