/* harness_docker.c: a private dockerd and a busybox image for the tests (harness_docker.h). */
#define ITEST_HARNESS_IMPL
#include "harness_docker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct itest_docker *registered;

static void at_exit(void)
{
    if (registered)
        itest_docker_stop(registered);
}

static int run_quiet(char *const argv[], int timeout_ms, char **out)
{
    int status = 0;
    char *o = NULL;
    int rc = itest_run(argv, timeout_ms, &status, &o);
    if (out)
        *out = o ? o : strdup("");
    else
        free(o);
    if (rc != 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int itest_docker_cli(const struct itest_docker *d, const char *const *args, char **out)
{
    char host[128];
    snprintf(host, sizeof host, "unix://%s", d->sock);
    char *argv[48];
    size_t n = 0;
    argv[n++] = ITEST_DOCKER_CLI;
    argv[n++] = "-H";
    argv[n++] = host;
    for (size_t i = 0; args[i] && n < 47; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return run_quiet(argv, 60000, out);
}

char *itest_docker_names(const struct itest_docker *d, const char *prefix)
{
    char filter[128];
    snprintf(filter, sizeof filter, "name=%s", prefix);
    const char *args[] = {"ps", "-a", "--filter", filter, "--format", "{{.Names}}", NULL};
    char *out = NULL;
    if (itest_docker_cli(d, args, &out) != 0) {
        fprintf(stderr, "docker ps failed: %s\n", out ? out : "");
        free(out);
        return NULL;
    }
    return out;
}

/* The image: busybox and its applets, plus an os-release the host does not have. */
static int build_image(struct itest_docker *d, char *why, size_t whylen)
{
    const char *busybox = access("/bin/busybox", X_OK) == 0 ? "/bin/busybox" : "/usr/bin/busybox";
    char root[128], path[256], tar[128];
    snprintf(root, sizeof root, "%s/rootfs", d->dir);
    snprintf(tar, sizeof tar, "%s/busybox.tar", d->dir);
    const char *dirs[] = {"", "/bin", "/etc", "/tmp", "/data", NULL};
    for (size_t i = 0; dirs[i]; i++) {
        snprintf(path, sizeof path, "%s%s", root, dirs[i]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            snprintf(why, whylen, "mkdir %s: %s", path, strerror(errno));
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/bin/busybox", root);
    char *cp[] = {"/bin/cp", (char *)busybox, path, NULL};
    if (run_quiet(cp, 10000, NULL) != 0) {
        snprintf(why, whylen, "cannot copy %s", busybox);
        return -1;
    }
    const char *applets[] = {"sh",    "cat",   "echo", "sleep", "ls",   "id",    "env",
                             "ps",    "httpd", "dd",   "head",  "tail", "true",  "false",
                             "mkdir", "test",  "wc",   "grep",  "nc",   "touch", NULL};
    for (size_t i = 0; applets[i]; i++) {
        snprintf(path, sizeof path, "%s/bin/%s", root, applets[i]);
        if (symlink("busybox", path) != 0 && errno != EEXIST) {
            snprintf(why, whylen, "symlink %s: %s", path, strerror(errno));
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/etc/os-release", root);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(why, whylen, "cannot write %s", path);
        return -1;
    }
    fprintf(f, "NAME=\"cmesos busybox\"\nID=cmesos-busybox\n");
    fclose(f);
    char *tarv[] = {"/bin/tar", "-C", root, "-cf", tar, ".", NULL};
    if (run_quiet(tarv, 20000, NULL) != 0) {
        snprintf(why, whylen, "tar of the image root failed");
        return -1;
    }
    const char *imp[] = {"import", tar, ITEST_DOCKER_IMAGE, NULL};
    char *out = NULL;
    int rc = itest_docker_cli(d, imp, &out);
    if (rc != 0)
        snprintf(why, whylen, "docker import failed: %.200s", out ? out : "");
    free(out);
    return rc == 0 ? 0 : -1;
}

int itest_docker_start(struct itest_docker *d, char *why, size_t whylen)
{
    memset(d, 0, sizeof *d);
    if (geteuid() != 0) {
        snprintf(why, whylen, "dockerd needs root");
        return -1;
    }
    if (access("/usr/sbin/dockerd", X_OK) != 0 || access(ITEST_DOCKER_CLI, X_OK) != 0) {
        snprintf(why, whylen, "dockerd or %s is not installed", ITEST_DOCKER_CLI);
        return -1;
    }
    if (access("/bin/busybox", X_OK) != 0 && access("/usr/bin/busybox", X_OK) != 0) {
        snprintf(why, whylen, "busybox (static) is not installed; the test image needs it");
        return -1;
    }
    snprintf(d->dir, sizeof d->dir, "/tmp/itd-XXXXXX");
    if (!mkdtemp(d->dir)) {
        snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    snprintf(d->sock, sizeof d->sock, "%s/d.sock", d->dir);
    char data[96], exec[96], pidf[96], host[128], log[96];
    snprintf(data, sizeof data, "%s/data", d->dir);
    snprintf(exec, sizeof exec, "%s/exec", d->dir);
    snprintf(pidf, sizeof pidf, "%s/d.pid", d->dir);
    snprintf(host, sizeof host, "unix://%s", d->sock);
    snprintf(log, sizeof log, "%s/dockerd.log", d->dir);
    registered = d;
    static int once;
    if (!once++)
        atexit(at_exit);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/sbin/dockerd", "dockerd", "--data-root", data, "--exec-root", exec, "-H", host,
              "--iptables=false", "--bridge=none", "--pidfile", pidf, (char *)NULL);
        _exit(127);
    }
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        return -1;
    }
    d->pid = pid;
    const char *version[] = {"version", "--format", "{{.Server.Version}}", NULL};
    for (int i = 0; i < 200; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            d->pid = 0;
            char *text = itest_read_file(log, NULL);
            size_t n = text ? strlen(text) : 0;
            snprintf(why, whylen, "dockerd exited: %.300s",
                     text ? text + (n > 300 ? n - 300 : 0) : "");
            free(text);
            return -1;
        }
        if (access(d->sock, F_OK) == 0 && itest_docker_cli(d, version, NULL) == 0)
            return build_image(d, why, whylen);
        usleep(100000);
    }
    snprintf(why, whylen, "dockerd did not answer on %s within 20 s", d->sock);
    return -1;
}

/* Mount points under dir, deepest first, detached. */
static void unmount_under(const char *dir)
{
    for (int pass = 0; pass < 4; pass++) {
        FILE *f = fopen("/proc/self/mountinfo", "r");
        if (!f)
            return;
        char line[4096];
        int found = 0;
        size_t dl = strlen(dir);
        while (fgets(line, sizeof line, f)) {
            char mp[2048];
            if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) != 1)
                continue;
            if (strncmp(mp, dir, dl) == 0 && (mp[dl] == '/' || mp[dl] == '\0')) {
                umount2(mp, MNT_DETACH);
                found = 1;
            }
        }
        fclose(f);
        if (!found)
            return;
    }
}

void itest_docker_stop(struct itest_docker *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int st;
        for (int i = 0; i < 150; i++) {
            if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
                d->pid = 0;
                break;
            }
            usleep(100000);
        }
        if (d->pid > 0) {
            kill(-d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            d->pid = 0;
        }
    }
    if (d->dir[0]) {
        unmount_under(d->dir);
        char *rm[] = {"/bin/rm", "-rf", d->dir, NULL};
        run_quiet(rm, 60000, NULL);
        d->dir[0] = '\0';
    }
    if (registered == d)
        registered = NULL;
}
