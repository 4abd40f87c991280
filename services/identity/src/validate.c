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
    if (!allow_empty && rs_utf8_is_blank(value, len))
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
    if (rs_utf8_is_blank(value, len))
        return invalid(err, "NICKNAME_INVALID", "nickname", "%s must not be blank",
                       "nickname");
    if (rs_utf8_has_invisible(value, len))
        return invalid(err, "NICKNAME_INVALID", "nickname",
                       "%s must not contain invisible format characters", "nickname");
    if (rs_utf8_has_outer_space(value, len))
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
