/*
 * test_auth.c: credentials files (JSON and text), HTTP Basic parsing and checking (auth.h).
 */
#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "errors.h"
#include "http_server.h"
#include "test.h"

static char why[256];

static struct cm_credentials *parse(const char *text, int *rc)
{
    struct cm_credentials *c = NULL;
    why[0] = '\0';
    *rc = cm_auth_credentials_parse(text, strlen(text), &c, why, sizeof why);
    return c;
}

static void test_json_set(void)
{
    int rc;
    struct cm_credentials *c = parse("{\"credentials\":[{\"principal\":\"a\",\"secret\":\"s1\"},"
                                     "{\"principal\":\"b\",\"secret\":\"s 2\"}]}",
                                     &rc);
    REQUIRE(rc == 0 && c);
    CHECK_INT(c->n, 2);
    CHECK_STR(c->items[0].principal, "a");
    CHECK_STR(c->items[1].secret, "s 2");
    CHECK(cm_auth_credentials_check(c, "a", "s1"));
    CHECK(cm_auth_credentials_check(c, "b", "s 2"));
    CHECK(!cm_auth_credentials_check(c, "a", "s 2"));
    CHECK(!cm_auth_credentials_check(c, "a", "s"));
    CHECK(!cm_auth_credentials_check(c, "a", "s10"));
    CHECK(!cm_auth_credentials_check(c, "c", "s1"));
    CHECK(!cm_auth_credentials_check(c, "", ""));
    CHECK(!cm_auth_credentials_check(NULL, "a", "s1"));
    cm_auth_credentials_free(c);
    cm_auth_credentials_free(NULL);
}

static void test_json_single(void)
{
    int rc;
    struct cm_credentials *c = parse("  {\"principal\":\"agent\",\"secret\":\"pw\"}\n", &rc);
    REQUIRE(rc == 0 && c);
    CHECK_INT(c->n, 1);
    CHECK(cm_auth_credentials_check(c, "agent", "pw"));
    cm_auth_credentials_free(c);
}

static void test_json_errors(void)
{
    int rc;
    CHECK(parse("{\"credentials\":[{\"principal\":\"a\"}]}", &rc) == NULL);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "credentials[0].secret") != NULL);

    CHECK(parse("{\"credentials\":[{\"principal\":\"a\",\"secret\":\"x\"},"
                "{\"principal\":\"b\",\"secret\":3}]}",
                &rc) == NULL);
    CHECK(strstr(why, "credentials[1].secret") != NULL);

    CHECK(parse("{\"credentials\":[{\"principal\":\"a\",\"secret\":\"x\"},"
                "{\"principal\":\"a\",\"secret\":\"y\"}]}",
                &rc) == NULL);
    CHECK(strstr(why, "listed twice") != NULL);

    CHECK(parse("{\"credentials\":[{\"principal\":\"a:b\",\"secret\":\"x\"}]}", &rc) == NULL);
    CHECK(strstr(why, "':'") != NULL);

    CHECK(parse("{\"credentials\":{}}", &rc) == NULL);
    CHECK(strstr(why, "expected an array") != NULL);

    CHECK(parse("{\"credentials\":[], \"x\":1}", &rc) == NULL);
    CHECK(strstr(why, "x: unknown field") != NULL);

    CHECK(parse("{\"credentials\":[{\"principal\":\"a\",\"secret\":\"x\",\"extra\":1}]}", &rc) ==
          NULL);
    CHECK(strstr(why, "credentials[0].extra") != NULL);

    CHECK(parse("{\"credentials\":[}", &rc) == NULL);
    CHECK_INT(rc, CM_EPARSE);
    CHECK(strstr(why, "line 1") != NULL);

    CHECK(parse("{\"credentials\":[]}", &rc) == NULL);
    CHECK(strstr(why, "no credentials") != NULL);

    CHECK(parse("{\"credentials\":[{\"principal\":\"a\",\"secret\":\"\"}]}", &rc) == NULL);
    CHECK(strstr(why, "secret is empty") != NULL);

    char big[400];
    memset(big, 'p', sizeof big);
    big[sizeof big - 1] = '\0';
    char *text = NULL;
    if (asprintf(&text, "{\"principal\":\"%s\",\"secret\":\"s\"}", big) < 0)
        abort();
    CHECK(parse(text, &rc) == NULL);
    CHECK(strstr(why, "longer than 255") != NULL);
    free(text);
}

static void test_text(void)
{
    int rc;
    struct cm_credentials *c =
        parse("# comment\n\nalice  secret1\r\n\tbob\tsecret2  \ncarol s3", &rc);
    REQUIRE(rc == 0 && c);
    CHECK_INT(c->n, 3);
    CHECK(cm_auth_credentials_check(c, "alice", "secret1"));
    CHECK(cm_auth_credentials_check(c, "bob", "secret2"));
    CHECK(cm_auth_credentials_check(c, "carol", "s3"));
    cm_auth_credentials_free(c);

    CHECK(parse("alice s1\nbob\n", &rc) == NULL);
    CHECK(strstr(why, "line 2") != NULL && strstr(why, "one word") != NULL);
    CHECK(parse("alice s1 extra\n", &rc) == NULL);
    CHECK(strstr(why, "line 1") != NULL && strstr(why, "more than two") != NULL);
    CHECK(parse("a s\na t\n", &rc) == NULL);
    CHECK(strstr(why, "line 2") != NULL && strstr(why, "twice") != NULL);
    CHECK(parse("   \n\n", &rc) == NULL);
    CHECK(strstr(why, "empty") != NULL);
    CHECK(parse("# only\n", &rc) == NULL);
    CHECK(strstr(why, "no credentials") != NULL);
}

static void test_bounds(void)
{
    /* More than the maximum number of credentials is refused with the line that overflows. */
    size_t cap = (CM_AUTH_MAX_CREDENTIALS + 1) * 16;
    char *text = malloc(cap);
    REQUIRE(text);
    size_t o = 0;
    for (int i = 0; i <= CM_AUTH_MAX_CREDENTIALS; i++)
        o += (size_t)snprintf(text + o, cap - o, "p%d s\n", i);
    int rc;
    CHECK(parse(text, &rc) == NULL);
    CHECK_INT(rc, CM_ETOOBIG);
    CHECK(strstr(why, "line 10001") != NULL);
    free(text);

    struct cm_credentials *c = NULL;
    rc = cm_auth_credentials_parse("a b", CM_AUTH_MAX_FILE + 1, &c, why, sizeof why);
    CHECK_INT(rc, CM_ETOOBIG);
    CHECK(c == NULL);
}

static void test_load_file(void)
{
    char dir[] = "/tmp/test_auth.XXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[256], url[300];
    snprintf(path, sizeof path, "%s/creds", dir);
    snprintf(url, sizeof url, "file://%s", path);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("{\"credentials\":[{\"principal\":\"fw\",\"secret\":\"pw\"}]}", f);
    fclose(f);
    chmod(path, 0600);

    struct cm_credentials *c = NULL;
    CHECK_INT(cm_auth_credentials_load(path, &c, NULL, why, sizeof why), 0);
    CHECK(c && cm_auth_credentials_check(c, "fw", "pw"));
    cm_auth_credentials_free(c);
    c = NULL;
    CHECK_INT(cm_auth_credentials_load(url, &c, NULL, why, sizeof why), 0);
    CHECK(c && c->n == 1);
    cm_auth_credentials_free(c);

    struct cm_credential one = {0};
    CHECK_INT(cm_auth_credential_load(url, &one, NULL, why, sizeof why), 0);
    CHECK_STR(one.principal, "fw");
    CHECK_STR(one.secret, "pw");
    cm_auth_credential_cleanup(&one);
    CHECK(one.principal == NULL);

    /* Two credentials where one is expected. */
    f = fopen(path, "w");
    REQUIRE(f);
    fputs("a x\nb y\n", f);
    fclose(f);
    CHECK(cm_auth_credential_load(path, &one, NULL, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "exactly one") != NULL);

    /* A parse error names the file and the line. */
    f = fopen(path, "w");
    REQUIRE(f);
    fputs("a x\nb\n", f);
    fclose(f);
    c = NULL;
    CHECK(cm_auth_credentials_load(path, &c, NULL, why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, path) != NULL && strstr(why, "line 2") != NULL);

    unlink(path);
    CHECK(cm_auth_credentials_load(path, &c, NULL, why, sizeof why) == -ENOENT);
    CHECK(strstr(why, path) != NULL);
    CHECK(cm_auth_credentials_load(dir, &c, NULL, why, sizeof why) != 0);
    rmdir(dir);
}

static void test_basic_parse(void)
{
    char *p = NULL, *s = NULL;
    char *h = cm_auth_basic_header("alice", "pa:ss word");
    CHECK_STR(h, "Basic YWxpY2U6cGE6c3Mgd29yZA==");
    CHECK_INT(cm_auth_basic_parse(h, &p, &s, why, sizeof why), 0);
    CHECK_STR(p, "alice");
    CHECK_STR(s, "pa:ss word"); /* the secret may hold ':'; the split is at the first */
    free(p);
    free(s);
    free(h);

    CHECK_INT(cm_auth_basic_parse("basic   YTpi  ", &p, &s, why, sizeof why), 0);
    CHECK_STR(p, "a");
    CHECK_STR(s, "b");
    free(p);
    free(s);

    CHECK_INT(cm_auth_basic_parse("Bearer abc", &p, &s, why, sizeof why), CM_EPARSE);
    CHECK(strstr(why, "Basic") != NULL);
    CHECK(p == NULL && s == NULL);
    CHECK_INT(cm_auth_basic_parse("Basic", &p, &s, why, sizeof why), CM_EPARSE);
    CHECK_INT(cm_auth_basic_parse("Basic ", &p, &s, why, sizeof why), CM_EPARSE);
    CHECK_INT(cm_auth_basic_parse("Basic !!!!", &p, &s, why, sizeof why), CM_EPARSE);
    CHECK(strstr(why, "base64") != NULL);
    CHECK_INT(cm_auth_basic_parse("Basic YWJj", &p, &s, why, sizeof why), CM_EPARSE); /* "abc" */
    CHECK(strstr(why, "principal:secret") != NULL);
    CHECK_INT(cm_auth_basic_parse("Basic YQBiOmM=", &p, &s, why, sizeof why), CM_EPARSE);

    char *big = malloc(CM_AUTH_MAX_HEADER + 10);
    REQUIRE(big);
    memcpy(big, "Basic ", 6);
    memset(big + 6, 'Q', CM_AUTH_MAX_HEADER);
    big[CM_AUTH_MAX_HEADER + 6] = '\0';
    CHECK_INT(cm_auth_basic_parse(big, &p, &s, why, sizeof why), CM_ETOOBIG);
    free(big);
}

/* cm_auth_http_basic on a request that has no connection (headers only). */
static int http_basic(const char *header, const struct cm_credentials *c, char **principal)
{
    struct evhttp_request *ev = evhttp_request_new(NULL, NULL);
    if (header)
        evhttp_add_header(evhttp_request_get_input_headers(ev), "Authorization", header);
    struct cm_http_request req = {.ev = ev, .method = "POST"};
    int rc = cm_auth_http_basic(&req, c, principal, why, sizeof why);
    evhttp_request_free(ev);
    return rc;
}

static void test_http_basic(void)
{
    int rc;
    struct cm_credentials *c = parse("fw secret\nother x\n", &rc);
    REQUIRE(c);
    char *p = NULL;
    char *h = cm_auth_basic_header("fw", "secret");
    CHECK_INT(http_basic(h, c, &p), 0);
    CHECK_STR(p, "fw");
    free(p);
    free(h);

    CHECK_INT(http_basic(NULL, c, &p), -EACCES);
    CHECK(p == NULL);
    CHECK(strstr(why, "no Authorization header") != NULL);

    h = cm_auth_basic_header("fw", "wrong");
    CHECK_INT(http_basic(h, c, &p), -EACCES);
    CHECK(strstr(why, "invalid credentials") != NULL);
    free(h);

    h = cm_auth_basic_header("nobody", "secret");
    CHECK_INT(http_basic(h, c, &p), -EACCES);
    /* The same words whether or not the principal exists. */
    CHECK(strstr(why, "invalid credentials") != NULL);
    free(h);

    CHECK_INT(http_basic("Bearer x", c, &p), -EACCES);
    CHECK(strstr(why, "Basic") != NULL);

    h = cm_auth_basic_header("fw", "secret");
    CHECK_INT(http_basic(h, NULL, &p), -EACCES);
    free(h);
    cm_auth_credentials_free(c);
}

TEST_MAIN(TEST(test_json_set), TEST(test_json_single), TEST(test_json_errors), TEST(test_text),
          TEST(test_bounds), TEST(test_load_file), TEST(test_basic_parse), TEST(test_http_basic))
