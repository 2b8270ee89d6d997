/*
 * bench-docker_launch: launch -> TASK_RUNNING latency of a Docker task through cmesos, beside
 * `docker run -d` of the same image and command, measured in the same run, alternately, on a
 * private dockerd (tests/integration/harness_docker.h: busybox imported at start).
 *
 * cmesos: from the ACCEPT call (the offer is already held) to the TASK_RUNNING update read by
 * the framework; the path is master -> agent -> mesos-docker-executor (started, subscribed,
 * LAUNCH) -> `docker run -d` -> TASK_RUNNING -> agent -> master -> framework. The task runs
 * `true` with the host network and ends TASK_FINISHED before the next sample.
 * docker run: the wall time of `docker run -d --net host <image> true` (it returns once the
 * container started), the container removed after each sample, untimed. The floor: the same
 * container created and started by two blocking calls to dockerd's API, as the executor does.
 *
 * Usage: bench-docker_launch [samples=20]. Needs root and dockerd; says why and exits 0
 * otherwise. Prints p50/p90/p99/max of both and the overhead at p50. Run with `nice` on a busy
 * machine and report the load beside the figures.
 */
#define ITEST_HARNESS_IMPL /* no test cases here: test.h is not needed */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_agent.h"
#include "harness_docker.h"

#define MAX_SAMPLES 1000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void report(const char *what, double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    printf("%-34s n=%zu p50=%.1f ms p90=%.1f ms p99=%.1f ms max=%.1f ms\n", what, n, pct(v, n, 0.5),
           pct(v, n, 0.9), pct(v, n, 0.99), v[n - 1]);
}

static json_t *scalar(const char *name, double v)
{
    return json_pack("{s:s, s:s, s:{s:f}}", "name", name, "type", "SCALAR", "scalar", "value", v);
}

/* One Docker task on the held offers; returns ms from ACCEPT to TASK_RUNNING, or -1. */
static double one_task(struct itest_fw *fw, const struct itest_offers *off, const char *agent_id,
                       int i)
{
    char id[64];
    snprintf(id, sizeof id, "bench-%d", i);
    json_t *ids = json_array();
    for (size_t k = 0; k < off->n; k++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off->idv[k]));
    json_t *task =
        json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:[o,o], s:{s:s, s:{s:s, s:s}}}", "name", id,
                  "task_id", "value", id, "agent_id", "value", agent_id, "command", "value", "true",
                  "resources", scalar("cpus", 0.1), scalar("mem", 32), "container", "type",
                  "DOCKER", "docker", "image", ITEST_DOCKER_IMAGE, "network", "HOST");
    json_t *call = json_pack("{s:s, s:{s:s}, s:{s:o, s:[{s:s, s:{s:[o]}}], s:{s:f}}}", "type",
                             "ACCEPT", "framework_id", "value", fw->framework_id, "accept",
                             "offer_ids", ids, "operations", "type", "LAUNCH", "launch",
                             "task_infos", task, "filters", "refuse_seconds", 0.0);
    char *text = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    double t0 = now_ms();
    int rc = itest_fw_post(fw, text, strlen(text), 1);
    free(text);
    if (rc != 202) {
        fprintf(stderr, "ACCEPT answered %d: %s\n", rc, fw->last_body);
        return -1;
    }
    struct itest_status s;
    if (itest_fw_wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS, &s) != 0)
        return -1;
    double ms = now_ms() - t0;
    if (itest_fw_wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, &s) != 0)
        return -1;
    return ms;
}

/* `docker run -d` of the same image and command; returns its wall time in ms, or -1. */
static double one_docker_run(const struct itest_docker *dk, int i)
{
    char name[64];
    snprintf(name, sizeof name, "bench-run-%d", i);
    const char *run[] = {"run",  "-d", "--net", "host", "--name", name, ITEST_DOCKER_IMAGE,
                         "true", NULL};
    double t0 = now_ms();
    int rc = itest_docker_cli(dk, run, NULL);
    double ms = now_ms() - t0;
    const char *rm[] = {"rm", "-f", name, NULL};
    itest_docker_cli(dk, rm, NULL);
    return rc == 0 ? ms : -1;
}

static size_t keep_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    char *buf = arg;
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n < 1024) {
        memcpy(buf + have, ptr, n);
        buf[have + n] = '\0';
    }
    return n;
}

/* One blocking POST to dockerd's API; returns the HTTP status (0 on failure). */
static long api_post(const char *sock, const char *path, const char *body, char *out)
{
    CURL *e = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://docker%s", path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    out[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return status;
}

/* The floor: create + start through dockerd's API, as the executor does; ms, or -1. */
static double one_api_run(const struct itest_docker *dk, int i)
{
    char path[128], out[1024];
    snprintf(path, sizeof path, "/containers/create?name=bench-api-%d", i);
    double t0 = now_ms();
    long st = api_post(dk->sock, path,
                       "{\"Image\":\"" ITEST_DOCKER_IMAGE "\",\"Cmd\":[\"true\"],"
                       "\"HostConfig\":{\"NetworkMode\":\"host\"}}",
                       out);
    if (st == 201) {
        snprintf(path, sizeof path, "/containers/bench-api-%d/start", i);
        st = api_post(dk->sock, path, NULL, out);
    }
    double ms = now_ms() - t0;
    char name[64];
    snprintf(name, sizeof name, "bench-api-%d", i);
    const char *rm[] = {"rm", "-f", name, NULL};
    itest_docker_cli(dk, rm, NULL);
    return st == 204 ? ms : -1;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20;
    if (n < 2 || n > MAX_SAMPLES) {
        fprintf(stderr, "usage: %s [samples 2..%d]\n", argv[0], MAX_SAMPLES);
        return 2;
    }
    itest_init();
    alarm(0); /* the harness's watchdog is for test cases */
    struct itest_docker dk;
    char why[512];
    if (itest_docker_start(&dk, why, sizeof why) != 0) {
        printf("bench-docker_launch: skipped: %s\n", why);
        return 0;
    }
    struct itest_cluster c;
    char sock[160];
    snprintf(sock, sizeof sock, "--docker_socket=%s", dk.sock);
    const char *flags[] = {"--containerizers=docker,mesos", "--docker=" ITEST_DOCKER_CLI, sock,
                           "--docker_remove_delay=0secs", NULL};
    if (itest_cluster_start(&c, &(struct itest_cluster_opts){.no_agent = 1}) != 0 ||
        itest_agent_spawn(&c, NULL, flags) != 0 ||
        itest_agent_wait_registered(&c, ITEST_WAIT_MS) != 0) {
        fprintf(stderr, "failed to start the cluster\n");
        itest_case_end("docker_launch", 1);
        return 1;
    }
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    if (!fw) {
        itest_case_end("docker_launch", 1);
        return 1;
    }
    static double mesos[MAX_SAMPLES], docker[MAX_SAMPLES], api[MAX_SAMPLES];
    size_t nm = 0, nd = 0, na = 0;
    /* One warm-up of each (page cache, dockerd's first container). */
    one_docker_run(&dk, -1);
    for (int i = -1; i < n; i++) {
        struct itest_offers off;
        if (itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) != 0) {
            fprintf(stderr, "no offer\n");
            break;
        }
        double d = one_docker_run(&dk, i);
        double a = one_api_run(&dk, i);
        double m = one_task(fw, &off, off.agent_id, i);
        if (i < 0)
            continue;
        if (a >= 0)
            api[na++] = a;
        if (d >= 0)
            docker[nd++] = d;
        if (m >= 0)
            mesos[nm++] = m;
    }
    int failed = nm == 0 || nd == 0;
    if (!failed) {
        report("docker run -d (same image)", docker, nd);
        if (na)
            report("API create+start (the floor)", api, na);
        report("cmesos Docker task -> RUNNING", mesos, nm);
        double dm = pct(docker, nd, 0.5), mm = pct(mesos, nm, 0.5);
        printf("overhead at p50: %+.1f ms (%+.1f %%)\n", mm - dm, 100.0 * (mm - dm) / dm);
        if (na) {
            double am = pct(api, na, 0.5);
            printf("over the API floor at p50: %+.1f ms (%+.1f %%)\n", mm - am,
                   100.0 * (mm - am) / am);
        }
    }
    itest_fw_free(fw);
    itest_cluster_stop(&c);
    itest_case_end("docker_launch", failed);
    itest_docker_stop(&dk);
    return failed;
}
