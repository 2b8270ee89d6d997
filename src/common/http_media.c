/*
 * http_media.c: the media types of the v1 APIs (cm_http_content_type, cm_media_name, declared
 * in http_server.h). Their own file, so that a client-only program (mesos-executor, linked to
 * start fast) gets them without pulling the HTTP server, TLS and libcurl in with them.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http_server.h"

static bool media_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

enum cm_media cm_http_content_type(const char *header)
{
    if (!header)
        return CM_MEDIA_NONE;
    const char *s = header;
    const char *e = strchr(header, ';');
    if (!e)
        e = header + strlen(header);
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (s == e)
        return CM_MEDIA_NONE;
    if (media_is(s, e, "application/json"))
        return CM_MEDIA_JSON;
    if (media_is(s, e, "application/x-protobuf"))
        return CM_MEDIA_PROTOBUF;
    return CM_MEDIA_UNSUPPORTED;
}

const char *cm_media_name(enum cm_media media)
{
    switch (media) {
    case CM_MEDIA_JSON: return "application/json";
    case CM_MEDIA_PROTOBUF: return "application/x-protobuf";
    case CM_MEDIA_NONE:
    case CM_MEDIA_UNSUPPORTED: break;
    }
    return "";
}
