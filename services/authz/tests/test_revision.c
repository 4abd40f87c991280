/*
 * services/authz/tests/test_revision.c
 *    Revision tokens: format and parse, and the malformed ones rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "revision.h"

static void
test_round_trip(void **state)
{
    const int64_t values[] = { 0, 1, 42, INT64_MAX };
    char token[64];
    int64_t rev;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        authz_revision_format(values[i], token);
        assert_int_equal(authz_revision_parse(token, &rev, NULL), RS_OK);
        assert_true(rev == values[i]);
    }
    authz_revision_format(42, token);
    assert_string_equal(token, "r42");
}

static void
test_empty_means_none(void **state)
{
    int64_t rev = 5;

    (void)state;
    assert_int_equal(authz_revision_parse("", &rev, NULL), RS_OK);
    assert_true(rev == 0);
    assert_int_equal(authz_revision_parse(NULL, &rev, NULL), RS_OK);
    assert_true(rev == 0);
}

static void
test_malformed_rejected(void **state)
{
    const char *bad[] = {
        "r", "42", "R42", "r-1", "r+1", "r 1", "r1 ", "r01", "rx", "r1x",
        "r9223372036854775808", "r99999999999999999999",
    };
    struct rs_error err;
    int64_t rev;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rs_error_clear(&err);
        assert_int_equal(authz_revision_parse(bad[i], &rev, &err), RS_EINVAL);
        assert_string_equal(err.reason, "REVISION_INVALID");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_means_none),
        cmocka_unit_test(test_malformed_rejected),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
