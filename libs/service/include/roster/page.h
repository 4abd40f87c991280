/*
 * libs/service/include/roster/page.h
 *    Paged listings shared by the services: page sizes and the opaque page
 *    token that continues a listing ordered by (created_us, id).
 */
#ifndef RS_PAGE_H
#define RS_PAGE_H

#include <stdbool.h>
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
 * Sets *next_token for a page made of the first n_returned rows of res.
 * When res has more rows, the token (from arena) is the key of row
 * n_returned - 1, the last row returned. Its id is in column id_col, and
 * its position in created_col: created_us as bigint microseconds, or
 * another bigint such as a sequence number. Otherwise *next_token is ""
 * (static). Returns RS_ENOMEM (OUT_OF_MEMORY), or RS_EINTERNAL if the
 * token cannot be encoded.
 */
RS_MUSTCHECK rs_status rs_page_next_token(rs_arena *arena, const PGresult *res,
                                          int n_returned, int id_col, int created_col,
                                          uint64_t filter, char **next_token,
                                          struct rs_error *err);

/*
 * Converts row of res into a protobuf-c message (a struct whose first member
 * is its ProtobufCMessage base) allocated from arena; NULL when out of memory.
 */
typedef void *(*rs_page_row_fn)(rs_arena *arena, const PGresult *res, int row);

/*
 * Bytes of a list reply that a page budget keeps free for fields other
 * than the repeated items. next_page_token takes at most 3 + RS_PAGE_TOKEN_MAX
 * (tag, length, token), and the rest covers small scalar fields.
 */
#define RS_PAGE_REPLY_RESERVE 512

/*
 * The byte budget of one list reply. max_bytes is the call's message limit
 * in bytes, as rs_call_max_message_bytes returns it, and 0 or less means
 * no limit. used_bytes starts at the reserve for the reply's fields other
 * than its repeated items.
 */
struct rs_page_budget {
    size_t used_bytes;
    int max_bytes;
};

/* Starts budget with reserve_bytes (RS_PAGE_REPLY_RESERVE for rs_page_rows) used. */
void rs_page_budget_init(struct rs_page_budget *budget, int max_bytes, size_t reserve_bytes);

/*
 * Counts item (a protobuf-c message, borrowed) as one more element of a
 * repeated message field numbered 1 to 2047. Returns false, and counts
 * nothing, when the reply would then exceed the budget.
 */
bool rs_page_budget_take(struct rs_page_budget *budget, const void *item);

/*
 * Sets err for a reply whose first item alone does not fit budget:
 * RS_ERESOURCE (RESPONSE_TOO_LARGE, meta max_message_bytes). item is the
 * item that rs_page_budget_take rejected, borrowed.
 */
RS_MUSTCHECK rs_status rs_page_item_too_large(const struct rs_page_budget *budget,
                                              const void *item, struct rs_error *err);

/*
 * Converts up to page_size rows of res with convert into *items (an array
 * from arena, NULL after the last) and *n_items. res holds up to
 * page_size + 1 rows in page order. max_bytes is the call's message limit
 * in bytes, as rs_call_max_message_bytes returns it, and 0 or less means
 * no limit. The page ends before page_size rows when one more would make
 * the packed reply larger than max_bytes. The reply is counted as the
 * items in a repeated message field numbered 1 to 2047, plus
 * RS_PAGE_REPLY_RESERVE bytes for its other fields. *next_token is set as
 * rs_page_next_token does for the rows returned, so the next page starts
 * right after the last of them. Returns RS_ERESOURCE (RESPONSE_TOO_LARGE,
 * meta max_message_bytes) when the first row alone does not fit,
 * RS_ENOMEM (OUT_OF_MEMORY) or rs_page_next_token's error.
 */
RS_MUSTCHECK rs_status rs_page_rows(rs_arena *arena, const PGresult *res, int page_size,
                                    int max_bytes, rs_page_row_fn convert, int id_col,
                                    int created_col, uint64_t filter, void ***items,
                                    size_t *n_items, char **next_token, struct rs_error *err);

#endif /* RS_PAGE_H */
