/*
 * registrar_chunks.h: how the zk storage splits a large registry over several znodes
 * (registrar.h, cm_registry_storage_zk_new), as pure functions.
 *
 * ZooKeeper refuses a znode (and a request) over jute.maxbuffer, 1 MiB by default, which held
 * about 3,000 agents when the registry was one znode. A registry larger than
 * CM_REG_INLINE_MAX is stored as chunks: znodes named by their content (a 64-bit FNV-1a hash
 * and the length, e.g. "9f3c0d2e4b1a7788-65012"), and the registry znode holds a small
 * manifest listing them in order. A store creates only the chunks that do not exist yet and
 * then replaces the manifest with the same versioned compare-and-set as before, so a deposed
 * leader still cannot overwrite: it can at worst leave unreferenced chunks behind, which the
 * next leader deletes. Chunk boundaries are content-defined and fall between top-level
 * protobuf records of the packed registry (one agent, one unreachable entry, ...): a boundary
 * follows a record whose hash has its low bits zero (about every CM_REG_CHUNK_AVG bytes, not
 * before CM_REG_CHUNK_MIN, never past CM_REG_CHUNK_MAX), so an admission or a removal changes
 * one chunk, not every chunk after it, and a store writes little more than what changed. The
 * registry's version (field 1, the first record, changed by every store) is a chunk of its
 * own, so it does not make the first agents' chunk new at every store.
 *
 * A registry up to CM_REG_INLINE_MAX bytes is stored inline, as before: the registry znode's
 * data is the packed registry itself, so what older masters wrote is read as it always was.
 *
 * Manifest (text): the line "cmesos-registry-manifest 1", the registry's length, then one
 * chunk name per line. Errors: CM_EINVAL with why for a malformed manifest.
 */
#ifndef CM_REGISTRAR_CHUNKS_H
#define CM_REGISTRAR_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CM_REG_INLINE_MAX ((size_t)512 << 10)
#define CM_REG_CHUNK_MIN ((size_t)16 << 10)
#define CM_REG_CHUNK_MAX ((size_t)512 << 10)
#define CM_REG_CHUNK_MASK 0xffu /* a boundary after about one record in 256 */
#define CM_REG_CHUNK_AVG ((size_t)64 << 10)
#define CM_REG_CHUNK_NAME 40 /* room for a name and its NUL */
#define CM_REG_MANIFEST_MAGIC "cmesos-registry-manifest 1\n"

struct cm_reg_chunk {
    char name[CM_REG_CHUNK_NAME];
    size_t off, len; /* in the registry's bytes */
};

/* Splits data (a packed registry; any bytes work, unparseable ones are cut at fixed sizes) into
 * chunks covering it in order. *out is malloc'd (NULL when len is 0). */
void cm_reg_chunks_split(const uint8_t *data, size_t len, struct cm_reg_chunk **out, size_t *n);
/* The same split of data, computed with the previous registry prev (split into pc[0..pn)) at
 * hand: the chunks of the part both share at their start (after the version) are taken from
 * pc after a byte comparison, and wherever the split of the rest reaches a boundary at which a
 * chunk of pc with the same bytes starts (looked up by its first bytes, then compared), that
 * chunk is taken too. A store that changed little costs a comparison of the bytes plus the
 * hashing of the chunks that changed. Any prev gives a valid split of data (chunks are reused
 * only on equal bytes); on registries the result is cm_reg_chunks_split's. Without prev (NULL)
 * it is cm_reg_chunks_split. */
void cm_reg_chunks_resplit(const uint8_t *prev, size_t prev_len, const struct cm_reg_chunk *pc,
                           size_t pn, const uint8_t *data, size_t len, struct cm_reg_chunk **out,
                           size_t *n);
/* The name of a chunk's bytes. */
void cm_reg_chunk_name(const uint8_t *data, size_t len, char name[CM_REG_CHUNK_NAME]);
/* True if the registry znode's data is a manifest (not an inline registry). */
bool cm_reg_is_manifest(const uint8_t *data, size_t len);
/* The manifest of chunks (malloc'd text, *outlen bytes, no NUL counted). */
char *cm_reg_manifest_format(const struct cm_reg_chunk *chunks, size_t n, size_t total,
                             size_t *outlen);
/* Parses a manifest: chunk names and lengths (taken from the names) with their offsets, and
 * the total length, which must equal the sum of the chunks' (at most max_total). */
int cm_reg_manifest_parse(const uint8_t *data, size_t len, size_t max_total,
                          struct cm_reg_chunk **out, size_t *n, size_t *total, char *why,
                          size_t whylen);

#endif
