/* harness_zk.c: see harness_zk.h. */
#define ITEST_HARNESS_IMPL
#include "harness_zk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZK_JAR "/usr/share/java/zookeeper.jar"

static const char *java_path(void)
{
    static char buf[512];
    const char *home = getenv("JAVA_HOME");
    if (home && *home) {
        snprintf(buf, sizeof buf, "%s/bin/java", home);
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return access("/usr/bin/java", X_OK) == 0 ? "/usr/bin/java" : NULL;
}

int itest_zk_available(char *why, size_t whylen)
{
    if (!java_path()) {
        snprintf(why, whylen, "no java found (install the Debian package 'zookeeper')");
        return 0;
    }
    if (access(ZK_JAR, R_OK) != 0) {
        snprintf(why, whylen, "%s is missing (install the Debian package 'zookeeper')", ZK_JAR);
        return 0;
    }
    return 1;
}

void itest_zk_require(void)
{
    char why[256];
    if (!itest_zk_available(why, sizeof why)) {
        printf("SKIPPED: ZooKeeper server not installed: %s\n", why);
        exit(77);
    }
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

char *itest_zk_4lw(int port, const char *word, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        write(fd, word, strlen(word)) != (ssize_t)strlen(word)) {
        close(fd);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *out = malloc(cap + 1);
    long long deadline = mono_ms() + timeout_ms;
    while (out && len < cap) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = deadline - mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = read(fd, out + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (out)
        out[len] = '\0';
    return out;
}

int itest_zk_start(struct itest_zk *z)
{
    char why[256];
    if (!itest_zk_available(why, sizeof why)) {
        fprintf(stderr, "itest_zk: %s\n", why);
        return -ENOENT;
    }
    char cfg[512], log[512], data[512];
    if (!z->port) {
        int rc = itest_tmpdir(z->dir, sizeof z->dir);
        if (rc)
            return rc;
        z->port = free_port();
        if (z->port < 0)
            return z->port;
        snprintf(data, sizeof data, "%s/data", z->dir);
        mkdir(data, 0755);
        snprintf(cfg, sizeof cfg, "%s/zoo.cfg", z->dir);
        FILE *f = fopen(cfg, "w");
        if (!f)
            return -errno;
        fprintf(f,
                "tickTime=500\n"
                "dataDir=%s\n"
                "clientPort=%d\n"
                "clientPortAddress=127.0.0.1\n"
                "maxClientCnxns=0\n"
                "minSessionTimeout=1000\n"
                "maxSessionTimeout=30000\n"
                "admin.enableServer=false\n"
                "4lw.commands.whitelist=ruok,srvr,cons\n",
                data, z->port);
        fclose(f);
    }
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", z->dir);
    snprintf(log, sizeof log, "%s/zk.log", z->dir);
    /* Client JIT level 1 and the serial collector make the JVM start about twice as fast. */
    char *const argv[] = {(char *)java_path(),
                          "-Xmx256m",
                          "-XX:+UseSerialGC",
                          "-XX:TieredStopAtLevel=1",
                          "-Dzookeeper.admin.enableServer=false",
                          "-cp",
                          ZK_JAR,
                          "org.apache.zookeeper.server.ZooKeeperServerMain",
                          cfg,
                          NULL};
    int rc = itest_proc_spawn(&z->proc, "zookeeper", argv, log);
    if (rc)
        return rc;
    z->running = 1;
    long long deadline = mono_ms() + 30000;
    while (mono_ms() < deadline) {
        if (!itest_proc_alive(&z->proc)) {
            fprintf(stderr, "itest_zk: the ZooKeeper server exited during start\n");
            itest_dump_file("zookeeper log", log, 4000);
            z->running = 0;
            return -ECHILD;
        }
        /* "imok" comes as soon as the port listens; "srvr" tells whether the server already
         * serves requests (it says "not currently serving" while it loads its data). */
        char *ans = itest_zk_4lw(z->port, "ruok", 500);
        int ok = ans && strcmp(ans, "imok") == 0;
        free(ans);
        if (ok) {
            ans = itest_zk_4lw(z->port, "srvr", 500);
            ok = ans && strstr(ans, "Zookeeper version") != NULL;
            free(ans);
        }
        if (ok)
            return 0;
        usleep(100 * 1000);
    }
    fprintf(stderr, "itest_zk: 127.0.0.1:%d did not start serving within 30 s\n", z->port);
    itest_dump_file("zookeeper log", log, 4000);
    return -ETIMEDOUT;
}

void itest_zk_kill(struct itest_zk *z)
{
    if (!z->running)
        return;
    kill(z->proc.pid, SIGKILL);
    itest_proc_wait(&z->proc, 10000, NULL);
    z->running = 0;
}

const char *itest_zk_url(const struct itest_zk *z, const char *path, char *out, size_t len)
{
    snprintf(out, len, "zk://127.0.0.1:%d%s", z->port, path);
    return out;
}

int itest_zk_sessions(const struct itest_zk *z)
{
    char *ans = itest_zk_4lw(z->port, "cons", 1000);
    if (!ans)
        return -1;
    /* One line per connection; those with a session carry "sid=0x<non-zero>". */
    int n = 0;
    for (const char *p = ans; (p = strstr(p, "sid=0x")) != NULL; p += 6) {
        if (p[6] != '0' || (p[7] != ',' && p[7] != ')' && p[7] != '\0'))
            n++;
    }
    free(ans);
    return n;
}
