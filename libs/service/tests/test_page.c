/*
 * libs/service/tests/test_page.c
 *    Unit tests of page sizes, page tokens and the byte budget of
 *    rs_page_rows, on PGresults built in memory (no database).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libpq-fe.h>

#include "roster/page.h"
#include "roster/status.h"
#include "roster/sync/v1/sync.pb-c.h"

/* Runs check and returns the reason it set, or "" on success. */
#define REASON(call)                                                                  \
    (rs_error_clear(&err), (call) == RS_OK ? "" : err.reason)

static void
test_page_size(void **state)
{
    struct rs_error err;
    int size = 0;

    (void)state;
    assert_string_equal(REASON(rs_page_size(0, &size, &err)), "");
    assert_int_equal(size, 50);
    assert_string_equal(REASON(rs_page_size(1000, &size, &err)), "");
    assert_int_equal(size, 1000);
    assert_string_equal(REASON(rs_page_size(1001, &size, &err)), "PAGE_SIZE_INVALID");
    assert_string_equal(REASON(rs_page_size(-1, &size, &err)), "PAGE_SIZE_INVALID");
}

static void
test_page_token_round_trip(void **state)
{
    struct rs_page_key key = { 1764871234567890LL, "0123456789abcdef0123456789abcdef" };
    struct rs_page_key got;
    const char *parts[2] = { "org", NULL };
    uint64_t filter = rs_page_filter_hash("users", parts, 2);
    struct rs_error err;
    char token[RS_PAGE_TOKEN_MAX + 1];

    (void)state;
    assert_int_equal(rs_page_token_encode(filter, &key, token, sizeof(token)), RS_OK);
    /* base64url: no padding, no '+' or '/'. */
    assert_null(strpbrk(token, "+/="));
    memset(&got, 0, sizeof(got));
    assert_string_equal(REASON(rs_page_token_decode(token, filter, &got, &err)), "");
    assert_true(got.created_us == key.created_us);
    assert_string_equal(got.id, key.id);
}

static void
test_page_token_rejects_tamper(void **state)
{
    struct rs_page_key key = { 1764871234567890LL, "0123456789abcdef0123456789abcdef" };
    struct rs_page_key got;
    const char *parts[2] = { "org", "kw" };
    const char *other_parts[2] = { "org", "kx" };
    uint64_t filter = rs_page_filter_hash("users", parts, 2);
    uint64_t other = rs_page_filter_hash("users", other_parts, 2);
    struct rs_error err;
    char token[RS_PAGE_TOKEN_MAX + 1];
    char edited[RS_PAGE_TOKEN_MAX + 1];
    size_t i;

    (void)state;
    assert_int_equal(rs_page_token_encode(filter, &key, token, sizeof(token)), RS_OK);
    /* Another filter, another listing kind, garbage and empty-ish input. */
    assert_string_equal(REASON(rs_page_token_decode(token, other, &got, &err)),
                        "PAGE_TOKEN_INVALID");
    assert_string_equal(REASON(rs_page_token_decode(
                            token, rs_page_filter_hash("groups", parts, 2), &got, &err)),
                        "PAGE_TOKEN_INVALID");
    assert_string_equal(REASON(rs_page_token_decode("not a token!", filter, &got, &err)),
                        "PAGE_TOKEN_INVALID");
    assert_string_equal(REASON(rs_page_token_decode("AAAA", filter, &got, &err)),
                        "PAGE_TOKEN_INVALID");
    /* Changing any one character breaks the checksum or the encoding. */
    for (i = 0; token[i] != '\0'; i++) {
        strcpy(edited, token);
        edited[i] = edited[i] == 'A' ? 'B' : 'A';
        assert_string_equal(REASON(rs_page_token_decode(edited, filter, &got, &err)),
                            "PAGE_TOKEN_INVALID");
    }
    /* Filter parts are separated, so ("ab", "") differs from ("a", "b"). */
    {
        const char *p1[2] = { "ab", "" };
        const char *p2[2] = { "a", "b" };

        assert_true(rs_page_filter_hash("users", p1, 2) !=
                    rs_page_filter_hash("users", p2, 2));
    }
}

#define RUN_ID "0123456789abcdef0123456789abcdef"

/*
 * Builds a result of run item rows (seq, name, run_id), ordered by seq as
 * ListRunItems reads them: n rows with seq first_seq, first_seq + 1, ...
 * and names of name_len bytes. The caller frees it with PQclear.
 */
static PGresult *
make_item_rows(int first_seq, int n, size_t name_len)
{
    PGresAttDesc attrs[3];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    char *name = malloc(name_len + 1);
    char seq[16];
    int i;

    assert_non_null(res);
    assert_non_null(name);
    memset(attrs, 0, sizeof(attrs));
    attrs[0].name = (char *)"seq";
    attrs[1].name = (char *)"name";
    attrs[2].name = (char *)"run_id";
    for (i = 0; i < 3; i++)
        attrs[i].typlen = -1;
    assert_int_equal(PQsetResultAttrs(res, 3, attrs), 1);
    memset(name, 'n', name_len);
    name[name_len] = '\0';
    for (i = 0; i < n; i++) {
        snprintf(seq, sizeof(seq), "%d", first_seq + i);
        /* PQsetvalue takes a length of -1 as SQL NULL, so every length is given. */
        assert_int_equal(PQsetvalue(res, i, 0, seq, (int)strlen(seq)), 1);
        assert_int_equal(PQsetvalue(res, i, 1, name, (int)name_len), 1);
        assert_int_equal(PQsetvalue(res, i, 2, (char *)RUN_ID, (int)strlen(RUN_ID)), 1);
    }
    free(name);
    return res;
}

static void *
item_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Sync__V1__RunItem *it = rs_arena_alloc(arena, sizeof(*it));

    if (it == NULL)
        return NULL;
    roster__sync__v1__run_item__init(it);
    it->seq = atoi(PQgetvalue(res, row, 0));
    it->name = rs_arena_strdup(arena, PQgetvalue(res, row, 1));
    return it->name != NULL ? it : NULL;
}

/*
 * Bytes one item with this seq and name length adds to a reply, counted
 * as rs_page_rows counts them: two tag bytes, the length varint, the item.
 */
static size_t
item_field_bytes(int seq, size_t name_len)
{
    Roster__Sync__V1__RunItem it;
    char *name = malloc(name_len + 1);
    size_t len;

    assert_non_null(name);
    memset(name, 'n', name_len);
    name[name_len] = '\0';
    roster__sync__v1__run_item__init(&it);
    it.seq = seq;
    it.name = name;
    len = protobuf_c_message_get_packed_size(&it.base);
    free(name);
    assert_true(len < 16384);
    return 2 + (len < 128 ? 1 : 2) + len;
}

/* One call of rs_page_rows on res for the "items" listing, into a fresh page. */
struct page {
    Roster__Sync__V1__ListRunItemsResponse reply;
    rs_status rc;
    struct rs_error err;
};

static uint64_t
items_filter(void)
{
    const char *parts[1] = { RUN_ID };

    return rs_page_filter_hash("test.items", parts, 1);
}

static void
read_page(rs_arena *arena, const PGresult *res, int page_size, int max_bytes, struct page *out)
{
    void **items = NULL;

    roster__sync__v1__list_run_items_response__init(&out->reply);
    rs_error_clear(&out->err);
    out->rc = rs_page_rows(arena, res, page_size, max_bytes, item_row, 2, 0, items_filter(),
                           &items, &out->reply.n_items, &out->reply.next_page_token,
                           &out->err);
    out->reply.items = (Roster__Sync__V1__RunItem **)items;
}

/* The seq that the page's next_page_token continues after. */
static int64_t
token_position(const struct page *p)
{
    struct rs_page_key key;
    struct rs_error err;

    assert_string_not_equal(p->reply.next_page_token, "");
    assert_int_equal(rs_page_token_decode(p->reply.next_page_token, items_filter(), &key, &err),
                     RS_OK);
    assert_string_equal(key.id, RUN_ID);
    return key.created_us;
}

static void
test_page_rows_unlimited(void **state)
{
    rs_arena *arena = rs_arena_create();
    PGresult *res = make_item_rows(1, 6, 5000);
    struct page p;

    (void)state;
    assert_non_null(arena);
    read_page(arena, res, 5, 0, &p);
    assert_int_equal(p.rc, RS_OK);
    assert_int_equal(p.reply.n_items, 5);
    assert_null(p.reply.items[5]);
    assert_int_equal(p.reply.items[4]->seq, 5);
    assert_true(token_position(&p) == 5);
    PQclear(res);

    /* The last page: no row beyond page_size, so no token. */
    res = make_item_rows(1, 5, 5000);
    read_page(arena, res, 5, 0, &p);
    assert_int_equal(p.rc, RS_OK);
    assert_int_equal(p.reply.n_items, 5);
    assert_string_equal(p.reply.next_page_token, "");
    PQclear(res);
    rs_arena_destroy(arena);
}

static void
test_page_rows_ends_at_budget(void **state)
{
    rs_arena *arena = rs_arena_create();
    PGresult *res = make_item_rows(1, 11, 300);
    size_t field = item_field_bytes(1, 300);
    int exact = (int)(RS_PAGE_REPLY_RESERVE + 3 * field);
    struct page p;

    (void)state;
    assert_non_null(arena);
    /* Three items fill the budget exactly: the fourth ends the page. */
    read_page(arena, res, 10, exact, &p);
    assert_int_equal(p.rc, RS_OK);
    assert_int_equal(p.reply.n_items, 3);
    assert_null(p.reply.items[3]);
    assert_int_equal(p.reply.items[2]->seq, 3);
    assert_true(token_position(&p) == 3);
    assert_true(protobuf_c_message_get_packed_size(&p.reply.base) <= (size_t)exact);

    /* One byte less leaves room for two. */
    read_page(arena, res, 10, exact - 1, &p);
    assert_int_equal(p.rc, RS_OK);
    assert_int_equal(p.reply.n_items, 2);
    assert_true(token_position(&p) == 2);

    /* A budget that only the row beyond page_size would exceed ends by page_size. */
    read_page(arena, res, 3, exact, &p);
    assert_int_equal(p.rc, RS_OK);
    assert_int_equal(p.reply.n_items, 3);
    assert_true(token_position(&p) == 3);
    PQclear(res);

    /* Ending by bytes on a result without a row beyond page_size still sets a token. */
    res = make_item_rows(1, 4, 300);
    read_page(arena, res, 10, exact, &p);
    assert_int_equal(p.rc, RS_OK);
    assert_int_equal(p.reply.n_items, 3);
    assert_true(token_position(&p) == 3);
    PQclear(res);
    rs_arena_destroy(arena);
}

static void
test_page_rows_first_row_too_large(void **state)
{
    rs_arena *arena = rs_arena_create();
    PGresult *res = make_item_rows(1, 2, 2000);
    int limit = (int)(RS_PAGE_REPLY_RESERVE + item_field_bytes(1, 2000)) - 1;
    char limit_text[24];
    struct page p;

    (void)state;
    assert_non_null(arena);
    snprintf(limit_text, sizeof(limit_text), "%d", limit);
    read_page(arena, res, 10, limit, &p);
    assert_int_equal(p.rc, RS_ERESOURCE);
    assert_int_equal(p.err.code, RS_ERESOURCE);
    assert_string_equal(p.err.reason, "RESPONSE_TOO_LARGE");
    assert_non_null(strstr(p.err.message, limit_text));
    assert_non_null(strstr(p.err.message, "ROSTER_MAX_MESSAGE_BYTES"));

    /* One more byte and the row fits on its own. */
    read_page(arena, res, 10, limit + 1, &p);
    assert_int_equal(p.rc, RS_OK);
    assert_int_equal(p.reply.n_items, 1);
    assert_true(token_position(&p) == 1);
    PQclear(res);
    rs_arena_destroy(arena);
}

/*
 * Pages through 200 rows of growing names the way ListRunItems does (seq
 * after the token's position, page_size + 1 rows per query): every row
 * arrives exactly once and in order, and every reply fits the budget.
 */
static void
test_page_rows_pages_cover_all(void **state)
{
    enum { N_ROWS = 200, PAGE_SIZE = 50, MAX_BYTES = 4096 };
    int seen[N_ROWS + 1];
    int64_t after = 0;
    int pages = 0;
    int short_pages = 0;
    size_t i;

    (void)state;
    memset(seen, 0, sizeof(seen));
    for (;;) {
        rs_arena *arena = rs_arena_create();
        int first = (int)after + 1;
        int left = N_ROWS - (int)after;
        int n = left < PAGE_SIZE + 1 ? left : PAGE_SIZE + 1;
        PGresult *res = make_item_rows(first, n, (size_t)(first % 7) * 40);
        struct page p;

        assert_non_null(arena);
        read_page(arena, res, PAGE_SIZE, MAX_BYTES, &p);
        assert_int_equal(p.rc, RS_OK);
        assert_true(p.reply.n_items >= 1);
        assert_true(protobuf_c_message_get_packed_size(&p.reply.base) <= MAX_BYTES);
        for (i = 0; i < p.reply.n_items; i++) {
            int seq = p.reply.items[i]->seq;

            assert_int_equal(seq, (int)after + 1 + (int)i);
            seen[seq]++;
        }
        pages++;
        short_pages += p.reply.n_items < PAGE_SIZE;
        if (p.reply.next_page_token[0] == '\0') {
            PQclear(res);
            rs_arena_destroy(arena);
            break;
        }
        after = token_position(&p);
        assert_true(after == p.reply.items[p.reply.n_items - 1]->seq);
        PQclear(res);
        rs_arena_destroy(arena);
    }
    for (i = 1; i <= N_ROWS; i++)
        assert_int_equal(seen[i], 1);
    assert_true(pages > N_ROWS / PAGE_SIZE);
    assert_true(short_pages > 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_size),
        cmocka_unit_test(test_page_token_round_trip),
        cmocka_unit_test(test_page_token_rejects_tamper),
        cmocka_unit_test(test_page_rows_unlimited),
        cmocka_unit_test(test_page_rows_ends_at_budget),
        cmocka_unit_test(test_page_rows_first_row_too_large),
        cmocka_unit_test(test_page_rows_pages_cover_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
