/* agent_caps.c: see agent_caps.h. */
#include "agent_caps.h"

size_t cm_agent_caps_fill(struct cm_agent_caps *c)
{
    static const Mesos__V1__AgentInfo__Capability__Type types[CM_AGENT_CAPS_N] = {
        MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__MULTI_ROLE,
        MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__HIERARCHICAL_ROLE,
        MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__RESERVATION_REFINEMENT,
    };
    for (size_t i = 0; i < CM_AGENT_CAPS_N; i++) {
        mesos__v1__agent_info__capability__init(&c->v[i]);
        c->v[i].has_type = 1;
        c->v[i].type = types[i];
        c->p[i] = &c->v[i];
    }
    return CM_AGENT_CAPS_N;
}
