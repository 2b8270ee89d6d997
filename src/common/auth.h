/*
 * auth.h: credentials and HTTP Basic authentication, shared by the master, the agent and the
 * clients (Mesos's --credentials, --credential, --http_credentials; docs/security.md).
 *
 * Credentials files. Two formats are read, as Mesos has accepted both:
 *   JSON  {"credentials": [{"principal": "p", "secret": "s"}, ...]}   (a set, --credentials)
 *         {"principal": "p", "secret": "s"}                           (one, agent --credential)
 *   text  one "principal secret" pair per line, separated by blanks; empty lines and lines
 *         starting with '#' are skipped.
 * The format is chosen by the first non-blank byte ('{' = JSON). A value may be a path or a
 * "file://" URL. Bounds: a file of at most CM_AUTH_MAX_FILE bytes, at most
 * CM_AUTH_MAX_CREDENTIALS credentials, principals of 1..CM_AUTH_MAX_PRINCIPAL bytes with no
 * ':', blank or control byte (a Basic header splits at the first ':'), secrets of
 * 1..CM_AUTH_MAX_SECRET bytes with no NUL or control byte. A principal listed twice is an
 * error. Every error names the line (text) or the field (JSON, e.g. "credentials[2].secret").
 * A file readable by others gets a warning through the log sink, as Mesos does; it is still
 * loaded. An empty file is an error here (Mesos treats it as "no credentials", which with
 * authentication on locks everyone out without saying why).
 *
 * HTTP Basic (RFC 7617): cm_auth_http_basic checks a request's Authorization header against a
 * set. Secrets are compared in time that does not depend on where they differ, and every
 * credential of the set is compared so the time does not tell which principal exists. The
 * function answers nothing: the caller decides (cm_auth_respond_unauthorized answers 401 with
 * the WWW-Authenticate challenge of a realm). Mesos's realms are below.
 *
 * Ownership: cm_auth_credentials_* return owned sets freed with cm_auth_credentials_free
 * (NULL is a no-op); strings handed out are malloc'd and owned by the caller.
 * Threading: no shared state; a set may be read from any thread once loaded.
 */
#ifndef CM_AUTH_H
#define CM_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

struct cm_http_request;

#define CM_AUTH_MAX_FILE ((size_t)1 << 20)
#define CM_AUTH_MAX_CREDENTIALS 10000
#define CM_AUTH_MAX_PRINCIPAL 255
#define CM_AUTH_MAX_SECRET 1024
/* Longest Authorization header value looked at (larger ones are refused unread). */
#define CM_AUTH_MAX_HEADER 4096

/* Mesos's realms (master/constants.hpp, slave/constants.hpp). */
#define CM_AUTH_REALM_MASTER_SCHEDULER "mesos-master-scheduler"
#define CM_AUTH_REALM_MASTER_READONLY "mesos-master-readonly"
#define CM_AUTH_REALM_MASTER_READWRITE "mesos-master-readwrite"
#define CM_AUTH_REALM_AGENT_READONLY "mesos-agent-readonly"
#define CM_AUTH_REALM_AGENT_READWRITE "mesos-agent-readwrite"
#define CM_AUTH_REALM_AGENT_EXECUTOR "mesos-agent-executor"
/* cmesos: the realm of the master's agent link (/master/api/v1/agent); Mesos has none (its
 * agents authenticate over SASL). */
#define CM_AUTH_REALM_MASTER_AGENT "mesos-master-agent"

struct cm_credential {
    char *principal;
    char *secret;
};

struct cm_credentials {
    struct cm_credential *items;
    size_t n;
};

/* --- Loading ---------------------------------------------------------------------------- */

/* Parses a credentials set from text[len] (either format; a single-credential JSON object is
 * accepted as a set of one). Returns 0 and *out, or CM_EPARSE/CM_EINVAL/CM_ETOOBIG with why
 * naming the line or field. */
int cm_auth_credentials_parse(const char *text, size_t len, struct cm_credentials **out, char *why,
                              size_t whylen);
/* Reads and parses the file named by value (a path or "file://path"). Returns 0 and *out,
 * -errno (why names the path) or a parse error. log may be NULL (process-wide log). */
int cm_auth_credentials_load(const char *value, struct cm_credentials **out,
                             const struct cm_log_sink *log, char *why, size_t whylen);
/* Like cm_auth_credentials_load for a file that must hold exactly one credential (the agent's
 * and a framework's --credential): JSON {"principal","secret"} or one text line. */
int cm_auth_credential_load(const char *value, struct cm_credential *out,
                            const struct cm_log_sink *log, char *why, size_t whylen);
void cm_auth_credential_cleanup(struct cm_credential *c);
void cm_auth_credentials_free(struct cm_credentials *c);

/* True when principal:secret is in the set (constant time in the secret; scans the set). */
bool cm_auth_credentials_check(const struct cm_credentials *c, const char *principal,
                               const char *secret);

/* --- HTTP Basic --------------------------------------------------------------------------- */

/* Splits an Authorization header value "Basic <base64(principal:secret)>" (scheme
 * case-insensitive). Returns 0 with malloc'd *principal and *secret, or CM_EPARSE/CM_ETOOBIG
 * with why. */
int cm_auth_basic_parse(const char *header, char **principal, char **secret, char *why,
                        size_t whylen);
/* The header value "Basic <base64(principal:secret)>", malloc'd, for clients. */
char *cm_auth_basic_header(const char *principal, const char *secret);

/* Authenticates req against c. Returns 0 with *principal (malloc'd, caller frees) when the
 * request carries valid Basic credentials; otherwise -EACCES with why saying what was wrong
 * (no Authorization header, not Basic, malformed, or "invalid credentials" without saying
 * whether the principal exists) and *principal NULL. c NULL or empty rejects everything.
 * Answers nothing. */
int cm_auth_http_basic(const struct cm_http_request *req, const struct cm_credentials *c,
                       char **principal, char *why, size_t whylen);

/* Answers 401 with "WWW-Authenticate: Basic realm=\"<realm>\"" and a text body naming why. */
void cm_auth_respond_unauthorized(struct cm_http_request *req, const char *realm, const char *why);

#endif
