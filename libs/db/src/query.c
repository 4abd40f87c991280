/*
 * libs/db/src/query.c
 *    Parameterised statements, COPY of rows into a table, and the mapping
 *    of failed results to errors.
 */
#include "roster/db.h"

#include <stdio.h>
#include <string.h>

#include "roster/log.h"
#include "db_int.h"

/* Copies s into err->detail without trailing newlines. */
static void
detail_trimmed(struct rs_error *err, const char *s)
{
    size_t len = strlen(s);

    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
        len--;
    rs_error_detail(err, "%.*s", (int)len, s);
}

rs_status
rs_db__result_status(rs_db_conn *conn, const char *stmt, const PGresult *res,
                     struct rs_error *err)
{
    const struct rs_db__sqlstate *row;
    const char *sqlstate = NULL;
    const char *primary = NULL;
    const char *constraint = NULL;
    ExecStatusType st;
    rs_status rc;

    st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return RS_OK;

    if (res != NULL) {
        sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    }
    if (primary == NULL)
        primary = PQerrorMessage(conn->pg);

    /*
     * libpq reports a lost connection itself, often without a SQLSTATE. A
     * server that ends the session sends 57P01 first. In both cases the pool
     * must drop the connection, and the caller may try again.
     */
    if (rs_db__conn_broken(conn)) {
        rc = rs_error_set(err, RS_EUNAVAIL, "DATABASE_UNAVAILABLE",
                          "could not run statement \"%s\": connection to the database lost",
                          stmt);
    } else if (st != PGRES_FATAL_ERROR && st != PGRES_NONFATAL_ERROR) {
        rc = rs_error_set(err, RS_EINTERNAL, "DATABASE_ERROR",
                          "could not run statement \"%s\": unexpected result status %s", stmt,
                          PQresStatus(st));
    } else if (res == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "could not run statement \"%s\": out of memory",
                          stmt);
    } else {
        row = rs_db__sqlstate_lookup(sqlstate);
        if (row == NULL) {
            rc = rs_error_set(err, RS_EINTERNAL, "DATABASE_ERROR",
                              "could not run statement \"%s\": database error", stmt);
        } else if (constraint != NULL) {
            rc = rs_error_set(err, row->status, row->reason,
                              "could not run statement \"%s\": %s on constraint \"%s\"", stmt,
                              row->text, constraint);
        } else {
            rc = rs_error_set(err, row->status, row->reason,
                              "could not run statement \"%s\": %s", stmt, row->text);
        }
    }

    if (sqlstate != NULL) {
        snprintf(conn->last_sqlstate, sizeof(conn->last_sqlstate), "%s", sqlstate);
        if (err != NULL)
            snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
    }
    /*
     * Only the primary message: the server's DETAIL line quotes key values
     * (e-mail addresses and the like), which must stay out of logs.
     */
    detail_trimmed(err, primary);
    if (constraint != NULL)
        rs_error_meta(err, "constraint", constraint);
    rs_log_debug(NULL, "query failed", "stmt", stmt, "sqlstate",
                 sqlstate != NULL ? sqlstate : "", "status", rs_status_name(rc), NULL);
    return rc;
}

rs_status
rs_db_query(rs_db_conn *conn, const char *stmt, const char *sql, int n_params,
            const char *const *params, PGresult **out, struct rs_error *err)
{
    PGresult *res;
    rs_status rc;

    if (out != NULL)
        *out = NULL;
    /* Text parameters and a text result: libpq infers the types from sql. */
    res = PQexecParams(conn->pg, sql, n_params, NULL, params, NULL, NULL, 0);
    rc = rs_db__result_status(conn, stmt, res, err);
    if (rc != RS_OK || out == NULL) {
        PQclear(res);
        return rc;
    }
    *out = res;
    return RS_OK;
}

static void
result_clear(void *res)
{
    PQclear(res);
}

rs_status
rs_db_query_arena(rs_db_conn *conn, rs_arena *arena, const char *stmt, const char *sql,
                  int n_params, const char *const *params, PGresult **out,
                  struct rs_error *err)
{
    PGresult *res = NULL;
    rs_status rc;

    if (out != NULL)
        *out = NULL;
    rc = rs_db_query(conn, stmt, sql, n_params, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (out == NULL) {
        PQclear(res);
        return RS_OK;
    }
    /* On failure rs_arena_defer has already cleared res. */
    rc = rs_arena_defer(arena, result_clear, res);
    if (rc != RS_OK)
        return rs_error_set(err, rc, NULL, "could not run statement \"%s\": out of memory",
                            stmt);
    *out = res;
    return RS_OK;
}

/* Rows go to libpq in pieces, so one COPY never needs a second copy of all its data. */
#define COPY_PIECE (256 * 1024)

rs_status
rs_db_copy_in(rs_db_conn *conn, const char *stmt, const char *sql, const char *data, size_t len,
              struct rs_error *err)
{
    PGresult *res;
    size_t off = 0;
    bool sent = true;
    bool first = true;
    rs_status rc = RS_OK;

    res = PQexec(conn->pg, sql);
    if (res != NULL && PQresultStatus(res) != PGRES_COPY_IN) {
        rc = rs_db__result_status(conn, stmt, res, err);
        if (rc == RS_OK)
            rc = rs_error_set(err, RS_EINTERNAL, "DATABASE_ERROR",
                              "could not run statement \"%s\": it is not a COPY FROM STDIN",
                              stmt);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    while (sent && off < len) {
        size_t n = len - off < COPY_PIECE ? len - off : COPY_PIECE;

        sent = PQputCopyData(conn->pg, data + off, (int)n) == 1;
        off += n;
    }
    /* A failed send ends the COPY with an error, so the server discards every row. */
    PQputCopyEnd(conn->pg, sent ? NULL : "roster could not send all rows");
    /* Every result is read, so that the connection is idle again. */
    while ((res = PQgetResult(conn->pg)) != NULL) {
        if (first) {
            rc = rs_db__result_status(conn, stmt, res, err);
            first = false;
        }
        PQclear(res);
    }
    if (first)
        rc = rs_db__result_status(conn, stmt, NULL, err);
    return rc;
}
