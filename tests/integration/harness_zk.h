/*
 * harness_zk.h: a real ZooKeeper server for integration tests.
 *
 * Starts the Debian "zookeeper" package's server (ZooKeeperServerMain from
 * /usr/share/java/zookeeper.jar, the jar's manifest names its dependencies) in standalone mode
 * on 127.0.0.1 and a free port, with its data dir in a registered temp dir, and waits until it
 * answers "ruok" with "imok" and "srvr" says it serves (a JVM takes one to three seconds). The
 * server is a registered process, so the end of each test case (ITEST_MAIN) kills it and removes
 * its files. tickTime is 500 ms, so sessions may be as short as 1 s (and as long as 30 s): tests
 * use small session timeouts. The four-letter words ruok, srvr and cons are enabled; the admin HTTP
 * server is off.
 *
 * Restart: itest_zk_kill (SIGKILL: a crash) then itest_zk_start again reuses the same port
 * and data dir, so sessions survive a restart shorter than their timeout.
 */
#ifndef CM_ITEST_HARNESS_ZK_H
#define CM_ITEST_HARNESS_ZK_H

#include <stddef.h>

#include "harness.h"

struct itest_zk {
    char dir[256]; /* temp dir: zoo.cfg, data/, zk.log */
    int port;      /* 0 until the first start */
    struct itest_proc proc;
    int running;
};

/* Returns 1 if java and the ZooKeeper jar are installed; otherwise 0 and a reason in why. */
int itest_zk_available(char *why, size_t whylen);
/* Skips the whole test binary (exit 77) with a clear message if ZooKeeper is not installed. */
void itest_zk_require(void);
/* Starts (or restarts) the server and waits up to 30 s until it serves. 0 or a negative error
 * (after printing why; the server's log is dumped). */
int itest_zk_start(struct itest_zk *z);
/* Kills the server with SIGKILL and reaps it. */
void itest_zk_kill(struct itest_zk *z);
/* "zk://127.0.0.1:<port><path>" into out. */
const char *itest_zk_url(const struct itest_zk *z, const char *path, char *out, size_t len);
/* Sends a four-letter word and returns the answer (malloc'd) or NULL. */
char *itest_zk_4lw(int port, const char *word, int timeout_ms);
/* The number of client connections with an established session ("cons"), or -1. */
int itest_zk_sessions(const struct itest_zk *z);

#endif
