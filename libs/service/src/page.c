/*
 * libs/service/src/page.c
 *    Page sizes and the page token format of paged listings.
 */
#include "roster/page.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "roster/rpc.h"
#include "roster/str.h"

rs_status
rs_page_size(int32_t requested, int *out, struct rs_error *err)
{
    if (requested == 0) {
        *out = RS_PAGE_SIZE_DEFAULT;
        return RS_OK;
    }
    if (requested < 1 || requested > RS_PAGE_SIZE_MAX) {
        rs_error_set(err, RS_EINVAL, "PAGE_SIZE_INVALID",
                     "invalid page_size %d: expected 1 to 1000, or 0 for 50", (int)requested);
        rs_error_meta(err, "field", "page_size");
        return RS_EINVAL;
    }
    *out = requested;
    return RS_OK;
}

static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

uint64_t
rs_page_filter_hash(const char *kind, const char *const *parts, size_t n_parts)
{
    uint64_t h = fnv1a(FNV_OFFSET, kind, strlen(kind) + 1);
    size_t i;

    for (i = 0; i < n_parts; i++) {
        /* A NUL separator (and a marker for NULL) keeps ("ab","") apart from ("a","b"). */
        if (parts[i] == NULL)
            h = fnv1a(h, "\x01", 2);
        else
            h = fnv1a(h, parts[i], strlen(parts[i]) + 1);
    }
    return h;
}

/* Plain text inside the base64url: "1:<filter>:<created_us>:<id>:<checksum>". */
rs_status
rs_page_token_encode(uint64_t filter, const struct rs_page_key *key, char *out,
                           size_t out_size)
{
    char text[160];
    int n;
    uint64_t sum;

    n = snprintf(text, sizeof(text), "1:%016" PRIx64 ":%" PRId64 ":%s:", filter,
                 key->created_us, key->id);
    if (n < 0 || (size_t)n >= sizeof(text) - 17)
        return RS_ERANGE;
    sum = fnv1a(FNV_OFFSET, text, (size_t)n);
    snprintf(text + n, sizeof(text) - (size_t)n, "%016" PRIx64, sum);
    return rs_base64url_encode((const unsigned char *)text, strlen(text), out, out_size);
}

rs_status
rs_page_token_decode(const char *token, uint64_t filter, struct rs_page_key *out,
                           struct rs_error *err)
{
    unsigned char text[200];
    size_t len = 0;
    char *fields[5];
    char *p;
    char *end;
    int n = 0;
    uint64_t got_filter;
    uint64_t got_sum;
    long long us;

    if (strlen(token) > RS_PAGE_TOKEN_MAX ||
        rs_base64url_decode(token, text, sizeof(text) - 1, &len) != RS_OK)
        goto bad;
    text[len] = '\0';
    if (strlen((char *)text) != len)
        goto bad;
    /* The checksum covers the text up to and including the last ':'. */
    p = strrchr((char *)text, ':');
    if (p == NULL || strlen(p + 1) != 16)
        goto bad;
    got_sum = strtoull(p + 1, &end, 16);
    if (*end != '\0' || fnv1a(FNV_OFFSET, text, (size_t)(p + 1 - (char *)text)) != got_sum)
        goto bad;
    /* Split on ':' into exactly five fields. */
    p = (char *)text;
    fields[n++] = p;
    for (; *p != '\0'; p++) {
        if (*p == ':') {
            if (n == 5)
                goto bad;
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    if (n != 5 || strcmp(fields[0], "1") != 0 || strlen(fields[1]) != 16)
        goto bad;
    got_filter = strtoull(fields[1], &end, 16);
    if (*end != '\0' || got_filter != filter)
        goto bad;
    if (fields[2][0] == '\0')
        goto bad;
    us = strtoll(fields[2], &end, 10);
    if (*end != '\0' || !rs_id_valid(fields[3]))
        goto bad;
    out->created_us = us;
    memcpy(out->id, fields[3], RS_ID_LEN + 1);
    return RS_OK;
bad:
    rs_error_set(err, RS_EINVAL, "PAGE_TOKEN_INVALID",
                 "invalid page_token: use the next_page_token of the same listing with the "
                 "same filters");
    rs_error_meta(err, "field", "page_token");
    return RS_EINVAL;
}

rs_status
rs_page_next_token(rs_arena *arena, const PGresult *res, int n_returned, int id_col,
                   int created_col, uint64_t filter, char **next_token, struct rs_error *err)
{
    struct rs_page_key key;
    char *buf;

    *next_token = (char *)protobuf_c_empty_string;
    if (n_returned < 1 || PQntuples(res) <= n_returned)
        return RS_OK;
    key.created_us = strtoll(PQgetvalue(res, n_returned - 1, created_col), NULL, 10);
    snprintf(key.id, sizeof(key.id), "%s", PQgetvalue(res, n_returned - 1, id_col));
    buf = rs_arena_alloc(arena, RS_PAGE_TOKEN_MAX + 1);
    if (buf == NULL)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    if (rs_page_token_encode(filter, &key, buf, RS_PAGE_TOKEN_MAX + 1) != RS_OK)
        return rs_error_set(err, RS_EINTERNAL, "INTERNAL", "could not encode page token");
    *next_token = buf;
    return RS_OK;
}

static size_t
varint_size(size_t value)
{
    size_t n = 1;

    while (value >= 0x80) {
        value >>= 7;
        n++;
    }
    return n;
}

/* Two tag bytes cover field numbers up to 2047 with wire type 2. */
#define ITEM_TAG_BYTES 2

/* Bytes that item adds to its reply as one element of a repeated message field. */
static size_t
item_field_size(const void *item)
{
    size_t len = protobuf_c_message_get_packed_size((const ProtobufCMessage *)item);

    return ITEM_TAG_BYTES + varint_size(len) + len;
}

void
rs_page_budget_init(struct rs_page_budget *budget, int max_bytes, size_t reserve_bytes)
{
    budget->used_bytes = reserve_bytes;
    budget->max_bytes = max_bytes;
}

bool
rs_page_budget_take(struct rs_page_budget *budget, const void *item)
{
    size_t used_bytes = budget->used_bytes + item_field_size(item);

    if (budget->max_bytes > 0 && used_bytes > (size_t)budget->max_bytes)
        return false;
    budget->used_bytes = used_bytes;
    return true;
}

rs_status
rs_page_item_too_large(const struct rs_page_budget *budget, const void *item,
                       struct rs_error *err)
{
    return rs_response_too_large(budget->used_bytes + item_field_size(item), budget->max_bytes,
                                 err);
}

rs_status
rs_page_rows(rs_arena *arena, const PGresult *res, int page_size, int max_bytes,
             rs_page_row_fn convert, int id_col, int created_col, uint64_t filter,
             void ***items, size_t *n_items, char **next_token, struct rs_error *err)
{
    int max_rows = PQntuples(res) < page_size ? PQntuples(res) : page_size;
    struct rs_page_budget budget;
    void **array;
    int n;

    rs_page_budget_init(&budget, max_bytes, RS_PAGE_REPLY_RESERVE);
    array = rs_arena_alloc(arena, sizeof(*array) * (size_t)(max_rows + 1));
    if (array == NULL)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    for (n = 0; n < max_rows; n++) {
        void *item = convert(arena, res, n);

        if (item == NULL)
            return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
        /*
         * The row stays in the arena when it does not fit, which costs one
         * row's memory until the call ends.
         */
        if (!rs_page_budget_take(&budget, item)) {
            if (n == 0)
                return rs_page_item_too_large(&budget, item, err);
            break;
        }
        array[n] = item;
    }
    array[n] = NULL;
    *items = array;
    *n_items = (size_t)n;
    return rs_page_next_token(arena, res, n, id_col, created_col, filter, next_token, err);
}
