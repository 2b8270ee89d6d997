/*
 * recordio.c: RecordIO framing. The decoder is a two-state machine (header digits, payload)
 * so it accepts any split of the stream; a record that arrives whole in one feed is handed
 * to the callback straight from the caller's bytes without copying.
 */
#include "recordio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "errors.h"

/* A uint64 has at most 20 decimal digits; anything longer is not a length. */
#define CM_RECORDIO_MAX_DIGITS 20

size_t cm_recordio_header(uint64_t len, char *out)
{
    int n = snprintf(out, 22, "%" PRIu64 "\n", len);
    return n > 0 ? (size_t)n : 0;
}

int cm_recordio_append(struct evbuffer *buf, const void *data, size_t len)
{
    char hdr[24];
    size_t hl = cm_recordio_header((uint64_t)len, hdr);
    if (evbuffer_add(buf, hdr, hl) != 0)
        return -ENOMEM;
    if (len && evbuffer_add(buf, data, len) != 0)
        return -ENOMEM;
    return 0;
}

void cm_recordio_decoder_init(struct cm_recordio_decoder *d, size_t max_record)
{
    memset(d, 0, sizeof(*d));
    d->max_record = max_record;
    d->in_header = 1;
}

void cm_recordio_decoder_cleanup(struct cm_recordio_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->have = d->cap = 0;
}

/* Makes room for the whole payload of the current record (want <= max_record). */
static void decoder_reserve(struct cm_recordio_decoder *d)
{
    if (d->cap >= d->want)
        return;
    size_t ncap = d->cap ? d->cap : 256;
    while (ncap < d->want)
        ncap *= 2;
    if (ncap > d->max_record)
        ncap = d->max_record;
    uint8_t *nb = realloc(d->buf, ncap);
    if (!nb)
        abort();
    d->buf = nb;
    d->cap = ncap;
}

static int decoder_fail(struct cm_recordio_decoder *d, int err)
{
    d->failed = err;
    return err;
}

int cm_recordio_feed(struct cm_recordio_decoder *d, const void *data, size_t len,
                     cm_recordio_record_cb cb, void *arg)
{
    const uint8_t *p = data;
    const uint8_t *end = p + len;

    if (d->failed)
        return d->failed;
    while (p < end) {
        if (d->in_header) {
            uint8_t c = *p++;
            if (c == '\n') {
                if (d->header_len == 0 || d->want == 0)
                    return decoder_fail(d, CM_EPROTO);
                d->in_header = 0;
                d->header_len = 0;
                d->have = 0;
                continue;
            }
            if (c < '0' || c > '9' || d->header_len >= CM_RECORDIO_MAX_DIGITS)
                return decoder_fail(d, CM_EPROTO);
            d->header[d->header_len++] = (char)c;
            uint64_t digit = (uint64_t)(c - '0');
            if (d->want > (UINT64_MAX - digit) / 10)
                return decoder_fail(d, CM_ETOOBIG);
            d->want = d->want * 10 + digit;
            /* Refuse as soon as the announced size passes the cap, before buffering. */
            if (d->want > d->max_record)
                return decoder_fail(d, CM_ETOOBIG);
            continue;
        }

        size_t avail = (size_t)(end - p);
        size_t need = (size_t)d->want - d->have;
        const uint8_t *rec;
        if (d->have == 0 && avail >= need) {
            rec = p;
            p += need;
        } else {
            decoder_reserve(d);
            size_t take = avail < need ? avail : need;
            memcpy(d->buf + d->have, p, take);
            d->have += take;
            p += take;
            if (d->have < d->want)
                break;
            rec = d->buf;
        }
        size_t rlen = (size_t)d->want;
        d->in_header = 1;
        d->want = 0;
        d->have = 0;
        int rc = cb(arg, rec, rlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}
