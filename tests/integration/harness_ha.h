/*
 * harness_ha.h: several masters (and agents given any --master string) for the high
 * availability tests, on top of harness.h and harness_zk.h (additive: nothing there changes).
 *
 * Each master gets its own temp dir (work dir, port file, log) and --port=0; its port is read
 * back from the port file. Processes are registered with the harness, so the end of each test
 * case kills them and removes their files.
 */
#ifndef CM_ITEST_HARNESS_HA_H
#define CM_ITEST_HARNESS_HA_H

#include "harness.h"

struct itest_ha_master {
    char dir[256];
    struct itest_proc proc;
    int port;
};

/* Starts mesos-master with --zk=zk_url --quorum=2 --zk_session_timeout=session, plus extra
 * (NULL-terminated or NULL), and waits for its port file. 0 or a negative error. */
int itest_ha_master_start(struct itest_ha_master *m, const char *zk_url, const char *session,
                          const char *const *extra);
/* Starts mesos-agent with --master=master and its own work dir; *port gets its port. */
int itest_ha_agent_start(struct itest_proc *p, const char *master, const char *resources,
                         int *port);
/* master/elected from /metrics/snapshot: 1, 0, or -1 when the master does not answer. */
int itest_ha_elected(int port);
/* Waits until exactly one of the live masters reports master/elected 1 and has finished
 * recovery (its /master/state answers 200 with "leader" naming itself). Returns its index or
 * -1 after timeout_ms. */
int itest_ha_wait_leader(struct itest_ha_master *ms, size_t n, int timeout_ms);
/* Number of live masters reporting master/elected 1. */
int itest_ha_count_elected(struct itest_ha_master *ms, size_t n);
/* Waits until the master at port lists agent_id as active in /master/state. 0 or -ETIMEDOUT. */
int itest_ha_wait_agent(int port, const char *agent_id, int timeout_ms);
/* The single agent's id from /master/state at port ("" if none) into out. */
int itest_ha_agent_id(int port, char *out, size_t len);
long long itest_ha_now_ms(void);
void itest_ha_sleep_ms(int ms);

#endif
