/*
 * services/authz/src/actor.c
 *    Who is calling, the service context, and the small database helpers
 *    every handler uses: transactions, identity lookups, the revision bump.
 */
#include "authz_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookups.h"
#include "revision.h"
#include "roster/actor.h"
#include "roster/str.h"

rs_status
authz_service_init(rs_db_pool *pool, const char *conninfo, void **out, struct rs_error *err)
{
    struct authz_service *svc = calloc(1, sizeof(*svc));

    if (svc == NULL)
        return authz_nomem(err);
    svc->pool = pool;
    if (authz_engine_create(pool, conninfo, &svc->engine, err) != RS_OK) {
        free(svc);
        return err->code;
    }
    *out = svc;
    return RS_OK;
}

void
authz_service_cleanup(void *arg)
{
    struct authz_service *svc = arg;

    if (svc == NULL)
        return;
    authz_engine_destroy(svc->engine);
    free(svc);
}

rs_status
authz_tx(struct rs_call *call, rs_db_tx_fn fn, void *arg, struct rs_error *err)
{
    const struct authz_service *svc = rs_call_user_data(call);

    if (rs_call_remaining_ms(call) <= 0)
        return rs_error_set(err, RS_ETIMEDOUT, "DEADLINE_EXCEEDED",
                            "deadline exceeded before the database was reached");
    return rs_db_tx(svc->pool, RS_DB_READ_COMMITTED, 0, fn, arg, err);
}

struct read_op {
    struct rs_call *call;
    const char *org_id;
    const char *stmt;
    const char *sql;
    int n_params;
    const char *const *params;
    PGresult *res;
};

static rs_status
read_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct read_op *o = arg;
    struct authz_actor actor;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc != RS_OK)
        return rc;
    return authz_query(conn, o->call, o->stmt, o->sql, o->n_params, o->params, &o->res, err);
}

rs_status
authz_read(struct rs_call *call, const char *org_id, const char *stmt, const char *sql,
           int n_params, const char *const *params, PGresult **out, struct rs_error *err)
{
    struct read_op o = { call, org_id, stmt, sql, n_params, params, NULL };
    rs_status rc;

    rc = authz_tx(call, read_body, &o, err);
    *out = o.res;
    return rc;
}

rs_status
authz_nomem(struct rs_error *err)
{
    return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
}

rs_status
authz_query(rs_db_conn *conn, struct rs_call *call, const char *stmt, const char *sql,
            int n_params, const char *const *params, PGresult **out, struct rs_error *err)
{
    return rs_db_query_arena(conn, rs_call_arena(call), stmt, sql, n_params, params, out, err);
}

rs_status
authz_validate_min_revision(const char *token, struct rs_error *err)
{
    int64_t rev;

    /* Reads go to the database, which is always at least as fresh as any token. */
    return authz_revision_parse(token, &rev, err);
}

rs_status
authz_authorize(rs_db_conn *conn, struct rs_call *call, const char *org_id, unsigned flags,
                struct authz_actor *out, struct rs_error *err)
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
    rc = authz_query(conn, call, "authz.actor", AUTHZ_SQL_ACTOR, 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_actor_check(org_id, actor, PQntuples(res) > 0,
                        PQntuples(res) > 0 && !PQgetisnull(res, 0, 1),
                        PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 1), "t") == 0, err);
    if (rc != RS_OK)
        return rc;
    snprintf(out->org_id, sizeof(out->org_id), "%s", org_id);
    snprintf(out->user_id, sizeof(out->user_id), "%s", actor);
    snprintf(out->owner_id, sizeof(out->owner_id), "%s", PQgetvalue(res, 0, 0));
    out->user_type = atoi(PQgetvalue(res, 0, 2));
    out->org_admin = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    out->permission_admin = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
    if ((flags & AUTHZ_NEED_ADMIN) && !out->org_admin) {
        rs_error_set(err, RS_EPERM, "NOT_ORGANIZATION_ADMIN",
                     "acting user \"%s\" is not an administrator of organization \"%s\"",
                     actor, org_id);
        rs_error_meta(err, "actor", actor);
        return RS_EPERM;
    }
    return RS_OK;
}

rs_status
authz_bump(rs_db_conn *conn, struct rs_call *call, const char *org_id, char **token,
           struct rs_error *err)
{
    const char *params[1] = { org_id };
    PGresult *res = NULL;
    char buf[64];
    rs_status rc;

    rc = authz_query(conn, call, "authz.bump", "SELECT authz.bump_revision($1)", 1, params,
                     &res, err);
    if (rc != RS_OK)
        return rc;
    authz_revision_format(authz_col_int64(res, 0, 0), buf);
    *token = rs_arena_strdup(rs_call_arena(call), buf);
    return *token == NULL ? authz_nomem(err) : RS_OK;
}

rs_status
authz_user_type(rs_db_conn *conn, struct rs_call *call, const char *org_id,
                const char *user_id, int *type, bool *enabled, struct rs_error *err)
{
    const char *params[2] = { user_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = authz_query(conn, call, "authz.user_type", AUTHZ_SQL_USER_TYPE, 2, params, &res,
                     err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "USER_NOT_FOUND",
                     "user \"%s\" not found in organization \"%s\"", user_id, org_id);
        rs_error_meta(err, "user_id", user_id);
        return RS_ENOTFOUND;
    }
    *type = atoi(PQgetvalue(res, 0, 0));
    if (enabled != NULL)
        *enabled = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    return RS_OK;
}

rs_status
authz_group_exists(rs_db_conn *conn, struct rs_call *call, const char *org_id,
                   const char *group_id, struct rs_error *err)
{
    const char *params[2] = { group_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = authz_query(conn, call, "authz.group_exists", AUTHZ_SQL_GROUP_EXISTS, 2, params,
                     &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "GROUP_NOT_FOUND",
                     "user group \"%s\" not found in organization \"%s\"", group_id, org_id);
        rs_error_meta(err, "group_id", group_id);
        return RS_ENOTFOUND;
    }
    return RS_OK;
}

bool
authz_sqlstate_is(const struct rs_error *err, const char *sqlstate)
{
    return strcmp(err->sqlstate, sqlstate) == 0;
}

rs_status
authz_validate_name(const char *field, const char *value, size_t max_len, const char *reason,
                    struct rs_error *err)
{
    size_t len = strlen(value);
    size_t i;

    for (i = 0; i < len && value[i] == ' '; i++)
        ;
    if (len == 0 || i == len) {
        rs_error_set(err, RS_EINVAL, reason, "invalid %s: must not be empty", field);
    } else if (rs_utf8_has_control(value, len)) {
        rs_error_set(err, RS_EINVAL, reason, "invalid %s: control characters are not allowed",
                     field);
    } else if (rs_utf8_length(value, len) > max_len) {
        rs_error_set(err, RS_EINVAL, reason, "invalid %s: longer than %zu characters", field,
                     max_len);
    } else {
        return RS_OK;
    }
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
}
