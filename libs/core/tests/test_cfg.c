/* Environment configuration: defaults, ranges and messages naming the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "roster/cfg.h"

static void
cfg_int_default_and_value(void **state)
{
    struct rs_error err;
    long n;

    RS_UNUSED(state);
    unsetenv("ROSTER_TEST_INT");
    assert_int_equal(rs_cfg_int("ROSTER_TEST_INT", 7, 1, 10, &n, &err), RS_OK);
    assert_int_equal(n, 7);
    setenv("ROSTER_TEST_INT", "9", 1);
    assert_int_equal(rs_cfg_int("ROSTER_TEST_INT", 7, 1, 10, &n, &err), RS_OK);
    assert_int_equal(n, 9);
}

static void
cfg_int_rejects_bad_values(void **state)
{
    static const char *const bad[] = {"11", "0", "abc", "5x", "99999999999999999999", " ", " 3", "3 ", "\t3"};
    struct rs_error err;
    size_t i;
    long n;

    RS_UNUSED(state);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("ROSTER_TEST_INT", bad[i], 1);
        assert_int_equal(rs_cfg_int("ROSTER_TEST_INT", 7, 1, 10, &n, &err), RS_EINVAL);
        assert_non_null(strstr(err.message, "ROSTER_TEST_INT"));
        assert_string_equal(err.reason, "CONFIG_INVALID");
        assert_int_equal(n, 7);
    }
}

static void
cfg_bool_values(void **state)
{
    struct rs_error err;
    bool b;

    RS_UNUSED(state);
    setenv("ROSTER_TEST_BOOL", "Yes", 1);
    assert_int_equal(rs_cfg_bool("ROSTER_TEST_BOOL", false, &b, &err), RS_OK);
    assert_true(b);
    setenv("ROSTER_TEST_BOOL", "off", 1);
    assert_int_equal(rs_cfg_bool("ROSTER_TEST_BOOL", true, &b, &err), RS_OK);
    assert_false(b);
    setenv("ROSTER_TEST_BOOL", "maybe", 1);
    assert_int_equal(rs_cfg_bool("ROSTER_TEST_BOOL", true, &b, &err), RS_EINVAL);
    assert_non_null(strstr(err.message, "ROSTER_TEST_BOOL"));
}

static void
cfg_file_must_be_readable(void **state)
{
    struct rs_error err;
    const char *path;

    RS_UNUSED(state);
    setenv("ROSTER_TEST_FILE", "/nonexistent/roster-tokens", 1);
    assert_int_equal(rs_cfg_file("ROSTER_TEST_FILE", &path, &err), RS_EINVAL);
    assert_non_null(strstr(err.message, "ROSTER_TEST_FILE"));
    setenv("ROSTER_TEST_FILE", "/tmp", 1);
    assert_int_equal(rs_cfg_file("ROSTER_TEST_FILE", &path, &err), RS_EINVAL);
    setenv("ROSTER_TEST_FILE", "/etc/hostname", 1);
    assert_int_equal(rs_cfg_file("ROSTER_TEST_FILE", &path, &err), RS_OK);
    assert_string_equal(path, "/etc/hostname");
    unsetenv("ROSTER_TEST_FILE");
    assert_int_equal(rs_cfg_file("ROSTER_TEST_FILE", &path, &err), RS_OK);
    assert_null(path);
}

static void
cfg_string_default(void **state)
{
    const char *v;

    RS_UNUSED(state);
    setenv("ROSTER_TEST_STR", "", 1);
    assert_int_equal(rs_cfg_string("ROSTER_TEST_STR", "dflt", &v), RS_OK);
    assert_string_equal(v, "dflt");
    setenv("ROSTER_TEST_STR", "0.0.0.0:1", 1);
    assert_int_equal(rs_cfg_string("ROSTER_TEST_STR", "dflt", &v), RS_OK);
    assert_string_equal(v, "0.0.0.0:1");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cfg_int_default_and_value),
        cmocka_unit_test(cfg_int_rejects_bad_values),
        cmocka_unit_test(cfg_bool_values),
        cmocka_unit_test(cfg_file_must_be_readable),
        cmocka_unit_test(cfg_string_default),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
