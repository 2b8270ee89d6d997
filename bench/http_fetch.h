/*
 * http_fetch.h: one HTTP exchange with an in-process master from a client thread, for the
 * state benchmarks (bench-state_stall, bench-operator_stall), while the master's loop runs and
 * a loop probe watches it.
 *
 * bench_fetch_run starts a thread that connects to 127.0.0.1:port, sends the request as
 * given, reads the reply until the server closes (or until enough() says the part wanted has
 * arrived), splits off the headers and removes a chunked framing; meanwhile the calling thread
 * runs the master's loop and records the CPU time it takes (the master's cost of the reply).
 *
 * Header-only: every .c under bench/ is a benchmark program of its own. Failures print a line
 * and exit: a benchmark with a broken exchange measures nothing.
 */
#ifndef CM_BENCH_HTTP_FETCH_H
#define CM_BENCH_HTTP_FETCH_H

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "loop_probe.h"

struct bench_fetch {
    int port;
    const char *request; /* the whole request, sent as it is */
    /* Whether raw[0, len) already holds what is wanted (a stream's first record); NULL: read
     * until the server closes. Asked every 4 MB read and whenever the reads slow down. */
    bool (*enough)(const char *raw, size_t len);

    /* Results. */
    char *raw; /* owned: the reply, NUL-terminated after the header block */
    int status;
    char *body; /* into raw: de-chunked */
    size_t len;
    double secs; /* from connect to the last read */
    double cpu;  /* the loop thread's CPU time meanwhile */
    double sys;  /* the part of cpu spent in the kernel */
    atomic_int done;
};

static void bench_fetch_die(const char *what)
{
    fprintf(stderr, "bench: fetching: %s\n", what);
    exit(1);
}

/* Removes the chunked framing of b[0, n) in place (complete chunks only); returns the length. */
static size_t bench_dechunk(char *b, size_t n)
{
    size_t in = 0, out = 0;
    while (in < n) {
        char *end;
        unsigned long sz = strtoul(b + in, &end, 16);
        char *nl = memmem(end, n - (size_t)(end - b), "\r\n", 2);
        if (!nl || sz == 0 || (size_t)(nl + 2 - b) + sz > n)
            break;
        in = (size_t)(nl + 2 - b);
        memmove(b + out, b + in, sz);
        out += sz;
        in += sz + 2;
    }
    return out;
}

static void *bench_fetch_main(void *arg)
{
    struct bench_fetch *f = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    double t0 = cm_monotonic_secs();
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        bench_fetch_die("connect");
    size_t rn = strlen(f->request);
    if (write(fd, f->request, rn) != (ssize_t)rn)
        bench_fetch_die("write");
    size_t cap = 1 << 20, len = 0, checked = 0;
    char *buf = malloc(cap);
    if (!buf)
        bench_fetch_die("out of memory");
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                bench_fetch_die("out of memory");
        }
        ssize_t k = read(fd, buf + len, 65536);
        if (k <= 0)
            break;
        len += (size_t)k;
        if (f->enough && (len - checked > (4u << 20) || k < 65536)) {
            checked = len;
            if (f->enough(buf, len))
                break;
        }
    }
    f->secs = cm_monotonic_secs() - t0;
    close(fd);
    buf[len] = '\0';
    f->raw = buf;
    f->status = atoi(buf + 9);
    char *hend = strstr(buf, "\r\n\r\n");
    if (!hend)
        bench_fetch_die("no header end");
    *hend = '\0';
    bool chunked = strcasestr(buf, "transfer-encoding: chunked") != NULL;
    f->body = hend + 4;
    f->len = len - (size_t)(f->body - buf);
    if (chunked)
        f->len = bench_dechunk(f->body, f->len);
    atomic_store(&f->done, 1);
    return NULL;
}

struct bench_fetch_waiter {
    struct event_base *base;
    struct bench_fetch *f;
};

static void bench_fetch_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct bench_fetch_waiter *w = arg;
    if (atomic_load(&w->f->done))
        event_base_loopbreak(w->base);
}

/* Runs the exchange f describes (port, request, enough) while base's loop runs; fills f's
 * results and *st with the probe's figures. bench_fetch_cleanup frees what it read. */
static void bench_fetch_run(struct event_base *base, struct cm_loop_probe *probe,
                            struct bench_fetch *f, struct cm_loop_probe_stats *st)
{
    struct bench_fetch_waiter w = {base, f};
    struct event *chk = event_new(base, -1, EV_PERSIST, bench_fetch_check, &w);
    struct timeval tv = {0, 2000};
    event_add(chk, &tv);
    cm_loop_probe_reset(probe);
    pthread_t th;
    struct timespec c0, c1;
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    pthread_create(&th, NULL, bench_fetch_main, f);
    event_base_dispatch(base);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    getrusage(RUSAGE_THREAD, &r1);
    f->cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    f->sys = (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
             (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    pthread_join(th, NULL);
    cm_loop_probe_stats(probe, st);
    event_free(chk);
}

static void bench_fetch_cleanup(struct bench_fetch *f)
{
    free(f->raw);
    f->raw = NULL;
    f->body = NULL;
}

#endif
