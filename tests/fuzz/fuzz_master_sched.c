/* fuzz_master_sched.c: the master's scheduler API and agent link through their in-process
 * handlers (cm_master_scheduler_request, cm_master_agent_decode + cm_master_agent_call), on a
 * master with one registered agent and one subscribed framework, fake clock, in-memory
 * registry (tests/unit/master_drive.h drives it as test_master_fuzz.c does).
 *
 * Input: a sequence of requests separated by "\n~~\n" (at most 24). Each starts with an
 * opcode byte: op % 6 picks scheduler JSON, scheduler JSON sent as protobuf, scheduler raw
 * protobuf, agent JSON, agent JSON sent as protobuf, or a clock tick of (op / 6) seconds
 * (timeouts, allocation, heartbeats); for requests, (op / 6) % 4 picks the headers: the
 * framework's stream, a wrong one, odd method/content-type/accept, or no stream id. JSON
 * bodies have @F @A @O @H @R expanded (master_drive.h).
 *
 * Properties: every answer is a documented status with a reason; the honest agent's used +
 * offered never exceed its total; once every framework is removed nothing stays used or
 * offered; nothing leaks after cm_master_free. */
#include "fuzz.h"

#define CHECK(cond) FUZZ_ASSERT(cond)
#define CHECK_INT(a, b) FUZZ_ASSERT((long long)(a) == (long long)(b))
#include "log.h"
#include "master_drive.h"

#define MAX_REQUESTS 24

static const char *const odd_methods[] = {"GET", "PUT", "DELETE", "POST"};
static const char *const odd_types[] = {NULL, "text/plain", "application/json; charset=utf-8",
                                        "application/x-protobuf", "application/*"};
static const char *const odd_accepts[] = {
    NULL, "text/html", "application/json", "application/x-protobuf", "*/*", "application/recordio"};

struct run {
    struct fz *f;
    struct buf b;
};

/* FUZZ_TRACE=1 in the environment prints each request's answer (to debug a finding). */
static bool tracing(void)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_TRACE") != NULL;
    return on;
}

static void send_sched(struct fz *f, const uint8_t *body, size_t len, bool pb, unsigned hdr)
{
    struct cm_sched_request req = {.method = "POST",
                                   .content_type =
                                       pb ? "application/x-protobuf" : "application/json",
                                   .stream_id = f->sid,
                                   .body = body,
                                   .body_len = len};
    switch (hdr % 4) {
    case 1: req.stream_id = "wrong-stream"; break;
    case 2: {
        size_t k = len ? body[len - 1] : 0;
        req.method = odd_methods[k % 4];
        req.content_type = odd_types[(k / 4) % 5];
        req.accept = odd_accepts[(k / 20) % 6];
        break;
    }
    case 3: req.stream_id = NULL; break;
    default: break;
    }
    int code = sched_request(f, &req);
    if (tracing())
        fprintf(stderr, "scheduler %s: %d %s\n", pb ? "protobuf" : "json", code, f->last_text);
}

/* The main agent's resources hold up, while it is there (an input may unregister it). */
static void agent_invariants(struct fz *f)
{
    if (cm_master_agent(f->m, f->aid))
        check_agent_invariants(f);
}

static int one(void *arg, size_t idx, const uint8_t *p, size_t n)
{
    (void)idx;
    struct run *r = arg;
    struct fz *f = r->f;
    if (n == 0)
        return 0;
    unsigned op = p[0], kind = op % 6, hdr = op / 6;
    p++;
    n--;
    /* The main framework may have been torn down: bring a new one. */
    if (!cm_master_framework(f->m, f->fid)) {
        f->fid[0] = '\0';
        sched_call(f, (const uint8_t *)subscribe_main, strlen(subscribe_main), false, NULL);
        if (!f->fid[0])
            return 1;
    }
    if (kind == 5) {
        cm_fake_clock_advance(&f->clock, hdr);
        cm_master_check_timeouts(f->m);
        cm_master_allocate(f->m);
        cm_master_heartbeat(f->m);
        agent_invariants(f);
        return 0;
    }
    if (kind == 2) {
        send_sched(f, p, n, true, hdr);
        return 0;
    }
    /* Expand the placeholders of a JSON body (embedded NULs end it). */
    char *tmpl = fuzz_strndup(p, n);
    expand(f, tmpl, &r->b);
    free(tmpl);
    if (kind == 0) {
        send_sched(f, (const uint8_t *)r->b.p, r->b.len, false, hdr);
    } else if (kind == 3 || kind == 4) {
        int code =
            agent_json(f, r->b.p, r->b.len, hdr % 4 == 1 ? "bad" : "agent-stream", kind == 4);
        if (tracing())
            fprintf(stderr, "agent %s: %d\n", kind == 4 ? "protobuf" : "json", code);
    } else {
        ProtobufCMessage *msg = NULL;
        char why[512];
        if (cm_pbjson_from_text(&mesos__v1__scheduler__call__descriptor, r->b.p, r->b.len, &msg,
                                why, sizeof why) == 0) {
            size_t wl = protobuf_c_message_get_packed_size(msg);
            uint8_t *wire = malloc(wl + 1);
            FUZZ_ASSERT(wire != NULL);
            protobuf_c_message_pack(msg, wire);
            protobuf_c_message_free_unpacked(msg, NULL);
            send_sched(f, wire, wl, true, hdr);
            free(wire);
        } else {
            send_sched(f, (const uint8_t *)r->b.p, r->b.len, true, hdr);
        }
    }
    agent_invariants(f);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The master logs every refusal: millions of lines slow the fuzzer and say nothing. */
    if (!tracing()) {
        FILE *null = fopen("/dev/null", "w");
        if (null)
            cm_log_set_file(null);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz *f = calloc(1, sizeof *f);
    FUZZ_ASSERT(f != NULL);
    f->rng.s = 0x853c49e6748fea9bull; /* @O picks among the current offers with it */
    cm_master_flags_init(&f->flags);
    f->flags.offer_timeout = 30;
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    FUZZ_ASSERT(f->m != NULL);
    cm_resources_init(&f->agent_total);
    CHECK_INT(agent_json(f, main_agent, strlen(main_agent), "agent-stream", false), 200);
    FUZZ_ASSERT(f->aid[0]);
    CHECK_INT(sched_call(f, (const uint8_t *)subscribe_main, strlen(subscribe_main), false, NULL),
              200);
    FUZZ_ASSERT(f->fid[0]);
    cm_master_allocate(f->m);

    struct run r = {.f = f};
    fuzz_split(data, size, "\n~~\n", MAX_REQUESTS, one, &r);

    /* Everyone leaves: nothing may stay used or offered anywhere. */
    struct cm_strmap_iter it;
    for (;;) {
        cm_strmap_iter_init(&it, &f->m->frameworks);
        if (!cm_strmap_iter_next(&it))
            break;
        cm_master_remove_framework(f->m, it.cur->value);
    }
    for (cm_strmap_iter_init(&it, &f->m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        FUZZ_ASSERT(cm_resources_empty(&a->used));
        FUZZ_ASSERT(cm_resources_empty(&a->offered));
    }
    cm_master_free(f->m);
    for (size_t i = 0; i < f->nsinks; i++)
        cm_resources_cleanup(&f->sinks[i].offered);
    cm_resources_cleanup(&f->agent_total);
    free(r.b.p);
    free(f);
    return 0;
}
