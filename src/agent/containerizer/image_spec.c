/*
 * image_spec.c: image references, docker save manifests, image configs, OCI index and
 * manifests, and the docker/runtime command rule (see image_spec.h).
 */
#include "image_spec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "errors.h"
#include "util.h"

#define STR_MAX 4096

void cm_image_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* ---- references ---- */

static bool ref_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' ||
           c == '@';
}

/* Copies [s, s+n) into dst (cap) or fails. */
static int put(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return CM_ETOOBIG;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int cm_image_ref_parse(const char *text, struct cm_image_ref *ref, char *why, size_t whylen)
{
    memset(ref, 0, sizeof *ref);
    size_t len = text ? strlen(text) : 0;
    if (len == 0)
        return cm_fail(CM_EINVAL, why, whylen, "The image name is empty");
    if (len >= CM_IMAGE_NAME_MAX)
        return cm_fail(CM_EINVAL, why, whylen, "The image name is longer than %d bytes",
                       CM_IMAGE_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if (!ref_char_ok(text[i]))
            return cm_fail(CM_EINVAL, why, whylen,
                           "Image name '%s' has a character outside [A-Za-z0-9._-/:@]", text);
    char s[CM_IMAGE_NAME_MAX];
    memcpy(s, text, len + 1);
    char *at = strchr(s, '@');
    if (at) {
        if (strchr(at + 1, '@'))
            return cm_fail(CM_EINVAL, why, whylen, "Image name '%s': multiple '@' symbols", text);
        *at = '\0';
        if (put(ref->digest, sizeof ref->digest, at + 1, strlen(at + 1)) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "Image name '%s': digest too long", text);
    }
    char *colon = strrchr(s, ':');
    bool tagged = colon && !strchr(colon + 1, '/');
    if (tagged) {
        *colon = '\0';
        if (put(ref->tag, sizeof ref->tag, colon + 1, strlen(colon + 1)) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "Image name '%s': tag too long", text);
    }
    char *slash = strchr(s, '/');
    if (slash && (memchr(s, '.', (size_t)(slash - s)) || memchr(s, ':', (size_t)(slash - s)) ||
                  (slash - s == 9 && memcmp(s, "localhost", 9) == 0))) {
        *slash = '\0';
        if (put(ref->registry, sizeof ref->registry, s, strlen(s)) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "Image name '%s': registry too long", text);
        memmove(s, slash + 1, strlen(slash + 1) + 1);
    }
    snprintf(ref->repository, sizeof ref->repository, "%s", s);
    if ((tagged && !ref->tag[0]) || (at && !ref->digest[0]))
        return cm_fail(CM_EINVAL, why, whylen, "Image name '%s' has an empty %s", text,
                       at && !ref->digest[0] ? "digest" : "tag");
    if (strchr(ref->repository, ':') || strchr(ref->repository, '@'))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Image name '%s': the repository '%s' holds ':' or '@'", text,
                       ref->repository);
    /* Every part becomes part of a file name: no empty, "." or ".." components. */
    const char *parts[] = {ref->registry, ref->repository, ref->tag, ref->digest};
    for (size_t p = 0; p < 4; p++) {
        const char *c = parts[p];
        if (p == 1 && !*c)
            return cm_fail(CM_EINVAL, why, whylen, "Image name '%s' has no repository", text);
        if (p != 1 && !*c)
            continue;
        for (;;) {
            const char *e = strchr(c, '/');
            size_t n = e ? (size_t)(e - c) : strlen(c);
            if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                return cm_fail(CM_EINVAL, why, whylen,
                               "Image name '%s' has an empty, '.' or '..' component", text);
            if (!e)
                break;
            c = e + 1;
        }
        if (p >= 2 && strchr(parts[p], '/'))
            return cm_fail(CM_EINVAL, why, whylen, "Image name '%s': '/' in tag or digest", text);
    }
    return 0;
}

void cm_image_ref_name(const struct cm_image_ref *ref, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", ref->registry, *ref->registry ? "/" : "", ref->repository);
}

void cm_image_ref_string(const struct cm_image_ref *ref, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s%s%s", ref->registry, *ref->registry ? "/" : "", ref->repository,
             *ref->digest ? "@" : (*ref->tag ? ":" : ""), *ref->digest ? ref->digest : ref->tag);
}

/* ---- JSON helpers ---- */

static json_t *load(const char *json, size_t len, const char *what, char *why, size_t whylen)
{
    if (len > CM_IMAGE_JSON_MAX) {
        cm_fail(CM_ETOOBIG, why, whylen, "%s is larger than %d bytes", what, CM_IMAGE_JSON_MAX);
        return NULL;
    }
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        cm_fail(CM_EPARSE, why, whylen, "%s is not valid JSON: %s", what, err.text);
    return root;
}

/* A JSON array of strings (or null / absent) into a NULL-terminated list. */
static int strv_from(json_t *a, const char *field, char ***out, size_t *count, char *why,
                     size_t whylen)
{
    *out = NULL;
    if (count)
        *count = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return cm_fail(CM_EPARSE, why, whylen, "'%s' is not an array", field);
    size_t n = json_array_size(a);
    if (n > CM_IMAGE_LIST_MAX)
        return cm_fail(CM_ETOOBIG, why, whylen, "'%s' has more than %d entries", field,
                       CM_IMAGE_LIST_MAX);
    char **v = cm_xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || strlen(s) > STR_MAX) {
            cm_image_strv_free(v);
            return cm_fail(CM_EPARSE, why, whylen,
                           "'%s[%zu]' is not a string (of at most %d "
                           "bytes)",
                           field, i, STR_MAX);
        }
        v[i] = cm_xstrdup(s);
    }
    *out = v;
    if (count)
        *count = n;
    return 0;
}

static int opt_string(json_t *o, const char *key, const char *field, char **out, char *why,
                      size_t whylen)
{
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (!s || strlen(s) > STR_MAX)
        return cm_fail(CM_EPARSE, why, whylen, "'%s' is not a string (of at most %d bytes)", field,
                       STR_MAX);
    *out = cm_xstrdup(s);
    return 0;
}

/* "sha256:<64 lowercase hex>" into hex. */
static int digest_hex(const char *s, char hex[65])
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return CM_EINVAL;
    for (int i = 0; i < 64; i++) {
        char c = s[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return CM_EINVAL;
        hex[i] = c;
    }
    hex[64] = '\0';
    return 0;
}

/* ---- image config ---- */

void cm_image_config_cleanup(struct cm_image_config *cfg)
{
    if (!cfg)
        return;
    cm_image_strv_free(cfg->entrypoint);
    cm_image_strv_free(cfg->cmd);
    cm_image_strv_free(cfg->env);
    cm_image_strv_free(cfg->diff_ids);
    free(cfg->workdir);
    free(cfg->user);
    memset(cfg, 0, sizeof *cfg);
}

int cm_image_config_parse(const char *json, size_t len, struct cm_image_config *cfg, char *why,
                          size_t whylen)
{
    memset(cfg, 0, sizeof *cfg);
    json_t *root = load(json, len, "The image config", why, whylen);
    if (!root)
        return CM_EPARSE;
    int rc = 0;
    if (!json_is_object(root)) {
        rc = cm_fail(CM_EPARSE, why, whylen, "The image config is not a JSON object");
        goto out;
    }
    json_t *c = json_object_get(root, "config");
    if (c && !json_is_null(c)) {
        if (!json_is_object(c)) {
            rc = cm_fail(CM_EPARSE, why, whylen, "'config' is not an object");
            goto out;
        }
        if ((rc = strv_from(json_object_get(c, "Entrypoint"), "config.Entrypoint", &cfg->entrypoint,
                            NULL, why, whylen)) != 0 ||
            (rc = strv_from(json_object_get(c, "Cmd"), "config.Cmd", &cfg->cmd, NULL, why,
                            whylen)) != 0 ||
            (rc = strv_from(json_object_get(c, "Env"), "config.Env", &cfg->env, NULL, why,
                            whylen)) != 0 ||
            (rc = opt_string(c, "WorkingDir", "config.WorkingDir", &cfg->workdir, why, whylen)) !=
                0 ||
            (rc = opt_string(c, "User", "config.User", &cfg->user, why, whylen)) != 0)
            goto out;
        if (cfg->workdir && *cfg->workdir && cfg->workdir[0] != '/') {
            rc = cm_fail(CM_EINVAL, why, whylen, "'config.WorkingDir' '%s' is not absolute",
                         cfg->workdir);
            goto out;
        }
    }
    json_t *rootfs = json_object_get(root, "rootfs");
    json_t *ids = json_is_object(rootfs) ? json_object_get(rootfs, "diff_ids") : NULL;
    if (!ids || !json_is_array(ids)) {
        rc = cm_fail(CM_EPARSE, why, whylen, "'rootfs.diff_ids' is missing or not an array");
        goto out;
    }
    if ((rc = strv_from(ids, "rootfs.diff_ids", &cfg->diff_ids, &cfg->n_diff_ids, why, whylen)) !=
        0)
        goto out;
    for (size_t i = 0; i < cfg->n_diff_ids; i++) {
        char hex[65];
        if (digest_hex(cfg->diff_ids[i], hex) != 0) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "'rootfs.diff_ids[%zu]' is not 'sha256:' and 64 hex digits", i);
            goto out;
        }
        memcpy(cfg->diff_ids[i], hex, 65);
    }
out:
    json_decref(root);
    if (rc)
        cm_image_config_cleanup(cfg);
    return rc;
}

/* ---- docker save ---- */

/* Whether a RepoTag names ref. */
static bool tag_matches(const char *repotag, const struct cm_image_ref *ref)
{
    const char *tag = *ref->tag ? ref->tag : "latest";
    char want[CM_IMAGE_NAME_MAX + 400];
    snprintf(want, sizeof want, "%s:%s", ref->repository, tag);
    if (strcmp(repotag, want) == 0)
        return true;
    if (*ref->registry) {
        snprintf(want, sizeof want, "%s/%s:%s", ref->registry, ref->repository, tag);
        if (strcmp(repotag, want) == 0)
            return true;
    }
    /* docker.io names: "library/busybox" is saved as "busybox". */
    if (strncmp(ref->repository, "library/", 8) == 0) {
        snprintf(want, sizeof want, "%s:%s", ref->repository + 8, tag);
        return strcmp(repotag, want) == 0;
    }
    return false;
}

/* A member name of an archive: relative, no "..". */
static bool member_ok(const char *s)
{
    if (!s || !*s || s[0] == '/' || strlen(s) > STR_MAX)
        return false;
    for (const char *c = s;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return false;
        if (!e)
            return true;
        c = e + 1;
    }
}

int cm_image_docker_manifest(const char *json, size_t len, const struct cm_image_ref *ref,
                             char **config, char ***layers, char *why, size_t whylen)
{
    *config = NULL;
    *layers = NULL;
    json_t *root = load(json, len, "manifest.json", why, whylen);
    if (!root)
        return CM_EPARSE;
    int rc = 0;
    json_t *found = NULL;
    if (!json_is_array(root)) {
        rc = cm_fail(CM_EPARSE, why, whylen, "manifest.json is not a JSON array");
        goto out;
    }
    size_t n = json_array_size(root);
    for (size_t i = 0; i < n && !found; i++) {
        json_t *m = json_array_get(root, i);
        json_t *tags = json_object_get(m, "RepoTags");
        if (n == 1 && (!tags || json_is_null(tags) || json_array_size(tags) == 0))
            found = m;
        for (size_t t = 0; json_is_array(tags) && t < json_array_size(tags) && !found; t++) {
            const char *s = json_string_value(json_array_get(tags, t));
            if (s && tag_matches(s, ref))
                found = m;
        }
    }
    char name[CM_IMAGE_NAME_MAX + 200];
    cm_image_ref_string(ref, name, sizeof name);
    if (!found) {
        rc = cm_fail(CM_ENOTFOUND, why, whylen,
                     "The archive's manifest.json has no image tagged '%s%s'", name,
                     *ref->tag ? "" : ":latest");
        goto out;
    }
    const char *cfgname = json_string_value(json_object_get(found, "Config"));
    if (!member_ok(cfgname)) {
        rc = cm_fail(CM_EPARSE, why, whylen,
                     "manifest.json: 'Config' of '%s' is not a relative "
                     "member name",
                     name);
        goto out;
    }
    char **v = NULL;
    size_t nl = 0;
    if ((rc = strv_from(json_object_get(found, "Layers"), "Layers", &v, &nl, why, whylen)) != 0)
        goto out;
    for (size_t i = 0; i < nl; i++)
        if (!member_ok(v[i])) {
            cm_image_strv_free(v);
            rc = cm_fail(CM_EPARSE, why, whylen,
                         "manifest.json: 'Layers[%zu]' is not a relative member name", i);
            goto out;
        }
    if (!v)
        v = cm_xcalloc(1, sizeof *v);
    *config = cm_xstrdup(cfgname);
    *layers = v;
out:
    json_decref(root);
    return rc;
}

/* ---- OCI ---- */

static int desc_from(json_t *d, const char *field, struct cm_image_desc *out, char *why,
                     size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(d))
        return cm_fail(CM_EPARSE, why, whylen, "'%s' is not an object", field);
    if (digest_hex(json_string_value(json_object_get(d, "digest")), out->hex) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "'%s.digest' is not 'sha256:' and 64 hex digits",
                       field);
    const char *mt = json_string_value(json_object_get(d, "mediaType"));
    snprintf(out->media_type, sizeof out->media_type, "%s", mt ? mt : "");
    return 0;
}

int cm_image_oci_index(const char *json, size_t len, const char *name, const char *tag,
                       struct cm_image_desc *manifest, char *why, size_t whylen)
{
    json_t *root = load(json, len, "index.json", why, whylen);
    if (!root)
        return CM_EPARSE;
    int rc = CM_ENOTFOUND;
    json_t *ms = json_object_get(root, "manifests");
    if (!json_is_array(ms)) {
        rc = cm_fail(CM_EPARSE, why, whylen, "index.json: 'manifests' is not an array");
        goto out;
    }
    char full[CM_IMAGE_NAME_MAX + 200];
    snprintf(full, sizeof full, "%s:%s", name, tag);
    for (size_t i = 0; i < json_array_size(ms) && i < CM_IMAGE_LIST_MAX; i++) {
        json_t *m = json_array_get(ms, i);
        const char *rn = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                           "org.opencontainers.image.ref.name"));
        if (!rn || (strcmp(rn, tag) != 0 && strcmp(rn, full) != 0))
            continue;
        char field[64];
        snprintf(field, sizeof field, "manifests[%zu]", i);
        rc = desc_from(m, field, manifest, why, whylen);
        if (!rc && *manifest->media_type &&
            strcmp(manifest->media_type, "application/vnd.oci.image.manifest.v1+json") != 0 &&
            strcmp(manifest->media_type, "application/vnd.docker.distribution.manifest.v2+json") !=
                0)
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "index.json: '%s' has media type '%s' (only image manifests are "
                         "supported, not nested indexes)",
                         field, manifest->media_type);
        goto out;
    }
    cm_fail(CM_ENOTFOUND, why, whylen,
            "index.json has no manifest whose org.opencontainers.image.ref.name is '%s' or '%s'",
            tag, full);
out:
    json_decref(root);
    return rc;
}

static bool layer_type_ok(const char *mt)
{
    static const char *const ok[] = {
        "",
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(mt, ok[i]) == 0)
            return true;
    return false;
}

int cm_image_oci_manifest(const char *json, size_t len, struct cm_image_desc *config,
                          struct cm_image_desc **layers, size_t *n, char *why, size_t whylen)
{
    *layers = NULL;
    *n = 0;
    json_t *root = load(json, len, "The image manifest", why, whylen);
    if (!root)
        return CM_EPARSE;
    int rc = desc_from(json_object_get(root, "config"), "config", config, why, whylen);
    json_t *ls = json_object_get(root, "layers");
    if (!rc && !json_is_array(ls))
        rc = cm_fail(CM_EPARSE, why, whylen, "The image manifest's 'layers' is not an array");
    if (!rc && json_array_size(ls) > CM_IMAGE_LIST_MAX)
        rc = cm_fail(CM_ETOOBIG, why, whylen, "The image manifest has more than %d layers",
                     CM_IMAGE_LIST_MAX);
    if (rc)
        goto out;
    size_t count = json_array_size(ls);
    struct cm_image_desc *v = cm_xcalloc(count ? count : 1, sizeof *v);
    for (size_t i = 0; i < count; i++) {
        char field[64];
        snprintf(field, sizeof field, "layers[%zu]", i);
        if ((rc = desc_from(json_array_get(ls, i), field, &v[i], why, whylen)) != 0)
            break;
        if (!layer_type_ok(v[i].media_type)) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "The image manifest's %s has media type '%s' (supported: tar and "
                         "tar+gzip layers)",
                         field, v[i].media_type);
            break;
        }
    }
    if (rc) {
        free(v);
        goto out;
    }
    *layers = v;
    *n = count;
out:
    json_decref(root);
    return rc;
}

/* ---- docker/runtime ---- */

static size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

int cm_image_launch_argv(bool shell, const char *value, char *const *arguments, size_t n_arguments,
                         const struct cm_image_config *cfg, char ***argv, char *why, size_t whylen)
{
    *argv = NULL;
    bool has_value = value && *value;
    if (shell)
        return has_value ? 0
                         : cm_fail(CM_EINVAL, why, whylen,
                                   "Shell specified but no command value provided");
    if (has_value)
        return 0;
    size_t ne = strv_len(cfg->entrypoint), nc = strv_len(cfg->cmd);
    char *const *head = ne ? cfg->entrypoint : cfg->cmd;
    size_t nh = ne ? ne : (nc ? 1 : 0);
    if (!nh)
        return cm_fail(CM_EINVAL, why, whylen,
                       "No executable is found: the task has no command value and the image "
                       "has neither Entrypoint nor Cmd");
    /* Entrypoint (all of it) or Cmd[0]; then the task's arguments, or else the rest (Cmd
     * after an Entrypoint, Cmd[1..] after Cmd[0]). */
    char *const *tail = n_arguments ? arguments : (ne ? cfg->cmd : cfg->cmd + 1);
    size_t nt = n_arguments ? n_arguments : (ne ? nc : nc - 1);
    char **v = cm_xcalloc(nh + nt + 1, sizeof *v);
    for (size_t i = 0; i < nh; i++)
        v[i] = cm_xstrdup(head[i]);
    for (size_t i = 0; i < nt; i++)
        v[nh + i] = cm_xstrdup(tail[i] ? tail[i] : "");
    *argv = v;
    return 0;
}
