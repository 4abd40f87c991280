/*
 * fuzz/fuzz_identity_request.c
 *    Fuzz target: an IdentityService request (first byte picks the method)
 *    through decoding, the wire check and identity's pure validations.
 */
#include <string.h>

#include "fuzz.h"
#include "request.h"
#include "roster/identity/v1/identity.pb-c.h"
#include "roster/page.h"
#include "roster/str.h"
#include "validate.h"

/* A failed check names its reason and leaves a message for the client. */
static void
expect_error(rs_status rc, const struct rs_error *err)
{
    if (rc == RS_OK)
        return;
    FUZZ_ASSERT(rc == RS_EINVAL);
    FUZZ_ASSERT(err->reason[0] != '\0');
    FUZZ_ASSERT(err->message[0] != '\0');
}

static void
on_string(const char *field, const char *value)
{
    size_t len = strlen(value);
    struct rs_error err;
    struct rs_page_key key;
    rs_status rc;

    rs_error_clear(&err);
    rc = rs_validate_id(field, value, &err);
    expect_error(rc, &err);
    if (rc == RS_OK)
        FUZZ_ASSERT(len == 32 && rs_id_valid(value));
    rs_error_clear(&err);
    rc = identity_validate_nickname(value, &err);
    expect_error(rc, &err);
    if (rc == RS_OK) {
        size_t cps = rs_utf8_length(value, len);

        FUZZ_ASSERT(cps >= 1 && cps <= IDENTITY_NICKNAME_MAX);
        FUZZ_ASSERT(!rs_utf8_is_blank(value, len));
    }
    rs_error_clear(&err);
    rc = identity_validate_email(value, &err);
    expect_error(rc, &err);
    if (rc == RS_OK)
        FUZZ_ASSERT(len <= IDENTITY_EMAIL_MAX);
    rs_error_clear(&err);
    expect_error(identity_validate_phone(value, &err), &err);
    rs_error_clear(&err);
    expect_error(identity_validate_account_id(value, &err), &err);
    rs_error_clear(&err);
    expect_error(identity_validate_text(field, value, IDENTITY_GROUP_NAME_MAX, false,
                                        "GROUP_NAME_INVALID", &err),
                 &err);
    rs_error_clear(&err);
    expect_error(identity_validate_text(field, value, IDENTITY_ORG_NAME_MAX, true,
                                        "ORGANIZATION_NAME_INVALID", &err),
                 &err);
    (void)rs_utf8_has_invisible(value, len);
    rs_error_clear(&err);
    rc = rs_page_token_decode(value, rs_page_filter_hash("users", NULL, 0), &key, &err);
    expect_error(rc, &err);
    if (rc == RS_OK)
        FUZZ_ASSERT(rs_id_valid(key.id));
}

static void
on_int(const char *field, int64_t value)
{
    struct rs_error err;
    int size;

    rs_error_clear(&err);
    expect_error(identity_validate_user_type(field, (int)value, &err), &err);
    rs_error_clear(&err);
    expect_error(identity_validate_platform(field, (int)value, &err), &err);
    rs_error_clear(&err);
    if (rs_page_size((int32_t)value, &size, &err) == RS_OK)
        FUZZ_ASSERT(size >= 1 && size <= RS_PAGE_SIZE_MAX);
    else
        FUZZ_ASSERT(err.reason[0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_fields fields = { on_string, on_int };

    fuzz_request(&roster__identity__v1__identity_service__descriptor, data, size, &fields);
    return 0;
}
