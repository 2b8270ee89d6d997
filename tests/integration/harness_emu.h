/*
 * harness_emu.h: the scale tests' pieces on top of harness.h: a real mesos-master without an
 * agent, a mesos-agent-emulator (docs/emulator.md) driven over its control socket, and waits on
 * the emulator's stats and the master's /metrics/snapshot.
 *
 * The emulator is a harness process: the end of each test case kills it. Nothing here is
 * thread-safe; a test case calls it from its one thread.
 */
#ifndef CM_ITEST_HARNESS_EMU_H
#define CM_ITEST_HARNESS_EMU_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

struct itest_emu {
    struct itest_proc proc;
    int ctl_port;
};

/* Starts mesos-agent-emulator with agents emulated agents of resources against c's master, tasks
 * running for run_time (--task_run_time), plus one extra flag (or NULL); waits for its control
 * port. 0, or -1 (the reason on stderr). */
int itest_emu_start(struct itest_emu *e, const struct itest_cluster *c, int agents,
                    const char *resources, const char *run_time, const char *extra);
/* Sends one control command; its one-line answer (without the newline) goes into out.
 * 0, or -1 when the emulator does not answer with a whole line. */
int itest_emu_ctl(const struct itest_emu *e, const char *cmd, char *out, size_t outlen);
/* The counter key from the emulator's "stats", or -1. */
long long itest_emu_stat(const struct itest_emu *e, const char *key);
/* Waits up to secs for the emulator's counter key to be want; false (and why on stderr) if not. */
bool itest_emu_wait(const struct itest_emu *e, const char *key, long long want, double secs);

/* Runs emulator-loadgen (a real scheduler API framework) against c's master: frameworks
 * frameworks launch tasks tasks of cpus 0.5, mem 128 running 0.3s between them; waits up to 90s
 * for it to end. Its log's path goes into log; *status gets its wait status. 0, or -1 when it
 * could not be started or did not end in time. */
int itest_emu_loadgen(const struct itest_cluster *c, int frameworks, int tasks, char *log,
                      size_t loglen, int *status);

/* The number key of the master's /metrics/snapshot on port, or -1. */
long long itest_metric(int port, const char *key);
/* Waits up to secs for the master's metric key to be want; false (and why on stderr) if not. */
bool itest_metric_wait(int port, const char *key, long long want, double secs);

/* Starts a cluster of one master without an agent, --registry=in_memory and room for many
 * connections, plus extra flags (NULL-terminated or NULL; at most 13 are taken). */
int itest_emu_master_start(struct itest_cluster *c, const char *const *extra);

#endif
