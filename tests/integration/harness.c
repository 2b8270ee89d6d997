/*
 * harness.c: processes, HTTP client, RecordIO stream reader and the two-encoding scheduler
 * framework used by the integration tests (see harness.h).
 *
 * The registry of processes, temp dirs and frameworks below is the one piece of global state:
 * it has to be reachable from atexit and from the watchdog's signal handler.
 */
#define ITEST_HARNESS_IMPL
#include "harness.h"

#include <event2/event.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "recordio.h"

#define ITEST_WATCHDOG_SECS 110
#define ITEST_MAX_REG 64
#define ITEST_MAX_BODY (64u << 20)
#define ITEST_MAX_QUEUE 2000

/* ---- registry ----------------------------------------------------------------------------- */

/* Processes are kept by value: a failed test returns early and its itest_proc structs (on
 * its stack) are gone by the time the case is cleaned up. */
struct itest_registry {
    struct itest_proc procs[ITEST_MAX_REG];
    volatile pid_t pgids[ITEST_MAX_REG]; /* read by the watchdog; -1 once stopped */
    size_t n_procs;
    char dirs[ITEST_MAX_REG][256];
    size_t n_dirs;
    struct itest_fw *fws[ITEST_MAX_REG];
    size_t n_fws;
};

static struct itest_registry reg;

static void itest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void itest_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "itest: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "itest: WATCHDOG: test took too long; killing daemons\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    for (size_t i = 0; i < reg.n_procs; i++) {
        if (reg.pgids[i] > 0)
            kill(-reg.pgids[i], SIGKILL);
    }
    for (size_t i = 0; i < reg.n_procs; i++) {
        int fd = open(reg.procs[i].log, O_RDONLY);
        if (fd < 0)
            continue;
        off_t end = lseek(fd, 0, SEEK_END);
        lseek(fd, end > 4000 ? end - 4000 : 0, SEEK_SET);
        w = write(2, "---- log tail: ", 15);
        w = write(2, reg.procs[i].log, strlen(reg.procs[i].log));
        w = write(2, "\n", 1);
        char buf[4096];
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0)
            w = write(2, buf, (size_t)r);
        close(fd);
    }
    _exit(1);
}

static void kill_under_dir(const char *dir)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    size_t dl = strlen(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        char link[64], target[512];
        snprintf(link, sizeof link, "/proc/%ld/cwd", pid);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (strncmp(target, dir, dl) == 0 && (target[dl] == 0 || target[dl] == '/'))
            kill((pid_t)pid, SIGKILL);
    }
    closedir(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Sanitizer reports in a daemon's log fail the case even if the test saw nothing wrong. */
static int sanitizer_report(const char *log)
{
    static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                        "runtime error:"};
    char *text = itest_read_file(log, NULL);
    int found = 0;
    for (size_t i = 0; text && i < sizeof marks / sizeof marks[0]; i++) {
        if (strstr(text, marks[i])) {
            itest_log("sanitizer report (\"%s\") in %s", marks[i], log);
            found = 1;
        }
    }
    free(text);
    return found;
}

static int cleanup_all(int failed)
{
    while (reg.n_fws > 0)
        itest_fw_free(reg.fws[reg.n_fws - 1]);
    for (size_t i = 0; i < reg.n_procs; i++)
        itest_proc_stop(&reg.procs[i]);
    for (size_t i = 0; i < reg.n_dirs; i++)
        kill_under_dir(reg.dirs[i]);
    int reports = 0;
    for (size_t i = 0; i < reg.n_procs; i++)
        reports |= sanitizer_report(reg.procs[i].log);
    failed |= reports;
    if (failed) {
        for (size_t i = 0; i < reg.n_procs; i++)
            itest_dump_file(reg.procs[i].name, reg.procs[i].log, 6000);
    }
    reg.n_procs = 0;
    const char *keep = getenv("ITEST_KEEP");
    for (size_t i = 0; i < reg.n_dirs; i++) {
        if (keep && *keep)
            itest_log("kept %s", reg.dirs[i]);
        else
            nftw(reg.dirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    reg.n_dirs = 0;
    return reports;
}

static void at_exit(void)
{
    /* Exits not passing through itest_case_end (TEST_SKIP, exit() in a helper). */
    (void)cleanup_all(0);
}

void itest_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, watchdog);
    alarm(ITEST_WATCHDOG_SECS);
    atexit(at_exit);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int itest_case_end(const char *name, int failed)
{
    if (failed)
        itest_log("case %s failed; daemon logs follow", name);
    int reports = cleanup_all(failed);
    if (reports)
        itest_log("case %s: a daemon reported a sanitizer error (log above)", name);
    return reports;
}

/* ---- files and processes ----------------------------------------------------------------- */

int itest_tmpdir(char *out, size_t outlen)
{
    char tmpl[] = "/tmp/itest-XXXXXX";
    if (!mkdtemp(tmpl))
        return -errno;
    snprintf(out, outlen, "%s", tmpl);
    if (reg.n_dirs < ITEST_MAX_REG)
        snprintf(reg.dirs[reg.n_dirs++], sizeof reg.dirs[0], "%s", tmpl);
    return 0;
}

const char *itest_bin(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", CM_BIN_DIR, name);
    return buf;
}

int itest_proc_spawn(struct itest_proc *p, const char *name, char *const argv[],
                     const char *log_path)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->log, sizeof p->log, "%s", log_path);
    if (access(argv[0], X_OK) != 0) {
        int err = -errno;
        itest_log("binary %s is missing or not executable: %s", argv[0], strerror(-err));
        return err;
    }
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        alarm(0);
        execv(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(fd);
    p->pid = pid;
    if (reg.n_procs < ITEST_MAX_REG) {
        reg.procs[reg.n_procs] = *p;
        reg.pgids[reg.n_procs] = pid;
        reg.n_procs++;
    }
    return 0;
}

/* The registry's copy of p, or NULL (p is the copy itself, or was never registered). */
static struct itest_proc *reg_copy(const struct itest_proc *p)
{
    for (size_t i = 0; i < reg.n_procs; i++) {
        if (reg.procs[i].pid == p->pid && &reg.procs[i] != p)
            return &reg.procs[i];
    }
    return NULL;
}

static int proc_alive(struct itest_proc *p)
{
    if (p->pid <= 0 || p->exited)
        return 0;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->exited = 1;
        p->status = st;
        return 0;
    }
    return 1;
}

int itest_proc_alive(struct itest_proc *p)
{
    struct itest_proc *r = reg_copy(p);
    if (!r)
        return proc_alive(p);
    int alive = proc_alive(r);
    p->exited = r->exited;
    p->status = r->status;
    return alive;
}

int itest_proc_wait(struct itest_proc *p, int timeout_ms, int *status)
{
    long long deadline = now_ms() + timeout_ms;
    while (itest_proc_alive(p)) {
        if (now_ms() > deadline)
            return -ETIMEDOUT;
        sleep_ms(10);
    }
    if (status)
        *status = p->status;
    return 0;
}

void itest_proc_stop(struct itest_proc *p)
{
    if (p->pid <= 0)
        return;
    struct itest_proc *copy = reg_copy(p);
    if (copy) {
        itest_proc_stop(copy);
        p->exited = copy->exited;
        p->status = copy->status;
        return;
    }
    if (itest_proc_alive(p)) {
        kill(p->pid, SIGTERM);
        if (itest_proc_wait(p, 5000, NULL) != 0) {
            itest_log("%s (pid %d) ignored SIGTERM for 5 s; SIGKILL", p->name, (int)p->pid);
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            itest_proc_wait(p, 5000, NULL);
        }
    }
    /* Whatever the daemon left in its group (executors, tasks) goes too. */
    kill(-p->pid, SIGKILL);
    if (p->exited && WIFSIGNALED(p->status) && WTERMSIG(p->status) != SIGTERM &&
        WTERMSIG(p->status) != SIGKILL)
        itest_log("%s died of signal %d", p->name, WTERMSIG(p->status));
    for (size_t i = 0; i < reg.n_procs; i++) {
        if (reg.procs[i].pid == p->pid)
            reg.pgids[i] = -1;
    }
}

char *itest_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

void itest_dump_file(const char *title, const char *path, size_t tail)
{
    size_t len = 0;
    char *text = itest_read_file(path, &len);
    fprintf(stderr, "---- %s (%s), last %zu bytes ----\n", title, path, tail);
    if (text) {
        const char *start = len > tail ? text + len - tail : text;
        fputs(start, stderr);
        if (len && text[len - 1] != '\n')
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "(unreadable)\n");
    }
    fprintf(stderr, "---- end %s ----\n", title);
    free(text);
}

int itest_run(char *const argv[], int timeout_ms, int *status, char **output)
{
    char dir[256], log[320];
    int rc = itest_tmpdir(dir, sizeof dir);
    if (rc)
        return rc;
    snprintf(log, sizeof log, "%s/run.log", dir);
    struct itest_proc *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    rc = itest_proc_spawn(p, "run", argv, log);
    if (rc) {
        free(p);
        return rc;
    }
    rc = itest_proc_wait(p, timeout_ms, status);
    if (rc) {
        itest_log("%s did not finish within %d ms", argv[0], timeout_ms);
        itest_proc_stop(p);
    }
    kill(-p->pid, SIGKILL);
    if (output)
        *output = itest_read_file(log, NULL);
    /* Drop it from the registry: the struct is freed here. */
    for (size_t i = 0; i < reg.n_procs; i++) {
        if (reg.procs[i].pid == p->pid) {
            reg.procs[i] = reg.procs[reg.n_procs - 1];
            reg.pgids[i] = reg.pgids[reg.n_procs - 1];
            reg.n_procs--;
            break;
        }
    }
    free(p);
    return rc;
}

/* ---- sockets ---------------------------------------------------------------------------- */

static int tcp_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* A growable byte buffer with a read offset. */
struct bbuf {
    uint8_t *data;
    size_t len, off, cap;
};

static int bbuf_reserve(struct bbuf *b, size_t extra)
{
    if (b->off > 0 && b->off == b->len) {
        b->off = b->len = 0;
    }
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    uint8_t *n = realloc(b->data, cap);
    if (!n)
        return -ENOMEM;
    b->data = n;
    b->cap = cap;
    return 0;
}

static int bbuf_append(struct bbuf *b, const void *d, size_t n)
{
    if (bbuf_reserve(b, n))
        return -ENOMEM;
    memcpy(b->data + b->len, d, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

/* Reads once into b, waiting until deadline. Returns bytes read, 0 on EOF, -ETIMEDOUT. */
static ssize_t read_some(int fd, struct bbuf *b, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left));
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (pr == 0)
            return -ETIMEDOUT;
        if (bbuf_reserve(b, 65536))
            return -ENOMEM;
        ssize_t r = recv(fd, b->data + b->len, 65536, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == ECONNRESET)
                return 0;
            return -errno;
        }
        b->len += (size_t)r;
        b->data[b->len] = 0;
        return r;
    }
}

static int build_request(struct bbuf *req, int port, const char *method, const char *path,
                         const char *const *headers, size_t body_len, int has_body, int close)
{
    char line[1024];
    int n =
        snprintf(line, sizeof line, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", method, path, port);
    if (bbuf_append(req, line, (size_t)n))
        return -ENOMEM;
    for (size_t i = 0; headers && headers[i]; i++) {
        if (bbuf_append(req, headers[i], strlen(headers[i])) || bbuf_append(req, "\r\n", 2))
            return -ENOMEM;
    }
    if (has_body) {
        n = snprintf(line, sizeof line, "Content-Length: %zu\r\n", body_len);
        if (bbuf_append(req, line, (size_t)n))
            return -ENOMEM;
    }
    if (close && bbuf_append(req, "Connection: close\r\n", 19))
        return -ENOMEM;
    return bbuf_append(req, "\r\n", 2);
}

/* Parses "HTTP/1.1 NNN ...\r\n<headers>\r\n\r\n" at the start of b once complete. Returns 1
 * when parsed (b->off moves past the header block), 0 when more is needed, <0 on garbage. */
static int parse_head(struct bbuf *b, int *status, char **headers)
{
    if (!b->data || b->len == b->off)
        return 0;
    const char *start = (const char *)b->data + b->off;
    const char *end = strstr(start, "\r\n\r\n");
    if (!end)
        return b->len - b->off > 65536 ? CM_EPROTO : 0;
    int code = 0;
    if (sscanf(start, "HTTP/1.%*d %d", &code) != 1)
        return CM_EPROTO;
    const char *eol = strstr(start, "\r\n");
    size_t hl = (size_t)(end - eol);
    *headers = malloc(hl + 3);
    if (!*headers)
        return -ENOMEM;
    memcpy(*headers, eol + 2, hl);
    (*headers)[hl] = 0;
    *status = code;
    b->off = (size_t)(end + 4 - (const char *)b->data);
    return 1;
}

int itest_header(const char *headers, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = ll - (size_t)(v - p);
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (out && outlen) {
                size_t c = vl < outlen - 1 ? vl : outlen - 1;
                memcpy(out, v, c);
                out[c] = 0;
            }
            return 1;
        }
        p = eol ? eol + 2 : NULL;
    }
    if (out && outlen)
        out[0] = 0;
    return 0;
}

/* Incremental chunked-transfer decoder. */
struct chunked {
    int state; /* 0 size line, 1 data, 2 CRLF after data, 3 done */
    size_t remaining;
};

/* Consumes what it can from in (from in->off); decoded data goes to sink. Returns 1 at the
 * terminating chunk, 0 when it needs more input, <0 on protocol error. */
static int chunked_step(struct chunked *c, struct bbuf *in,
                        int (*sink)(void *arg, const uint8_t *d, size_t n), void *arg)
{
    for (;;) {
        size_t avail = in->len - in->off;
        const char *p = (const char *)in->data + in->off;
        if (c->state == 3)
            return 1;
        if (c->state == 0) {
            const char *eol = avail ? memmem(p, avail, "\r\n", 2) : NULL;
            if (!eol)
                return avail > 1024 ? CM_EPROTO : 0;
            char *end;
            unsigned long long size = strtoull(p, &end, 16);
            if (end == p)
                return CM_EPROTO;
            in->off += (size_t)(eol + 2 - p);
            if (size == 0) {
                c->state = 3; /* trailers are not used by anyone here; ignore them */
                return 1;
            }
            c->remaining = (size_t)size;
            c->state = 1;
        } else if (c->state == 1) {
            if (avail == 0)
                return 0;
            size_t take = avail < c->remaining ? avail : c->remaining;
            int rc = sink(arg, (const uint8_t *)p, take);
            if (rc)
                return rc;
            in->off += take;
            c->remaining -= take;
            if (c->remaining == 0)
                c->state = 2;
        } else {
            if (avail < 2)
                return 0;
            if (p[0] != '\r' || p[1] != '\n')
                return CM_EPROTO;
            in->off += 2;
            c->state = 0;
        }
    }
}

static int sink_bbuf(void *arg, const uint8_t *d, size_t n)
{
    struct bbuf *out = arg;
    if (out->len + n > ITEST_MAX_BODY)
        return CM_ETOOBIG;
    return bbuf_append(out, d, n);
}

/* Reads the body after the head according to the headers. */
static int read_body(int fd, struct bbuf *in, const char *headers, struct bbuf *body,
                     long long deadline)
{
    char v[128];
    if (itest_header(headers, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked")) {
        struct chunked c = {0};
        for (;;) {
            int rc = chunked_step(&c, in, sink_bbuf, body);
            if (rc < 0)
                return rc;
            if (rc == 1)
                return 0;
            ssize_t r = read_some(fd, in, deadline);
            if (r < 0)
                return (int)r;
            if (r == 0)
                return CM_ECLOSED;
        }
    }
    if (itest_header(headers, "Content-Length", v, sizeof v)) {
        size_t want = (size_t)strtoull(v, NULL, 10);
        if (want > ITEST_MAX_BODY)
            return CM_ETOOBIG;
        while (in->len - in->off < want) {
            ssize_t r = read_some(fd, in, deadline);
            if (r < 0)
                return (int)r;
            if (r == 0)
                return CM_ECLOSED;
        }
        int rc = bbuf_append(body, in->data + in->off, want);
        in->off += want;
        return rc;
    }
    /* Close-delimited. */
    for (;;) {
        ssize_t r = read_some(fd, in, deadline);
        if (r < 0)
            return (int)r;
        if (r == 0)
            break;
    }
    return bbuf_append(body, in->data + in->off, in->len - in->off);
}

void itest_http_resp_cleanup(struct itest_http_resp *resp)
{
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

int itest_http(int port, const char *method, const char *path, const char *const *headers,
               const void *body, size_t body_len, struct itest_http_resp *resp, int timeout_ms)
{
    memset(resp, 0, sizeof *resp);
    long long deadline = now_ms() + timeout_ms;
    struct bbuf req = {0}, in = {0}, out = {0};
    int has_body = body != NULL || strcmp(method, "POST") == 0;
    int rc = build_request(&req, port, method, path, headers, body_len, has_body, 1);
    if (rc)
        goto done;
    int fd = tcp_connect(port, timeout_ms);
    if (fd < 0) {
        rc = fd;
        goto done;
    }
    rc = send_all(fd, req.data, req.len);
    /* Large bodies go in pieces, stopping as soon as the server answers (a 413 is sent
     * before the body is read, and the connection closed). */
    for (size_t off = 0; rc == 0 && off < body_len;) {
        size_t piece = body_len - off < 262144 ? body_len - off : 262144;
        rc = send_all(fd, (const char *)body + off, piece);
        off += piece;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (off < body_len && poll(&pfd, 1, 0) > 0)
            break;
    }
    /* A server may answer (e.g. 413) and close before reading the whole body; still try to
     * read its answer. */
    int sent_rc = rc;
    for (;;) {
        rc = parse_head(&in, &resp->status, &resp->headers);
        if (rc != 0)
            break;
        ssize_t r = read_some(fd, &in, deadline);
        if (r <= 0) {
            rc = r == 0 ? CM_ECLOSED : (int)r;
            break;
        }
    }
    if (rc == 1) {
        rc = read_body(fd, &in, resp->headers, &out, deadline);
        /* A close-delimited or interrupted body after an error answer is still an answer. */
        if (rc == CM_ECLOSED && out.len == 0 && resp->status >= 400)
            rc = 0;
    } else if (sent_rc) {
        rc = sent_rc;
    }
    close(fd);
    if (rc == 0) {
        if (bbuf_append(&out, "", 0)) {
            rc = -ENOMEM;
        } else if (out.off) {
            memmove(out.data, out.data + out.off, out.len - out.off);
            out.len -= out.off;
            out.data[out.len] = 0;
        }
        resp->body = out.data;
        resp->body_len = out.len;
        out.data = NULL;
    }
done:
    if (rc) {
        itest_log("%s %s on port %d failed: %s", method, path, port, cm_strerror(rc));
        free(resp->headers);
        resp->headers = NULL;
    }
    free(req.data);
    free(in.data);
    free(out.data);
    return rc;
}

/* ---- keep-alive client connection ---------------------------------------------------------- */

struct itest_conn {
    int port;
    int fd;         /* -1 while closed */
    struct bbuf in; /* what was read of the current answer */
    unsigned long requests, connects;
};

struct itest_conn *itest_conn_new(int port)
{
    struct itest_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->port = port;
    c->fd = -1;
    return c;
}

static void conn_close(struct itest_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in.len = c->in.off = 0;
}

void itest_conn_free(struct itest_conn *c)
{
    if (!c)
        return;
    conn_close(c);
    free(c->in.data);
    free(c);
}

void itest_conn_stats(const struct itest_conn *c, unsigned long *requests, unsigned long *connects)
{
    if (requests)
        *requests = c->requests;
    if (connects)
        *connects = c->connects;
}

/* A response without a body whatever its headers say (RFC 9112 §6.3). */
static int no_body(const char *method, int status)
{
    return strcmp(method, "HEAD") == 0 || status == 204 || status == 304 ||
           (status >= 100 && status < 200);
}

/* After a chunked body, chunked_step has consumed the last-chunk line: reads the trailer
 * lines up to the empty line that ends the message (the same connection carries the next
 * answer). */
static int read_trailers(int fd, struct bbuf *in, long long deadline)
{
    for (;;) {
        size_t avail = in->len - in->off;
        const char *p = (const char *)in->data + in->off;
        const char *eol = avail ? memmem(p, avail, "\r\n", 2) : NULL;
        if (eol) {
            in->off += (size_t)(eol + 2 - p);
            if (eol == p)
                return 0;
            continue;
        }
        if (avail > 8192)
            return CM_EPROTO;
        ssize_t r = read_some(fd, in, deadline);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return CM_ECLOSED;
    }
}

/* One request and its answer on c's connection, opened here if closed. *reused tells whether
 * the connection had carried an earlier request, *got whether any byte of the answer came
 * (a reused connection that ends before any byte was closed by the server while idle). */
static int conn_attempt(struct itest_conn *c, const struct bbuf *req, const char *method,
                        const void *body, size_t body_len, struct itest_http_resp *resp,
                        long long deadline, int *reused, int *got)
{
    *reused = *got = 0;
    if (c->fd >= 0) {
        /* An idle connection has nothing to read: readable means closed, reset, or bytes
         * nobody asked for. */
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) != 0)
            conn_close(c);
    }
    if (c->fd >= 0) {
        *reused = 1;
    } else {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        int fd = tcp_connect(c->port, (int)left);
        if (fd < 0)
            return fd;
        c->fd = fd;
        c->connects++;
    }
    int rc = send_all(c->fd, req->data, req->len);
    if (rc == 0 && body_len > 0)
        rc = send_all(c->fd, body, body_len);
    /* A server may answer (e.g. 413) and close before reading the whole body; still try to
     * read its answer. */
    int sent_rc = rc;
    for (;;) {
        rc = parse_head(&c->in, &resp->status, &resp->headers);
        if (rc != 0)
            break;
        ssize_t r = read_some(c->fd, &c->in, deadline);
        if (r <= 0) {
            rc = r == 0 ? CM_ECLOSED : (int)r;
            break;
        }
        *got = 1;
    }
    if (rc != 1) {
        conn_close(c);
        return sent_rc ? sent_rc : rc;
    }
    /* HTTP/1.0 answers end the connection unless they say otherwise; so do close-delimited
     * bodies and "Connection: close". */
    char v[128];
    int closes = c->in.len >= 8 && memcmp(c->in.data, "HTTP/1.0", 8) == 0;
    if (itest_header(resp->headers, "Connection", v, sizeof v))
        closes = strcasestr(v, "close") != NULL || (closes && !strcasestr(v, "keep-alive"));
    struct bbuf out = {0};
    if (!no_body(method, resp->status)) {
        int chunked = itest_header(resp->headers, "Transfer-Encoding", v, sizeof v) &&
                      strcasestr(v, "chunked");
        if (!chunked && !itest_header(resp->headers, "Content-Length", NULL, 0))
            closes = 1;
        rc = read_body(c->fd, &c->in, resp->headers, &out, deadline);
        if (rc == 0 && chunked)
            rc = read_trailers(c->fd, &c->in, deadline);
        /* A close-delimited or interrupted body after an error answer is still an answer. */
        if (rc == CM_ECLOSED && out.len == 0 && resp->status >= 400) {
            rc = 0;
            closes = 1;
        }
    } else {
        rc = 0;
    }
    if (rc == 0 && sent_rc)
        closes = 1; /* the server did not read the whole request */
    if (rc == 0 && c->in.off != c->in.len)
        closes = 1; /* bytes after the answer: the connection is out of step */
    if (rc == 0 && bbuf_append(&out, "", 0))
        rc = -ENOMEM;
    if (rc || closes)
        conn_close(c);
    else
        c->in.len = c->in.off = 0;
    if (rc) {
        free(out.data);
        free(resp->headers);
        resp->headers = NULL;
        return rc;
    }
    if (out.off) {
        memmove(out.data, out.data + out.off, out.len - out.off);
        out.len -= out.off;
        out.data[out.len] = 0;
    }
    resp->body = out.data;
    resp->body_len = out.len;
    return 0;
}

int itest_conn_request(struct itest_conn *c, const char *method, const char *path,
                       const char *const *headers, const void *body, size_t body_len,
                       struct itest_http_resp *resp, int timeout_ms)
{
    memset(resp, 0, sizeof *resp);
    long long deadline = now_ms() + timeout_ms;
    struct bbuf req = {0};
    int has_body = body != NULL || strcmp(method, "POST") == 0;
    int rc = build_request(&req, c->port, method, path, headers, body_len, has_body, 0);
    if (rc == 0) {
        int reused, got;
        rc = conn_attempt(c, &req, method, body, body_len, resp, deadline, &reused, &got);
        /* The server closed the idle connection as the request went out: the request was
         * not read, so it is sent once more on a new connection. */
        if (rc != 0 && rc != -ETIMEDOUT && reused && !got) {
            memset(resp, 0, sizeof *resp);
            rc = conn_attempt(c, &req, method, body, body_len, resp, deadline, &reused, &got);
        }
    }
    if (rc)
        itest_log("%s %s on port %d (keep-alive) failed: %s", method, path, c->port,
                  cm_strerror(rc));
    else
        c->requests++;
    free(req.data);
    return rc;
}

json_t *itest_get_json(int port, const char *path)
{
    struct itest_http_resp r;
    if (itest_http(port, "GET", path, NULL, NULL, 0, &r, ITEST_WAIT_MS) != 0)
        return NULL;
    json_t *j = NULL;
    if (r.status != 200) {
        itest_log("GET %s: status %d: %s", path, r.status, (char *)r.body);
    } else {
        json_error_t err;
        j = json_loadb((const char *)r.body, r.body_len, 0, &err);
        if (!j)
            itest_log("GET %s: bad JSON (%s): %.200s", path, err.text, (char *)r.body);
    }
    itest_http_resp_cleanup(&r);
    return j;
}

/* ---- streams ------------------------------------------------------------------------------- */

struct record_node {
    struct record_node *next;
    size_t len;
    uint8_t data[];
};

struct itest_stream {
    int fd;
    int status;
    int chunked;
    int eof;
    int error;
    char *headers;
    char *body; /* non-200 answer */
    struct bbuf in;
    struct chunked ch;
    struct cm_recordio_decoder dec;
    struct record_node *head, *tail;
};

static int on_record(void *arg, const uint8_t *data, size_t len)
{
    struct itest_stream *s = arg;
    struct record_node *n = malloc(sizeof *n + len + 1);
    if (!n)
        return -ENOMEM;
    n->next = NULL;
    n->len = len;
    memcpy(n->data, data, len);
    n->data[len] = 0;
    if (s->tail)
        s->tail->next = n;
    else
        s->head = n;
    s->tail = n;
    return 0;
}

static int sink_recordio(void *arg, const uint8_t *d, size_t n)
{
    struct itest_stream *s = arg;
    return cm_recordio_feed(&s->dec, d, n, on_record, s);
}

struct itest_stream *itest_stream_open(int port, const char *path, const char *const *headers,
                                       const void *body, size_t body_len, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    struct itest_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = -1;
    cm_recordio_decoder_init(&s->dec, 16u << 20);
    struct bbuf req = {0};
    int rc = build_request(&req, port, "POST", path, headers, body_len, 1, 0);
    if (rc == 0) {
        s->fd = tcp_connect(port, timeout_ms);
        rc = s->fd < 0 ? s->fd : 0;
    }
    if (rc == 0)
        rc = send_all(s->fd, req.data, req.len);
    if (rc == 0 && body_len)
        rc = send_all(s->fd, body, body_len);
    free(req.data);
    while (rc == 0) {
        rc = parse_head(&s->in, &s->status, &s->headers);
        if (rc == 1) {
            rc = 0;
            break;
        }
        if (rc < 0)
            break;
        ssize_t r = read_some(s->fd, &s->in, deadline);
        if (r <= 0)
            rc = r == 0 ? CM_ECLOSED : (int)r;
    }
    if (rc) {
        itest_log("SUBSCRIBE to %s on port %d failed: %s", path, port, cm_strerror(rc));
        itest_stream_free(s);
        return NULL;
    }
    char v[64];
    s->chunked = itest_header(s->headers, "Transfer-Encoding", v, sizeof v) &&
                 strcasestr(v, "chunked") != NULL;
    if (s->status != 200) {
        struct bbuf b = {0};
        read_body(s->fd, &s->in, s->headers, &b, deadline);
        bbuf_append(&b, "", 0);
        s->body = (char *)b.data;
        s->eof = 1;
    }
    return s;
}

void itest_stream_free(struct itest_stream *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    while (s->head) {
        struct record_node *n = s->head;
        s->head = n->next;
        free(n);
    }
    cm_recordio_decoder_cleanup(&s->dec);
    free(s->headers);
    free(s->body);
    free(s->in.data);
    free(s);
}

int itest_stream_status(const struct itest_stream *s)
{
    return s->status;
}
const char *itest_stream_headers(const struct itest_stream *s)
{
    return s->headers;
}
const char *itest_stream_body(const struct itest_stream *s)
{
    return s->body ? s->body : "";
}
int itest_stream_chunked(const struct itest_stream *s)
{
    return s->chunked;
}

int itest_stream_next(struct itest_stream *s, int timeout_ms, uint8_t **data, size_t *len)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (s->head) {
            struct record_node *n = s->head;
            s->head = n->next;
            if (!s->head)
                s->tail = NULL;
            uint8_t *copy = malloc(n->len + 1);
            if (!copy) {
                free(n);
                return -ENOMEM;
            }
            memcpy(copy, n->data, n->len + 1);
            *data = copy;
            *len = n->len;
            free(n);
            return 0;
        }
        if (s->error)
            return s->error;
        if (s->eof)
            return CM_ECLOSED;
        if (s->in.len > s->in.off) {
            int rc;
            if (s->chunked) {
                rc = chunked_step(&s->ch, &s->in, sink_recordio, s);
            } else {
                rc = sink_recordio(s, s->in.data + s->in.off, s->in.len - s->in.off);
                s->in.off = s->in.len;
            }
            if (rc == 1) {
                s->eof = 1;
                continue;
            }
            if (rc < 0) {
                itest_log("stream decoding failed: %s", cm_strerror(rc));
                s->error = rc;
                continue;
            }
            if (s->head)
                continue;
        }
        ssize_t r = read_some(s->fd, &s->in, deadline);
        if (r == -ETIMEDOUT)
            return -ETIMEDOUT;
        if (r < 0) {
            s->error = (int)r;
        } else if (r == 0) {
            s->eof = 1;
        }
    }
}

/* ---- base64 -------------------------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *itest_b64_encode(const uint8_t *data, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = b64chars[(v >> 18) & 63];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64chars[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

int itest_b64_decode(const char *text, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t n = strlen(text), o = 0;
    if (n % 4)
        return CM_EPARSE;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = text[i + k];
            const char *p = c ? strchr(b64chars, c) : NULL;
            if (c == '=' && i + 4 == n && k >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!p || pad)
                return CM_EPARSE;
            v = (v << 6) | (uint32_t)(p - b64chars);
        }
        uint8_t bytes[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        for (int k = 0; k < 3 - pad; k++) {
            if (o >= cap)
                return CM_ETOOBIG;
            out[o++] = bytes[k];
        }
    }
    *outlen = o;
    return 0;
}

/* ---- cluster ------------------------------------------------------------------------------- */

static int wait_port_file(struct itest_proc *p, const char *path, int *port)
{
    long long deadline = now_ms() + ITEST_WAIT_MS;
    while (now_ms() < deadline) {
        char *t = itest_read_file(path, NULL);
        if (t) {
            int v = atoi(t);
            free(t);
            if (v > 0 && v < 65536) {
                *port = v;
                return 0;
            }
        }
        if (!itest_proc_alive(p)) {
            itest_log("%s exited before writing %s (status 0x%x)", p->name, path, p->status);
            return CM_ECLOSED;
        }
        sleep_ms(20);
    }
    itest_log("%s did not write %s within %d ms", p->name, path, ITEST_WAIT_MS);
    return -ETIMEDOUT;
}

int itest_cluster_start(struct itest_cluster *c, const struct itest_cluster_opts *opts)
{
    static const struct itest_cluster_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    memset(c, 0, sizeof *c);
    int rc = itest_tmpdir(c->dir, sizeof c->dir);
    if (rc)
        return rc;
    snprintf(c->master_work, sizeof c->master_work, "%s/master", c->dir);
    snprintf(c->agent_work, sizeof c->agent_work, "%s/agent", c->dir);

    char bin[512], f_port_file[400], f_work[400], log[400], port_file[350];
    char *argv[40];
    size_t n = 0;
    argv[n++] = (char *)itest_bin("mesos-master", bin, sizeof bin);
    argv[n++] = "--ip=127.0.0.1";
    argv[n++] = "--port=0";
    snprintf(port_file, sizeof port_file, "%s/master.port", c->dir);
    snprintf(f_port_file, sizeof f_port_file, "--port_file=%s", port_file);
    argv[n++] = f_port_file;
    snprintf(f_work, sizeof f_work, "--work_dir=%s", c->master_work);
    argv[n++] = f_work;
    for (size_t i = 0; opts->master_flags && opts->master_flags[i] && n < 38; i++)
        argv[n++] = (char *)opts->master_flags[i];
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/master.log", c->dir);
    rc = itest_proc_spawn(&c->master, "mesos-master", argv, log);
    if (rc)
        return rc;
    rc = wait_port_file(&c->master, port_file, &c->master_port);
    if (rc)
        return rc;
    snprintf(c->master_addr, sizeof c->master_addr, "127.0.0.1:%d", c->master_port);
    if (opts->no_agent)
        return 0;

    char f_master[128], f_res[256];
    n = 0;
    argv[n++] = (char *)itest_bin("mesos-agent", bin, sizeof bin);
    snprintf(f_master, sizeof f_master, "--master=%s", c->master_addr);
    argv[n++] = f_master;
    argv[n++] = "--ip=127.0.0.1";
    argv[n++] = "--port=0";
    snprintf(port_file, sizeof port_file, "%s/agent.port", c->dir);
    snprintf(f_port_file, sizeof f_port_file, "--port_file=%s", port_file);
    argv[n++] = f_port_file;
    snprintf(f_work, sizeof f_work, "--work_dir=%s", c->agent_work);
    argv[n++] = f_work;
    snprintf(f_res, sizeof f_res, "--resources=%s",
             opts->agent_resources ? opts->agent_resources : "cpus:2;mem:1024;disk:1024");
    argv[n++] = f_res;
    for (size_t i = 0; opts->agent_flags && opts->agent_flags[i] && n < 38; i++)
        argv[n++] = (char *)opts->agent_flags[i];
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/agent.log", c->dir);
    rc = itest_proc_spawn(&c->agent, "mesos-agent", argv, log);
    if (rc)
        return rc;
    rc = wait_port_file(&c->agent, port_file, &c->agent_port);
    if (rc)
        return rc;

    /* The agent is usable once the master lists it (active). */
    long long deadline = now_ms() + ITEST_WAIT_MS;
    while (now_ms() < deadline) {
        json_t *st = itest_get_json(c->master_port, "/master/state");
        json_t *slaves = st ? json_object_get(st, "slaves") : NULL;
        if (json_is_array(slaves) && json_array_size(slaves) == 1) {
            json_t *a = json_array_get(slaves, 0);
            const char *id = json_string_value(json_object_get(a, "id"));
            json_t *active = json_object_get(a, "active");
            if (id && (!active || json_is_true(active))) {
                snprintf(c->agent_id, sizeof c->agent_id, "%s", id);
                json_decref(st);
                return 0;
            }
        }
        json_decref(st);
        if (!itest_proc_alive(&c->agent) || !itest_proc_alive(&c->master)) {
            itest_log("a daemon exited while waiting for the agent to register");
            return CM_ECLOSED;
        }
        sleep_ms(50);
    }
    itest_log("agent did not register with the master within %d ms", ITEST_WAIT_MS);
    return -ETIMEDOUT;
}

int itest_proc_signal(struct itest_proc *p, int sig)
{
    if (p->pid <= 0 || p->exited)
        return -ESRCH;
    return kill(p->pid, sig) == 0 ? 0 : -errno;
}

int itest_cluster_restart_master(struct itest_cluster *c, const char *const *extra_flags)
{
    static int restarts;
    if (!c->master.exited) {
        int status;
        if (itest_proc_alive(&c->master))
            itest_proc_stop(&c->master);
        else
            itest_proc_wait(&c->master, 1000, &status);
    }
    char bin[512], f_port[64], f_port_file[400], f_work[400], log[400], port_file[350];
    char *argv[40];
    size_t n = 0;
    argv[n++] = (char *)itest_bin("mesos-master", bin, sizeof bin);
    argv[n++] = "--ip=127.0.0.1";
    snprintf(f_port, sizeof f_port, "--port=%d", c->master_port);
    argv[n++] = f_port;
    snprintf(port_file, sizeof port_file, "%s/master.port", c->dir);
    unlink(port_file);
    snprintf(f_port_file, sizeof f_port_file, "--port_file=%s", port_file);
    argv[n++] = f_port_file;
    snprintf(f_work, sizeof f_work, "--work_dir=%s", c->master_work);
    argv[n++] = f_work;
    for (size_t i = 0; extra_flags && extra_flags[i] && n < 38; i++)
        argv[n++] = (char *)extra_flags[i];
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/master-%d.log", c->dir, ++restarts);
    /* The old process's record is replaced; its log file stays in the case's dir. */
    memset(&c->master, 0, sizeof c->master);
    int rc = itest_proc_spawn(&c->master, "mesos-master", argv, log);
    if (rc)
        return rc;
    int port = 0;
    rc = wait_port_file(&c->master, port_file, &port);
    if (rc == 0 && port != c->master_port) {
        itest_log("restarted master bound %d instead of %d", port, c->master_port);
        rc = CM_EPROTO;
    }
    return rc;
}

void itest_cluster_stop(struct itest_cluster *c)
{
    itest_proc_stop(&c->agent);
    itest_proc_stop(&c->master);
    kill_under_dir(c->dir);
}

/* ---- enum names ---------------------------------------------------------------------------- */

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e ? e->name : "?";
}

static int enum_value(const ProtobufCEnumDescriptor *d, const char *name, int *out)
{
    const ProtobufCEnumValue *e =
        name ? protobuf_c_enum_descriptor_get_value_by_name(d, name) : NULL;
    if (!e)
        return 0;
    *out = e->value;
    return 1;
}

const char *itest_state_name(int state)
{
    return enum_name(&mesos__v1__task_state__descriptor, state);
}
const char *itest_reason_name(int reason)
{
    return enum_name(&mesos__v1__task_status__reason__descriptor, reason);
}
const char *itest_event_name(int type)
{
    return enum_name(&mesos__v1__scheduler__event__type__descriptor, type);
}

/* ---- event decoding ------------------------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const char *jvalue(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, key), "value"));
}

static void sum_resources_json(json_t *res, struct itest_offer *o)
{
    size_t i;
    json_t *r;
    json_array_foreach(res, i, r)
    {
        const char *name = json_string_value(json_object_get(r, "name"));
        double v = json_number_value(json_object_get(json_object_get(r, "scalar"), "value"));
        if (!name)
            continue;
        if (!strcmp(name, "cpus"))
            o->cpus += v;
        else if (!strcmp(name, "mem"))
            o->mem += v;
        else if (!strcmp(name, "disk"))
            o->disk += v;
    }
}

static int decode_json_event(const uint8_t *data, size_t len, struct itest_event *ev)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)data, len, 0, &err);
    if (!json_is_object(j)) {
        itest_log("event is not a JSON object (%s): %.300s", err.text, (const char *)data);
        json_decref(j);
        return CM_EPARSE;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!enum_value(&mesos__v1__scheduler__event__type__descriptor, type, &ev->type)) {
        itest_log("event with bad type: %.300s", (const char *)data);
        json_decref(j);
        return CM_EPARSE;
    }
    json_t *b;
    switch (ev->type) {
    case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
        b = json_object_get(j, "subscribed");
        copy_str(ev->framework_id, sizeof ev->framework_id, jvalue(b, "framework_id"));
        if (json_is_number(json_object_get(b, "heartbeat_interval_seconds"))) {
            ev->has_heartbeat = 1;
            ev->heartbeat_interval =
                json_number_value(json_object_get(b, "heartbeat_interval_seconds"));
        }
        if (json_is_object(json_object_get(b, "master_info"))) {
            json_t *mi = json_object_get(b, "master_info");
            ev->has_master_info = 1;
            copy_str(ev->master_id, sizeof ev->master_id,
                     json_string_value(json_object_get(mi, "id")));
            ev->master_port = (unsigned)json_integer_value(json_object_get(mi, "port"));
        }
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS: {
        /* Nested on purpose: {"offers":{"offers":[...]}} (docs/wire-protocol.md §2.4). */
        json_t *arr = json_object_get(json_object_get(j, "offers"), "offers");
        if (!json_is_array(arr))
            itest_log("OFFERS event without nested offers.offers array: %.300s",
                      (const char *)data);
        size_t i;
        json_t *o;
        json_array_foreach(arr, i, o)
        {
            if (ev->n_offers >= ITEST_MAX_OFFERS)
                break;
            struct itest_offer *io = &ev->offers[ev->n_offers++];
            copy_str(io->id, sizeof io->id, jvalue(o, "id"));
            copy_str(io->agent_id, sizeof io->agent_id, jvalue(o, "agent_id"));
            copy_str(io->framework_id, sizeof io->framework_id, jvalue(o, "framework_id"));
            copy_str(io->hostname, sizeof io->hostname,
                     json_string_value(json_object_get(o, "hostname")));
            json_t *xids = json_object_get(o, "executor_ids");
            io->n_executor_ids = json_array_size(xids);
            if (io->n_executor_ids)
                copy_str(io->executor_id, sizeof io->executor_id,
                         json_string_value(json_object_get(json_array_get(xids, 0), "value")));
            sum_resources_json(json_object_get(o, "resources"), io);
        }
        break;
    }
    case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
        copy_str(ev->offer_id, sizeof ev->offer_id,
                 jvalue(json_object_get(j, "rescind"), "offer_id"));
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE: {
        json_t *s = json_object_get(json_object_get(j, "update"), "status");
        struct itest_status *st = &ev->status;
        copy_str(st->task_id, sizeof st->task_id, jvalue(s, "task_id"));
        copy_str(st->agent_id, sizeof st->agent_id, jvalue(s, "agent_id"));
        copy_str(st->executor_id, sizeof st->executor_id, jvalue(s, "executor_id"));
        st->state = -1;
        if (!enum_value(&mesos__v1__task_state__descriptor,
                        json_string_value(json_object_get(s, "state")), &st->state))
            itest_log("UPDATE with bad state: %.300s", (const char *)data);
        st->has_source = enum_value(&mesos__v1__task_status__source__descriptor,
                                    json_string_value(json_object_get(s, "source")), &st->source);
        st->has_reason = enum_value(&mesos__v1__task_status__reason__descriptor,
                                    json_string_value(json_object_get(s, "reason")), &st->reason);
        copy_str(st->message, sizeof st->message, json_string_value(json_object_get(s, "message")));
        st->timestamp = json_number_value(json_object_get(s, "timestamp"));
        const char *uuid = json_string_value(json_object_get(s, "uuid"));
        if (uuid) {
            st->has_uuid = 1;
            if (itest_b64_decode(uuid, st->uuid, sizeof st->uuid, &st->uuid_len) != 0) {
                itest_log("UPDATE uuid is not base64: '%s'", uuid);
                st->uuid_len = 0;
            }
        }
        break;
    }
    case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR:
        copy_str(ev->message, sizeof ev->message,
                 json_string_value(json_object_get(json_object_get(j, "error"), "message")));
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE:
        b = json_object_get(j, "failure");
        copy_str(ev->agent_id, sizeof ev->agent_id, jvalue(b, "agent_id"));
        copy_str(ev->executor_id, sizeof ev->executor_id, jvalue(b, "executor_id"));
        if (json_is_integer(json_object_get(b, "status"))) {
            ev->has_failure_status = 1;
            ev->failure_status = (int)json_integer_value(json_object_get(b, "status"));
        }
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE: {
        b = json_object_get(j, "message");
        copy_str(ev->agent_id, sizeof ev->agent_id, jvalue(b, "agent_id"));
        copy_str(ev->executor_id, sizeof ev->executor_id, jvalue(b, "executor_id"));
        const char *d = json_string_value(json_object_get(b, "data"));
        if (d && itest_b64_decode(d, ev->data, sizeof ev->data, &ev->data_len) != 0)
            ev->data_len = 0;
        break;
    }
    default: break;
    }
    json_decref(j);
    return 0;
}

static const char *pbid(const void *msg)
{
    /* Every mesos.v1 *ID message is {base; char *value}. */
    const Mesos__V1__FrameworkID *id = msg;
    return id ? id->value : NULL;
}

static int decode_pb_event(const uint8_t *data, size_t len, struct itest_event *ev)
{
    Mesos__V1__Scheduler__Event *e = mesos__v1__scheduler__event__unpack(NULL, len, data);
    if (!e) {
        itest_log("event is not a valid protobuf Event (%zu bytes)", len);
        return CM_EPARSE;
    }
    if (!e->has_type) {
        itest_log("protobuf event without type");
        mesos__v1__scheduler__event__free_unpacked(e, NULL);
        return CM_EPARSE;
    }
    ev->type = (int)e->type;
    switch (e->type) {
    case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
        if (e->subscribed) {
            copy_str(ev->framework_id, sizeof ev->framework_id, pbid(e->subscribed->framework_id));
            ev->has_heartbeat = e->subscribed->has_heartbeat_interval_seconds;
            ev->heartbeat_interval = e->subscribed->heartbeat_interval_seconds;
            if (e->subscribed->master_info) {
                ev->has_master_info = 1;
                copy_str(ev->master_id, sizeof ev->master_id, e->subscribed->master_info->id);
                ev->master_port = e->subscribed->master_info->port;
            }
        }
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
        for (size_t i = 0; e->offers && i < e->offers->n_offers; i++) {
            if (ev->n_offers >= ITEST_MAX_OFFERS)
                break;
            Mesos__V1__Offer *o = e->offers->offers[i];
            struct itest_offer *io = &ev->offers[ev->n_offers++];
            copy_str(io->id, sizeof io->id, pbid(o->id));
            copy_str(io->agent_id, sizeof io->agent_id, pbid(o->agent_id));
            copy_str(io->framework_id, sizeof io->framework_id, pbid(o->framework_id));
            copy_str(io->hostname, sizeof io->hostname, o->hostname);
            io->n_executor_ids = o->n_executor_ids;
            if (o->n_executor_ids)
                copy_str(io->executor_id, sizeof io->executor_id, pbid(o->executor_ids[0]));
            for (size_t k = 0; k < o->n_resources; k++) {
                Mesos__V1__Resource *r = o->resources[k];
                double v = r->scalar ? r->scalar->value : 0;
                if (!r->name)
                    continue;
                if (!strcmp(r->name, "cpus"))
                    io->cpus += v;
                else if (!strcmp(r->name, "mem"))
                    io->mem += v;
                else if (!strcmp(r->name, "disk"))
                    io->disk += v;
            }
        }
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
        if (e->rescind)
            copy_str(ev->offer_id, sizeof ev->offer_id, pbid(e->rescind->offer_id));
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
        if (e->update && e->update->status) {
            Mesos__V1__TaskStatus *s = e->update->status;
            struct itest_status *st = &ev->status;
            copy_str(st->task_id, sizeof st->task_id, pbid(s->task_id));
            copy_str(st->agent_id, sizeof st->agent_id, pbid(s->agent_id));
            copy_str(st->executor_id, sizeof st->executor_id, pbid(s->executor_id));
            st->state = (int)s->state;
            st->has_source = s->has_source;
            st->source = (int)s->source;
            st->has_reason = s->has_reason;
            st->reason = (int)s->reason;
            copy_str(st->message, sizeof st->message, s->message);
            st->timestamp = s->timestamp;
            if (s->has_uuid) {
                st->has_uuid = 1;
                st->uuid_len = s->uuid.len < sizeof st->uuid ? s->uuid.len : sizeof st->uuid;
                memcpy(st->uuid, s->uuid.data, st->uuid_len);
            }
        }
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR:
        if (e->error)
            copy_str(ev->message, sizeof ev->message, e->error->message);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE:
        if (e->failure) {
            copy_str(ev->agent_id, sizeof ev->agent_id, pbid(e->failure->agent_id));
            copy_str(ev->executor_id, sizeof ev->executor_id, pbid(e->failure->executor_id));
            ev->has_failure_status = e->failure->has_status;
            ev->failure_status = e->failure->status;
        }
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE:
        if (e->message) {
            copy_str(ev->agent_id, sizeof ev->agent_id, pbid(e->message->agent_id));
            copy_str(ev->executor_id, sizeof ev->executor_id, pbid(e->message->executor_id));
            ev->data_len =
                e->message->data.len < sizeof ev->data ? e->message->data.len : sizeof ev->data;
            memcpy(ev->data, e->message->data.data, ev->data_len);
        }
        break;
    default: break;
    }
    mesos__v1__scheduler__event__free_unpacked(e, NULL);
    return 0;
}

/* ---- framework ----------------------------------------------------------------------------- */

struct itest_event_node {
    struct itest_event_node *next;
    struct itest_event ev;
};

static const char *ctype(enum itest_enc enc)
{
    return enc == ITEST_JSON ? "application/json" : "application/x-protobuf";
}

static const char *current_user(void)
{
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name ? pw->pw_name : "root";
}

/* Encodes a SUBSCRIBE call into a malloc'd body. */
static void *encode_subscribe(enum itest_enc enc, const struct itest_fw_opts *o, size_t *len)
{
    const char *name = o->name ? o->name : "itest";
    if (enc == ITEST_JSON) {
        json_t *fi = json_pack("{s:s, s:s}", "user", current_user(), "name", name);
        if (o->failover_timeout > 0)
            json_object_set_new(fi, "failover_timeout", json_real(o->failover_timeout));
        if (o->checkpoint)
            json_object_set_new(fi, "checkpoint", json_true());
        if (o->partition_aware)
            json_object_set_new(fi, "capabilities",
                                json_pack("[{s:s}]", "type", "PARTITION_AWARE"));
        if (o->framework_id)
            json_object_set_new(fi, "id", json_pack("{s:s}", "value", o->framework_id));
        if (o->principal)
            json_object_set_new(fi, "principal", json_string(o->principal));
        json_t *call =
            json_pack("{s:s, s:{s:o}}", "type", "SUBSCRIBE", "subscribe", "framework_info", fi);
        if (o->framework_id)
            json_object_set_new(call, "framework_id", json_pack("{s:s}", "value", o->framework_id));
        char *text = json_dumps(call, JSON_COMPACT);
        json_decref(call);
        *len = strlen(text);
        return text;
    }
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT;
    Mesos__V1__FrameworkInfo__Capability *caps[1] = {&cap};
    fi.user = (char *)current_user();
    fi.name = (char *)name;
    fi.principal = (char *)o->principal;
    if (o->failover_timeout > 0) {
        fi.has_failover_timeout = 1;
        fi.failover_timeout = o->failover_timeout;
    }
    if (o->checkpoint) {
        fi.has_checkpoint = 1;
        fi.checkpoint = 1;
    }
    if (o->partition_aware) {
        cap.has_type = 1;
        cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
        fi.n_capabilities = 1;
        fi.capabilities = caps;
    }
    if (o->framework_id) {
        fid.value = (char *)o->framework_id;
        fi.id = &fid;
        call.framework_id = &fid;
    }
    sub.framework_info = &fi;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    *len = mesos__v1__scheduler__call__get_packed_size(&call);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        mesos__v1__scheduler__call__pack(&call, buf);
    return buf;
}

static void fw_register(struct itest_fw *fw)
{
    if (reg.n_fws < ITEST_MAX_REG)
        reg.fws[reg.n_fws++] = fw;
}

struct itest_fw *itest_fw_open(int port, enum itest_enc enc, const struct itest_fw_opts *opts)
{
    static const struct itest_fw_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    struct itest_fw *fw = calloc(1, sizeof *fw);
    if (!fw)
        return NULL;
    fw->enc = enc;
    fw->port = port;
    snprintf(fw->path, sizeof fw->path, "%s", opts->path ? opts->path : "/api/v1/scheduler");
    if (opts->framework_id)
        copy_str(fw->framework_id, sizeof fw->framework_id, opts->framework_id);
    size_t len = 0;
    void *body = encode_subscribe(enc, opts, &len);
    char h_ct[64], h_acc[128];
    snprintf(h_ct, sizeof h_ct, "Content-Type: %s", ctype(enc));
    snprintf(h_acc, sizeof h_acc, "Accept: %s", opts->accept ? opts->accept : ctype(enc));
    char h_auth[540];
    if (opts->authorization)
        copy_str(fw->authorization, sizeof fw->authorization, opts->authorization);
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", fw->authorization);
    const char *headers[] = {h_ct, h_acc, fw->authorization[0] ? h_auth : NULL, NULL};
    fw->stream = itest_stream_open(port, fw->path, headers, body, len, ITEST_WAIT_MS);
    free(body);
    if (!fw->stream) {
        free(fw);
        return NULL;
    }
    fw_register(fw);
    fw->http_status = itest_stream_status(fw->stream);
    itest_header(itest_stream_headers(fw->stream), "Mesos-Stream-Id", fw->stream_id,
                 sizeof fw->stream_id);
    itest_header(itest_stream_headers(fw->stream), "Content-Type", fw->content_type,
                 sizeof fw->content_type);
    if (fw->http_status != 200) {
        copy_str(fw->last_body, sizeof fw->last_body, itest_stream_body(fw->stream));
        fw->closed = 1;
    }
    return fw;
}

struct itest_fw *itest_fw_start(int port, enum itest_enc enc, const struct itest_fw_opts *opts)
{
    struct itest_fw *fw = itest_fw_open(port, enc, opts);
    if (!fw)
        return NULL;
    if (fw->http_status != 200) {
        itest_log("SUBSCRIBE answered %d: %s", fw->http_status, fw->last_body);
        itest_fw_free(fw);
        return NULL;
    }
    struct itest_event ev;
    int rc =
        itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED, NULL, ITEST_WAIT_MS, &ev);
    if (rc) {
        itest_log("no SUBSCRIBED event: %s", cm_strerror(rc));
        itest_fw_free(fw);
        return NULL;
    }
    copy_str(fw->framework_id, sizeof fw->framework_id, ev.framework_id);
    return fw;
}

int itest_fw_keepalive(struct itest_fw *fw)
{
    if (!fw->conn)
        fw->conn = itest_conn_new(fw->port);
    return fw->conn ? 0 : -ENOMEM;
}

void itest_fw_disconnect(struct itest_fw *fw)
{
    itest_stream_free(fw->stream);
    fw->stream = NULL;
    fw->closed = 1;
}

void itest_fw_free(struct itest_fw *fw)
{
    if (!fw)
        return;
    for (size_t i = 0; i < reg.n_fws; i++) {
        if (reg.fws[i] == fw) {
            reg.fws[i] = reg.fws[--reg.n_fws];
            break;
        }
    }
    itest_stream_free(fw->stream);
    itest_conn_free(fw->conn);
    while (fw->queue_head) {
        struct itest_event_node *n = fw->queue_head;
        fw->queue_head = n->next;
        free(n);
    }
    free(fw);
}

static int fw_read(struct itest_fw *fw, int timeout_ms, struct itest_event *ev)
{
    if (!fw->stream)
        return CM_ECLOSED;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = itest_stream_next(fw->stream, timeout_ms, &data, &len);
    if (rc == CM_ECLOSED || (rc < 0 && rc != -ETIMEDOUT))
        fw->closed = 1;
    if (rc)
        return rc;
    memset(ev, 0, sizeof *ev);
    rc = fw->enc == ITEST_JSON ? decode_json_event(data, len, ev) : decode_pb_event(data, len, ev);
    free(data);
    if (rc == 0 && getenv("ITEST_DEBUG")) {
        itest_log("fw %s <- %s %s%s%s cpus %.2f mem %.0f", fw->framework_id,
                  itest_event_name(ev->type), ev->status.task_id,
                  ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE
                      ? itest_state_name(ev->status.state)
                      : "",
                  ev->n_offers ? ev->offers[0].id : ev->offer_id,
                  ev->n_offers ? ev->offers[0].cpus : 0, ev->n_offers ? ev->offers[0].mem : 0);
    }
    if (rc == 0 && ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT)
        fw->heartbeats++;
    if (rc == 0 && ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR)
        itest_log("framework %s got ERROR: %s", fw->framework_id, ev->message);
    return rc;
}

int itest_fw_next(struct itest_fw *fw, int timeout_ms, struct itest_event *ev)
{
    if (fw->queue_head) {
        struct itest_event_node *n = fw->queue_head;
        fw->queue_head = n->next;
        if (!fw->queue_head)
            fw->queue_tail = NULL;
        fw->queued--;
        *ev = n->ev;
        free(n);
        return 0;
    }
    return fw_read(fw, timeout_ms, ev);
}

static int matches(const struct itest_event *ev, unsigned mask, const char *task_id)
{
    if (ev->type < 0 || ev->type >= 32 || !(mask & (1u << ev->type)))
        return 0;
    if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE && task_id)
        return strcmp(ev->status.task_id, task_id) == 0;
    return 1;
}

static void enqueue(struct itest_fw *fw, const struct itest_event *ev)
{
    if (fw->queued >= ITEST_MAX_QUEUE) {
        struct itest_event_node *old = fw->queue_head;
        fw->queue_head = old->next;
        if (!fw->queue_head)
            fw->queue_tail = NULL;
        free(old);
        fw->queued--;
    }
    struct itest_event_node *n = malloc(sizeof *n);
    if (!n)
        return;
    n->next = NULL;
    n->ev = *ev;
    if (fw->queue_tail)
        fw->queue_tail->next = n;
    else
        fw->queue_head = n;
    fw->queue_tail = n;
    fw->queued++;
}

/* Waits for an event whose type is in mask (a bit per type); see itest_fw_wait. */
static int wait_mask(struct itest_fw *fw, unsigned mask, const char *task_id, int timeout_ms,
                     struct itest_event *ev)
{
    /* Queue first, preserving the order of what stays. */
    struct itest_event_node **pp = &fw->queue_head, *prev = NULL;
    while (*pp) {
        struct itest_event_node *n = *pp;
        if (matches(&n->ev, mask, task_id)) {
            *pp = n->next;
            if (fw->queue_tail == n)
                fw->queue_tail = prev;
            fw->queued--;
            *ev = n->ev;
            free(n);
            return 0;
        }
        prev = n;
        pp = &n->next;
    }
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        int rc = fw_read(fw, (int)left, ev);
        if (rc)
            return rc;
        if (matches(ev, mask, task_id))
            return 0;
        if (ev->type != MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT)
            enqueue(fw, ev);
    }
}

int itest_fw_wait(struct itest_fw *fw, int type, const char *task_id, int timeout_ms,
                  struct itest_event *ev)
{
    return wait_mask(fw, 1u << type, task_id, timeout_ms, ev);
}

void itest_fw_drop_queued(struct itest_fw *fw, int type)
{
    struct itest_event_node **pp = &fw->queue_head, *prev = NULL;
    while (*pp) {
        struct itest_event_node *n = *pp;
        if (n->ev.type == type) {
            *pp = n->next;
            if (fw->queue_tail == n)
                fw->queue_tail = prev;
            fw->queued--;
            for (size_t i = 0; i < n->ev.n_offers; i++)
                itest_fw_decline(fw, n->ev.offers[i].id, 0);
            free(n);
        } else {
            prev = n;
            pp = &n->next;
        }
    }
}

int itest_fw_post(struct itest_fw *fw, const void *body, size_t len, int with_stream_id)
{
    char h_ct[64], h_sid[300];
    snprintf(h_ct, sizeof h_ct, "Content-Type: %s", ctype(fw->enc));
    snprintf(h_sid, sizeof h_sid, "Mesos-Stream-Id: %s", fw->stream_id);
    char h_auth[540];
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", fw->authorization);
    /* Without a stream id the slot holds the Authorization header (or ends the list). */
    const char *headers[] = {h_ct, with_stream_id ? h_sid : (fw->authorization[0] ? h_auth : NULL),
                             with_stream_id && fw->authorization[0] ? h_auth : NULL, NULL};
    struct itest_http_resp r;
    int rc =
        fw->conn
            ? itest_conn_request(fw->conn, "POST", fw->path, headers, body, len, &r, ITEST_WAIT_MS)
            : itest_http(fw->port, "POST", fw->path, headers, body, len, &r, ITEST_WAIT_MS);
    if (rc)
        return rc;
    rc = r.status;
    if (rc >= 300)
        copy_str(fw->last_body, sizeof fw->last_body, (const char *)r.body);
    itest_http_resp_cleanup(&r);
    return rc;
}

/* Sends a JSON call (takes ownership). */
static int post_json(struct itest_fw *fw, json_t *call)
{
    char *text = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    int rc = itest_fw_post(fw, text, strlen(text), 1);
    if (getenv("ITEST_DEBUG"))
        itest_log("fw %s -> %s => %d", fw->framework_id, text, rc);
    if (rc != 202)
        itest_log("call %s answered %d: %s", text, rc, fw->last_body);
    free(text);
    return rc;
}

/* Sends a protobuf call (the call is the caller's; framework_id and type are filled here). */
static int post_pb(struct itest_fw *fw, Mesos__V1__Scheduler__Call *call, int type)
{
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = fw->framework_id;
    call->framework_id = &fid;
    call->has_type = 1;
    call->type = (Mesos__V1__Scheduler__Call__Type)type;
    size_t len = mesos__v1__scheduler__call__get_packed_size(call);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    mesos__v1__scheduler__call__pack(call, buf);
    int rc = itest_fw_post(fw, buf, len, 1);
    if (rc != 202)
        itest_log("protobuf call %s answered %d: %s",
                  enum_name(&mesos__v1__scheduler__call__type__descriptor, type), rc,
                  fw->last_body);
    free(buf);
    return rc;
}

static json_t *json_call(struct itest_fw *fw, const char *type)
{
    return json_pack("{s:s, s:{s:s}}", "type", type, "framework_id", "value", fw->framework_id);
}

static json_t *json_id(const char *v)
{
    return json_pack("{s:s}", "value", v);
}

static json_t *json_scalar(const char *name, double v)
{
    return json_pack("{s:s, s:s, s:{s:f}}", "name", name, "type", "SCALAR", "scalar", "value", v);
}

int itest_fw_accept(struct itest_fw *fw, const char *const *offer_ids, size_t n_offers,
                    const char *agent_id, const struct itest_task *tasks, size_t n_tasks,
                    double refuse)
{
    if (fw->enc == ITEST_JSON) {
        json_t *ids = json_array();
        for (size_t i = 0; i < n_offers; i++)
            json_array_append_new(ids, json_id(offer_ids[i]));
        json_t *accept = json_pack("{s:o}", "offer_ids", ids);
        if (n_tasks) {
            json_t *infos = json_array();
            for (size_t i = 0; i < n_tasks; i++) {
                json_t *res = json_array();
                if (tasks[i].cpus > 0)
                    json_array_append_new(res, json_scalar("cpus", tasks[i].cpus));
                if (tasks[i].mem > 0)
                    json_array_append_new(res, json_scalar("mem", tasks[i].mem));
                json_array_append_new(
                    infos, json_pack("{s:s, s:o, s:o, s:{s:s}, s:o}", "name", tasks[i].id,
                                     "task_id", json_id(tasks[i].id), "agent_id", json_id(agent_id),
                                     "command", "value", tasks[i].command, "resources", res));
            }
            json_object_set_new(
                accept, "operations",
                json_pack("[{s:s, s:{s:o}}]", "type", "LAUNCH", "launch", "task_infos", infos));
        }
        if (refuse >= 0)
            json_object_set_new(accept, "filters", json_pack("{s:f}", "refuse_seconds", refuse));
        json_t *call = json_call(fw, "ACCEPT");
        json_object_set_new(call, "accept", accept);
        return post_json(fw, call);
    }
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
    Mesos__V1__Offer__Operation *ops[1] = {&op};
    Mesos__V1__Offer__Operation__Launch launch = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = (char *)agent_id;
    Mesos__V1__OfferID *oids = calloc(n_offers + 1, sizeof *oids);
    Mesos__V1__OfferID **poids = calloc(n_offers + 1, sizeof *poids);
    Mesos__V1__TaskInfo *tis = calloc(n_tasks + 1, sizeof *tis);
    Mesos__V1__TaskInfo **ptis = calloc(n_tasks + 1, sizeof *ptis);
    Mesos__V1__TaskID *tids = calloc(n_tasks + 1, sizeof *tids);
    Mesos__V1__CommandInfo *cmds = calloc(n_tasks + 1, sizeof *cmds);
    Mesos__V1__Resource *res = calloc(2 * n_tasks + 1, sizeof *res);
    Mesos__V1__Resource **pres = calloc(2 * n_tasks + 1, sizeof *pres);
    Mesos__V1__Value__Scalar *sc = calloc(2 * n_tasks + 1, sizeof *sc);
    int rc = -ENOMEM;
    if (!oids || !poids || !tis || !ptis || !tids || !cmds || !res || !pres || !sc)
        goto out;
    for (size_t i = 0; i < n_offers; i++) {
        mesos__v1__offer_id__init(&oids[i]);
        oids[i].value = (char *)offer_ids[i];
        poids[i] = &oids[i];
    }
    acc.n_offer_ids = n_offers;
    acc.offer_ids = poids;
    size_t nr = 0;
    for (size_t i = 0; i < n_tasks; i++) {
        mesos__v1__task_info__init(&tis[i]);
        mesos__v1__task_id__init(&tids[i]);
        mesos__v1__command_info__init(&cmds[i]);
        tids[i].value = (char *)tasks[i].id;
        cmds[i].value = (char *)tasks[i].command;
        tis[i].name = (char *)tasks[i].id;
        tis[i].task_id = &tids[i];
        tis[i].agent_id = &aid;
        tis[i].command = &cmds[i];
        tis[i].resources = &pres[nr];
        const char *names[2] = {"cpus", "mem"};
        double vals[2] = {tasks[i].cpus, tasks[i].mem};
        for (int k = 0; k < 2; k++) {
            if (vals[k] <= 0)
                continue;
            mesos__v1__resource__init(&res[nr]);
            mesos__v1__value__scalar__init(&sc[nr]);
            sc[nr].value = vals[k];
            res[nr].name = (char *)names[k];
            res[nr].type = MESOS__V1__VALUE__TYPE__SCALAR;
            res[nr].scalar = &sc[nr];
            pres[nr] = &res[nr];
            nr++;
            tis[i].n_resources++;
        }
        ptis[i] = &tis[i];
    }
    if (n_tasks) {
        launch.n_task_infos = n_tasks;
        launch.task_infos = ptis;
        op.has_type = 1;
        op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
        op.launch = &launch;
        acc.n_operations = 1;
        acc.operations = ops;
    }
    if (refuse >= 0) {
        filters.has_refuse_seconds = 1;
        filters.refuse_seconds = refuse;
        acc.filters = &filters;
    }
    call.accept = &acc;
    rc = post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT);
out:
    free(oids);
    free(poids);
    free(tis);
    free(ptis);
    free(tids);
    free(cmds);
    free(res);
    free(pres);
    free(sc);
    return rc;
}

int itest_fw_launch_json(struct itest_fw *fw, const struct itest_offers *set, json_t *task_infos)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < set->n; i++)
        json_array_append_new(ids, json_id(set->ids[i]));
    json_t *call = json_call(fw, "ACCEPT");
    json_object_set_new(call, "accept",
                        json_pack("{s:o, s:[{s:s, s:{s:o}}], s:{s:f}}", "offer_ids", ids,
                                  "operations", "type", "LAUNCH", "launch", "task_infos",
                                  task_infos, "filters", "refuse_seconds", 0.0));
    return post_json(fw, call);
}

int itest_fw_launch_group_json(struct itest_fw *fw, const struct itest_offers *set,
                               json_t *executor, json_t *tasks)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < set->n; i++)
        json_array_append_new(ids, json_id(set->ids[i]));
    json_t *call = json_call(fw, "ACCEPT");
    json_object_set_new(call, "accept",
                        json_pack("{s:o, s:[{s:s, s:{s:o, s:{s:o}}}], s:{s:f}}", "offer_ids", ids,
                                  "operations", "type", "LAUNCH_GROUP", "launch_group", "executor",
                                  executor, "task_group", "tasks", tasks, "filters",
                                  "refuse_seconds", 0.0));
    return post_json(fw, call);
}

int itest_fw_post_call(struct itest_fw *fw, json_t *call)
{
    return post_json(fw, call);
}

json_t *itest_json_scalar(const char *name, double v)
{
    return json_pack("{s:s, s:s, s:{s:f}}", "name", name, "type", "SCALAR", "scalar", "value", v);
}

json_t *itest_json_resources(double cpus, double mem)
{
    json_t *r = json_array();
    json_array_append_new(r, itest_json_scalar("cpus", cpus));
    json_array_append_new(r, itest_json_scalar("mem", mem));
    return r;
}

json_t *itest_json_executor(const char *executor_id, const char *type)
{
    json_t *r = itest_json_resources(0.1, 32);
    json_array_append_new(r, itest_json_scalar("disk", 32));
    return json_pack("{s:{s:s}, s:s, s:o}", "executor_id", "value", executor_id, "type", type,
                     "resources", r);
}

int itest_agent_executor_dir(int agent_port, const char *executor_id, char *out, size_t len)
{
    *out = '\0';
    json_t *st = itest_get_json(agent_port, "/state");
    if (!st)
        return -1;
    static const char *const lists[] = {"frameworks", "completed_frameworks"};
    static const char *const elists[] = {"executors", "completed_executors"};
    size_t i, k;
    json_t *f, *e;
    for (int l = 0; l < 2; l++)
        json_array_foreach(json_object_get(st, lists[l]), i, f)
        {
            for (int m = 0; m < 2; m++)
                json_array_foreach(json_object_get(f, elists[m]), k, e)
                {
                    const char *eid = json_string_value(json_object_get(e, "id"));
                    const char *dir = json_string_value(json_object_get(e, "directory"));
                    if (eid && dir && strcmp(eid, executor_id) == 0)
                        snprintf(out, len, "%s", dir);
                }
        }
    json_decref(st);
    return *out ? 0 : -1;
}

int itest_fw_decline(struct itest_fw *fw, const char *offer_id, double refuse)
{
    if (fw->enc == ITEST_JSON) {
        json_t *call = json_call(fw, "DECLINE");
        json_t *d = json_pack("{s:[o]}", "offer_ids", json_id(offer_id));
        if (refuse >= 0)
            json_object_set_new(d, "filters", json_pack("{s:f}", "refuse_seconds", refuse));
        json_object_set_new(call, "decline", d);
        return post_json(fw, call);
    }
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Decline dec = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
    Mesos__V1__OfferID *poid[1] = {&oid};
    oid.value = (char *)offer_id;
    dec.n_offer_ids = 1;
    dec.offer_ids = poid;
    if (refuse >= 0) {
        filters.has_refuse_seconds = 1;
        filters.refuse_seconds = refuse;
        dec.filters = &filters;
    }
    call.decline = &dec;
    return post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE);
}

int itest_fw_revive(struct itest_fw *fw)
{
    if (fw->enc == ITEST_JSON)
        return post_json(fw, json_call(fw, "REVIVE"));
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    return post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE);
}

int itest_fw_suppress(struct itest_fw *fw)
{
    if (fw->enc == ITEST_JSON)
        return post_json(fw, json_call(fw, "SUPPRESS"));
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    return post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS);
}

int itest_fw_teardown(struct itest_fw *fw)
{
    if (fw->enc == ITEST_JSON)
        return post_json(fw, json_call(fw, "TEARDOWN"));
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    return post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN);
}

int itest_fw_kill(struct itest_fw *fw, const char *task_id, const char *agent_id)
{
    if (fw->enc == ITEST_JSON) {
        json_t *call = json_call(fw, "KILL");
        json_t *k = json_pack("{s:o}", "task_id", json_id(task_id));
        if (agent_id)
            json_object_set_new(k, "agent_id", json_id(agent_id));
        json_object_set_new(call, "kill", k);
        return post_json(fw, call);
    }
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Kill k = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    k.task_id = &tid;
    if (agent_id) {
        aid.value = (char *)agent_id;
        k.agent_id = &aid;
    }
    call.kill = &k;
    return post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__KILL);
}

int itest_fw_ack(struct itest_fw *fw, const struct itest_status *st)
{
    if (fw->enc == ITEST_JSON) {
        char *b64 = itest_b64_encode(st->uuid, st->uuid_len);
        json_t *call = json_call(fw, "ACKNOWLEDGE");
        json_object_set_new(call, "acknowledge",
                            json_pack("{s:o, s:o, s:s}", "agent_id", json_id(st->agent_id),
                                      "task_id", json_id(st->task_id), "uuid", b64));
        free(b64);
        return post_json(fw, call);
    }
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Acknowledge a = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = (char *)st->task_id;
    aid.value = (char *)st->agent_id;
    a.task_id = &tid;
    a.agent_id = &aid;
    a.uuid.data = (uint8_t *)st->uuid;
    a.uuid.len = st->uuid_len;
    call.acknowledge = &a;
    return post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE);
}

int itest_fw_reconcile(struct itest_fw *fw, const char *task_id, const char *agent_id)
{
    if (fw->enc == ITEST_JSON) {
        json_t *call = json_call(fw, "RECONCILE");
        json_t *tasks = json_array();
        if (task_id) {
            json_t *t = json_pack("{s:o}", "task_id", json_id(task_id));
            if (agent_id)
                json_object_set_new(t, "agent_id", json_id(agent_id));
            json_array_append_new(tasks, t);
        }
        json_object_set_new(call, "reconcile", json_pack("{s:o}", "tasks", tasks));
        return post_json(fw, call);
    }
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Reconcile r = MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
    Mesos__V1__Scheduler__Call__Reconcile__Task t =
        MESOS__V1__SCHEDULER__CALL__RECONCILE__TASK__INIT;
    Mesos__V1__Scheduler__Call__Reconcile__Task *pt[1] = {&t};
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    if (task_id) {
        tid.value = (char *)task_id;
        t.task_id = &tid;
        if (agent_id) {
            aid.value = (char *)agent_id;
            t.agent_id = &aid;
        }
        r.n_tasks = 1;
        r.tasks = pt;
    }
    call.reconcile = &r;
    return post_pb(fw, &call, MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE);
}

static int is_terminal(int state)
{
    switch (state) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED:
    case MESOS__V1__TASK_STATE__TASK_FAILED:
    case MESOS__V1__TASK_STATE__TASK_KILLED:
    case MESOS__V1__TASK_STATE__TASK_ERROR:
    case MESOS__V1__TASK_STATE__TASK_LOST:
    case MESOS__V1__TASK_STATE__TASK_DROPPED:
    case MESOS__V1__TASK_STATE__TASK_GONE:
    case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR: return 1;
    default: return 0;
    }
}

int itest_fw_wait_state(struct itest_fw *fw, const char *task_id, int state, int timeout_ms,
                        struct itest_status *out)
{
    long long deadline = now_ms() + timeout_ms;
    struct itest_event ev;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            itest_log("task %s: no %s within %d ms", task_id, itest_state_name(state), timeout_ms);
            return -ETIMEDOUT;
        }
        int rc =
            itest_fw_wait(fw, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE, task_id, (int)left, &ev);
        if (rc) {
            itest_log("task %s: waiting for %s: %s", task_id, itest_state_name(state),
                      cm_strerror(rc));
            return rc;
        }
        if (ev.status.has_uuid) {
            int ack = itest_fw_ack(fw, &ev.status);
            if (ack != 202)
                itest_log("ACKNOWLEDGE of %s %s answered %d", task_id,
                          itest_state_name(ev.status.state), ack);
        }
        if (ev.status.state == state) {
            if (out)
                *out = ev.status;
            return 0;
        }
        if (is_terminal(ev.status.state)) {
            itest_log("task %s: expected %s, got terminal %s (reason %s, message '%s')", task_id,
                      itest_state_name(state), itest_state_name(ev.status.state),
                      ev.status.has_reason ? itest_reason_name(ev.status.reason) : "-",
                      ev.status.message);
            if (out)
                *out = ev.status;
            return CM_ESTATE;
        }
    }
}

static void set_remove(struct itest_offers *set, size_t i)
{
    for (size_t k = i; k + 1 < set->n; k++)
        memcpy(set->ids[k], set->ids[k + 1], sizeof set->ids[k]);
    set->n--;
}

int itest_fw_decline_set(struct itest_fw *fw, const struct itest_offers *set, double refuse)
{
    int result = 202;
    for (size_t i = 0; i < set->n; i++) {
        int rc = itest_fw_decline(fw, set->ids[i], refuse);
        if (rc != 202 && result == 202)
            result = rc;
    }
    return result;
}

int itest_fw_wait_offer(struct itest_fw *fw, double cpus, double mem, int timeout_ms,
                        struct itest_offers *out)
{
    long long deadline = now_ms() + timeout_ms;
    struct itest_event ev;
    /* The per-offer sums are kept alongside, since a rescind must subtract its share. */
    double oc[ITEST_MAX_HELD], om[ITEST_MAX_HELD], od[ITEST_MAX_HELD];
    memset(out, 0, sizeof *out);
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            itest_fw_decline_set(fw, out, 0);
            memset(out, 0, sizeof *out);
            itest_log("no offer(s) with cpus %.2f mem %.0f within %d ms", cpus, mem, timeout_ms);
            return -ETIMEDOUT;
        }
        unsigned mask = 1u << MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS |
                        1u << MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
        int rc = wait_mask(fw, mask, NULL, (int)left, &ev);
        if (rc) {
            itest_fw_decline_set(fw, out, 0);
            memset(out, 0, sizeof *out);
            return rc;
        }
        if (ev.type == MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND) {
            for (size_t i = 0; i < out->n; i++) {
                if (strcmp(out->ids[i], ev.offer_id) == 0) {
                    out->cpus -= oc[i];
                    out->mem -= om[i];
                    out->disk -= od[i];
                    for (size_t k = i; k + 1 < out->n; k++) {
                        oc[k] = oc[k + 1];
                        om[k] = om[k + 1];
                        od[k] = od[k + 1];
                    }
                    set_remove(out, i);
                    break;
                }
            }
            continue;
        }
        for (size_t i = 0; i < ev.n_offers; i++) {
            const struct itest_offer *o = &ev.offers[i];
            int same_agent = out->n == 0 || strcmp(out->agent_id, o->agent_id) == 0;
            int done = out->n > 0 && out->cpus + 1e-9 >= cpus && out->mem + 1e-9 >= mem;
            if (!same_agent || done || out->n == ITEST_MAX_HELD) {
                itest_fw_decline(fw, o->id, 0);
                continue;
            }
            copy_str(out->ids[out->n], sizeof out->ids[0], o->id);
            copy_str(out->agent_id, sizeof out->agent_id, o->agent_id);
            copy_str(out->framework_id, sizeof out->framework_id, o->framework_id);
            oc[out->n] = o->cpus;
            om[out->n] = o->mem;
            od[out->n] = o->disk;
            out->cpus += o->cpus;
            out->mem += o->mem;
            out->disk += o->disk;
            out->n++;
        }
        if (out->n > 0 && out->cpus + 1e-9 >= cpus && out->mem + 1e-9 >= mem) {
            for (size_t i = 0; i < out->n; i++)
                out->idv[i] = out->ids[i];
            return 0;
        }
    }
}

/* ---- driving a libevent loop in a test ---------------------------------------------------- */

static void loop_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

bool itest_loop_until(struct event_base *base, const bool *flag)
{
    bool expired = false;
    struct event *guard = evtimer_new(base, loop_guard, &expired);
    struct timeval tv = {5, 0};
    evtimer_add(guard, &tv);
    while (!*flag && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(guard);
    return *flag;
}

void itest_loop_for(struct event_base *base, double secs)
{
    bool expired = false;
    struct event *t = evtimer_new(base, loop_guard, &expired);
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6)};
    evtimer_add(t, &tv);
    while (!expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
}
