/* mesos_api.c: see mesos_api.h. */
#include "mesos_api.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leader.h"
#include "tls.h"
#include "util.h"

/* Responses larger than this are refused (a state of a large cluster is a few MB). */
#define CM_CLI_MAX_BODY (256u << 20)

struct buf {
    char *data;
    size_t len;
    bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > CM_CLI_MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    char *nd = realloc(b->data, b->len + n + 1);
    if (!nd)
        abort();
    b->data = nd;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

struct header_capture {
    char location[512];
};

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct header_capture *h = arg;
    size_t n = size * nmemb;
    if (n > 9 && strncasecmp(ptr, "Location:", 9) == 0) {
        size_t start = 9;
        while (start < n && (ptr[start] == ' ' || ptr[start] == '\t'))
            start++;
        size_t end = n;
        while (end > start && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n'))
            end--;
        size_t len = end - start < sizeof h->location - 1 ? end - start : sizeof h->location - 1;
        memcpy(h->location, ptr + start, len);
        h->location[len] = '\0';
    }
    return n;
}

/* One HTTP request; body NULL for GET. */
static int http(struct cm_cli *cli, const char *url, const char *body, long *status,
                struct buf *out, struct header_capture *hc, char *why, size_t whylen)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(why, whylen, "Failed to initialise libcurl");
        return CM_CLI_EXIT_FAILED;
    }
    struct curl_slist *hdrs = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hc);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(cli->timeout * 1000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cm_tls_curl_setup(c);
    if (cli->principal && *cli->principal) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, cli->principal);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cli->secret ? cli->secret : "");
    }
    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "Cannot reach %s: %s", url,
                 out->too_big ? "the response is too large" : curl_easy_strerror(rc));
        ret = CM_CLI_EXIT_UNREACHABLE;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return ret;
}

struct detect {
    struct event_base *base;
    char *hostport;
};

static void on_leader(void *arg, const Mesos__V1__MasterInfo *leader)
{
    struct detect *d = arg;
    if (!leader || d->hostport)
        return;
    const char *host = NULL;
    if (leader->address && leader->address->ip)
        host = leader->address->ip;
    else if (leader->address && leader->address->hostname)
        host = leader->address->hostname;
    else if (leader->hostname)
        host = leader->hostname;
    uint32_t port = leader->address ? (uint32_t)leader->address->port : leader->port;
    if (!host)
        return;
    d->hostport = cm_xasprintf("%s:%u", host, (unsigned)port);
    event_base_loopbreak(d->base);
}

static void on_detect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Strips "http://" and a trailing path from a host:port spec. */
static char *plain_hostport(const char *spec)
{
    const char *p = spec;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "https://", 8) == 0)
        p += 8;
    if (strncmp(p, "master@", 7) == 0)
        p += 7;
    size_t len = strcspn(p, "/");
    char *out = cm_xmalloc(len + 1);
    memcpy(out, p, len);
    out[len] = '\0';
    return out;
}

int cm_cli_resolve(struct cm_cli *cli, char *why, size_t whylen)
{
    if (cli->master)
        return 0;
    if (!cli->spec || !*cli->spec) {
        snprintf(why, whylen,
                 "No master given: use --master=HOST:PORT|zk://HOST:PORT/PATH or set "
                 "MESOS_MASTER");
        return CM_CLI_EXIT_USAGE;
    }
    if (strncmp(cli->spec, "zk://", 5) != 0 && strncmp(cli->spec, "file://", 7) != 0) {
        cli->master = plain_hostport(cli->spec);
        if (!strchr(cli->master, ':')) {
            snprintf(why, whylen, "Master '%s' has no port (expected HOST:PORT)", cli->spec);
            return CM_CLI_EXIT_USAGE;
        }
        return 0;
    }
    struct detect d = {event_base_new(), NULL};
    if (!d.base) {
        snprintf(why, whylen, "Failed to create an event loop");
        return CM_CLI_EXIT_FAILED;
    }
    char err[512] = "";
    struct cm_leader_detector *det =
        cm_leader_detector_new(d.base, cli->spec, 10.0, on_leader, &d, err, sizeof err);
    if (!det) {
        event_base_free(d.base);
        snprintf(why, whylen, "Invalid master '%s': %s", cli->spec, err);
        return CM_CLI_EXIT_USAGE;
    }
    struct event *t = evtimer_new(d.base, on_detect_timeout, d.base);
    struct timeval tv = {(time_t)cli->timeout,
                         (suseconds_t)((cli->timeout - (time_t)cli->timeout) * 1e6)};
    evtimer_add(t, &tv);
    cm_leader_detector_start(det);
    event_base_dispatch(d.base);
    event_free(t);
    cm_leader_detector_free(det);
    event_base_free(d.base);
    if (!d.hostport) {
        snprintf(why, whylen, "No leading master found through %s within %gs", cli->spec,
                 cli->timeout);
        return CM_CLI_EXIT_UNREACHABLE;
    }
    cli->master = d.hostport;
    return 0;
}

/* The message of an error response: its body (trimmed, at most one line's worth). */
static void error_message(long status, const struct buf *b, char *why, size_t whylen)
{
    const char *msg = b->data && b->len ? b->data : "";
    snprintf(why, whylen, "The master answered %ld%s%.*s", status, *msg ? ": " : "",
             (int)strcspn(msg, "\r\n"), msg);
}

int cm_cli_call(struct cm_cli *cli, json_t *call, json_t **response, char *why, size_t whylen)
{
    *response = NULL;
    int rc = cm_cli_resolve(cli, why, whylen);
    if (rc)
        return rc;
    char *body = json_dumps(call, JSON_COMPACT);
    char url[600];
    snprintf(url, sizeof url, "%s://%s/api/v1", cm_tls_scheme(), cli->master);
    for (int hop = 0;; hop++) {
        struct buf b = {0};
        struct header_capture hc = {""};
        long status = 0;
        rc = http(cli, url, body, &status, &b, &hc, why, whylen);
        if (rc) {
            free(b.data);
            break;
        }
        if (status == 307 && hc.location[0] && hop < 3) {
            /* "//host:port/master/api/v1" from a standby: follow it to the leader. */
            const char *loc = hc.location;
            if (strncmp(loc, "//", 2) == 0)
                snprintf(url, sizeof url, "http:%s", loc);
            else
                snprintf(url, sizeof url, "%s", loc);
            char *hp = plain_hostport(strncmp(loc, "//", 2) == 0 ? loc + 2 : loc);
            free(cli->master);
            cli->master = hp;
            free(b.data);
            continue;
        }
        if (status == 200 || status == 202) {
            if (b.len) {
                json_error_t jerr;
                *response = json_loadb(b.data, b.len, 0, &jerr);
                if (!*response) {
                    snprintf(why, whylen, "The master's response is not JSON: %s", jerr.text);
                    rc = CM_CLI_EXIT_FAILED;
                }
            }
        } else {
            error_message(status, &b, why, whylen);
            rc = status == 503 || status == 307 ? CM_CLI_EXIT_UNREACHABLE : CM_CLI_EXIT_FAILED;
        }
        free(b.data);
        break;
    }
    free(body);
    return rc;
}

int cm_cli_get(struct cm_cli *cli, const char *hostport, const char *path_and_query, char **body,
               size_t *len, char *why, size_t whylen)
{
    char url[4096];
    snprintf(url, sizeof url, "%s://%s%s", cm_tls_scheme(), hostport, path_and_query);
    struct buf b = {0};
    struct header_capture hc = {""};
    long status = 0;
    int rc = http(cli, url, NULL, &status, &b, &hc, why, whylen);
    if (rc == 0 && status != 200) {
        snprintf(why, whylen, "GET %s answered %ld%s%.*s", url, status, b.len ? ": " : "",
                 (int)strcspn(b.data ? b.data : "", "\r\n"), b.data ? b.data : "");
        rc = CM_CLI_EXIT_FAILED;
    }
    if (rc) {
        free(b.data);
        return rc;
    }
    if (!b.data)
        b.data = cm_xstrdup("");
    *body = b.data;
    if (len)
        *len = b.len;
    return 0;
}

void cm_cli_cleanup(struct cm_cli *cli)
{
    free(cli->master);
    cli->master = NULL;
}
