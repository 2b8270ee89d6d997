/* test_master_fuzz_regressions.c: inputs the libFuzzer harnesses found that reach the master
 * through its scheduler API, each with its bytes as found and the answer the fix gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master.h"
#include "scheduler_calls.h"
#include "test.h"

/* A protobuf SUBSCRIBE whose FrameworkInfo carries an unknown field numbered 0 with its tag in
 * two bytes (82 00). protobuf-c accepted it; the master then copied the FrameworkInfo with
 * cm_pb_dup, whose unpack refuses what protobuf-c packs for field 0, and aborted: any client
 * could bring the master down with 15 bytes. Now the body is refused with 400 and the master
 * goes on serving. */
static void test_subscribe_with_field_number_zero(void)
{
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    cm_master_flags_init(&flags);
    cm_fake_clock_init(&clock, 1000.0);
    struct cm_master *m = cm_master_new_clock(NULL, &flags, &clock.clock);
    REQUIRE(m != NULL);
    static const uint8_t body[] = {0x10, 0x01, 0x1a, 0x0b, 0x0a, 0x09, 0x0a, 0x01,
                                   0x75, 0x12, 0x01, 0x78, 0x82, 0x00, 0x00};
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/x-protobuf",
                                   .accept = "application/x-protobuf",
                                   .body = body,
                                   .body_len = sizeof body};
    struct cm_sched_result res;
    cm_master_scheduler_request(m, &req, &res);
    CHECK_INT(res.code, 400);
    CHECK(res.call == NULL);
    CHECK(res.text[0] != '\0');
    /* The same SUBSCRIBE without the field is accepted. */
    static const uint8_t good[] = {0x10, 0x01, 0x1a, 0x08, 0x0a, 0x06,
                                   0x0a, 0x01, 0x75, 0x12, 0x01, 0x78};
    req.body = good;
    req.body_len = sizeof good;
    cm_master_scheduler_request(m, &req, &res);
    CHECK_INT(res.code, 200);
    if (res.call)
        protobuf_c_message_free_unpacked(&res.call->base, NULL);
    cm_master_free(m);
}

TEST_MAIN(TEST(test_subscribe_with_field_number_zero))
