/*
 * libs/service/tests/test_page.c
 *    Unit tests of page sizes and page tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "roster/page.h"
#include "roster/status.h"

/* Runs check and returns the reason it set, or "" on success. */
#define REASON(call)                                                                  \
    (rs_error_clear(&err), (call) == RS_OK ? "" : err.reason)

static void
test_page_size(void **state)
{
    struct rs_error err;
    int size = 0;

    (void)state;
    assert_string_equal(REASON(rs_page_size(0, &size, &err)), "");
    assert_int_equal(size, 50);
    assert_string_equal(REASON(rs_page_size(1000, &size, &err)), "");
    assert_int_equal(size, 1000);
    assert_string_equal(REASON(rs_page_size(1001, &size, &err)), "PAGE_SIZE_INVALID");
    assert_string_equal(REASON(rs_page_size(-1, &size, &err)), "PAGE_SIZE_INVALID");
}

static void
test_page_token_round_trip(void **state)
{
    struct rs_page_key key = { 1764871234567890LL, "0123456789abcdef0123456789abcdef" };
    struct rs_page_key got;
    const char *parts[2] = { "org", NULL };
    uint64_t filter = rs_page_filter_hash("users", parts, 2);
    struct rs_error err;
    char token[RS_PAGE_TOKEN_MAX + 1];

    (void)state;
    assert_int_equal(rs_page_token_encode(filter, &key, token, sizeof(token)), RS_OK);
    /* base64url: no padding, no '+' or '/'. */
    assert_null(strpbrk(token, "+/="));
    memset(&got, 0, sizeof(got));
    assert_string_equal(REASON(rs_page_token_decode(token, filter, &got, &err)), "");
    assert_true(got.created_us == key.created_us);
    assert_string_equal(got.id, key.id);
}

static void
test_page_token_rejects_tamper(void **state)
{
    struct rs_page_key key = { 1764871234567890LL, "0123456789abcdef0123456789abcdef" };
    struct rs_page_key got;
    const char *parts[2] = { "org", "kw" };
    const char *other_parts[2] = { "org", "kx" };
    uint64_t filter = rs_page_filter_hash("users", parts, 2);
    uint64_t other = rs_page_filter_hash("users", other_parts, 2);
    struct rs_error err;
    char token[RS_PAGE_TOKEN_MAX + 1];
    char edited[RS_PAGE_TOKEN_MAX + 1];
    size_t i;

    (void)state;
    assert_int_equal(rs_page_token_encode(filter, &key, token, sizeof(token)), RS_OK);
    /* Another filter, another listing kind, garbage and empty-ish input. */
    assert_string_equal(REASON(rs_page_token_decode(token, other, &got, &err)),
                        "PAGE_TOKEN_INVALID");
    assert_string_equal(REASON(rs_page_token_decode(
                            token, rs_page_filter_hash("groups", parts, 2), &got, &err)),
                        "PAGE_TOKEN_INVALID");
    assert_string_equal(REASON(rs_page_token_decode("not a token!", filter, &got, &err)),
                        "PAGE_TOKEN_INVALID");
    assert_string_equal(REASON(rs_page_token_decode("AAAA", filter, &got, &err)),
                        "PAGE_TOKEN_INVALID");
    /* Changing any one character breaks the checksum or the encoding. */
    for (i = 0; token[i] != '\0'; i++) {
        strcpy(edited, token);
        edited[i] = edited[i] == 'A' ? 'B' : 'A';
        assert_string_equal(REASON(rs_page_token_decode(edited, filter, &got, &err)),
                            "PAGE_TOKEN_INVALID");
    }
    /* Filter parts are separated, so ("ab", "") differs from ("a", "b"). */
    {
        const char *p1[2] = { "ab", "" };
        const char *p2[2] = { "a", "b" };

        assert_true(rs_page_filter_hash("users", p1, 2) !=
                    rs_page_filter_hash("users", p2, 2));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_size),
        cmocka_unit_test(test_page_token_round_trip),
        cmocka_unit_test(test_page_token_rejects_tamper),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
