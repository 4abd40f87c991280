/*
 * libs/service/src/name.c
 *    NFC normalisation of names in requests.
 */
#include "roster/name.h"

#include <string.h>

#include "roster/alloc.h"
#include "roster/str.h"

rs_status
rs_name_normalize(rs_arena *arena, char **value, struct rs_error *err)
{
    char *nfc = NULL;
    char *copy;
    size_t len = strlen(*value);
    rs_status rc;

    if (rs_utf8_nfc_inert(*value, len))
        return RS_OK;
    rc = rs_utf8_nfc(*value, len, &nfc, &len);
    if (rc == RS_EINVAL)
        return RS_OK;
    if (rc == RS_ENOMEM)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    if (rc != RS_OK)
        return rs_error_set(err, rc, "NORMALIZATION_FAILED",
                            "Unicode normalisation of a name failed");
    if (strcmp(nfc, *value) != 0) {
        copy = rs_arena_strndup(arena, nfc, len);
        if (copy == NULL) {
            rc = rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
            goto out;
        }
        *value = copy;
    }
out:
    rs_free(nfc);
    return rc;
}

rs_status
rs_call_name_normalize(struct rs_call *call, char *const *field, struct rs_error *err)
{
    return rs_name_normalize(rs_call_arena(call), (char **)field, err);
}
