/* Wire-level string checks: UTF-8 and NUL bytes, nested and repeated fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "roster/identity/v1/identity.pb-c.h"
#include "rpc_int.h"

/* Packs msg and runs the check on the wire bytes. */
static rs_status
check_packed(const ProtobufCMessage *msg, struct rs_error *err)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len + 1);
    rs_status rc;

    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(msg, buf), len);
    rs_error_clear(err);
    rc = rs_rpc__check_strings(msg->descriptor, buf, len, err);
    free(buf);
    return rc;
}

static void
wirecheck_accepts_cjk_and_emoji(void **state)
{
    Roster__Identity__V1__CreateUserRequest req = ROSTER__IDENTITY__V1__CREATE_USER_REQUEST__INIT;
    struct rs_error err;

    RS_UNUSED(state);
    req.nickname = (char *)"张伟 🚀 O'Brien; DROP TABLE";
    req.email = (char *)"zhang@example.com";
    assert_int_equal(check_packed(&req.base, &err), RS_OK);
}

static void
wirecheck_names_nested_field(void **state)
{
    Roster__Identity__V1__CreateOrganizationRequest req =
        ROSTER__IDENTITY__V1__CREATE_ORGANIZATION_REQUEST__INIT;
    Roster__Identity__V1__CreateUserRequest owner =
        ROSTER__IDENTITY__V1__CREATE_USER_REQUEST__INIT;
    struct rs_error err;

    RS_UNUSED(state);
    req.name = (char *)"组织";
    req.owner = &owner;
    owner.nickname = (char *)"fine";
    owner.email = (char *)"x\xc3";
    assert_int_equal(check_packed(&req.base, &err), RS_EINVAL);
    assert_string_equal(err.reason, "INVALID_UTF8");
    assert_string_equal(err.meta_value[0], "owner.email");
}

static void
wirecheck_checks_repeated_strings(void **state)
{
    Roster__Identity__V1__UserGroupMembersRequest req =
        ROSTER__IDENTITY__V1__USER_GROUP_MEMBERS_REQUEST__INIT;
    char *ids[2] = {(char *)"ok", (char *)"bad\xff"};
    struct rs_error err;

    RS_UNUSED(state);
    req.n_user_ids = 2;
    req.user_ids = ids;
    assert_int_equal(check_packed(&req.base, &err), RS_EINVAL);
    assert_string_equal(err.reason, "INVALID_UTF8");
    assert_string_equal(err.meta_value[0], "user_ids");
}

static void
wirecheck_rejects_nul_byte(void **state)
{
    /* CreateUserRequest field 2 (nickname) = "a\0b", written by hand
     * because protobuf-c itself stops at the NUL. */
    static const uint8_t wire[] = {0x12, 0x03, 'a', 0x00, 'b'};
    struct rs_error err;

    RS_UNUSED(state);
    rs_error_clear(&err);
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           wire, sizeof(wire), &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "INVALID_STRING");
    assert_string_equal(err.meta_value[0], "nickname");
}

static void
wirecheck_rejects_truncated_input(void **state)
{
    static const uint8_t cut_length[] = {0x12, 0x05, 'a', 'b'};
    static const uint8_t cut_varint[] = {0x18, 0x80};
    static const uint8_t group[] = {0x13, 0x14};
    struct rs_error err;

    RS_UNUSED(state);
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           cut_length, sizeof(cut_length), &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "MALFORMED_MESSAGE");
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           cut_varint, sizeof(cut_varint), &err),
                     RS_EINVAL);
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           group, sizeof(group), &err),
                     RS_EINVAL);
}

static void
wirecheck_skips_unknown_fields(void **state)
{
    /* Field 99, length-delimited, holding invalid UTF-8: not a string we know. */
    static const uint8_t wire[] = {0x9A, 0x06, 0x02, 0xFF, 0xFE};
    struct rs_error err;

    RS_UNUSED(state);
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           wire, sizeof(wire), &err),
                     RS_OK);
}

static void
wirecheck_rejects_field_zero(void **state)
{
    /* Field 0 as a varint, with a padded and with a one-byte tag. */
    static const uint8_t padded[] = {0x80, 0x00, 0x7B};
    static const uint8_t plain[] = {0x00, 0x7B};
    /* Field 2^29, one past the largest field number. */
    static const uint8_t too_big[] = {0x80, 0x80, 0x80, 0x80, 0x20, 0x01};
    struct rs_error err;

    RS_UNUSED(state);
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           padded, sizeof(padded), &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "MALFORMED_MESSAGE");
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           plain, sizeof(plain), &err),
                     RS_EINVAL);
    assert_int_equal(rs_rpc__check_strings(&roster__identity__v1__create_user_request__descriptor,
                                           too_big, sizeof(too_big), &err),
                     RS_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wirecheck_accepts_cjk_and_emoji),
        cmocka_unit_test(wirecheck_names_nested_field),
        cmocka_unit_test(wirecheck_checks_repeated_strings),
        cmocka_unit_test(wirecheck_rejects_nul_byte),
        cmocka_unit_test(wirecheck_rejects_truncated_input),
        cmocka_unit_test(wirecheck_skips_unknown_fields),
        cmocka_unit_test(wirecheck_rejects_field_zero),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
