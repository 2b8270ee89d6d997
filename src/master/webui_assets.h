/*
 * webui_assets.h: the web UI's files as compiled into the master.
 *
 * The table is generated at build time by cmake/webui_embed.cmake from webui/ (its C source is
 * in the build tree, webui_assets.c): one entry per file, served by webui.c at its path. The
 * data are immutable and live for the whole process; nothing here allocates or frees.
 */
#ifndef CM_WEBUI_ASSETS_H
#define CM_WEBUI_ASSETS_H

#include <stddef.h>

struct cm_webui_asset {
    const char *path;         /* URL path, "/webui/<path under webui/>" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const char *etag;         /* strong ETag, quoted: a hash of the content */
    const unsigned char *data;
    size_t len; /* bytes (data has one more, a NUL, so text can be read as a string) */
};

extern const struct cm_webui_asset cm_webui_assets[];
extern const size_t cm_webui_nassets;

#endif
