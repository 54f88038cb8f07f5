/*
 * ids.h: identifiers. UUIDs (RFC 4122 version 4, from getrandom) as 16 bytes
 * or 36-character text, and base64 (standard alphabet, padded) because the
 * Mesos JSON mapping carries bytes fields, such as TaskStatus.uuid, in it.
 */
#ifndef ATOLL_IDS_H
#define ATOLL_IDS_H

#include <stddef.h>
#include <stdint.h>

#define IDS_UUID_LEN 16
#define IDS_UUID_STRLEN 37 /* with the NUL */

void ids_uuid(uint8_t out[IDS_UUID_LEN]);
void ids_uuid_format(const uint8_t uuid[IDS_UUID_LEN],
                     char out[IDS_UUID_STRLEN]);
/* A fresh random UUID as text. */
void ids_uuid_str(char out[IDS_UUID_STRLEN]);

/* Size of the base64 text for n bytes, with the NUL. */
#define IDS_BASE64_LEN(n) ((((n) + 2) / 3) * 4 + 1)
/* Writes NUL-terminated base64 of data into out (IDS_BASE64_LEN(n) bytes). */
void ids_base64_encode(const void *data, size_t n, char *out);
/*
 * Decodes base64 text (standard alphabet, and the URL-safe '-' and '_'
 * too; padding optional; no whitespace)
 * into out, which holds at most cap bytes. Returns the decoded length, or
 * -EINVAL for a bad character or length, -ENOBUFS when it does not fit.
 */
int ids_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap);

#endif
