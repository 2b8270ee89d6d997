/*
 * agent_link.h: the master's side of the master<->agent link (docs/agent-link.md), call layer —
 * an AgentCall body is decoded with every required field and enum checked (codec.h), matched
 * to its agent and stream, and carried out through the core (master.h): registration, status
 * updates, launch acknowledgements, executor exits and messages, unregistration.
 *
 * Layer: above the core, below the HTTP edge (agent_link_http.c); no HTTP objects here, so the
 * link is tested without sockets. The core never includes this. Threading: the master's loop.
 */
#ifndef CM_AGENT_LINK_H
#define CM_AGENT_LINK_H

#include "master.h"

/* Decodes an agent link request body of media (JSON or protobuf) with every required field
 * and enum checked. Returns 0 and *out (caller frees), or 415 (other media) / 400 with why
 * naming the field; *out is then NULL. */
int cm_master_agent_decode(enum cm_media media, const uint8_t *body, size_t len,
                           Cmesos__Internal__AgentCall **out, char *why, size_t whylen);

/* Handles a decoded AgentCall. For REGISTER, sink is the new stream (taken over) and
 * *agent_out receives the agent (cm_master_register_agent); the answer is 200, or 401/403/409
 * from cm_master_agent_register_check (sink->principal is the authenticated principal; the
 * sink is then ended). Other calls: 202, or 400/403 with why. stream_id: for REGISTER the new
 * stream's id, otherwise the request's Mesos-Stream-Id, which must be the agent's current stream.
 * STATUS_UPDATE carries `status_update` and/or the list `status_updates`; each update is checked
 * and handled on its own (an invalid one is dropped and counted, the others go through): 202
 * when at least one was valid, 400 naming the first problem when none was or there is none.
 */
int cm_master_agent_call(struct cm_master *m, const Cmesos__Internal__AgentCall *call,
                         const struct cm_sink *sink, const char *stream_id,
                         struct cm_agent **agent_out, char *why, size_t whylen);

#endif
