/*
 * services/authz/src/resources.c
 *    Works known to authz: their workspace and owner. Registered by
 *    organisation administrators, the workspace's administrators, or
 *    members whose roles allow edit on the work's module.
 */
#include "authz_int.h"

#include <stdio.h>
#include <string.h>

#include "roster/str.h"

rs_status
authz_validate_resource(const Roster__Authz__V1__Resource *r, bool need_workspace,
                        struct rs_error *err)
{
    size_t len;

    if (r == NULL) {
        rs_error_set(err, RS_EINVAL, "RESOURCE_REQUIRED", "missing required resource");
        rs_error_meta(err, "field", "resource");
        return RS_EINVAL;
    }
    if (!authz_resource_type_valid(r->type)) {
        rs_error_set(err, RS_EINVAL, "RESOURCE_TYPE_INVALID",
                     "invalid resource type \"%s\": expected dashboard, report, "
                     "dashboardOfflineQuery, cube, datasource, screen, ANALYSIS or dataForm",
                     r->type);
        rs_error_meta(err, "field", "resource.type");
        return RS_EINVAL;
    }
    len = strlen(r->id);
    if (len == 0 || rs_utf8_length(r->id, len) > AUTHZ_RESOURCE_ID_MAX ||
        rs_utf8_has_control(r->id, len)) {
        rs_error_set(err, RS_EINVAL, "RESOURCE_ID_INVALID",
                     "invalid resource id: expected 1 to 128 characters without control "
                     "characters");
        rs_error_meta(err, "field", "resource.id");
        return RS_EINVAL;
    }
    if (need_workspace || r->workspace_id[0] != '\0')
        return rs_validate_id("resource.workspace_id", r->workspace_id, err);
    return RS_OK;
}

/*
 * Sets *out when the actor administers workspace_id or holds, directly or
 * through a group, a workspace role with edit on the module of type.
 */
static rs_status
may_manage(rs_db_conn *conn, struct rs_call *call, const struct authz_actor *actor,
           const char *workspace_id, const char *type, bool *out, struct rs_error *err)
{
    const char *params[2] = { actor->user_id, workspace_id };
    struct authz_ws_perms perms;
    PGresult *res = NULL;
    enum authz_module module;
    int64_t ids[64];
    size_t n = 0;
    int i;
    rs_status rc;

    rc = authz_is_workspace_admin(conn, call, actor, workspace_id, out, err);
    if (rc != RS_OK || *out)
        return rc;
    rc = authz_query(conn, call, "authz.actor_ws_roles",
                     AUTHZ_USER_GROUPS_CTE
                     "SELECT DISTINCT unnest(m.role_ids) FROM authz.workspace_members m "
                     "WHERE m.workspace_id = $2 AND ((m.principal_type = 1 "
                     "AND m.principal_id = $1) OR (m.principal_type = 2 "
                     "AND m.principal_id IN (SELECT ug.id FROM ug JOIN identity.user_groups g "
                     "ON g.id = ug.id)))",
                     2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < PQntuples(res) && n < sizeof(ids) / sizeof(ids[0]); i++)
        ids[n++] = authz_col_int64(res, i, 0);
    rc = authz_ws_roles_resolve(conn, call, actor->org_id, ids, n, &perms, err);
    if (rc != RS_OK)
        return rc;
    module = (enum authz_module)authz_resource_module(type);
    /* Roles reached through a group are capped by the actor's type, as in Check. */
    if (actor->user_type == AUTHZ_USER_VISITOR)
        return RS_OK;
    if (actor->user_type == AUTHZ_USER_ANALYST &&
        !authz_ws_role_allows(&authz_ws_preset_find(27)->perms, module, AUTHZ_ACT_EDIT))
        return RS_OK;
    *out = authz_ws_role_allows(&perms, module, AUTHZ_ACT_EDIT);
    return RS_OK;
}

struct resource_op {
    struct rs_call *call;
    const char *org_id;
    const Roster__Authz__V1__Resource *res_msg;
    const char *owner_id;
    char *token;
};

static rs_status
not_allowed(const struct authz_actor *actor, const char *ws_id, struct rs_error *err)
{
    rs_error_set(err, RS_EPERM, "NOT_ALLOWED_TO_REGISTER",
                 "acting user \"%s\" may not manage works of workspace \"%s\": needs "
                 "workspace administration or edit on the module",
                 actor->user_id, ws_id);
    rs_error_meta(err, "workspace_id", ws_id);
    return RS_EPERM;
}

/*
 * Registering a work again may change its owner only when the actor is its
 * current owner or administers the workspace. Otherwise anyone with edit on
 * the module could take the work over and grant on it.
 */
static rs_status
check_owner_change(rs_db_conn *conn, const struct resource_op *o,
                   const struct authz_actor *actor, struct rs_error *err)
{
    const Roster__Authz__V1__Resource *r = o->res_msg;
    const char *params[3] = { o->org_id, r->type, r->id };
    PGresult *res = NULL;
    const char *current;
    bool admin = false;
    rs_status rc;

    rc = authz_query(conn, o->call, "authz.resource_owner",
                     "SELECT coalesce(owner_user_id, '') FROM authz.resources "
                     "WHERE organization_id = $1 AND resource_type = $2 AND resource_id = $3 "
                     "FOR UPDATE",
                     3, params, &res, err);
    if (rc != RS_OK || PQntuples(res) == 0)
        return rc;
    current = PQgetvalue(res, 0, 0);
    if (strcmp(current, o->owner_id) == 0 || strcmp(current, actor->user_id) == 0)
        return RS_OK;
    rc = authz_is_workspace_admin(conn, o->call, actor, r->workspace_id, &admin, err);
    if (rc != RS_OK || admin)
        return rc;
    rs_error_set(err, RS_EPERM, "NOT_ALLOWED_TO_CHANGE_OWNER",
                 "acting user \"%s\" may not change the owner of %s \"%s\": needs its owner "
                 "or a workspace administrator", actor->user_id, r->type, r->id);
    rs_error_meta(err, "workspace_id", r->workspace_id);
    return RS_EPERM;
}

static rs_status
register_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct resource_op *o = arg;
    const Roster__Authz__V1__Resource *r = o->res_msg;
    struct authz_actor actor;
    const char *params[5] = { o->org_id, r->type, r->id, r->workspace_id,
                              o->owner_id[0] != '\0' ? o->owner_id : NULL };
    PGresult *res = NULL;
    bool ok = false;
    bool enabled = false;
    int type = 0;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = authz_workspace_lock(conn, o->call, o->org_id, r->workspace_id, false, NULL, err);
    if (rc == RS_OK)
        rc = may_manage(conn, o->call, &actor, r->workspace_id, r->type, &ok, err);
    if (rc != RS_OK)
        return rc;
    if (!ok)
        return not_allowed(&actor, r->workspace_id, err);
    if (o->owner_id[0] != '\0') {
        rc = authz_user_type(conn, o->call, o->org_id, o->owner_id, &type, &enabled, err);
        if (rc != RS_OK)
            return rc;
        /* An owner may edit and grant, which a Visitor's ceiling never allows. */
        if (type == AUTHZ_USER_VISITOR || !enabled) {
            rs_error_set(err, RS_EPRECOND, "RESOURCE_OWNER_NOT_ALLOWED",
                         "user \"%s\" cannot own a work: owners must be enabled Developers "
                         "or Analysts", o->owner_id);
            rs_error_meta(err, "owner_user_id", o->owner_id);
            return RS_EPRECOND;
        }
    }
    rc = check_owner_change(conn, o, &actor, err);
    if (rc != RS_OK)
        return rc;
    /* Registering again sets the owner; a work never moves between workspaces. */
    rc = authz_query(conn, o->call, "authz.resource_upsert",
                     "INSERT INTO authz.resources AS r (organization_id, resource_type, "
                     "resource_id, workspace_id, owner_user_id) VALUES ($1, $2, $3, $4, $5) "
                     "ON CONFLICT (organization_id, resource_type, resource_id) DO UPDATE "
                     "SET owner_user_id = EXCLUDED.owner_user_id "
                     "WHERE r.workspace_id = EXCLUDED.workspace_id RETURNING 1",
                     5, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_EPRECOND, "RESOURCE_IN_OTHER_WORKSPACE",
                     "%s \"%s\" is registered in another workspace", r->type, r->id);
        rs_error_meta(err, "field", "resource.workspace_id");
        return RS_EPRECOND;
    }
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

AUTHZ_HANDLER(authz_register_resource)
{
    const Roster__Authz__V1__RegisterResourceRequest *r =
        (const Roster__Authz__V1__RegisterResourceRequest *)req;
    struct resource_op o;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.res_msg = r->resource;
    o.owner_id = r->owner_user_id;
    rc = authz_validate_resource(r->resource, true, err);
    if (rc == RS_OK && r->owner_user_id[0] != '\0')
        rc = rs_validate_id("owner_user_id", r->owner_user_id, err);
    if (rc == RS_OK)
        rc = authz_tx(call, register_body, &o, err);
    if (rc != RS_OK)
        return rc;
    return authz_write_response(call, o.token, resp, err);
}

static rs_status
unregister_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct resource_op *o = arg;
    const Roster__Authz__V1__Resource *r = o->res_msg;
    struct authz_actor actor;
    const char *params[3] = { o->org_id, r->type, r->id };
    PGresult *res = NULL;
    const char *ws_id;
    bool ok = false;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = authz_query(conn, o->call, "authz.resource_lock",
                         "SELECT workspace_id, coalesce(owner_user_id, '') FROM "
                         "authz.resources WHERE organization_id = $1 AND resource_type = $2 "
                         "AND resource_id = $3 FOR UPDATE",
                         3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "RESOURCE_NOT_FOUND", "%s \"%s\" is not registered",
                     r->type, r->id);
        rs_error_meta(err, "field", "resource");
        return RS_ENOTFOUND;
    }
    ws_id = authz_col_str(rs_call_arena(o->call), res, 0, 0);
    if (ws_id == NULL)
        return authz_nomem(err);
    ok = strcmp(PQgetvalue(res, 0, 1), actor.user_id) == 0;
    if (!ok) {
        rc = may_manage(conn, o->call, &actor, ws_id, r->type, &ok, err);
        if (rc != RS_OK)
            return rc;
    }
    if (!ok)
        return not_allowed(&actor, ws_id, err);
    /* Its grants go with it (ON DELETE CASCADE). */
    rc = authz_query(conn, o->call, "authz.resource_delete",
                     "DELETE FROM authz.resources WHERE organization_id = $1 "
                     "AND resource_type = $2 AND resource_id = $3",
                     3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

AUTHZ_HANDLER(authz_unregister_resource)
{
    const Roster__Authz__V1__UnregisterResourceRequest *r =
        (const Roster__Authz__V1__UnregisterResourceRequest *)req;
    struct resource_op o;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.res_msg = r->resource;
    o.owner_id = "";
    rc = authz_validate_resource(r->resource, false, err);
    if (rc == RS_OK)
        rc = authz_tx(call, unregister_body, &o, err);
    if (rc != RS_OK)
        return rc;
    return authz_write_response(call, o.token, resp, err);
}
