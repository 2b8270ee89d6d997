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
 * Mesos flags a daemon does not implement are described by a second, constant list (struct
 * cm_flag_known, docs/flags.md): each is accepted with no effect (the daemon logs one warning
 * naming it), refused with a message saying what to use instead, or marked as implemented by a
 * module this build may lack (refused until that module adds the flag to the real table). The
 * list is consulted only for names the real table does not have, so a module that later
 * implements one of these flags just adds it to its table. A name in neither stays fatal.
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

/* What cmesos does with a Mesos flag that is not in a daemon's table. */
enum cm_flag_fate {
    CM_FLAG_NO_EFFECT, /* accepted; the daemon logs one warning at start naming it */
    CM_FLAG_REFUSED,   /* fatal, with note saying what to use instead */
    CM_FLAG_ELSEWHERE, /* implemented by another module (note names it); refused while the
                        * daemon's table lacks it, shadowed once the table has it */
};

struct cm_flag_known {
    const char *name;  /* Mesos's name, without "--" */
    const char *alias; /* Mesos's deprecated name (e.g. "slave_subsystems") or NULL */
    enum cm_flag_fate fate;
    bool boolean; /* takes "--name" / "--no-name" without a value */
    /* REFUSED only: values accepted with no effect, separated by '|' (e.g. "mesos" for
     * --containerizers), or NULL. A list value ("mesos,docker") is accepted only if every
     * comma-separated item is. */
    const char *accept;
    /* NO_EFFECT: why running without it is safe; REFUSED: what to use instead;
     * ELSEWHERE: the feature that implements it. One sentence, no trailing period. */
    const char *note;
};

/* A daemon's list of known Mesos flags plus what parsing found. Not owned: list is static. */
#define CM_FLAGS_MAX_IGNORED 64
struct cm_flags_known {
    const struct cm_flag_known *list;
    size_t n;
    /* Filled by cm_flags_parse_with: the NO_EFFECT flags (or REFUSED flags with an accepted
     * value) given on the command line or in the environment, for the start-up warnings. */
    const struct cm_flag_known *ignored[CM_FLAGS_MAX_IGNORED];
    size_t nignored;
};

/* Appends a flag to a table of cap entries of which *n are used, and counts it. A full table
 * aborts: tables are sized at compile time, so that is a programming error. */
void cm_flags_add(struct cm_flag *flags, size_t cap, size_t *n, const char *name, const char *alias,
                  enum cm_flag_type type, void *dst, const char *help, bool required);

/* Parses argv (argv[0] is the program) into the table. prog and summary are used by --help.
 * Returns 0, CM_EHELP, or CM_EINVAL with why like "Failed to load flag 'port': ...". */
int cm_flags_parse(struct cm_flag *flags, size_t n, int argc, char **argv, const char *summary,
                   char *why, size_t whylen);

/* cm_flags_parse with a list of known Mesos flags (known may be NULL): a name missing from the
 * table but in known->list is handled by its fate; refusals fail with CM_EINVAL and a why
 * naming the flag and what to use instead. --help prints cm_flags_usage_with. */
int cm_flags_parse_with(struct cm_flag *flags, size_t n, struct cm_flags_known *known, int argc,
                        char **argv, const char *summary, char *why, size_t whylen);

/* Prints usage for the table to f. */
void cm_flags_usage(const struct cm_flag *flags, size_t n, const char *prog, const char *summary,
                    FILE *f);
/* Usage followed by the known Mesos flags the table does not implement, in sections headed
 * CM_FLAGS_HELP_NO_EFFECT, CM_FLAGS_HELP_REFUSED and CM_FLAGS_HELP_ELSEWHERE (tests and
 * docs/flags.md parse these). Every table flag shows its default unless its help already says
 * what happens without it. */
void cm_flags_usage_with(const struct cm_flag *flags, size_t n, const struct cm_flags_known *known,
                         const char *prog, const char *summary, FILE *f);
#define CM_FLAGS_HELP_NO_EFFECT                                                                    \
    "Mesos flags accepted with no effect in cmesos (a warning is logged):"
#define CM_FLAGS_HELP_REFUSED "Mesos flags cmesos refuses (use what the note says instead):"
#define CM_FLAGS_HELP_ELSEWHERE "Mesos flags implemented by a module this build does not have:"

/* The table entry or known entry named name (or its alias), for callers that need to tell
 * whether a Mesos flag is implemented. */
const struct cm_flag *cm_flags_find(const struct cm_flag *flags, size_t n, const char *name);
const struct cm_flag_known *cm_flags_known_find(const struct cm_flags_known *known,
                                                const char *name);

/* The one start-up warning line for an ignored flag, e.g. "Flag '--logbufsecs' has no effect in
 * cmesos: ...", into buf. */
void cm_flags_ignored_message(const struct cm_flag_known *k, char *buf, size_t len);

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
