/*
 * libs/service/include/roster/page.h
 *    Paged listings shared by the services: page sizes and the opaque page
 *    token that continues a listing ordered by (created_us, id).
 */
#ifndef RS_PAGE_H
#define RS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "roster/arena.h"
#include "roster/status.h"

#define RS_PAGE_SIZE_DEFAULT 50
#define RS_PAGE_SIZE_MAX 1000
#define RS_PAGE_TOKEN_MAX 256 /* bytes of the encoded token */

/* Maps page_size 0 to 50 and accepts 1..1000; INVALID_ARGUMENT PAGE_SIZE_INVALID otherwise. */
RS_MUSTCHECK rs_status rs_page_size(int32_t requested, int *out, struct rs_error *err);

/* Position after the last row of a page: rows are ordered by (created_us, id). */
struct rs_page_key {
    int64_t created_us;
    char id[33]; /* 32 lower-case hex digits */
};

/*
 * Hashes the listing kind and its filter values (FNV-1a, 64 bits), so a
 * token only continues the listing it came from. parts may hold NULLs.
 */
uint64_t rs_page_filter_hash(const char *kind, const char *const *parts, size_t n_parts);

/*
 * Encodes key, bound to filter, as an opaque base64url token into out.
 * The token carries a checksum, so edited tokens are rejected. It is not
 * signed, because it only selects a position inside a listing the caller
 * may read anyway. RS_ERANGE if out_size is too small.
 */
RS_MUSTCHECK rs_status rs_page_token_encode(uint64_t filter, const struct rs_page_key *key,
                                            char *out, size_t out_size);

/*
 * Decodes a token made by rs_page_token_encode for the same filter.
 * Malformed, edited or other-filter tokens: INVALID_ARGUMENT PAGE_TOKEN_INVALID.
 */
RS_MUSTCHECK rs_status rs_page_token_decode(const char *token, uint64_t filter,
                                            struct rs_page_key *out, struct rs_error *err);

/*
 * Sets the next page token of a listing that fetched page_size + 1 rows:
 * a row beyond page_size means more remain, so *next_token (from arena)
 * gets the key of the last returned row, whose id and created_us (bigint
 * microseconds) are in columns id_col and created_col. "" on the last page.
 */
RS_MUSTCHECK rs_status rs_page_next_token(rs_arena *arena, const PGresult *res,
                                          int page_size, int id_col, int created_col,
                                          uint64_t filter, char **next_token,
                                          struct rs_error *err);

/* Converts row of res into a message allocated from arena; NULL when out of memory. */
typedef void *(*rs_page_row_fn)(rs_arena *arena, const PGresult *res, int row);

/*
 * Converts the first page_size rows of res with convert into *items (an
 * array from arena, NULL after the last) and *n_items, then sets
 * *next_token as rs_page_next_token does. Returns RS_ENOMEM
 * (OUT_OF_MEMORY) or rs_page_next_token's error.
 */
RS_MUSTCHECK rs_status rs_page_rows(rs_arena *arena, const PGresult *res, int page_size,
                                    rs_page_row_fn convert, int id_col, int created_col,
                                    uint64_t filter, void ***items, size_t *n_items,
                                    char **next_token, struct rs_error *err);

#endif /* RS_PAGE_H */
