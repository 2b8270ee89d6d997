/* fuzz_agent.c: the agent's two untrusted doors through their in-process handlers: the v1
 * executor API (cm_agent_executor_call, JSON and protobuf bodies) and the agent link's event
 * records from the master (cm_agent_link_record), on an agent registered through a capture
 * link with one running executor "t1" of framework "fw-1" subscribed (tests/unit/agent_drive.h,
 * as test_agent_core.c drives it). The agent persists across inputs and is built again when
 * an input took its executor away.
 *
 * Input: requests separated by "\n~~\n" (at most 16), each an opcode byte then a body:
 * op % 4 = 0 executor call in JSON, 1 executor call in protobuf, 2 link record (a packed
 * AgentEvent), 3 a tick of (op / 4) seconds on the fake clock. A record that would launch a
 * new executor (RUN_TASK for anything but the running task) or stop the agent (SHUTDOWN) is
 * not fed: processes are not what is fuzzed here.
 *
 * Properties: documented answers (executor API 200/202/400/403/406/501 with a reason; a
 * record is handled or refused with 0/1); every call the agent sends the master holds only
 * declared enum values, and a status update names a declared state. */
#include "fuzz.h"
#include "agent_drive.h"
#include "fuzz_pb.h"

#define MAX_REQUESTS 16

static struct fx fx;
static bool up;
static struct exec_cap xcap;
static FILE *null_log;

static void bring_up(void)
{
    setenv("CM_TEST_EXECUTOR", "sleep", 1);
    FUZZ_ASSERT(fx_up(&fx) == 0);
    ev_run_task(&fx, FID, "t1", false);
    FUZZ_ASSERT(subscribe(&fx, FID, "t1", &xcap) == 200);
    up = true;
}

static void tear_down(void)
{
    if (!up)
        return;
    exec_clear(&xcap);
    fx_cleanup(&fx);
    up = false;
}

static void at_exit(void)
{
    tear_down();
    loud_logs(null_log);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    null_log = quiet_logs();
    atexit(at_exit);
    return 0;
}

/* Records that would start processes or stop the agent are not fed. */
static bool feedable(const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = NULL;
    char why[256];
    if (cm_pb_decode(&cmesos__internal__agent_event__descriptor, CM_MEDIA_PROTOBUF, p, n, &m, why,
                     sizeof why) != 0)
        return true; /* refused at the door: exactly what is fuzzed */
    const Cmesos__Internal__AgentEvent *ev = (const Cmesos__Internal__AgentEvent *)m;
    bool ok = true;
    if (ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN)
        ok = false;
    if (ev->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK) {
        const Cmesos__Internal__AgentEvent__RunTask *rt = ev->run_task;
        ok = rt && rt->task && !rt->task->executor && rt->framework_info &&
             rt->framework_info->id && strcmp(rt->framework_info->id->value, FID) == 0 &&
             strcmp(rt->task->task_id->value, "t1") == 0;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return ok;
}

static int one(void *arg, size_t idx, const uint8_t *p, size_t n)
{
    (void)arg;
    (void)idx;
    if (n == 0)
        return 0;
    unsigned op = p[0];
    p++;
    n--;
    char why[512];
    why[0] = '\0';
    switch (op % 4) {
    case 0:
    case 1: {
        int code = xcall_raw(&fx, op % 4 ? CM_MEDIA_PROTOBUF : CM_MEDIA_JSON, p, n, &xcap, why,
                             sizeof why);
        if (!(code == 200 || code == 202 || code == 400 || code == 403 || code == 406 ||
              code == 501))
            fprintf(stderr, "executor call: undocumented code %d (%s)\n", code, why);
        FUZZ_ASSERT(code == 200 || code == 202 || code == 400 || code == 403 || code == 406 ||
                    code == 501);
        if (code >= 400)
            FUZZ_ASSERT(why[0] != '\0');
        break;
    }
    case 2:
        if (feedable(p, n)) {
            int rc = cm_agent_link_record(fx.a, p, n);
            FUZZ_ASSERT(rc == 0 || rc == 1);
        }
        break;
    default:
        cm_fake_clock_advance(&fx.clock, op / 4);
        cm_agent_tick(fx.a);
        break;
    }
    event_base_loop(fx.base, EVLOOP_NONBLOCK);
    if (xcap.n > 200)
        exec_clear(&xcap);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Another run of the same executor when an earlier input ended it. */
    if (up && (!fx.a->registered || !executor_of(&fx, FID, "t1")))
        tear_down();
    if (!up)
        bring_up();
    fuzz_split(data, size, "\n~~\n", MAX_REQUESTS, one, NULL);
    for (size_t i = 0; i < fx.link.n; i++) {
        const Cmesos__Internal__AgentCall *c = fx.link.calls[i];
        FUZZ_ASSERT(enums_declared(&c->base));
        if (c->type == CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE && c->status_update &&
            c->status_update->status)
            FUZZ_ASSERT(cm_enum_name(&mesos__v1__task_state__descriptor,
                                     (int)c->status_update->status->state) != NULL);
    }
    link_clear(&fx.link);
    return 0;
}
