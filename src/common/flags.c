/*
 * flags.c: Mesos-style command-line flags. Parsing is two passes: the command line first
 * (so it wins), then MESOS_<NAME> environment variables for flags still unset, then the
 * required check.
 */
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* Values read through file:// are configuration, not bulk data; refuse anything larger. */
#define CM_FLAGS_MAX_FILE (16u << 20)

static struct cm_flag *flag_find(struct cm_flag *flags, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
            return &flags[i];
        if (flags[i].alias && strlen(flags[i].alias) == len &&
            memcmp(flags[i].alias, name, len) == 0)
            return &flags[i];
    }
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    return CM_EINVAL;
}

/* Reads a file:// value, trimming surrounding whitespace as Mesos does. */
static int read_file_value(const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cm_fail(CM_EINVAL, err, errlen, "cannot read '%s': %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= CM_FLAGS_MAX_FILE) {
                fclose(f);
                free(buf);
                return cm_fail(CM_EINVAL, err, errlen, "file '%s' is too large", path);
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                abort();
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        if (got == 0)
            break;
        len += got;
    }
    int ferr = ferror(f);
    fclose(f);
    if (ferr) {
        free(buf);
        return cm_fail(CM_EINVAL, err, errlen, "error reading '%s'", path);
    }
    buf[len] = '\0';
    size_t start = 0;
    while (start < len && isspace((unsigned char)buf[start]))
        start++;
    while (len > start && isspace((unsigned char)buf[len - 1]))
        len--;
    memmove(buf, buf + start, len - start);
    buf[len - start] = '\0';
    *out = buf;
    return 0;
}

/* Stores value into flag f; err receives the reason on failure (without the flag name). */
static int flag_assign(struct cm_flag *f, const char *value, char *err, size_t errlen)
{
    char *end;
    switch (f->type) {
    case CM_FLAG_STRING: {
        char *copy = NULL;
        if (strncmp(value, "file://", 7) == 0) {
            int rc = read_file_value(value + 7, &copy, err, errlen);
            if (rc)
                return rc;
        } else {
            copy = strdup(value);
            if (!copy)
                abort();
        }
        char **dst = f->dst;
        if (f->set)
            free(*dst);
        *dst = copy;
        break;
    }
    case CM_FLAG_BOOL:
        if (parse_bool(value, f->dst) != 0)
            return cm_fail(CM_EINVAL, err, errlen, "expected 'true' or 'false', got '%s'", value);
        break;
    case CM_FLAG_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno)
            return cm_fail(CM_EINVAL, err, errlen, "expected an integer, got '%s'", value);
        *(long *)f->dst = v;
        break;
    }
    case CM_FLAG_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v))
            return cm_fail(CM_EINVAL, err, errlen, "expected a number, got '%s'", value);
        *(double *)f->dst = v;
        break;
    }
    case CM_FLAG_DURATION:
        if (cm_duration_parse(value, f->dst) != 0)
            return cm_fail(CM_EINVAL, err, errlen, "expected a duration like '5secs', got '%s'",
                           value);
        break;
    case CM_FLAG_BYTES:
        if (cm_bytes_parse(value, f->dst) != 0)
            return cm_fail(CM_EINVAL, err, errlen, "expected a size like '512MB', got '%s'", value);
        break;
    }
    f->set = true;
    return 0;
}

static int flag_load(struct cm_flag *f, const char *value, char *why, size_t whylen)
{
    char err[256];
    if (flag_assign(f, value, err, sizeof err) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag '%s': %s", f->name, err);
    return 0;
}

static const struct cm_flag_known *known_find(const struct cm_flags_known *known, const char *name,
                                              size_t len)
{
    for (size_t i = 0; known && i < known->n; i++) {
        const struct cm_flag_known *k = &known->list[i];
        if (strlen(k->name) == len && memcmp(k->name, name, len) == 0)
            return k;
        if (k->alias && strlen(k->alias) == len && memcmp(k->alias, name, len) == 0)
            return k;
    }
    return NULL;
}

/* Whether value (an item list "a,b") is made only of items in accept ("a|b"). */
static bool value_accepted(const char *accept, const char *value)
{
    if (!accept || !*value)
        return false;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool ok = false;
        for (const char *a = accept; *a;) {
            const char *bar = strchr(a, '|');
            size_t alen = bar ? (size_t)(bar - a) : strlen(a);
            if (alen == len && memcmp(a, p, len) == 0)
                ok = true;
            a += alen + (bar ? 1 : 0);
        }
        if (!ok)
            return false;
        if (!comma)
            return true;
        p = comma + 1;
    }
}

/* A known Mesos flag given with value (NULL when given bare or negated). */
static int known_load(struct cm_flags_known *known, const struct cm_flag_known *k,
                      const char *value, bool negated, char *why, size_t whylen)
{
    if (k->boolean && value && strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Failed to load flag '%s': expected 'true' or 'false', got '%s'", k->name,
                       value);
    if (!k->boolean && (negated || !value))
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag '%s': %s", k->name,
                       negated ? "'--no-' is only for boolean flags" : "missing value");
    switch (k->fate) {
    case CM_FLAG_ELSEWHERE:
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag '--%s' is not available in this build of cmesos: it comes with %s",
                       k->name, k->note);
    case CM_FLAG_REFUSED:
        if (!value_accepted(k->accept, value ? value : ""))
            return cm_fail(CM_EINVAL, why, whylen, "Flag '--%s%s%s' is not supported by cmesos: %s",
                           k->name, value ? "=" : "", value ? value : "", k->note);
        break;
    case CM_FLAG_NO_EFFECT: break;
    }
    for (size_t i = 0; i < known->nignored; i++)
        if (known->ignored[i] == k)
            return cm_fail(CM_EINVAL, why, whylen, "Flag '%s' given more than once", k->name);
    if (known->nignored < CM_FLAGS_MAX_IGNORED)
        known->ignored[known->nignored++] = k;
    return 0;
}

/* Handles one "--..." argument (arg points after the dashes). */
static int parse_arg(struct cm_flag *flags, size_t n, struct cm_flags_known *known, const char *arg,
                     char *why, size_t whylen)
{
    const char *eq = strchr(arg, '=');
    size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
    struct cm_flag *f = flag_find(flags, n, arg, namelen);
    bool negated = false;
    if (!f && namelen > 3 && strncmp(arg, "no-", 3) == 0) {
        f = flag_find(flags, n, arg + 3, namelen - 3);
        negated = f != NULL;
    }
    if (!f) {
        const struct cm_flag_known *k = known_find(known, arg, namelen);
        bool kneg = false;
        if (!k && namelen > 3 && strncmp(arg, "no-", 3) == 0) {
            k = known_find(known, arg + 3, namelen - 3);
            kneg = k != NULL;
        }
        if (k) {
            if (kneg && eq)
                return cm_fail(CM_EINVAL, why, whylen,
                               "Failed to load flag '%s': '--no-%s' takes no value", k->name,
                               k->name);
            return known_load(known, k,
                              kneg         ? "false"
                              : eq         ? eq + 1
                              : k->boolean ? "true"
                                           : NULL,
                              kneg && !k->boolean, why, whylen);
        }
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load unknown flag '%.*s'", (int)namelen,
                       arg);
    }
    if (f->set)
        return cm_fail(CM_EINVAL, why, whylen, "Flag '%s' given more than once", f->name);
    if (negated) {
        if (f->type != CM_FLAG_BOOL || eq)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Failed to load flag '%s': '--no-%s' is only for boolean flags "
                           "and takes no value",
                           f->name, f->name);
        return flag_load(f, "false", why, whylen);
    }
    if (!eq) {
        if (f->type != CM_FLAG_BOOL)
            return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag '%s': missing value",
                           f->name);
        return flag_load(f, "true", why, whylen);
    }
    return flag_load(f, eq + 1, why, whylen);
}

static const char *env_lookup(const char *name)
{
    char var[256];
    size_t len = strlen(name);
    if (len + 7 > sizeof var)
        return NULL;
    memcpy(var, "MESOS_", 6);
    for (size_t i = 0; i < len; i++)
        var[6 + i] = (char)toupper((unsigned char)name[i]);
    var[6 + len] = '\0';
    return getenv(var);
}

void cm_flags_add(struct cm_flag *flags, size_t cap, size_t *n, const char *name, const char *alias,
                  enum cm_flag_type type, void *dst, const char *help, bool required)
{
    if (*n >= cap)
        abort();
    struct cm_flag *fl = &flags[(*n)++];
    memset(fl, 0, sizeof *fl);
    fl->name = name;
    fl->alias = alias;
    fl->type = type;
    fl->dst = dst;
    fl->help = help;
    fl->required = required;
}

int cm_flags_parse(struct cm_flag *flags, size_t n, int argc, char **argv, const char *summary,
                   char *why, size_t whylen)
{
    return cm_flags_parse_with(flags, n, NULL, argc, argv, summary, why, whylen);
}

/* Whether a known flag was already loaded from the command line. */
static bool known_given(const struct cm_flags_known *known, const struct cm_flag_known *k)
{
    for (size_t i = 0; i < known->nignored; i++)
        if (known->ignored[i] == k)
            return true;
    return false;
}

int cm_flags_parse_with(struct cm_flag *flags, size_t n, struct cm_flags_known *known, int argc,
                        char **argv, const char *summary, char *why, size_t whylen)
{
    if (known)
        known->nignored = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "--help=true") == 0) {
            cm_flags_usage_with(flags, n, known, argc > 0 ? argv[0] : "program", summary, stdout);
            return CM_EHELP;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0' || a[2] == '=')
            return cm_fail(CM_EINVAL, why, whylen, "Failed to load unknown argument '%s'", a);
        int rc = parse_arg(flags, n, known, a + 2, why, whylen);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct cm_flag *f = &flags[i];
        if (f->set)
            continue;
        const char *v = env_lookup(f->name);
        if (!v && f->alias)
            v = env_lookup(f->alias);
        if (v) {
            int rc = flag_load(f, v, why, whylen);
            if (rc)
                return rc;
        }
    }
    /* Known Mesos flags in the environment are handled as on the command line, unless the
     * table implements the name (then the loop above has read it). */
    for (size_t i = 0; known && i < known->n; i++) {
        const struct cm_flag_known *k = &known->list[i];
        if (flag_find(flags, n, k->name, strlen(k->name)) || known_given(known, k))
            continue;
        const char *v = env_lookup(k->name);
        if (!v && k->alias)
            v = env_lookup(k->alias);
        if (v) {
            int rc = known_load(known, k, v, false, why, whylen);
            if (rc)
                return rc;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (flags[i].required && !flags[i].set)
            return cm_fail(CM_EINVAL, why, whylen, "Flag '%s' is required, but it was not provided",
                           flags[i].name);
    }
    return 0;
}

static void value_format(const struct cm_flag *f, char *buf, size_t len);

/* Prints "text" wrapped at 100 columns with the first line after a 40-column left part. */
static void print_help_line(FILE *f, const char *left, const char *text)
{
    fprintf(f, "%-40s", left);
    size_t col = strlen(left) < 40 ? 40 : strlen(left);
    if (col > 40) {
        fputs("\n", f);
        fprintf(f, "%-40s", "");
        col = 40;
    }
    const char *p = text;
    bool first = true;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (!w)
            break;
        if (!first && col + 1 + w > 100) {
            fprintf(f, "\n%-40s", "");
            col = 40;
            first = true;
        }
        if (!first) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, w, f);
        col += w;
        p += w;
        first = false;
    }
    fputc('\n', f);
}

static void usage_left(char *left, size_t len, const char *name, bool boolean)
{
    if (boolean)
        snprintf(left, len, "  --[no-]%s", name);
    else
        snprintf(left, len, "  --%s=VALUE", name);
}

void cm_flags_usage(const struct cm_flag *flags, size_t n, const char *prog, const char *summary,
                    FILE *f)
{
    cm_flags_usage_with(flags, n, NULL, prog, summary, f);
}

void cm_flags_usage_with(const struct cm_flag *flags, size_t n, const struct cm_flags_known *known,
                         const char *prog, const char *summary, FILE *f)
{
    /* A summary that carries its own usage line replaces the generic one. */
    if (!summary || strncmp(summary, "Usage:", 6) != 0)
        fprintf(f, "Usage: %s [options]\n\n", prog ? prog : "program");
    if (summary && *summary)
        fprintf(f, "%s\n\n", summary);
    for (size_t i = 0; i < n; i++) {
        const struct cm_flag *fl = &flags[i];
        char left[160], text[2048], value[256];
        usage_left(left, sizeof left, fl->name, fl->type == CM_FLAG_BOOL);
        const char *help = fl->help ? fl->help : "";
        value_format(fl, value, sizeof value);
        bool says_default = strstr(help, "efault") != NULL;
        bool show = !says_default && value[0];
        snprintf(text, sizeof text, "%s%s%s%s%s", help, fl->required ? " (required)" : "",
                 show ? " (default: " : "", show ? value : "", show ? ")" : "");
        print_help_line(f, left, text);
        if (fl->alias)
            fprintf(f, "%-40s (also --%s)\n", "", fl->alias);
    }
    static const struct {
        enum cm_flag_fate fate;
        const char *title;
    } sections[] = {{CM_FLAG_NO_EFFECT, CM_FLAGS_HELP_NO_EFFECT},
                    {CM_FLAG_REFUSED, CM_FLAGS_HELP_REFUSED},
                    {CM_FLAG_ELSEWHERE, CM_FLAGS_HELP_ELSEWHERE}};
    for (size_t s = 0; known && s < sizeof sections / sizeof sections[0]; s++) {
        bool any = false;
        for (size_t i = 0; i < known->n; i++) {
            const struct cm_flag_known *k = &known->list[i];
            if (k->fate != sections[s].fate ||
                flag_find((struct cm_flag *)flags, n, k->name, strlen(k->name)))
                continue;
            if (!any)
                fprintf(f, "\n%s\n", sections[s].title);
            any = true;
            char left[160], text[1024];
            usage_left(left, sizeof left, k->name, k->boolean);
            if (k->accept)
                snprintf(text, sizeof text, "%s (accepted with no effect: %s)", k->note, k->accept);
            else
                snprintf(text, sizeof text, "%s", k->note);
            print_help_line(f, left, text);
            if (k->alias)
                fprintf(f, "%-40s (also --%s)\n", "", k->alias);
        }
    }
}

const struct cm_flag *cm_flags_find(const struct cm_flag *flags, size_t n, const char *name)
{
    return flag_find((struct cm_flag *)flags, n, name, strlen(name));
}

const struct cm_flag_known *cm_flags_known_find(const struct cm_flags_known *known,
                                                const char *name)
{
    return known_find(known, name, strlen(name));
}

void cm_flags_ignored_message(const struct cm_flag_known *k, char *buf, size_t len)
{
    if (k->fate == CM_FLAG_NO_EFFECT)
        snprintf(buf, len, "Flag '--%s' has no effect in cmesos: %s", k->name, k->note);
    else
        snprintf(buf, len,
                 "Flag '--%s' is accepted with no effect in cmesos for the value given "
                 "(cmesos supports only %s)",
                 k->name, k->accept ? k->accept : "its default");
}

static void bytes_format(uint64_t b, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        uint64_t size;
    } units[] = {{"TB", 1ull << 40}, {"GB", 1ull << 30}, {"MB", 1ull << 20}, {"KB", 1ull << 10}};
    for (size_t i = 0; b && i < sizeof units / sizeof units[0]; i++) {
        if (b % units[i].size == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", b / units[i].size, units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64 "B", b);
}

/* A flag's current value as text, or "" when a string flag has none. */
static void value_format(const struct cm_flag *f, char *buf, size_t len)
{
    buf[0] = '\0';
    switch (f->type) {
    case CM_FLAG_STRING: {
        const char *s = *(char *const *)f->dst;
        if (s)
            snprintf(buf, len, "%s", s);
        break;
    }
    case CM_FLAG_BOOL: snprintf(buf, len, "%s", *(const bool *)f->dst ? "true" : "false"); break;
    case CM_FLAG_INT: snprintf(buf, len, "%ld", *(const long *)f->dst); break;
    case CM_FLAG_DOUBLE: snprintf(buf, len, "%.15g", *(const double *)f->dst); break;
    case CM_FLAG_DURATION: cm_duration_format(*(const double *)f->dst, buf, len); break;
    case CM_FLAG_BYTES: bytes_format(*(const uint64_t *)f->dst, buf, len); break;
    }
}

json_t *cm_flags_to_json(const struct cm_flag *flags, size_t n)
{
    json_t *o = json_object();
    if (!o)
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct cm_flag *f = &flags[i];
        if (f->type == CM_FLAG_STRING) {
            const char *s = *(char *const *)f->dst;
            if (s)
                json_object_set_new(o, f->name, json_string(s));
            continue;
        }
        char buf[64];
        value_format(f, buf, sizeof buf);
        json_object_set_new(o, f->name, json_string(buf));
    }
    return o;
}

void cm_flags_cleanup(struct cm_flag *flags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (flags[i].type == CM_FLAG_STRING && flags[i].set) {
            char **dst = flags[i].dst;
            free(*dst);
            *dst = NULL;
        }
        flags[i].set = false;
    }
}

/* Parses "<decimal number><suffix>" into the number and a pointer to the suffix. Only plain
 * decimals are accepted (no sign, exponent, hex, inf or nan). */
static int parse_number_prefix(const char *text, double *num, const char **suffix)
{
    const char *p = text;
    int digits = 0, dots = 0;
    while (isdigit((unsigned char)*p) || *p == '.') {
        if (*p == '.')
            dots++;
        else
            digits++;
        p++;
    }
    if (digits == 0 || dots > 1)
        return CM_EINVAL;
    char tmp[64];
    size_t len = (size_t)(p - text);
    if (len >= sizeof tmp)
        return CM_EINVAL;
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    *num = strtod(tmp, NULL);
    if (!isfinite(*num))
        return CM_EINVAL;
    *suffix = p;
    return 0;
}

static const struct {
    const char *unit;
    double secs;
} duration_units[] = {
    {"weeks", 604800.0}, {"days", 86400.0}, {"hrs", 3600.0}, {"mins", 60.0},
    {"secs", 1.0},       {"ms", 1e-3},      {"us", 1e-6},    {"ns", 1e-9},
};

int cm_duration_parse(const char *text, double *secs)
{
    double num;
    const char *suffix;
    if (!text || parse_number_prefix(text, &num, &suffix) != 0)
        return CM_EINVAL;
    for (size_t i = 0; *suffix && i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (strcmp(suffix, duration_units[i].unit) == 0) {
            num *= duration_units[i].secs;
            break;
        }
        if (i + 1 == sizeof duration_units / sizeof duration_units[0])
            return CM_EINVAL;
    }
    /* Mesos's Duration holds int64 nanoseconds (about 292 years) and refuses more. */
    if (num > CM_DURATION_MAX)
        return CM_EINVAL;
    *secs = num;
    return 0;
}

void cm_duration_format(double secs, char *buf, size_t len)
{
    /* Like stout: the largest unit the value reaches, with a fractional count if needed. */
    double a = fabs(secs);
    size_t nunits = sizeof duration_units / sizeof duration_units[0];
    size_t u = nunits - 1;
    for (size_t i = 0; i < nunits; i++) {
        if (a >= duration_units[i].secs * (1 - 1e-12)) {
            u = i;
            break;
        }
    }
    if (secs == 0)
        u = 4; /* "0secs" */
    double v = secs / duration_units[u].secs;
    /* Drop floating-point noise such as 0.1 * 1000 = 100.00000000000001. */
    double r = round(v);
    if (fabs(v - r) < 1e-9 * (fabs(v) > 1 ? fabs(v) : 1))
        v = r;
    /* Fifteen significant digits as %.15g would give, but never in exponent form, which
     * cm_duration_parse (like stout) does not read: /flags and the executor's environment
     * must parse back. At most 20 decimals: anything smaller prints as 0. */
    double mag = fabs(v);
    int decimals = mag > 0 ? 14 - (int)floor(log10(mag)) : 0;
    decimals = decimals < 0 ? 0 : decimals > 20 ? 20 : decimals;
    char num[400];
    snprintf(num, sizeof num, "%.*f", decimals, v);
    if (strchr(num, '.')) {
        size_t n = strlen(num);
        while (num[n - 1] == '0')
            num[--n] = '\0';
        if (num[n - 1] == '.')
            num[--n] = '\0';
    }
    if (strcmp(num, "-0") == 0)
        snprintf(num, sizeof num, "0");
    snprintf(buf, len, "%s%s", num, duration_units[u].unit);
}

int cm_bytes_parse(const char *text, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        double size;
    } units[] = {{"B", 1.0},
                 {"KB", 1024.0},
                 {"MB", 1048576.0},
                 {"GB", 1073741824.0},
                 {"TB", 1099511627776.0}};
    double num;
    const char *suffix;
    if (!text || parse_number_prefix(text, &num, &suffix) != 0)
        return CM_EINVAL;
    double mult = 0;
    if (*suffix == '\0')
        mult = 1.0;
    for (size_t i = 0; !mult && i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(suffix, units[i].unit) == 0)
            mult = units[i].size;
    }
    if (!mult)
        return CM_EINVAL;
    double v = num * mult;
    if (v >= 18446744073709551616.0)
        return CM_EINVAL;
    *bytes = (uint64_t)v;
    return 0;
}
