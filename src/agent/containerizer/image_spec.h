/*
 * image_spec.h: the documents of container images, parsed from untrusted bytes.
 *
 * - Image references as Mesos's Docker spec parses them (src/docker/spec.cpp):
 *   [registry/]repository[:tag][@digest], where the first component is a registry only when
 *   it holds '.' or ':' or is "localhost". cm_image_ref_string prints it back the way Mesos
 *   names archives in a local --docker_registry: "<that string>.tar".
 * - `docker save` manifest.json (an array of {Config, RepoTags, Layers}).
 * - An image config (Docker's image JSON / OCI config): Entrypoint, Cmd, Env, WorkingDir,
 *   User and rootfs.diff_ids (each "sha256:" + 64 hex digits; these name the store's layers).
 * - OCI image layouts: index.json (the manifest whose org.opencontainers.image.ref.name is the
 *   tag, or "name:tag") and an image manifest (config and layer descriptors).
 * - The docker/runtime rule that merges a task's CommandInfo with the image's Entrypoint and
 *   Cmd (Mesos's table in isolators/docker/runtime.cpp).
 *
 * Every parser bounds its input (CM_IMAGE_JSON_MAX bytes, CM_IMAGE_LIST_MAX entries per list,
 * names and strings to a few KiB) and names the field it refuses in why. Pure functions;
 * results are malloc'd and owned by the caller (the _cleanup functions free them).
 */
#ifndef CM_AGENT_IMAGE_SPEC_H
#define CM_AGENT_IMAGE_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#define CM_IMAGE_JSON_MAX (4 * 1024 * 1024)
#define CM_IMAGE_LIST_MAX 4096
#define CM_IMAGE_NAME_MAX 512

struct cm_image_ref {
    char registry[256]; /* "" = none */
    char repository[CM_IMAGE_NAME_MAX];
    char tag[128];    /* "" = none (means "latest" where a tag is needed) */
    char digest[128]; /* "" = none */
};

/* Parses a reference; refuses empty, over-long, or names with characters outside
 * [A-Za-z0-9._-/:@] or with "." / ".." components (they become file names). */
int cm_image_ref_parse(const char *text, struct cm_image_ref *ref, char *why, size_t whylen);
/* Mesos's stringify: [registry/]repository then @digest or :tag (whatever was given). */
void cm_image_ref_string(const struct cm_image_ref *ref, char *out, size_t len);
/* [registry/]repository only. */
void cm_image_ref_name(const struct cm_image_ref *ref, char *out, size_t len);

/* What an image asks to run with. Lists are NULL-terminated arrays. */
struct cm_image_config {
    char **entrypoint;
    char **cmd;
    char **env; /* "NAME=value" */
    char *workdir;
    char *user;
    char **diff_ids; /* 64-hex digests (the "sha256:" prefix removed), bottom layer first */
    size_t n_diff_ids;
};

int cm_image_config_parse(const char *json, size_t len, struct cm_image_config *cfg, char *why,
                          size_t whylen);
void cm_image_config_cleanup(struct cm_image_config *cfg);

/* Finds, in a `docker save` manifest.json, the image tagged ref (tag "latest" when ref has
 * none; a RepoTag matches with or without ref's registry). An archive holding a single image
 * without RepoTags matches any name (it was found by its file name). Returns 0 with *config
 * (the config member's name) and *layers (NULL-terminated member names, bottom first), or
 * CM_ENOTFOUND / CM_EPARSE with why. */
int cm_image_docker_manifest(const char *json, size_t len, const struct cm_image_ref *ref,
                             char **config, char ***layers, char *why, size_t whylen);

/* A content descriptor: "sha256:<hex>" digest (validated) and media type. */
struct cm_image_desc {
    char hex[65];
    char media_type[128];
};

/* Finds in an OCI index.json the manifest for tag (ref.name equal to tag or to "name:tag").
 * Returns 0 with *manifest, or CM_ENOTFOUND / CM_EPARSE with why. */
int cm_image_oci_index(const char *json, size_t len, const char *name, const char *tag,
                       struct cm_image_desc *manifest, char *why, size_t whylen);
/* Parses an OCI image manifest: the config and layer descriptors (malloc'd array in *layers,
 * *n of them). Layers must be tar, tar+gzip (OCI or Docker media types); others are refused
 * with why naming the type. */
int cm_image_oci_manifest(const char *json, size_t len, struct cm_image_desc *config,
                          struct cm_image_desc **layers, size_t *n, char *why, size_t whylen);

/* docker/runtime: the command a task runs given its CommandInfo (shell, value, arguments)
 * and the image's config. Returns 0 with *argv NULL when the task's own command stands (shell,
 * or a value), 0 with *argv (NULL-terminated; argv[0] is the executable) when the image
 * supplies it, or CM_EINVAL with why ("No executable is found", "Shell specified but no
 * command value provided"). */
int cm_image_launch_argv(bool shell, const char *value, char *const *arguments, size_t n_arguments,
                         const struct cm_image_config *cfg, char ***argv, char *why, size_t whylen);

void cm_image_strv_free(char **v);

#endif
