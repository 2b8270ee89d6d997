/* Unit tests for registrar_chunks: how a large registry is split over content-named znodes
 * (boundaries between records, stable under a change, bounded sizes) and the manifest. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "registrar_chunks.h"
#include "test.h"

/* A packed-registry-like buffer: n length-delimited records of field 1 (~300 bytes each, each
 * with its own id), with record skip left out and an extra record after record extra (-1:
 * none). */
static uint8_t *records(int n, int skip, int extra, size_t *len)
{
    size_t cap = (size_t)(n + 1) * 320, at = 0;
    uint8_t *b = malloc(cap);
    for (int i = 0; i < n; i++) {
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0 && i == skip)
                continue;
            if (pass == 1 && i != extra)
                continue;
            char body[300];
            memset(body, 'x', sizeof body);
            int k = snprintf(body, sizeof body, "agent-%d%s", i, pass ? "-extra" : "");
            body[k] = ' ';
            b[at++] = 0x0a;                /* field 1, length-delimited */
            b[at++] = 0x80 | (300 & 0x7f); /* varint 300 */
            b[at++] = 300 >> 7;
            memcpy(b + at, body, sizeof body);
            at += sizeof body;
        }
    }
    *len = at;
    return b;
}

static void check_cover(const uint8_t *data, size_t len, const struct cm_reg_chunk *c, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(c[i].off == off);
        CHECK(c[i].len > 0 && c[i].len <= CM_REG_CHUNK_MAX);
        char name[CM_REG_CHUNK_NAME];
        cm_reg_chunk_name(data + c[i].off, c[i].len, name);
        CHECK_STR(c[i].name, name);
        off += c[i].len;
    }
    CHECK(off == len);
}

static size_t common(const struct cm_reg_chunk *a, size_t na, const struct cm_reg_chunk *b,
                     size_t nb)
{
    size_t k = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (strcmp(a[i].name, b[j].name) == 0) {
                k++;
                break;
            }
    return k;
}

static void test_split_records(void)
{
    size_t len;
    uint8_t *d = records(50000, -1, -1, &len); /* about 15 MB: 50,000 agents */
    struct cm_reg_chunk *c = NULL;
    size_t n = 0;
    cm_reg_chunks_split(d, len, &c, &n);
    check_cover(d, len, c, n);
    CHECK(n > len / CM_REG_CHUNK_MAX);
    CHECK(n < len / CM_REG_CHUNK_MIN);
    /* Boundaries fall between records: every chunk starts with the record tag. */
    for (size_t i = 0; i < n; i++)
        CHECK(d[c[i].off] == 0x0a && (c[i].len % 303) == 0);

    /* One agent removed, one added elsewhere: nearly every chunk is unchanged. */
    size_t len2;
    uint8_t *d2 = records(50000, 1234, 40000, &len2);
    struct cm_reg_chunk *c2 = NULL;
    size_t n2 = 0;
    cm_reg_chunks_split(d2, len2, &c2, &n2);
    check_cover(d2, len2, c2, n2);
    size_t same = common(c, n, c2, n2);
    CHECK(same + 6 >= n2);
    CHECK(same < n2); /* the changed ones did change */
    free(c);
    free(c2);
    free(d);
    free(d2);
}

static void test_split_raw(void)
{
    size_t len = (size_t)2 << 20;
    uint8_t *d = malloc(len);
    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t)(i * 2654435761u >> 13);
    d[0] = 0x07; /* wire type 7: not a record */
    struct cm_reg_chunk *c = NULL;
    size_t n = 0;
    cm_reg_chunks_split(d, len, &c, &n);
    check_cover(d, len, c, n);
    CHECK(n >= 4);
    free(c);
    cm_reg_chunks_split(d, 0, &c, &n);
    CHECK(n == 0 && c == NULL);
    free(d);
}

static void test_manifest(void)
{
    size_t len;
    uint8_t *d = records(5000, -1, -1, &len);
    struct cm_reg_chunk *c = NULL, *p = NULL;
    size_t n = 0, np = 0, total = 0, mlen = 0;
    cm_reg_chunks_split(d, len, &c, &n);
    char *m = cm_reg_manifest_format(c, n, len, &mlen);
    CHECK(cm_reg_is_manifest((const uint8_t *)m, mlen));
    CHECK(!cm_reg_is_manifest(d, len));
    char why[256];
    CHECK_INT(cm_reg_manifest_parse((const uint8_t *)m, mlen, (size_t)1 << 30, &p, &np, &total, why,
                                    sizeof why),
              0);
    CHECK(np == n && total == len);
    for (size_t i = 0; i < n && i < np; i++) {
        CHECK_STR(p[i].name, c[i].name);
        CHECK(p[i].off == c[i].off && p[i].len == c[i].len);
    }
    free(p);
    /* Over the caller's limit. */
    CHECK_INT(
        cm_reg_manifest_parse((const uint8_t *)m, mlen, len - 1, &p, &np, &total, why, sizeof why),
        CM_EINVAL);
    CHECK(p == NULL && np == 0);
    /* Malformed ones. */
    static const char *const bad[] = {
        CM_REG_MANIFEST_MAGIC "10\n",                                  /* no chunk adds up */
        CM_REG_MANIFEST_MAGIC "10\n0123456789abcdef-10",               /* unterminated */
        CM_REG_MANIFEST_MAGIC "10\n0123456789ABCDEF-10\n",             /* upper case */
        CM_REG_MANIFEST_MAGIC "10\n0123456789abcdef-9\n",              /* short */
        CM_REG_MANIFEST_MAGIC "-1\n",                                  /* negative */
        CM_REG_MANIFEST_MAGIC "10\n../../etc/passwd-10\n",             /* a path */
        CM_REG_MANIFEST_MAGIC "10\n0123456789abcdef-99999999999999\n", /* huge */
        CM_REG_MANIFEST_MAGIC,                                         /* no length */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        int rc = cm_reg_manifest_parse((const uint8_t *)bad[i], strlen(bad[i]), (size_t)1 << 30, &p,
                                       &np, &total, why, sizeof why);
        if (rc != CM_EINVAL)
            fprintf(stderr, "accepted bad manifest %zu\n", i);
        CHECK_INT(rc, CM_EINVAL);
        CHECK(why[0] != '\0');
        CHECK(p == NULL);
    }
    /* An empty registry: no chunks. */
    char *e = cm_reg_manifest_format(NULL, 0, 0, &mlen);
    CHECK_INT(
        cm_reg_manifest_parse((const uint8_t *)e, mlen, 100, &p, &np, &total, why, sizeof why), 0);
    CHECK(np == 0 && total == 0);
    free(p);
    free(e);
    free(m);
    free(c);
    free(d);
}

TEST_MAIN(TEST(test_split_records), TEST(test_split_raw), TEST(test_manifest))
