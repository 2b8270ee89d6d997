/*
 * cgroups_internal.h: the file helpers cgroups.c shares with cgroups_kill.c. Not for use
 * outside the cgroups module (everything else goes through cgroups.h).
 */
#ifndef CM_AGENT_CGROUPS_INTERNAL_H
#define CM_AGENT_CGROUPS_INTERNAL_H

#include <stddef.h>

#include "cgroups.h"

#define CM_CGROUPS_STAT_MAX (64 * 1024)

/* Writes text to an existing control file; why names the file. */
int cm_cgroups_write_text(const char *path, const char *text, char *why, size_t whylen);
/* Reads at most max-1 bytes into a malloc'd NUL-terminated *out. */
int cm_cgroups_read_text(const char *path, size_t max, char **out, char *why, size_t whylen);
/* 1 when path exists. */
int cm_cgroups_exists(const char *path);
/* 1 when ctl's directory is an earlier controller's too (co-mounted v1, or v2). */
int cm_cgroups_duplicate(const struct cm_cgroups *cg, int ctl);
/* Validates cg (detected) and id. */
int cm_cgroups_check(const struct cm_cgroups *cg, const char *id, char *why, size_t whylen);
/* <container dir of ctl>/<file> into path. */
int cm_cgroups_ctl_file(const struct cm_cgroups *cg, int ctl, const char *id, const char *file,
                        char *path, size_t len);

#endif
