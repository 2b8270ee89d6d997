/*
 * store.c: pulling images from a local directory (docker save archives, OCI layouts) into the
 * layer store, image records, and garbage collection (see store.h).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "errors.h"
#include "image_tar.h"
#include "util.h"

#define PATH_CAP 4096
#define MEMBERS_MAX 8192
#define SMALL_MAX (1024 * 1024) /* manifest.json, configs, index.json */

static int mkdir_one(const char *p)
{
    return mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -errno;
}

int cm_store_init(const char *store_dir, char *why, size_t whylen)
{
    char p[PATH_CAP];
    /* mkdir -p of the store itself. */
    if (snprintf(p, sizeof p, "%s", store_dir) >= (int)sizeof p)
        return cm_fail(CM_ETOOBIG, why, whylen, "Store path too long");
    for (char *c = p + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            int rc = mkdir_one(p);
            *c = '/';
            if (rc)
                return cm_fail(rc, why, whylen, "Failed to create %s: %s", p, strerror(-rc));
        }
    static const char *const subs[] = {"", "/layers", "/images", "/staging"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", store_dir, subs[i]);
        int rc = mkdir_one(p);
        if (rc)
            return cm_fail(rc, why, whylen, "Failed to create %s: %s", p, strerror(-rc));
    }
    return 0;
}

int cm_store_layer_path(const char *store_dir, const char *hex, char *out, size_t len)
{
    return snprintf(out, len, "%s/layers/%s/rootfs", store_dir, hex) >= (int)len ? CM_ETOOBIG : 0;
}

static void record_path(const char *store_dir, const char *image, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "%s/images/", store_dir);
    for (const char *c = image; *c && o + 4 < len; c++) {
        if (*c == '/') {
            memcpy(out + o, "%2F", 3);
            o += 3;
        } else {
            out[o++] = *c;
        }
    }
    snprintf(out + o, len - o, ".json");
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Reads a whole small file. */
static int read_small(const char *path, char **out, size_t *len, char *why, size_t whylen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cm_fail(-errno, why, whylen, "Failed to open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SMALL_MAX) {
        close(fd);
        return cm_fail(CM_ETOOBIG, why, whylen, "%s is not a regular file of at most %d bytes",
                       path, SMALL_MAX);
    }
    char *buf = cm_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

/* Extracts one layer (its tar in [off, off+len) of fd) as layers/<hex>, checking the digest.
 * Already present: nothing is read. */
static int put_layer(const char *store_dir, int fd, off_t off, off_t len, const char *hex,
                     const char *what, size_t *extracted, char *why, size_t whylen)
{
    char final[PATH_CAP], staging[PATH_CAP], root[PATH_CAP + 16];
    snprintf(final, sizeof final, "%s/layers/%s", store_dir, hex);
    struct stat st;
    if (stat(final, &st) == 0)
        return 0;
    snprintf(staging, sizeof staging, "%s/staging/layer.XXXXXX", store_dir);
    if (!mkdtemp(staging))
        return cm_fail(-errno, why, whylen,
                       "Failed to create a staging directory in %s/staging: "
                       "%s",
                       store_dir, strerror(errno));
    snprintf(root, sizeof root, "%s/rootfs", staging);
    int rc = 0;
    struct cm_tar_src *src = NULL;
    if (mkdir(root, 0755) != 0) {
        rc = cm_fail(-errno, why, whylen, "Failed to create %s: %s", root, strerror(errno));
        goto out;
    }
    if ((rc = cm_tar_src_open(fd, off, len, &src)) != 0) {
        cm_fail(rc, why, whylen, "Failed to read layer %s: %s", what, strerror(-rc));
        goto out;
    }
    char ewhy[512] = "";
    rc = cm_tar_extract(src, root, ewhy, sizeof ewhy);
    if (!rc)
        rc = cm_tar_src_drain(src, ewhy, sizeof ewhy);
    if (rc) {
        cm_fail(rc, why, whylen, "Layer %s: %s", what, ewhy);
        goto out;
    }
    char got[65];
    cm_tar_src_digest(src, got);
    if (strcmp(got, hex) != 0) {
        rc = cm_fail(CM_EINVAL, why, whylen,
                     "Layer %s has sha256:%s, not the image config's diff_id sha256:%s", what, got,
                     hex);
        goto out;
    }
    if (rename(staging, final) != 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            rc = cm_fail(-errno, why, whylen, "Failed to move layer %s into %s: %s", what, final,
                         strerror(errno));
            goto out;
        }
        /* Another pull finished the same layer first: theirs is as good as ours. */
    } else {
        staging[0] = '\0';
        if (extracted)
            (*extracted)++;
    }
out:
    cm_tar_src_free(src);
    if (staging[0])
        rm_rf(staging);
    return rc;
}

/* Writes the image's record atomically. config_json is the image config's bytes. */
static int write_record(const char *store_dir, const char *image, const struct cm_image_config *cfg,
                        const char *config_json, size_t config_len, char *why, size_t whylen)
{
    json_t *rec = json_object();
    json_object_set_new(rec, "reference", json_string(image));
    json_t *ls = json_array();
    for (size_t i = 0; i < cfg->n_diff_ids; i++)
        json_array_append_new(ls, json_string(cfg->diff_ids[i]));
    json_object_set_new(rec, "layers", ls);
    json_t *c = json_loadb(config_json, config_len, 0, NULL);
    json_object_set_new(rec, "config", c ? c : json_object());
    char path[PATH_CAP], tmp[PATH_CAP + 32];
    record_path(store_dir, image, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int rc = json_dump_file(rec, tmp, JSON_COMPACT) == 0 ? 0 : -EIO;
    json_decref(rec);
    if (!rc) {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        if (rename(tmp, path) != 0)
            rc = -errno;
    }
    if (rc) {
        unlink(tmp);
        return cm_fail(rc, why, whylen, "Failed to write the image record %s: %s", path,
                       strerror(-rc));
    }
    return 0;
}

/* ---- docker save archives ---- */

struct member {
    char *name;
    off_t off, size;
};

static const struct member *find_member(const struct member *m, size_t n, const char *name)
{
    /* "./x" and "x" are one member. */
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    for (size_t i = 0; i < n; i++) {
        const char *mn = m[i].name;
        while (mn[0] == '.' && mn[1] == '/')
            mn += 2;
        if (strcmp(mn, name) == 0)
            return &m[i];
    }
    return NULL;
}

static int pull_archive(const char *store_dir, const char *image, const struct cm_image_ref *ref,
                        int fd, const char *path, size_t *extracted, char *why, size_t whylen)
{
    struct cm_tar_src *src = NULL;
    struct member *members = NULL;
    size_t n = 0;
    char *manifest = NULL, *config = NULL, *cfgname = NULL, **layers = NULL;
    size_t manifest_len = 0, config_len = 0;
    struct cm_image_config cfg = {0};
    char ewhy[512] = "";
    int rc = cm_tar_src_open(fd, 0, -1, &src);
    if (rc)
        return cm_fail(rc, why, whylen, "Failed to read %s: %s", path, strerror(-rc));
    struct cm_tar_entry *e = cm_xmalloc(sizeof *e);
    while ((rc = cm_tar_next(src, e, ewhy, sizeof ewhy)) == 1) {
        char clean[CM_TAR_PATH_MAX];
        if (cm_tar_clean_path(e->path, clean, sizeof clean) != 0)
            continue;
        if (strcmp(clean, "manifest.json") == 0 && !manifest) {
            rc = cm_tar_read_data(src, e, SMALL_MAX, &manifest, &manifest_len, ewhy, sizeof ewhy);
            if (rc)
                break;
            continue;
        }
        if (e->type != '0' && e->type != '7')
            continue;
        if (n == MEMBERS_MAX) {
            rc = cm_fail(CM_ETOOBIG, ewhy, sizeof ewhy, "more than %d members", MEMBERS_MAX);
            break;
        }
        if (n % 64 == 0)
            members = cm_xrealloc(members, (n + 64) * sizeof *members);
        members[n].name = cm_xstrdup(clean);
        members[n].off = e->data_offset;
        members[n].size = (off_t)e->size;
        n++;
    }
    free(e);
    bool gz = false;
    if (rc == 0 && !manifest) {
        rc = cm_fail(CM_EPARSE, why, whylen,
                     "%s has no manifest.json (only `docker save` archives of Docker 1.10 or "
                     "later are supported)",
                     path);
        goto out;
    }
    if (rc) {
        cm_fail(rc, why, whylen, "Failed to read %s: %s", path, ewhy);
        goto out;
    }
    /* Members are addressed by offset: the archive itself must not be compressed. */
    {
        unsigned char magic[2] = {0, 0};
        gz = pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }
    if (gz) {
        rc = cm_fail(CM_EINVAL, why, whylen, "%s is compressed; give the plain `docker save` tar",
                     path);
        goto out;
    }
    if ((rc = cm_image_docker_manifest(manifest, manifest_len, ref, &cfgname, &layers, ewhy,
                                       sizeof ewhy)) != 0) {
        cm_fail(rc, why, whylen, "%s: %s", path, ewhy);
        goto out;
    }
    const struct member *cm = find_member(members, n, cfgname);
    if (!cm) {
        rc =
            cm_fail(CM_EPARSE, why, whylen, "%s: config '%s' is not in the archive", path, cfgname);
        goto out;
    }
    if (cm->size > SMALL_MAX) {
        rc = cm_fail(CM_ETOOBIG, why, whylen, "%s: config '%s' is over %d bytes", path, cfgname,
                     SMALL_MAX);
        goto out;
    }
    config = cm_xmalloc((size_t)cm->size + 1);
    if (pread(fd, config, (size_t)cm->size, cm->off) != cm->size) {
        rc = cm_fail(CM_EPARSE, why, whylen, "%s: failed to read config '%s'", path, cfgname);
        goto out;
    }
    config_len = (size_t)cm->size;
    config[config_len] = '\0';
    if ((rc = cm_image_config_parse(config, config_len, &cfg, ewhy, sizeof ewhy)) != 0) {
        cm_fail(rc, why, whylen, "%s: config '%s': %s", path, cfgname, ewhy);
        goto out;
    }
    size_t nl = 0;
    while (layers[nl])
        nl++;
    if (nl != cfg.n_diff_ids) {
        rc = cm_fail(CM_EINVAL, why, whylen,
                     "%s: manifest.json lists %zu layers but the config has %zu diff_ids", path, nl,
                     cfg.n_diff_ids);
        goto out;
    }
    for (size_t i = 0; i < nl; i++) {
        const struct member *lm = find_member(members, n, layers[i]);
        if (!lm) {
            rc = cm_fail(CM_EPARSE, why, whylen, "%s: layer '%s' is not in the archive", path,
                         layers[i]);
            goto out;
        }
        char what[CM_TAR_PATH_MAX + 64];
        snprintf(what, sizeof what, "'%s' of %s", layers[i], path);
        if ((rc = put_layer(store_dir, fd, lm->off, lm->size, cfg.diff_ids[i], what, extracted, why,
                            whylen)) != 0)
            goto out;
    }
    rc = write_record(store_dir, image, &cfg, config, config_len, why, whylen);
out:
    for (size_t i = 0; i < n; i++)
        free(members[i].name);
    free(members);
    free(manifest);
    free(config);
    free(cfgname);
    cm_image_strv_free(layers);
    cm_image_config_cleanup(&cfg);
    cm_tar_src_free(src);
    return rc;
}

/* ---- OCI layouts ---- */

static int read_blob(const char *dir, const char *hex, char **out, size_t *len, char *why,
                     size_t whylen)
{
    char p[PATH_CAP * 2];
    snprintf(p, sizeof p, "%s/blobs/sha256/%s", dir, hex);
    return read_small(p, out, len, why, whylen);
}

static int pull_oci(const char *store_dir, const char *image, const struct cm_image_ref *ref,
                    const char *dir, size_t *extracted, char *why, size_t whylen)
{
    char p[PATH_CAP * 2], name[CM_IMAGE_NAME_MAX + 300], ewhy[512] = "";
    char *index = NULL, *manifest = NULL, *config = NULL;
    size_t index_len = 0, manifest_len = 0, config_len = 0, nl = 0;
    struct cm_image_desc mdesc, cdesc, *layers = NULL;
    struct cm_image_config cfg = {0};
    cm_image_ref_name(ref, name, sizeof name);
    snprintf(p, sizeof p, "%s/index.json", dir);
    int rc = read_small(p, &index, &index_len, why, whylen);
    if (rc)
        goto out;
    if ((rc = cm_image_oci_index(index, index_len, name, *ref->tag ? ref->tag : "latest", &mdesc,
                                 ewhy, sizeof ewhy)) != 0 ||
        (rc = read_blob(dir, mdesc.hex, &manifest, &manifest_len, ewhy, sizeof ewhy)) != 0 ||
        (rc = cm_image_oci_manifest(manifest, manifest_len, &cdesc, &layers, &nl, ewhy,
                                    sizeof ewhy)) != 0 ||
        (rc = read_blob(dir, cdesc.hex, &config, &config_len, ewhy, sizeof ewhy)) != 0 ||
        (rc = cm_image_config_parse(config, config_len, &cfg, ewhy, sizeof ewhy)) != 0) {
        cm_fail(rc, why, whylen, "OCI layout %s: %s", dir, ewhy);
        goto out;
    }
    if (nl != cfg.n_diff_ids) {
        rc = cm_fail(CM_EINVAL, why, whylen,
                     "OCI layout %s: the manifest lists %zu layers but the config has %zu "
                     "diff_ids",
                     dir, nl, cfg.n_diff_ids);
        goto out;
    }
    for (size_t i = 0; i < nl; i++) {
        char what[PATH_CAP * 2];
        snprintf(what, sizeof what, "%s/blobs/sha256/%s", dir, layers[i].hex);
        int fd = open(what, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = cm_fail(-errno, why, whylen, "OCI layout %s: layer blob %s: %s", dir, what,
                         strerror(errno));
            goto out;
        }
        rc = put_layer(store_dir, fd, 0, -1, cfg.diff_ids[i], what, extracted, why, whylen);
        close(fd);
        if (rc)
            goto out;
    }
    rc = write_record(store_dir, image, &cfg, config, config_len, why, whylen);
out:
    free(index);
    free(manifest);
    free(config);
    free(layers);
    cm_image_config_cleanup(&cfg);
    return rc;
}

int cm_store_pull(const char *store_dir, const char *registry_dir, const char *image,
                  size_t *extracted, char *why, size_t whylen)
{
    struct cm_image_ref ref;
    char rwhy[256];
    int rc = cm_image_ref_parse(image, &ref, rwhy, sizeof rwhy);
    if (rc)
        return cm_fail(rc, why, whylen, "%s", rwhy);
    if (!registry_dir || !*registry_dir)
        return cm_fail(CM_EINVAL, why, whylen,
                       "No local --docker_registry directory to find image '%s' in", image);
    if ((rc = cm_store_init(store_dir, why, whylen)) != 0)
        return rc;
    char s[CM_IMAGE_NAME_MAX + 300], name[CM_IMAGE_NAME_MAX + 300];
    char tar[PATH_CAP], oci[PATH_CAP];
    cm_image_ref_string(&ref, s, sizeof s);
    cm_image_ref_name(&ref, name, sizeof name);
    snprintf(tar, sizeof tar, "%s/%s.tar", registry_dir, s);
    snprintf(oci, sizeof oci, "%s/%s", registry_dir, name);
    int fd = open(tar, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        rc = pull_archive(store_dir, image, &ref, fd, tar, extracted, why, whylen);
        close(fd);
        return rc;
    }
    int terr = errno;
    char layout[PATH_CAP + 16];
    snprintf(layout, sizeof layout, "%s/index.json", oci);
    struct stat st;
    if (!*ref.digest && stat(layout, &st) == 0)
        return pull_oci(store_dir, image, &ref, oci, extracted, why, whylen);
    return cm_fail(CM_ENOTFOUND, why, whylen,
                   "Failed to find image '%s' in the local registry %s (no archive %s: %s; no "
                   "OCI layout %s)",
                   image, registry_dir, tar, strerror(terr), layout);
}

void cm_store_image_cleanup(struct cm_store_image *img)
{
    if (!img)
        return;
    free(img->reference);
    cm_image_strv_free(img->layers);
    cm_image_config_cleanup(&img->config);
    memset(img, 0, sizeof *img);
}

int cm_store_load(const char *store_dir, const char *image, struct cm_store_image *out, char *why,
                  size_t whylen)
{
    memset(out, 0, sizeof *out);
    char path[PATH_CAP], ewhy[256] = "";
    record_path(store_dir, image, path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return cm_fail(CM_ENOTFOUND, why, whylen, "Image '%s' is not in the store", image);
    int rc = read_small(path, &text, &len, why, whylen);
    if (rc)
        return rc;
    json_t *rec = json_loadb(text, len, 0, NULL);
    free(text);
    json_t *config = rec ? json_object_get(rec, "config") : NULL;
    char *ctext = config ? json_dumps(config, JSON_COMPACT) : NULL;
    rc = ctext ? cm_image_config_parse(ctext, strlen(ctext), &out->config, ewhy, sizeof ewhy)
               : CM_EPARSE;
    free(ctext);
    json_decref(rec);
    if (rc)
        return cm_fail(CM_EPARSE, why, whylen, "The store's record %s is damaged: %s", path, ewhy);
    /* The layers are the config's diff_ids (the record repeats them for readers). */
    out->reference = cm_xstrdup(image);
    out->n_layers = out->config.n_diff_ids;
    out->layers = cm_xcalloc(out->n_layers + 1, sizeof *out->layers);
    for (size_t i = 0; i < out->n_layers; i++) {
        out->layers[i] = cm_xstrdup(out->config.diff_ids[i]);
        char lp[PATH_CAP];
        cm_store_layer_path(store_dir, out->layers[i], lp, sizeof lp);
        if (stat(lp, &st) != 0) {
            cm_store_image_cleanup(out);
            return cm_fail(CM_ENOTFOUND, why, whylen, "Layer %s of image '%s' is not in the store",
                           lp, image);
        }
    }
    return 0;
}

/* ---- GC ---- */

static bool name_in(const char *name, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, v[i]) == 0)
            return true;
    return false;
}

int cm_store_gc(const char *store_dir, const char *const *keep, size_t n, size_t *images,
                size_t *layers, char *why, size_t whylen)
{
    char dir[PATH_CAP], p[PATH_CAP * 2];
    size_t ni = 0, nl = 0;
    char **kept_layers = NULL;
    size_t nk = 0;
    /* 1. Records of images nobody keeps. */
    snprintf(dir, sizeof dir, "%s/images", store_dir);
    DIR *d = opendir(dir);
    if (!d)
        return cm_fail(-errno, why, whylen, "Failed to list %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        char *text = NULL;
        size_t tlen = 0;
        if (read_small(p, &text, &tlen, NULL, 0) != 0)
            continue;
        json_t *rec = json_loadb(text, tlen, 0, NULL);
        free(text);
        const char *ref = json_string_value(json_object_get(rec, "reference"));
        if (!ref || !name_in(ref, keep, n)) {
            if (unlink(p) == 0)
                ni++;
        } else {
            json_t *ls = json_object_get(rec, "layers");
            for (size_t i = 0; i < json_array_size(ls); i++) {
                const char *h = json_string_value(json_array_get(ls, i));
                if (!h)
                    continue;
                kept_layers = cm_xrealloc(kept_layers, (nk + 1) * sizeof *kept_layers);
                kept_layers[nk++] = cm_xstrdup(h);
            }
        }
        json_decref(rec);
    }
    closedir(d);
    /* 2. Layers no remaining record uses. */
    snprintf(dir, sizeof dir, "%s/layers", store_dir);
    d = opendir(dir);
    if (d) {
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' || name_in(de->d_name, (const char *const *)kept_layers, nk))
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            rm_rf(p);
            nl++;
        }
        closedir(d);
    }
    /* 3. Staging left by a pull that died. (GC runs when no pull is in flight.) */
    snprintf(dir, sizeof dir, "%s/staging", store_dir);
    d = opendir(dir);
    if (d) {
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' && (!de->d_name[1] || strcmp(de->d_name, "..") == 0))
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            rm_rf(p);
        }
        closedir(d);
    }
    for (size_t i = 0; i < nk; i++)
        free(kept_layers[i]);
    free(kept_layers);
    if (images)
        *images = ni;
    if (layers)
        *layers = nl;
    return 0;
}
