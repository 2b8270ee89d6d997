/*
 * image_tar.h: reading tar archives (plain or gzip) and extracting image layers safely.
 *
 * Image layers and `docker save` archives are tar files from outside: the reader trusts
 * nothing in them. A source (struct cm_tar_src) reads a byte range of a file descriptor,
 * inflating it when it starts with the gzip magic, and hashes what it yields (sha256 of the
 * uncompressed stream: a layer's diff_id). cm_tar_next walks the entries (ustar, GNU long
 * names 'L'/'K', pax 'x' path/linkpath/size; 'g' ignored), every name bounded to
 * CM_TAR_PATH_MAX and every pax header to 64 KiB.
 *
 * cm_tar_extract writes a layer beneath a directory it opens once; every entry is created with
 * *at() calls relative to a parent it reached without following a link (O_NOFOLLOW at each
 * component), so nothing is ever written outside that directory. Refused (the whole layer
 * fails, with why naming the entry): a name with a ".." component, a hard link whose target
 * is absolute or has "..", a character or block device, an entry beneath a symlink. Symlinks
 * are stored as they are, absolute targets included (images are full of them: /bin/sh ->
 * busybox): they are only ever followed inside the container's root, never by the agent.
 * Docker whiteouts become overlayfs's: ".wh.NAME" a 0/0 character device NAME (made by us, not
 * taken from the layer), ".wh..wh..opq" the trusted.overlay.opaque xattr of its directory.
 * Owners and modes (setuid kept, as images need it) are applied; times are not.
 *
 * Blocking file I/O: run it off the agent's loop (the store runs it in an offload child).
 * No state beyond the source; not thread-safe per source.
 */
#ifndef CM_AGENT_IMAGE_TAR_H
#define CM_AGENT_IMAGE_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CM_TAR_PATH_MAX 4096

struct cm_tar_src;

struct cm_tar_entry {
    char path[CM_TAR_PATH_MAX];
    char link[CM_TAR_PATH_MAX]; /* symlink or hard link target */
    char type; /* '0' file, '1' hard link, '2' symlink, '3'/'4' dev, '5' dir, ... */
    unsigned mode;
    unsigned uid, gid;
    uint64_t size;
    off_t data_offset; /* offset of the data in the source's stream */
};

/* Opens a source over [offset, offset+len) of fd (len < 0: to the end). fd stays the
 * caller's. Gzip is detected from the first bytes. Returns 0 and *out, or -errno. */
int cm_tar_src_open(int fd, off_t offset, off_t len, struct cm_tar_src **out);
/* Frees the source. NULL is a no-op. */
void cm_tar_src_free(struct cm_tar_src *s);
/* The sha256 (lowercase hex, 64 chars + NUL) of everything read so far; call once the
 * archive was read to its end (cm_tar_next returned 0). */
void cm_tar_src_digest(struct cm_tar_src *s, char hex[65]);
/* Reads the rest of the stream (to hash all of it). Returns 0 or an error with why. */
int cm_tar_src_drain(struct cm_tar_src *s, char *why, size_t whylen);

/* The next entry: 1 with *e filled, 0 at the end of the archive, or an error with why. The
 * previous entry's data, if not read, is skipped. */
int cm_tar_next(struct cm_tar_src *s, struct cm_tar_entry *e, char *why, size_t whylen);
/* Reads the current entry's data (at most cap bytes; larger entries are an error,
 * CM_ETOOBIG) into a malloc'd NUL-terminated buffer. */
int cm_tar_read_data(struct cm_tar_src *s, const struct cm_tar_entry *e, size_t cap, char **out,
                     size_t *outlen, char *why, size_t whylen);

/* Normalises an entry name: strips "./" and leading "/", collapses "//", drops a trailing
 * "/"; fails (CM_EINVAL) on a ".." component. "" stays "" (the archive root). */
int cm_tar_clean_path(const char *in, char *out, size_t outlen);

/* Extracts the archive beneath dest (an existing, empty directory), as described above.
 * Returns 0 or an error with why ("Refusing layer entry '../x': ..."). */
int cm_tar_extract(struct cm_tar_src *s, const char *dest, char *why, size_t whylen);

#endif
