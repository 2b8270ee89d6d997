/*
 * itest_images_build.h: builds container images for the image tests and the image launch
 * benchmark, without dockerd: a base layer of /bin/busybox (static) and its applets, a top
 * layer with /etc/os-release naming the image, written as a `docker save` archive (config
 * JSON with the layers' diff_ids, manifest.json with the RepoTag). Static functions: include
 * it in one file per program. The caller sets busybox/busybox_len and reg (the registry
 * directory) first.
 */
#ifndef CM_ITEST_IMAGES_BUILD_H
#define CM_ITEST_IMAGES_BUILD_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char reg[300];

struct tarbuf {
    char *data;
    size_t len, cap;
};

static void tb_put(struct tarbuf *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 4096;
        t->data = realloc(t->data, t->cap);
        if (!t->data)
            abort();
    }
    memcpy(t->data + t->len, p, n);
    t->len += n;
}

/* One ustar entry: type '0' file, '2' symlink, '5' dir, '3' char device, '1' hard link. */
static void tb_entry(struct tarbuf *t, const char *name, char type, unsigned mode, const char *link,
                     const void *data, size_t size)
{
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
        tb_put(t, data, size);
        static const char zero[512];
        tb_put(t, zero, (512 - size % 512) % 512);
    }
}

static void tb_end(struct tarbuf *t)
{
    static const char zero[1024];
    tb_put(t, zero, sizeof zero);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *busybox;
static size_t busybox_len;

/* The base layer: /bin/busybox and its applets. */
static void base_layer(struct tarbuf *t)
{
    tb_entry(t, "bin/", '5', 0755, NULL, NULL, 0);
    tb_entry(t, "bin/busybox", '0', 0755, NULL, busybox, busybox_len);
    const char *applets[] = {"sh",    "cat",  "echo",  "ls",    "pwd",  "env", "id",
                             "sleep", "test", "touch", "mkdir", "stat", "wc"};
    for (size_t i = 0; i < sizeof applets / sizeof applets[0]; i++) {
        char n[64];
        snprintf(n, sizeof n, "bin/%s", applets[i]);
        tb_entry(t, n, '2', 0777, "busybox", NULL, 0);
    }
    tb_entry(t, "etc/", '5', 0755, NULL, NULL, 0);
    tb_entry(t, "tmp/", '5', 01777, NULL, NULL, 0);
    tb_end(t);
}

/* Writes <reg>/<file> as a docker save archive of image name (RepoTag) with the base layer
 * and a top layer holding /etc/os-release naming os, or (evil) a '../' entry. */
static int write_image(const char *file, const char *repotag, const char *os, bool evil,
                       const char *workdir)
{
    struct tarbuf l1 = {0}, l2 = {0}, out = {0};
    base_layer(&l1);
    char osr[256];
    snprintf(osr, sizeof osr, "NAME=\"%s\"\nID=cmtest\n", os);
    tb_entry(&l2, "etc/", '5', 0755, NULL, NULL, 0);
    tb_entry(&l2, "etc/os-release", '0', 0644, NULL, osr, strlen(osr));
    if (evil)
        tb_entry(&l2, "../../../../../tmp/cmesos-evil", '0', 0644, NULL, "x", 1);
    tb_end(&l2);
    char h1[65], h2[65], hc[65];
    sha256_hex(l1.data, l1.len, h1);
    sha256_hex(l2.data, l2.len, h2);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\","
             "\"IMGVAR=from-%s\"],\"Cmd\":[\"/bin/"
             "sh\"],\"WorkingDir\":\"%s\"},\"rootfs\":{\"type\":\"layers\","
             "\"diff_ids\":[\"sha256:%s\",\"sha256:%s\"]}}",
             os, workdir ? workdir : "", h1, h2);
    sha256_hex(cfg, strlen(cfg), hc);
    char name[128], manifest[1024];
    snprintf(name, sizeof name, "%s.json", hc);
    tb_entry(&out, name, '0', 0644, NULL, cfg, strlen(cfg));
    snprintf(name, sizeof name, "%.12s/layer.tar", h1);
    tb_entry(&out, name, '0', 0644, NULL, l1.data, l1.len);
    snprintf(name, sizeof name, "%.12s/layer.tar", h2);
    tb_entry(&out, name, '0', 0644, NULL, l2.data, l2.len);
    snprintf(manifest, sizeof manifest,
             "[{\"Config\":\"%s.json\",\"RepoTags\":[\"%s\"],\"Layers\":[\"%.12s/layer.tar\","
             "\"%.12s/layer.tar\"]}]",
             hc, repotag, h1, h2);
    tb_entry(&out, "manifest.json", '0', 0644, NULL, manifest, strlen(manifest));
    tb_end(&out);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", reg, file);
    FILE *f = fopen(path, "w");
    int rc = f && fwrite(out.data, 1, out.len, f) == out.len ? 0 : -1;
    if (f)
        fclose(f);
    free(l1.data);
    free(l2.data);
    free(out.data);
    return rc;
}

#endif
