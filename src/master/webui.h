/*
 * webui.h: the master's web UI (docs/webui.md) — the page, its assets, and the two small
 * endpoints the page needs beyond the public APIs.
 *
 * What it serves (GET or HEAD; anything else is 405):
 *  - "/" (also "/master/"): the page, webui/index.html. Every master serves it, a standby too
 *    (no 307): the page asks /webui/leader and, on a standby, shows who leads and links there.
 *  - "/webui/<file>": the files compiled in from webui/ (webui_assets.h), with a strong ETag
 *    (If-None-Match answers 304) and Cache-Control: no-cache (revalidated on each load, cheap).
 *    The page and its assets need no authentication, as in Mesos: they hold no cluster data.
 *  - "/webui/leader": {"leading": bool, "leader": "host:port" or null, "self": "ip:port"}.
 *    Answered by every master without redirect; needs the read-only realm's credentials when
 *    --authenticate_http_readonly is on.
 *  - "/webui/agent/files/browse", ".../files/read", ".../files/download",
 *    ".../monitor/statistics" with ?agent_id=<id>&<the agent endpoint's own parameters>: the
 *    master forwards the GET to that registered agent's endpoint (same path; the parameters
 *    unchanged but for jsonp, dropped so that no JSONP answer comes back; the caller's
 *    Authorization header passed on so that the agent applies its own authentication and
 *    ACLs) and relays the status, Content-Type, WWW-Authenticate and body. The browser thus
 *    reaches agents through the master's origin, with the master's TLS and credentials: no
 *    CORS, no agent port exposed to the browser. Only agents the master knows are reached (the
 *    id picks the address; a request never names a host).
 *    Errors: 400 for a missing or malformed agent_id, 404 for an agent the master does not
 *    know, 503 when the agent is disconnected, 502 naming the failure when the agent cannot be
 *    reached or times out (10 s); a browse/read/statistics answer over 8 MiB is 502.
 *    Downloads are streamed (never buffered whole) with no time limit; the agent is not paused
 *    for a slow browser, so a download whose unsent bytes pass the server's per-stream cap
 *    (http_server.h, 16 MiB) is cut off. A standby answers 307 to the leader, as for the API.
 *
 * Ownership: the forwarding uses one HTTP client, m->webui_client, created at the first
 * forwarded request and freed by cm_master_free, which cancels the calls in flight: their
 * requests are not answered then (the server went away first), and their small per-call
 * records (struct forward, under 300 bytes each) are not freed, as nothing lists them.
 * Threading: the master's loop only.
 */
#ifndef CM_MASTER_WEBUI_H
#define CM_MASTER_WEBUI_H

#include "master.h"

/* Registers the routes above on m->http. Call once, after m->http exists. */
void cm_master_webui_routes(struct cm_master *m);

#endif
