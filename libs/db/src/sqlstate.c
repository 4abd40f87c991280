/*
 * libs/db/src/sqlstate.c
 *    The one table from PostgreSQL SQLSTATE codes to rs_status and reason.
 *
 * Lookup tries the exact five-character code first, then its two-character
 * class; anything else is RS_EINTERNAL with reason DATABASE_ERROR. Choices
 * that are not obvious:
 *  - 23503 (foreign key) is RS_EPRECOND: the row it refers to must exist
 *    first, which the client can fix and retry.
 *  - 40001 and 40P01 are RS_EABORTED; rs_db_tx retries them itself, so a
 *    caller sees them only when every attempt failed.
 *  - 42P01, 42703, 42883 and 3F000 (missing table, column, function or
 *    schema) are RS_EPRECOND SCHEMA_BEHIND: the code expects a newer schema
 *    than the database has, so the migrations have not run yet.
 *  - 25006 (read-only transaction) is RS_EUNAVAIL: the server is a standby,
 *    as after a failover, and another attempt may reach the new primary.
 *  - 42501 (insufficient privilege) is RS_EINTERNAL: it is a deployment
 *    error, not something the client is denied.
 *  - Other 42xxx codes (syntax errors and the like) are bugs: RS_EINTERNAL.
 * Codes are listed in PostgreSQL's errcodes appendix ("PostgreSQL Error
 * Codes", PostgreSQL 15 documentation).
 */
#include "roster/db.h"

#include <string.h>

#include "db_int.h"

#define UNAVAILABLE "DATABASE_UNAVAILABLE"

static const struct rs_db__sqlstate sqlstate_table[] = {
    /* Class 08: connection exception. */
    {"08", RS_EUNAVAIL, UNAVAILABLE, "connection failure"},
    /* Class 22: data exception. */
    {"22001", RS_EINVAL, "VALUE_TOO_LONG", "value too long"},
    {"22003", RS_EINVAL, "VALUE_OUT_OF_RANGE", "numeric value out of range"},
    {"22007", RS_EINVAL, "INVALID_VALUE", "invalid date or time format"},
    {"22008", RS_EINVAL, "VALUE_OUT_OF_RANGE", "date or time out of range"},
    {"22021", RS_EINVAL, "INVALID_ENCODING", "character not in database encoding"},
    {"22P02", RS_EINVAL, "INVALID_VALUE", "invalid text representation"},
    {"22", RS_EINVAL, "INVALID_VALUE", "invalid data"},
    /* Class 23: integrity constraint violation. */
    {"23001", RS_EPRECOND, "RESTRICT_VIOLATION", "restrict violation"},
    {"23502", RS_EINVAL, "NOT_NULL_VIOLATION", "not-null violation"},
    {"23503", RS_EPRECOND, "FOREIGN_KEY_VIOLATION", "foreign key violation"},
    {"23505", RS_EEXIST, "ALREADY_EXISTS", "unique violation"},
    {"23514", RS_EINVAL, "CHECK_VIOLATION", "check violation"},
    {"23P01", RS_EEXIST, "EXCLUSION_VIOLATION", "exclusion violation"},
    {"23", RS_EINVAL, "CONSTRAINT_VIOLATION", "integrity constraint violation"},
    /* Class 25: invalid transaction state. */
    {"25006", RS_EUNAVAIL, "DATABASE_READ_ONLY", "read-only transaction"},
    /* Class 3F: invalid schema name. */
    {"3F000", RS_EPRECOND, "SCHEMA_BEHIND", "schema does not exist"},
    /* Class 40: transaction rollback. */
    {"40001", RS_EABORTED, "SERIALIZATION_FAILURE", "serialization failure"},
    {"40P01", RS_EABORTED, "DEADLOCK_DETECTED", "deadlock detected"},
    {"40", RS_EABORTED, "TRANSACTION_ROLLBACK", "transaction rolled back"},
    /* Class 42: syntax error or access rule violation. */
    {"42501", RS_EINTERNAL, "DATABASE_PERMISSION_DENIED", "insufficient privilege"},
    {"42703", RS_EPRECOND, "SCHEMA_BEHIND", "column does not exist"},
    {"42883", RS_EPRECOND, "SCHEMA_BEHIND", "function does not exist"},
    {"42P01", RS_EPRECOND, "SCHEMA_BEHIND", "table does not exist"},
    /* Class 53: insufficient resources. */
    {"53", RS_ERESOURCE, "DATABASE_RESOURCES_EXHAUSTED", "insufficient resources"},
    /* Class 55: object not in prerequisite state. */
    {"55P03", RS_EABORTED, "LOCK_NOT_AVAILABLE", "lock not available"},
    /* Class 57: operator intervention. */
    {"57014", RS_ETIMEDOUT, "QUERY_CANCELED", "statement canceled"},
    {"57P01", RS_EUNAVAIL, UNAVAILABLE, "server shutting down"},
    {"57P02", RS_EUNAVAIL, UNAVAILABLE, "server crashed"},
    {"57P03", RS_EUNAVAIL, UNAVAILABLE, "server not accepting connections"},
    {"57", RS_EUNAVAIL, UNAVAILABLE, "operator intervention"},
};

static bool
sqlstate_wellformed(const char *sqlstate)
{
    size_t i;

    if (sqlstate == NULL)
        return false;
    for (i = 0; i < 5; i++) {
        char c = sqlstate[i];

        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    return sqlstate[5] == '\0';
}

const struct rs_db__sqlstate *
rs_db__sqlstate_lookup(const char *sqlstate)
{
    size_t i;
    size_t n = sizeof(sqlstate_table) / sizeof(sqlstate_table[0]);

    if (!sqlstate_wellformed(sqlstate))
        return NULL;
    for (i = 0; i < n; i++) {
        if (strcmp(sqlstate_table[i].code, sqlstate) == 0)
            return &sqlstate_table[i];
    }
    for (i = 0; i < n; i++) {
        if (strlen(sqlstate_table[i].code) == 2 &&
            strncmp(sqlstate_table[i].code, sqlstate, 2) == 0)
            return &sqlstate_table[i];
    }
    return NULL;
}

bool
rs_db__sqlstate_retryable(const char *sqlstate)
{
    return sqlstate != NULL &&
           (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0);
}

rs_status
rs_db_status_from_sqlstate(const char *sqlstate, const char **reason)
{
    const struct rs_db__sqlstate *row = rs_db__sqlstate_lookup(sqlstate);

    if (row == NULL) {
        if (reason != NULL)
            *reason = "DATABASE_ERROR";
        return RS_EINTERNAL;
    }
    if (reason != NULL)
        *reason = row->reason;
    return row->status;
}
