/* UTF-8 checks, ids and base64url. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <stdlib.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "roster/alloc.h"
#include "roster/str.h"

static void
utf8_accepts_cjk_and_emoji(void **state)
{
    const char *s = "张伟 Zhang 🚀 Ω";

    RS_UNUSED(state);
    assert_true(rs_utf8_valid(s, strlen(s)));
    assert_int_equal(rs_utf8_length(s, strlen(s)), 12);
    assert_false(rs_utf8_has_control(s, strlen(s)));
}

static void
utf8_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "\xC0\xAF",         /* overlong '/' */
        "\xE0\x80\xAF",     /* overlong */
        "\xED\xA0\x80",     /* surrogate */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xFF",
        "\xE5\xBC",         /* truncated */
        "a\x80",            /* stray continuation */
    };
    size_t i;

    RS_UNUSED(state);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(rs_utf8_valid(bad[i], strlen(bad[i])));
}

static void
utf8_finds_control_characters(void **state)
{
    RS_UNUSED(state);
    assert_true(rs_utf8_has_control("a\tb", 3));
    assert_true(rs_utf8_has_control("a\x7f", 2));
    assert_true(rs_utf8_has_control("\xC2\x85", 2));
    assert_false(rs_utf8_has_control("\xC2\xA0", 2));
}

static void
utf8_trim_partial_cuts_incomplete_tail(void **state)
{
    char a[] = "ab\xE5\xBC";
    char b[] = "ab\xE5\xBC\xA0";
    char c[] = "abc";

    RS_UNUSED(state);
    rs_utf8_trim_partial(a);
    assert_string_equal(a, "ab");
    rs_utf8_trim_partial(b);
    assert_string_equal(b, "ab\xE5\xBC\xA0");
    rs_utf8_trim_partial(c);
    assert_string_equal(c, "abc");
}

static void
utf8_trim_end_drops_unicode_spaces(void **state)
{
    const char *s = "张三 \u3000\u00a0\t";

    RS_UNUSED(state);
    assert_int_equal(rs_utf8_trim_end(s, strlen(s)), strlen("张三"));
    assert_int_equal(rs_utf8_trim_end("\u3000 ", strlen("\u3000 ")), 0);
    assert_int_equal(rs_utf8_trim_end("", 0), 0);
    /* Only s[0..len) is read, so the space after it is not trimmed. */
    assert_int_equal(rs_utf8_trim_end("李 雷", strlen("李")), strlen("李"));
}

static void
utf8_joiners_only_inside_a_name(void **state)
{
    const char *family = "👨\u200d👩\u200d👧";
    const char *heart = "\u2764\ufe0f";
    char out[32];

    RS_UNUSED(state);
    assert_false(rs_utf8_has_outer_space(family, strlen(family)));
    assert_false(rs_utf8_has_outer_space(heart, strlen(heart)));
    assert_true(rs_utf8_has_outer_space("研发\u200d", strlen("研发\u200d")));
    assert_true(rs_utf8_has_outer_space("\u200c研发", strlen("\u200c研发")));
    assert_true(rs_utf8_has_outer_space("\ufe0f研发", strlen("\ufe0f研发")));
    rs_utf8_clean_name("\u200d\ufe0f研发\u200c", out, sizeof(out));
    assert_string_equal(out, "研发");
}

static void
utf8_invisible_fillers_found(void **state)
{
    static const char *const cases[] = { "a\u034fb", "\u3164", "a\uffa0", "\u115f",
                                         "\u2800", "x\u1160" };
    size_t i;

    RS_UNUSED(state);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_true(rs_utf8_has_invisible(cases[i], strlen(cases[i])));
    /* Mongolian needs its variation selectors inside a word. */
    assert_false(rs_utf8_has_invisible("\u182d\u180b\u1823", strlen("\u182d\u180b\u1823")));
}

static void
utf8_clean_name_drops_what_identity_refuses(void **state)
{
    char out[16];

    RS_UNUSED(state);
    assert_int_equal(rs_utf8_clean_name(" \u3000a\u200bb\x01\tc\u00a0", out, sizeof(out)),
                     strlen("ab c"));
    assert_string_equal(out, "ab c");
    rs_utf8_clean_name("Ana\r\nWang \tLi", out, sizeof(out));
    assert_string_equal(out, "Ana Wang Li");
    rs_utf8_clean_name("\u2066\u05e9\u05dc\u05d5\u05dd\u2069", out, sizeof(out));
    assert_string_equal(out, "\u05e9\u05dc\u05d5\u05dd");
    rs_utf8_clean_name("\ufeff\u3000", out, sizeof(out));
    assert_string_equal(out, "");
    /* Five 3-byte characters take 15 bytes, and the NUL takes the last byte. */
    rs_utf8_clean_name("一二三四五六", out, sizeof(out));
    assert_string_equal(out, "一二三四五");
    /* A cut that ends in a space drops the space. */
    rs_utf8_clean_name("一二三四 五六", out, 15);
    assert_string_equal(out, "一二三四");
    assert_int_equal(rs_utf8_clean_name("abc", out, 0), 0);
}

static void
id_new_is_valid_and_unique(void **state)
{
    char a[RS_ID_LEN + 1];
    char b[RS_ID_LEN + 1];

    RS_UNUSED(state);
    rs_id_new(a);
    rs_id_new(b);
    assert_true(rs_id_valid(a));
    assert_string_not_equal(a, b);
    assert_false(rs_id_valid("ABCDEF0123456789abcdef0123456789"));
    assert_false(rs_id_valid("abc"));
    assert_false(rs_id_valid(NULL));
    assert_false(rs_id_valid("0123456789abcdef0123456789abcdef0"));
}

static void
hex_value_both_cases(void **state)
{
    RS_UNUSED(state);
    assert_int_equal(rs_hex_value('0'), 0);
    assert_int_equal(rs_hex_value('9'), 9);
    assert_int_equal(rs_hex_value('a'), 10);
    assert_int_equal(rs_hex_value('F'), 15);
    assert_int_equal(rs_hex_value('g'), -1);
    assert_int_equal(rs_hex_value('%'), -1);
}

static void
hex_encode_bytes(void **state)
{
    static const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[2 * sizeof(in) + 2];

    RS_UNUSED(state);
    memset(out, 'x', sizeof(out));
    rs_hex_encode(out, in, sizeof(in));
    assert_string_equal(out, "000fa5ff");
    assert_int_equal(out[sizeof(out) - 1], 'x');
    rs_hex_encode(out, in, 0);
    assert_string_equal(out, "");
}

static void
base64url_round_trips(void **state)
{
    unsigned char in[64];
    unsigned char back[64];
    char text[128];
    size_t n;
    size_t len;

    RS_UNUSED(state);
    for (n = 0; n < sizeof(in); n++)
        in[n] = (unsigned char)(n * 37 + 250);
    for (len = 0; len <= sizeof(in); len++) {
        size_t got = 0;

        assert_int_equal(rs_base64url_encode(in, len, text, sizeof(text)), RS_OK);
        assert_null(strpbrk(text, "+/="));
        assert_int_equal(rs_base64url_decode(text, back, sizeof(back), &got), RS_OK);
        assert_int_equal(got, len);
        assert_memory_equal(in, back, len);
    }
}

static void
base64url_rejects_garbage(void **state)
{
    unsigned char out[16];
    size_t got;

    RS_UNUSED(state);
    assert_int_equal(rs_base64url_decode("ab$d", out, sizeof(out), &got), RS_EINVAL);
    assert_int_equal(rs_base64url_decode("abcde", out, sizeof(out), &got), RS_EINVAL);
    assert_int_equal(rs_base64url_decode("abc=", out, sizeof(out), &got), RS_EINVAL);
    assert_int_equal(rs_base64url_decode("QUJDREVGR0hJSktMTU5PUFFSU1RVVg", out, sizeof(out),
                                         &got),
                     RS_ERANGE);
    assert_int_equal(rs_base64url_encode(out, 16, (char *)out, 4), RS_ERANGE);
}

/* Asserts that rs_utf8_nfc turns in into expected. */
static void
assert_nfc(const char *in, const char *expected)
{
    char *out = NULL;
    size_t out_len = 0;

    assert_int_equal(rs_utf8_nfc(in, strlen(in), &out, &out_len), RS_OK);
    assert_non_null(out);
    assert_string_equal(out, expected);
    assert_int_equal(out_len, strlen(expected));
    rs_free(out);
}

static void
utf8_nfc_composes_latin(void **state)
{
    RS_UNUSED(state);
    /* "e" + U+0301 COMBINING ACUTE ACCENT becomes U+00E9. */
    assert_nfc("Cafe\xCC\x81", "Caf\xC3\xA9");
    /* The dot below (class 220) sorts before the acute (230) and composes
     * with the "a" into U+1EA1, and the acute stays a combining mark. */
    assert_nfc("a\xCC\x81\xCC\xA3", "\xE1\xBA\xA1\xCC\x81");
    /* U+212B ANGSTROM SIGN is a singleton that maps to U+00C5. */
    assert_nfc("\xE2\x84\xAB", "\xC3\x85");
}

static void
utf8_nfc_composes_hangul_jamo(void **state)
{
    RS_UNUSED(state);
    /* U+1100 U+1161 U+11A8 (leading, vowel, trailing jamo) become U+AC01. */
    assert_nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81");
}

static void
utf8_nfc_keeps_normalised_text(void **state)
{
    RS_UNUSED(state);
    assert_nfc("", "");
    assert_nfc("Caf\xC3\xA9 Zo\xC3\xAB", "Caf\xC3\xA9 Zo\xC3\xAB");
    assert_nfc("张伟 研发部", "张伟 研发部");
    /* Heart with variation selector 16, and a ZWJ family sequence. */
    assert_nfc("\xE2\x9D\xA4\xEF\xB8\x8F", "\xE2\x9D\xA4\xEF\xB8\x8F");
    assert_nfc("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",
               "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7");
}

static void
utf8_nfc_may_grow(void **state)
{
    RS_UNUSED(state);
    /* U+0958 is excluded from composition, so NFC keeps U+0915 U+093C: 3 bytes to 6. */
    assert_nfc("\xE0\xA5\x98", "\xE0\xA4\x95\xE0\xA4\xBC");
    /* U+1D15E MUSICAL SYMBOL HALF NOTE: 4 bytes to 8. */
    assert_nfc("\xF0\x9D\x85\x9E\xF0\x9D\x85\x9E",
               "\xF0\x9D\x85\x97\xF0\x9D\x85\xA5\xF0\x9D\x85\x97\xF0\x9D\x85\xA5");
}

static void
utf8_nfc_rejects_invalid(void **state)
{
    char *out = (char *)"untouched";
    size_t out_len = 7;

    RS_UNUSED(state);
    assert_int_equal(rs_utf8_nfc("Caf\xC3", 4, &out, &out_len), RS_EINVAL);
    assert_null(out);
    assert_int_equal(out_len, 0);
    out = (char *)"untouched";
    assert_int_equal(rs_utf8_nfc("\xED\xA0\x80", 3, &out, &out_len), RS_EINVAL);
    assert_null(out);
}

/* Returns true if NFC of the UTF-8 text s[0..len) by libunistring is s. */
static bool
unistring_keeps(const uint8_t *s, size_t len)
{
    size_t norm_len = 0;
    uint8_t *norm = u8_normalize(UNINORM_NFC, s, len, NULL, &norm_len);
    bool same;

    assert_non_null(norm);
    same = norm_len == len && memcmp(norm, s, len) == 0;
    free(norm);
    return same;
}

static void
nfc_inert_points_stay_nfc(void **state)
{
    uint8_t buf[4];
    uint32_t cp;
    size_t n_inert = 0;
    int len;

    RS_UNUSED(state);
    for (cp = 0; cp <= 0x10FFFF; cp++) {
        if ((cp >= 0xD800 && cp <= 0xDFFF) || !rs_nfc_inert_code_point(cp))
            continue;
        assert_int_equal(uc_combining_class(cp), 0);
        len = u8_uctomb(buf, cp, sizeof(buf));
        assert_true(len > 0);
        assert_true(unistring_keeps(buf, (size_t)len));
        n_inert++;
    }
    /* The ranges contain 71,250 code points. Fewer would mean that the
     * function no longer matches some of them. */
    assert_int_equal(n_inert, 71250);
}

static void
nfc_inert_points_never_compose(void **state)
{
    ucs4_t decomposition[UC_DECOMPOSITION_MAX_LENGTH];
    uint32_t cp;
    size_t n_pairs = 0;

    RS_UNUSED(state);
    /* A canonical composition of two characters is the reverse of a
     * two-character canonical decomposition mapping. */
    for (cp = 0; cp <= 0x10FFFF; cp++) {
        if (uc_canonical_decomposition(cp, decomposition) != 2)
            continue;
        assert_false(rs_nfc_inert_code_point(decomposition[1]));
        n_pairs++;
    }
    assert_true(n_pairs > 1000);
}

static void
utf8_nfc_inert_strings(void **state)
{
    RS_UNUSED(state);
    assert_true(rs_utf8_nfc_inert("", 0));
    assert_true(rs_utf8_nfc_inert("Zoe Li", 6));
    assert_true(rs_utf8_nfc_inert("张伟", strlen("张伟")));
    assert_true(rs_utf8_nfc_inert("山田・タロー", strlen("山田・タロー")));
    assert_true(rs_utf8_nfc_inert("がぎ", strlen("がぎ")));
    assert_true(rs_utf8_nfc_inert("\xF0\xA0\x80\x80", 4));       /* U+20000 */
    assert_false(rs_utf8_nfc_inert("e\xCC\x81", 3));              /* U+0301 */
    assert_false(rs_utf8_nfc_inert("\xE3\x81\x8B\xE3\x82\x99", 6)); /* か U+3099 */
    assert_false(rs_utf8_nfc_inert("\xEA\xB0\x81", 3));           /* a Hangul syllable */
    assert_false(rs_utf8_nfc_inert("\xEF\xA4\x80", 3));           /* U+F900 */
    assert_false(rs_utf8_nfc_inert("\xE2\x9D\xA4\xEF\xB8\x8F", 6)); /* U+2764 U+FE0F */
    assert_false(rs_utf8_nfc_inert("Caf\xC3", 4));
}

/* Compares rs_utf8_nfc with libunistring on random strings of code points
 * from the inert ranges mixed with ones that compose or decompose. */
static void
utf8_nfc_matches_unistring(void **state)
{
    static const uint32_t pool[] = {
        0x41, 0x65, 0xB7, 0x2FF, 0x3041, 0x304B, 0x304C, 0x30A1, 0x30AB, 0x30FB, 0x30FC,
        0x3400, 0x4E00, 0x5F20, 0x9FFF, 0x20000, 0x0300, 0x0301, 0x0323, 0x3099, 0x309A,
        0x1100, 0x1161, 0x11A8, 0xAC00, 0xF900, 0x0958, 0xFE0F, 0x200D, 0x1F600, 0x212B,
    };
    uint8_t text[8 * 4];
    uint32_t seed = 12345;
    size_t n_cp, i, len;
    char *out;
    size_t out_len, norm_len;
    uint8_t *norm;
    uint32_t cp;
    int round;

    RS_UNUSED(state);
    for (round = 0; round < 5000; round++) {
        seed = seed * 1103515245u + 12345u;
        n_cp = 1 + (seed >> 16) % 8;
        len = 0;
        for (i = 0; i < n_cp; i++) {
            seed = seed * 1103515245u + 12345u;
            cp = pool[(seed >> 16) % (sizeof(pool) / sizeof(pool[0]))];
            len += (size_t)u8_uctomb(text + len, cp, (int)(sizeof(text) - len));
        }
        norm = u8_normalize(UNINORM_NFC, text, len, NULL, &norm_len);
        assert_non_null(norm);
        assert_int_equal(rs_utf8_nfc((const char *)text, len, &out, &out_len), RS_OK);
        assert_int_equal(out_len, norm_len);
        assert_memory_equal(out, norm, norm_len);
        rs_free(out);
        free(norm);
    }
}

static void
utf8_nfc_out_of_memory(void **state)
{
    char *out = (char *)"untouched";
    size_t out_len = 7;

    RS_UNUSED(state);
    rs_alloc_fail_after(1, 0);
    assert_int_equal(rs_utf8_nfc("Cafe\xCC\x81", 6, &out, &out_len), RS_ENOMEM);
    rs_alloc_fail_after(0, 0);
    assert_null(out);
    assert_int_equal(out_len, 0);
    /* Text that needs no normalisation is copied, which can fail too. */
    rs_alloc_fail_after(1, 0);
    assert_int_equal(rs_utf8_nfc("张伟", strlen("张伟"), &out, &out_len), RS_ENOMEM);
    rs_alloc_fail_after(0, 0);
    assert_null(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_accepts_cjk_and_emoji),
        cmocka_unit_test(utf8_rejects_malformed),
        cmocka_unit_test(utf8_finds_control_characters),
        cmocka_unit_test(utf8_trim_partial_cuts_incomplete_tail),
        cmocka_unit_test(utf8_trim_end_drops_unicode_spaces),
        cmocka_unit_test(utf8_clean_name_drops_what_identity_refuses),
        cmocka_unit_test(utf8_joiners_only_inside_a_name),
        cmocka_unit_test(utf8_invisible_fillers_found),
        cmocka_unit_test(id_new_is_valid_and_unique),
        cmocka_unit_test(hex_value_both_cases),
        cmocka_unit_test(hex_encode_bytes),
        cmocka_unit_test(base64url_round_trips),
        cmocka_unit_test(base64url_rejects_garbage),
        cmocka_unit_test(utf8_nfc_composes_latin),
        cmocka_unit_test(utf8_nfc_composes_hangul_jamo),
        cmocka_unit_test(utf8_nfc_keeps_normalised_text),
        cmocka_unit_test(utf8_nfc_may_grow),
        cmocka_unit_test(utf8_nfc_rejects_invalid),
        cmocka_unit_test(nfc_inert_points_stay_nfc),
        cmocka_unit_test(nfc_inert_points_never_compose),
        cmocka_unit_test(utf8_nfc_inert_strings),
        cmocka_unit_test(utf8_nfc_matches_unistring),
        cmocka_unit_test(utf8_nfc_out_of_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
