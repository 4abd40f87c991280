/*
 * services/identity/tests/test_validate.c
 *    Unit tests of the identity input rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "roster/identity/v1/identity.pb-c.h"
#include "roster/status.h"
#include "validate.h"

/* Runs check and returns the reason it set, or "" on success. */
#define REASON(call)                                                                  \
    (rs_error_clear(&err), (call) == RS_OK ? "" : err.reason)

static void
test_nickname_accepts_unicode(void **state)
{
    struct rs_error err;

    (void)state;
    assert_string_equal(REASON(identity_validate_nickname("alice", &err)), "");
    assert_string_equal(REASON(identity_validate_nickname("张三", &err)), "");
    assert_string_equal(REASON(identity_validate_nickname("数据分析师😀", &err)), "");
    assert_string_equal(REASON(identity_validate_nickname("Robert'); DROP TABLE users;--",
                                                          &err)),
                        "");
    assert_string_equal(REASON(identity_validate_nickname("100% _under_", &err)), "");
}

static void
test_nickname_rejects_empty_blank_control(void **state)
{
    struct rs_error err;

    (void)state;
    assert_string_equal(REASON(identity_validate_nickname("", &err)), "NICKNAME_INVALID");
    assert_string_equal(REASON(identity_validate_nickname("   ", &err)), "NICKNAME_INVALID");
    /* U+3000 ideographic space and U+00A0 no-break space are blank too. */
    assert_string_equal(REASON(identity_validate_nickname("\xe3\x80\x80\xc2\xa0", &err)),
                        "NICKNAME_INVALID");
    assert_string_equal(REASON(identity_validate_nickname("a\tb", &err)), "NICKNAME_INVALID");
    assert_string_equal(REASON(identity_validate_nickname("a\nb", &err)), "NICKNAME_INVALID");
    assert_string_equal(REASON(identity_validate_nickname("a\x7f", &err)), "NICKNAME_INVALID");
    /* U+0085, a C1 control character. */
    assert_string_equal(REASON(identity_validate_nickname("a\xc2\x85", &err)),
                        "NICKNAME_INVALID");
    assert_string_equal(err.meta_key[0], "field");
    assert_string_equal(err.meta_value[0], "nickname");
}

static void
test_nickname_rejects_invisible_and_outer_space(void **state)
{
    static const char *const bad[] = {
        "\xe2\x80\x8b",              /* U+200B zero-width space alone */
        "ab\xe2\x80\x8b",            /* U+200B inside */
        "\xe2\x80\xae" "evil",       /* U+202E right-to-left override */
        "\xef\xbb\xbf" "bom",        /* U+FEFF byte-order mark */
        "x\xef\xbf\xbf",             /* U+FFFF noncharacter */
        "soft\xc2\xad" "hyphen",      /* U+00AD soft hyphen */
        " lead",
        "trail ",
        "\xe5\xbc\xa0\xe4\xbc\x9f\xe3\x80\x80", /* ends with U+3000 */
    };
    struct rs_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_string_equal(REASON(identity_validate_nickname(bad[i], &err)),
                            "NICKNAME_INVALID");
    /* A family emoji joined by U+200D and a heart with variation selector U+FE0F. */
    assert_int_equal(identity_validate_nickname("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91"
                                                "\xa9 \xe2\x9d\xa4\xef\xb8\x8f",
                                                &err),
                     RS_OK);
    assert_int_equal(identity_validate_nickname("\xe5\xbc\xa0 \xe4\xbc\x9f", &err), RS_OK);
}

static void
test_nickname_rejects_bad_utf8(void **state)
{
    struct rs_error err;

    (void)state;
    assert_string_equal(REASON(identity_validate_nickname("\xff\xfe", &err)), "INVALID_UTF8");
    /* Overlong encoding of '/'. */
    assert_string_equal(REASON(identity_validate_nickname("\xc0\xaf", &err)), "INVALID_UTF8");
    /* A UTF-16 surrogate encoded in UTF-8. */
    assert_string_equal(REASON(identity_validate_nickname("\xed\xa0\x80", &err)),
                        "INVALID_UTF8");
    assert_string_equal(REASON(identity_validate_nickname("abc\xe4\xb8", &err)),
                        "INVALID_UTF8");
}

static void
test_nickname_length_counts_code_points(void **state)
{
    struct rs_error err;
    char buf[256];
    int i;

    (void)state;
    /* 50 CJK characters are 150 bytes and still fit. */
    buf[0] = '\0';
    for (i = 0; i < 50; i++)
        strcat(buf, "名");
    assert_string_equal(REASON(identity_validate_nickname(buf, &err)), "");
    strcat(buf, "名");
    assert_string_equal(REASON(identity_validate_nickname(buf, &err)), "NICKNAME_TOO_LONG");
    /* 50 emoji (4 bytes each) fit, 51 do not. */
    buf[0] = '\0';
    for (i = 0; i < 50; i++)
        strcat(buf, "😀");
    assert_string_equal(REASON(identity_validate_nickname(buf, &err)), "");
    strcat(buf, "😀");
    assert_string_equal(REASON(identity_validate_nickname(buf, &err)), "NICKNAME_TOO_LONG");
    memset(buf, 'a', 51);
    buf[51] = '\0';
    assert_string_equal(REASON(identity_validate_nickname(buf, &err)), "NICKNAME_TOO_LONG");
    buf[50] = '\0';
    assert_string_equal(REASON(identity_validate_nickname(buf, &err)), "");
}

static void
test_nickname_10k_input(void **state)
{
    struct rs_error err;
    char *big = malloc(10241);

    (void)state;
    assert_non_null(big);
    memset(big, 'x', 10240);
    big[10240] = '\0';
    assert_string_equal(REASON(identity_validate_nickname(big, &err)), "NICKNAME_TOO_LONG");
    /* Invalid UTF-8 deep inside a long input is still reported as such. */
    big[9000] = (char)0xff;
    assert_string_equal(REASON(identity_validate_nickname(big, &err)), "INVALID_UTF8");
    free(big);
}

static void
test_email_rules(void **state)
{
    struct rs_error err;
    char big[300];

    (void)state;
    assert_string_equal(REASON(identity_validate_email("", &err)), "");
    assert_string_equal(REASON(identity_validate_email("a@b.co", &err)), "");
    assert_string_equal(REASON(identity_validate_email("first.last+tag@mail.example.com",
                                                       &err)),
                        "");
    assert_string_equal(REASON(identity_validate_email("plain", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("@b.co", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("a@b", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("a@.co", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("a@b.", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("a@b..co", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("a b@c.co", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("a@b@c.co", &err)), "EMAIL_INVALID");
    assert_string_equal(REASON(identity_validate_email("a\n@b.co", &err)), "EMAIL_INVALID");
    memset(big, 'a', 250);
    strcpy(big + 250, "@b.co");
    assert_string_equal(REASON(identity_validate_email(big, &err)), "EMAIL_INVALID");
}

static void
test_phone_rules(void **state)
{
    struct rs_error err;

    (void)state;
    assert_string_equal(REASON(identity_validate_phone("", &err)), "");
    assert_string_equal(REASON(identity_validate_phone("13800138000", &err)), "");
    assert_string_equal(REASON(identity_validate_phone("+86 138-0013-8000", &err)), "");
    assert_string_equal(REASON(identity_validate_phone("12345", &err)), "");
    assert_string_equal(REASON(identity_validate_phone("1234", &err)), "PHONE_INVALID");
    assert_string_equal(REASON(identity_validate_phone("123456789012345678901", &err)),
                        "PHONE_INVALID");
    assert_string_equal(REASON(identity_validate_phone("+", &err)), "PHONE_INVALID");
    assert_string_equal(REASON(identity_validate_phone("++8613800", &err)), "PHONE_INVALID");
    assert_string_equal(REASON(identity_validate_phone("138--0013", &err)), "PHONE_INVALID");
    assert_string_equal(REASON(identity_validate_phone("-13800138", &err)), "PHONE_INVALID");
    assert_string_equal(REASON(identity_validate_phone("13800138-", &err)), "PHONE_INVALID");
    assert_string_equal(REASON(identity_validate_phone("1380a0138", &err)), "PHONE_INVALID");
}

static void
test_id_and_enums(void **state)
{
    struct rs_error err;

    (void)state;
    assert_string_equal(REASON(rs_validate_id("user_id",
                                                    "0123456789abcdef0123456789abcdef", &err)),
                        "");
    assert_string_equal(REASON(rs_validate_id("user_id", "", &err)), "INVALID_ID");
    assert_string_equal(REASON(rs_validate_id("user_id",
                                                    "0123456789ABCDEF0123456789ABCDEF", &err)),
                        "INVALID_ID");
    assert_string_equal(err.meta_value[0], "user_id");
    assert_string_equal(REASON(identity_validate_user_type("user_type", 0, &err)),
                        "USER_TYPE_INVALID");
    assert_string_equal(REASON(identity_validate_user_type("user_type", 4, &err)),
                        "USER_TYPE_INVALID");
    assert_string_equal(REASON(identity_validate_user_type("user_type", 2, &err)), "");
    assert_string_equal(REASON(identity_validate_platform("platform", 0, &err)),
                        "PLATFORM_INVALID");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nickname_accepts_unicode),
        cmocka_unit_test(test_nickname_rejects_empty_blank_control),
        cmocka_unit_test(test_nickname_rejects_invisible_and_outer_space),
        cmocka_unit_test(test_nickname_rejects_bad_utf8),
        cmocka_unit_test(test_nickname_length_counts_code_points),
        cmocka_unit_test(test_nickname_10k_input),
        cmocka_unit_test(test_email_rules),
        cmocka_unit_test(test_phone_rules),
        cmocka_unit_test(test_id_and_enums),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
