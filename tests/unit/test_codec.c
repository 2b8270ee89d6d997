/* Unit tests for codec: enum scrubbing and decode by media type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/mesos.pb-c.h"
#include "test.h"

/* Packs an executor UPDATE whose status.state is state and status.reason is reason. */
static uint8_t *pack_update(int state, int reason, size_t *len)
{
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = "t1";
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    st.task_id = &tid;
    st.state = (Mesos__V1__TaskState)state;
    if (reason >= 0) {
        st.has_reason = 1;
        st.reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    up.status = &st;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = "f";
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    eid.value = "e";
    Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
    call.framework_id = &fid;
    call.executor_id = &eid;
    call.has_type = 1;
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    call.update = &up;
    uint8_t *buf;
    CHECK_INT(cm_pb_encode(&call.base, CM_MEDIA_PROTOBUF, &buf, len), 0);
    return buf;
}

static void test_required_enum_out_of_range_is_refused(void)
{
    size_t len;
    uint8_t *buf = pack_update(99, -1, &len);
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    char why[256] = "";
    int rc = cm_pb_unpack(&mesos__v1__executor__call__descriptor, buf, len, &m, why, sizeof why);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(m == NULL);
    CHECK_STR(why, "Field 'update.status.state': unknown enum value 99");
    free(buf);
}

static void test_optional_enum_out_of_range_is_unset(void)
{
    size_t len;
    uint8_t *buf = pack_update(MESOS__V1__TASK_STATE__TASK_RUNNING, 100000, &len);
    ProtobufCMessage *m = NULL;
    char why[256] = "";
    REQUIRE(cm_pb_unpack(&mesos__v1__executor__call__descriptor, buf, len, &m, why, sizeof why) ==
            0);
    Mesos__V1__Executor__Call *call = (Mesos__V1__Executor__Call *)m;
    CHECK_INT(call->update->status->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK_INT(call->update->status->has_reason, 0);
    protobuf_c_message_free_unpacked(m, NULL);
    free(buf);
}

static void test_json_and_protobuf_agree(void)
{
    const char *json = "{\"type\":\"UPDATE\",\"framework_id\":{\"value\":\"f\"},"
                       "\"executor_id\":{\"value\":\"e\"},\"update\":{\"status\":{"
                       "\"task_id\":{\"value\":\"t1\"},\"state\":\"TASK_NOPE\"}}}";
    ProtobufCMessage *m = NULL;
    char why[256] = "";
    int rc = cm_pb_decode(&mesos__v1__executor__call__descriptor, CM_MEDIA_JSON, json, strlen(json),
                          &m, why, sizeof why);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "state") != NULL);
    CHECK(m == NULL);
}

static void test_truncated_and_unsupported(void)
{
    size_t len;
    uint8_t *buf = pack_update(MESOS__V1__TASK_STATE__TASK_RUNNING, -1, &len);
    ProtobufCMessage *m = NULL;
    char why[256] = "";
    CHECK_INT(
        cm_pb_unpack(&mesos__v1__executor__call__descriptor, buf, len - 3, &m, why, sizeof why),
        CM_EPARSE);
    CHECK(m == NULL);
    CHECK_INT(cm_pb_decode(&mesos__v1__executor__call__descriptor, CM_MEDIA_UNSUPPORTED, buf, len,
                           &m, why, sizeof why),
              CM_EINVAL);
    free(buf);
}

static void test_enum_name(void)
{
    CHECK_STR(cm_enum_name(&mesos__v1__task_state__descriptor, 1), "TASK_RUNNING");
    CHECK(cm_enum_name(&mesos__v1__task_state__descriptor, 99) == NULL);
    CHECK_STR(cm_enum_name_or(&mesos__v1__task_state__descriptor, -7, "?"), "?");
}

/* The reasons name the field's path, with the index of a repeated element (two digits here,
 * to see the index written whole) and for a missing required field as well. */
static void test_paths_in_reasons(void)
{
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = "t1";
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = "a1";
    Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
    sc.value = 1;
    Mesos__V1__Resource r[12], *rp[12];
    for (int i = 0; i < 12; i++) {
        mesos__v1__resource__init(&r[i]);
        r[i].name = "cpus";
        r[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
        r[i].scalar = &sc;
        rp[i] = &r[i];
    }
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    ti.name = "n";
    ti.task_id = &tid;
    ti.agent_id = &aid;
    ti.n_resources = 12;
    ti.resources = rp;
    r[11].type = (Mesos__V1__Value__Type)99;
    uint8_t *buf;
    size_t len;
    REQUIRE(cm_pb_encode(&ti.base, CM_MEDIA_PROTOBUF, &buf, &len) == 0);
    ProtobufCMessage *m = NULL;
    char why[256] = "";
    CHECK_INT(cm_pb_unpack(&mesos__v1__task_info__descriptor, buf, len, &m, why, sizeof why),
              CM_EINVAL);
    CHECK_STR(why, "Field 'resources[11].type': unknown enum value 99");
    free(buf);

    /* A missing required string packs as "" in protobuf-c, so JSON says it's missing. */
    char json[2048] =
        "{\"name\":\"n\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":\"a\"},"
        "\"resources\":[";
    for (int i = 0; i < 12; i++)
        snprintf(json + strlen(json), sizeof json - strlen(json),
                 "%s{%s\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}", i ? "," : "",
                 i == 10 ? "" : "\"name\":\"cpus\",");
    strcat(json, "]}");
    CHECK_INT(cm_pb_decode(&mesos__v1__task_info__descriptor, CM_MEDIA_JSON, json, strlen(json), &m,
                           why, sizeof why),
              CM_EINVAL);
    CHECK_STR(why, "Missing required fields: resources[10].name");
    CHECK(m == NULL);
}

TEST_MAIN(TEST(test_required_enum_out_of_range_is_refused),
          TEST(test_optional_enum_out_of_range_is_unset), TEST(test_json_and_protobuf_agree),
          TEST(test_truncated_and_unsupported), TEST(test_enum_name), TEST(test_paths_in_reasons))
