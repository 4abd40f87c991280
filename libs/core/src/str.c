/*
 * libs/core/src/str.c
 *    UTF-8 validation, random ids and base64url, shared by all services.
 */
#include "roster/str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uninorm.h>
#include <uuid/uuid.h>

#include "roster/alloc.h"

/* Returns the length of the UTF-8 sequence at s (1-4), or 0 if malformed. */
static size_t
utf8_sequence(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        if (left < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

bool
rs_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t n;

    while (i < len) {
        n = utf8_sequence(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t
rs_utf8_length(const char *s, size_t len)
{
    size_t count = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    }
    return count;
}

void
rs_utf8_trim_partial(char *s)
{
    size_t len = strlen(s);
    size_t start = len;
    size_t need;

    /* Walk back over at most three continuation bytes to the lead byte. */
    while (start > 0 && len - start < 4 &&
           ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    start--;
    need = utf8_sequence((const unsigned char *)s + start, len - start);
    if (need == 0 || start + need != len) {
        if ((unsigned char)s[start] >= 0x80)
            s[start] = '\0';
    }
}

bool
rs_utf8_has_control(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F)
            return true;
        /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F. */
        if (p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            return true;
    }
    return false;
}

/*
 * Decodes one code point of valid UTF-8 at s; returns its byte length.
 * REQUIRES: s[0..len) is valid UTF-8 and len > 0.
 */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80 || len < 2) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xE0) {
        *cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (s[0] < 0xF0 && len >= 3) {
        *cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) |
              (s[2] & 0x3F);
        return 3;
    }
    if (len >= 4) {
        *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
              ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        return 4;
    }
    *cp = s[0];
    return 1;
}

/* Unicode White_Space code points, plus the zero-width no-break space. */
static bool
is_space(uint32_t cp)
{
    return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
           cp == 0xFEFF;
}

/*
 * Invisible format characters make two names look alike or reorder the
 * displayed text. They are the zero-width space, word joiners, bidirectional
 * controls, the byte-order mark, the soft hyphen, the grapheme joiner, the
 * Hangul fillers and the blank Braille pattern. Noncharacters are rejected
 * too. Zero-width (non-)joiners and variation selectors stay allowed inside
 * a name, because emoji sequences, Mongolian and Persian or Indic scripts
 * need them.
 */
static bool
is_invisible(uint32_t cp)
{
    return cp == 0x00AD || cp == 0x034F || cp == 0x061C || cp == 0x115F || cp == 0x1160 ||
           cp == 0x180E || cp == 0x200B || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) ||
           cp == 0x2800 || cp == 0x3164 || cp == 0xFEFF || cp == 0xFFA0 ||
           (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
           (cp & 0xFFFE) == 0xFFFE;
}

static bool
is_joiner(uint32_t cp)
{
    return cp == 0x200C || cp == 0x200D;
}

/*
 * Returns true if cp may not start a name. Joiners and variation selectors
 * attach to the character before them, so at the start they only make two
 * names look alike. At the end, a joiner does the same.
 */
static bool
bad_first(uint32_t cp)
{
    return is_space(cp) || is_joiner(cp) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           (cp >= 0x180B && cp <= 0x180D) || cp == 0x180F || (cp >= 0xE0100 && cp <= 0xE01EF);
}

static bool
bad_last(uint32_t cp)
{
    return is_space(cp) || is_joiner(cp);
}

bool
rs_utf8_has_invisible(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;

    while (len > 0) {
        size_t n = utf8_decode(p, len, &cp);

        if (is_invisible(cp))
            return true;
        p += n;
        len -= n;
    }
    return false;
}

bool
rs_utf8_has_outer_space(const char *s, size_t len)
{
    uint32_t cp;

    utf8_decode((const unsigned char *)s, len, &cp);
    return bad_first(cp) || rs_utf8_trim_end(s, len) != len;
}

bool
rs_utf8_is_blank(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;

    while (len > 0) {
        size_t n = utf8_decode(p, len, &cp);

        if (!is_space(cp))
            return false;
        p += n;
        len -= n;
    }
    return true;
}

size_t
rs_utf8_prefix(const char *s, size_t max_cp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    while (*p != '\0' && n < max_cp) {
        p++;
        while ((*p & 0xC0) == 0x80)
            p++;
        n++;
    }
    return (size_t)((const char *)p - s);
}

size_t
rs_utf8_trim_end(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;

    while (len > 0) {
        size_t start = len - 1;

        while (start > 0 && (p[start] & 0xC0) == 0x80)
            start--;
        utf8_decode(p + start, len - start, &cp);
        if (!bad_last(cp))
            break;
        len = start;
    }
    return len;
}

size_t
rs_utf8_clean_name(const char *s, char *out, size_t out_size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    size_t len = 0;
    uint32_t cp;

    if (out_size == 0)
        return 0;
    while (left > 0) {
        size_t n = utf8_decode(p, left, &cp);
        bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
        const char *bytes = (const char *)p;
        size_t n_out = n;

        p += n;
        left -= n;
        /* A tab or line break inside a name still separates its words, and
         * a "\r\n" or a space before it separates them once. */
        if (control && is_space(cp)) {
            if (len > 0 && out[len - 1] == ' ')
                continue;
            bytes = " ";
            n_out = 1;
        } else if (control || is_invisible(cp)) {
            continue;
        }
        if (len == 0 && bad_first(cp))
            continue;
        if (len + n_out + 1 > out_size)
            break;
        memcpy(out + len, bytes, n_out);
        len += n_out;
    }
    len = rs_utf8_trim_end(out, len);
    out[len] = '\0';
    return len;
}

bool
rs_nfc_inert_code_point(uint32_t cp)
{
    /* Each range contains starters that are their own NFC form, and none of
     * them is the second part of a canonical composition. core_test_str
     * checks both against libunistring's tables. */
    return cp < 0x300 ||                      /* before the combining marks */
           (cp >= 0x3041 && cp <= 0x3096) ||  /* hiragana */
           (cp >= 0x30A1 && cp <= 0x30FC) ||  /* katakana, middle dot, long sound */
           (cp >= 0x3400 && cp <= 0x4DBF) ||  /* CJK extension A */
           (cp >= 0x4E00 && cp <= 0x9FFF) ||  /* CJK unified ideographs */
           (cp >= 0x20000 && cp <= 0x2A6DF);  /* CJK extension B */
}

bool
rs_utf8_nfc_inert(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t n;
    uint32_t cp;

    while (i < len) {
        n = utf8_sequence(p + i, len - i);
        if (n == 0)
            return false;
        utf8_decode(p + i, n, &cp);
        if (!rs_nfc_inert_code_point(cp))
            return false;
        i += n;
    }
    return true;
}

rs_status
rs_utf8_nfc(const char *s, size_t len, char **out, size_t *out_len)
{
    const char *src = s;
    uint8_t *norm = NULL;
    size_t norm_len = len;
    char *copy;
    rs_status rc = RS_OK;

    *out = NULL;
    *out_len = 0;
    if (!rs_utf8_nfc_inert(s, len)) {
        /* libunistring replaces malformed sequences with U+FFFD instead of
         * failing, which would turn a caller's INVALID_UTF8 into a stored name. */
        if (!rs_utf8_valid(s, len))
            return RS_EINVAL;
        norm = u8_normalize(UNINORM_NFC, (const uint8_t *)s, len, NULL, &norm_len);
        if (norm == NULL)
            return errno == ENOMEM ? RS_ENOMEM : RS_EINTERNAL;
        src = (const char *)norm;
    }
    /* A copy from rs_malloc, because u8_normalize's result has no NUL and
     * would bypass the allocation failure hook of the tests. */
    copy = rs_malloc(norm_len + 1);
    if (copy == NULL) {
        rc = RS_ENOMEM;
        goto out;
    }
    if (norm_len > 0)
        memcpy(copy, src, norm_len);
    copy[norm_len] = '\0';
    *out = copy;
    *out_len = norm_len;
out:
    free(norm);
    return rc;
}

int
rs_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void
rs_hex_encode(char *out, const void *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = in;
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 0x0F];
    }
    out[2 * n] = '\0';
}

void
rs_id_new(char out[RS_ID_LEN + 1])
{
    uuid_t uuid;

    uuid_generate_random(uuid);
    rs_hex_encode(out, uuid, sizeof(uuid));
}

bool
rs_id_valid(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i < RS_ID_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return s[RS_ID_LEN] == '\0';
}

rs_status
rs_base64url_encode(const unsigned char *src, size_t len, char *out, size_t out_size)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    size_t i;
    int n;

    if (out_size < need || len > (size_t)0x3fffffff)
        return RS_ERANGE;
    n = EVP_EncodeBlock((unsigned char *)out, src, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (i = 0; i < (size_t)n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return RS_OK;
}

rs_status
rs_base64url_decode(const char *src, unsigned char *out, size_t out_size, size_t *out_len)
{
    size_t len = strlen(src);
    size_t padded;
    size_t i;
    size_t pad;
    char buf[1024];
    unsigned char tmp[768];
    int n;

    *out_len = 0;
    if (len % 4 == 1 || len > 1020)
        return RS_EINVAL;
    pad = (4 - len % 4) % 4;
    padded = len + pad;
    for (i = 0; i < len; i++) {
        char c = src[i];

        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                   (c >= '0' && c <= '9')))
            return RS_EINVAL;
        buf[i] = c;
    }
    for (i = len; i < padded; i++)
        buf[i] = '=';
    buf[padded] = '\0';
    n = EVP_DecodeBlock(tmp, (const unsigned char *)buf, (int)padded);
    if (n < 0)
        return RS_EINVAL;
    /* EVP_DecodeBlock counts the bytes that padding stands for. */
    n -= (int)pad;
    if ((size_t)n > out_size)
        return RS_ERANGE;
    memcpy(out, tmp, (size_t)n);
    *out_len = (size_t)n;
    return RS_OK;
}

/* FNV-1a, then a final mix so that the low bits (the slot) depend on every byte. */
uint64_t
rs_hash_str(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}
