/*
 * ids.c: ID and role validation, UUID generation.
 */
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "errors.h"

int cm_id_validate_n(const char *id, size_t len, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!id || len == 0) {
        *why = "ID must not be empty";
        return CM_EINVAL;
    }
    if (len > CM_ID_MAX) {
        *why = "ID must not be longer than 255 bytes";
        return CM_EINVAL;
    }
    if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.')) {
        *why = "ID must not be '.' or '..'";
        return CM_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c == '/') {
            *why = "ID must not contain '/'";
            return CM_EINVAL;
        }
        if (c == '\\') {
            *why = "ID must not contain '\\'";
            return CM_EINVAL;
        }
        if (c < 0x20 || c == 0x7f) {
            *why = "ID must not contain control characters";
            return CM_EINVAL;
        }
    }
    return 0;
}

int cm_id_validate(const char *id, const char **why)
{
    return cm_id_validate_n(id, id ? strlen(id) : 0, why);
}

/* Validates one '/'-separated component of a role. */
static int role_component_validate(const char *s, size_t len, const char **why)
{
    if (len == 0) {
        *why = "Role must not contain empty components ('//', leading or trailing '/')";
        return CM_EINVAL;
    }
    if ((len == 1 && (s[0] == '.' || s[0] == '*')) || (len == 2 && s[0] == '.' && s[1] == '.')) {
        *why = "Role components must not be '.', '..' or '*'";
        return CM_EINVAL;
    }
    if (s[0] == '-') {
        *why = "Role components must not start with '-'";
        return CM_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c < 0x20 || c == 0x7f) {
            *why = "Role must not contain whitespace or control characters";
            return CM_EINVAL;
        }
    }
    return 0;
}

int cm_role_validate(const char *role, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!role || !*role) {
        *why = "Role must not be empty";
        return CM_EINVAL;
    }
    if (strcmp(role, "*") == 0)
        return 0;
    const char *p = role;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        int rc = role_component_validate(p, len, why);
        if (rc)
            return rc;
        if (!slash)
            break;
        p = slash + 1;
    }
    return 0;
}

void cm_uuid_random(uint8_t out[16])
{
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(out + got, 16 - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* no entropy source at all: nothing sensible to fall back to */
        }
        got += (size_t)n;
    }
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

void cm_uuid_format(const uint8_t uuid[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 0x0f];
    }
    out[o] = '\0';
}

void cm_uuid_string(char out[37])
{
    uint8_t u[16];
    cm_uuid_random(u);
    cm_uuid_format(u, out);
}
