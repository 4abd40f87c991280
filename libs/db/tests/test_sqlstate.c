/*
 * libs/db/tests/test_sqlstate.c
 *    The SQLSTATE table: exact codes, class fallbacks and malformed input.
 *    Needs no database.
 */
#include "db_test.h"

#include <string.h>

struct sqlstate_case {
    const char *sqlstate;
    rs_status status;
    const char *reason;
};

static const struct sqlstate_case cases[] = {
    {"23505", RS_EEXIST, "ALREADY_EXISTS"},
    {"23503", RS_EPRECOND, "FOREIGN_KEY_VIOLATION"},
    {"23502", RS_EINVAL, "NOT_NULL_VIOLATION"},
    {"23514", RS_EINVAL, "CHECK_VIOLATION"},
    {"23P01", RS_EEXIST, "EXCLUSION_VIOLATION"},
    {"23000", RS_EINVAL, "CONSTRAINT_VIOLATION"},
    {"22001", RS_EINVAL, "VALUE_TOO_LONG"},
    {"22P02", RS_EINVAL, "INVALID_VALUE"},
    {"22012", RS_EINVAL, "INVALID_VALUE"},
    {"40001", RS_EABORTED, "SERIALIZATION_FAILURE"},
    {"40P01", RS_EABORTED, "DEADLOCK_DETECTED"},
    {"40002", RS_EABORTED, "TRANSACTION_ROLLBACK"},
    {"57014", RS_ETIMEDOUT, "QUERY_CANCELED"},
    {"57P01", RS_EUNAVAIL, "DATABASE_UNAVAILABLE"},
    {"57P02", RS_EUNAVAIL, "DATABASE_UNAVAILABLE"},
    {"57P03", RS_EUNAVAIL, "DATABASE_UNAVAILABLE"},
    {"08006", RS_EUNAVAIL, "DATABASE_UNAVAILABLE"},
    {"08001", RS_EUNAVAIL, "DATABASE_UNAVAILABLE"},
    {"53300", RS_ERESOURCE, "DATABASE_RESOURCES_EXHAUSTED"},
    {"53100", RS_ERESOURCE, "DATABASE_RESOURCES_EXHAUSTED"},
    {"42P01", RS_EPRECOND, "SCHEMA_BEHIND"},
    {"42703", RS_EPRECOND, "SCHEMA_BEHIND"},
    {"3F000", RS_EPRECOND, "SCHEMA_BEHIND"},
    {"25006", RS_EUNAVAIL, "DATABASE_READ_ONLY"},
    {"42501", RS_EINTERNAL, "DATABASE_PERMISSION_DENIED"},
    {"42601", RS_EINTERNAL, "DATABASE_ERROR"},
    {"XX000", RS_EINTERNAL, "DATABASE_ERROR"},
};

static void
table_maps_known_codes(void **state)
{
    size_t i;
    const char *reason;
    rs_status rc;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reason = NULL;
        rc = rs_db_status_from_sqlstate(cases[i].sqlstate, &reason);
        if (rc != cases[i].status || reason == NULL || strcmp(reason, cases[i].reason) != 0)
            fail_msg("SQLSTATE %s: got %s %s, expected %s %s", cases[i].sqlstate,
                     rs_status_name(rc), reason != NULL ? reason : "(null)",
                     rs_status_name(cases[i].status), cases[i].reason);
    }
}

static void
table_rejects_malformed_codes(void **state)
{
    static const char *const bad[] = {"", "2350", "235050", "23 05", "2350a", "08"};
    const char *reason;
    size_t i;

    (void)state;
    assert_int_equal(rs_db_status_from_sqlstate(NULL, &reason), RS_EINTERNAL);
    assert_string_equal(reason, "DATABASE_ERROR");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reason = NULL;
        assert_int_equal(rs_db_status_from_sqlstate(bad[i], &reason), RS_EINTERNAL);
        assert_string_equal(reason, "DATABASE_ERROR");
    }
}

static void
table_accepts_null_reason(void **state)
{
    (void)state;
    assert_int_equal(rs_db_status_from_sqlstate("23505", NULL), RS_EEXIST);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_maps_known_codes),
        cmocka_unit_test(table_rejects_malformed_codes),
        cmocka_unit_test(table_accepts_null_reason),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
