/*
 * records.c: the container record log (records.h). The set is a string map whose values are
 * a non-NULL marker; the log is read line by line at open.
 */
#include "records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "strmap.h"
#include "util.h"

#define REWRITE_SLACK 1024
#define ID_MAX 1024

struct cm_records {
    char *dir;
    char *log;
    struct cm_strmap ids; /* id -> &present */
    size_t lines;         /* lines in the log file */
    bool legacy;          /* dir may hold files of an older version */
};

static char present;

static int mkdir_p(const char *dir)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return CM_ETOOBIG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static bool recordable(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n < ID_MAX && !strchr(id, '\n');
}

static void load_log(struct cm_records *r)
{
    FILE *f = fopen(r->log, "re");
    if (!f)
        return;
    char line[ID_MAX + 4];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n')
            continue; /* a torn or over-long line */
        line[n - 1] = '\0';
        r->lines++;
        if (line[0] == '+' && line[1])
            cm_strmap_put(&r->ids, line + 1, &present);
        else if (line[0] == '-' && line[1])
            cm_strmap_remove(&r->ids, line + 1);
    }
    fclose(f);
}

static void load_legacy(struct cm_records *r)
{
    DIR *d = opendir(r->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            cm_strmap_put(&r->ids, de->d_name, &present);
            r->legacy = true;
        }
    closedir(d);
}

int cm_records_open(const char *dir, struct cm_records **out, char *why, size_t whylen)
{
    *out = NULL;
    int rc = mkdir_p(dir);
    if (rc)
        return cm_fail(rc, why, whylen, "Failed to create %s: %s", dir, cm_strerror(rc));
    struct cm_records *r = cm_xcalloc(1, sizeof *r);
    r->dir = cm_xstrdup(dir);
    r->log = cm_xasprintf("%s.log", dir);
    cm_strmap_init(&r->ids);
    load_legacy(r);
    load_log(r);
    *out = r;
    return 0;
}

void cm_records_free(struct cm_records *r)
{
    if (!r)
        return;
    cm_strmap_cleanup(&r->ids);
    free(r->dir);
    free(r->log);
    free(r);
}

const char *cm_records_log(const struct cm_records *r)
{
    return r->log;
}

bool cm_records_has(const struct cm_records *r, const char *id)
{
    return cm_strmap_get(&r->ids, id) != NULL;
}

size_t cm_records_count(const struct cm_records *r)
{
    return cm_strmap_count(&r->ids);
}

/* One write of "<op><id>\n" (O_APPEND keeps concurrent writers' lines whole). */
static int append_line(const char *log_path, char op, const char *id)
{
    char line[ID_MAX + 2];
    size_t n = 0;
    line[n++] = op;
    for (const char *p = id; *p && n < sizeof line - 1; p++)
        line[n++] = *p;
    line[n++] = '\n';
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    ssize_t w = write(fd, line, n);
    int err = w == (ssize_t)n ? 0 : w < 0 ? errno : EIO;
    close(fd);
    return err;
}

int cm_records_append(const char *log_path, const char *id)
{
    if (!recordable(id))
        return EINVAL;
    return append_line(log_path, '+', id);
}

void cm_records_note(struct cm_records *r, const char *id)
{
    if (recordable(id))
        cm_strmap_put(&r->ids, id, &present);
}

int cm_records_add(struct cm_records *r, const char *id)
{
    if (!recordable(id))
        return -EINVAL;
    cm_strmap_put(&r->ids, id, &present);
    r->lines++;
    return -append_line(r->log, '+', id);
}

/* Writes the set to a temporary file and renames it over the log. */
static int rewrite(struct cm_records *r)
{
    char *tmp = cm_xasprintf("%s.tmp", r->log);
    FILE *f = fopen(tmp, "we");
    int rc = 0;
    if (!f) {
        rc = -errno;
        free(tmp);
        return rc;
    }
    struct cm_strmap_iter it;
    const char *id;
    size_t lines = 0;
    for (cm_strmap_iter_init(&it, &r->ids); cm_strmap_iter_value(&it, &id); lines++)
        fprintf(f, "+%s\n", id);
    if (fflush(f) != 0 || ferror(f))
        rc = -EIO;
    if (fclose(f) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, r->log) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    else
        r->lines = lines;
    free(tmp);
    return rc;
}

int cm_records_remove(struct cm_records *r, const char *id)
{
    if (!cm_strmap_remove(&r->ids, id))
        return 0;
    r->lines++;
    int rc = -append_line(r->log, '-', id);
    if (r->lines > 2 * cm_strmap_count(&r->ids) + REWRITE_SLACK) {
        int wrc = rewrite(r);
        if (!rc)
            rc = wrc;
    }
    return rc;
}

int cm_records_prune(struct cm_records *r, bool (*keep)(void *arg, const char *id), void *arg)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &r->ids); cm_strmap_iter_next(&it);)
        if (!keep(arg, it.cur->key))
            cm_strmap_iter_remove(&it);
    int rc = rewrite(r);
    if (rc == 0 && r->legacy) {
        /* Everything the old files said is in the log now. */
        DIR *d = opendir(r->dir);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                    unlinkat(dirfd(d), de->d_name, 0);
            closedir(d);
        }
        r->legacy = false;
    }
    return rc;
}
