/*
 * services/authz/src/wsroles.c
 *    Workspace roles: the four presets of model.c and the organisation's
 *    custom roles over the ten modules.
 */
#include "authz_int.h"

#include <stdio.h>
#include <string.h>

#include "lookups.h"

#define ROLE_NAME_MAX 50

char *
authz_int64_array(struct rs_call *call, const int64_t *ids, size_t n)
{
    char *out = rs_arena_alloc(rs_call_arena(call), n * 21 + 3);
    size_t used = 1;
    size_t i;

    if (out == NULL)
        return NULL;
    out[0] = '{';
    for (i = 0; i < n; i++)
        used += (size_t)sprintf(out + used, "%s%lld", i > 0 ? "," : "", (long long)ids[i]);
    strcpy(out + used, "}");
    return out;
}

rs_status
authz_ws_roles_resolve(rs_db_conn *conn, struct rs_call *call, const char *org_id,
                       const int64_t *roles, size_t n_roles, struct authz_ws_perms *union_out,
                       struct rs_error *err)
{
    struct authz_ws_perms all;
    size_t i;
    int m;
    rs_status rc;

    memset(&all, 0, sizeof(all));
    for (i = 0; i < n_roles; i++) {
        const struct authz_ws_preset *preset = authz_ws_preset_find(roles[i]);
        struct authz_ws_perms perms;
        char id[24];

        if (preset != NULL) {
            perms = preset->perms;
        } else {
            const char *params[2] = { id, org_id };
            PGresult *res = NULL;

            snprintf(id, sizeof(id), "%lld", (long long)roles[i]);
            /* FOR SHARE keeps the role from being deleted under the membership. */
            rc = authz_query(conn, call, "authz.ws_role_get", AUTHZ_SQL_WS_ROLE_GET, 2, params,
                             &res, err);
            if (rc != RS_OK)
                return rc;
            if (PQntuples(res) == 0 ||
                !authz_ws_perms_from_json(PQgetvalue(res, 0, 0), &perms)) {
                rs_error_set(err, RS_ENOTFOUND, "ROLE_NOT_FOUND",
                             "workspace role %s not found", id);
                rs_error_meta(err, "role_id", id);
                return RS_ENOTFOUND;
            }
        }
        for (m = 0; m < AUTHZ_N_MODULES; m++)
            all.actions[m] |= perms.actions[m];
        all.manages_members = all.manages_members || perms.manages_members;
    }
    if (union_out != NULL)
        *union_out = all;
    return RS_OK;
}

static Roster__Authz__V1__WorkspaceRole *
role_message(struct rs_call *call, int64_t id, const char *name, bool preset,
             const struct authz_ws_perms *perms)
{
    rs_arena *arena = rs_call_arena(call);
    Roster__Authz__V1__WorkspaceRole *r = rs_arena_alloc(arena, sizeof(*r));
    size_t n = 0;
    int m;

    if (r == NULL)
        return NULL;
    roster__authz__v1__workspace_role__init(r);
    r->role_id = id;
    r->name = (char *)name;
    r->is_preset = preset;
    r->within_analyst_ceiling = authz_ws_within_analyst_ceiling(perms);
    r->manages_members = perms->manages_members;
    r->permissions = rs_arena_alloc(arena, AUTHZ_N_MODULES * sizeof(*r->permissions));
    if (r->permissions == NULL)
        return NULL;
    for (m = 0; m < AUTHZ_N_MODULES; m++) {
        Roster__Authz__V1__ModulePermission *p;

        if (perms->actions[m] == 0)
            continue;
        p = rs_arena_alloc(arena, sizeof(*p));
        if (p == NULL)
            return NULL;
        roster__authz__v1__module_permission__init(p);
        p->module = (char *)authz_module_names[m];
        p->edit = (perms->actions[m] & AUTHZ_ACT_EDIT) != 0;
        p->use = (perms->actions[m] & AUTHZ_ACT_USE) != 0;
        p->list = (perms->actions[m] & AUTHZ_ACT_LIST) != 0;
        r->permissions[n++] = p;
    }
    r->n_permissions = n;
    return r;
}

struct ws_role_write {
    struct rs_call *call;
    const char *org_id;
    const char *name;
    int64_t role_id;
    struct authz_ws_perms perms;
    char json[512];
    PGresult *res;
    char *token;
};

static rs_status
create_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct ws_role_write *w = arg;
    struct authz_actor actor;
    const char *params[4];
    rs_status rc;

    rc = authz_authorize(conn, w->call, w->org_id, AUTHZ_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    params[0] = w->org_id;
    params[1] = w->name;
    params[2] = w->json;
    params[3] = authz_ws_within_analyst_ceiling(&w->perms) ? "t" : "f";
    rc = authz_query(conn, w->call, "authz.ws_role_insert",
                     "INSERT INTO authz.workspace_roles (organization_id, name, permissions, "
                     "within_analyst_ceiling) VALUES ($1, $2, $3::jsonb, $4::boolean) "
                     "RETURNING id",
                     4, params, &w->res, err);
    if (rc != RS_OK) {
        if (!authz_sqlstate_is(err, "23505"))
            return rc;
        rs_error_set(err, RS_EEXIST, "ROLE_NAME_TAKEN", "workspace role name \"%s\" is taken",
                     w->name);
        rs_error_meta(err, "field", "name");
        return RS_EEXIST;
    }
    w->role_id = authz_col_int64(w->res, 0, 0);
    return authz_bump(conn, w->call, w->org_id, &w->token, err);
}

AUTHZ_HANDLER(authz_create_workspace_role)
{
    const Roster__Authz__V1__CreateWorkspaceRoleRequest *r =
        (const Roster__Authz__V1__CreateWorkspaceRoleRequest *)req;
    Roster__Authz__V1__WorkspaceRoleResponse *out;
    struct ws_role_write w;
    size_t i;
    rs_status rc;

    rc = rs_call_name_normalize(call, &r->name, err);
    if (rc != RS_OK)
        return rc;
    memset(&w, 0, sizeof(w));
    w.call = call;
    w.org_id = r->organization_id;
    w.name = r->name;
    rc = authz_validate_name("name", r->name, ROLE_NAME_MAX, "ROLE_NAME_INVALID", err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < authz_n_ws_presets; i++) {
        if (strcmp(authz_ws_presets[i].name, r->name) == 0) {
            rs_error_set(err, RS_EEXIST, "ROLE_NAME_TAKEN",
                         "workspace role name \"%s\" is taken by a preset role", r->name);
            rs_error_meta(err, "field", "name");
            return RS_EEXIST;
        }
    }
    for (i = 0; i < r->n_permissions; i++) {
        const Roster__Authz__V1__ModulePermission *p = r->permissions[i];
        int m = authz_module_find(p->module);

        if (m < 0) {
            rs_error_set(err, RS_EINVAL, "MODULE_INVALID",
                         "invalid module \"%s\": expected one of portal_create, "
                         "dashboard_create, report_create, screen_create, analysis, "
                         "offline_download, data_form, quick_etl, cube, datasource",
                         p->module);
            rs_error_meta(err, "field", "permissions");
            return RS_EINVAL;
        }
        w.perms.actions[m] |= (uint8_t)((p->edit ? AUTHZ_ACT_EDIT : 0) |
                                        (p->use ? AUTHZ_ACT_USE : 0) |
                                        (p->list ? AUTHZ_ACT_LIST : 0));
    }
    if (!authz_ws_perms_to_json(&w.perms, w.json, sizeof(w.json)))
        return rs_error_set(err, RS_EINTERNAL, "INTERNAL", "could not encode permissions");
    rc = authz_tx(call, create_body, &w, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__workspace_role_response__init(out);
    out->role = role_message(call, w.role_id, r->name, false, &w.perms);
    if (out->role == NULL)
        return authz_nomem(err);
    out->revision = w.token;
    *resp = &out->base;
    return RS_OK;
}

/* A role held by a member stays; FOR UPDATE waits for memberships in flight (FOR SHARE). */
static const struct authz_custom_role_kind ws_role_kind = {
    "workspace role",
    "member(s); change their roles first",
    "authz.ws_role_lock",
    AUTHZ_SQL_WS_ROLE_LOCK,
    "authz.ws_role_delete",
    AUTHZ_SQL_WS_ROLE_DELETE,
};

static rs_status
delete_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct ws_role_write *w = arg;

    return authz_delete_custom_role(conn, w->call, &ws_role_kind, w->org_id, w->role_id,
                                    &w->token, err);
}

AUTHZ_HANDLER(authz_delete_workspace_role)
{
    const Roster__Authz__V1__DeleteWorkspaceRoleRequest *r =
        (const Roster__Authz__V1__DeleteWorkspaceRoleRequest *)req;
    struct ws_role_write w;
    char id[24];
    rs_status rc;

    memset(&w, 0, sizeof(w));
    w.call = call;
    w.org_id = r->organization_id;
    w.role_id = r->role_id;
    if (authz_ws_preset_find(r->role_id) != NULL) {
        snprintf(id, sizeof(id), "%lld", (long long)r->role_id);
        rs_error_set(err, RS_EPRECOND, "PRESET_ROLE_READ_ONLY",
                     "workspace role %s is a preset and cannot be deleted", id);
        rs_error_meta(err, "role_id", id);
        return RS_EPRECOND;
    }
    rc = authz_tx(call, delete_body, &w, err);
    if (rc != RS_OK)
        return rc;
    return authz_write_response(call, w.token, resp, err);
}

AUTHZ_HANDLER(authz_list_workspace_roles)
{
    const Roster__Authz__V1__ListWorkspaceRolesRequest *r =
        (const Roster__Authz__V1__ListWorkspaceRolesRequest *)req;
    const char *params[1] = { r->organization_id };
    Roster__Authz__V1__ListWorkspaceRolesResponse *out;
    PGresult *res = NULL;
    size_t n;
    size_t i;
    rs_status rc;

    rc = authz_read(call, r->organization_id, "authz.ws_role_list",
                    "SELECT id, name, permissions::text FROM authz.workspace_roles "
                    "WHERE organization_id = $1 ORDER BY id",
                    1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    n = authz_n_ws_presets + (size_t)PQntuples(res);
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__list_workspace_roles_response__init(out);
    out->roles = rs_arena_alloc(rs_call_arena(call), n * sizeof(*out->roles));
    if (out->roles == NULL)
        return authz_nomem(err);
    for (i = 0; i < n; i++) {
        if (i < authz_n_ws_presets) {
            const struct authz_ws_preset *p = &authz_ws_presets[i];

            out->roles[i] = role_message(call, p->role_id, p->name, true, &p->perms);
        } else {
            int row = (int)(i - authz_n_ws_presets);
            struct authz_ws_perms perms;

            if (!authz_ws_perms_from_json(PQgetvalue(res, row, 2), &perms))
                return rs_error_set(err, RS_EINTERNAL, "INTERNAL",
                                    "could not read the permissions of workspace role %s",
                                    PQgetvalue(res, row, 0));
            out->roles[i] = role_message(call, authz_col_int64(res, row, 0),
                                         authz_col_str(rs_call_arena(call), res, row, 1),
                                         false, &perms);
        }
        if (out->roles[i] == NULL)
            return authz_nomem(err);
    }
    out->n_roles = n;
    *resp = &out->base;
    return RS_OK;
}

rs_status
authz_delete_custom_role(rs_db_conn *conn, struct rs_call *call,
                         const struct authz_custom_role_kind *kind, const char *org_id,
                         int64_t role_id, char **token, struct rs_error *err)
{
    struct authz_actor actor;
    char id[24];
    const char *params[2] = { id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = authz_authorize(conn, call, org_id, AUTHZ_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    snprintf(id, sizeof(id), "%lld", (long long)role_id);
    rc = authz_query(conn, call, kind->lock_stmt, kind->lock_sql, 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "ROLE_NOT_FOUND", "%s %s not found", kind->noun, id);
        rs_error_meta(err, "role_id", id);
        return RS_ENOTFOUND;
    }
    if (authz_col_int64(res, 0, 0) > 0) {
        rs_error_set(err, RS_EPRECOND, "ROLE_IN_USE", "%s %s is held by %s %s", kind->noun, id,
                     PQgetvalue(res, 0, 0), kind->holders);
        rs_error_meta(err, "role_id", id);
        return RS_EPRECOND;
    }
    rc = authz_query(conn, call, kind->delete_stmt, kind->delete_sql, 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    return authz_bump(conn, call, org_id, token, err);
}
