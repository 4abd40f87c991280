/*
 * libs/service/tests/test_actor.c
 *    Unit tests of the organisation and acting-user errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "roster/actor.h"
#include "roster/status.h"

#define ORG "0123456789abcdef0123456789abcdef"
#define ACTOR "fedcba9876543210fedcba9876543210"

static void
test_actor_org_not_found(void **state)
{
    struct rs_error err;

    (void)state;
    rs_error_clear(&err);
    assert_int_equal(rs_actor_check(ORG, NULL, false, false, false, &err), RS_ENOTFOUND);
    assert_string_equal(err.reason, "ORGANIZATION_NOT_FOUND");
    assert_string_equal(err.message, "organization \"" ORG "\" not found");
    assert_int_equal(err.n_meta, 1);
    assert_string_equal(err.meta_key[0], "organization_id");
    assert_string_equal(err.meta_value[0], ORG);
}

static void
test_actor_not_in_organization(void **state)
{
    struct rs_error err;

    (void)state;
    rs_error_clear(&err);
    assert_int_equal(rs_actor_check(ORG, ACTOR, true, false, false, &err), RS_EPERM);
    assert_string_equal(err.reason, "ACTOR_NOT_IN_ORGANIZATION");
    assert_string_equal(err.message,
                        "acting user \"" ACTOR "\" is not a user of organization \"" ORG "\"");
    assert_string_equal(err.meta_key[0], "actor");
    assert_string_equal(err.meta_value[0], ACTOR);
}

static void
test_actor_disabled(void **state)
{
    struct rs_error err;

    (void)state;
    rs_error_clear(&err);
    assert_int_equal(rs_actor_check(ORG, ACTOR, true, true, false, &err), RS_EPERM);
    assert_string_equal(err.reason, "ACTOR_DISABLED");
    assert_string_equal(err.message, "acting user \"" ACTOR "\" is disabled");
    assert_string_equal(err.meta_key[0], "actor");
}

static void
test_actor_enabled_passes(void **state)
{
    struct rs_error err;

    (void)state;
    rs_error_clear(&err);
    assert_int_equal(rs_actor_check(ORG, ACTOR, true, true, true, &err), RS_OK);
    assert_int_equal(err.code, RS_OK);
    assert_string_equal(err.message, "");
}

static void
test_actor_validate(void **state)
{
    struct rs_error err;

    (void)state;
    rs_error_clear(&err);
    assert_int_equal(rs_actor_validate(ACTOR, &err), RS_OK);
    assert_int_equal(rs_actor_validate(NULL, &err), RS_EINVAL);
    assert_string_equal(err.reason, "ACTOR_INVALID");
    assert_string_equal(err.meta_value[0], "x-roster-actor");
    assert_int_equal(rs_actor_validate("FEDCBA9876543210FEDCBA9876543210", &err), RS_EINVAL);
    assert_string_equal(err.reason, "ACTOR_INVALID");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actor_org_not_found),
        cmocka_unit_test(test_actor_not_in_organization),
        cmocka_unit_test(test_actor_disabled),
        cmocka_unit_test(test_actor_enabled_passes),
        cmocka_unit_test(test_actor_validate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
