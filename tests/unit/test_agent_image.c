/*
 * test_agent_image: the image modules without daemons: reference parsing, docker save
 * manifest, image config, OCI index/manifest, the docker/runtime command rule, the tar reader
 * and safe layer extraction (refusals, whiteouts, gzip), the store (docker archive and OCI
 * layout pulls, layer de-duplication, digest checks, GC), and the rootfs assembly (overlay and
 * the copy fallback, in a child with its own mount namespace; root only).
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "containerizer/image_spec.h"
#include "containerizer/image_tar.h"
#include "containerizer/rootfs.h"
#include "containerizer/store.h"
#include "errors.h"

/* ---- a tar writer ---- */

struct tb {
    char *d;
    size_t len, cap;
};

static void tb_put(struct tb *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 4096;
        t->d = realloc(t->d, t->cap);
    }
    memcpy(t->d + t->len, p, n);
    t->len += n;
}

static void tb_add(struct tb *t, const char *name, char type, unsigned mode, const char *link,
                   const char *data)
{
    size_t size = data ? strlen(data) : 0;
    unsigned char h[512];
    memset(h, 0, sizeof h);
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", mode);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
    snprintf((char *)h + 136, 12, "%011lo", 0UL);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    if (link)
        snprintf((char *)h + 157, 100, "%s", link);
    if (type == '3') {
        snprintf((char *)h + 329, 8, "%07o", 1);
        snprintf((char *)h + 337, 8, "%07o", 3);
    }
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    tb_put(t, h, 512);
    if (size) {
        static const char zero[512];
        tb_put(t, data, size);
        tb_put(t, zero, (512 - size % 512) % 512);
    }
}

static void tb_end(struct tb *t)
{
    static const char zero[1024];
    tb_put(t, zero, sizeof zero);
}

static void hexsum(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char tmp_root[64];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void cleanup(void)
{
    if (tmp_root[0])
        nftw(tmp_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void mkdir_tmp(char *out, size_t len, const char *name)
{
    if (!tmp_root[0]) {
        snprintf(tmp_root, sizeof tmp_root, "/tmp/test-image-XXXXXX");
        if (!mkdtemp(tmp_root))
            abort();
        atexit(cleanup);
    }
    snprintf(out, len, "%s/%s", tmp_root, name);
    mkdir(out, 0755);
}

static int write_all(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, p, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* Extracts t into a fresh directory dest; returns the rc and why. */
static int extract(struct tb *t, const char *dest, char *why, size_t whylen)
{
    char path[512];
    snprintf(path, sizeof path, "%s.tar", dest);
    write_all(path, t->d, t->len);
    int fd = open(path, O_RDONLY);
    struct cm_tar_src *s = NULL;
    int rc = cm_tar_src_open(fd, 0, -1, &s);
    if (!rc)
        rc = cm_tar_extract(s, dest, why, whylen);
    cm_tar_src_free(s);
    close(fd);
    return rc;
}

/* ---- parsers ---- */

static void test_ref_parse(void)
{
    struct cm_image_ref r;
    char s[700], why[256];
    REQUIRE(cm_image_ref_parse("busybox", &r, why, sizeof why) == 0);
    CHECK_STR(r.repository, "busybox");
    CHECK_STR(r.registry, "");
    cm_image_ref_string(&r, s, sizeof s);
    CHECK_STR(s, "busybox");
    REQUIRE(cm_image_ref_parse("busybox:latest", &r, why, sizeof why) == 0);
    CHECK_STR(r.tag, "latest");
    cm_image_ref_string(&r, s, sizeof s);
    CHECK_STR(s, "busybox:latest");
    REQUIRE(cm_image_ref_parse("localhost/busybox", &r, why, sizeof why) == 0);
    CHECK_STR(r.registry, "localhost");
    CHECK_STR(r.repository, "busybox");
    REQUIRE(cm_image_ref_parse("registry.example.com:5000/team/app:1.2", &r, why, sizeof why) == 0);
    CHECK_STR(r.registry, "registry.example.com:5000");
    CHECK_STR(r.repository, "team/app");
    CHECK_STR(r.tag, "1.2");
    REQUIRE(cm_image_ref_parse("library/busybox", &r, why, sizeof why) == 0);
    CHECK_STR(r.registry, "");
    CHECK_STR(r.repository, "library/busybox");
    REQUIRE(cm_image_ref_parse("app@sha256:abc", &r, why, sizeof why) == 0);
    CHECK_STR(r.digest, "sha256:abc");
    cm_image_ref_string(&r, s, sizeof s);
    CHECK_STR(s, "app@sha256:abc");
    CHECK_INT(cm_image_ref_parse("", &r, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_image_ref_parse("../etc/passwd", &r, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'..'") != NULL);
    CHECK_INT(cm_image_ref_parse("a/../../b", &r, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_image_ref_parse("a b", &r, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_image_ref_parse("a@b@c", &r, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_image_ref_parse("localhost/", &r, why, sizeof why), CM_EINVAL);
    /* Found by fuzz_agent_image: an empty tag printed back as no tag parsed differently. */
    CHECK_INT(cm_image_ref_parse("registry.example.c:::", &r, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_image_ref_parse("busybox:", &r, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "empty tag") != NULL);
    CHECK_INT(cm_image_ref_parse("busybox@", &r, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_image_ref_parse("a:b:c", &r, why, sizeof why), CM_EINVAL);
}

static const char *H1 = "1111111111111111111111111111111111111111111111111111111111111111";

static void test_config_parse(void)
{
    char json[1024], why[256];
    snprintf(json, sizeof json,
             "{\"config\":{\"Entrypoint\":[\"/ep\",\"-x\"],\"Cmd\":[\"a\"],\"Env\":[\"A=1\"],"
             "\"WorkingDir\":\"/w\",\"User\":\"nobody\"},\"rootfs\":{\"type\":\"layers\","
             "\"diff_ids\":[\"sha256:%s\"]}}",
             H1);
    struct cm_image_config c;
    REQUIRE(cm_image_config_parse(json, strlen(json), &c, why, sizeof why) == 0);
    CHECK_STR(c.entrypoint[0], "/ep");
    CHECK_STR(c.entrypoint[1], "-x");
    CHECK(c.entrypoint[2] == NULL);
    CHECK_STR(c.cmd[0], "a");
    CHECK_STR(c.env[0], "A=1");
    CHECK_STR(c.workdir, "/w");
    CHECK_STR(c.user, "nobody");
    CHECK_INT(c.n_diff_ids, 1);
    CHECK_STR(c.diff_ids[0], H1);
    cm_image_config_cleanup(&c);
    /* null Entrypoint (Docker writes it so), no config at all */
    snprintf(json, sizeof json, "{\"config\":{\"Entrypoint\":null},\"rootfs\":{\"diff_ids\":[]}}");
    REQUIRE(cm_image_config_parse(json, strlen(json), &c, why, sizeof why) == 0);
    CHECK(c.entrypoint == NULL);
    cm_image_config_cleanup(&c);
    const char *bad[] = {
        "[]",
        "{\"rootfs\":{}}",
        "{\"rootfs\":{\"diff_ids\":[\"sha256:../../etc\"]}}",
        "{\"rootfs\":{\"diff_ids\":[\"md5:1111\"]}}",
        "{\"config\":{\"Cmd\":\"notalist\"},\"rootfs\":{\"diff_ids\":[]}}",
        "{\"config\":{\"Env\":[1]},\"rootfs\":{\"diff_ids\":[]}}",
        "{\"config\":{\"WorkingDir\":\"rel\"},\"rootfs\":{\"diff_ids\":[]}}",
        "{\"a\":1,\"a\":2}",
        "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK(cm_image_config_parse(bad[i], strlen(bad[i]), &c, why, sizeof why) != 0);
        CHECK(why[0] != '\0');
    }
}

static void test_docker_manifest(void)
{
    const char *m = "[{\"Config\":\"c1.json\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":["
                    "\"a/layer.tar\",\"b/layer.tar\"]},{\"Config\":\"c2.json\",\"RepoTags\":["
                    "\"localhost/app:2\"],\"Layers\":[\"c/layer.tar\"]}]";
    struct cm_image_ref r;
    char *config = NULL, **layers = NULL, why[256];
    cm_image_ref_parse("busybox", &r, why, sizeof why);
    REQUIRE(cm_image_docker_manifest(m, strlen(m), &r, &config, &layers, why, sizeof why) == 0);
    CHECK_STR(config, "c1.json");
    CHECK_STR(layers[0], "a/layer.tar");
    CHECK_STR(layers[1], "b/layer.tar");
    CHECK(layers[2] == NULL);
    free(config);
    cm_image_strv_free(layers);
    cm_image_ref_parse("localhost/app:2", &r, why, sizeof why);
    REQUIRE(cm_image_docker_manifest(m, strlen(m), &r, &config, &layers, why, sizeof why) == 0);
    CHECK_STR(config, "c2.json");
    free(config);
    cm_image_strv_free(layers);
    cm_image_ref_parse("busybox:1", &r, why, sizeof why);
    CHECK_INT(cm_image_docker_manifest(m, strlen(m), &r, &config, &layers, why, sizeof why),
              CM_ENOTFOUND);
    CHECK(strstr(why, "busybox:1") != NULL);
    const char *evil =
        "[{\"Config\":\"../c.json\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":[]}]";
    cm_image_ref_parse("busybox", &r, why, sizeof why);
    CHECK(cm_image_docker_manifest(evil, strlen(evil), &r, &config, &layers, why, sizeof why) != 0);
    const char *evil2 = "[{\"Config\":\"c.json\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":["
                        "\"/abs/layer.tar\"]}]";
    CHECK(cm_image_docker_manifest(evil2, strlen(evil2), &r, &config, &layers, why, sizeof why) !=
          0);
    CHECK(cm_image_docker_manifest("{}", 2, &r, &config, &layers, why, sizeof why) != 0);
}

static void test_oci_index_and_manifest(void)
{
    char idx[1024], why[256];
    snprintf(idx, sizeof idx,
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
             "vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":1,"
             "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}",
             H1);
    struct cm_image_desc d;
    REQUIRE(cm_image_oci_index(idx, strlen(idx), "busybox", "latest", &d, why, sizeof why) == 0);
    CHECK_STR(d.hex, H1);
    CHECK_INT(cm_image_oci_index(idx, strlen(idx), "busybox", "1.0", &d, why, sizeof why),
              CM_ENOTFOUND);
    char man[1024];
    snprintf(man, sizeof man,
             "{\"config\":{\"digest\":\"sha256:%s\"},\"layers\":[{\"mediaType\":\"application/"
             "vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\"}]}",
             H1, H1);
    struct cm_image_desc cfg, *layers = NULL;
    size_t n = 0;
    REQUIRE(cm_image_oci_manifest(man, strlen(man), &cfg, &layers, &n, why, sizeof why) == 0);
    CHECK_INT(n, 1);
    CHECK_STR(layers[0].hex, H1);
    free(layers);
    snprintf(man, sizeof man,
             "{\"config\":{\"digest\":\"sha256:%s\"},\"layers\":[{\"mediaType\":\"application/"
             "vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"sha256:%s\"}]}",
             H1, H1);
    CHECK(cm_image_oci_manifest(man, strlen(man), &cfg, &layers, &n, why, sizeof why) != 0);
    CHECK(strstr(why, "zstd") != NULL);
}

static void test_launch_argv(void)
{
    struct cm_image_config c = {0};
    char *ep[] = {"/ep", "-x", NULL}, *cmd[] = {"c0", "c1", NULL}, *args[] = {"u0", "u1"};
    char **argv = NULL, why[256];
    /* shell or a value: the task's own command */
    c.entrypoint = ep;
    c.cmd = cmd;
    CHECK_INT(cm_image_launch_argv(true, "echo", NULL, 0, &c, &argv, why, sizeof why), 0);
    CHECK(argv == NULL);
    CHECK_INT(cm_image_launch_argv(false, "/bin/x", args, 2, &c, &argv, why, sizeof why), 0);
    CHECK(argv == NULL);
    CHECK_INT(cm_image_launch_argv(true, NULL, NULL, 0, &c, &argv, why, sizeof why), CM_EINVAL);
    /* Entrypoint + Cmd */
    REQUIRE(cm_image_launch_argv(false, NULL, NULL, 0, &c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[0], "/ep");
    CHECK_STR(argv[1], "-x");
    CHECK_STR(argv[2], "c0");
    CHECK_STR(argv[3], "c1");
    CHECK(argv[4] == NULL);
    cm_image_strv_free(argv);
    /* Entrypoint + the task's arguments (Cmd ignored) */
    REQUIRE(cm_image_launch_argv(false, NULL, args, 2, &c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[2], "u0");
    CHECK_STR(argv[3], "u1");
    CHECK(argv[4] == NULL);
    cm_image_strv_free(argv);
    /* Cmd only */
    c.entrypoint = NULL;
    REQUIRE(cm_image_launch_argv(false, NULL, NULL, 0, &c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[0], "c0");
    CHECK_STR(argv[1], "c1");
    CHECK(argv[2] == NULL);
    cm_image_strv_free(argv);
    REQUIRE(cm_image_launch_argv(false, NULL, args, 2, &c, &argv, why, sizeof why) == 0);
    CHECK_STR(argv[0], "c0");
    CHECK_STR(argv[1], "u0");
    cm_image_strv_free(argv);
    c.cmd = NULL;
    CHECK_INT(cm_image_launch_argv(false, NULL, NULL, 0, &c, &argv, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "No executable") != NULL);
}

/* ---- tar ---- */

static void test_tar_refusals(void)
{
    char why[512], dir[256];
    struct {
        const char *label;
        char type;
        const char *name, *link;
        const char *needle;
    } cases[] = {
        {"dotdot", '0', "../escape", NULL, "'..'"},
        {"dotdot2", '0', "a/../../escape", NULL, "'..'"},
        {"hardabs", '1', "x", "/etc/passwd", "hard link target"},
        {"harddot", '1', "x", "../../etc/passwd", "hard link target"},
        {"device", '3', "dev/null", NULL, "device nodes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tb t = {0};
        tb_add(&t, "ok", '0', 0644, NULL, "fine");
        tb_add(&t, cases[i].name, cases[i].type, 0644, cases[i].link, NULL);
        tb_end(&t);
        mkdir_tmp(dir, sizeof dir, cases[i].label);
        why[0] = '\0';
        int rc = extract(&t, dir, why, sizeof why);
        CHECK(rc != 0);
        if (!strstr(why, cases[i].needle))
            fprintf(stderr, "%s: why '%s' lacks '%s'\n", cases[i].label, why, cases[i].needle);
        CHECK(strstr(why, cases[i].needle) != NULL);
        free(t.d);
    }
    /* A symlink pointing out, then a file written "through" it: the file must not land outside.
     */
    char outside[256], p[512];
    mkdir_tmp(outside, sizeof outside, "outside");
    struct tb t = {0};
    tb_add(&t, "link", '2', 0777, outside, NULL);
    tb_add(&t, "link/planted", '0', 0644, NULL, "x");
    tb_end(&t);
    mkdir_tmp(dir, sizeof dir, "through-link");
    CHECK(extract(&t, dir, why, sizeof why) != 0);
    CHECK(strstr(why, "symlink") != NULL);
    snprintf(p, sizeof p, "%s/planted", outside);
    CHECK(access(p, F_OK) != 0);
    free(t.d);
    /* Truncated and corrupt archives fail cleanly. */
    struct tb bad = {0};
    tb_add(&bad, "f", '0', 0644, NULL, "0123456789");
    bad.len -= 600;
    mkdir_tmp(dir, sizeof dir, "truncated");
    CHECK(extract(&bad, dir, why, sizeof why) != 0);
    bad.len = 512;
    bad.d[10] ^= 1; /* checksum mismatch */
    mkdir_tmp(dir, sizeof dir, "corrupt");
    CHECK(extract(&bad, dir, why, sizeof why) != 0);
    CHECK(strstr(why, "checksum") != NULL);
    free(bad.d);
}

static void test_tar_extract_and_whiteouts(void)
{
    char dir[256], p[512], why[512];
    struct tb t = {0};
    tb_add(&t, "./", '5', 0755, NULL, NULL);
    tb_add(&t, "./bin/", '5', 0755, NULL, NULL);
    tb_add(&t, "./bin/tool", '0', 04755, NULL, "#!/bin/sh\n");
    tb_add(&t, "./bin/alias", '2', 0777, "/bin/tool", NULL);
    tb_add(&t, "./bin/hard", '1', 0755, "bin/tool", NULL);
    tb_add(&t, "deep/er/file", '0', 0600, NULL, "deep");
    tb_add(&t, "etc/.wh.gone", '0', 0644, NULL, NULL);
    tb_add(&t, "opq/.wh..wh..opq", '0', 0644, NULL, NULL);
    tb_end(&t);
    mkdir_tmp(dir, sizeof dir, "layer");
    int rc = extract(&t, dir, why, sizeof why);
    if (rc)
        fprintf(stderr, "extract: %s\n", why);
    REQUIRE(rc == 0);
    struct stat st;
    snprintf(p, sizeof p, "%s/bin/tool", dir);
    REQUIRE(stat(p, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 04755);
    CHECK_INT(st.st_nlink, 2);
    char target[64] = "";
    snprintf(p, sizeof p, "%s/bin/alias", dir);
    CHECK(readlink(p, target, sizeof target - 1) > 0 && strcmp(target, "/bin/tool") == 0);
    snprintf(p, sizeof p, "%s/deep/er/file", dir);
    CHECK(stat(p, &st) == 0 && st.st_size == 4);
    if (geteuid() == 0) {
        snprintf(p, sizeof p, "%s/etc/gone", dir);
        CHECK(lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        char v = 0;
        snprintf(p, sizeof p, "%s/opq", dir);
        CHECK(getxattr(p, "trusted.overlay.opaque", &v, 1) == 1 && v == 'y');
    }
    free(t.d);
}

static void test_tar_gzip_and_digest(void)
{
    struct tb t = {0};
    tb_add(&t, "hello", '0', 0644, NULL, "world");
    tb_end(&t);
    char want[65], got[65], dir[256], path[512], why[256];
    hexsum(t.d, t.len, want);
    mkdir_tmp(dir, sizeof dir, "gz");
    snprintf(path, sizeof path, "%s/layer.tar.gz", dir);
    gzFile gz = gzopen(path, "wb");
    REQUIRE(gz != NULL);
    gzwrite(gz, t.d, (unsigned)t.len);
    gzclose(gz);
    int fd = open(path, O_RDONLY);
    struct cm_tar_src *s = NULL;
    REQUIRE(cm_tar_src_open(fd, 0, -1, &s) == 0);
    char out[300];
    snprintf(out, sizeof out, "%s/x", dir);
    mkdir(out, 0755);
    CHECK_INT(cm_tar_extract(s, out, why, sizeof why), 0);
    CHECK_INT(cm_tar_src_drain(s, why, sizeof why), 0);
    cm_tar_src_digest(s, got);
    CHECK_STR(got, want);
    cm_tar_src_free(s);
    close(fd);
    snprintf(path, sizeof path, "%s/x/hello", dir);
    char *buf = NULL;
    FILE *f = fopen(path, "r");
    char line[16] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    CHECK_STR(line, "world");
    free(buf);
    free(t.d);
}

/* ---- store ---- */

/* Writes a docker save archive of name (RepoTag) with layers l1 and l2 into reg/file. */
static void save_archive(const char *reg, const char *file, const char *repotag, struct tb *l1,
                         struct tb *l2, bool wrong_digest)
{
    char h1[65], h2[65], hc[65], cfg[700], man[700], n[128];
    hexsum(l1->d, l1->len, h1);
    hexsum(l2->d, l2->len, h2);
    if (wrong_digest)
        h2[0] = h2[0] == 'a' ? 'b' : 'a';
    snprintf(cfg, sizeof cfg,
             "{\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{"
             "\"diff_ids\":[\"sha256:%s\",\"sha256:%s\"]}}",
             h1, h2);
    hexsum(cfg, strlen(cfg), hc);
    struct tb out = {0};
    snprintf(n, sizeof n, "%s.json", hc);
    tb_add(&out, n, '0', 0644, NULL, cfg);
    /* Layers hold NUL bytes: add them by hand. */
    const struct tb *ls[] = {l1, l2};
    for (int i = 0; i < 2; i++) {
        unsigned char h[512];
        memset(h, 0, sizeof h);
        snprintf((char *)h, 100, "l%d/layer.tar", i);
        snprintf((char *)h + 100, 8, "%07o", 0644);
        snprintf((char *)h + 108, 8, "%07o", 0);
        snprintf((char *)h + 116, 8, "%07o", 0);
        snprintf((char *)h + 124, 12, "%011o", (unsigned)ls[i]->len);
        snprintf((char *)h + 136, 12, "%011lo", 0UL);
        memset(h + 148, ' ', 8);
        h[156] = '0';
        memcpy(h + 257,
               "ustar\0"
               "00",
               8);
        unsigned sum = 0;
        for (int k = 0; k < 512; k++)
            sum += h[k];
        snprintf((char *)h + 148, 8, "%06o", sum);
        h[155] = ' ';
        tb_put(&out, h, 512);
        tb_put(&out, ls[i]->d, ls[i]->len); /* a multiple of 512 already */
    }
    snprintf(man, sizeof man,
             "[{\"Config\":\"%s.json\",\"RepoTags\":[\"%s\"],\"Layers\":[\"l0/layer.tar\","
             "\"l1/layer.tar\"]}]",
             hc, repotag);
    tb_add(&out, "manifest.json", '0', 0644, NULL, man);
    tb_end(&out);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", reg, file);
    write_all(path, out.d, out.len);
    free(out.d);
}

static size_t count(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_store_docker_dedup_and_gc(void)
{
    char reg[256], store[256], why[1024], p[800];
    mkdir_tmp(reg, sizeof reg, "reg");
    mkdir_tmp(store, sizeof store, "store");
    struct tb base = {0}, top1 = {0}, top2 = {0};
    tb_add(&base, "bin/", '5', 0755, NULL, NULL);
    tb_add(&base, "bin/sh", '0', 0755, NULL, "base");
    tb_end(&base);
    tb_add(&top1, "etc/", '5', 0755, NULL, NULL);
    tb_add(&top1, "etc/os-release", '0', 0644, NULL, "NAME=one\n");
    tb_end(&top1);
    tb_add(&top2, "etc/", '5', 0755, NULL, NULL);
    tb_add(&top2, "etc/os-release", '0', 0644, NULL, "NAME=two\n");
    tb_end(&top2);
    save_archive(reg, "one.tar", "one:latest", &base, &top1, false);
    save_archive(reg, "two:1.tar", "two:1", &base, &top2, false);
    save_archive(reg, "bad.tar", "bad:latest", &base, &top2, true);
    size_t extracted = 0;
    CHECK_INT(cm_store_pull(store, reg, "one", &extracted, why, sizeof why), 0);
    CHECK_INT(extracted, 2);
    extracted = 0;
    CHECK_INT(cm_store_pull(store, reg, "two:1", &extracted, why, sizeof why), 0);
    CHECK_INT(extracted, 1); /* the base layer was there already */
    snprintf(p, sizeof p, "%s/layers", store);
    CHECK_INT(count(p), 3);
    /* A layer whose content does not match its diff_id never enters the store. */
    extracted = 0;
    CHECK(cm_store_pull(store, reg, "bad", &extracted, why, sizeof why) != 0);
    CHECK(strstr(why, "not the image config's diff_id") != NULL);
    CHECK_INT(count(p), 3);
    /* Missing: the message names where it looked. */
    CHECK_INT(cm_store_pull(store, reg, "nosuch", NULL, why, sizeof why), CM_ENOTFOUND);
    CHECK(strstr(why, "Failed to find image 'nosuch'") && strstr(why, "nosuch.tar"));
    /* Loaded back: layers bottom first, config. */
    struct cm_store_image img;
    REQUIRE(cm_store_load(store, "two:1", &img, why, sizeof why) == 0);
    CHECK_INT(img.n_layers, 2);
    CHECK_STR(img.config.cmd[0], "/bin/sh");
    char lp[600], *text = NULL;
    cm_store_layer_path(store, img.layers[1], lp, sizeof lp);
    snprintf(p, sizeof p, "%s/etc/os-release", lp);
    FILE *f = fopen(p, "r");
    char line[32] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    CHECK_STR(line, "NAME=two\n");
    free(text);
    cm_store_image_cleanup(&img);
    /* GC keeping "one": two's record and its top layer go; the shared base stays. */
    size_t ni = 0, nl = 0;
    const char *keep[] = {"one"};
    CHECK_INT(cm_store_gc(store, keep, 1, &ni, &nl, why, sizeof why), 0);
    CHECK_INT(ni, 1);
    CHECK_INT(nl, 1);
    snprintf(p, sizeof p, "%s/layers", store);
    CHECK_INT(count(p), 2);
    CHECK(cm_store_load(store, "one", &img, why, sizeof why) == 0);
    cm_store_image_cleanup(&img);
    CHECK_INT(cm_store_load(store, "two:1", &img, why, sizeof why), CM_ENOTFOUND);
    CHECK_INT(cm_store_gc(store, NULL, 0, &ni, &nl, why, sizeof why), 0);
    CHECK_INT(count(p), 0);
    free(base.d);
    free(top1.d);
    free(top2.d);
}

static void test_store_oci_layout(void)
{
    char reg[256], store[256], dir[512], p[800], why[1024];
    mkdir_tmp(reg, sizeof reg, "ocireg");
    mkdir_tmp(store, sizeof store, "ocistore");
    snprintf(dir, sizeof dir, "%s/app", reg);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/blobs", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/blobs/sha256", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/oci-layout", dir);
    write_all(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
    struct tb l = {0};
    tb_add(&l, "etc/", '5', 0755, NULL, NULL);
    tb_add(&l, "etc/os-release", '0', 0644, NULL, "NAME=oci\n");
    tb_end(&l);
    char diff[65], blob[65], cfgh[65], manh[65];
    hexsum(l.d, l.len, diff);
    /* the layer blob, gzip'd */
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s/layer.gz", dir);
    gzFile gz = gzopen(tmp, "wb");
    gzwrite(gz, l.d, (unsigned)l.len);
    gzclose(gz);
    size_t gzlen = 0;
    FILE *f = fopen(tmp, "r");
    char *gzdata = malloc(1 << 20);
    gzlen = fread(gzdata, 1, 1 << 20, f);
    fclose(f);
    unlink(tmp);
    hexsum(gzdata, gzlen, blob);
    snprintf(p, sizeof p, "%s/blobs/sha256/%s", dir, blob);
    write_all(p, gzdata, gzlen);
    free(gzdata);
    char cfg[512], man[700], idx[700];
    snprintf(cfg, sizeof cfg,
             "{\"config\":{\"Entrypoint\":[\"/bin/app\"]},\"rootfs\":{\"type\":\"layers\","
             "\"diff_ids\":[\"sha256:%s\"]}}",
             diff);
    hexsum(cfg, strlen(cfg), cfgh);
    snprintf(p, sizeof p, "%s/blobs/sha256/%s", dir, cfgh);
    write_all(p, cfg, strlen(cfg));
    snprintf(man, sizeof man,
             "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
             "vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\"},\"layers\":[{"
             "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":"
             "\"sha256:%s\"}]}",
             cfgh, blob);
    hexsum(man, strlen(man), manh);
    snprintf(p, sizeof p, "%s/blobs/sha256/%s", dir, manh);
    write_all(p, man, strlen(man));
    snprintf(idx, sizeof idx,
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
             "vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"annotations\":{"
             "\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
             manh);
    snprintf(p, sizeof p, "%s/index.json", dir);
    write_all(p, idx, strlen(idx));
    size_t extracted = 0;
    int rc = cm_store_pull(store, reg, "app:v1", &extracted, why, sizeof why);
    if (rc)
        fprintf(stderr, "oci pull: %s\n", why);
    CHECK_INT(rc, 0);
    CHECK_INT(extracted, 1);
    struct cm_store_image img;
    REQUIRE(cm_store_load(store, "app:v1", &img, why, sizeof why) == 0);
    CHECK_STR(img.config.entrypoint[0], "/bin/app");
    CHECK_STR(img.layers[0], diff);
    cm_store_image_cleanup(&img);
    /* the tag must match */
    CHECK_INT(cm_store_pull(store, reg, "app:v2", NULL, why, sizeof why), CM_ENOTFOUND);
    CHECK(strstr(why, "'v2'") != NULL);
    free(l.d);
}

/* ---- rootfs ---- */

/* In a child with its own mount namespace: assembles the rootfs (overlay, or the copy fallback
 * with force_copy) and checks what it sees. Exit 0 = all good. */
static int rootfs_child(const char *lower1, const char *lower2, const char *base,
                        const char *sandbox, bool force_copy)
{
    if (unshare(CLONE_NEWNS) != 0)
        return 10;
    /* In a chroot "/" is not a mount point (EINVAL): then base, where everything is mounted,
     * is made a private mount of its own, so nothing propagates to the host either way. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 &&
        (errno != EINVAL || mount(base, base, NULL, MS_BIND, NULL) != 0 ||
         mount(NULL, base, NULL, MS_REC | MS_PRIVATE, NULL) != 0))
        return 10;
    char *layers[] = {(char *)lower1, (char *)lower2};
    struct cm_rootfs_spec *s = cm_rootfs_spec_new(base, layers, 2, sandbox, 16 << 20);
    if (force_copy) {
        free(s->overlay_opts);
        s->overlay_opts = NULL;
    }
    char why[256];
    if (cm_rootfs_spec_add_volume(s, 0, "vol", "/data", false, why, sizeof why) != 0)
        return 11;
    if (cm_rootfs_mount(s, why, sizeof why) != 0) {
        fprintf(stderr, "rootfs: %s\n", why);
        return 12;
    }
    char p[600];
    struct stat st;
    int bad = 0;
    snprintf(p, sizeof p, "%s/keep", s->rootfs);
    bad |= stat(p, &st) != 0 ? 1 : 0; /* from the bottom layer */
    snprintf(p, sizeof p, "%s/gone", s->rootfs);
    bad |= lstat(p, &st) == 0 ? 2 : 0; /* whited out by the top layer */
    snprintf(p, sizeof p, "%s/opq/old", s->rootfs);
    bad |= lstat(p, &st) == 0 ? 4 : 0; /* hidden by the opaque directory */
    snprintf(p, sizeof p, "%s/opq/new", s->rootfs);
    bad |= stat(p, &st) != 0 ? 8 : 0;
    snprintf(p, sizeof p, "%s/mnt/mesos/sandbox/in-sandbox", s->rootfs);
    bad |= stat(p, &st) != 0 ? 16 : 0;
    snprintf(p, sizeof p, "%s/dev/null", s->rootfs);
    bad |= stat(p, &st) != 0 || !S_ISCHR(st.st_mode) ? 32 : 0;
    snprintf(p, sizeof p, "%s/data/w", s->rootfs);
    bad |= write_all(p, "v", 1) != 0 ? 64 : 0; /* the volume, made in the sandbox */
    cm_rootfs_spec_free(s);
    return bad;
}

static void rootfs_case(bool force_copy)
{
    if (geteuid() != 0)
        SKIP_CASE("mount namespaces and overlayfs need root");
    char l1[256], l2[256], base[256], sandbox[256], p[600], why[256];
    mkdir_tmp(l1, sizeof l1, force_copy ? "c-l1" : "o-l1");
    mkdir_tmp(l2, sizeof l2, force_copy ? "c-l2" : "o-l2");
    mkdir_tmp(base, sizeof base, force_copy ? "c-base" : "o-base");
    mkdir_tmp(sandbox, sizeof sandbox, force_copy ? "c-sandbox" : "o-sandbox");
    struct tb t1 = {0}, t2 = {0};
    tb_add(&t1, "keep", '0', 0644, NULL, "k");
    tb_add(&t1, "gone", '0', 0644, NULL, "g");
    tb_add(&t1, "opq/old", '0', 0644, NULL, "o");
    tb_end(&t1);
    tb_add(&t2, ".wh.gone", '0', 0644, NULL, NULL);
    tb_add(&t2, "opq/.wh..wh..opq", '0', 0644, NULL, NULL);
    tb_add(&t2, "opq/new", '0', 0644, NULL, "n");
    tb_end(&t2);
    REQUIRE(extract(&t1, l1, why, sizeof why) == 0);
    REQUIRE(extract(&t2, l2, why, sizeof why) == 0);
    snprintf(p, sizeof p, "%s/in-sandbox", sandbox);
    write_all(p, "s", 1);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(rootfs_child(l1, l2, base, sandbox, force_copy));
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    if (WEXITSTATUS(st))
        fprintf(stderr, "rootfs child (%s): bits %d\n", force_copy ? "copy" : "overlay",
                WEXITSTATUS(st));
    CHECK_INT(WEXITSTATUS(st), 0);
    /* Nothing leaked to the host's mount namespace; the volume's data is in the sandbox. */
    snprintf(p, sizeof p, "%s/rootfs", base);
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/vol/w", sandbox);
    CHECK(access(p, F_OK) == 0);
    free(t1.d);
    free(t2.d);
}

static void test_rootfs_overlay(void)
{
    rootfs_case(false);
}

static void test_rootfs_copy_fallback(void)
{
    rootfs_case(true);
}

static void test_volume_validation(void)
{
    char *layers[] = {"/l"};
    struct cm_rootfs_spec *s = cm_rootfs_spec_new("/b", layers, 1, "/sb", 0);
    char why[256];
    CHECK_INT(cm_rootfs_spec_add_volume(s, 0, "../../etc", "/x", false, why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "volumes[0].host_path") != NULL);
    CHECK_INT(cm_rootfs_spec_add_volume(s, 1, "/tmp", "/../../x", false, why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "volumes[1].container_path") != NULL);
    CHECK_INT(cm_rootfs_spec_add_volume(s, 2, "", "/x", false, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_rootfs_spec_add_volume(s, 3, "data", "cache", true, why, sizeof why), 0);
    CHECK_STR(s->volumes[0].host, "/sb/data");
    CHECK_STR(s->volumes[0].container, "/mnt/mesos/sandbox/cache");
    CHECK(s->volumes[0].readonly);
    CHECK_STR(s->overlay_opts, "lowerdir=/l,upperdir=/b/upper,workdir=/b/work");
    cm_rootfs_spec_free(s);
}

TEST_MAIN(TEST(test_ref_parse), TEST(test_config_parse), TEST(test_docker_manifest),
          TEST(test_oci_index_and_manifest), TEST(test_launch_argv), TEST(test_tar_refusals),
          TEST(test_tar_extract_and_whiteouts), TEST(test_tar_gzip_and_digest),
          TEST(test_store_docker_dedup_and_gc), TEST(test_store_oci_layout),
          TEST(test_rootfs_overlay), TEST(test_rootfs_copy_fallback), TEST(test_volume_validation))
