/*
 * test_agent_checkpoint: checkpoint records (encode/decode, truncated tails, corruption),
 * atomic single-record files, update stream replay with acknowledgements, pid records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "errors.h"
#include "paths.h"
#include "test.h"

static int count_cb(void *arg, const uint8_t *payload, size_t len)
{
    (void)payload;
    size_t *n = arg;
    (*n)++;
    return len == 999 ? 7 : 0;
}

/* Two records back to back. */
static uint8_t *two_records(size_t *len, size_t *first_len)
{
    uint8_t *a, *b;
    size_t al, bl;
    cm_ckpt_record_encode("hello", 5, &a, &al);
    cm_ckpt_record_encode("world!", 6, &b, &bl);
    uint8_t *buf = malloc(al + bl);
    memcpy(buf, a, al);
    memcpy(buf + al, b, bl);
    free(a);
    free(b);
    *len = al + bl;
    *first_len = al;
    return buf;
}

static void test_records(void)
{
    CHECK(cm_ckpt_crc32c("123456789", 9) == 0xe3069283u); /* the CRC-32C check value */
    size_t len, first, valid, n = 0;
    char why[200];
    uint8_t *buf = two_records(&len, &first);
    CHECK_INT(cm_ckpt_records_decode(buf, len, count_cb, &n, &valid, why, sizeof why), 0);
    CHECK_INT(n, 2);
    CHECK_INT(valid, len);

    /* Every truncation is a torn tail: the complete records before it survive. */
    for (size_t cut = 0; cut < len; cut++) {
        n = 0;
        CHECK_INT(cm_ckpt_records_decode(buf, cut, count_cb, &n, &valid, why, sizeof why), 0);
        CHECK_INT(n, cut >= first ? 1u : 0u);
        CHECK_INT(valid, cut >= first ? first : 0u);
    }

    /* A zero-filled tail (some file systems after a crash) is a torn tail too. */
    uint8_t *z = calloc(1, len + 9);
    memcpy(z, buf, len);
    n = 0;
    CHECK_INT(cm_ckpt_records_decode(z, len + 9, count_cb, &n, &valid, why, sizeof why), 0);
    CHECK_INT(n, 2);
    CHECK_INT(valid, len);
    free(z);

    /* A flipped payload byte is corruption, named by offset. */
    buf[first + CM_CKPT_HEADER + 2] ^= 0x40;
    n = 0;
    CHECK_INT(cm_ckpt_records_decode(buf, len, count_cb, &n, &valid, why, sizeof why), CM_EPARSE);
    CHECK(strstr(why, "checksum") != NULL);
    CHECK_INT(n, 1);
    buf[first + CM_CKPT_HEADER + 2] ^= 0x40;

    /* Bad magic and absurd lengths are corruption. */
    buf[first] = 'X';
    CHECK_INT(cm_ckpt_records_decode(buf, len, NULL, NULL, &valid, why, sizeof why), CM_EPARSE);
    CHECK(strstr(why, "magic") != NULL);
    buf[first] = 'C';
    buf[first + 7] = 0x7f; /* length > 16 MiB */
    CHECK_INT(cm_ckpt_records_decode(buf, len, NULL, NULL, &valid, why, sizeof why), CM_EPARSE);
    CHECK(strstr(why, "too large") != NULL);
    free(buf);

    /* The callback's value stops the walk. */
    uint8_t *big = malloc(999);
    memset(big, 1, 999);
    uint8_t *rec;
    size_t rl;
    cm_ckpt_record_encode(big, 999, &rec, &rl);
    n = 0;
    CHECK_INT(cm_ckpt_records_decode(rec, rl, count_cb, &n, &valid, why, sizeof why), 7);
    free(rec);
    free(big);
}

static Mesos__V1__TaskStatus *status(const char *task, Mesos__V1__TaskState state, uint8_t seed)
{
    Mesos__V1__TaskStatus *s = calloc(1, sizeof *s);
    mesos__v1__task_status__init(s);
    s->task_id = calloc(1, sizeof *s->task_id);
    mesos__v1__task_id__init(s->task_id);
    s->task_id->value = strdup(task);
    s->state = state;
    s->has_uuid = 1;
    s->uuid.len = 16;
    s->uuid.data = malloc(16);
    memset(s->uuid.data, seed, 16);
    return s;
}

static void test_files(void)
{
    char dir[] = "/tmp/test-ckpt-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[256], why[512];
    snprintf(path, sizeof path, "%s/a/b/task.info", dir);

    /* Atomic single-record files round-trip; a missing one is -ENOENT. */
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = "t1";
    aid.value = "a1";
    ti.task_id = &tid;
    ti.agent_id = &aid;
    ti.name = "name";
    ProtobufCMessage *m = NULL;
    CHECK_INT(cm_ckpt_read_message(path, &mesos__v1__task_info__descriptor, &m, why, sizeof why),
              -ENOENT);
    CHECK_INT(cm_ckpt_write_message(path, &ti.base), 0);
    CHECK_INT(cm_ckpt_read_message(path, &mesos__v1__task_info__descriptor, &m, why, sizeof why),
              0);
    REQUIRE(m != NULL);
    CHECK_STR(((Mesos__V1__TaskInfo *)m)->task_id->value, "t1");
    protobuf_c_message_free_unpacked(m, NULL);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);

    /* A truncated single-record file is corrupt (it never is after a rename). */
    CHECK_INT(truncate(path, 14), 0);
    CHECK_INT(cm_ckpt_read_message(path, &mesos__v1__task_info__descriptor, &m, why, sizeof why),
              CM_EPARSE);
    CHECK(strstr(why, "is corrupt") != NULL && strstr(why, path) != NULL);

    /* Update streams: updates and acks replay; a torn tail is tolerated. */
    char ups[256];
    snprintf(ups, sizeof ups, "%s/t/task.updates", dir);
    struct cm_ckpt_stream s;
    CHECK_INT(cm_ckpt_stream_read(ups, &s, why, sizeof why), 0); /* missing: empty */
    CHECK_INT(s.n, 0);
    Mesos__V1__TaskStatus *u1 = status("t", MESOS__V1__TASK_STATE__TASK_RUNNING, 1);
    Mesos__V1__TaskStatus *u2 = status("t", MESOS__V1__TASK_STATE__TASK_FINISHED, 2);
    CHECK_INT(cm_ckpt_append_update(ups, u1), 0);
    CHECK_INT(cm_ckpt_append_ack(ups, u1->uuid.data), 0);
    CHECK_INT(cm_ckpt_append_update(ups, u2), 0);
    CHECK_INT(cm_ckpt_stream_read(ups, &s, why, sizeof why), 0);
    CHECK_INT(s.n, 2);
    CHECK_INT(s.acked, 1);
    CHECK(!s.truncated);
    CHECK(s.updates[1]->state == MESOS__V1__TASK_STATE__TASK_FINISHED);
    size_t full = s.valid_len;
    cm_ckpt_stream_cleanup(&s);
    CHECK_INT(truncate(ups, (off_t)full - 3), 0);
    CHECK_INT(cm_ckpt_stream_read(ups, &s, why, sizeof why), 0);
    CHECK_INT(s.n, 1);
    CHECK(s.truncated);
    cm_ckpt_stream_cleanup(&s);
    /* An ack of something that is not the next pending update is corruption. */
    CHECK_INT(truncate(ups, 0), 0);
    CHECK_INT(cm_ckpt_append_update(ups, u1), 0);
    CHECK_INT(cm_ckpt_append_ack(ups, u2->uuid.data), 0);
    CHECK_INT(cm_ckpt_stream_read(ups, &s, why, sizeof why), CM_EPARSE);
    CHECK(strstr(why, "does not match") != NULL);
    /* A record whose state no TaskState declares (a flipped byte, or a file written by
     * something else) is refused, not replayed into the agent. */
    CHECK_INT(truncate(ups, 0), 0);
    CHECK_INT(cm_ckpt_append_update(ups, u1), 0);
    u2->state = (Mesos__V1__TaskState)99;
    CHECK_INT(cm_ckpt_append_update(ups, u2), 0);
    CHECK_INT(cm_ckpt_stream_read(ups, &s, why, sizeof why), CM_EPARSE);
    u2->state = MESOS__V1__TASK_STATE__TASK_FINISHED;
    /* Likewise a single-record checkpoint with an undeclared required enum. */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/t/bad.info", dir);
    CHECK_INT(cm_ckpt_write_message(bad, &u2->base), 0);
    u2->state = (Mesos__V1__TaskState)99;
    CHECK_INT(cm_ckpt_write_message(bad, &u2->base), 0);
    CHECK_INT(cm_ckpt_read_message(bad, &mesos__v1__task_status__descriptor, &m, why, sizeof why),
              CM_EPARSE);
    CHECK(strstr(why, "state") != NULL);
    CHECK(m == NULL);
    protobuf_c_message_free_unpacked(&u1->base, NULL);
    protobuf_c_message_free_unpacked(&u2->base, NULL);

    /* pid records, and the start time of a live process. */
    char pidp[256];
    snprintf(pidp, sizeof pidp, "%s/pids/forked.pid", dir);
    unsigned long long st = 0, st2 = 0;
    CHECK_INT(cm_ckpt_proc_start_time(getpid(), &st), 0);
    CHECK(st > 0);
    CHECK_INT(cm_ckpt_write_pid(pidp, getpid(), st), 0);
    pid_t p = 0;
    CHECK_INT(cm_ckpt_read_pid(pidp, &p, &st2, why, sizeof why), 0);
    CHECK_INT(p, getpid());
    CHECK(st2 == st);
    CHECK_INT(cm_ckpt_write_record(pidp, "garbage", 7), 0);
    CHECK_INT(cm_ckpt_read_pid(pidp, &p, &st2, why, sizeof why), CM_EPARSE);

    CHECK_INT(cm_paths_rmtree(dir), 0);
    CHECK(access(dir, F_OK) != 0);
}

TEST_MAIN(TEST(test_records), TEST(test_files))
