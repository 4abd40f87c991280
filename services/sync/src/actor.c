/*
 * services/sync/src/actor.c
 *    Who is calling, transactions, and the small conversions every handler
 *    of the control plane uses.
 */
#include "control.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/actor.h"
#include "roster/str.h"

rs_status
sync_nomem(struct rs_error *err)
{
    return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
}

rs_status
sync_field_invalid(struct rs_error *err, const char *field, const char *fmt, ...)
{
    char text[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    rs_utf8_trim_partial(text);
    rs_error_set(err, RS_EINVAL, "FIELD_INVALID", "invalid %s: %s", field, text);
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
}

rs_status
sync_query(rs_db_conn *conn, struct rs_call *call, const char *stmt, const char *sql,
           int n_params, const char *const *params, PGresult **out, struct rs_error *err)
{
    return rs_db_query_arena(conn, rs_call_arena(call), stmt, sql, n_params, params, out, err);
}

rs_status
sync_tx(struct sync_service *svc, rs_db_tx_fn fn, void *arg, struct rs_error *err)
{
    return rs_db_tx(svc->pool, RS_DB_READ_COMMITTED, 0, fn, arg, err);
}

rs_status
sync_call_tx(struct rs_call *call, rs_db_tx_fn fn, void *arg, struct rs_error *err)
{
    struct sync_service *svc = rs_call_user_data(call);

    if (rs_call_remaining_ms(call) <= 0)
        return rs_error_set(err, RS_ETIMEDOUT, "DEADLINE_EXCEEDED",
                            "deadline exceeded before the database was reached");
    return sync_tx(svc, fn, arg, err);
}

rs_status
sync_authorize(rs_db_conn *conn, struct rs_call *call, const char *org_id, unsigned flags,
               struct sync_actor *out, struct rs_error *err)
{
    const char *actor = rs_call_actor(call);
    const char *params[2];
    PGresult *res = NULL;
    rs_status rc;

    memset(out, 0, sizeof(*out));
    rc = rs_validate_id("organization_id", org_id, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_actor_validate(actor, err);
    if (rc != RS_OK)
        return rc;
    params[0] = org_id;
    params[1] = actor;
    rc = sync_query(conn, call, "sync.actor",
                    "SELECT u.enabled, authz.is_org_admin(o.id, u.id) "
                    "FROM identity.organizations o LEFT JOIN identity.users u "
                    "ON u.id = $2 AND u.organization_id = o.id WHERE o.id = $1",
                    2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_actor_check(org_id, actor, PQntuples(res) > 0,
                        PQntuples(res) > 0 && !PQgetisnull(res, 0, 0),
                        PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0, err);
    if (rc != RS_OK)
        return rc;
    snprintf(out->org_id, sizeof(out->org_id), "%s", org_id);
    snprintf(out->user_id, sizeof(out->user_id), "%s", actor);
    out->org_admin = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if ((flags & SYNC_NEED_ADMIN) && !out->org_admin) {
        rs_error_set(err, RS_EPERM, "NOT_ORGANIZATION_ADMIN",
                     "acting user \"%s\" is not an administrator of organization \"%s\"",
                     actor, org_id);
        rs_error_meta(err, "actor", actor);
        return RS_EPERM;
    }
    return RS_OK;
}

int64_t
sync_col_int64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

char *
sync_col_str(rs_arena *arena, const PGresult *res, int row, int col)
{
    return rs_arena_strdup(arena, PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

Google__Protobuf__Timestamp *
sync_col_time(rs_arena *arena, const PGresult *res, int row, int col)
{
    Google__Protobuf__Timestamp *ts;
    int64_t us;

    if (PQgetisnull(res, row, col))
        return NULL;
    us = sync_col_int64(res, row, col);
    ts = rs_arena_alloc(arena, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    google__protobuf__timestamp__init(ts);
    ts->seconds = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    ts->nanos = (int32_t)((us - ts->seconds * 1000000) * 1000);
    return ts;
}
