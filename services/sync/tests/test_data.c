/*
 * services/sync/tests/test_data.c
 *    Unit tests of the data plane's pure helpers: the nickname suffix rule
 *    and the PostgreSQL array literals the structure diff is loaded with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane.h"
#include "roster/str.h"

#define NICK (4 * SYNC_DP_NICKNAME_MAX + 1)

static size_t
code_points(const char *s)
{
    return rs_utf8_length(s, strlen(s));
}

static void
nickname_plain_name_is_kept(void **state)
{
    char out[NICK];

    (void)state;
    sync_dp_nickname("李雷", NULL, out, sizeof(out));
    assert_string_equal(out, "李雷");
    sync_dp_nickname("Ana Wang", "", out, sizeof(out));
    assert_string_equal(out, "Ana Wang");
}

static void
nickname_suffix_is_appended(void **state)
{
    char out[NICK];

    (void)state;
    sync_dp_nickname("李雷", "E0001", out, sizeof(out));
    assert_string_equal(out, "李雷-E0001");
}

static void
nickname_long_name_is_cut_to_50(void **state)
{
    char name[4 * 60 + 1] = "";
    char out[NICK];
    int i;

    (void)state;
    for (i = 0; i < 60; i++)
        strcat(name, "长");
    sync_dp_nickname(name, NULL, out, sizeof(out));
    assert_int_equal(code_points(out), 50);
    sync_dp_nickname(name, "1234", out, sizeof(out));
    assert_int_equal(code_points(out), 50);
    assert_string_equal(out + strlen(out) - 5, "-1234");
}

static void
nickname_cut_keeps_whole_characters(void **state)
{
    char name[4 * 60 + 1] = "";
    char out[NICK];
    int i;

    (void)state;
    for (i = 0; i < 60; i++)
        strcat(name, "𠮷"); /* four bytes each */
    sync_dp_nickname(name, "abc", out, sizeof(out));
    assert_true(rs_utf8_valid(out, strlen(out)));
    assert_int_equal(code_points(out), 50);
}

static void
nickname_cut_drops_trailing_space(void **state)
{
    char name[64];
    char out[NICK];

    (void)state;
    /* 44 letters, a space, more letters: the cut at 45 ends in the space */
    memset(name, 'a', 44);
    strcpy(name + 44, " bcdefgh");
    sync_dp_nickname(name, "1234", out, sizeof(out));
    assert_int_equal(strlen(out), 44 + 5);
    assert_string_equal(out + 44, "-1234");
}

static void
nickname_four_byte_name_fills_buffer(void **state)
{
    char name[4 * 60 + 1] = "";
    char out[NICK];
    int i;

    (void)state;
    /* 50 four-byte characters need all 4 * 50 + 1 bytes of out. */
    for (i = 0; i < 60; i++)
        strcat(name, "😀");
    sync_dp_nickname(name, NULL, out, sizeof(out));
    assert_int_equal(strlen(out), 4 * 50);
    assert_int_equal(code_points(out), 50);
}

static void
nickname_cut_without_suffix_drops_space(void **state)
{
    char name[4 * 60 + 1] = "";
    char out[NICK];
    int i;

    (void)state;
    for (i = 0; i < 49; i++)
        strcat(name, "长");
    strcat(name, " 尾");
    sync_dp_nickname(name, NULL, out, sizeof(out));
    assert_int_equal(code_points(out), 49);
    assert_int_equal(out[strlen(out) - 1] == ' ', 0);
}

static void
nickname_long_suffix_is_cut(void **state)
{
    char suffix[80];
    char out[NICK];

    (void)state;
    memset(suffix, '9', 79);
    suffix[79] = '\0';
    sync_dp_nickname("名", suffix, out, sizeof(out));
    assert_int_equal(code_points(out), 50);
    assert_memory_equal(out, "名-", strlen("名-"));
}

/* Asserts that nick passes identity's nickname checks. */
static void
assert_acceptable(const char *nick)
{
    size_t len = strlen(nick);

    assert_true(len > 0);
    assert_true(rs_utf8_valid(nick, len));
    assert_false(rs_utf8_has_control(nick, len));
    assert_false(rs_utf8_has_invisible(nick, len));
    assert_false(rs_utf8_has_outer_space(nick, len));
    assert_true(code_points(nick) <= SYNC_DP_NICKNAME_MAX);
}

static void
nickname_untidy_name_is_cleaned(void **state)
{
    char out[NICK];

    (void)state;
    sync_dp_nickname("  张三\u3000", NULL, out, sizeof(out));
    assert_string_equal(out, "张三");
    sync_dp_nickname("张\u200b三", "E0001", out, sizeof(out));
    assert_string_equal(out, "张三-E0001");
    sync_dp_nickname("Ana\tWang\r\n", NULL, out, sizeof(out));
    assert_string_equal(out, "Ana Wang");
    sync_dp_nickname("\u202e王五\ufeff", NULL, out, sizeof(out));
    assert_string_equal(out, "王五");
    /* Joiners inside an emoji sequence stay. */
    sync_dp_nickname("👩\u200d💻 李", NULL, out, sizeof(out));
    assert_string_equal(out, "👩\u200d💻 李");
    assert_acceptable(out);
    sync_dp_nickname("\u3000\t ", "1234", out, sizeof(out));
    assert_string_equal(out, "-1234");
    /* A job number from the directory is cleaned the same way. */
    sync_dp_nickname("张三", " E\t001\u200b ", out, sizeof(out));
    assert_string_equal(out, "张三-E 001");
    assert_acceptable(out);
    sync_dp_nickname("张三", "\u200b", out, sizeof(out));
    assert_string_equal(out, "张三");
}

static void
nickname_cut_drops_ideographic_space(void **state)
{
    char name[4 * 60 + 1] = "";
    char out[NICK];
    int i;

    (void)state;
    /* 44 characters, then U+3000 where a cut for a 5-character suffix ends */
    for (i = 0; i < 44; i++)
        strcat(name, "长");
    strcat(name, "\u3000尾巴");
    sync_dp_nickname(name, "1234", out, sizeof(out));
    assert_acceptable(out);
    assert_int_equal(code_points(out), 44 + 5);
    sync_dp_nickname(name, NULL, out, sizeof(out));
    assert_acceptable(out);
    assert_int_equal(code_points(out), 47);
}

static void
nickname_cut_drops_dangling_joiner(void **state)
{
    char name[4 * 60 + 1] = "";
    char out[NICK];
    int i;

    (void)state;
    /* The cut at 50 falls after the first joiner of a family emoji. */
    for (i = 0; i < 48; i++)
        strcat(name, "后");
    strcat(name, "👨\u200d👩\u200d👧");
    sync_dp_nickname(name, NULL, out, sizeof(out));
    assert_int_equal(code_points(out), 49);
    assert_string_equal(out + strlen(out) - strlen("后👨"), "后👨");
}

static void
email_local_part(void **state)
{
    char out[32];

    (void)state;
    sync_dp_email_local("lilei@example.org", out, sizeof(out));
    assert_string_equal(out, "lilei");
    sync_dp_email_local("no-at-sign", out, sizeof(out));
    assert_string_equal(out, "");
    sync_dp_email_local("averyveryverylonglocalpartthatdoesnotfit@x.y", out, 8);
    assert_string_equal(out, "averyve");
}

static void
array_literal_escapes(void **state)
{
    struct rs_buf b = { 0 };

    (void)state;
    rs_buf_str(&b, "{");
    rs_buf_elem(&b, "plain");
    rs_buf_elem(&b, "a \"quoted\" \\ name, {x}");
    rs_buf_elem(&b, NULL);
    rs_buf_elem(&b, "");
    rs_buf_str(&b, "}");
    assert_false(b.oom);
    assert_string_equal(b.data, "{\"plain\",\"a \\\"quoted\\\" \\\\ name, {x}\",NULL,\"\"}");
    rs_buf_free(&b);
}

static void
copy_field_escapes_text_format(void **state)
{
    struct rs_buf b = { 0 };

    (void)state;
    rs_buf_copy_field(&b, "张三 😀", false);
    rs_buf_copy_field(&b, "tab\there\\back\nline\rcr", false);
    rs_buf_copy_field(&b, NULL, false);
    rs_buf_copy_field(&b, "", true);
    assert_false(b.oom);
    assert_string_equal(b.data, "张三 😀\ttab\\there\\\\back\\nline\\rcr\t\\N\t\n");
    rs_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_field_escapes_text_format),
        cmocka_unit_test(nickname_plain_name_is_kept),
        cmocka_unit_test(nickname_suffix_is_appended),
        cmocka_unit_test(nickname_long_name_is_cut_to_50),
        cmocka_unit_test(nickname_cut_keeps_whole_characters),
        cmocka_unit_test(nickname_cut_drops_trailing_space),
        cmocka_unit_test(nickname_four_byte_name_fills_buffer),
        cmocka_unit_test(nickname_cut_without_suffix_drops_space),
        cmocka_unit_test(nickname_long_suffix_is_cut),
        cmocka_unit_test(nickname_untidy_name_is_cleaned),
        cmocka_unit_test(nickname_cut_drops_ideographic_space),
        cmocka_unit_test(nickname_cut_drops_dangling_joiner),
        cmocka_unit_test(email_local_part),
        cmocka_unit_test(array_literal_escapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
