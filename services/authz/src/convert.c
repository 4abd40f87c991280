/*
 * services/authz/src/convert.c
 *    Column and message helpers: rows to protobuf values, write responses.
 */
#include "authz_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

int64_t
authz_col_int64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

char *
authz_col_str(rs_arena *arena, const PGresult *res, int row, int col)
{
    return rs_arena_strdup(arena, PQgetvalue(res, row, col));
}

Google__Protobuf__Timestamp *
authz_timestamp(rs_arena *arena, int64_t us)
{
    Google__Protobuf__Timestamp *ts = rs_arena_alloc(arena, sizeof(*ts));
    int64_t sec = us / 1000000;
    int64_t rem = us % 1000000;

    if (ts == NULL)
        return NULL;
    google__protobuf__timestamp__init(ts);
    if (rem < 0) {
        rem += 1000000;
        sec -= 1;
    }
    ts->seconds = sec;
    ts->nanos = (int32_t)(rem * 1000);
    return ts;
}

rs_status
authz_write_response(struct rs_call *call, const char *token, ProtobufCMessage **resp,
                     struct rs_error *err)
{
    Roster__Authz__V1__WriteResponse *w = rs_arena_alloc(rs_call_arena(call), sizeof(*w));

    if (w == NULL)
        return authz_nomem(err);
    roster__authz__v1__write_response__init(w);
    w->revision = (char *)token;
    *resp = &w->base;
    return RS_OK;
}

rs_status
authz_page_start(int32_t page_size, const char *page_token, uint64_t filter,
                 struct authz_page *page, struct rs_error *err)
{
    rs_status rc;

    memset(page, 0, sizeof(*page));
    page->filter = filter;
    rc = rs_page_size(page_size, &page->size, err);
    if (rc == RS_OK && page_token[0] != '\0') {
        rc = rs_page_token_decode(page_token, filter, &page->after, err);
        snprintf(page->after_us, sizeof(page->after_us), "%lld",
                 (long long)page->after.created_us);
        page->after_param = page->after_us;
    }
    snprintf(page->limit, sizeof(page->limit), "%d", page->size + 1);
    return rc;
}

rs_status
authz_page_finish(struct rs_call *call, const struct authz_page *page, const PGresult *res,
                  rs_page_row_fn convert, int id_col, int created_col, void ***items,
                  size_t *n_items, char **next_token, struct rs_error *err)
{
    return rs_page_rows(rs_call_arena(call), res, page->size, rs_call_max_message_bytes(call),
                        convert, id_col, created_col, page->filter, items, n_items,
                        next_token, err);
}
