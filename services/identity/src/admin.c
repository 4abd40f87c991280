/*
 * services/identity/src/admin.c
 *    Decides whether an actor is an organisation administrator, in one place.
 *
 * Organisation roles belong to the authz service, so identity calls authz's
 * SQL function authz.is_org_admin (the owner, or a user with role
 * 111111111) in the caller's own transaction. A role revoked in authz
 * therefore counts from the next identity call on, with no cache to expire.
 */
#include "identity_int.h"

#include <string.h>

rs_status
identity_actor_is_org_admin(rs_db_conn *conn, const struct identity_actor *actor,
                            struct rs_error *err)
{
    const char *params[2] = { actor->org_id, actor->user_id };
    PGresult *res = NULL;
    bool admin;
    rs_status rc;

    rc = rs_db_query(conn, "identity.is_org_admin", "SELECT authz.is_org_admin($1, $2)", 2,
                     params, &res, err);
    if (rc != RS_OK)
        return rc;
    admin = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (admin)
        return RS_OK;
    rs_error_set(err, RS_EPERM, "NOT_ORGANIZATION_ADMIN",
                 "acting user \"%s\" is not an administrator of organization \"%s\"",
                 actor->user_id, actor->org_id);
    rs_error_meta(err, "actor", actor->user_id);
    return RS_EPERM;
}
