/*
 * libs/db/include/roster/db.h
 *    PostgreSQL access over libpq: a thread-safe pool, parameterised
 *    queries, transactions retried on serialization failure and deadlock,
 *    one SQLSTATE table, and schema migrations under an advisory lock.
 */
#ifndef RS_DB_H
#define RS_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "roster/arena.h"
#include "roster/status.h"

typedef struct rs_db_pool rs_db_pool;
typedef struct rs_db_conn rs_db_conn;

/*
 * Creates a pool of up to max_conns connections to conninfo (a libpq
 * keyword string or URI; copied). Connections open lazily; creation checks
 * only that conninfo parses. Returns RS_OK and *out owned by the caller
 * (free with rs_db_pool_destroy).
 * THREAD-SAFETY: every function taking a pool is thread-safe.
 */
RS_MUSTCHECK rs_status rs_db_pool_create(const char *conninfo, int max_conns,
                                         rs_db_pool **out, struct rs_error *err);

/* Closes every connection. REQUIRES: none acquired. NULL is a no-op. */
void rs_db_pool_destroy(rs_db_pool *pool);

/*
 * Takes a connection, opening one if needed, waiting at most timeout_ms for
 * one to come free. RS_EUNAVAIL (reason DATABASE_UNAVAILABLE) when the
 * server cannot be reached or the wait times out. *out is lent until
 * rs_db_release.
 */
RS_MUSTCHECK rs_status rs_db_acquire(rs_db_pool *pool, int timeout_ms, rs_db_conn **out,
                                     struct rs_error *err);

/* Returns conn to the pool; a broken connection is closed. NULL is a no-op. */
void rs_db_release(rs_db_pool *pool, rs_db_conn *conn);

/* The underlying connection, borrowed. */
PGconn *rs_db_conn_pg(rs_db_conn *conn);

/*
 * Runs sql with text parameters $1..$n (NULL entries are SQL NULL).
 * stmt names the statement in logs and errors, never the values. On success
 * *out (when out is non-NULL) is a result owned by the caller, PQclear it, or
 * pass an arena to have it cleared with the arena. Errors map through the
 * SQLSTATE table; err->sqlstate is set and err->detail contains the server text.
 */
RS_MUSTCHECK rs_status rs_db_query(rs_db_conn *conn, const char *stmt, const char *sql,
                                   int n_params, const char *const *params,
                                   PGresult **out, struct rs_error *err);

/* As rs_db_query, but the result is owned by arena (cleared with it). */
RS_MUSTCHECK rs_status rs_db_query_arena(rs_db_conn *conn, rs_arena *arena,
                                         const char *stmt, const char *sql, int n_params,
                                         const char *const *params, PGresult **out,
                                         struct rs_error *err);

/*
 * Runs sql, a COPY ... FROM STDIN in text format, and sends it the len
 * bytes of rows in data (borrowed; build them with rs_buf_copy_field).
 * stmt names the statement in logs and errors. Errors map as for
 * rs_db_query, and the connection is ready for the next statement
 * whatever the outcome.
 */
RS_MUSTCHECK rs_status rs_db_copy_in(rs_db_conn *conn, const char *stmt, const char *sql,
                                     const char *data, size_t len, struct rs_error *err);

/*
 * SQL: text column col equals p, in a form that no index can serve, so a
 * lookup by key within an organisation has only the primary key to probe.
 * Statistics taken before a large import (a Start Sync) rate a new
 * organisation at about one row, and then an index that starts with
 * organization_id looks as cheap as the primary key but reads every row
 * of the organisation. Hiding the value from the planner instead, as
 * (SELECT $1::text) does, keeps that index usable: where most
 * organisations hold about one row each, it still ties with the primary
 * key (services/authz/tests/test_lookup_plans.c builds both cases).
 */
#define RS_DB_EQ_UNINDEXED(col, p) "(" col " || '') = " p

enum rs_db_isolation {
    RS_DB_READ_COMMITTED,
    RS_DB_REPEATABLE_READ,
    RS_DB_SERIALIZABLE,
};

/* The body of a transaction; may run more than once, so it must not keep side effects outside the database. */
typedef rs_status (*rs_db_tx_fn)(rs_db_conn *conn, void *arg, struct rs_error *err);

/*
 * Runs fn inside BEGIN ... COMMIT on a pooled connection. Serialization
 * failures (40001) and deadlocks (40P01), at fn's queries or at COMMIT, roll
 * back and run fn again, at most max_attempts times in all (<= 0 means 5),
 * with jittered backoff. Any other failure rolls back and is returned.
 */
RS_MUSTCHECK rs_status rs_db_tx(rs_db_pool *pool, enum rs_db_isolation isolation,
                                int max_attempts, rs_db_tx_fn fn, void *arg,
                                struct rs_error *err);

/*
 * Maps a five-character SQLSTATE to a status and a reason (static string,
 * e.g. "23505" -> RS_EEXIST, "ALREADY_EXISTS"). Unknown codes -> RS_EINTERNAL.
 */
rs_status rs_db_status_from_sqlstate(const char *sqlstate, const char **reason);

struct rs_db_migration {
    int version;          /* 1, 2, 3 ... with no gaps */
    const char *name;     /* "0001_init" */
    const char *sql;      /* may contain several statements */
};

/*
 * Creates schema if needed and applies the migrations newer than the
 * recorded version, each in its own transaction, recording them in
 * <schema>.schema_migrations. Serialised across processes by a
 * PostgreSQL advisory lock keyed by the schema name, so concurrent runs
 * all succeed and each migration applies once. *applied (may be NULL)
 * receives how many this call applied.
 */
RS_MUSTCHECK rs_status rs_db_migrate(rs_db_pool *pool, const char *schema,
                                     const struct rs_db_migration *migrations, size_t n,
                                     int *applied, struct rs_error *err);

/*
 * Reads the applied version of schema (0 when nothing is applied).
 * RS_EUNAVAIL when the database cannot be reached.
 */
RS_MUSTCHECK rs_status rs_db_schema_version(rs_db_pool *pool, const char *schema,
                                            int *version, struct rs_error *err);

/*
 * Health probe: RS_OK when the database responds and schema is at least
 * expected; RS_EUNAVAIL (DATABASE_UNAVAILABLE) or RS_EPRECOND
 * (SCHEMA_BEHIND) otherwise.
 */
RS_MUSTCHECK rs_status rs_db_check_ready(rs_db_pool *pool, const char *schema,
                                         int expected, struct rs_error *err);

typedef struct rs_db_listener rs_db_listener;

/* Called on the listener's thread; they must not block for long. */
struct rs_db_listen_hooks {
    /* One notification; payload is borrowed for the call. */
    void (*notify)(void *arg, const char *payload);
    /*
     * true after each successful LISTEN, false when that connection is
     * lost. Notifications sent in between are lost, so whatever arg
     * derived from earlier ones must count as stale after a false.
     */
    void (*listening)(void *arg, bool on);
    void *arg; /* borrowed; must outlive the listener */
};

/*
 * Starts a thread that LISTENs on channel (a lower-case SQL identifier)
 * over its own connection to conninfo, with application_name app_name,
 * reconnecting with backoff until rs_db_listen_stop. hooks is copied.
 * Returns RS_OK and *out owned by the caller.
 */
RS_MUSTCHECK rs_status rs_db_listen_start(const char *conninfo, const char *channel,
                                          const char *app_name,
                                          const struct rs_db_listen_hooks *hooks,
                                          rs_db_listener **out, struct rs_error *err);

/*
 * Stops the thread and frees l. A connection attempt in progress finishes
 * first, so this can take up to its 5 s timeout. NULL is a no-op.
 */
void rs_db_listen_stop(rs_db_listener *l);

#endif /* RS_DB_H */
