/* Unit tests for the capabilities an agent (and the emulator) registers with. */
#include "agent_caps.h"
#include "test.h"

static void test_agent_caps_fill(void)
{
    struct cm_agent_caps c;
    size_t n = cm_agent_caps_fill(&c);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < n; i++) {
        CHECK(c.p[i] == &c.v[i]);
        CHECK(c.v[i].has_type);
    }
    CHECK_INT(c.v[0].type, MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__MULTI_ROLE);
    CHECK_INT(c.v[1].type, MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__HIERARCHICAL_ROLE);
    CHECK_INT(c.v[2].type, MESOS__V1__AGENT_INFO__CAPABILITY__TYPE__RESERVATION_REFINEMENT);
    /* They travel as AgentInfo.Capability messages: pack one to be sure it is well formed. */
    uint8_t buf[16];
    size_t len = protobuf_c_message_pack(&c.v[0].base, buf);
    CHECK(len > 0 && len <= sizeof buf);
}

TEST_MAIN(TEST(test_agent_caps_fill))
