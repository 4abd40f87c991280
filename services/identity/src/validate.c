/*
 * services/identity/src/validate.c
 *    Input rules that need no database.
 */
#include "validate.h"

#include <string.h>

#include "roster/str.h"

static rs_status
invalid(struct rs_error *err, const char *reason, const char *field, const char *fmt,
        const char *arg)
{
    rs_error_set(err, RS_EINVAL, reason, fmt, arg);
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
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
 * Invisible format characters make two nicknames look alike or reorder the
 * displayed text. They are the zero-width space, word joiners, bidirectional
 * controls, the byte-order mark and the soft hyphen. Noncharacters are
 * rejected too.
 * Zero-width (non-)joiners and variation selectors stay allowed, because
 * emoji sequences and Persian or Indic scripts need them.
 */
static bool
is_invisible(uint32_t cp)
{
    return cp == 0x00AD || cp == 0x061C || cp == 0x180E || cp == 0x200B || cp == 0x200E ||
           cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) ||
           cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
           (cp & 0xFFFE) == 0xFFFE;
}

bool
identity_text_has_invisible(const char *s, size_t len)
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

/* Returns true if s starts or ends with a white-space code point. */
static bool
has_outer_space(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = len;
    uint32_t cp;

    utf8_decode(p, len, &cp);
    if (is_space(cp))
        return true;
    /* Step back over continuation bytes to the last code point. */
    while (start > 0 && (start == len || (p[start] & 0xC0) == 0x80))
        start--;
    utf8_decode(p + start, len - start, &cp);
    return is_space(cp);
}

bool
identity_text_is_blank(const char *s, size_t len)
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

rs_status
identity_validate_text(const char *field, const char *value, size_t max_len,
                       bool allow_empty, const char *reason, struct rs_error *err)
{
    size_t len = strlen(value);

    if (len == 0) {
        if (allow_empty)
            return RS_OK;
        return invalid(err, reason, field, "missing required field \"%s\"", field);
    }
    if (!rs_utf8_valid(value, len))
        return invalid(err, "INVALID_UTF8", field, "field \"%s\" is not valid UTF-8", field);
    if (len > max_len * 4 || rs_utf8_length(value, len) > max_len) {
        rs_error_set(err, RS_EINVAL, reason, "%s is longer than %zu characters", field,
                     max_len);
        rs_error_meta(err, "field", field);
        return RS_EINVAL;
    }
    if (rs_utf8_has_control(value, len))
        return invalid(err, reason, field, "%s must not contain control characters",
                       field);
    /* An optional field may be blank; a required one must say something. */
    if (!allow_empty && identity_text_is_blank(value, len))
        return invalid(err, reason, field, "%s must not be blank", field);
    return RS_OK;
}

rs_status
identity_validate_nickname(const char *value, struct rs_error *err)
{
    size_t len = strlen(value);

    if (len == 0)
        return invalid(err, "NICKNAME_INVALID", "nickname",
                       "missing required field \"%s\"", "nickname");
    if (!rs_utf8_valid(value, len))
        return invalid(err, "INVALID_UTF8", "nickname",
                       "field \"%s\" is not valid UTF-8", "nickname");
    /* More than 4 bytes a code point cannot be valid, so skip counting. */
    if (len > IDENTITY_NICKNAME_MAX * 4 || rs_utf8_length(value, len) > IDENTITY_NICKNAME_MAX)
        return invalid(err, "NICKNAME_TOO_LONG", "nickname",
                       "nickname is longer than %s characters", "50");
    if (rs_utf8_has_control(value, len))
        return invalid(err, "NICKNAME_INVALID", "nickname",
                       "%s must not contain control characters", "nickname");
    if (identity_text_is_blank(value, len))
        return invalid(err, "NICKNAME_INVALID", "nickname", "%s must not be blank",
                       "nickname");
    if (identity_text_has_invisible(value, len))
        return invalid(err, "NICKNAME_INVALID", "nickname",
                       "%s must not contain invisible format characters", "nickname");
    if (has_outer_space(value, len))
        return invalid(err, "NICKNAME_INVALID", "nickname",
                       "%s must not start or end with white space", "nickname");
    return RS_OK;
}

static bool
has_space_or_control(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7F)
            return true;
    }
    return rs_utf8_has_control(s, strlen(s));
}

/* Returns true if value is short, valid UTF-8 without control characters, fit to quote in a message. */
static bool
quotable(const char *value)
{
    size_t len = strlen(value);

    return len <= 64 && rs_utf8_valid(value, len) && !rs_utf8_has_control(value, len);
}

rs_status
identity_validate_email(const char *value, struct rs_error *err)
{
    size_t len = strlen(value);
    const char *at;
    const char *domain;
    const char *label;
    const char *p;

    if (len == 0)
        return RS_OK;
    at = strchr(value, '@');
    if (len > IDENTITY_EMAIL_MAX || has_space_or_control(value) || at == NULL ||
        at == value || at - value > 64 || strchr(at + 1, '@') != NULL)
        goto bad;
    domain = at + 1;
    if (strchr(domain, '.') == NULL)
        goto bad;
    /* Every dot-separated label of the domain is non-empty. */
    label = domain;
    for (p = domain;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == label)
                goto bad;
            if (*p == '\0')
                break;
            label = p + 1;
        }
    }
    return RS_OK;
bad:
    return invalid(err, "EMAIL_INVALID", "email",
                   "invalid email \"%s\": expected local@domain.tld without spaces",
                   quotable(value) ? value : "...");
}

rs_status
identity_validate_phone(const char *value, struct rs_error *err)
{
    const char *p = value;
    int digits = 0;
    bool prev_digit = false;

    if (*p == '\0')
        return RS_OK;
    if (*p == '+')
        p++;
    for (; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            digits++;
            prev_digit = true;
        } else if ((*p == '-' || *p == ' ') && prev_digit && p[1] >= '0' && p[1] <= '9') {
            prev_digit = false;
        } else {
            goto bad;
        }
    }
    if (digits >= 5 && digits <= 20)
        return RS_OK;
bad:
    return invalid(err, "PHONE_INVALID", "phone",
                   "invalid phone \"%s\": expected an optional \"+\" and 5 to 20 digits",
                   quotable(value) ? value : "...");
}

rs_status
identity_validate_account_id(const char *value, struct rs_error *err)
{
    size_t len = strlen(value);

    if (len == 0)
        return RS_OK;
    if (!rs_utf8_valid(value, len))
        return invalid(err, "INVALID_UTF8", "account_id",
                       "field \"%s\" is not valid UTF-8", "account_id");
    if (len > IDENTITY_ACCOUNT_ID_MAX * 4 ||
        rs_utf8_length(value, len) > IDENTITY_ACCOUNT_ID_MAX || has_space_or_control(value))
        return invalid(err, "ACCOUNT_ID_INVALID", "account_id",
                       "invalid %s: expected up to 64 characters without spaces",
                       "account_id");
    return RS_OK;
}

rs_status
identity_validate_user_type(const char *field, int value, struct rs_error *err)
{
    if (value >= 1 && value <= 3)
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "USER_TYPE_INVALID",
                 "invalid %s %d: expected DEVELOPER, VISITOR or ANALYST", field, value);
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
}

rs_status
identity_validate_platform(const char *field, int value, struct rs_error *err)
{
    if (value >= 1 && value <= 3)
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "PLATFORM_INVALID",
                 "invalid %s %d: expected DINGTALK, WECOM or LARK", field, value);
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
}
