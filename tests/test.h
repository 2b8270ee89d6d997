/*
 * test.h: the tiny test harness every test binary uses.
 *
 * CHECK records a failure and carries on; REQUIRE stops the test function. TEST_MAIN runs the
 * listed functions and ends with the line "N passed, N failed" that CI reads; the exit status
 * is non-zero when anything failed. A case that runs no CHECK/REQUIRE fails, because a test
 * that checks nothing cannot catch anything; setup steps and skip gates are listed with
 * FIXTURE instead of TEST, so they are neither counted nor held to that rule, and a case that
 * cannot run here ends with SKIP_CASE, which reports it as skipped. TEST_SKIP ends the
 * whole binary with exit code 77 (ctest's skip code, see SKIP_RETURN_CODE) after printing why.
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

/* Set by SKIP_CASE for the running case. */
static int cm_test_case_skipped;

/* Ends the running case as skipped (neither passed nor failed) after printing why: for a case
 * that cannot run here while the rest of the binary can. */
#define SKIP_CASE(...)                                                                             \
    do {                                                                                           \
        printf("skip %s: ", __func__);                                                             \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        cm_test_case_skipped = 1;                                                                  \
        return;                                                                                    \
    } while (0)

typedef void (*cm_test_fn)(void);
struct cm_test_case {
    const char *name;
    cm_test_fn fn;
    /* Set by FIXTURE: the function prepares state (or skips the binary) and is not a test. */
    int fixture;
};

#define TEST(fn)                                                                                   \
    {                                                                                              \
#fn, fn, 0                                                                                 \
    }

/* A setup step or a skip gate: it runs in its place in the list but is neither counted nor
 * required to check anything. If it records a failure, the cases after it cannot be trusted,
 * so the run stops there and the binary fails. */
#define FIXTURE(fn)                                                                                \
    {                                                                                              \
#fn, fn, 1                                                                                 \
    }

/* Called after each case with whether it failed; a non-zero return fails the case too (the
 * integration harness uses it to clean up daemons and to fail on sanitizer reports). */
typedef int (*cm_test_end_fn)(const char *name, int failed);

static inline int cm_test_run_with(const struct cm_test_case *cases, size_t n, cm_test_end_fn end)
{
    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        int failures = cm_test_failures, checks = cm_test_checks;
        fprintf(stderr, "=== %s\n", cases[i].name);
        cm_test_case_skipped = 0;
        cases[i].fn();
        int bad = cm_test_failures != failures;
        int skip = cm_test_case_skipped && !bad;
        /* A case that checks nothing passes whatever the code does, so it is a failure. */
        int unchecked = !cases[i].fixture && !bad && !skip && cm_test_checks == checks;
        if (unchecked) {
            fprintf(stderr, "%s: the test case made no CHECK or REQUIRE\n", cases[i].name);
            bad = 1;
        }
        if (end && end(cases[i].name, bad))
            bad = 1;
        if (cases[i].fixture && bad) {
            failed++;
            printf("FAIL fixture %s: the %zu case(s) after it did not run\n", cases[i].name,
                   n - i - 1);
            fflush(stdout);
            break;
        } else if (cases[i].fixture) {
            continue;
        } else if (skip) {
            skipped++;
        } else if (bad) {
            failed++;
            printf("FAIL %s%s\n", cases[i].name, unchecked ? " (made no check)" : "");
        } else {
            passed++;
            printf("ok   %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

static inline int cm_test_run(const struct cm_test_case *cases, size_t n)
{
    return cm_test_run_with(cases, n, NULL);
}

#define TEST_MAIN(...)                                                                             \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct cm_test_case cases[] = {__VA_ARGS__};                                  \
        return cm_test_run(cases, sizeof cases / sizeof cases[0]);                                 \
    }

#endif
