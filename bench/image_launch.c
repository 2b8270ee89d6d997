/*
 * bench-image_launch: launch -> TASK_RUNNING latency of a task in a container image (Mesos
 * containerizer, --image_providers=docker, warm store) beside the same task without an image,
 * measured in the same run on one real master and agent (127.0.0.1).
 *
 * Each sample: a framework (JSON scheduler API) takes an offer, POSTs ACCEPT with one task
 * ("true"), and the clock stops when its TASK_RUNNING update arrives; the task then finishes
 * and the next sample waits for the next offer. Image and plain samples alternate so that
 * machine load hits both alike. The first image launch (which pulls the image into the store)
 * is reported apart and not counted. The image is built here (busybox-static, no dockerd).
 * Isolation: filesystem/linux,namespaces/pid for both.
 *
 * Usage: bench-image_launch [samples per kind, default 30]. Needs root and /bin/busybox; prints
 * a message and exits 0 elsewhere. Prints p50/p90/p99/max in ms.
 */
#include "harness.h"

#include <dirent.h>
#include <ftw.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "containerizer/rootfs.h"
#include "itest_images_build.h"

static struct itest_cluster c;
static char top[64];

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

static json_t *task(const char *id, bool image)
{
    json_t *res =
        json_pack("[{s:s, s:s, s:{s:f}}, {s:s, s:s, s:{s:f}}]", "name", "cpus", "type", "SCALAR",
                  "scalar", "value", 0.1, "name", "mem", "type", "SCALAR", "scalar", "value", 32.0);
    json_t *t =
        json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:o}", "name", id, "task_id", "value", id,
                  "agent_id", "value", c.agent_id, "command", "value", "true", "resources", res);
    json_object_set_new(t, "container",
                        image ? json_pack("{s:s, s:{s:{s:s, s:{s:s}}}}", "type", "MESOS", "mesos",
                                          "image", "type", "DOCKER", "docker", "name", "busybox")
                              : json_pack("{s:s}", "type", "MESOS"));
    return t;
}

/* One sample: ACCEPT -> TASK_RUNNING in ms, or < 0. */
static double sample(struct itest_fw *fw, const char *id, bool image)
{
    struct itest_offers off;
    if (itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) != 0)
        return -1;
    json_t *ids = json_array();
    for (size_t i = 0; i < off.n; i++)
        json_array_append_new(ids, json_pack("{s:s}", "value", off.idv[i]));
    json_t *call = json_pack("{s:s, s:{s:s}, s:{s:o, s:[{s:s, s:{s:[o]}}], s:{s:f}}}", "type",
                             "ACCEPT", "framework_id", "value", fw->framework_id, "accept",
                             "offer_ids", ids, "operations", "type", "LAUNCH", "launch",
                             "task_infos", task(id, image), "filters", "refuse_seconds", 0.0);
    char *text = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    double t0 = now_ms();
    int rc = itest_fw_post(fw, text, strlen(text), 1);
    free(text);
    if (rc != 202)
        return -1;
    struct itest_status st;
    if (itest_fw_wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS, &st) != 0) {
        fprintf(stderr, "task %s: no TASK_RUNNING (%s)\n", id, st.message);
        return -1;
    }
    double ms = now_ms() - t0;
    if (itest_fw_wait_state(fw, id, MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL) != 0)
        return -1;
    return ms;
}

static void report(const char *what, double *v, size_t n)
{
    if (n == 0) {
        printf("%-34s no samples\n", what);
        return;
    }
    qsort(v, n, sizeof *v, cmp_double);
    printf("%-34s n=%-3zu p50 %7.2f  p90 %7.2f  p99 %7.2f  max %7.2f ms\n", what, n, v[n / 2],
           v[(size_t)((double)(n - 1) * 0.9)], v[(size_t)((double)(n - 1) * 0.99)], v[n - 1]);
}

/* The image's part of a launch alone: in a forked child, a new mount namespace and
 * cm_rootfs_mount (tmpfs, overlayfs over the store's layers, sandbox bind, /proc, /dev,
 * sysfs), timed to the child's exit; beside it the same child without the rootfs. */
static double rootfs_sample(const struct cm_rootfs_spec *spec)
{
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
            _exit(1);
        char why[256];
        _exit(spec && cm_rootfs_mount(spec, why, sizeof why) != 0 ? 2 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? now_ms() - t0 : -1;
}

static void rootfs_bench(const char *store, int n)
{
    char layers_dir[700];
    snprintf(layers_dir, sizeof layers_dir, "%s/layers", store);
    DIR *d = opendir(layers_dir);
    char *layers[8];
    size_t nl = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) && nl < 8)
        if (de->d_name[0] != '.') {
            layers[nl] = malloc(1024);
            snprintf(layers[nl], 1024, "%s/%s/rootfs", layers_dir, de->d_name);
            nl++;
        }
    if (d)
        closedir(d);
    char base[600], sandbox[600];
    snprintf(base, sizeof base, "%s/mnt", top);
    snprintf(sandbox, sizeof sandbox, "%s/sandbox", top);
    mkdir(base, 0755);
    mkdir(sandbox, 0755);
    struct cm_rootfs_spec *spec = cm_rootfs_spec_new(base, layers, nl, sandbox, 64 << 20);
    double *with = calloc((size_t)n, sizeof *with), *without = calloc((size_t)n, sizeof *without);
    size_t nw = 0, no = 0;
    for (int i = 0; i < n; i++) {
        double a = rootfs_sample(spec), b = rootfs_sample(NULL);
        if (a >= 0)
            with[nw++] = a;
        if (b >= 0)
            without[no++] = b;
    }
    printf("rootfs assembly alone (%zu layers, fork + unshare + mounts, to the child's exit):\n",
           nl);
    report("  with cm_rootfs_mount", with, nw);
    report("  fork + unshare only", without, no);
    cm_rootfs_spec_free(spec);
    for (size_t i = 0; i < nl; i++)
        free(layers[i]);
    free(with);
    free(without);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 30;
    if (n < 1 || n > 1000)
        n = 30;
    if (geteuid() != 0) {
        printf("bench-image_launch: needs root (mount namespaces); skipped\n");
        return 0;
    }
    busybox = itest_read_file("/bin/busybox", &busybox_len);
    if (!busybox || busybox_len < 100000) {
        printf("bench-image_launch: needs a static /bin/busybox; skipped\n");
        return 0;
    }
    itest_init();
    snprintf(top, sizeof top, "/tmp/bench-images-XXXXXX");
    if (!mkdtemp(top))
        return 1;
    snprintf(reg, sizeof reg, "%s/registry", top);
    mkdir(reg, 0755);
    if (write_image("busybox.tar", "busybox:latest", "bench-image", false, NULL) != 0)
        return 1;
    char reg_flag[400];
    snprintf(reg_flag, sizeof reg_flag, "--docker_registry=%s", reg);
    const char *flags[] = {"--image_providers=docker",
                           "--isolation=filesystem/linux,namespaces/pid", reg_flag, NULL};
    struct itest_cluster_opts o = {.agent_flags = flags};
    if (itest_cluster_start(&c, &o) != 0)
        return 1;
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_JSON, NULL);
    if (!fw)
        return 1;
    double cold = sample(fw, "cold", true);
    double *img = calloc((size_t)n, sizeof *img), *plain = calloc((size_t)n, sizeof *plain);
    size_t ni = 0, np = 0;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "plain-%d", i);
        double p = sample(fw, id, false);
        if (p >= 0)
            plain[np++] = p;
        snprintf(id, sizeof id, "image-%d", i);
        double m = sample(fw, id, true);
        if (m >= 0)
            img[ni++] = m;
    }
    double load[3] = {0};
    getloadavg(load, 3);
    printf("launch -> TASK_RUNNING (ACCEPT posted to the update received), load %.2f %.2f %.2f\n",
           load[0], load[1], load[2]);
    printf("%-34s %.2f ms (pull + extract + launch)\n", "image, cold store (first launch)", cold);
    report("image busybox, warm store", img, ni);
    report("same task, no image", plain, np);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
    char store[600];
    snprintf(store, sizeof store, "%s/store/docker", c.agent_work);
    rootfs_bench(store, n);
    itest_case_end("bench", 0);
    nftw(top, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    free(img);
    free(plain);
    return 0;
}
