/* Status table: names, texts and the gRPC codes each status is sent as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "roster/status.h"

static void
status_maps_to_grpc_codes(void **state)
{
    RS_UNUSED(state);
    assert_int_equal(rs_status_to_grpc(RS_OK), 0);
    assert_int_equal(rs_status_to_grpc(RS_EINVAL), 3);
    assert_int_equal(rs_status_to_grpc(RS_ENOTFOUND), 5);
    assert_int_equal(rs_status_to_grpc(RS_EEXIST), 6);
    assert_int_equal(rs_status_to_grpc(RS_EPERM), 7);
    assert_int_equal(rs_status_to_grpc(RS_ERESOURCE), 8);
    assert_int_equal(rs_status_to_grpc(RS_ENOMEM), 8);
    assert_int_equal(rs_status_to_grpc(RS_EPRECOND), 9);
    assert_int_equal(rs_status_to_grpc(RS_EUNIMPL), 12);
    assert_int_equal(rs_status_to_grpc(RS_EUNAVAIL), 14);
    assert_int_equal(rs_status_to_grpc(RS_EUNAUTH), 16);
    assert_int_equal(rs_status_to_grpc((rs_status)999), 13);
}

static void
status_from_grpc_round_trips(void **state)
{
    int code;

    RS_UNUSED(state);
    for (code = 0; code <= 16; code++) {
        rs_status rc = rs_status_from_grpc(code);

        if (code == 2 || code == 15)
            assert_int_equal(rc, RS_EINTERNAL);
        else
            assert_int_equal(rs_status_to_grpc(rc), code);
    }
    assert_int_equal(rs_status_from_grpc(8), RS_ERESOURCE);
}

static void
status_names_and_texts(void **state)
{
    RS_UNUSED(state);
    assert_string_equal(rs_status_name(RS_EEXIST), "RS_EEXIST");
    assert_string_equal(rs_status_str(RS_EPERM), "permission denied");
    assert_string_equal(rs_status_name((rs_status)-1), "RS_EINTERNAL");
}

static void
error_set_fills_fields(void **state)
{
    struct rs_error err;
    rs_status rc;

    RS_UNUSED(state);
    rs_error_clear(&err);
    rc = rs_error_set(&err, RS_ERESOURCE, "SEAT_LIMIT_REACHED", "no free %s seat", "analyst");
    assert_int_equal(rc, RS_ERESOURCE);
    assert_int_equal(err.code, RS_ERESOURCE);
    assert_string_equal(err.reason, "SEAT_LIMIT_REACHED");
    assert_string_equal(err.message, "no free analyst seat");
    rs_error_meta(&err, "limit", "5");
    assert_int_equal(err.n_meta, 1);
    assert_string_equal(err.meta_key[0], "limit");
    assert_string_equal(err.meta_value[0], "5");
    assert_int_equal(rs_error_set(NULL, RS_EINVAL, NULL, "x"), RS_EINVAL);
}

static void
error_message_truncation_keeps_utf8(void **state)
{
    struct rs_error err;
    char big[600];
    size_t i;

    RS_UNUSED(state);
    /* 199 three-byte characters overflow the 256-byte message buffer mid-character. */
    for (i = 0; i + 3 < sizeof(big); i += 3)
        memcpy(big + i, "\xE5\xBC\xA0", 3);
    big[i] = '\0';
    rs_error_set(&err, RS_EINVAL, "X", "a%s", big);
    assert_true(strlen(err.message) % 3 == 1);
    rs_error_meta(&err, "name", big);
    assert_true(strlen(err.meta_value[0]) % 3 == 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_maps_to_grpc_codes),
        cmocka_unit_test(status_from_grpc_round_trips),
        cmocka_unit_test(status_names_and_texts),
        cmocka_unit_test(error_set_fills_fields),
        cmocka_unit_test(error_message_truncation_keeps_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
