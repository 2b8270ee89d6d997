/*
 * flags.h: command-line flags with Mesos's conventions (docs/wire-protocol.md §12).
 *
 * A daemon describes its flags in a static table of struct cm_flag pointing into its own
 * read-only settings struct. cm_flags_parse accepts "--name=value", "--name value" is NOT
 * accepted (Mesos does not either), booleans as "--name", "--no-name" or "--name=true|false",
 * a value "file:///path" read from that file (trimmed) where the flag allows it, and falls
 * back to the environment variable MESOS_<NAME> (upper-cased) for flags not on the command
 * line. "--help" returns CM_EHELP after printing usage to stdout. Unknown flags, bad values and
 * missing required flags fail with CM_EINVAL and a why naming the flag.
 *
 * Durations use stout's form: a number followed by ns, us, ms, secs, mins, hrs, days or weeks
 * ("5secs", "1.5mins"); a bare number is seconds.
 */
#ifndef CM_FLAGS_H
#define CM_FLAGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cm_flag_type {
    CM_FLAG_STRING,   /* char ** (malloc'd copy; the default is a static string, not freed) */
    CM_FLAG_BOOL,     /* bool * */
    CM_FLAG_INT,      /* long * */
    CM_FLAG_DOUBLE,   /* double * */
    CM_FLAG_DURATION, /* double * seconds */
    CM_FLAG_BYTES,    /* uint64_t * bytes: "512MB", "2GB", or a bare number of bytes */
};

struct cm_flag {
    const char *name;  /* without "--" */
    const char *alias; /* legacy spelling (e.g. "slave_ping_timeout") or NULL */
    enum cm_flag_type type;
    void *dst;
    const char *help;
    bool required;
    bool set; /* filled by cm_flags_parse: given on the command line or environment */
};

/* Appends a flag to a table of cap entries of which *n are used, and counts it. A full table
 * aborts: tables are sized at compile time, so that is a programming error. */
void cm_flags_add(struct cm_flag *flags, size_t cap, size_t *n, const char *name, const char *alias,
                  enum cm_flag_type type, void *dst, const char *help, bool required);

/* Parses argv (argv[0] is the program) into the table. prog and summary are used by --help.
 * Returns 0, CM_EHELP, or CM_EINVAL with why like "Failed to load flag 'port': ...". */
int cm_flags_parse(struct cm_flag *flags, size_t n, int argc, char **argv, const char *summary,
                   char *why, size_t whylen);

/* Prints usage for the table to f. */
void cm_flags_usage(const struct cm_flag *flags, size_t n, const char *prog, const char *summary,
                    FILE *f);

/* JSON object name -> string value of every flag with a value (set or defaulted), as served in
 * /master/state "flags" and /flags. */
json_t *cm_flags_to_json(const struct cm_flag *flags, size_t n);

/* Frees the strings parse allocated (STRING flags that were set). */
void cm_flags_cleanup(struct cm_flag *flags, size_t n);

/* The longest duration, as Mesos's Duration (int64 nanoseconds) holds it, in seconds. */
#define CM_DURATION_MAX 9223372036.854775807

/* "5secs" -> 5.0. Returns 0 or CM_EINVAL (also beyond CM_DURATION_MAX, as Mesos). */
int cm_duration_parse(const char *text, double *secs);
/* 5.0 -> "5secs", 900 -> "15mins", 90 -> "1.5mins": like stout, the largest unit the value
 * reaches, with a fractional count when needed; into buf. */
void cm_duration_format(double secs, char *buf, size_t len);
/* "512MB" -> bytes. Returns 0 or CM_EINVAL. */
int cm_bytes_parse(const char *text, uint64_t *bytes);

#endif
