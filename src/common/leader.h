/*
 * leader.h: master leader election (contender) and leader detection (detector).
 *
 * A contender is what a master runs to become the leader; a detector is what agents,
 * frameworks, tools and standby masters run to learn who leads. Each has two
 * implementations behind one interface:
 *
 * - standalone: the contender is always elected (reported once, asynchronously, after
 *   start); the detector reports one fixed master ("host:port" flags) once after start.
 * - ZooKeeper (docs/wire-protocol.md §8): under the URL's path (created recursively as persistent
 *   nodes with empty data) each contender creates one EPHEMERAL|SEQUENTIAL znode
 *   "json.info_NNNNNNNNNN" holding its MasterInfo as Mesos's JSON (cm_pbjson_to_text: id, ip as
 *   a network-order uint32, port, pid, hostname, version, address{hostname, ip, port},
 *   capabilities). Nothing else is ever created under the path. The leader is the child with
 *   the lowest sequence number among "json.info_" and legacy "info_" children (binary
 *   MasterInfo, pre-0.24 masters) whose data parses; a child whose data does not parse is
 *   skipped with one log line (never a crash), and contenders and detectors skip the same
 *   nodes, so they agree. Other children (log_replicas, ...) are ignored.
 *   A contender is elected when its own node is that leader. It loses leadership, reported at
 *   once, when its session expires (told by the server, or no server took the session back
 *   within the session timeout) or when its node is deleted; it then contends again with a new
 *   node (new session after an expiry). During a disconnection shorter than the session
 *   timeout nothing changes, as in Mesos. If the outcome of creating its node is unknown
 *   (connection lost meanwhile), it ends that session on reconnect rather than risk an orphan
 *   node that would lead in its name.
 *   A detector watches the children and reports every change of the leading node (including
 *   "no leader" when the last one goes, and after its session expired).
 *
 * Callbacks run on the loop thread, never from inside the call that started things (start
 * defers its first report to the loop), and may free the object they belong to. Strings and
 * MasterInfos passed in are copied; MasterInfos handed out are owned by the object and valid
 * until its next callback or its free. Errors are logged with module "leader"; the objects
 * keep retrying (1 s) rather than give up, since ZooKeeper outages are expected to end.
 */
#ifndef CM_LEADER_H
#define CM_LEADER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "zk_url.h"

struct cm_leader_contender;
struct cm_leader_detector;

/* elected: true when this contender became the leader, false when it lost leadership. */
typedef void (*cm_leader_contender_cb)(void *arg, bool elected);
/* leader: the current leader, or NULL when none is known. Reported on every change. */
typedef void (*cm_leader_detector_cb)(void *arg, const Mesos__V1__MasterInfo *leader);

/* ---- contenders ------------------------------------------------------------------------- */

struct cm_leader_contender *cm_leader_contender_standalone_new(struct event_base *base,
                                                               const Mesos__V1__MasterInfo *self,
                                                               cm_leader_contender_cb cb,
                                                               void *arg);
/* session_timeout in seconds (Mesos --zk_session_timeout, 10 by default). Returns NULL (after
 * logging) only if the ZooKeeper client cannot be created. */
struct cm_leader_contender *cm_leader_contender_zk_new(struct event_base *base,
                                                       const struct cm_zk_url *url,
                                                       double session_timeout,
                                                       const Mesos__V1__MasterInfo *self,
                                                       cm_leader_contender_cb cb, void *arg);
/* Begins contending. Returns 0, or CM_ESTATE if already started. */
int cm_leader_contender_start(struct cm_leader_contender *c);
bool cm_leader_contender_elected(const struct cm_leader_contender *c);
/* The leader as this contender sees it (itself when elected), or NULL: for 307 redirects. */
const Mesos__V1__MasterInfo *cm_leader_contender_leader(const struct cm_leader_contender *c);
/* The full path of its znode ("/mesos/json.info_0000000003"), or NULL (standalone, or none
 * yet). */
const char *cm_leader_contender_znode(const struct cm_leader_contender *c);
/* Its ZooKeeper session (owned by the contender), or NULL (standalone). */
struct cm_zk;
struct cm_zk *cm_leader_contender_zk(const struct cm_leader_contender *c);
/* Withdraws (the ZooKeeper session is closed, so the znode goes at once) and frees. */
void cm_leader_contender_free(struct cm_leader_contender *c);

/* ---- detectors -------------------------------------------------------------------------- */

/* leader may be NULL (then "no leader" is reported). */
struct cm_leader_detector *cm_leader_detector_standalone_new(struct event_base *base,
                                                             const Mesos__V1__MasterInfo *leader,
                                                             cm_leader_detector_cb cb, void *arg);
struct cm_leader_detector *cm_leader_detector_zk_new(struct event_base *base,
                                                     const struct cm_zk_url *url,
                                                     double session_timeout,
                                                     cm_leader_detector_cb cb, void *arg);
/* From a --master style spec: "zk://..." or "file:///path" (ZooKeeper), else a fixed
 * "host:port" (also "http://host:port" and "master@host:port"). NULL with a reason in why when
 * the spec is invalid. */
struct cm_leader_detector *cm_leader_detector_new(struct event_base *base, const char *spec,
                                                  double session_timeout, cm_leader_detector_cb cb,
                                                  void *arg, char *why, size_t whylen);
/* Begins detecting. Returns 0, or CM_ESTATE if already started. */
int cm_leader_detector_start(struct cm_leader_detector *d);
/* The current leader or NULL. */
const Mesos__V1__MasterInfo *cm_leader_detector_leader(const struct cm_leader_detector *d);
void cm_leader_detector_free(struct cm_leader_detector *d);

/* ---- helpers ------------------------------------------------------------------------------ */

/* A MasterInfo with every field docs/wire-protocol.md §8 asks for: id, ip (network-order uint32 of
 * ip, 0 if ip is not an IPv4 literal), port, pid "master@ip:port", hostname (ip when NULL),
 * version, address{hostname, ip, port}, capabilities AGENT_UPDATE, AGENT_DRAINING, QUOTA_V2. Free
 * with protobuf_c_message_free_unpacked(&mi->base, NULL). Aborts on out-of-memory. */
Mesos__V1__MasterInfo *cm_leader_master_info_new(const char *id, const char *ip, uint16_t port,
                                                 const char *hostname, const char *version);
/* A deep copy (same freeing rule); NULL for NULL. */
Mesos__V1__MasterInfo *cm_leader_master_info_copy(const Mesos__V1__MasterInfo *mi);

/* If name is an election node ("json.info_<digits>" or legacy "info_<digits>"), returns true
 * and its sequence number and whether it is legacy. */
bool cm_leader_znode_sequence(const char *name, uint64_t *seq, bool *legacy);
/* Parses an election node's data (JSON for json.info_, binary protobuf for info_), checking
 * required fields. 0 and a new message in *out, or CM_EPARSE/CM_EINVAL with a reason. */
int cm_leader_znode_parse(bool legacy, const char *data, size_t len, Mesos__V1__MasterInfo **out,
                          char *why, size_t whylen);

#endif
