/*
 * libs/db/src/tx.c
 *    Transactions on a pooled connection, retried with jittered backoff
 *    after serialization failures and deadlocks.
 */
#include "roster/db.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "roster/clock.h"
#include "roster/log.h"
#include "db_int.h"

#define TX_DEFAULT_ATTEMPTS 5
#define TX_BACKOFF_BASE_MS 10
#define TX_BACKOFF_MAX_MS 500

/* xorshift64* state per thread, so threads never share or lock a generator. */
static _Thread_local uint64_t tx_rand_state;

static uint64_t
tx_rand(void)
{
    uint64_t x = tx_rand_state;

    if (x == 0) {
        if (RAND_bytes((unsigned char *)&x, sizeof(x)) != 1 || x == 0) {
            /* Leaves no stale error for the next OpenSSL caller on this thread. */
            ERR_clear_error();
            x = ((uint64_t)rs_clock_ns() << 20) ^ (uint64_t)(uintptr_t)&tx_rand_state;
            x |= 1;
        }
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    tx_rand_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/*
 * Sleeps a random time in [0, min(base * 2^(attempt - 1), max)] ms ("full
 * jitter"), so transactions that collided do not collide again in step.
 */
static void
tx_backoff(int attempt)
{
    long cap = TX_BACKOFF_BASE_MS;
    long ms;
    struct timespec ts;
    int i;

    for (i = 1; i < attempt && cap < TX_BACKOFF_MAX_MS; i++)
        cap *= 2;
    if (cap > TX_BACKOFF_MAX_MS)
        cap = TX_BACKOFF_MAX_MS;
    ms = (long)(tx_rand() % (uint64_t)(cap + 1));
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static const char *
isolation_sql(enum rs_db_isolation isolation)
{
    switch (isolation) {
    case RS_DB_READ_COMMITTED:
        return "BEGIN ISOLATION LEVEL READ COMMITTED";
    case RS_DB_REPEATABLE_READ:
        return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case RS_DB_SERIALIZABLE:
        return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    }
    return NULL;
}

/* Rolls back if conn is still inside a transaction, leaving the caller's error as it is. */
static void
tx_rollback(rs_db_conn *conn)
{
    struct rs_error ignored;

    if (rs_db__conn_broken(conn) || PQtransactionStatus(conn->pg) == PQTRANS_IDLE)
        return;
    rs_error_clear(&ignored);
    /* After a failed ROLLBACK the connection is still in a transaction, so release closes it. */
    if (rs_db_query(conn, "rollback", "ROLLBACK", 0, NULL, NULL, &ignored) != RS_OK)
        rs_log_debug(NULL, "could not roll back", "sqlstate", ignored.sqlstate, NULL);
}

/*
 * Runs one attempt. *retry is set when the attempt failed in a way that
 * another attempt may fix: a serialization failure or deadlock anywhere, or
 * a connection found broken at BEGIN, before fn ran.
 */
static rs_status
tx_attempt(rs_db_pool *pool, const char *begin_sql, rs_db_tx_fn fn, void *arg,
           bool *retry, struct rs_error *err)
{
    rs_db_conn *conn = NULL;
    rs_status rc;

    *retry = false;
    rc = rs_db_acquire(pool, RS_DB_ACQUIRE_TIMEOUT_MS, &conn, err);
    if (rc != RS_OK)
        goto out;

    rc = rs_db_query(conn, "begin", begin_sql, 0, NULL, NULL, err);
    if (rc != RS_OK) {
        /* An idle pooled connection the server dropped shows up here. */
        *retry = rc == RS_EUNAVAIL && rs_db__conn_broken(conn);
        goto out;
    }

    rc = fn(conn, arg, err);
    if (rc == RS_OK && PQtransactionStatus(conn->pg) == PQTRANS_INERROR) {
        /*
         * fn swallowed a failed statement; COMMIT would quietly roll back and
         * report success, so the failure is surfaced here instead.
         */
        rc = rs_error_set(err, RS_EINTERNAL, "DATABASE_ERROR",
                          "could not commit transaction: one of its statements failed");
        if (rs_db__sqlstate_retryable(conn->last_sqlstate))
            snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", conn->last_sqlstate);
    }
    if (rc == RS_OK)
        rc = rs_db_query(conn, "commit", "COMMIT", 0, NULL, NULL, err);
    if (rc != RS_OK) {
        *retry = rs_db__sqlstate_retryable(err->sqlstate) ||
                 (PQtransactionStatus(conn->pg) == PQTRANS_INERROR &&
                  rs_db__sqlstate_retryable(conn->last_sqlstate));
    }
out:
    if (conn != NULL) {
        if (rc != RS_OK)
            tx_rollback(conn);
        rs_db_release(pool, conn);
    }
    return rc;
}

rs_status
rs_db_tx(rs_db_pool *pool, enum rs_db_isolation isolation, int max_attempts,
         rs_db_tx_fn fn, void *arg, struct rs_error *err)
{
    const char *begin_sql = isolation_sql(isolation);
    struct rs_error local;
    char attempt_text[16];
    bool retry = false;
    int attempt;
    rs_status rc = RS_OK;

    if (begin_sql == NULL || fn == NULL)
        return rs_error_set(err, RS_EINVAL, NULL, "invalid transaction isolation level or body");
    if (max_attempts <= 0)
        max_attempts = TX_DEFAULT_ATTEMPTS;
    /* The retry decision reads err->sqlstate, so there is always an err. */
    if (err == NULL)
        err = &local;

    for (attempt = 1; attempt <= max_attempts; attempt++) {
        rs_error_clear(err);
        rc = tx_attempt(pool, begin_sql, fn, arg, &retry, err);
        if (rc == RS_OK || !retry)
            return rc;
        if (attempt == max_attempts)
            break;
        snprintf(attempt_text, sizeof(attempt_text), "%d", attempt);
        rs_log_info(NULL, "retrying transaction", "attempt", attempt_text, "status",
                    rs_status_name(rc), "sqlstate", err->sqlstate, NULL);
        tx_backoff(attempt);
    }
    snprintf(attempt_text, sizeof(attempt_text), "%d", max_attempts);
    rs_log_warn(NULL, "transaction failed after all attempts", "attempts", attempt_text,
                "sqlstate", err->sqlstate, NULL);
    return rc;
}
