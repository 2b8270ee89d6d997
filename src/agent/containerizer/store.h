/*
 * store.h: the image store (Mesos's --docker_store_dir): layers extracted once, shared by
 * every image that has them, and a record per image name.
 *
 * Layout (all beneath the store directory, which survives agent restarts):
 *   layers/<diff_id hex>/rootfs   a layer, extracted (image_tar.h rules, overlayfs whiteouts)
 *   images/<name>.json            {"reference", "layers": [hex, bottom first], "config": {...}}
 *                                 ('/' in the name written as "%2F")
 *   staging/                      extractions in progress (renamed into layers/ when done)
 * A layer is keyed by its diff_id (sha256 of its uncompressed tar), which the extractor
 * checks while reading it: two images sharing a layer share one directory, and a layer
 * already present is not read again. A layer appears atomically (rename of a finished
 * staging directory), so concurrent pulls of the same layer are safe: the loser discards its
 * copy.
 *
 * Sources, looked up in --docker_registry (a local directory) for a reference R (see
 * image_spec.h for how R prints):
 *   1. "<dir>/<R>.tar": a `docker save` archive, as Mesos's local puller names it (e.g.
 *      busybox:latest -> "busybox:latest.tar", localhost/busybox -> "localhost/busybox.tar");
 *      the image is the manifest.json entry whose RepoTags has R (tag "latest" if none).
 *   2. cmesos: "<dir>/<R without tag>/" holding an OCI image layout (oci-layout,
 *      index.json): the manifest whose org.opencontainers.image.ref.name annotation is R's
 *      tag (default "latest") or "name:tag".
 *
 * Everything here is blocking file I/O: cm_store_pull and cm_store_gc run in an offload child
 * (provisioner.h); cm_store_load reads one small record. Not thread-safe; several processes
 * may pull into one store at once.
 */
#ifndef CM_AGENT_STORE_H
#define CM_AGENT_STORE_H

#include <stddef.h>

#include "image_spec.h"

struct cm_store_image {
    char *reference;
    char **layers; /* hex digests, bottom first, NULL-terminated */
    size_t n_layers;
    struct cm_image_config config;
};

/* Makes the store's directories. Returns 0 or -errno with why. */
int cm_store_init(const char *store_dir, char *why, size_t whylen);

/* Pulls image (a reference) from registry_dir into the store and writes its record. Layers
 * already in the store are not read. Errors name the cause: "Failed to find image
 * 'busybox:1' in /reg (no /reg/busybox:1.tar, no OCI layout /reg/busybox)", a refused layer
 * entry, a digest mismatch. *extracted (may be NULL) counts the layers it extracted. */
int cm_store_pull(const char *store_dir, const char *registry_dir, const char *image,
                  size_t *extracted, char *why, size_t whylen);

/* Reads image's record and checks its layers are present. CM_ENOTFOUND when it was never
 * pulled (or a layer is gone). */
int cm_store_load(const char *store_dir, const char *image, struct cm_store_image *out, char *why,
                  size_t whylen);
void cm_store_image_cleanup(struct cm_store_image *img);

/* "<store>/layers/<hex>/rootfs" into out. */
int cm_store_layer_path(const char *store_dir, const char *hex, char *out, size_t len);

/* Removes the records of images not in keep (n references; as given to pull), then every
 * layer no remaining record uses, and stale staging directories. *images / *layers (may be
 * NULL) count what was removed. */
int cm_store_gc(const char *store_dir, const char *const *keep, size_t n, size_t *images,
                size_t *layers, char *why, size_t whylen);

#endif
