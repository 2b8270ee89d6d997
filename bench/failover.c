/*
 * bench-failover: time from `kill -9` of the leading master until (a) a new leader is elected
 * and (b) every agent is re-registered with it, for 1 and 1,000 agents, with ZooKeeper's
 * default 10 s session timeout and with a short one (2 s) for comparison.
 *
 * Real pieces: a ZooKeeper server (the Debian package's jar, started here on a free port with
 * tickTime 500 ms), two mesos-master processes (--zk, --registry=zk) from this build's bin dir.
 * Emulated pieces: the agents. One event loop drives N emulated agents that speak the master
 * link (docs/agent-link.md): a streaming POST of AgentCall REGISTER (protobuf) per agent,
 * counted as registered when the first RecordIO record (REGISTERED, with the agent id) arrives.
 * A ZooKeeper leader detector (leader.h) re-registers every agent, with its id, as soon as the
 * leader changes. (a) is when the detector reports the new leader, (b) when the last agent
 * got REGISTERED from it. Not run by ctest; prints one line per run. Needs java.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cmesos/internal.pb-c.h"
#include "http_client.h"
#include "leader.h"
#include "log.h"
#include "recordio.h"

#define ZK_JAR "/usr/share/java/zookeeper.jar"

struct emu_agent {
    struct bench *b;
    int idx;
    char *id;
    struct cm_http_call *call;
    struct cm_recordio_decoder dec;
    bool registered; /* with the current leader */
    int leader_gen;  /* the leader generation it registered with */
};

struct bench {
    struct event_base *base;
    struct cm_http_client *http;
    struct cm_leader_detector *det;
    struct emu_agent *agents;
    int n;
    char leader[128]; /* "ip:port" */
    int gen;          /* bumped on each leader change */
    int registered;   /* agents registered with the current leader */
    double t_leader, t_all;
};

static double now_s(void)
{
    return cm_monotonic_secs();
}

/* ---- processes ------------------------------------------------------------------------------ */

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(-pid, sig);
    kill(pid, sig);
    waitpid(pid, NULL, 0);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static int zk_ruok(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[16] = "";
    int ok = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(fd, "srvr", 4) == 4) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 500) > 0 && read(fd, buf, sizeof buf - 1) > 0)
            ok = strncmp(buf, "Zookeeper", 9) == 0;
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

static pid_t start_zk(const char *dir, int port)
{
    char cfg[512], data[512], log[512];
    snprintf(data, sizeof data, "%s/zkdata", dir);
    mkdir(data, 0755);
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return -1;
    fprintf(f,
            "tickTime=500\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
            "maxClientCnxns=0\nminSessionTimeout=1000\nmaxSessionTimeout=30000\n"
            "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,cons\n",
            data, port);
    fclose(f);
    snprintf(log, sizeof log, "%s/zk.log", dir);
    char *const argv[] = {"/usr/bin/java",
                          "-Xmx512m",
                          "-XX:+UseSerialGC",
                          "-XX:TieredStopAtLevel=1",
                          "-cp",
                          ZK_JAR,
                          "org.apache.zookeeper.server.ZooKeeperServerMain",
                          cfg,
                          NULL};
    pid_t pid = spawn(argv, log);
    for (int i = 0; i < 300; i++) {
        if (zk_ruok(port))
            return pid;
        usleep(100000);
    }
    reap(pid, SIGKILL);
    return -1;
}

static pid_t start_master(const char *bin, const char *dir, int i, const char *zk,
                          const char *session, int *port)
{
    char work[512], pf[512], log[512], f_pf[600], f_work[600], f_zk[300], f_to[64];
    snprintf(work, sizeof work, "%s/m%d", dir, i);
    snprintf(pf, sizeof pf, "%s/m%d.port", dir, i);
    snprintf(log, sizeof log, "%s/m%d.log", dir, i);
    snprintf(f_pf, sizeof f_pf, "--port_file=%s", pf);
    snprintf(f_work, sizeof f_work, "--work_dir=%s", work);
    snprintf(f_zk, sizeof f_zk, "--zk=%s", zk);
    snprintf(f_to, sizeof f_to, "--zk_session_timeout=%s", session);
    char *const argv[] = {(char *)bin,
                          "--ip=127.0.0.1",
                          "--port=0",
                          f_pf,
                          f_work,
                          f_zk,
                          "--quorum=2",
                          f_to,
                          "--registry=zk",
                          "--logging_level=WARNING",
                          NULL};
    unlink(pf);
    pid_t pid = spawn(argv, log);
    for (int k = 0; k < 200; k++) {
        FILE *f = fopen(pf, "r");
        if (f) {
            int ok = fscanf(f, "%d", port) == 1;
            fclose(f);
            if (ok && *port > 0)
                return pid;
        }
        usleep(50000);
    }
    reap(pid, SIGKILL);
    return -1;
}

/* ---- emulated agents ------------------------------------------------------------------------ */

static void agent_register(struct emu_agent *a);

static int on_record(void *arg, const uint8_t *data, size_t len)
{
    struct emu_agent *a = arg;
    Cmesos__Internal__AgentEvent *ev = cmesos__internal__agent_event__unpack(NULL, len, data);
    if (!ev)
        return 1;
    if (ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__REGISTERED && ev->registered &&
        ev->registered->agent_id && !a->registered) {
        free(a->id);
        a->id = strdup(ev->registered->agent_id->value);
        a->registered = true;
        if (a->leader_gen == a->b->gen && ++a->b->registered == a->b->n)
            a->b->t_all = now_s();
    }
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    return 0;
}

static int on_headers(void *arg, const struct cm_http_response *resp)
{
    (void)arg;
    return resp->status != 200;
}

static int on_data(void *arg, const void *data, size_t len)
{
    struct emu_agent *a = arg;
    return cm_recordio_feed(&a->dec, data, len, on_record, a) < 0;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    agent_register(arg);
}

static void on_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    (void)err, (void)errmsg, (void)resp;
    struct emu_agent *a = arg;
    a->call = NULL;
    if (a->registered && a->leader_gen == a->b->gen)
        a->b->registered--;
    a->registered = false;
    /* Retry after a short pause, as an agent's backoff would (the detector may move us). */
    struct timeval tv = {0, 200000 + (suseconds_t)(random() % 300000)};
    event_base_once(a->b->base, -1, EV_TIMEOUT, retry_cb, a, &tv);
}

static void agent_register(struct emu_agent *a)
{
    struct bench *b = a->b;
    if (a->call || !b->leader[0])
        return;
    char host[64], pid[96], url[256];
    snprintf(host, sizeof host, "emu-%d", a->idx);
    snprintf(pid, sizeof pid, "slave(1)@127.0.0.2:%d", 10000 + a->idx);
    snprintf(url, sizeof url, "http://%s/master/api/v1/agent", b->leader);

    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__Register reg = CMESOS__INTERNAL__AGENT_CALL__REGISTER__INIT;
    Mesos__V1__AgentInfo ai = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT, aid2 = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__Resource r[2];
    Mesos__V1__Value__Scalar sc[2];
    Mesos__V1__Resource *rp[2] = {&r[0], &r[1]};
    const char *names[2] = {"cpus", "mem"};
    double vals[2] = {4, 8192};
    for (int i = 0; i < 2; i++) {
        mesos__v1__resource__init(&r[i]);
        mesos__v1__value__scalar__init(&sc[i]);
        r[i].name = (char *)names[i];
        r[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
        sc[i].value = vals[i];
        r[i].scalar = &sc[i];
    }
    ai.hostname = host;
    ai.has_port = 1;
    ai.port = 10000 + a->idx;
    ai.resources = rp;
    ai.n_resources = 2;
    if (a->id) {
        aid.value = a->id;
        ai.id = &aid;
        aid2.value = a->id;
        call.agent_id = &aid2;
    }
    reg.agent_info = &ai;
    reg.version = "1.11.0";
    reg.pid = pid;
    reg.address_ip = "127.0.0.2";
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER;
    call.register_ = &reg;
    size_t len = cmesos__internal__agent_call__get_packed_size(&call);
    uint8_t *body = malloc(len);
    cmesos__internal__agent_call__pack(&call, body);
    static const char *const headers[] = {"Content-Type: application/x-protobuf",
                                          "Accept: application/x-protobuf", NULL};
    cm_recordio_decoder_cleanup(&a->dec);
    cm_recordio_decoder_init(&a->dec, 1 << 20);
    a->leader_gen = b->gen;
    struct cm_http_request_opts o = {.method = "POST",
                                     .url = url,
                                     .headers = headers,
                                     .body = body,
                                     .body_len = len,
                                     .connect_timeout_secs = 5,
                                     .on_headers = on_headers,
                                     .on_data = on_data,
                                     .on_done = on_done,
                                     .arg = a};
    if (cm_http_client_start(b->http, &o, &a->call) != 0)
        a->call = NULL;
    free(body);
}

static void on_leader(void *arg, const Mesos__V1__MasterInfo *mi)
{
    struct bench *b = arg;
    char next[128] = "";
    if (mi && mi->address && mi->address->ip)
        snprintf(next, sizeof next, "%s:%u", mi->address->ip, (unsigned)mi->port);
    if (strcmp(next, b->leader) == 0)
        return;
    snprintf(b->leader, sizeof b->leader, "%s", next);
    b->gen++;
    b->registered = 0;
    if (!next[0])
        return;
    b->t_leader = now_s();
    b->t_all = 0;
    /* Everyone drops the old stream and re-registers with its id at once. */
    for (int i = 0; i < b->n; i++) {
        struct emu_agent *a = &b->agents[i];
        if (a->call) {
            cm_http_call_cancel(a->call);
            a->call = NULL;
        }
        a->registered = false;
        agent_register(a);
    }
}

static bool run_until(struct bench *b, bool (*done)(struct bench *), double secs)
{
    double end = now_s() + secs;
    while (!done(b) && now_s() < end) {
        struct timeval tv = {0, 20000};
        event_base_loopexit(b->base, &tv);
        event_base_dispatch(b->base);
    }
    return done(b);
}

static bool all_registered(struct bench *b)
{
    return b->registered == b->n && b->t_all > 0;
}

/* ---- one run ------------------------------------------------------------------------------- */

static int run(const char *bin, int n, const char *session, double session_secs)
{
    char dir[] = "/tmp/bench-failover-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    int zport = free_port();
    pid_t zk = start_zk(dir, zport);
    if (zk < 0) {
        fprintf(stderr, "bench-failover: ZooKeeper did not start (see %s/zk.log)\n", dir);
        return -1;
    }
    char url[128];
    snprintf(url, sizeof url, "zk://127.0.0.1:%d/mesos", zport);
    int ports[2] = {0, 0};
    pid_t m[2];
    m[0] = start_master(bin, dir, 0, url, session, &ports[0]);
    usleep(300000); /* the first one leads */
    m[1] = start_master(bin, dir, 1, url, session, &ports[1]);
    int rc = -1;
    struct bench b = {0};
    b.base = event_base_new();
    b.http = cm_http_client_new(b.base);
    b.n = n;
    b.agents = calloc((size_t)n, sizeof *b.agents);
    for (int i = 0; i < n; i++) {
        b.agents[i].b = &b;
        b.agents[i].idx = i;
        cm_recordio_decoder_init(&b.agents[i].dec, 1 << 20);
    }
    struct cm_zk_url zu;
    char why[256];
    cm_zk_url_parse(url, &zu, why, sizeof why);
    b.det = cm_leader_detector_zk_new(b.base, &zu, 10, on_leader, &b);
    cm_zk_url_cleanup(&zu);
    if (m[0] < 0 || m[1] < 0 || !b.det || cm_leader_detector_start(b.det) != 0) {
        fprintf(stderr, "bench-failover: masters did not start (logs in %s)\n", dir);
        goto out;
    }
    if (!run_until(&b, all_registered, 60)) {
        fprintf(stderr, "bench-failover: only %d of %d agents registered (logs in %s)\n",
                b.registered, n, dir);
        goto out;
    }
    double t_first = b.t_all - b.t_leader;
    /* The leader is the master whose port the detector reports. */
    char p0[32];
    snprintf(p0, sizeof p0, ":%d", ports[0]);
    int victim = strstr(b.leader, p0) ? 0 : 1;
    int gen = b.gen;
    /* Let the registry settle (its batched writes) before the kill. */
    struct timeval tv = {1, 0};
    event_base_loopexit(b.base, &tv);
    event_base_dispatch(b.base);
    double t0 = now_s();
    reap(m[victim], SIGKILL);
    m[victim] = -1;
    b.t_all = 0;
    if (!run_until(&b, all_registered, session_secs + 40) || b.gen == gen) {
        fprintf(stderr, "bench-failover: no complete failover (%d of %d agents; logs in %s)\n",
                b.registered, n, dir);
        goto out;
    }
    printf("agents=%-5d session=%-6s elected_after=%6.2fs all_reregistered_after=%6.2fs "
           "(reregistration took %5.3fs; initial registration %5.3fs)\n",
           n, session, b.t_leader - t0, b.t_all - t0, b.t_all - b.t_leader, t_first);
    fflush(stdout);
    rc = 0;
out:
    for (int i = 0; i < n; i++) {
        if (b.agents[i].call)
            cm_http_call_cancel(b.agents[i].call);
        cm_recordio_decoder_cleanup(&b.agents[i].dec);
        free(b.agents[i].id);
    }
    free(b.agents);
    cm_leader_detector_free(b.det);
    cm_http_client_free(b.http);
    event_base_free(b.base);
    for (int i = 0; i < 2; i++)
        if (m[i] > 0)
            reap(m[i], SIGTERM);
    reap(zk, SIGKILL);
    if (rc == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-failover: could not remove %s\n", dir);
    }
    return rc;
}

int main(int argc, char **argv)
{
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    if (access("/usr/bin/java", X_OK) != 0 || access(ZK_JAR, R_OK) != 0) {
        fprintf(stderr, "bench-failover: needs java and %s (Debian package zookeeper)\n", ZK_JAR);
        return 77;
    }
    cm_log_set_level(CM_LOG_WARNING);
    char self[4096], bin[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = 0;
    snprintf(bin, sizeof bin, "%s/mesos-master", dirname(self));
    (void)argv;
    printf("bench-failover: kill -9 of the leading master (2 masters, 1 ZooKeeper)\n");
    int bad = 0;
    bad |= run(bin, 1, "10secs", 10) != 0;
    bad |= run(bin, 1000, "10secs", 10) != 0;
    bad |= run(bin, 1, "2secs", 2) != 0;
    bad |= run(bin, 1000, "2secs", 2) != 0;
    return bad ? 1 : 0;
}
