/*
 * acls.h: Mesos's local authorizer: the --acls JSON (Mesos's ACLs message, acls.proto) and
 * its evaluation (docs/security.md).
 *
 * Format: {"permissive": bool, "<action>": [{"principals": E, "<object>": E}, ...], ...} where
 * an entity E is {"values": ["a", ...]} (type SOME, the default) or {"type": "ANY"|"NONE"}.
 * Every action key of Mesos's ACLs message is accepted with Mesos's object field name
 * (register_frameworks: roles, run_tasks: users, teardown_frameworks: framework_principals,
 * get_endpoints: paths, view_*: users, access_mesos_logs: logs, set_log_level: level,
 * view_flags: flags, *_agents: agents, ...). Those cmesos enforces have an enum cm_acl_action
 * below (view_containers and kill_standalone_containers only on the agent, for its executors'
 * containers); rules for Mesos actions cmesos does not have (the other nested and standalone
 * container actions, resource providers, maintenance, disks, ...) are validated, kept out of
 * evaluation, and
 * reported with a warning through the log sink so that an operator knows they do nothing.
 * A key that is not a Mesos action is an error naming it (Mesos's JSON-to-protobuf parser
 * skips unknown keys silently; a misspelt "register_framework" would then drop a deny rule
 * without a word, so cmesos refuses it). Both fields of a rule are required, as in acls.proto.
 *
 * Evaluation (Mesos's LocalAuthorizer): the rules of the action are tried in file order; the
 * first rule whose subject and object both *match* the request decides, and the request is
 * allowed when both are also *allowed*; when no rule matches, "permissive" decides (default
 * true). The request's subject is the authenticated principal (type SOME with one value) or,
 * without authentication, type ANY; its object is one value (a role, user, path, ...) or ANY
 * when the action has no object. Match: a NONE request matches only a NONE rule; an ANY
 * request matches ANY and NONE rules; a SOME request matches ANY and NONE rules, and a SOME
 * rule when its value is listed. Allowed: NONE only by NONE, ANY only by ANY, SOME by ANY or
 * by a SOME rule listing it, never by NONE. Role objects are hierarchical as in Mesos: a rule
 * value "a/%" matches every role strictly below "a" (a/b, a/b/c, not a itself).
 *
 * Bounds: at most CM_ACLS_MAX_TEXT bytes of JSON, CM_ACLS_MAX_RULES rules per action and
 * CM_ACLS_MAX_VALUES values per entity; values are strings of 1..1024 bytes.
 *
 * Ownership: cm_acls_new/parse return an owned object freed with cm_acls_free (NULL no-op).
 * Threading: immutable after parsing; may be read from any thread.
 */
#ifndef CM_ACLS_H
#define CM_ACLS_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

#define CM_ACLS_MAX_TEXT ((size_t)4 << 20)
#define CM_ACLS_MAX_RULES 10000
#define CM_ACLS_MAX_VALUES 10000

/* The actions cmesos can enforce. */
enum cm_acl_action {
    CM_ACL_REGISTER_FRAMEWORK, /* register_frameworks: principals, roles */
    CM_ACL_RUN_TASK,           /* run_tasks: principals, users */
    CM_ACL_TEARDOWN_FRAMEWORK, /* teardown_frameworks: principals, framework_principals */
    CM_ACL_GET_ENDPOINT,       /* get_endpoints: principals, paths */
    CM_ACL_VIEW_FRAMEWORK,     /* view_frameworks: principals, users */
    CM_ACL_VIEW_TASK,          /* view_tasks: principals, users */
    CM_ACL_VIEW_EXECUTOR,      /* view_executors: principals, users */
    CM_ACL_ACCESS_SANDBOX,     /* access_sandboxes: principals, users */
    CM_ACL_ACCESS_MESOS_LOG,   /* access_mesos_logs: principals, logs */
    CM_ACL_VIEW_ROLE,          /* view_roles: principals, roles */
    CM_ACL_VIEW_FLAGS,         /* view_flags: principals, flags */
    CM_ACL_UPDATE_WEIGHT,      /* update_weights: principals, roles */
    CM_ACL_SET_LOG_LEVEL,      /* set_log_level: principals, level */
    CM_ACL_REGISTER_AGENT,     /* register_agents: principals, agents */
    CM_ACL_MARK_AGENT_GONE,    /* mark_agents_gone: principals, agents */
    CM_ACL_DRAIN_AGENT,        /* drain_agents: principals, agents */
    CM_ACL_DEACTIVATE_AGENT,   /* deactivate_agents: principals, agents */
    CM_ACL_REACTIVATE_AGENT,   /* reactivate_agents: principals, agents */
    CM_ACL_GET_QUOTA,          /* get_quotas: principals, roles */
    CM_ACL_UPDATE_QUOTA,       /* update_quotas: principals, roles */
    /* Enforced by the agent only (its executors' containers; cmesos has no nested or
     * standalone containers of another kind). */
    CM_ACL_VIEW_CONTAINER,            /* view_containers: principals, users */
    CM_ACL_KILL_STANDALONE_CONTAINER, /* kill_standalone_containers: principals, users */
    CM_ACL_NACTIONS
};

struct cm_acls;

/* Parses ACLs JSON text[len]. Returns 0 and *out, or CM_EPARSE/CM_EINVAL/CM_ETOOBIG with why
 * naming the field (e.g. "register_frameworks[1].roles.values[0]: expected a string"). Rules
 * for actions cmesos does not enforce produce one warning each through log (NULL: process log).
 */
int cm_acls_parse(const char *text, size_t len, struct cm_acls **out, const struct cm_log_sink *log,
                  char *why, size_t whylen);
/* Mesos's --acls value: inline JSON (first non-blank byte '{'), or a path / file:// URL of a
 * file holding it. */
int cm_acls_load(const char *value, struct cm_acls **out, const struct cm_log_sink *log, char *why,
                 size_t whylen);
void cm_acls_free(struct cm_acls *acls);

/* Whether subject (NULL: unauthenticated, Mesos's ANY) may perform action on object (NULL:
 * no particular object, Mesos's ANY). acls NULL allows everything (no --acls: Mesos's
 * permissive default with no rules). */
bool cm_acls_allowed(const struct cm_acls *acls, enum cm_acl_action action, const char *subject,
                     const char *object);

/* The Mesos key of an action ("register_frameworks", ...), for messages. */
const char *cm_acls_action_name(enum cm_acl_action action);
/* How many rules the action has (0 when acls is NULL). */
size_t cm_acls_rule_count(const struct cm_acls *acls, enum cm_acl_action action);
/* The value of "permissive" (true when acls is NULL). */
bool cm_acls_permissive(const struct cm_acls *acls);

#endif
