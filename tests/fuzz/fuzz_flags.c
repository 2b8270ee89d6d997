/* fuzz_flags.c: command-line flags — cm_flags_parse on a fuzzer-made argv, over a table with
 * every flag type and over mesos-master's real table (with its checks after parsing), and the
 * duration and byte-size parsers.
 *
 * Input: byte 0 picks the table (bit 0); the rest is split at '\n' into argv[1..] (at most 64).
 * "file://" is defused first (a flag value naming a file would be read from the machine).
 * Properties: a refusal says why; what /flags would show (cm_flags_to_json) parses back to
 * the same values; durations and sizes print in a form that parses back to the same value. */
#include <math.h>
#include <stdbool.h>

#include "errors.h"
#include "flags.h"
#include "fuzz.h"
#include "master_flags.h"

#define MAX_ARGS 64

struct table {
    char *s1, *s2;
    bool b1, b2;
    long i1;
    double d1, t1, t2;
    uint64_t y1;
    struct cm_flag flags[16];
    size_t n;
};

static void table_init(struct table *t)
{
    memset(t, 0, sizeof *t);
    t->b2 = true;
    t->t1 = 5;
    t->y1 = 1024;
    t->s2 = "default";
    cm_flags_add(t->flags, 16, &t->n, "name", NULL, CM_FLAG_STRING, &t->s1, "a string", false);
    cm_flags_add(t->flags, 16, &t->n, "work_dir", "old_dir", CM_FLAG_STRING, &t->s2, "aliased",
                 false);
    cm_flags_add(t->flags, 16, &t->n, "checkpoint", NULL, CM_FLAG_BOOL, &t->b1, "a bool", false);
    cm_flags_add(t->flags, 16, &t->n, "hostname_lookup", NULL, CM_FLAG_BOOL, &t->b2, "bool", false);
    cm_flags_add(t->flags, 16, &t->n, "port", NULL, CM_FLAG_INT, &t->i1, "an int", false);
    cm_flags_add(t->flags, 16, &t->n, "weight", NULL, CM_FLAG_DOUBLE, &t->d1, "a double", false);
    cm_flags_add(t->flags, 16, &t->n, "timeout", "slave_timeout", CM_FLAG_DURATION, &t->t1,
                 "a duration", false);
    cm_flags_add(t->flags, 16, &t->n, "interval", NULL, CM_FLAG_DURATION, &t->t2, "dur", false);
    cm_flags_add(t->flags, 16, &t->n, "size", NULL, CM_FLAG_BYTES, &t->y1, "bytes", false);
}

static int args_from_json(json_t *o, char **argv, size_t cap)
{
    int argc = 1;
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        FUZZ_ASSERT(json_is_string(val));
        FUZZ_ASSERT((size_t)argc < cap);
        size_t n = strlen(key) + strlen(json_string_value(val)) + 4;
        argv[argc] = malloc(n);
        FUZZ_ASSERT(argv[argc] != NULL);
        snprintf(argv[argc], n, "--%s=%s", key, json_string_value(val));
        argc++;
    }
    return argc;
}

/* The values a parsed table shows parse back into a fresh table showing the same. */
static void generic_round_trip(struct table *t)
{
    json_t *shown = cm_flags_to_json(t->flags, t->n);
    char *argv[32] = {"fuzz"};
    int argc = args_from_json(shown, argv, 32);
    struct table u;
    table_init(&u);
    char why[512];
    int rc = cm_flags_parse(u.flags, u.n, argc, argv, "fuzz", why, sizeof why);
    if (rc)
        fprintf(stderr, "shown flags do not parse back: %s\n", why);
    FUZZ_ASSERT(rc == 0);
    json_t *again = cm_flags_to_json(u.flags, u.n);
    if (!json_equal(shown, again)) {
        char *a = json_dumps(shown, JSON_SORT_KEYS), *b = json_dumps(again, JSON_SORT_KEYS);
        fprintf(stderr, "flags round trip differs:\n%s\n%s\n", a, b);
        free(a);
        free(b);
    }
    FUZZ_ASSERT(json_equal(shown, again));
    json_decref(again);
    json_decref(shown);
    for (int i = 1; i < argc; i++)
        free(argv[i]);
    cm_flags_cleanup(u.flags, u.n);
}

static void value_parsers(const char *s)
{
    double secs = -42;
    int rc = cm_duration_parse(s, &secs);
    FUZZ_ASSERT(rc == 0 || rc == CM_EINVAL);
    if (rc == 0) {
        FUZZ_ASSERT(isfinite(secs) && secs >= 0);
        char buf[128];
        cm_duration_format(secs, buf, sizeof buf);
        double back = -1;
        rc = cm_duration_parse(buf, &back);
        if (rc != 0 || fabs(back - secs) > 1e-9 * (secs > 1 ? secs : 1))
            fprintf(stderr, "duration '%s' = %.17g prints as '%s', reads back %d %.17g\n", s, secs,
                    buf, rc, back);
        FUZZ_ASSERT(rc == 0);
        FUZZ_ASSERT(fabs(back - secs) <= 1e-9 * (secs > 1 ? secs : 1));
    }
    uint64_t bytes = 0;
    rc = cm_bytes_parse(s, &bytes);
    FUZZ_ASSERT(rc == 0 || rc == CM_EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool master = data[0] & 1;
    char *text = fuzz_strndup(data + 1, size - 1);
    for (char *p = text; (p = strstr(p, "file://")) != NULL;)
        p[3] = '_';
    char *argv[MAX_ARGS + 1] = {"fuzz"};
    int argc = 1;
    char *save = NULL;
    for (char *a = strtok_r(text, "\n", &save); a && argc <= MAX_ARGS;
         a = strtok_r(NULL, "\n", &save)) {
        if (strncmp(a, "--help", 6) == 0)
            continue; /* prints the usage and returns CM_EHELP: nothing to learn */
        argv[argc++] = a;
        value_parsers(a);
        const char *eq = strchr(a, '=');
        if (eq)
            value_parsers(eq + 1);
    }

    char why[512];
    why[0] = '\0';
    if (master) {
        struct cm_master_flags f;
        cm_master_flags_init(&f);
        int rc = cm_master_flags_parse(&f, argc, argv, why, sizeof why);
        FUZZ_ASSERT(rc == 0 || (rc == CM_EINVAL && why[0] != '\0'));
        cm_master_flags_cleanup(&f);
    } else {
        struct table t;
        table_init(&t);
        int rc = cm_flags_parse(t.flags, t.n, argc, argv, "fuzz", why, sizeof why);
        FUZZ_ASSERT(rc == 0 || (rc == CM_EINVAL && why[0] != '\0'));
        /* /flags is JSON: a value that is not UTF-8 cannot be shown as it was given. */
        bool utf8 = true;
        for (int i = 1; i < argc; i++) {
            json_t *probe = json_string(argv[i]);
            utf8 = utf8 && probe;
            json_decref(probe);
        }
        if (rc == 0 && utf8)
            generic_round_trip(&t);
        cm_flags_cleanup(t.flags, t.n);
    }
    free(text);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* No MESOS_* fallbacks from the fuzzing machine's environment. */
    extern char **environ;
    for (size_t i = 0; environ[i];) {
        if (strncmp(environ[i], "MESOS_", 6) == 0) {
            char name[256];
            size_t n = strcspn(environ[i], "=");
            snprintf(name, sizeof name, "%.*s", (int)n, environ[i]);
            unsetenv(name);
            continue;
        }
        i++;
    }
    return 0;
}
