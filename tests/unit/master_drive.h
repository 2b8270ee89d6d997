/*
 * master_drive.h: drives the master core in-process as its HTTP edges would (no sockets, fake
 * clock): scheduler calls through cm_master_scheduler_request and SUBSCRIBE's sink, agent
 * calls decoded by cm_master_agent_decode, counting sinks that remember the latest offers, and
 * placeholders (@F framework, @A agent, @O a current offer, @H a 300-byte id, @R 2000
 * reconcile entries) expanded into call templates. Shared by test_master_fuzz.c and the
 * libFuzzer harness tests/fuzz/fuzz_master_sched.c.
 *
 * Header-only (static functions). The includer defines CHECK(cond) and CHECK_INT(a, b) first:
 * test.h's record a failure, the libFuzzer harness's abort.
 */
#ifndef CM_MASTER_DRIVE_H
#define CM_MASTER_DRIVE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_link.h"
#include "codec.h"
#include "errors.h"
#include "fuzz_pb.h"
#include "fuzz_util.h"
#include "master.h"
#include "pbjson.h"
#include "scheduler_calls.h"

#define MAX_SINKS 512

/* A sink that only counts, except that it remembers the latest offer ids. */
struct counter {
    size_t events, offers_events, ended;
    char offer_ids[8][64];
    size_t noffers;
    /* For the final check: resources offered per agent id (first agent only is enough). */
    struct cm_resources offered;
    char agent_id[128];
};

static void counter_cb(void *arg, const ProtobufCMessage *msg)
{
    struct counter *c = arg;
    c->events++;
    if (msg->descriptor != &mesos__v1__scheduler__event__descriptor)
        return;
    const Mesos__V1__Scheduler__Event *e = (const Mesos__V1__Scheduler__Event *)msg;
    if (e->type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS || !e->offers)
        return;
    c->offers_events++;
    c->noffers = 0;
    for (size_t i = 0; i < e->offers->n_offers; i++) {
        const Mesos__V1__Offer *o = e->offers->offers[i];
        if (c->noffers < 8)
            snprintf(c->offer_ids[c->noffers++], sizeof c->offer_ids[0], "%s", o->id->value);
        if (c->agent_id[0] && strcmp(o->agent_id->value, c->agent_id) == 0) {
            char why[256];
            CHECK_INT(
                cm_resources_from_proto(&c->offered, o->resources, o->n_resources, why, sizeof why),
                0);
        }
    }
}

static void counter_end(void *arg)
{
    ((struct counter *)arg)->ended++;
}

struct fz {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct counter sinks[MAX_SINKS];
    size_t nsinks;
    char fid[128], sid[64], aid[128];
    struct cm_resources agent_total;
    struct rng rng;
    size_t codes[600];
    char last_text[1024]; /* the latest scheduler error body */
    size_t required_hits; /* structured rounds that broke a required enum */
};

static struct cm_sink new_sink(struct fz *f, enum cm_media media)
{
    struct cm_sink s = {.media = media, .cb = counter_cb, .end_cb = counter_end};
    s.arg = &f->sinks[f->nsinks < MAX_SINKS ? f->nsinks++ : MAX_SINKS - 1];
    return s;
}

/* An agent call as the HTTP edge hands it over: bytes decoded (and checked) by
 * cm_master_agent_decode, then the call. Returns the status code (400/415 from the decode). */
static int agent_wire(struct fz *f, const uint8_t *body, size_t len, const char *sid, bool pb,
                      char *why, size_t whylen)
{
    Cmesos__Internal__AgentCall *call = NULL;
    int dc = cm_master_agent_decode(pb ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, body, len, &call, why,
                                    whylen);
    if (dc) {
        CHECK(dc == 400);
        CHECK(why[0] != '\0');
        CHECK(call == NULL);
        return dc;
    }
    /* Nothing undeclared may reach the master (unknown optional enums arrive unset). */
    CHECK(enums_declared(&call->base));
    ProtobufCMessage *msg = &call->base;
    struct cm_agent *agent = NULL;
    why[0] = '\0';
    bool is_register = call->has_type && call->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__REGISTER;
    struct cm_sink s = {0};
    if (is_register)
        s = new_sink(f, CM_MEDIA_PROTOBUF);
    int code = cm_master_agent_call(f->m, call, is_register ? &s : NULL, sid, &agent, why, whylen);
    protobuf_c_message_free_unpacked(msg, NULL);
    /* 409: a REGISTER for an agent that is connected on another stream (agent_link.h). */
    if (code != 200 && code != 202 && code != 400 && code != 403 && code != 409 && code != 503)
        fprintf(stderr, "agent call: undocumented code %d\n", code);
    CHECK(code == 200 || code == 202 || code == 400 || code == 403 || code == 409 || code == 503);
    if (code >= 400)
        CHECK(why[0] != '\0');
    if (code == 200 && agent && !f->aid[0])
        snprintf(f->aid, sizeof f->aid, "%s", agent->id);
    return code;
}

static int agent_json(struct fz *f, const char *json, size_t len, const char *sid, bool pb)
{
    char why[512];
    ProtobufCMessage *msg = NULL;
    if (!pb)
        return agent_wire(f, (const uint8_t *)json, len, sid, false, why, sizeof why);
    /* Through the wire form, as a protobuf agent would send it. */
    if (cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, len, &msg, why,
                            sizeof why))
        return agent_wire(f, (const uint8_t *)json, len, sid, true, why, sizeof why);
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *wire = malloc(n + 1);
    protobuf_c_message_pack(msg, wire);
    protobuf_c_message_free_unpacked(msg, NULL);
    int code = agent_wire(f, wire, n, sid, true, why, sizeof why);
    free(wire);
    return code;
}

/* A scheduler request as the HTTP edge hands it over (any method and headers); returns the
 * status code (after subscribing for a 200). */
static int sched_request(struct fz *f, const struct cm_sched_request *req)
{
    struct cm_sched_result res;
    cm_master_scheduler_request(f->m, req, &res);
    int c = res.code;
    bool documented = c == 200 || c == 202 || c == 400 || c == 403 || c == 405 || c == 406 ||
                      c == 415 || c == 501;
    if (!documented)
        fprintf(stderr, "scheduler call: undocumented code %d\n", c);
    CHECK(documented);
    if (c >= 400)
        CHECK(res.text[0] != '\0');
    snprintf(f->last_text, sizeof f->last_text, "%s", res.text);
    /* 200 is SUBSCRIBE (with the call) or UPDATE_FRAMEWORK (without). */
    CHECK(!res.call || c == 200);
    if (c < (int)(sizeof f->codes / sizeof f->codes[0]))
        f->codes[c]++;
    if (res.call) {
        char sidbuf[64];
        snprintf(sidbuf, sizeof sidbuf, "fz-stream-%zu", f->nsinks);
        struct cm_sink s = new_sink(f, res.media);
        struct cm_framework *fw = cm_master_subscribe(f->m, res.call, &s, sidbuf);
        if (fw && !f->fid[0]) {
            snprintf(f->fid, sizeof f->fid, "%s", fw->id);
            snprintf(f->sid, sizeof f->sid, "%s", fw->stream_id);
        } else if (fw && strcmp(fw->id, f->fid) == 0) {
            snprintf(f->sid, sizeof f->sid, "%s", fw->stream_id); /* failed over */
        }
        protobuf_c_message_free_unpacked(&res.call->base, NULL);
    }
    return c;
}

/* A POSTed scheduler call in JSON or protobuf. */
static int sched_call(struct fz *f, const uint8_t *body, size_t len, bool pb, const char *sid)
{
    struct cm_sched_request req = {.method = "POST",
                                   .content_type =
                                       pb ? "application/x-protobuf" : "application/json",
                                   .stream_id = sid,
                                   .body = body,
                                   .body_len = len};
    return sched_request(f, &req);
}

static const char main_agent[] =
    "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"a1\",\"port\":5051,"
    "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},{\"name\":"
    "\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}},{\"name\":\"disk\",\"type\":"
    "\"SCALAR\",\"scalar\":{\"value\":1000}},{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{"
    "\"range\":[{\"begin\":31000,\"end\":32000}]}}]},\"pid\":\"slave(1)@10.0.0.2:5051\","
    "\"address_ip\":\"10.0.0.2\"}}";

static const char subscribe_main[] = "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{"
                                     "\"user\":\"u\",\"name\":\"main\",\"failover_timeout\":100}}}";

/* Expands @F @A @O @H (a 300-byte id) and @R (2000 reconcile entries) into b. */
static void expand(struct fz *f, const char *seed, struct buf *b)
{
    buf_set(b, "", 0);
    for (const char *p = seed; *p; p++) {
        if (p[0] != '@' || !p[1]) {
            buf_splice(b, b->len, 0, p, 1);
            continue;
        }
        switch (p[1]) {
        case 'F': buf_cat(b, f->fid); break;
        case 'A': buf_cat(b, f->aid); break;
        case 'O': {
            const struct counter *c = NULL;
            struct cm_framework *fw = cm_master_framework(f->m, f->fid);
            if (fw)
                c = fw->sink.arg;
            if (c && c->noffers && rng_below(&f->rng, 4))
                buf_cat(b, c->offer_ids[rng_below(&f->rng, c->noffers)]);
            else
                buf_cat(b, "stale-offer");
            break;
        }
        case 'H':
            for (size_t i = 0; i < 300; i++)
                buf_cat(b, "h");
            break;
        case 'R':
            for (size_t i = 0; i < 2000; i++)
                buf_cat(b, i ? ",{\"task_id\":{\"value\":\"r\"},\"agent_id\":{\"value\":\"x\"}}"
                             : "{\"task_id\":{\"value\":\"r\"}}");
            break;
        default: buf_splice(b, b->len, 0, p, 2); break;
        }
        p++;
    }
}

/* Used + offered never exceed the total on the honest main agent. (A re-registering agent may
 * report tasks larger than itself, as in Mesos, so other agents are not held to this.) */
static void check_agent_invariants(struct fz *f)
{
    struct cm_agent *a = cm_master_agent(f->m, f->aid);
    CHECK(a != NULL);
    if (a) {
        struct cm_resources both;
        cm_resources_init(&both);
        cm_resources_copy(&both, &a->used);
        cm_resources_add(&both, &a->offered);
        if (!cm_resources_contains(&a->total, &both)) {
            char *t = cm_resources_format(&a->total), *u = cm_resources_format(&both);
            fprintf(stderr, "agent %s: used+offered %s exceeds total %s\n", a->id, u, t);
            free(t);
            free(u);
        }
        CHECK(cm_resources_contains(&a->total, &both));
        cm_resources_cleanup(&both);
    }
}

#endif
