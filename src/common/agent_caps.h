/*
 * agent_caps.h: the AgentInfo capabilities an agent registers with (MULTI_ROLE,
 * HIERARCHICAL_ROLE, RESERVATION_REFINEMENT), shared by mesos-agent and the agent emulator so
 * both announce the same set to the master.
 *
 * Ownership: the caller's struct holds the messages; the array it fills points into it.
 * Threading: none (pure). Errors: none.
 */
#ifndef CM_AGENT_CAPS_H
#define CM_AGENT_CAPS_H

#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

#define CM_AGENT_CAPS_N 3

struct cm_agent_caps {
    Mesos__V1__AgentInfo__Capability v[CM_AGENT_CAPS_N];
    Mesos__V1__AgentInfo__Capability *p[CM_AGENT_CAPS_N]; /* what capabilities= takes */
};

/* Fills c and returns how many entries of c->p are set (CM_AGENT_CAPS_N). */
size_t cm_agent_caps_fill(struct cm_agent_caps *c);

#endif
