/*
 * test.h: the tiny test harness every test binary uses.
 *
 * CHECK records a failure and carries on; REQUIRE stops the test function. TEST_MAIN runs the
 * listed functions and ends with the line "N passed, N failed" that CI reads; the exit status
 * is non-zero when anything failed. TEST_SKIP ends the whole binary with exit code 77 (ctest's
 * skip code, see SKIP_RETURN_CODE) after printing why.
 */
#ifndef CM_TEST_H
#define CM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cm_test_failures;
static int cm_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        cm_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            cm_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        cm_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            cm_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);             \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *cm_a_ = (a), *cm_b_ = (b);                                                     \
        cm_test_checks++;                                                                          \
        if (!cm_a_ || !cm_b_ || strcmp(cm_a_, cm_b_) != 0) {                                       \
            cm_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", __FILE__,  \
                    __LINE__, #a, cm_a_ ? cm_a_ : "(null)", cm_b_ ? cm_b_ : "(null)");             \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long cm_a_ = (long long)(a), cm_b_ = (long long)(b);                                  \
        cm_test_checks++;                                                                          \
        if (cm_a_ != cm_b_) {                                                                      \
            cm_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %lld, expected %lld\n", __FILE__,      \
                    __LINE__, #a, cm_a_, cm_b_);                                                   \
        }                                                                                          \
    } while (0)

#define TEST_SKIP(...)                                                                             \
    do {                                                                                           \
        printf("SKIPPED: ");                                                                       \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        exit(77);                                                                                  \
    } while (0)

typedef void (*cm_test_fn)(void);
struct cm_test_case {
    const char *name;
    cm_test_fn fn;
};

#define TEST(fn)                                                                                   \
    {                                                                                              \
#fn, fn                                                                                    \
    }

static inline int cm_test_run(const struct cm_test_case *cases, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        int before = cm_test_failures;
        cases[i].fn();
        if (cm_test_failures == before) {
            passed++;
            printf("ok   %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define TEST_MAIN(...)                                                                             \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct cm_test_case cases[] = {__VA_ARGS__};                                  \
        return cm_test_run(cases, sizeof cases / sizeof cases[0]);                                 \
    }

#endif
