/*
 * libs/db/src/db_int.h
 *    Pool and connection layout and helpers shared by the files of libs/db.
 */
#ifndef RS_DB_INT_H
#define RS_DB_INT_H

#include <pthread.h>
#include <stdbool.h>

#include <libpq-fe.h>

#include "roster/db.h"
#include "roster/status.h"

/*
 * How long rs_db_tx, rs_db_migrate and rs_db_schema_version wait for a free
 * connection, in milliseconds. Their prototypes take no timeout.
 */
#define RS_DB_ACQUIRE_TIMEOUT_MS 5000

/* Seconds libpq waits for a server before giving up, unless conninfo sets it. */
#define RS_DB_CONNECT_TIMEOUT "5"

struct rs_db_conn {
    PGconn *pg;
    struct rs_db_conn *next;      /* link in the pool's idle list */
    char last_sqlstate[6];        /* SQLSTATE of the last failed statement */
    bool discard;                 /* close on release even if it looks healthy */
};

struct rs_db_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;         /* signalled when a connection or a slot frees up */
    char *conninfo;
    int max_conns;
    int n_conns;                  /* open, lent out or being opened */
    struct rs_db_conn *idle;
};

/* One row of the SQLSTATE table in sqlstate.c. */
struct rs_db__sqlstate {
    const char *code;             /* five characters, or a two-character class */
    rs_status status;
    const char *reason;
    const char *text;             /* short class text for err->message */
};

/* Returns the table row for sqlstate (exact code, then class), or NULL. */
const struct rs_db__sqlstate *rs_db__sqlstate_lookup(const char *sqlstate);

/* Returns true for 40001 and 40P01, the failures a transaction retries. */
bool rs_db__sqlstate_retryable(const char *sqlstate);

/*
 * Turns a failed or missing result of statement stmt into an error: status
 * and reason from the SQLSTATE table, or RS_EUNAVAIL when the connection
 * broke. Sets err->sqlstate, err->detail (the server's primary message) and
 * the "constraint" meta, and records the SQLSTATE on conn. Does not clear
 * res. Returns RS_OK for PGRES_COMMAND_OK and PGRES_TUPLES_OK.
 */
rs_status rs_db__result_status(rs_db_conn *conn, const char *stmt, const PGresult *res,
                               struct rs_error *err);

/*
 * Turns JIT off on a new connection (pooled or a listener's) unless its
 * options (conninfo, PGOPTIONS or a service file) name jit. RS_EUNAVAIL
 * (DATABASE_UNAVAILABLE) with libpq's message as detail when the SET fails.
 */
rs_status rs_db__jit_off(PGconn *pg, struct rs_error *err);

/* Returns true when conn can no longer be used and must be closed. */
bool rs_db__conn_broken(const rs_db_conn *conn);

/*
 * Checks that schema is a usable identifier (1 to 63 bytes, which is the
 * longest name PostgreSQL keeps without truncating).
 */
rs_status rs_db__check_schema(const char *schema, struct rs_error *err);

#endif /* RS_DB_INT_H */
