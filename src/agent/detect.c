/*
 * detect.c: resource detection and --attributes parsing.
 */
#include "detect.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "errors.h"
#include "util.h"

#define MB (1024ULL * 1024ULL)
#define GB (1024ULL * MB)

void cm_detect_sysinfo(const char *work_dir, struct cm_sysinfo *si)
{
    memset(si, 0, sizeof *si);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    si->ncpus = n > 0 ? n : 0;
    struct sysinfo info;
    if (sysinfo(&info) == 0)
        si->mem_bytes = (uint64_t)info.totalram * info.mem_unit;
    struct statvfs vfs;
    if (work_dir && statvfs(work_dir, &vfs) == 0)
        si->disk_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
}

uint64_t cm_detect_mem_mb(uint64_t mem_bytes)
{
    if (mem_bytes == 0)
        return 1024;
    if (mem_bytes >= 2 * GB)
        return (mem_bytes - GB) / MB;
    return mem_bytes / 2 / MB;
}

uint64_t cm_detect_disk_mb(uint64_t disk_bytes)
{
    if (disk_bytes == 0)
        return 10 * 1024;
    if (disk_bytes >= 10 * GB)
        return (disk_bytes - 5 * GB) / MB;
    return disk_bytes / 2 / MB;
}

static int has_name(const struct cm_resources *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return 1;
    return 0;
}

int cm_detect_resources(const struct cm_sysinfo *si, const char *resources_flag,
                        const char *default_role, struct cm_resources *out, char *why,
                        size_t whylen)
{
    struct cm_resources given, detected;
    cm_resources_init(&given);
    cm_resources_init(&detected);
    int rc = 0;
    if (resources_flag && *resources_flag) {
        rc = cm_resources_parse(&given, resources_flag, default_role, why, whylen);
        if (rc != 0)
            goto done;
    }
    char text[256];
    long cpus = si->ncpus > 0 ? si->ncpus : 1;
    snprintf(text, sizeof text, "cpus:%ld;mem:%llu;disk:%llu;ports:[31000-32000]", cpus,
             (unsigned long long)cm_detect_mem_mb(si->mem_bytes),
             (unsigned long long)cm_detect_disk_mb(si->disk_bytes));
    rc = cm_resources_parse(&detected, text, default_role, why, whylen);
    if (rc != 0)
        goto done;
    cm_resources_add(out, &given);
    for (size_t i = 0; i < detected.n; i++) {
        if (has_name(&given, detected.v[i].name))
            continue;
        struct cm_resources one = {.v = &detected.v[i], .n = 1, .cap = 1};
        cm_resources_add(out, &one);
    }
done:
    cm_resources_cleanup(&given);
    cm_resources_cleanup(&detected);
    return rc;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* "[1-5,7-9]" -> ranges; returns 0 or -1. */
static int parse_ranges(const char *text, Mesos__V1__Value__Ranges *ranges)
{
    size_t len = strlen(text);
    if (len < 2 || text[0] != '[' || text[len - 1] != ']')
        return -1;
    char *body = cm_xstrndup(text + 1, len - 2);
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(body, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (!*t)
            continue;
        char *end;
        errno = 0;
        unsigned long long b = strtoull(t, &end, 10);
        end = trim(end);
        if (errno || end == t || *end != '-') {
            rc = -1;
            break;
        }
        char *e2;
        char *rest = trim(end + 1);
        unsigned long long e = strtoull(rest, &e2, 10);
        if (errno || e2 == rest || *trim(e2) != '\0' || b > e || !isdigit((unsigned char)*t)) {
            rc = -1;
            break;
        }
        Mesos__V1__Value__Range *r = cm_xcalloc(1, sizeof *r);
        mesos__v1__value__range__init(r);
        r->begin = b;
        r->end = e;
        ranges->range = realloc(ranges->range, (ranges->n_range + 1) * sizeof *ranges->range);
        if (!ranges->range)
            abort();
        ranges->range[ranges->n_range++] = r;
    }
    free(body);
    return rc;
}

static int parse_one(const char *name, char *value, Mesos__V1__Attribute *a, char *why,
                     size_t whylen)
{
    a->name = strdup(name);
    if (!a->name)
        abort();
    if (*value == '\0')
        return cm_fail(CM_EINVAL, why, whylen, "Empty value for attribute '%s'", name);
    if (value[0] == '{')
        return cm_fail(CM_EINVAL, why, whylen,
                       "Attribute '%s': SET values are not allowed for attributes", name);
    if (value[0] == '[') {
        a->type = MESOS__V1__VALUE__TYPE__RANGES;
        a->ranges = cm_xcalloc(1, sizeof *a->ranges);
        mesos__v1__value__ranges__init(a->ranges);
        if (parse_ranges(value, a->ranges) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "Bad ranges value for attribute '%s': %s", name,
                           value);
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(value, &end);
    if (errno == 0 && *end == '\0' && isfinite(d) &&
        (isdigit((unsigned char)value[0]) || value[0] == '-' || value[0] == '.')) {
        a->type = MESOS__V1__VALUE__TYPE__SCALAR;
        a->scalar = cm_xcalloc(1, sizeof *a->scalar);
        mesos__v1__value__scalar__init(a->scalar);
        a->scalar->value = d;
        return 0;
    }
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return cm_fail(CM_EINVAL, why, whylen, "Attribute '%s' contains control characters",
                           name);
    a->type = MESOS__V1__VALUE__TYPE__TEXT;
    a->text = cm_xcalloc(1, sizeof *a->text);
    mesos__v1__value__text__init(a->text);
    a->text->value = strdup(value);
    if (!a->text->value)
        abort();
    return 0;
}

int cm_attributes_parse(struct cm_attributes *attrs, const char *text, char *why, size_t whylen)
{
    if (!text || !*text)
        return 0;
    char *copy = strdup(text);
    if (!copy)
        abort();
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *t = trim(tok);
        if (!*t)
            continue;
        char *colon = strchr(t, ':');
        if (!colon) {
            rc = cm_fail(CM_EINVAL, why, whylen, "Bad attribute '%s': expected name:value", t);
            break;
        }
        *colon = '\0';
        char *name = trim(t);
        char *value = trim(colon + 1);
        if (!*name) {
            rc = cm_fail(CM_EINVAL, why, whylen, "Bad attribute: empty name");
            break;
        }
        Mesos__V1__Attribute *a = cm_xcalloc(1, sizeof *a);
        mesos__v1__attribute__init(a);
        attrs->v = realloc(attrs->v, (attrs->n + 1) * sizeof *attrs->v);
        if (!attrs->v)
            abort();
        attrs->v[attrs->n++] = a;
        rc = parse_one(name, value, a, why, whylen);
        if (rc != 0)
            break;
    }
    free(copy);
    if (rc != 0)
        cm_attributes_cleanup(attrs);
    return rc;
}

void cm_attributes_cleanup(struct cm_attributes *attrs)
{
    for (size_t i = 0; i < attrs->n; i++)
        protobuf_c_message_free_unpacked(&attrs->v[i]->base, NULL);
    free(attrs->v);
    attrs->v = NULL;
    attrs->n = 0;
}

json_t *cm_attributes_json(const struct cm_attributes *attrs)
{
    json_t *o = json_object();
    for (size_t i = 0; i < attrs->n; i++) {
        const Mesos__V1__Attribute *a = attrs->v[i];
        json_t *v = NULL;
        if (a->type == MESOS__V1__VALUE__TYPE__SCALAR && a->scalar) {
            v = json_real(a->scalar->value);
        } else if (a->type == MESOS__V1__VALUE__TYPE__TEXT && a->text) {
            v = json_string(a->text->value);
        } else if (a->type == MESOS__V1__VALUE__TYPE__RANGES && a->ranges) {
            size_t cap = 3 + a->ranges->n_range * 48;
            char *buf = cm_xcalloc(1, cap);
            size_t off = 0;
            buf[off++] = '[';
            for (size_t j = 0; j < a->ranges->n_range; j++)
                off += (size_t)snprintf(buf + off, cap - off, "%s%llu-%llu", j ? ", " : "",
                                        (unsigned long long)a->ranges->range[j]->begin,
                                        (unsigned long long)a->ranges->range[j]->end);
            buf[off++] = ']';
            v = json_string(buf);
            free(buf);
        }
        if (v)
            json_object_set_new(o, a->name, v);
    }
    return o;
}
