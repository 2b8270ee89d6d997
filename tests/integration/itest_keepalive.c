/*
 * itest_keepalive: the harness's keep-alive client connection (itest_conn_*), against the real
 * master (many requests on one connection, chunked and Content-Length answers, reconnecting
 * after "Connection: close") and against a scripted server in a child process (idle close,
 * close-delimited body, 204 without a body, a reused connection that ends before answering,
 * a server that never answers); and a protobuf framework whose calls go on one connection.
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"

static unsigned long connects_of(const struct itest_conn *c)
{
    unsigned long n = 0;
    itest_conn_stats(c, NULL, &n);
    return n;
}

static unsigned long requests_of(const struct itest_conn *c)
{
    unsigned long n = 0;
    itest_conn_stats(c, &n, NULL);
    return n;
}

static void test_master_reuse(void)
{
    struct itest_cluster c;
    struct itest_cluster_opts o = {.no_agent = 1};
    REQUIRE(itest_cluster_start(&c, &o) == 0);
    struct itest_conn *conn = itest_conn_new(c.master_port);
    REQUIRE(conn != NULL);
    CHECK_INT(connects_of(conn), 0); /* nothing opened before the first request */
    struct itest_http_resp r;
    for (int i = 0; i < 5; i++) {
        CHECK_INT(itest_conn_request(conn, "GET", "/health", NULL, NULL, 0, &r, ITEST_WAIT_MS), 0);
        CHECK_INT(r.status, 200);
        itest_http_resp_cleanup(&r);
    }
    CHECK_INT(itest_conn_request(conn, "GET", "/master/state", NULL, NULL, 0, &r, ITEST_WAIT_MS),
              0);
    CHECK_INT(r.status, 200);
    json_t *state = json_loadb((const char *)r.body, r.body_len, 0, NULL);
    CHECK(state != NULL && json_is_array(json_object_get(state, "frameworks")));
    json_decref(state);
    itest_http_resp_cleanup(&r);
    CHECK_INT(itest_conn_request(conn, "GET", "/no/such/path", NULL, NULL, 0, &r, ITEST_WAIT_MS),
              0);
    CHECK_INT(r.status, 404);
    itest_http_resp_cleanup(&r);
    CHECK_INT(connects_of(conn), 1);
    CHECK_INT(requests_of(conn), 7);

    /* Asking the server to close: the answer still comes, the next request reconnects. */
    static const char *const close_hdr[] = {"Connection: close", NULL};
    CHECK_INT(itest_conn_request(conn, "GET", "/health", close_hdr, NULL, 0, &r, ITEST_WAIT_MS), 0);
    CHECK_INT(r.status, 200);
    itest_http_resp_cleanup(&r);
    CHECK_INT(itest_conn_request(conn, "GET", "/health", NULL, NULL, 0, &r, ITEST_WAIT_MS), 0);
    CHECK_INT(r.status, 200);
    itest_http_resp_cleanup(&r);
    CHECK_INT(connects_of(conn), 2);
    itest_conn_free(conn);
    itest_conn_free(NULL);
    itest_cluster_stop(&c);
}

/* ---- a scripted server in a child process ------------------------------------------------ */

/* Reads one request head (these requests have no body); 0, or -1 if the peer closed. */
static int read_request(int fd)
{
    char buf[4096];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = 0;
        if (strstr(buf, "\r\n\r\n"))
            return 0;
    }
    return -1;
}

static void answer(int fd, const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t w = send(fd, text, len, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        text += w;
        len -= (size_t)w;
    }
}

/* The script, one connection after the other (see the client side below). */
static void serve(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (read_request(fd) == 0)
        answer(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    if (read_request(fd) == 0)
        answer(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n");
    close(fd); /* idle close */
    fd = accept(lfd, NULL, NULL);
    if (read_request(fd) == 0)
        answer(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto-the-end");
    close(fd); /* ends the close-delimited body */
    fd = accept(lfd, NULL, NULL);
    if (read_request(fd) == 0)
        answer(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    read_request(fd);
    close(fd); /* reads the next request and closes without answering */
    fd = accept(lfd, NULL, NULL);
    if (read_request(fd) == 0)
        answer(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    close(fd);
    fd = accept(lfd, NULL, NULL);
    read_request(fd);
    sleep(5); /* never answers */
    close(fd);
}

static void test_scripted_server(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    REQUIRE(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 8) == 0 &&
            getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        serve(lfd);
        _exit(0);
    }
    close(lfd);
    struct itest_conn *conn = itest_conn_new(ntohs(sa.sin_port));
    REQUIRE(conn != NULL);
    struct itest_http_resp r;

    CHECK_INT(itest_conn_request(conn, "GET", "/a", NULL, NULL, 0, &r, 5000), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR((const char *)r.body, "first");
    itest_http_resp_cleanup(&r);
    CHECK_INT(itest_conn_request(conn, "GET", "/b", NULL, NULL, 0, &r, 5000), 0);
    CHECK_STR((const char *)r.body, "abc");
    CHECK_INT(r.body_len, 3);
    itest_http_resp_cleanup(&r);
    CHECK_INT(connects_of(conn), 1);

    /* The server closed the idle connection: a new one carries the request. */
    usleep(100 * 1000);
    CHECK_INT(itest_conn_request(conn, "GET", "/c", NULL, NULL, 0, &r, 5000), 0);
    CHECK_STR((const char *)r.body, "to-the-end");
    itest_http_resp_cleanup(&r);
    CHECK_INT(connects_of(conn), 2);

    /* A close-delimited body ended that one; a 204 has no body even without a length. */
    CHECK_INT(itest_conn_request(conn, "GET", "/d", NULL, NULL, 0, &r, 5000), 0);
    CHECK_INT(r.status, 204);
    CHECK_INT(r.body_len, 0);
    CHECK(r.body != NULL);
    itest_http_resp_cleanup(&r);
    CHECK_INT(connects_of(conn), 3);

    /* The reused connection ends before any byte of the answer: sent again on a new one. */
    CHECK_INT(itest_conn_request(conn, "GET", "/e", NULL, NULL, 0, &r, 5000), 0);
    CHECK_STR((const char *)r.body, "ok");
    itest_http_resp_cleanup(&r);
    CHECK_INT(connects_of(conn), 4);

    /* After "Connection: close" the next request connects again; no answer is a timeout,
     * not sent twice. */
    CHECK_INT(itest_conn_request(conn, "GET", "/f", NULL, NULL, 0, &r, 300), -ETIMEDOUT);
    CHECK(r.headers == NULL && r.body == NULL);
    CHECK_INT(connects_of(conn), 5);
    CHECK_INT(requests_of(conn), 5);
    itest_conn_free(conn);

    kill(pid, SIGKILL);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
}

/* A framework's calls (ACCEPT, ACKNOWLEDGE, DECLINE) on one connection. */
static void test_framework_calls(void)
{
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, NULL) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fw != NULL);
    CHECK_INT(itest_fw_keepalive(fw), 0);
    REQUIRE(fw->conn != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"ka-1", "true", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "ka-1", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, NULL),
        0);
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    CHECK_INT(itest_fw_decline_set(fw, &off, 0), 202);
    /* A refused call keeps the connection too (the answer has a body of known length). */
    CHECK_INT(itest_fw_post(fw, "\xff\xff\xff", 3, 1), 400);
    CHECK_INT(itest_fw_reconcile(fw, NULL, NULL), 202);
    unsigned long req = 0, conns = 0;
    itest_conn_stats(fw->conn, &req, &conns);
    CHECK(req >= 5); /* accept, two or more acks, decline, the bad call, reconcile */
    CHECK_INT(conns, 1);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_master_reuse), TEST(test_scripted_server), TEST(test_framework_calls))
