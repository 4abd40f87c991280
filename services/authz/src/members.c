/*
 * services/authz/src/members.c
 *    Workspace members: users or user groups with one or more workspace
 *    roles, capped by the user's type. Groups have no type, so their
 *    members' caps apply when a decision is made, not here.
 */
#include "authz_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/page.h"

#define MEMBER_COLS                                                                    \
    "m.workspace_id, m.principal_type, m.principal_id, "                                \
    "array_to_string(m.role_ids, ','), (m.principal_type = 2 AND g.id IS NULL), "       \
    AUTHZ_US("m.created_at")
#define MEMBER_FROM                                                                    \
    " FROM authz.workspace_members m LEFT JOIN identity.user_groups g "                 \
    "ON m.principal_type = 2 AND g.id = m.principal_id "
#define MEMBER_ID_COL 2
#define MEMBER_CREATED_COL 5

/* Returns the member of a MEMBER_COLS row (from arena), or NULL when out of memory. */
static void *
member_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Authz__V1__WorkspaceMember *m = rs_arena_alloc(arena, sizeof(*m));
    const char *ids = PQgetvalue(res, row, 3);
    size_t n = 1;
    const char *p;

    if (m == NULL)
        return NULL;
    roster__authz__v1__workspace_member__init(m);
    m->workspace_id = authz_col_str(arena, res, row, 0);
    m->principal_type = (Roster__Authz__V1__PrincipalType)authz_col_int64(res, row, 1);
    m->principal_id = authz_col_str(arena, res, row, 2);
    for (p = ids; *p != '\0'; p++)
        n += *p == ',';
    m->role_ids = rs_arena_alloc(arena, n * sizeof(int64_t));
    if (m->workspace_id == NULL || m->principal_id == NULL || m->role_ids == NULL)
        return NULL;
    for (p = ids; *p != '\0';) {
        char *end;

        m->role_ids[m->n_role_ids++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    if (PQgetvalue(res, row, 4)[0] == 't') {
        m->invalidated = true;
        m->invalidated_reason = (char *)"GROUP_DELETED";
    }
    return m;
}

struct member_op {
    struct rs_call *call;
    const char *org_id;
    const char *ws_id;
    int principal_type;
    const char *principal_id;
    const int64_t *roles;
    size_t n_roles;
    struct authz_page page;
    PGresult *res;
    char *token;
};

/* Locks the workspace and requires the actor to administer it; *owner_id receives its owner. */
static rs_status
require_ws_admin(rs_db_conn *conn, struct member_op *o, char **owner_id, struct rs_error *err)
{
    struct authz_actor actor;
    bool admin = false;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = authz_workspace_lock(conn, o->call, o->org_id, o->ws_id, false, owner_id, err);
    if (rc == RS_OK)
        rc = authz_is_workspace_admin(conn, o->call, &actor, o->ws_id, &admin, err);
    if (rc != RS_OK)
        return rc;
    if (admin)
        return RS_OK;
    rs_error_set(err, RS_EPERM, "NOT_WORKSPACE_ADMIN",
                 "acting user \"%s\" is not an administrator of workspace \"%s\"",
                 actor.user_id, o->ws_id);
    rs_error_meta(err, "workspace_id", o->ws_id);
    return RS_EPERM;
}

static rs_status
owner_keeps_admin(const struct member_op *o, struct rs_error *err)
{
    rs_error_set(err, RS_EPRECOND, "OWNER_KEEPS_WORKSPACE_ADMIN",
                 "user \"%s\" owns workspace \"%s\" and keeps role 25; transfer the "
                 "ownership first",
                 o->principal_id, o->ws_id);
    rs_error_meta(err, "principal_id", o->principal_id);
    return RS_EPRECOND;
}

/* Applies the user-type caps of authz.workspace_roles_allowed. */
static rs_status
check_user_caps(rs_db_conn *conn, struct member_op *o, struct rs_error *err)
{
    char type_text[8];
    const char *params[2];
    PGresult *res = NULL;
    int type = 0;
    rs_status rc;

    rc = authz_user_type(conn, o->call, o->org_id, o->principal_id, &type, NULL, err);
    if (rc != RS_OK)
        return rc;
    snprintf(type_text, sizeof(type_text), "%d", type);
    params[0] = authz_int64_array(o->call, o->roles, o->n_roles);
    params[1] = type_text;
    if (params[0] == NULL)
        return authz_nomem(err);
    rc = authz_query(conn, o->call, "authz.ws_roles_allowed",
                     "SELECT authz.workspace_roles_allowed($1::bigint[], $2::smallint)", 2,
                     params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQgetvalue(res, 0, 0)[0] == 't')
        return RS_OK;
    if (type == AUTHZ_USER_VISITOR)
        rs_error_set(err, RS_EPRECOND, "VISITOR_CANNOT_BE_MEMBER",
                     "user \"%s\" is a Visitor and cannot be a workspace member",
                     o->principal_id);
    else
        rs_error_set(err, RS_EPRECOND, "ROLE_ABOVE_ANALYST_CEILING",
                     "user \"%s\" is an Analyst and may hold only roles 27, 30 or custom "
                     "roles within the analyst ceiling",
                     o->principal_id);
    rs_error_meta(err, "principal_id", o->principal_id);
    return RS_EPRECOND;
}

static bool
has_role(const struct member_op *o, int64_t id)
{
    size_t i;

    for (i = 0; i < o->n_roles; i++) {
        if (o->roles[i] == id)
            return true;
    }
    return false;
}

static rs_status
set_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct member_op *o = arg;
    char type[4];
    const char *params[5];
    char *owner = NULL;
    rs_status rc;

    rc = require_ws_admin(conn, o, &owner, err);
    if (rc == RS_OK)
        rc = authz_ws_roles_resolve(conn, o->call, o->org_id, o->roles, o->n_roles, NULL, err);
    if (rc != RS_OK)
        return rc;
    if (o->principal_type == 1)
        rc = check_user_caps(conn, o, err);
    else
        rc = authz_group_exists(conn, o->call, o->org_id, o->principal_id, err);
    if (rc != RS_OK)
        return rc;
    if (o->principal_type == 1 && strcmp(owner, o->principal_id) == 0 &&
        !has_role(o, AUTHZ_WS_ADMIN))
        return owner_keeps_admin(o, err);
    snprintf(type, sizeof(type), "%d", o->principal_type);
    params[0] = o->ws_id;
    params[1] = o->org_id;
    params[2] = type;
    params[3] = o->principal_id;
    params[4] = authz_int64_array(o->call, o->roles, o->n_roles);
    if (params[4] == NULL)
        return authz_nomem(err);
    rc = authz_query(conn, o->call, "authz.member_upsert",
                     "WITH up AS (INSERT INTO authz.workspace_members AS m (workspace_id, "
                     "organization_id, principal_type, principal_id, principal_user_id, "
                     "role_ids) VALUES ($1, $2, $3::smallint, $4, CASE WHEN $3 = '1' "
                     "THEN $4 END, $5::bigint[]) "
                     "ON CONFLICT (workspace_id, principal_type, principal_id) "
                     "DO UPDATE SET role_ids = EXCLUDED.role_ids RETURNING m.*) "
                     "SELECT " MEMBER_COLS " FROM up m LEFT JOIN identity.user_groups g "
                     "ON m.principal_type = 2 AND g.id = m.principal_id",
                     5, params, &o->res, err);
    if (rc != RS_OK)
        return rc;
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

static rs_status
validate_principal(int type, const char *id, struct rs_error *err)
{
    if (type != 1 && type != 2) {
        rs_error_set(err, RS_EINVAL, "PRINCIPAL_TYPE_INVALID",
                     "invalid principal_type %d: expected PRINCIPAL_TYPE_USER or "
                     "PRINCIPAL_TYPE_GROUP",
                     type);
        rs_error_meta(err, "field", "principal_type");
        return RS_EINVAL;
    }
    return rs_validate_id("principal_id", id, err);
}

AUTHZ_HANDLER(authz_set_workspace_member)
{
    const Roster__Authz__V1__SetWorkspaceMemberRequest *r =
        (const Roster__Authz__V1__SetWorkspaceMemberRequest *)req;
    Roster__Authz__V1__WorkspaceMemberResponse *out;
    struct member_op o;
    size_t i;
    size_t j;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.ws_id = r->workspace_id;
    o.principal_type = (int)r->principal_type;
    o.principal_id = r->principal_id;
    o.roles = r->role_ids;
    o.n_roles = r->n_role_ids;
    rc = rs_validate_id("workspace_id", r->workspace_id, err);
    if (rc == RS_OK)
        rc = validate_principal(o.principal_type, o.principal_id, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < o.n_roles; i++) {
        for (j = 0; j < i && o.roles[j] != o.roles[i]; j++)
            ;
        if (j < i)
            break;
    }
    if (o.n_roles == 0 || i < o.n_roles) {
        rs_error_set(err, RS_EINVAL, "ROLE_COUNT_INVALID",
                     "invalid role_ids: expected 1 or more distinct workspace role ids");
        rs_error_meta(err, "field", "role_ids");
        return RS_EINVAL;
    }
    rc = authz_tx(call, set_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__workspace_member_response__init(out);
    out->member = member_from_row(rs_call_arena(call), o.res, 0);
    if (out->member == NULL)
        return authz_nomem(err);
    out->revision = o.token;
    *resp = &out->base;
    return RS_OK;
}

static rs_status
remove_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct member_op *o = arg;
    char type[4];
    const char *params[3] = { o->ws_id, type, o->principal_id };
    char *owner = NULL;
    rs_status rc;

    rc = require_ws_admin(conn, o, &owner, err);
    if (rc != RS_OK)
        return rc;
    if (o->principal_type == 1 && strcmp(owner, o->principal_id) == 0)
        return owner_keeps_admin(o, err);
    snprintf(type, sizeof(type), "%d", o->principal_type);
    rc = authz_query(conn, o->call, "authz.member_delete",
                     "DELETE FROM authz.workspace_members WHERE workspace_id = $1 "
                     "AND principal_type = $2::smallint AND principal_id = $3",
                     3, params, &o->res, err);
    if (rc != RS_OK)
        return rc;
    if (strcmp(PQcmdTuples(o->res), "0") == 0) {
        rs_error_set(err, RS_ENOTFOUND, "MEMBER_NOT_FOUND",
                     "\"%s\" is not a member of workspace \"%s\"", o->principal_id, o->ws_id);
        rs_error_meta(err, "principal_id", o->principal_id);
        return RS_ENOTFOUND;
    }
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

AUTHZ_HANDLER(authz_remove_workspace_member)
{
    const Roster__Authz__V1__RemoveWorkspaceMemberRequest *r =
        (const Roster__Authz__V1__RemoveWorkspaceMemberRequest *)req;
    struct member_op o;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.ws_id = r->workspace_id;
    o.principal_type = (int)r->principal_type;
    o.principal_id = r->principal_id;
    rc = rs_validate_id("workspace_id", r->workspace_id, err);
    if (rc == RS_OK)
        rc = validate_principal(o.principal_type, o.principal_id, err);
    if (rc == RS_OK)
        rc = authz_tx(call, remove_body, &o, err);
    if (rc != RS_OK)
        return rc;
    return authz_write_response(call, o.token, resp, err);
}

static rs_status
list_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct member_op *o = arg;
    struct authz_actor actor;
    const char *params[4] = { o->ws_id, o->page.limit, o->page.after_param,
                              o->page.after.id };
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = authz_workspace_lock(conn, o->call, o->org_id, o->ws_id, false, NULL, err);
    if (rc != RS_OK)
        return rc;
    /* A user id and a group id never coincide, so principal_id orders the ties. */
    return authz_query(conn, o->call, "authz.member_list",
                       "SELECT " MEMBER_COLS MEMBER_FROM "WHERE m.workspace_id = $1 AND "
                       AUTHZ_PAGE_AFTER("m.created_at", "m.principal_id")
                       " ORDER BY m.created_at, m.principal_id LIMIT $2::int",
                       4, params, &o->res, err);
}

AUTHZ_HANDLER(authz_list_workspace_members)
{
    const Roster__Authz__V1__ListWorkspaceMembersRequest *r =
        (const Roster__Authz__V1__ListWorkspaceMembersRequest *)req;
    Roster__Authz__V1__ListWorkspaceMembersResponse *out;
    const char *parts[2] = { r->organization_id, r->workspace_id };
    uint64_t filter = rs_page_filter_hash("authz.members", parts, 2);
    struct member_op o;
    void **items = NULL;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.ws_id = r->workspace_id;
    rc = rs_validate_id("workspace_id", r->workspace_id, err);
    if (rc == RS_OK)
        rc = authz_validate_min_revision(r->min_revision, err);
    if (rc == RS_OK)
        rc = authz_page_start(r->page_size, r->page_token, filter, &o.page, err);
    if (rc == RS_OK)
        rc = authz_tx(call, list_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__list_workspace_members_response__init(out);
    rc = authz_page_finish(call, &o.page, o.res, member_from_row, MEMBER_ID_COL,
                           MEMBER_CREATED_COL, &items, &out->n_members, &out->next_page_token,
                           err);
    if (rc != RS_OK)
        return rc;
    out->members = (Roster__Authz__V1__WorkspaceMember **)items;
    *resp = &out->base;
    return RS_OK;
}
