/*
 * libs/db/src/migrate.c
 *    Schema migrations under a session advisory lock, and the schema
 *    version checks behind readiness probes.
 */
#include "roster/db.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "roster/log.h"
#include "db_int.h"

/* Maximum schema name length in bytes that PostgreSQL keeps as given (NAMEDATALEN - 1). */
#define SCHEMA_NAME_MAX 63
/* Room for SQL text around a quoted schema name (at most 2 * 63 + 2 bytes). */
#define SQL_BUF 512

#define LOCK_SQL "SELECT pg_advisory_lock(hashtext('roster.migrate.' || $1))"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(hashtext('roster.migrate.' || $1))"

rs_status
rs_db__check_schema(const char *schema, struct rs_error *err)
{
    size_t len = schema != NULL ? strlen(schema) : 0;

    if (len == 0 || len > SCHEMA_NAME_MAX)
        return rs_error_set(err, RS_EINVAL, NULL,
                            "invalid schema name: needs 1 to %d bytes", SCHEMA_NAME_MAX);
    return RS_OK;
}

static rs_status
migrations_validate(const struct rs_db_migration *migrations, size_t n,
                    struct rs_error *err)
{
    size_t i;

    if (n > 0 && migrations == NULL)
        return rs_error_set(err, RS_EINVAL, NULL, "invalid migrations: list is missing");
    if (n > INT_MAX)
        return rs_error_set(err, RS_EINVAL, NULL, "invalid migrations: too many");
    for (i = 0; i < n; i++) {
        if (migrations[i].version != (int)i + 1)
            return rs_error_set(err, RS_EINVAL, NULL,
                                "invalid migration version %d at position %zu: "
                                "versions must run 1, 2, 3 ... without gaps",
                                migrations[i].version, i + 1);
        if (migrations[i].name == NULL || migrations[i].name[0] == '\0' ||
            migrations[i].sql == NULL)
            return rs_error_set(err, RS_EINVAL, NULL,
                                "invalid migration version %d: missing name or SQL",
                                migrations[i].version);
    }
    return RS_OK;
}

/*
 * Acquires a connection and checks it with a trivial query. The server may
 * have closed an idle pooled connection (after a restart, for example), which
 * shows only on use, so such a connection is closed and replaced once.
 */
static rs_status
acquire_checked(rs_db_pool *pool, rs_db_conn **out, struct rs_error *err)
{
    rs_db_conn *conn = NULL;
    bool broken;
    int attempt;
    rs_status rc = RS_OK;

    *out = NULL;
    for (attempt = 0; attempt < 2; attempt++) {
        rc = rs_db_acquire(pool, RS_DB_ACQUIRE_TIMEOUT_MS, &conn, err);
        if (rc != RS_OK)
            return rc;
        rc = rs_db_query(conn, "ping", "SELECT 1", 0, NULL, NULL, err);
        if (rc == RS_OK) {
            *out = conn;
            return RS_OK;
        }
        broken = rs_db__conn_broken(conn);
        rs_db_release(pool, conn);
        conn = NULL;
        if (!broken)
            return rc;
    }
    return rc;
}

/* Parses the decimal integer that a query returned as text. */
static rs_status
parse_version(const char *text, int *out, struct rs_error *err)
{
    long v = 0;
    const char *p;

    for (p = text; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > INT_MAX)
            break;
    }
    if (p == text || *p != '\0')
        return rs_error_set(err, RS_EINTERNAL, "DATABASE_ERROR",
                            "invalid schema version \"%s\" in the database", text);
    *out = (int)v;
    return RS_OK;
}

/*
 * Quotes schema for use in SQL text. Identifiers cannot be query
 * parameters, so they are quoted by libpq. *out is freed with PQfreemem.
 */
static rs_status
quote_schema(rs_db_conn *conn, const char *schema, char **out, struct rs_error *err)
{
    *out = PQescapeIdentifier(conn->pg, schema, strlen(schema));
    if (*out == NULL)
        return rs_error_set(err, RS_EINVAL, NULL, "invalid schema name \"%s\"", schema);
    return RS_OK;
}

/* Reads max(version) of the quoted schema, or 0 when the table is missing. */
static rs_status
read_version(rs_db_conn *conn, const char *qschema, int *version, struct rs_error *err)
{
    char regclass[SQL_BUF];
    char sql[SQL_BUF];
    const char *params[1];
    PGresult *res = NULL;
    rs_status rc;

    *version = 0;
    snprintf(regclass, sizeof(regclass), "%s.schema_migrations", qschema);
    params[0] = regclass;
    /* to_regclass returns NULL, not an error, for a missing schema or table. */
    rc = rs_db_query(conn, "schema_migrations_exists", "SELECT to_regclass($1) IS NOT NULL",
                     1, params, &res, err);
    if (rc != RS_OK)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
        goto out;
    PQclear(res);
    res = NULL;

    snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s.schema_migrations",
             qschema);
    rc = rs_db_query(conn, "schema_version", sql, 0, NULL, &res, err);
    if (rc != RS_OK)
        goto out;
    rc = parse_version(PQgetvalue(res, 0, 0), version, err);
out:
    PQclear(res);
    return rc;
}

/* Applies one migration in its own transaction on the lock-holding session. */
static rs_status
apply_one(rs_db_conn *conn, const char *schema, const char *qschema,
          const struct rs_db_migration *m, struct rs_error *err)
{
    char sql[SQL_BUF];
    char version_text[16];
    const char *params[2];
    PGresult *res = NULL;
    struct rs_error ignored;
    rs_status rc;

    rc = rs_db_query(conn, "migration_begin", "BEGIN", 0, NULL, NULL, err);
    if (rc != RS_OK)
        goto out;
    /* Unqualified names in a migration land in its schema. */
    snprintf(sql, sizeof(sql), "SET LOCAL search_path TO %s, public", qschema);
    rc = rs_db_query(conn, "migration_search_path", sql, 0, NULL, NULL, err);
    if (rc != RS_OK)
        goto out;

    /*
     * The only statement not sent through PQexecParams: a migration body is
     * fixed SQL from the binary, takes no parameters and may hold several
     * statements, which the extended protocol of PQexecParams rejects.
     */
    res = PQexec(conn->pg, m->sql);
    /* A body of only comments is empty to the server, and applies as a no-op. */
    if (res != NULL && PQresultStatus(res) == PGRES_EMPTY_QUERY)
        rc = RS_OK;
    else
        rc = rs_db__result_status(conn, m->name, res, err);
    if (rc != RS_OK) {
        snprintf(err->message, sizeof(err->message),
                 "could not apply migration \"%s\" to schema \"%s\"", m->name, schema);
        goto out;
    }
    if (PQtransactionStatus(conn->pg) != PQTRANS_INTRANS) {
        rc = rs_error_set(err, RS_EINVAL, NULL,
                          "invalid migration \"%s\": it must not commit or roll back",
                          m->name);
        goto out;
    }

    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.schema_migrations (version, name) VALUES ($1, $2)", qschema);
    snprintf(version_text, sizeof(version_text), "%d", m->version);
    params[0] = version_text;
    params[1] = m->name;
    rc = rs_db_query(conn, "schema_migrations_insert", sql, 2, params, NULL, err);
    if (rc != RS_OK)
        goto out;
    rc = rs_db_query(conn, "migration_commit", "COMMIT", 0, NULL, NULL, err);
out:
    PQclear(res);
    if (rc != RS_OK && !rs_db__conn_broken(conn) &&
        PQtransactionStatus(conn->pg) != PQTRANS_IDLE) {
        rs_error_clear(&ignored);
        /* If ROLLBACK fails too, release closes the connection. */
        if (rs_db_query(conn, "migration_rollback", "ROLLBACK", 0, NULL, NULL, &ignored) !=
            RS_OK)
            conn->discard = true;
    }
    return rc;
}

/* Creates the schema and its table, then applies what is missing. */
static rs_status
migrate_locked(rs_db_conn *conn, const char *schema, const char *qschema,
               const struct rs_db_migration *migrations, int n, int *applied,
               struct rs_error *err)
{
    char sql[SQL_BUF];
    char text_a[16];
    char text_b[16];
    int current = 0;
    int v;
    rs_status rc;

    snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", qschema);
    rc = rs_db_query(conn, "schema_create", sql, 0, NULL, NULL, err);
    if (rc != RS_OK)
        return rc;
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             "version int PRIMARY KEY, "
             "name text NOT NULL, "
             "applied_at timestamptz NOT NULL DEFAULT now())",
             qschema);
    rc = rs_db_query(conn, "schema_migrations_create", sql, 0, NULL, NULL, err);
    if (rc != RS_OK)
        return rc;
    rc = read_version(conn, qschema, &current, err);
    if (rc != RS_OK)
        return rc;

    if (current > n) {
        /* An older binary during a rolling upgrade: the newer schema stays. */
        snprintf(text_a, sizeof(text_a), "%d", current);
        snprintf(text_b, sizeof(text_b), "%d", n);
        rs_log_warn(NULL, "database schema is newer than this binary", "schema", schema,
                    "db_version", text_a, "known_version", text_b, NULL);
        return RS_OK;
    }
    for (v = current + 1; v <= n; v++) {
        rc = apply_one(conn, schema, qschema, &migrations[v - 1], err);
        if (rc != RS_OK)
            return rc;
        (*applied)++;
        snprintf(text_a, sizeof(text_a), "%d", v);
        rs_log_info(NULL, "applied migration", "schema", schema, "version", text_a, "name",
                    migrations[v - 1].name, NULL);
    }
    return RS_OK;
}

rs_status
rs_db_migrate(rs_db_pool *pool, const char *schema, const struct rs_db_migration *migrations,
              size_t n, int *applied, struct rs_error *err)
{
    struct rs_error local;
    struct rs_error unlock_err;
    rs_db_conn *conn = NULL;
    char *qschema = NULL;
    const char *params[1];
    bool locked = false;
    int count = 0;
    rs_status rc;

    params[0] = schema;
    if (applied != NULL)
        *applied = 0;
    /* apply_one rewrites err->message, so there is always an err. */
    if (err == NULL)
        err = &local;
    rc = rs_db__check_schema(schema, err);
    if (rc != RS_OK)
        goto out;
    rc = migrations_validate(migrations, n, err);
    if (rc != RS_OK)
        goto out;

    /*
     * One connection for the whole run: the advisory lock belongs to its
     * session, and every migration must run inside that session.
     */
    rc = acquire_checked(pool, &conn, err);
    if (rc != RS_OK)
        goto out;
    rc = quote_schema(conn, schema, &qschema, err);
    if (rc != RS_OK)
        goto out;
    rc = rs_db_query(conn, "migrate_lock", LOCK_SQL, 1, params, NULL, err);
    if (rc != RS_OK)
        goto out;
    locked = true;

    rc = migrate_locked(conn, schema, qschema, migrations, (int)n, &count, err);
out:
    if (locked && !rs_db__conn_broken(conn)) {
        rs_error_clear(&unlock_err);
        /* A session that might still hold the lock must not go back to the pool. */
        if (rs_db_query(conn, "migrate_unlock", UNLOCK_SQL, 1, params, NULL, &unlock_err) !=
            RS_OK)
            conn->discard = true;
    }
    if (qschema != NULL)
        PQfreemem(qschema);
    rs_db_release(pool, conn);
    if (applied != NULL)
        *applied = count;
    return rc;
}

rs_status
rs_db_schema_version(rs_db_pool *pool, const char *schema, int *version,
                     struct rs_error *err)
{
    rs_db_conn *conn = NULL;
    char *qschema = NULL;
    rs_status rc;

    *version = 0;
    rc = rs_db__check_schema(schema, err);
    if (rc != RS_OK)
        goto out;
    rc = acquire_checked(pool, &conn, err);
    if (rc != RS_OK)
        goto out;
    rc = quote_schema(conn, schema, &qschema, err);
    if (rc != RS_OK)
        goto out;
    rc = read_version(conn, qschema, version, err);
out:
    if (qschema != NULL)
        PQfreemem(qschema);
    rs_db_release(pool, conn);
    return rc;
}

rs_status
rs_db_check_ready(rs_db_pool *pool, const char *schema, int expected, struct rs_error *err)
{
    char text[16];
    int version = 0;
    rs_status rc;

    rc = rs_db_schema_version(pool, schema, &version, err);
    if (rc != RS_OK)
        return rc;
    if (version < expected) {
        rc = rs_error_set(err, RS_EPRECOND, "SCHEMA_BEHIND",
                          "schema \"%s\" is at version %d but version %d is required", schema,
                          version, expected);
        rs_error_meta(err, "schema", schema);
        snprintf(text, sizeof(text), "%d", version);
        rs_error_meta(err, "version", text);
        snprintf(text, sizeof(text), "%d", expected);
        rs_error_meta(err, "expected", text);
        return rc;
    }
    return RS_OK;
}
