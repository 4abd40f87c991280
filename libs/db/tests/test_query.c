/*
 * libs/db/tests/test_query.c
 *    Parameterised queries and COPY: exact round trips of awkward text, and
 *    errors mapped through the SQLSTATE table.
 */
#include "db_test.h"

#include "roster/buf.h"

#include <stdio.h>
#include <string.h>

static char schema[DBT_SCHEMA_LEN];
static rs_db_pool *pool;

static int
group_setup(void **state)
{
    struct rs_error err;
    char sql[512];

    (void)state;
    dbt_schema_name(schema);
    dbt_schema_create(schema);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE %s.orgs (id int PRIMARY KEY, slug text NOT NULL "
             "CONSTRAINT orgs_slug_key UNIQUE, seats int CHECK (seats >= 0));"
             "CREATE TABLE %s.members (org_id int CONSTRAINT members_org_fkey "
             "REFERENCES %s.orgs (id), name text)",
             schema, schema, schema);
    dbt_exec(sql);
    return rs_db_pool_create(dbt_url_or_skip(), 2, &pool, &err) == RS_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    rs_db_pool_destroy(pool);
    dbt_schema_drop(schema);
    return 0;
}

static const char *const awkward[] = {
    "plain",
    "日本語の組織名",
    "emoji 😀👩‍👩‍👧 and 🇯🇵",
    "'; DROP TABLE orgs; --",
    "$1 $2 ?? %s %n \\x00 \\\\ \"quoted\" 'single'",
    "line\nbreak\ttab",
    "",
    "Ünïcödé Ελληνικά العربية",
};

#define N_AWKWARD (sizeof(awkward) / sizeof(awkward[0]))

static void
params_round_trip_exactly(void **state)
{
    const char *params[N_AWKWARD + 1];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    struct rs_error err;
    size_t i;

    (void)state;
    for (i = 0; i < N_AWKWARD; i++)
        params[i] = awkward[i];
    params[N_AWKWARD] = NULL;
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);
    assert_int_equal(rs_db_query(conn, "echo",
                                 "SELECT $1::text, $2::text, $3::text, $4::text, $5::text, "
                                 "$6::text, $7::text, $8::text, $9::text",
                                 (int)N_AWKWARD + 1, params, &res, &err),
                     RS_OK);
    assert_int_equal(PQntuples(res), 1);
    for (i = 0; i < N_AWKWARD; i++) {
        assert_false(PQgetisnull(res, 0, (int)i));
        assert_int_equal((size_t)PQgetlength(res, 0, (int)i), strlen(awkward[i]));
        assert_memory_equal(PQgetvalue(res, 0, (int)i), awkward[i], strlen(awkward[i]));
    }
    assert_true(PQgetisnull(res, 0, (int)N_AWKWARD));
    PQclear(res);
    rs_db_release(pool, conn);
}

static void
params_round_trip_through_table(void **state)
{
    const char *params[2];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    struct rs_error err;
    char sql_insert[256];
    char sql_select[256];
    char id[16];
    size_t i;

    (void)state;
    snprintf(sql_insert, sizeof(sql_insert), "INSERT INTO %s.orgs (id, slug) VALUES ($1, $2)",
             schema);
    snprintf(sql_select, sizeof(sql_select), "SELECT slug FROM %s.orgs WHERE id = $1", schema);
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);
    for (i = 0; i < N_AWKWARD; i++) {
        snprintf(id, sizeof(id), "%zu", 1000 + i);
        params[0] = id;
        params[1] = awkward[i];
        assert_int_equal(rs_db_query(conn, "org_insert", sql_insert, 2, params, NULL, &err),
                         RS_OK);
        assert_int_equal(rs_db_query(conn, "org_select", sql_select, 1, params, &res, &err),
                         RS_OK);
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), awkward[i]);
        PQclear(res);
        res = NULL;
    }
    rs_db_release(pool, conn);
}

static void
unique_violation_is_already_exists(void **state)
{
    const char *params[2] = {"1", "secret-slug@example.com"};
    rs_db_conn *conn = NULL;
    struct rs_error err;
    char sql[256];

    (void)state;
    snprintf(sql, sizeof(sql), "INSERT INTO %s.orgs (id, slug) VALUES ($1, $2)", schema);
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);
    assert_int_equal(rs_db_query(conn, "org_insert", sql, 2, params, NULL, &err), RS_OK);
    params[0] = "2";
    assert_int_equal(rs_db_query(conn, "org_insert", sql, 2, params, NULL, &err), RS_EEXIST);
    assert_int_equal(err.code, RS_EEXIST);
    assert_string_equal(err.reason, "ALREADY_EXISTS");
    assert_string_equal(err.sqlstate, "23505");
    assert_non_null(strstr(err.message, "org_insert"));
    assert_non_null(strstr(err.message, "orgs_slug_key"));
    assert_int_equal(err.n_meta, 1);
    assert_string_equal(err.meta_key[0], "constraint");
    assert_string_equal(err.meta_value[0], "orgs_slug_key");
    /* The key value would leak through the server's DETAIL line; it must not. */
    assert_null(strstr(err.message, "secret-slug"));
    assert_null(strstr(err.detail, "secret-slug"));
    assert_true(strlen(err.detail) > 0);
    rs_db_release(pool, conn);
}

static void
constraint_errors_map_through_table(void **state)
{
    const char *params[2];
    rs_db_conn *conn = NULL;
    struct rs_error err;
    char sql[256];

    (void)state;
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);

    snprintf(sql, sizeof(sql), "INSERT INTO %s.members (org_id, name) VALUES ($1, $2)",
             schema);
    params[0] = "424242";
    params[1] = "nobody";
    assert_int_equal(rs_db_query(conn, "member_insert", sql, 2, params, NULL, &err),
                     RS_EPRECOND);
    assert_string_equal(err.reason, "FOREIGN_KEY_VIOLATION");
    assert_string_equal(err.sqlstate, "23503");
    assert_string_equal(err.meta_value[0], "members_org_fkey");

    snprintf(sql, sizeof(sql), "INSERT INTO %s.orgs (id, slug) VALUES ($1, $2)", schema);
    params[0] = "77";
    params[1] = NULL;
    assert_int_equal(rs_db_query(conn, "org_insert", sql, 2, params, NULL, &err), RS_EINVAL);
    assert_string_equal(err.reason, "NOT_NULL_VIOLATION");

    snprintf(sql, sizeof(sql), "INSERT INTO %s.orgs (id, slug, seats) VALUES (78, 'x78', $1)",
             schema);
    params[0] = "-1";
    assert_int_equal(rs_db_query(conn, "org_insert_seats", sql, 1, params, NULL, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "CHECK_VIOLATION");

    params[0] = "not a number";
    assert_int_equal(rs_db_query(conn, "org_insert_seats", sql, 1, params, NULL, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "INVALID_VALUE");
    assert_string_equal(err.sqlstate, "22P02");

    snprintf(sql, sizeof(sql), "SELECT * FROM %s.no_such_table", schema);
    assert_int_equal(rs_db_query(conn, "missing_table", sql, 0, NULL, NULL, &err),
                     RS_EPRECOND);
    assert_string_equal(err.reason, "SCHEMA_BEHIND");

    assert_int_equal(rs_db_query(conn, "syntax", "SELEC 1", 0, NULL, NULL, &err),
                     RS_EINTERNAL);
    assert_string_equal(err.reason, "DATABASE_ERROR");
    assert_string_equal(err.sqlstate, "42601");
    rs_db_release(pool, conn);
}

static void
statement_timeout_is_timed_out(void **state)
{
    rs_db_conn *conn = NULL;
    struct rs_error err;

    (void)state;
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);
    assert_int_equal(rs_db_query(conn, "set_timeout", "SET statement_timeout = 50", 0, NULL,
                                 NULL, &err),
                     RS_OK);
    assert_int_equal(rs_db_query(conn, "sleep", "SELECT pg_sleep(2)", 0, NULL, NULL, &err),
                     RS_ETIMEDOUT);
    assert_string_equal(err.reason, "QUERY_CANCELED");
    assert_int_equal(rs_db_query(conn, "reset_timeout", "RESET statement_timeout", 0, NULL,
                                 NULL, &err),
                     RS_OK);
    rs_db_release(pool, conn);
}

static void
query_arena_owns_result(void **state)
{
    const char *params[1] = {"arena 🧪"};
    rs_db_conn *conn = NULL;
    rs_arena *arena = rs_arena_create();
    PGresult *res = NULL;
    PGresult *res2 = NULL;
    struct rs_error err;

    (void)state;
    assert_non_null(arena);
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);
    assert_int_equal(rs_db_query_arena(conn, arena, "echo", "SELECT $1::text", 1, params, &res,
                                       &err),
                     RS_OK);
    assert_int_equal(rs_db_query_arena(conn, arena, "echo", "SELECT $1::text", 1, params,
                                       &res2, &err),
                     RS_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "arena 🧪");
    assert_string_equal(PQgetvalue(res2, 0, 0), "arena 🧪");
    assert_int_equal(rs_db_query_arena(conn, arena, "echo_discard", "SELECT 1", 0, NULL, NULL,
                                       &err),
                     RS_OK);
    res = NULL;
    assert_int_equal(rs_db_query_arena(conn, arena, "syntax", "SELEC 1", 0, NULL, &res, &err),
                     RS_EINTERNAL);
    assert_null(res);
    rs_db_release(pool, conn);
    /* LeakSanitizer reports any result the arena failed to clear. */
    rs_arena_destroy(arena);
}

static void
copy_in_round_trips_exactly(void **state)
{
    struct rs_buf rows = { 0 };
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    struct rs_error err;
    char num[16];
    size_t i;

    (void)state;
    for (i = 0; i < N_AWKWARD; i++) {
        snprintf(num, sizeof(num), "%zu", i);
        rs_buf_copy_field(&rows, num, false);
        rs_buf_copy_field(&rows, awkward[i], true);
    }
    rs_buf_copy_field(&rows, "99", false);
    rs_buf_copy_field(&rows, NULL, true);
    assert_false(rows.oom);
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);
    assert_int_equal(rs_db_query(conn, "temp", "CREATE TEMP TABLE copied (k int PRIMARY KEY, "
                                 "v text)", 0, NULL, NULL, &err),
                     RS_OK);
    assert_int_equal(rs_db_copy_in(conn, "copy", "COPY copied FROM STDIN", rows.data, rows.len,
                                   &err),
                     RS_OK);
    assert_int_equal(rs_db_query(conn, "read", "SELECT v FROM copied ORDER BY k", 0, NULL, &res,
                                 &err),
                     RS_OK);
    assert_int_equal(PQntuples(res), (int)N_AWKWARD + 1);
    for (i = 0; i < N_AWKWARD; i++) {
        assert_false(PQgetisnull(res, (int)i, 0));
        assert_int_equal((size_t)PQgetlength(res, (int)i, 0), strlen(awkward[i]));
        assert_memory_equal(PQgetvalue(res, (int)i, 0), awkward[i], strlen(awkward[i]));
    }
    assert_true(PQgetisnull(res, (int)N_AWKWARD, 0));
    PQclear(res);
    /* No rows is a COPY of nothing. */
    assert_int_equal(rs_db_copy_in(conn, "copy_none", "COPY copied FROM STDIN", NULL, 0, &err),
                     RS_OK);
    assert_int_equal(rs_db_query(conn, "drop", "DROP TABLE copied", 0, NULL, NULL, &err), RS_OK);
    rs_db_release(pool, conn);
    rs_buf_free(&rows);
}

static void
copy_in_errors_keep_the_connection(void **state)
{
    const char dup[] = "1\tone\n2\ttwo\n1\tagain\n";
    const char bad[] = "x\tnot a number\n";
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    struct rs_error err;

    (void)state;
    assert_int_equal(rs_db_acquire(pool, 5000, &conn, &err), RS_OK);
    assert_int_equal(rs_db_query(conn, "temp", "CREATE TEMP TABLE copied (k int PRIMARY KEY, "
                                 "v text)", 0, NULL, NULL, &err),
                     RS_OK);
    assert_int_equal(rs_db_copy_in(conn, "copy_dup", "COPY copied FROM STDIN", dup,
                                   strlen(dup), &err),
                     RS_EEXIST);
    assert_string_equal(err.reason, "ALREADY_EXISTS");
    assert_int_equal(rs_db_copy_in(conn, "copy_bad", "COPY copied FROM STDIN", bad,
                                   strlen(bad), &err),
                     RS_EINVAL);
    assert_int_equal(rs_db_copy_in(conn, "not_copy", "SELECT 1", NULL, 0, &err), RS_EINTERNAL);
    assert_string_equal(err.reason, "DATABASE_ERROR");
    assert_non_null(strstr(err.message, "not_copy"));
    /* A failed COPY keeps none of its rows, and the connection goes on. */
    assert_int_equal(rs_db_query(conn, "count", "SELECT count(*) FROM copied", 0, NULL, &res,
                                 &err),
                     RS_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    assert_int_equal(rs_db_query(conn, "drop", "DROP TABLE copied", 0, NULL, NULL, &err), RS_OK);
    rs_db_release(pool, conn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(params_round_trip_exactly),
        cmocka_unit_test(params_round_trip_through_table),
        cmocka_unit_test(unique_violation_is_already_exists),
        cmocka_unit_test(constraint_errors_map_through_table),
        cmocka_unit_test(statement_timeout_is_timed_out),
        cmocka_unit_test(query_arena_owns_result),
        cmocka_unit_test(copy_in_round_trips_exactly),
        cmocka_unit_test(copy_in_errors_keep_the_connection),
    };

    dbt_url_or_skip();
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
