/*
 * test_http_media.c: Content-Type classification and Accept negotiation (docs/wire-protocol.md
 * §1.2).
 */
#include "http_server.h"
#include "test.h"

static void test_content_type(void)
{
    CHECK_INT(cm_http_content_type(NULL), CM_MEDIA_NONE);
    CHECK_INT(cm_http_content_type(""), CM_MEDIA_NONE);
    CHECK_INT(cm_http_content_type("  "), CM_MEDIA_NONE);
    CHECK_INT(cm_http_content_type("application/json"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_content_type("Application/JSON; charset=utf-8"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_content_type(" application/json ;charset=utf-8"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_content_type("application/x-protobuf"), CM_MEDIA_PROTOBUF);
    CHECK_INT(cm_http_content_type("application/X-Protobuf;proto=mesos.v1.scheduler.Call"),
              CM_MEDIA_PROTOBUF);
    CHECK_INT(cm_http_content_type("text/plain"), CM_MEDIA_UNSUPPORTED);
    CHECK_INT(cm_http_content_type("application/jsonx"), CM_MEDIA_UNSUPPORTED);
    CHECK_INT(cm_http_content_type("application/recordio"), CM_MEDIA_UNSUPPORTED);
}

static void test_negotiate(void)
{
    CHECK_INT(cm_http_negotiate(NULL), CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate(""), CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate("*/*"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate("application/*"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate("application/json"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate("APPLICATION/JSON"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate("application/x-protobuf"), CM_MEDIA_PROTOBUF);
    CHECK_INT(cm_http_negotiate("application/json;q=0, application/x-protobuf"), CM_MEDIA_PROTOBUF);
    CHECK_INT(cm_http_negotiate("application/x-protobuf, application/json"), CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate("application/x-protobuf;q=0.9, application/json;q=0.1"),
              CM_MEDIA_JSON);
    CHECK_INT(cm_http_negotiate("text/html"), CM_MEDIA_NONE);
    CHECK_INT(cm_http_negotiate("text/html, */*;q=0"), CM_MEDIA_NONE);
    /* The most specific range decides: json excluded, anything else welcome. */
    CHECK_INT(cm_http_negotiate("*/*, application/json;q=0"), CM_MEDIA_PROTOBUF);
    CHECK_INT(cm_http_negotiate("application/*;q=0, application/x-protobuf;q=0.5"),
              CM_MEDIA_PROTOBUF);
    CHECK_INT(cm_http_negotiate("text/html, application/json ; q=0.5"), CM_MEDIA_JSON);
    /* Malformed q values make the range count for nothing. */
    CHECK_INT(cm_http_negotiate("application/json;q=abc"), CM_MEDIA_NONE);
    CHECK_INT(cm_http_negotiate("application/json;q=2"), CM_MEDIA_NONE);
    CHECK_INT(cm_http_negotiate(",,, ;;"), CM_MEDIA_NONE);
    CHECK_STR(cm_media_name(CM_MEDIA_JSON), "application/json");
    CHECK_STR(cm_media_name(CM_MEDIA_PROTOBUF), "application/x-protobuf");
    CHECK_STR(cm_media_name(CM_MEDIA_NONE), "");
}

TEST_MAIN(TEST(test_content_type), TEST(test_negotiate))
