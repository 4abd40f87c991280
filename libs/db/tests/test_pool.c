/*
 * libs/db/tests/test_pool.c
 *    The pool: sharing few connections among many threads, acquire
 *    timeouts, replacing broken connections, unreachable servers, and the
 *    JIT rule of new connections.
 */
#include "db_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roster/clock.h"
#include "db_int.h"

#define SHARE_THREADS 8
#define SHARE_ROUNDS 10
#define SHARE_CONNS 2

static int
backend_pid(rs_db_conn *conn)
{
    PGresult *res = NULL;
    struct rs_error err;
    int pid;

    assert_int_equal(rs_db_query(conn, "backend_pid", "SELECT pg_backend_pid()", 0, NULL, &res,
                                 &err),
                     RS_OK);
    pid = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return pid;
}

/* Compares the session's value of a setting with want. */
static void
assert_setting(rs_db_conn *conn, const char *name, const char *want)
{
    const char *params[1] = { name };
    PGresult *res = NULL;
    struct rs_error err;

    assert_int_equal(rs_db_query(conn, "setting", "SELECT current_setting($1)", 1, params,
                                 &res, &err),
                     RS_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), want);
    PQclear(res);
}

struct share_state {
    rs_db_pool *pool;
    pthread_mutex_t mu;
    int pids[SHARE_THREADS * SHARE_ROUNDS];
    int n_pids;
    atomic_int lent;
    atomic_int max_lent;
    atomic_int failures;
};

static void *
share_worker(void *arg)
{
    struct share_state *st = arg;
    struct rs_error err;
    rs_db_conn *conn;
    PGresult *res;
    int lent;
    int max;
    int round;

    for (round = 0; round < SHARE_ROUNDS; round++) {
        if (rs_db_acquire(st->pool, 30000, &conn, &err) != RS_OK) {
            atomic_fetch_add(&st->failures, 1);
            continue;
        }
        lent = atomic_fetch_add(&st->lent, 1) + 1;
        max = atomic_load(&st->max_lent);
        while (lent > max && !atomic_compare_exchange_weak(&st->max_lent, &max, lent))
            ;
        res = NULL;
        if (rs_db_query(conn, "backend_pid_sleep",
                        "SELECT pg_backend_pid(), pg_sleep(0.005)", 0, NULL, &res,
                        &err) != RS_OK) {
            atomic_fetch_add(&st->failures, 1);
        } else {
            pthread_mutex_lock(&st->mu);
            st->pids[st->n_pids++] = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
            pthread_mutex_unlock(&st->mu);
        }
        PQclear(res);
        atomic_fetch_sub(&st->lent, 1);
        rs_db_release(st->pool, conn);
    }
    return NULL;
}

static void
pool_shares_connections_among_threads(void **state)
{
    static struct share_state st;
    pthread_t threads[SHARE_THREADS];
    struct rs_error err;
    int distinct[SHARE_THREADS * SHARE_ROUNDS];
    int n_distinct = 0;
    int i;
    int j;

    (void)state;
    memset(&st, 0, sizeof(st));
    pthread_mutex_init(&st.mu, NULL);
    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), SHARE_CONNS, &st.pool, &err), RS_OK);
    for (i = 0; i < SHARE_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, share_worker, &st), 0);
    for (i = 0; i < SHARE_THREADS; i++)
        pthread_join(threads[i], NULL);

    assert_int_equal(atomic_load(&st.failures), 0);
    assert_int_equal(st.n_pids, SHARE_THREADS * SHARE_ROUNDS);
    assert_true(atomic_load(&st.max_lent) <= SHARE_CONNS);
    for (i = 0; i < st.n_pids; i++) {
        for (j = 0; j < n_distinct && distinct[j] != st.pids[i]; j++)
            ;
        if (j == n_distinct)
            distinct[n_distinct++] = st.pids[i];
    }
    assert_true(n_distinct >= 1);
    assert_true(n_distinct <= SHARE_CONNS);
    rs_db_pool_destroy(st.pool);
    pthread_mutex_destroy(&st.mu);
}

static void
acquire_times_out_when_pool_is_busy(void **state)
{
    rs_db_pool *pool = NULL;
    rs_db_conn *first = NULL;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    int64_t start;
    int64_t elapsed;

    (void)state;
    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), 1, &pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(pool, 1000, &first, &err), RS_OK);

    start = rs_clock_ms();
    assert_int_equal(rs_db_acquire(pool, 200, &conn, &err), RS_EUNAVAIL);
    elapsed = rs_clock_ms() - start;
    assert_null(conn);
    assert_string_equal(err.reason, "DATABASE_UNAVAILABLE");
    assert_true(elapsed >= 190);
    assert_true(elapsed < 2000);
    assert_int_equal(rs_db_acquire(pool, 0, &conn, &err), RS_EUNAVAIL);

    rs_db_release(pool, first);
    assert_int_equal(rs_db_acquire(pool, 0, &conn, &err), RS_OK);
    rs_db_release(pool, conn);
    rs_db_pool_destroy(pool);
}

struct delayed_release {
    rs_db_pool *pool;
    rs_db_conn *conn;
};

static void *
release_after_100ms(void *arg)
{
    struct delayed_release *dr = arg;

    usleep(100 * 1000);
    rs_db_release(dr->pool, dr->conn);
    return NULL;
}

static void
acquire_waits_for_release(void **state)
{
    struct delayed_release dr;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    pthread_t thread;
    int64_t start;

    (void)state;
    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), 1, &dr.pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(dr.pool, 1000, &dr.conn, &err), RS_OK);
    assert_int_equal(pthread_create(&thread, NULL, release_after_100ms, &dr), 0);
    start = rs_clock_ms();
    assert_int_equal(rs_db_acquire(dr.pool, 5000, &conn, &err), RS_OK);
    assert_true(rs_clock_ms() - start >= 50);
    assert_ptr_equal(conn, dr.conn);
    pthread_join(thread, NULL);
    rs_db_release(dr.pool, conn);
    rs_db_pool_destroy(dr.pool);
}

static void
broken_connection_is_replaced(void **state)
{
    rs_db_pool *pool = NULL;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    int pid_before;

    (void)state;
    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), 1, &pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    pid_before = backend_pid(conn);
    assert_int_equal(rs_db_query(conn, "terminate_self",
                                 "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, NULL,
                                 &err),
                     RS_EUNAVAIL);
    assert_string_equal(err.reason, "DATABASE_UNAVAILABLE");
    rs_db_release(pool, conn);

    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    assert_int_not_equal(backend_pid(conn), pid_before);
    rs_db_release(pool, conn);
    rs_db_pool_destroy(pool);
}

static void
connection_left_in_transaction_is_closed(void **state)
{
    rs_db_pool *pool = NULL;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    int pid_before;

    (void)state;
    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), 1, &pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    assert_int_equal(rs_db_query(conn, "begin", "BEGIN", 0, NULL, NULL, &err), RS_OK);
    pid_before = backend_pid(conn);
    rs_db_release(pool, conn);

    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    assert_int_equal(PQtransactionStatus(rs_db_conn_pg(conn)), PQTRANS_IDLE);
    assert_int_not_equal(backend_pid(conn), pid_before);
    rs_db_release(pool, conn);
    rs_db_pool_destroy(pool);
}

static void
healthy_connection_is_reused(void **state)
{
    rs_db_pool *pool = NULL;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    int pid_before;

    (void)state;
    assert_int_equal(rs_db_pool_create(dbt_url_or_skip(), 1, &pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    pid_before = backend_pid(conn);
    assert_setting(conn, "application_name", "roster");
    rs_db_release(pool, conn);

    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    assert_int_equal(backend_pid(conn), pid_before);
    rs_db_release(pool, conn);
    rs_db_pool_destroy(pool);
}

/* JIT is off unless the connection's options name it. */
static void
jit_off_unless_options_name_it(void **state)
{
    rs_db_pool *pool = NULL;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    char conninfo[1024];
    const char *url = dbt_url_or_skip();

    (void)state;
    assert_int_equal(rs_db_pool_create(url, 1, &pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    assert_setting(conn, "jit", "off");
    rs_db_release(pool, conn);
    rs_db_pool_destroy(pool);

    /* A URI takes its options as a query parameter. */
    if (strstr(url, "://") != NULL)
        snprintf(conninfo, sizeof(conninfo), "%s%coptions=-c%%20jit%%3Don", url,
                 strchr(url, '?') != NULL ? '&' : '?');
    else
        snprintf(conninfo, sizeof(conninfo), "%s options='-c jit=on'", url);
    assert_int_equal(rs_db_pool_create(conninfo, 1, &pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    assert_setting(conn, "jit", "on");
    rs_db_release(pool, conn);
    rs_db_pool_destroy(pool);

    /* libpq reads options from PGOPTIONS when the conninfo has none. */
    assert_int_equal(setenv("PGOPTIONS", "-c jit=on", 1), 0);
    assert_int_equal(rs_db_pool_create(url, 1, &pool, &err), RS_OK);
    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_OK);
    assert_setting(conn, "jit", "on");
    rs_db_release(pool, conn);
    rs_db_pool_destroy(pool);
    assert_int_equal(unsetenv("PGOPTIONS"), 0);
}

/* Compares the value of a setting on a connection outside the pool with want. */
static void
assert_pg_setting(PGconn *pg, const char *name, const char *want)
{
    const char *params[1] = { name };
    PGresult *res = PQexecParams(pg, "SELECT current_setting($1)", 1, NULL, params, NULL,
                                 NULL, 0);

    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), want);
    PQclear(res);
}

/* The LISTEN connection is opened outside the pool and follows the same rule. */
static void
jit_rule_applies_outside_pool(void **state)
{
    struct rs_error err;
    PGconn *pg;
    const char *url = dbt_url_or_skip();

    (void)state;
    pg = PQconnectdb(url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    assert_int_equal(rs_db__jit_off(pg, &err), RS_OK);
    assert_pg_setting(pg, "jit", "off");
    PQfinish(pg);

    assert_int_equal(setenv("PGOPTIONS", "-c jit=on", 1), 0);
    pg = PQconnectdb(url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    assert_int_equal(rs_db__jit_off(pg, &err), RS_OK);
    assert_pg_setting(pg, "jit", "on");
    PQfinish(pg);
    assert_int_equal(unsetenv("PGOPTIONS"), 0);
}

static void
unreachable_server_fails_fast(void **state)
{
    rs_db_pool *pool = NULL;
    rs_db_conn *conn = NULL;
    struct rs_error err;
    int64_t start;

    (void)state;
    /* Port 1 on loopback has no listener, so the connect is refused at once. */
    assert_int_equal(rs_db_pool_create("host=127.0.0.1 port=1 user=postgres "
                                       "password=hunter2-secret dbname=postgres",
                                       2, &pool, &err),
                     RS_OK);
    start = rs_clock_ms();
    assert_int_equal(rs_db_acquire(pool, 1000, &conn, &err), RS_EUNAVAIL);
    assert_true(rs_clock_ms() - start < 3000);
    assert_null(conn);
    assert_string_equal(err.reason, "DATABASE_UNAVAILABLE");
    assert_null(strstr(err.message, "hunter2"));
    assert_null(strstr(err.detail, "hunter2"));
    assert_true(strlen(err.detail) > 0);

    /* The failed connect gave its slot back, so this acquire connects again instead of timing out. */
    assert_int_equal(rs_db_acquire(pool, 0, &conn, &err), RS_EUNAVAIL);
    assert_null(strstr(err.message, "within"));
    rs_db_pool_destroy(pool);
}

static void
pool_create_rejects_bad_input(void **state)
{
    rs_db_pool *pool = NULL;
    struct rs_error err;

    (void)state;
    assert_int_equal(rs_db_pool_create("host=127.0.0.1 password=hunter2-secret nonsense", 2,
                                       &pool, &err),
                     RS_EINVAL);
    assert_null(pool);
    assert_null(strstr(err.message, "hunter2"));
    assert_null(strstr(err.detail, "hunter2"));
    assert_int_equal(rs_db_pool_create("host=127.0.0.1", 0, &pool, &err), RS_EINVAL);
    assert_null(pool);
    assert_int_equal(rs_db_pool_create(NULL, 1, &pool, &err), RS_EINVAL);
    assert_null(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_shares_connections_among_threads),
        cmocka_unit_test(acquire_times_out_when_pool_is_busy),
        cmocka_unit_test(acquire_waits_for_release),
        cmocka_unit_test(broken_connection_is_replaced),
        cmocka_unit_test(connection_left_in_transaction_is_closed),
        cmocka_unit_test(healthy_connection_is_reused),
        cmocka_unit_test(jit_off_unless_options_name_it),
        cmocka_unit_test(jit_rule_applies_outside_pool),
        cmocka_unit_test(unreachable_server_fails_fast),
        cmocka_unit_test(pool_create_rejects_bad_input),
    };

    dbt_url_or_skip();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
