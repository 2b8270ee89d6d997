/*
 * ids.h: identifiers — validation of user-chosen IDs and roles, and generation of UUIDs and
 * the ID shapes Mesos produces (docs/wire-protocol.md §1.5).
 *
 * IDs become file-system path components on the agent, so validation is strict: non-empty,
 * at most 255 bytes, not "." or "..", no '/', '\\' or control characters.
 */
#ifndef CM_IDS_H
#define CM_IDS_H

#include <stddef.h>
#include <stdint.h>

#define CM_ID_MAX 255

/* Returns 0 if id is a valid user-chosen ID, else CM_EINVAL with a static reason in *why
 * (e.g. "ID must not contain '/'"). */
int cm_id_validate(const char *id, const char **why);

/* Same rules for an ID given with its length (protobuf strings may hold NUL bytes). */
int cm_id_validate_n(const char *id, size_t len, const char **why);

/* Returns 0 if role is valid per Mesos ("*" or a '/'-separated path of valid components). */
int cm_role_validate(const char *role, const char **why);

/* 16 random bytes, RFC 4122 version 4 (getrandom). */
void cm_uuid_random(uint8_t out[16]);

/* Canonical text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into out[37]. */
void cm_uuid_format(const uint8_t uuid[16], char out[37]);

/* A new random UUID in text form, into out[37]. */
void cm_uuid_string(char out[37]);

#endif
