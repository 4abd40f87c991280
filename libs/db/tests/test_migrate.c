/*
 * libs/db/tests/test_migrate.c
 *    Migrations: order, bookkeeping, idempotence, concurrent runs, version
 *    validation, failure handling, and the readiness probe.
 */
#include "db_test.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "roster/clock.h"

#define CONCURRENT_RUNS 4

/* Unqualified names: rs_db_migrate sets search_path to the target schema. */
static const struct rs_db_migration migrations[] = {
    {1, "0001_init",
     "CREATE TABLE side_effects (version int NOT NULL);"
     "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"
     "INSERT INTO side_effects VALUES (1)"},
    {2, "0002_item_note",
     "ALTER TABLE items ADD COLUMN note text;"
     "INSERT INTO side_effects VALUES (2)"},
    {3, "0003_seed",
     "INSERT INTO items (id, name, note) VALUES (1, '初期', 'it''s seeded');"
     "INSERT INTO side_effects VALUES (3)"},
    {4, "0004_index",
     "CREATE INDEX items_name_idx ON items (name);"
     "INSERT INTO side_effects VALUES (4)"},
};

static rs_db_pool *
new_pool(int max_conns)
{
    rs_db_pool *pool = NULL;
    struct rs_error err;

    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), max_conns, &pool, &err), RS_OK);
    return pool;
}

static void
scalar_in(const char *schema, const char *sql_fmt, char *out, size_t out_size)
{
    char sql[512];

    snprintf(sql, sizeof(sql), sql_fmt, schema);
    dbt_scalar(sql, NULL, out, out_size);
}

static void
migrations_apply_in_order(void **state)
{
    char schema[DBT_SCHEMA_LEN];
    rs_db_pool *pool = new_pool(2);
    struct rs_error err;
    char text[256];
    int applied = -1;
    int version = -1;

    (void)state;
    dbt_schema_name(schema);
    assert_int_equal(rs_db_schema_version(pool, schema, &version, &err), RS_OK);
    assert_int_equal(version, 0);

    assert_int_equal(rs_db_migrate(pool, schema, migrations, 3, &applied, &err), RS_OK);
    assert_int_equal(applied, 3);
    assert_int_equal(rs_db_schema_version(pool, schema, &version, &err), RS_OK);
    assert_int_equal(version, 3);
    scalar_in(schema,
              "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
              "FROM %s.schema_migrations",
              text, sizeof(text));
    assert_string_equal(text, "1:0001_init,2:0002_item_note,3:0003_seed");
    scalar_in(schema, "SELECT string_agg(version::text, ',' ORDER BY version) FROM "
                      "%s.side_effects",
              text, sizeof(text));
    assert_string_equal(text, "1,2,3");
    scalar_in(schema, "SELECT name || '/' || note FROM %s.items", text, sizeof(text));
    assert_string_equal(text, "初期/it's seeded");
    scalar_in(schema, "SELECT count(*) FROM %s.schema_migrations WHERE applied_at <= now()",
              text, sizeof(text));
    assert_string_equal(text, "3");

    /* A second run finds nothing to do. */
    assert_int_equal(rs_db_migrate(pool, schema, migrations, 3, &applied, &err), RS_OK);
    assert_int_equal(applied, 0);

    /* A newer binary applies only the new migration. */
    assert_int_equal(rs_db_migrate(pool, schema, migrations, 4, &applied, &err), RS_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(rs_db_schema_version(pool, schema, &version, &err), RS_OK);
    assert_int_equal(version, 4);
    scalar_in(schema, "SELECT to_regclass('%s.items_name_idx') IS NOT NULL", text,
              sizeof(text));
    assert_string_equal(text, "t");

    /* An older binary leaves the newer schema alone. */
    assert_int_equal(rs_db_migrate(pool, schema, migrations, 2, &applied, &err), RS_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(rs_db_schema_version(pool, schema, &version, &err), RS_OK);
    assert_int_equal(version, 4);

    rs_db_pool_destroy(pool);
    dbt_schema_drop(schema);
}

struct concurrent_run {
    const char *schema;
    int applied;
    rs_status rc;
};

static void *
concurrent_migrate(void *arg)
{
    struct concurrent_run *run = arg;
    rs_db_pool *pool = NULL;
    struct rs_error err;

    run->rc = rs_db_pool_create(dbt_url_or_skip(), 1, &pool, &err);
    if (run->rc == RS_OK)
        run->rc = rs_db_migrate(pool, run->schema, migrations, 4, &run->applied, &err);
    rs_db_pool_destroy(pool);
    return NULL;
}

static void
concurrent_runs_apply_once(void **state)
{
    char schema[DBT_SCHEMA_LEN];
    struct concurrent_run runs[CONCURRENT_RUNS];
    pthread_t threads[CONCURRENT_RUNS];
    char text[256];
    int total = 0;
    int i;

    (void)state;
    dbt_schema_name(schema);
    for (i = 0; i < CONCURRENT_RUNS; i++) {
        runs[i].schema = schema;
        runs[i].applied = -1;
        runs[i].rc = RS_EINTERNAL;
        assert_int_equal(pthread_create(&threads[i], NULL, concurrent_migrate, &runs[i]), 0);
    }
    for (i = 0; i < CONCURRENT_RUNS; i++)
        pthread_join(threads[i], NULL);
    for (i = 0; i < CONCURRENT_RUNS; i++) {
        assert_int_equal(runs[i].rc, RS_OK);
        total += runs[i].applied;
    }
    assert_int_equal(total, 4);
    scalar_in(schema, "SELECT count(*) FROM %s.schema_migrations", text, sizeof(text));
    assert_string_equal(text, "4");
    scalar_in(schema, "SELECT string_agg(version::text, ',' ORDER BY version) FROM "
                      "%s.side_effects",
              text, sizeof(text));
    assert_string_equal(text, "1,2,3,4");
    dbt_schema_drop(schema);
}

static void
version_gaps_are_rejected(void **state)
{
    static const struct rs_db_migration gap[] = {
        {1, "0001_a", "SELECT 1"},
        {3, "0003_c", "SELECT 1"},
    };
    static const struct rs_db_migration late_start[] = {
        {2, "0002_b", "SELECT 1"},
    };
    static const struct rs_db_migration repeated[] = {
        {1, "0001_a", "SELECT 1"},
        {1, "0001_again", "SELECT 1"},
    };
    static const struct rs_db_migration unnamed[] = {
        {1, NULL, "SELECT 1"},
    };
    char schema[DBT_SCHEMA_LEN];
    rs_db_pool *pool = new_pool(1);
    struct rs_error err;
    char text[64];
    int applied = -1;

    (void)state;
    dbt_schema_name(schema);
    assert_int_equal(rs_db_migrate(pool, schema, gap, 2, &applied, &err), RS_EINVAL);
    assert_int_equal(applied, 0);
    assert_non_null(strstr(err.message, "version 3"));
    assert_int_equal(rs_db_migrate(pool, schema, late_start, 1, &applied, &err), RS_EINVAL);
    assert_int_equal(rs_db_migrate(pool, schema, repeated, 2, &applied, &err), RS_EINVAL);
    assert_int_equal(rs_db_migrate(pool, schema, unnamed, 1, &applied, &err), RS_EINVAL);
    assert_int_equal(rs_db_migrate(pool, "", migrations, 1, &applied, &err), RS_EINVAL);
    assert_int_equal(rs_db_migrate(pool, NULL, migrations, 1, &applied, &err), RS_EINVAL);

    /* Rejected before touching the database: the schema was never created. */
    dbt_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema, text,
               sizeof(text));
    assert_string_equal(text, "0");
    rs_db_pool_destroy(pool);
}

static void
failed_migration_rolls_back_and_unlocks(void **state)
{
    static const struct rs_db_migration broken[] = {
        {1, "0001_ok", "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)"},
        {2, "0002_broken", "CREATE TABLE lost (id int); SELEC oops"},
    };
    static const struct rs_db_migration fixed[] = {
        {1, "0001_ok", "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)"},
        {2, "0002_fixed", "CREATE TABLE lost (id int)"},
    };
    char schema[DBT_SCHEMA_LEN];
    rs_db_pool *pool = new_pool(1);
    struct rs_error err;
    char text[64];
    int applied = -1;
    int version = -1;

    (void)state;
    dbt_schema_name(schema);
    assert_int_equal(rs_db_migrate(pool, schema, broken, 2, &applied, &err), RS_EINTERNAL);
    assert_int_equal(applied, 1);
    assert_non_null(strstr(err.message, "0002_broken"));
    assert_string_equal(err.sqlstate, "42601");
    assert_int_equal(rs_db_schema_version(pool, schema, &version, &err), RS_OK);
    assert_int_equal(version, 1);
    scalar_in(schema, "SELECT to_regclass('%s.lost') IS NULL", text, sizeof(text));
    assert_string_equal(text, "t");

    /* The pooled session gave the advisory lock back. */
    dbt_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
               "AND ((classid::bigint << 32) | objid::bigint) = "
               "hashtext('roster.migrate.' || $1)::bigint",
               schema, text, sizeof(text));
    assert_string_equal(text, "0");

    /* With the broken migration fixed, the next run continues after version 1. */
    assert_int_equal(rs_db_migrate(pool, schema, fixed, 2, &applied, &err), RS_OK);
    assert_int_equal(applied, 1);
    scalar_in(schema, "SELECT count(*) FROM %s.kept", text, sizeof(text));
    assert_string_equal(text, "1");
    rs_db_pool_destroy(pool);
    dbt_schema_drop(schema);
}

static void
check_ready_reports_schema_state(void **state)
{
    char schema[DBT_SCHEMA_LEN];
    rs_db_pool *pool = new_pool(1);
    struct rs_error err;
    int applied;

    (void)state;
    dbt_schema_name(schema);
    assert_int_equal(rs_db_check_ready(pool, schema, 0, &err), RS_OK);
    assert_int_equal(rs_db_check_ready(pool, schema, 1, &err), RS_EPRECOND);
    assert_string_equal(err.reason, "SCHEMA_BEHIND");

    /* Schema present but its table missing still reads as version 0. */
    dbt_schema_create(schema);
    assert_int_equal(rs_db_check_ready(pool, schema, 1, &err), RS_EPRECOND);

    assert_int_equal(rs_db_migrate(pool, schema, migrations, 2, &applied, &err), RS_OK);
    assert_int_equal(rs_db_check_ready(pool, schema, 3, &err), RS_EPRECOND);
    assert_string_equal(err.reason, "SCHEMA_BEHIND");
    assert_non_null(strstr(err.message, "version 2"));
    assert_int_equal(rs_db_check_ready(pool, schema, 2, &err), RS_OK);
    assert_int_equal(rs_db_check_ready(pool, schema, 1, &err), RS_OK);
    rs_db_pool_destroy(pool);
    dbt_schema_drop(schema);
}

/* Makes the server end the session of the pool's only idle connection. */
static void
kill_idle_connection(rs_db_pool *pool)
{
    rs_db_conn *conn = NULL;
    struct rs_error err;
    int pid;

    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    pid = PQbackendPID(rs_db_conn_pg(conn));
    rs_db_release(pool, conn);
    dbt_terminate_backend(pid);
}

static void
stale_pooled_connection_is_replaced(void **state)
{
    char schema[DBT_SCHEMA_LEN];
    rs_db_pool *pool = new_pool(1);
    struct rs_error err;
    int applied = -1;

    (void)state;
    dbt_schema_name(schema);
    kill_idle_connection(pool);
    assert_int_equal(rs_db_migrate(pool, schema, migrations, 1, &applied, &err), RS_OK);
    assert_int_equal(applied, 1);
    kill_idle_connection(pool);
    assert_int_equal(rs_db_check_ready(pool, schema, 1, &err), RS_OK);
    rs_db_pool_destroy(pool);
    dbt_schema_drop(schema);
}

static void
check_ready_fails_fast_when_unreachable(void **state)
{
    rs_db_pool *pool = NULL;
    struct rs_error err;
    int64_t start;
    int version = -1;

    (void)state;
    assert_int_equal(rs_db_pool_create("postgresql://postgres:hunter2-secret@127.0.0.1:1/x",
                                       1, &pool, &err),
                     RS_OK);
    start = rs_clock_ms();
    assert_int_equal(rs_db_check_ready(pool, "identity", 1, &err), RS_EUNAVAIL);
    assert_true(rs_clock_ms() - start < 3000);
    assert_string_equal(err.reason, "DATABASE_UNAVAILABLE");
    assert_null(strstr(err.message, "hunter2"));
    assert_null(strstr(err.detail, "hunter2"));
    assert_int_equal(rs_db_schema_version(pool, "identity", &version, &err), RS_EUNAVAIL);
    assert_int_equal(rs_db_migrate(pool, "identity", migrations, 1, NULL, &err), RS_EUNAVAIL);
    rs_db_pool_destroy(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrations_apply_in_order),
        cmocka_unit_test(concurrent_runs_apply_once),
        cmocka_unit_test(version_gaps_are_rejected),
        cmocka_unit_test(failed_migration_rolls_back_and_unlocks),
        cmocka_unit_test(check_ready_reports_schema_state),
        cmocka_unit_test(stale_pooled_connection_is_replaced),
        cmocka_unit_test(check_ready_fails_fast_when_unreachable),
    };

    dbt_url_or_skip();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
