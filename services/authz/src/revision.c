/*
 * services/authz/src/revision.c
 *    Revision tokens: "r" followed by the decimal organisation revision.
 *    Clients treat the token as opaque, so the prefix leaves room to change
 *    the format later.
 */
#include "revision.h"

#include <inttypes.h>
#include <stdio.h>

/* Digits in INT64_MAX; a longer number cannot be a revision. */
#define REVISION_MAX_DIGITS 19

void
authz_revision_format(int64_t rev, char out[64])
{
    if (rev < 0)
        rev = 0;
    snprintf(out, 64, "r%" PRId64, rev);
}

rs_status
authz_revision_parse(const char *token, int64_t *rev, struct rs_error *err)
{
    const char *p;
    int64_t value = 0;
    int digits = 0;

    *rev = 0;
    if (token == NULL || token[0] == '\0')
        return RS_OK;
    if (token[0] != 'r')
        goto invalid;
    for (p = token + 1; *p != '\0'; p++) {
        int d;

        if (*p < '0' || *p > '9')
            goto invalid;
        d = *p - '0';
        if (++digits > REVISION_MAX_DIGITS || value > (INT64_MAX - d) / 10)
            goto invalid;
        value = value * 10 + d;
    }
    if (digits == 0 || (digits > 1 && token[1] == '0'))
        goto invalid;
    *rev = value;
    return RS_OK;

invalid:
    return rs_error_set(err, RS_EINVAL, "REVISION_INVALID",
                        "invalid revision token: pass a revision returned by a write, or none");
}
