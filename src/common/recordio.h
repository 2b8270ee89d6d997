/*
 * recordio.h: Mesos RecordIO framing ("<decimal length>\n<bytes>", docs/wire-protocol.md §1.4).
 *
 * The encoder writes one record. The decoder is incremental: feed it bytes in any split
 * (one byte at a time, or many records at once) and it calls back once per complete record.
 * It owns a buffer that grows only up to max_record bytes; a longer record, a zero length, or
 * a header that is not digits followed by '\n' is a protocol error and the decoder stays
 * failed (the stream must be dropped). Not thread-safe; one decoder per stream.
 */
#ifndef CM_RECORDIO_H
#define CM_RECORDIO_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Writes the record header for len into out (at least 22 bytes); returns its length. */
size_t cm_recordio_header(uint64_t len, char *out);

/* Appends header + data to buf. Returns 0 or -ENOMEM. */
int cm_recordio_append(struct evbuffer *buf, const void *data, size_t len);

/* Called for each complete record; data is valid only during the call. Return 0 to continue,
 * non-zero to stop feeding (cm_recordio_feed then returns that value). */
typedef int (*cm_recordio_record_cb)(void *arg, const uint8_t *data, size_t len);

struct cm_recordio_decoder {
    size_t max_record; /* cap on one record's payload */
    int failed;        /* sticky protocol error */
    int in_header;     /* parsing digits */
    uint64_t want;     /* payload size of the record being read */
    char header[24];
    size_t header_len;
    uint8_t *buf; /* payload being accumulated */
    size_t have;
    size_t cap;
};

void cm_recordio_decoder_init(struct cm_recordio_decoder *d, size_t max_record);
void cm_recordio_decoder_cleanup(struct cm_recordio_decoder *d);

/* Feeds len bytes. Returns 0, the callback's non-zero value, CM_EPROTO on a bad header or
 * CM_ETOOBIG on a record larger than max_record (both sticky). */
int cm_recordio_feed(struct cm_recordio_decoder *d, const void *data, size_t len,
                     cm_recordio_record_cb cb, void *arg);

#endif
