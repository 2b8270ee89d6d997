/*
 * user.h: the user a container runs as (--switch_user, Mesos's semantics).
 *
 * With --switch_user (the default, as in Mesos) every executor, and the task it runs, runs as
 * CommandInfo.user when set, else FrameworkInfo.user. The agent resolves the name once per
 * launch (cm_user_lookup: uid, primary gid and supplementary groups from the passwd and group
 * databases); the launch child chowns the sandbox and its stdio files to it and then sets its
 * groups, gid and uid before exec (containerizer.h, cm_launch_spec.user), and the fetcher
 * writes into the sandbox as that user (fetcher.h). A name the system does not know, or a
 * different user while the agent is not root, fails the task before anything runs.
 *
 * Ownership: cm_user_lookup fills a caller-owned struct whose groups array and name are
 * malloc'd; cm_user_cleanup frees them. Blocking: NSS lookups (local files here; an LDAP
 * backed NSS would block the loop for its round trip). Thread-safe (reentrant calls).
 */
#ifndef CM_AGENT_USER_H
#define CM_AGENT_USER_H

#include <stddef.h>
#include <sys/types.h>

struct cm_user {
    char *name;
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups, including gid */
    size_t ngroups;
};

/* Resolves name. Returns 0 and *out; CM_ENOTFOUND with why "User 'x' does not exist on this
 * agent" ; CM_ESTATE with why when the agent is not root and name is not the agent's own
 * user ("Cannot run as user 'x' (uid N): the agent runs as uid M, not as root; run the
 * agent as root or with --switch_user=false"); CM_EINVAL for an empty name. */
int cm_user_lookup(const char *name, struct cm_user *out, char *why, size_t whylen);
void cm_user_cleanup(struct cm_user *u);

/* In a child about to exec (async-signal-safe calls only): setgroups, setgid, setuid, then a
 * check that root cannot be regained. Returns 0 or an errno value. */
int cm_user_drop(const struct cm_user *u);

#endif
