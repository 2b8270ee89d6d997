/*
 * chaos_agent: the "Nothing lost" report. Runs 200 short tasks of a checkpointing framework
 * on one agent (real mesos-master / mesos-agent / mesos-executor processes, via the
 * integration harness) and kill -9s the agent at 10 random moments, restarting it each time
 * (--recover=reconnect). Prints the number of tasks whose terminal update never reached the
 * framework (must be 0) and the longest delay the kills caused: for each task, the time from
 * its launch to its terminal update, minus its own run time (its sleep); the longest of those,
 * next to the median as the no-kill baseline. Every task that did not finish (no terminal
 * update, or one other than TASK_FINISHED) is listed, and the kills reported are those that
 * happened (a live agent died of SIGKILL), next to the number planned.
 *
 * Usage: bench-chaos_agent [tasks=200] [kills=10] [seed]
 * Not a ctest test (it takes a minute or so); run by hand.
 */
#define ITEST_HARNESS_IMPL /* no test cases here: test.h is not needed */
#include "harness_agent.h"

#include "errors.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TASKS 2000

struct task {
    char id[32];
    double sleep_s;
    double launched; /* 0 = not yet */
    double terminal; /* 0 = not yet */
    int state;
    int updates, duplicates;
    char message[600];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* kill -9 of the running agent. Counts only a kill that happened: there was a live agent and
 * it died of SIGKILL (the run can end, or the agent can be down, before a planned moment). */
static int kill_agent(struct itest_cluster *c)
{
    if (!itest_proc_alive(&c->agent) || itest_proc_signal(&c->agent, SIGKILL) != 0)
        return 0;
    int status = 0;
    if (itest_proc_wait(&c->agent, 5000, &status) != 0)
        return 0;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct task tasks[MAX_TASKS];

int main(int argc, char **argv)
{
    int ntasks = argc > 1 ? atoi(argv[1]) : 200;
    int nkills = argc > 2 ? atoi(argv[2]) : 10;
    unsigned seed = argc > 3 ? (unsigned)atoi(argv[3]) : (unsigned)time(NULL);
    if (ntasks <= 0 || ntasks > MAX_TASKS || nkills < 0) {
        fprintf(stderr, "usage: %s [tasks] [kills] [seed]\n", argv[0]);
        return 2;
    }
    srandom(seed);
    itest_init();
    alarm(0); /* the harness's watchdog is for test cases; this run sets its own deadline */

    struct itest_cluster c;
    struct itest_cluster_opts co = {.no_agent = 1};
    static const char *const flags[] = {"--registration_backoff_factor=100ms", NULL};
    if (itest_cluster_start(&c, &co) != 0 || itest_agent_spawn(&c, NULL, flags) != 0 ||
        itest_agent_wait_registered(&c, ITEST_WAIT_MS) != 0) {
        fprintf(stderr, "failed to start the cluster\n");
        itest_case_end("chaos", 1);
        return 1;
    }
    struct itest_fw_opts fo = {.checkpoint = 1, .failover_timeout = 3600, .name = "chaos"};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, &fo);
    if (!fw) {
        itest_case_end("chaos", 1);
        return 1;
    }
    for (int i = 0; i < ntasks; i++) {
        snprintf(tasks[i].id, sizeof tasks[i].id, "chaos-%03d", i);
        tasks[i].sleep_s = 0.1 * (double)(1 + random() % 15); /* 0.1 .. 1.5 s */
    }

    double start = now_s();
    /* Kill moments spread at random over the expected run (about 1 s per 10 tasks). */
    double span = (double)ntasks / 15.0;
    double kills[64];
    if (nkills > 64)
        nkills = 64;
    for (int k = 0; k < nkills; k++)
        kills[k] = start + 1.0 + span * ((double)random() / (double)RAND_MAX);
    qsort(kills, (size_t)nkills, sizeof kills[0], cmp_double);
    int next_kill = 0, next_task = 0, done = 0, agent_down = 0, killed = 0;
    double restart_at = 0, deadline = start + span + 600;

    while (done < ntasks && now_s() < deadline) {
        double t = now_s();
        if (!agent_down && next_kill < nkills && t >= kills[next_kill]) {
            int ok = kill_agent(&c);
            killed += ok;
            fprintf(stderr, "[%6.2fs] kill -9 of the agent (%d/%d planned)%s, %d/%d tasks done\n",
                    t - start, next_kill + 1, nkills, ok ? "" : ": no live agent to kill", done,
                    ntasks);
            agent_down = 1;
            next_kill++;
            restart_at = t + 0.5 * ((double)random() / (double)RAND_MAX);
        }
        if (agent_down && t >= restart_at) {
            if (itest_agent_spawn(&c, NULL, flags) != 0) {
                fprintf(stderr, "the agent did not restart\n");
                break;
            }
            agent_down = 0;
        }
        struct itest_event ev;
        int rc = itest_fw_next(fw, 100, &ev);
        if (rc == CM_ECLOSED) {
            fprintf(stderr, "the framework's stream closed\n");
            break;
        }
        if (rc != 0)
            continue;
        if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) {
            for (size_t o = 0; o < ev.n_offers; o++) {
                struct itest_offer *of = &ev.offers[o];
                struct itest_task batch[64];
                size_t nb = 0;
                double cpus = of->cpus, mem = of->mem;
                while (next_task < ntasks && nb < 64 && cpus >= 0.05 && mem >= 16) {
                    struct task *tk = &tasks[next_task++];
                    static char cmds[MAX_TASKS][32];
                    snprintf(cmds[tk - tasks], sizeof cmds[0], "sleep %.1f", tk->sleep_s);
                    batch[nb].id = tk->id;
                    batch[nb].command = cmds[tk - tasks];
                    batch[nb].cpus = 0.05;
                    batch[nb].mem = 16;
                    tk->launched = now_s();
                    nb++;
                    cpus -= 0.05;
                    mem -= 16;
                }
                const char *oid = of->id;
                if (nb == 0 || itest_fw_accept(fw, &oid, 1, of->agent_id, batch, nb, 0) != 202) {
                    /* Not accepted (e.g. the offer was rescinded): launch them again later. */
                    if (nb)
                        next_task -= (int)nb;
                    if (!nb)
                        itest_fw_decline(fw, oid, 0);
                }
            }
        } else if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE) {
            struct task *tk = NULL;
            for (int i = 0; i < ntasks && !tk; i++)
                if (strcmp(tasks[i].id, ev.status.task_id) == 0)
                    tk = &tasks[i];
            if (ev.status.has_uuid)
                itest_fw_ack(fw, &ev.status);
            if (!tk)
                continue;
            tk->updates++;
            int term = ev.status.state != MESOS__V1__TASK_STATE__TASK_STARTING &&
                       ev.status.state != MESOS__V1__TASK_STATE__TASK_RUNNING &&
                       ev.status.state != MESOS__V1__TASK_STATE__TASK_STAGING;
            if (term && tk->terminal > 0) {
                tk->duplicates++;
            } else if (term) {
                tk->terminal = now_s();
                tk->state = ev.status.state;
                snprintf(tk->message, sizeof tk->message, "%s: %s",
                         itest_state_name(ev.status.state), ev.status.message);
                done++;
            }
        }
    }

    int missing = 0, finished = 0, other = 0, dups = 0;
    double *excess = calloc((size_t)ntasks, sizeof *excess);
    int nex = 0;
    double worst = 0;
    const char *worst_id = "-";
    for (int i = 0; i < ntasks; i++) {
        struct task *tk = &tasks[i];
        dups += tk->duplicates;
        if (tk->terminal == 0) {
            /* Every one is listed: a lost task is the finding this run exists for. */
            missing++;
            if (tk->launched == 0)
                fprintf(stderr, "  %s did not finish: never launched\n", tk->id);
            else
                fprintf(stderr,
                        "  %s did not finish: launched at +%.2f s, %d update(s), no terminal one\n",
                        tk->id, tk->launched - start, tk->updates);
            continue;
        }
        if (tk->state == MESOS__V1__TASK_STATE__TASK_FINISHED) {
            finished++;
        } else {
            other++;
            fprintf(stderr, "  %s did not finish: ended %s\n", tk->id, tk->message);
        }
        double x = tk->terminal - tk->launched - tk->sleep_s;
        excess[nex++] = x;
        if (x > worst) {
            worst = x;
            worst_id = tk->id;
        }
    }
    qsort(excess, (size_t)nex, sizeof *excess, cmp_double);
    printf("chaos_agent: %d tasks, %d agent kill -9s done of %d planned (seed %u), %.1f s in all\n",
           ntasks, killed, nkills, seed, now_s() - start);
    printf("tasks whose terminal update never reached the framework: %d\n", missing);
    printf("longest delay caused: %.2f s (task %s; median launch-to-terminal overhead %.2f s)\n",
           worst, worst_id, nex ? excess[nex / 2] : 0.0);
    printf("terminal states: %d TASK_FINISHED, %d other; duplicate terminal updates: %d\n",
           finished, other, dups);
    free(excess);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
    itest_case_end("chaos", missing != 0);
    return missing == 0 ? 0 : 1;
}
