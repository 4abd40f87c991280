/*
 * libs/db/tests/test_tx.c
 *    Transactions: retries after serialization failures and deadlocks,
 *    the attempt limit, and rollback of failed bodies.
 */
#include "db_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HAMMER_THREADS 2
#define HAMMER_ROUNDS 25

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
             "CREATE TABLE %s.counter (id int PRIMARY KEY, n int NOT NULL);"
             "INSERT INTO %s.counter VALUES (1, 0), (2, 0), (10, 0), (20, 0);"
             "CREATE TABLE %s.notes (body text)",
             schema, schema, schema);
    dbt_exec(sql);
    return rs_db_pool_create(dbt_url_or_skip(), 4, &pool, &err) == RS_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    rs_db_pool_destroy(pool);
    dbt_schema_drop(schema);
    return 0;
}

static int
counter_value(int id)
{
    char sql[256];
    char id_text[16];
    char value[32];

    snprintf(sql, sizeof(sql), "SELECT n FROM %s.counter WHERE id = $1::int", schema);
    snprintf(id_text, sizeof(id_text), "%d", id);
    dbt_scalar(sql, id_text, value, sizeof(value));
    return (int)strtol(value, NULL, 10);
}

/* Reads the counter, then writes it back plus one: a read-modify-write race. */
static rs_status
increment(rs_db_conn *conn, int id, pthread_barrier_t *between, struct rs_error *err)
{
    char sql[256];
    char id_text[16];
    char next[32];
    const char *params[2];
    PGresult *res = NULL;
    rs_status rc;

    snprintf(id_text, sizeof(id_text), "%d", id);
    params[0] = id_text;
    snprintf(sql, sizeof(sql), "SELECT n FROM %s.counter WHERE id = $1", schema);
    rc = rs_db_query(conn, "counter_select", sql, 1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    snprintf(next, sizeof(next), "%ld", strtol(PQgetvalue(res, 0, 0), NULL, 10) + 1);
    PQclear(res);
    if (between != NULL)
        pthread_barrier_wait(between);
    params[1] = next;
    snprintf(sql, sizeof(sql), "UPDATE %s.counter SET n = $2 WHERE id = $1", schema);
    return rs_db_query(conn, "counter_update", sql, 2, params, NULL, err);
}

struct race {
    pthread_barrier_t barrier;
    atomic_int calls;
    int row;
};

struct racer {
    struct race *race;
    int attempts;
    int first_row;                /* deadlock test: row locked first */
    rs_status rc;
};

static rs_status
conflict_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct racer *r = arg;

    r->attempts++;
    atomic_fetch_add(&r->race->calls, 1);
    /* Only the first attempts meet at the barrier; the retry runs alone. */
    return increment(conn, r->race->row, r->attempts == 1 ? &r->race->barrier : NULL, err);
}

static void *
conflict_thread(void *arg)
{
    struct racer *r = arg;
    struct rs_error err;

    r->rc = rs_db_tx(pool, RS_DB_SERIALIZABLE, 5, conflict_body, r, &err);
    return NULL;
}

static void
serialization_failure_is_retried(void **state)
{
    static struct race race;
    struct racer racers[2];
    pthread_t threads[2];
    int i;

    (void)state;
    memset(&race, 0, sizeof(race));
    race.row = 20;
    pthread_barrier_init(&race.barrier, NULL, 2);
    memset(racers, 0, sizeof(racers));
    for (i = 0; i < 2; i++) {
        racers[i].race = &race;
        assert_int_equal(pthread_create(&threads[i], NULL, conflict_thread, &racers[i]), 0);
    }
    for (i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&race.barrier);

    assert_int_equal(racers[0].rc, RS_OK);
    assert_int_equal(racers[1].rc, RS_OK);
    /* Both read 0 before either wrote, so one of them had to run again. */
    assert_int_equal(atomic_load(&race.calls), 3);
    assert_int_equal(counter_value(20), 2);
}

struct hammer {
    atomic_int calls;
};

static rs_status
hammer_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct hammer *h = arg;

    atomic_fetch_add(&h->calls, 1);
    return increment(conn, 10, NULL, err);
}

static void *
hammer_thread(void *arg)
{
    struct rs_error err;
    intptr_t failures = 0;
    int i;

    for (i = 0; i < HAMMER_ROUNDS; i++) {
        if (rs_db_tx(pool, RS_DB_SERIALIZABLE, 50, hammer_body, arg, &err) != RS_OK)
            failures++;
    }
    return (void *)failures;
}

static void
serializable_counter_stays_exact(void **state)
{
    static struct hammer h;
    pthread_t threads[HAMMER_THREADS];
    void *failures;
    int i;

    (void)state;
    atomic_store(&h.calls, 0);
    for (i = 0; i < HAMMER_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer_thread, &h), 0);
    for (i = 0; i < HAMMER_THREADS; i++) {
        pthread_join(threads[i], &failures);
        assert_int_equal((intptr_t)failures, 0);
    }
    assert_int_equal(counter_value(10), HAMMER_THREADS * HAMMER_ROUNDS);
    assert_true(atomic_load(&h.calls) >= HAMMER_THREADS * HAMMER_ROUNDS);
    print_message("serializable counter: %d bodies for %d commits\n", atomic_load(&h.calls),
                  HAMMER_THREADS * HAMMER_ROUNDS);
}

static rs_status
bump_row(rs_db_conn *conn, int id, struct rs_error *err)
{
    char sql[256];
    char id_text[16];
    const char *params[1];

    snprintf(id_text, sizeof(id_text), "%d", id);
    params[0] = id_text;
    snprintf(sql, sizeof(sql), "UPDATE %s.counter SET n = n + 1 WHERE id = $1", schema);
    return rs_db_query(conn, "counter_bump", sql, 1, params, NULL, err);
}

/* Locks first_row, meets the other thread, then locks the other row. */
static rs_status
deadlock_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct racer *r = arg;
    rs_status rc;

    r->attempts++;
    atomic_fetch_add(&r->race->calls, 1);
    rc = bump_row(conn, r->first_row, err);
    if (rc != RS_OK)
        return rc;
    if (r->attempts == 1)
        pthread_barrier_wait(&r->race->barrier);
    return bump_row(conn, r->first_row == 1 ? 2 : 1, err);
}

static void *
deadlock_thread(void *arg)
{
    struct racer *r = arg;
    struct rs_error err;

    r->rc = rs_db_tx(pool, RS_DB_READ_COMMITTED, 5, deadlock_body, r, &err);
    return NULL;
}

static void
deadlock_is_retried(void **state)
{
    static struct race race;
    struct racer racers[2];
    pthread_t threads[2];
    int i;

    (void)state;
    memset(&race, 0, sizeof(race));
    pthread_barrier_init(&race.barrier, NULL, 2);
    memset(racers, 0, sizeof(racers));
    for (i = 0; i < 2; i++) {
        racers[i].race = &race;
        racers[i].first_row = i + 1;
        assert_int_equal(pthread_create(&threads[i], NULL, deadlock_thread, &racers[i]), 0);
    }
    for (i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&race.barrier);

    assert_int_equal(racers[0].rc, RS_OK);
    assert_int_equal(racers[1].rc, RS_OK);
    /* The server picks one victim; it alone runs a second time. */
    assert_int_equal(atomic_load(&race.calls), 3);
    assert_int_equal(counter_value(1), 2);
    assert_int_equal(counter_value(2), 2);
}

static rs_status
always_conflicts(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    int *calls = arg;

    (*calls)++;
    return rs_db_query(conn, "raise_40001",
                       "DO $$ BEGIN RAISE EXCEPTION 'forced' "
                       "USING ERRCODE = 'serialization_failure'; END $$",
                       0, NULL, NULL, err);
}

static void
attempts_are_limited(void **state)
{
    struct rs_error err;
    int calls = 0;

    (void)state;
    assert_int_equal(rs_db_tx(pool, RS_DB_SERIALIZABLE, 3, always_conflicts, &calls, &err),
                     RS_EABORTED);
    assert_int_equal(calls, 3);
    assert_string_equal(err.reason, "SERIALIZATION_FAILURE");
    assert_string_equal(err.sqlstate, "40001");

    calls = 0;
    assert_int_equal(rs_db_tx(pool, RS_DB_SERIALIZABLE, 0, always_conflicts, &calls, NULL),
                     RS_EABORTED);
    assert_int_equal(calls, 5);
}

struct note_body {
    int calls;
    bool swallow;                 /* run a failing statement and report success */
};

static rs_status
note_then_fail(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct note_body *b = arg;
    const char *params[1] = {"should not stay"};
    struct rs_error ignored;
    char sql[256];
    rs_status rc;

    b->calls++;
    snprintf(sql, sizeof(sql), "INSERT INTO %s.notes (body) VALUES ($1)", schema);
    rc = rs_db_query(conn, "note_insert", sql, 1, params, NULL, err);
    if (rc != RS_OK)
        return rc;
    if (b->swallow) {
        if (rs_db_query(conn, "division", "SELECT 1 / 0", 0, NULL, NULL, &ignored) == RS_OK)
            return rs_error_set(err, RS_EINTERNAL, NULL, "division by zero succeeded");
        return RS_OK;
    }
    return rs_error_set(err, RS_EINVAL, "TEST_FAILURE", "body failed on purpose");
}

static void
failed_body_rolls_back(void **state)
{
    struct note_body body = {0, false};
    struct rs_error err;
    char count[16];
    char sql[256];

    (void)state;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.notes", schema);
    assert_int_equal(rs_db_tx(pool, RS_DB_READ_COMMITTED, 5, note_then_fail, &body, &err),
                     RS_EINVAL);
    assert_int_equal(body.calls, 1);
    assert_string_equal(err.reason, "TEST_FAILURE");
    dbt_scalar(sql, NULL, count, sizeof(count));
    assert_string_equal(count, "0");

    body.calls = 0;
    body.swallow = true;
    assert_int_equal(rs_db_tx(pool, RS_DB_REPEATABLE_READ, 5, note_then_fail, &body, &err),
                     RS_EINTERNAL);
    assert_int_equal(body.calls, 1);
    dbt_scalar(sql, NULL, count, sizeof(count));
    assert_string_equal(count, "0");
}

static rs_status
count_calls(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    int *calls = arg;

    (*calls)++;
    return rs_db_query(conn, "select_one", "SELECT 1", 0, NULL, NULL, err);
}

static void
stale_connection_is_replaced_at_begin(void **state)
{
    rs_db_pool *small = NULL;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    int pid;
    int calls = 0;

    (void)state;
    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), 1, &small, &err), RS_OK);
    assert_int_equal(rs_db_acquire(small, 1000, &conn, &err), RS_OK);
    pid = PQbackendPID(rs_db_conn_pg(conn));
    rs_db_release(small, conn);
    dbt_terminate_backend(pid);

    assert_int_equal(rs_db_tx(small, RS_DB_READ_COMMITTED, 5, count_calls, &calls, &err),
                     RS_OK);
    assert_int_equal(calls, 1);
    rs_db_pool_destroy(small);
}

static void
invalid_isolation_is_rejected(void **state)
{
    struct note_body body = {0, false};
    struct rs_error err;

    (void)state;
    assert_int_equal(rs_db_tx(pool, (enum rs_db_isolation)42, 1, note_then_fail, &body, &err),
                     RS_EINVAL);
    assert_int_equal(body.calls, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serialization_failure_is_retried),
        cmocka_unit_test(serializable_counter_stays_exact),
        cmocka_unit_test(deadlock_is_retried),
        cmocka_unit_test(attempts_are_limited),
        cmocka_unit_test(failed_body_rolls_back),
        cmocka_unit_test(stale_connection_is_replaced_at_begin),
        cmocka_unit_test(invalid_isolation_is_rejected),
    };

    dbt_url_or_skip();
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
