/*
 * libs/db/src/pool.c
 *    The connection pool: lazy connects up to max_conns, a condition
 *    variable for waiters, and closing of connections left in a bad state.
 */
#include "roster/db.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "roster/alloc.h"
#include "roster/clock.h"
#include "roster/log.h"
#include "db_int.h"

rs_status
rs_db_pool_create(const char *conninfo, int max_conns, rs_db_pool **out,
                  struct rs_error *err)
{
    rs_db_pool *pool = NULL;
    PQconninfoOption *opts = NULL;
    char *parse_error = NULL;
    bool mu_ready = false;
    rs_status rc = RS_OK;

    *out = NULL;
    if (conninfo == NULL || max_conns < 1) {
        rc = rs_error_set(err, RS_EINVAL, NULL,
                          "invalid database pool: needs a connection string and max_conns >= 1");
        goto out;
    }
    /*
     * libpq's parse errors quote pieces of the string, which may be the
     * password, so they are not passed on.
     */
    opts = PQconninfoParse(conninfo, &parse_error);
    if (opts == NULL) {
        rc = rs_error_set(err, parse_error != NULL ? RS_EINVAL : RS_ENOMEM, NULL,
                          parse_error != NULL ? "invalid database connection string"
                                              : "out of memory");
        goto out;
    }

    pool = rs_calloc(1, sizeof(*pool));
    if (pool == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    pool->conninfo = rs_strdup(conninfo);
    if (pool->conninfo == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    pool->max_conns = max_conns;
    if (pthread_mutex_init(&pool->mu, NULL) != 0) {
        rc = rs_error_set(err, RS_ERESOURCE, NULL, "could not create database pool mutex");
        goto out;
    }
    mu_ready = true;
    /* Waits measure a monotonic clock, so a clock change cannot stretch them. */
    if (rs_cond_init_monotonic(&pool->freed) != 0) {
        rc = rs_error_set(err, RS_ERESOURCE, NULL, "could not create database pool condition");
        goto out;
    }

    *out = pool;
    pool = NULL;
out:
    if (pool != NULL) {
        if (mu_ready)
            pthread_mutex_destroy(&pool->mu);
        rs_free(pool->conninfo);
        rs_free(pool);
    }
    if (opts != NULL)
        PQconninfoFree(opts);
    if (parse_error != NULL)
        PQfreemem(parse_error);
    return rc;
}

static void
conn_close(rs_db_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->pg != NULL)
        PQfinish(conn->pg);
    rs_free(conn);
}

void
rs_db_pool_destroy(rs_db_pool *pool)
{
    rs_db_conn *conn;

    if (pool == NULL)
        return;
    while (pool->idle != NULL) {
        conn = pool->idle;
        pool->idle = conn->next;
        conn_close(conn);
    }
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->mu);
    if (pool->conninfo != NULL) {
        /* The string may hold a password. */
        explicit_bzero(pool->conninfo, strlen(pool->conninfo));
        rs_free(pool->conninfo);
    }
    rs_free(pool);
}

/* Copies libpq's message into err->detail without its trailing newline. */
static void
detail_from_pg(struct rs_error *err, const PGconn *pg)
{
    const char *msg = pg != NULL ? PQerrorMessage(pg) : "out of memory";
    size_t len = strlen(msg);

    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    rs_error_detail(err, "%.*s", (int)len, msg);
}

/*
 * Sends server notices (such as "relation already exists, skipping") to the
 * debug log instead of libpq's default of printing them to stderr.
 */
static void
notice_to_log(void *arg, const char *message)
{
    size_t len = strlen(message);
    char text[256];

    RS_UNUSED(arg);
    while (len > 0 && message[len - 1] == '\n')
        len--;
    snprintf(text, sizeof(text), "%.*s", (int)len, message);
    rs_log_debug(NULL, "database notice", "notice", text, NULL);
}

/*
 * Roster's statements are short, and one Start Sync query spent 28 ms in
 * JIT compilation for 2 ms of execution.
 */
rs_status
rs_db__jit_off(PGconn *pg, struct rs_error *err)
{
    PQconninfoOption *opts = PQconninfo(pg);
    PQconninfoOption *o;
    PGresult *res;
    bool named = false;
    rs_status rc = RS_OK;

    if (opts == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    for (o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "options") == 0 && o->val != NULL &&
            strstr(o->val, "jit") != NULL)
            named = true;
    }
    PQconninfoFree(opts);
    if (named)
        return RS_OK;
    res = PQexec(pg, "SET jit = off");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = rs_error_set(err, RS_EUNAVAIL, "DATABASE_UNAVAILABLE",
                          "failed to turn JIT off on a new database connection");
        detail_from_pg(err, pg);
    }
    PQclear(res);
    return rc;
}

/*
 * Opens one connection. connect_timeout and application_name come before
 * the expanded conninfo in the arrays, so values the conninfo sets win.
 */
static rs_status
conn_open(const rs_db_pool *pool, rs_db_conn **out, struct rs_error *err)
{
    static const char *const keywords[] = {"connect_timeout", "application_name",
                                           "dbname", NULL};
    const char *values[4];
    rs_db_conn *conn = NULL;
    char pid[16];
    rs_status rc = RS_OK;

    *out = NULL;
    values[0] = RS_DB_CONNECT_TIMEOUT;
    values[1] = "roster";
    values[2] = pool->conninfo;
    values[3] = NULL;

    conn = rs_calloc(1, sizeof(*conn));
    if (conn == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    conn->pg = PQconnectdbParams(keywords, values, 1);
    if (conn->pg == NULL || PQstatus(conn->pg) != CONNECTION_OK) {
        rc = rs_error_set(err, RS_EUNAVAIL, "DATABASE_UNAVAILABLE",
                          "could not connect to the database");
        detail_from_pg(err, conn->pg);
        goto out;
    }
    PQsetNoticeProcessor(conn->pg, notice_to_log, NULL);
    rc = rs_db__jit_off(conn->pg, err);
    if (rc != RS_OK)
        goto out;
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(conn->pg));
    rs_log_debug(NULL, "opened database connection", "backend_pid", pid, NULL);

    *out = conn;
    conn = NULL;
out:
    conn_close(conn);
    return rc;
}

/*
 * A negative timeout_ms waits without limit and 0 does not wait. The
 * timeout covers the wait for a free slot only; opening a connection is
 * bounded by connect_timeout instead.
 */
rs_status
rs_db_acquire(rs_db_pool *pool, int timeout_ms, rs_db_conn **out, struct rs_error *err)
{
    struct timespec deadline = rs_clock_deadline_ms(timeout_ms > 0 ? timeout_ms : 0);
    rs_db_conn *conn = NULL;
    bool open_new = false;
    bool timed_out = false;
    char text[16];
    int wait_rc;
    rs_status rc;

    *out = NULL;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        if (pool->idle != NULL) {
            conn = pool->idle;
            pool->idle = conn->next;
            conn->next = NULL;
            break;
        }
        if (pool->n_conns < pool->max_conns) {
            /* Take the slot now so other threads do not overshoot max_conns. */
            pool->n_conns++;
            open_new = true;
            break;
        }
        if (timed_out || timeout_ms == 0)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&pool->freed, &pool->mu);
        } else {
            wait_rc = pthread_cond_timedwait(&pool->freed, &pool->mu, &deadline);
            /* Look once more after a timeout: a release may have raced it. */
            if (wait_rc == ETIMEDOUT)
                timed_out = true;
        }
    }
    pthread_mutex_unlock(&pool->mu);

    if (conn == NULL && !open_new) {
        snprintf(text, sizeof(text), "%d", pool->max_conns);
        rs_log_debug(NULL, "no free database connection", "max_conns", text, NULL);
        rc = rs_error_set(err, RS_EUNAVAIL, "DATABASE_UNAVAILABLE",
                          "could not get a database connection within %d ms", timeout_ms);
        rs_error_detail(err, "all %d pooled connections are in use", pool->max_conns);
        return rc;
    }
    if (conn != NULL && PQstatus(conn->pg) == CONNECTION_OK) {
        *out = conn;
        return RS_OK;
    }
    if (conn != NULL) {
        /* The slot stays taken: this connection is replaced in place. */
        conn_close(conn);
        conn = NULL;
    }
    rc = conn_open(pool, &conn, err);
    if (rc != RS_OK) {
        pthread_mutex_lock(&pool->mu);
        pool->n_conns--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->mu);
        return rc;
    }
    *out = conn;
    return RS_OK;
}

bool
rs_db__conn_broken(const rs_db_conn *conn)
{
    return PQstatus(conn->pg) != CONNECTION_OK;
}

void
rs_db_release(rs_db_pool *pool, rs_db_conn *conn)
{
    PGTransactionStatusType tx;

    if (conn == NULL)
        return;
    tx = PQtransactionStatus(conn->pg);
    if (rs_db__conn_broken(conn) || tx != PQTRANS_IDLE || conn->discard) {
        /*
         * A connection still inside a transaction would hand its locks and
         * half-done work to the next borrower, so it is closed, not reused.
         */
        if (!rs_db__conn_broken(conn) && tx != PQTRANS_IDLE)
            rs_log_warn(NULL, "closed database connection left inside a transaction", NULL);
        else
            rs_log_debug(NULL, "closed broken database connection", NULL);
        conn_close(conn);
        pthread_mutex_lock(&pool->mu);
        pool->n_conns--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->mu);
        return;
    }
    conn->last_sqlstate[0] = '\0';
    pthread_mutex_lock(&pool->mu);
    conn->next = pool->idle;
    pool->idle = conn;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->mu);
}

PGconn *
rs_db_conn_pg(rs_db_conn *conn)
{
    return conn->pg;
}
