/*
 * services/identity/src/authz_rules.c
 *    The rules identity takes from authz when a user changes type or is
 *    deleted: organisation roles, workspace memberships, workspace
 *    ownership and grants that the user's type caps.
 *
 * authz owns these rows and the SQL functions that judge them
 * (authz.type_change_conflicts, authz.demote_for_type_change). identity
 * calls them in its own transaction after locking the user row, so the
 * type change and the authz rows it depends on commit or fail together.
 * authz reads a user's type FOR SHARE before it assigns a capped role, so
 * a concurrent assignment waits for the type change and sees the new type.
 */
#include "identity_int.h"

#include <stdio.h>
#include <string.h>

#include "lookups.h"

/* How many conflicts the TYPE_CHANGE_CONFLICT message names. */
#define CONFLICTS_NAMED 3

/* Rejects with WORKSPACE_OWNER_TYPE_CONFLICT, or TYPE_CHANGE_CONFLICT naming the first rows. */
static rs_status
refuse_conflicts(const PGresult *res, const char *user_id, bool demote, struct rs_error *err)
{
    char names[200];
    char count[16];
    size_t used = 0;
    int n = PQntuples(res);
    int named = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (strcmp(PQgetvalue(res, i, 0), "WORKSPACE_OWNER") != 0)
            continue;
        rs_error_set(err, RS_EPRECOND, "WORKSPACE_OWNER_TYPE_CONFLICT",
                     "user \"%s\" is the %s: transfer the workspace before changing the "
                     "user type",
                     user_id, PQgetvalue(res, i, 2));
        rs_error_meta(err, "user_id", user_id);
        rs_error_meta(err, "workspace_id", PQgetvalue(res, i, 1));
        return RS_EPRECOND;
    }
    if (demote)
        return RS_OK;
    names[0] = '\0';
    for (i = 0; i < n && named < CONFLICTS_NAMED; i++, named++) {
        int w = snprintf(names + used, sizeof(names) - used, "%s%s", i > 0 ? ", " : "",
                         PQgetvalue(res, i, 2));

        if (w < 0 || (size_t)w >= sizeof(names) - used) {
            used = sizeof(names) - 1;
            break;
        }
        used += (size_t)w;
    }
    snprintf(count, sizeof(count), "%d", n);
    rs_error_set(err, RS_EPRECOND, "TYPE_CHANGE_CONFLICT",
                 "the new user type conflicts with %d authorization%s of user \"%s\": %s%s; "
                 "set demote_conflicts to remove them",
                 n, n == 1 ? "" : "s", user_id, names, n > named ? ", ..." : "");
    rs_error_meta(err, "user_id", user_id);
    rs_error_meta(err, "conflicts", count);
    rs_error_meta(err, "first_kind", PQgetvalue(res, 0, 0));
    rs_error_meta(err, "first_id", PQgetvalue(res, 0, 1));
    return RS_EPRECOND;
}

rs_status
identity_authz_type_change(rs_db_conn *conn, rs_arena *arena, const char *org_id,
                           const char *user_id, int new_type, bool demote,
                           struct rs_error *err)
{
    const char *params[3];
    PGresult *res = NULL;
    rs_status rc;

    params[0] = org_id;
    params[1] = user_id;
    params[2] = identity_int_param(arena, new_type);
    if (params[2] == NULL)
        return identity_nomem(err);
    rc = rs_db_query_arena(conn, arena, "identity.type_change_conflicts",
                           "SELECT kind, id, detail "
                           "FROM authz.type_change_conflicts($1, $2, $3::smallint) "
                           "ORDER BY kind = 'WORKSPACE_OWNER' DESC, kind, id",
                           3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return RS_OK;
    rc = refuse_conflicts(res, user_id, demote, err);
    if (rc != RS_OK)
        return rc;
    return rs_db_query_arena(conn, arena, "identity.demote_for_type_change",
                             "SELECT authz.demote_for_type_change($1, $2, $3::smallint)", 3,
                             params, NULL, err);
}

rs_status
identity_authz_check_deletable(rs_db_conn *conn, rs_arena *arena, const char *org_id,
                               const char *user_id, struct rs_error *err)
{
    const char *params[2] = { org_id, user_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_db_query_arena(conn, arena, "identity.owned_workspace",
                           IDENTITY_SQL_OWNED_WORKSPACE, 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return RS_OK;
    rs_error_set(err, RS_EPRECOND, "CANNOT_DELETE_WORKSPACE_OWNER",
                 "user \"%s\" owns workspace \"%s\": transfer the workspace before deleting "
                 "the user",
                 user_id, PQgetvalue(res, 0, 1));
    rs_error_meta(err, "user_id", user_id);
    rs_error_meta(err, "workspace_id", PQgetvalue(res, 0, 0));
    return RS_EPRECOND;
}
