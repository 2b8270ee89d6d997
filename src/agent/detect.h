/*
 * detect.h: the agent's total resources and attributes (docs/wire-protocol.md §9, §12.3).
 *
 * Detection reads the machine once (cm_detect_sysinfo); the arithmetic that turns those
 * numbers into Mesos's defaults is separate (cm_detect_resources) so tests feed it made-up
 * machines. --resources entries replace detected entries of the same name; anything else the
 * flag names is added. --attributes "rack:r1;zone:z2;cores:8;ids:[1-5]" yields TEXT, SCALAR
 * and RANGES attributes (SET is refused, as Mesos does).
 */
#ifndef CM_AGENT_DETECT_H
#define CM_AGENT_DETECT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "resources.h"

/* What the machine has; zero means "could not tell" (a fallback is used). */
struct cm_sysinfo {
    long ncpus;
    uint64_t mem_bytes;
    uint64_t disk_bytes; /* size of the file system holding work_dir */
};

/* Fills si from sysconf/sysinfo/statvfs(work_dir). Never fails; unknown values stay 0. */
void cm_detect_sysinfo(const char *work_dir, struct cm_sysinfo *si);

/* Mesos's defaults in MB: mem = total - 1 GB if total >= 2 GB else total / 2 (1 GB if
 * unknown); disk = fs - 5 GB if fs >= 10 GB else fs / 2 (10 GB if unknown). */
uint64_t cm_detect_mem_mb(uint64_t mem_bytes);
uint64_t cm_detect_disk_mb(uint64_t disk_bytes);

/* The agent's total: detected cpus/mem/disk/ports with --resources (text or JSON; may be
 * NULL) overriding by name. out is appended to. Returns 0 or CM_EINVAL with why. */
int cm_detect_resources(const struct cm_sysinfo *si, const char *resources_flag,
                        const char *default_role, struct cm_resources *out, char *why,
                        size_t whylen);

/* Parsed --attributes. */
struct cm_attributes {
    Mesos__V1__Attribute **v;
    size_t n;
};

/* Parses text (NULL or "" = none) into attrs (which must be zeroed). Returns 0 or CM_EINVAL
 * with why naming the attribute. */
int cm_attributes_parse(struct cm_attributes *attrs, const char *text, char *why, size_t whylen);
void cm_attributes_cleanup(struct cm_attributes *attrs);
/* The /state "attributes" object: name -> number | "text" | "[b-e, b-e]". */
json_t *cm_attributes_json(const struct cm_attributes *attrs);

#endif
