/*
 * fuzz.h: what every libFuzzer harness in tests/fuzz shares — an invariant check that aborts
 * (so libFuzzer records the input as a crash), a NUL-terminated copy of the input, and a
 * splitter that cuts the input into parts at a separator byte sequence.
 *
 * A harness is one file fuzz_<name>.c defining LLVMFuzzerTestOneInput; it must be
 * deterministic (fake clock, no network, no files outside a private temp dir) and free what it
 * allocates, since libFuzzer runs millions of inputs in one process under LeakSanitizer.
 */
#ifndef CM_FUZZ_H
#define CM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant that bad input must never break; a failure is a finding. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT failed: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A malloc'd NUL-terminated copy of data (embedded NULs kept; C-string users see a prefix). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits [data, data+size) at each occurrence of sep: calls fn for every part (possibly empty)
 * in order with its index. Stops early when fn returns non-zero, or after max parts. */
static inline void fuzz_split(const uint8_t *data, size_t size, const char *sep, size_t max,
                              int (*fn)(void *arg, size_t idx, const uint8_t *p, size_t n),
                              void *arg)
{
    size_t seplen = strlen(sep), idx = 0, start = 0;
    for (size_t i = 0; idx < max;) {
        if (i + seplen <= size && memcmp(data + i, sep, seplen) == 0) {
            if (fn(arg, idx++, data + start, i - start))
                return;
            i += seplen;
            start = i;
            continue;
        }
        if (i >= size) {
            fn(arg, idx, data + start, size - start);
            return;
        }
        i++;
    }
}

#endif
