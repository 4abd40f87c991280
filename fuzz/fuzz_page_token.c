/*
 * fuzz/fuzz_page_token.c
 *    Fuzz target: page tokens (libs/service/src/page.c). The input is
 *    decoded as a token for a few listing filters; a token that decodes
 *    must encode and decode to the same key. The input's bytes also build
 *    a key, whose token must decode back to it.
 */
#include <string.h>

#include "fuzz.h"
#include "roster/page.h"
#include "roster/str.h"

static void
check_round_trip(uint64_t filter, const struct rs_page_key *key)
{
    char token[RS_PAGE_TOKEN_MAX + 1];
    struct rs_page_key again;
    struct rs_error err;

    FUZZ_ASSERT(rs_page_token_encode(filter, key, token, sizeof(token)) == RS_OK);
    FUZZ_ASSERT(strlen(token) <= RS_PAGE_TOKEN_MAX);
    rs_error_clear(&err);
    FUZZ_ASSERT(rs_page_token_decode(token, filter, &again, &err) == RS_OK);
    FUZZ_ASSERT(again.created_us == key->created_us);
    FUZZ_ASSERT(strcmp(again.id, key->id) == 0);
    /* The same token never continues another listing. */
    FUZZ_ASSERT(rs_page_token_decode(token, filter ^ 1, &again, &err) == RS_EINVAL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = { "users", "groups", "members", "workspaces" };
    const char *parts[2] = { "0123456789abcdef0123456789abcdef", NULL };
    char *token = fuzz_cstr(data, size);
    struct rs_page_key key;
    struct rs_error err;
    uint64_t filter;
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        filter = rs_page_filter_hash(kinds[i], parts, 2);
        rs_error_clear(&err);
        memset(&key, 0xAA, sizeof(key));
        if (rs_page_token_decode(token, filter, &key, &err) == RS_OK) {
            FUZZ_ASSERT(rs_id_valid(key.id));
            check_round_trip(filter, &key);
        } else {
            FUZZ_ASSERT(strcmp(err.reason, "PAGE_TOKEN_INVALID") == 0);
        }
    }
    /* A key made of the input: 8 bytes of time, then 16 bytes as hex for the id. */
    if (size >= 24) {
        static const char hex[] = "0123456789abcdef";

        memcpy(&key.created_us, data, sizeof(key.created_us));
        for (i = 0; i < 16; i++) {
            key.id[2 * i] = hex[data[8 + i] >> 4];
            key.id[2 * i + 1] = hex[data[8 + i] & 15];
        }
        key.id[32] = '\0';
        memcpy(&filter, data + 8, sizeof(filter));
        check_round_trip(filter, &key);
    }
    free(token);
    return 0;
}
