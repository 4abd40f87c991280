/*
 * services/sync/src/dingtalk_parse.c
 *    Reading DingTalk replies: the plain {"errcode","errmsg"} envelope, the
 *    gateway's errcode 88 with sub_code and sub_msg, IP-ban bodies, numeric
 *    strings, and the class of every errcode the client acts on.
 */
#include "dingtalk_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/str.h"

static void
copy_message(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src == NULL ? "" : src);
    rs_utf8_trim_partial(dst);
}

bool
dt__json_as_int64(const json_t *value, int64_t *out)
{
    const char *text;
    char *end;
    long long n;

    if (json_is_integer(value)) {
        *out = (int64_t) json_integer_value(value);
        return true;
    }
    if (json_is_real(value)) {
        double d = json_real_value(value);

        /*
         * Whole numbers only; ids sent as 7.1e7 still read exactly. The range
         * test comes first: casting a double outside int64_t is undefined.
         */
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            return false;
        if (d != (double) (int64_t) d)
            return false;
        *out = (int64_t) d;
        return true;
    }
    if (!json_is_string(value))
        return false;
    text = json_string_value(value);
    if (*text == '\0')
        return false;
    errno = 0;
    n = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (int64_t) n;
    return true;
}

bool
dt__json_int64(const json_t *obj, const char *key, int64_t *out)
{
    return dt__json_as_int64(json_object_get(obj, key), out);
}

const char *
dt__json_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s == NULL ? "" : s;
}

bool
dt__json_bool(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    int64_t n;

    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0)
        return true;
    return dt__json_as_int64(v, &n) && n != 0;
}

/* The JSON ban body: {"status":1111,"wait":5,"source":"x5","punish":"deny",...}. */
static bool
is_ban_object(const json_t *root)
{
    int64_t status;

    if (json_object_get(root, "errcode") != NULL)
        return false;
    if (json_object_get(root, "punish") != NULL)
        return true;
    return dt__json_int64(root, "status", &status) && status == 1111;
}

void
dt__envelope_parse(const char *body, size_t len, long http_status,
                   struct dt_envelope *out)
{
    json_error_t jerr;
    json_t *root;
    int64_t code, sub;
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    out->http_status = http_status;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) {
        out->kind = DT_BODY_MALFORMED;
        copy_message(out->errmsg, sizeof(out->errmsg), "empty body");
        return;
    }
    if (body[i] != '{' && body[i] != '[') {
        /* DingTalk serves its ban page with HTTP 200; a 5xx page comes from a proxy. */
        out->kind = http_status >= 500 ? DT_BODY_MALFORMED : DT_BODY_BANNED;
        copy_message(out->errmsg, sizeof(out->errmsg),
                     http_status >= 500 ? "non-JSON error page" : "non-JSON body (IP ban page)");
        return;
    }
    root = json_loadb(body + i, len - i, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        out->kind = DT_BODY_MALFORMED;
        /* jansson's error text may quote the raw bytes, which need not be UTF-8. */
        if (root == NULL)
            snprintf(out->errmsg, sizeof(out->errmsg), "invalid JSON at byte %d",
                     jerr.position);
        else
            copy_message(out->errmsg, sizeof(out->errmsg), "reply is not a JSON object");
        return;
    }
    if (is_ban_object(root)) {
        json_decref(root);
        out->kind = DT_BODY_BANNED;
        copy_message(out->errmsg, sizeof(out->errmsg), "IP ban reply (status 1111)");
        return;
    }
    out->root = root;
    if (!dt__json_int64(root, "errcode", &code)) {
        if (json_object_get(root, "errcode") != NULL || http_status >= 300) {
            out->kind = DT_BODY_MALFORMED;
            copy_message(out->errmsg, sizeof(out->errmsg),
                         http_status >= 300 ? "error reply without errcode"
                                            : "errcode is not a number");
            return;
        }
        out->kind = DT_BODY_OK;
        return;
    }
    copy_message(out->errmsg, sizeof(out->errmsg), dt__json_str(root, "errmsg"));
    if (code == 88 && dt__json_int64(root, "sub_code", &sub)) {
        /* The gateway's wrapper: the real code and message are in sub_*. */
        code = sub;
        if (*dt__json_str(root, "sub_msg") != '\0')
            copy_message(out->errmsg, sizeof(out->errmsg), dt__json_str(root, "sub_msg"));
    } else if (code == 88 && *dt__json_str(root, "sub_msg") != '\0') {
        copy_message(out->errmsg, sizeof(out->errmsg), dt__json_str(root, "sub_msg"));
    }
    out->errcode = (long) code;
    out->kind = code == 0 ? DT_BODY_OK : DT_BODY_ERRCODE;
}

enum dt_code_class
dt__code_classify(long errcode, bool from_gettoken)
{
    switch (errcode) {
    case 40014:
    case 42001:
    case 40000:
    case 41001:
        return DT_CLASS_TOKEN;
    case 40001:
        /* From gettoken it is the secret that is wrong, elsewhere the token. */
        return from_gettoken ? DT_CLASS_CREDENTIALS : DT_CLASS_TOKEN;
    case 40089:
    case 40096:
        return DT_CLASS_CREDENTIALS;
    case 90002:
    case 90018:
        return DT_CLASS_THROTTLE;
    case -1:
        return DT_CLASS_BUSY;
    case 60011:
    case 43007:
        return DT_CLASS_PERMISSION;
    case 60020:
        return DT_CLASS_IP;
    default:
        return DT_CLASS_OTHER;
    }
}

const char *
dt__api_permission(const char *api)
{
    if (strncmp(api, "topapi/v2/department/", 21) == 0)
        return "qyapi_get_department_list";
    if (strcmp(api, "topapi/v2/user/list") == 0 || strcmp(api, "topapi/user/listsimple") == 0
        || strcmp(api, "topapi/user/listid") == 0)
        return "qyapi_get_department_member";
    if (strncmp(api, "topapi/", 7) == 0 && strstr(api, "/user/") != NULL)
        return "qyapi_get_member";
    return "";
}
