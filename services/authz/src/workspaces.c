/*
 * services/authz/src/workspaces.c
 *    Workspaces: created and deleted by organisation administrators,
 *    updated by them or by the workspace's administrators, read by every
 *    user of the organisation.
 */
#include "authz_int.h"

#include <stdio.h>
#include <string.h>

#include "lookups.h"
#include "roster/page.h"
#include "roster/str.h"

#define WS_NAME_MAX 50
#define WS_DESC_MAX 255

/*
 * Returns true for a code point a workspace name may hold: letters and
 * digits of any script, the space, and Quick BI's _ / \ | ( ) [ ]. Outside
 * ASCII, only the punctuation, symbol and space blocks are refused, since
 * C has no Unicode letter table.
 */
static bool
name_char_ok(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
               (cp >= 'A' && cp <= 'Z') || strchr(" _/\\|()[]", (int)cp) != NULL;
    if (cp < 0xC0 && cp != 0xAA && cp != 0xB5 && cp != 0xBA)
        return false; /* C1 controls and Latin-1 punctuation */
    if (cp == 0xD7 || cp == 0xF7)
        return false;
    if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
        (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
        (cp >= 0xFF5B && cp <= 0xFF65) || (cp >= 0xFFF0 && cp <= 0xFFFF) ||
        (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0xE000 && cp <= 0xF8FF))
        return false; /* punctuation, symbols, emoji, private use */
    return true;
}

static rs_status
validate_ws_name(const char *name, struct rs_error *err)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t len = strlen(name);
    size_t n = 0;

    if (len == 0 || name[0] == ' ' || name[len - 1] == ' ')
        goto bad;
    while (*p != '\0') {
        uint32_t cp;
        int extra;

        if (*p < 0x80) {
            cp = *p;
            extra = 0;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            extra = 1;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            extra = 2;
        } else {
            cp = *p & 0x07;
            extra = 3;
        }
        p++;
        /* libs/rpc has checked the UTF-8, so continuation bytes are there. */
        while (extra-- > 0 && *p != '\0')
            cp = (cp << 6) | (*p++ & 0x3F);
        if (!name_char_ok(cp))
            goto bad;
        n++;
    }
    if (n <= WS_NAME_MAX)
        return RS_OK;
bad:
    rs_error_set(err, RS_EINVAL, "WORKSPACE_NAME_INVALID",
                 "invalid workspace name \"%s\": expected 1 to 50 letters, digits, spaces "
                 "or _ / \\ | ( ) [ ], without leading or trailing space",
                 name);
    rs_error_meta(err, "field", "name");
    return RS_EINVAL;
}

/* Returns the workspace of an AUTHZ_WS_COLS row (from arena), or NULL when out of memory. */
static void *
ws_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Authz__V1__Workspace *w = rs_arena_alloc(arena, sizeof(*w));
    Roster__Authz__V1__WorkspaceFlags *f = rs_arena_alloc(arena, sizeof(*f));

    if (w == NULL || f == NULL)
        return NULL;
    roster__authz__v1__workspace__init(w);
    roster__authz__v1__workspace_flags__init(f);
    w->workspace_id = authz_col_str(arena, res, row, 0);
    w->organization_id = authz_col_str(arena, res, row, 1);
    w->name = authz_col_str(arena, res, row, 2);
    w->description = authz_col_str(arena, res, row, 3);
    w->owner_user_id = authz_col_str(arena, res, row, 4);
    w->mode = (Roster__Authz__V1__WorkspaceMode)authz_col_int64(res, row, 5);
    f->allow_publish = PQgetvalue(res, row, 6)[0] == 't';
    f->allow_share = PQgetvalue(res, row, 7)[0] == 't';
    f->default_share_to_all = PQgetvalue(res, row, 8)[0] == 't';
    f->only_admin_create_datasource = PQgetvalue(res, row, 9)[0] == 't';
    f->use_comment = PQgetvalue(res, row, 10)[0] == 't';
    w->flags = f;
    w->create_time = authz_timestamp(arena, authz_col_int64(res, row, AUTHZ_WS_CREATED_COL));
    if (w->workspace_id == NULL || w->organization_id == NULL || w->name == NULL ||
        w->description == NULL || w->owner_user_id == NULL || w->create_time == NULL)
        return NULL;
    return w;
}

rs_status
authz_workspace_lock(rs_db_conn *conn, struct rs_call *call, const char *org_id,
                     const char *workspace_id, bool for_update, char **owner_id,
                     struct rs_error *err)
{
    const char *params[2] = { workspace_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    if (for_update)
        rc = authz_query(conn, call, "authz.ws_lock_update", AUTHZ_SQL_WS_LOCK_UPDATE, 2,
                         params, &res, err);
    else
        rc = authz_query(conn, call, "authz.ws_lock_share", AUTHZ_SQL_WS_LOCK_SHARE, 2,
                         params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "WORKSPACE_NOT_FOUND",
                     "workspace \"%s\" not found in organization \"%s\"", workspace_id, org_id);
        rs_error_meta(err, "workspace_id", workspace_id);
        return RS_ENOTFOUND;
    }
    if (owner_id != NULL) {
        *owner_id = authz_col_str(rs_call_arena(call), res, 0, 0);
        if (*owner_id == NULL)
            return authz_nomem(err);
    }
    return RS_OK;
}

rs_status
authz_is_workspace_admin(rs_db_conn *conn, struct rs_call *call,
                         const struct authz_actor *actor, const char *workspace_id, bool *out,
                         struct rs_error *err)
{
    const char *params[2] = { actor->user_id, workspace_id };
    PGresult *res = NULL;
    rs_status rc;

    *out = actor->org_admin;
    if (*out)
        return RS_OK;
    /*
     * Only a Developer may hold Workspace Admin (25). The cap also applies
     * to a role reached through a group, which is not checked when the group
     * is made a member.
     */
    if (actor->user_type != AUTHZ_USER_DEVELOPER)
        return RS_OK;
    rc = authz_query(conn, call, "authz.ws_admin",
                     AUTHZ_USER_GROUPS_CTE
                     "SELECT 1 FROM authz.workspace_members m WHERE m.workspace_id = $2 "
                     "AND 25 = ANY (m.role_ids) AND ((m.principal_type = 1 "
                     "AND m.principal_id = $1) OR (m.principal_type = 2 "
                     "AND m.principal_id IN (SELECT ug.id FROM ug JOIN identity.user_groups g "
                     "ON g.id = ug.id))) LIMIT 1",
                     2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    *out = PQntuples(res) > 0;
    return RS_OK;
}

/* The new owner must be an enabled Developer of the organisation. */
static rs_status
check_owner(rs_db_conn *conn, struct rs_call *call, const char *org_id, const char *owner,
            struct rs_error *err)
{
    bool enabled = false;
    int type = 0;
    rs_status rc;

    rc = authz_user_type(conn, call, org_id, owner, &type, &enabled, err);
    if (rc != RS_OK)
        return rc;
    if (type == AUTHZ_USER_DEVELOPER && enabled)
        return RS_OK;
    rs_error_set(err, RS_EPRECOND, "WORKSPACE_OWNER_TYPE_NOT_ALLOWED",
                 "user \"%s\" cannot own a workspace: the owner must be an enabled Developer",
                 owner);
    rs_error_meta(err, "owner_user_id", owner);
    return RS_EPRECOND;
}

/* Makes user a member holding 25, keeping the roles it has. */
static rs_status
add_admin_member(rs_db_conn *conn, struct rs_call *call, const char *org_id,
                 const char *workspace_id, const char *user_id, struct rs_error *err)
{
    const char *params[3] = { workspace_id, org_id, user_id };
    PGresult *res = NULL;

    return authz_query(conn, call, "authz.ws_admin_member",
                       "INSERT INTO authz.workspace_members (workspace_id, organization_id, "
                       "principal_type, principal_id, principal_user_id, role_ids) "
                       "VALUES ($1, $2, 1, $3, $3, '{25}') "
                       "ON CONFLICT (workspace_id, principal_type, principal_id) DO UPDATE "
                       "SET role_ids = CASE WHEN 25 = ANY (workspace_members.role_ids) "
                       "THEN workspace_members.role_ids "
                       "ELSE array_append(workspace_members.role_ids, 25::bigint) END",
                       3, params, &res, err);
}

static rs_status
name_taken(const char *name, struct rs_error *err)
{
    rs_error_set(err, RS_EEXIST, "WORKSPACE_NAME_TAKEN",
                 "workspace name \"%s\" is taken in this organization", name);
    rs_error_meta(err, "field", "name");
    return RS_EEXIST;
}

struct ws_op {
    struct rs_call *call;
    const char *org_id;
    const char *ws_id;
    const void *req;
    struct authz_page page;
    PGresult *res;
    char *token;
};

static rs_status
create_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct ws_op *o = arg;
    const Roster__Authz__V1__CreateWorkspaceRequest *r = o->req;
    const Roster__Authz__V1__WorkspaceFlags *f = r->flags;
    struct authz_actor actor;
    const char *params[11];
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, AUTHZ_NEED_ADMIN, &actor, err);
    if (rc == RS_OK)
        rc = check_owner(conn, o->call, o->org_id, r->owner_user_id, err);
    if (rc != RS_OK)
        return rc;
    params[0] = o->ws_id;
    params[1] = o->org_id;
    params[2] = r->name;
    params[3] = r->description;
    params[4] = r->owner_user_id;
    params[5] = r->mode == ROSTER__AUTHZ__V1__WORKSPACE_MODE__WORKSPACE_MODE_PRIVATE ? "2" : "1";
    /* An absent flags message means Quick BI's defaults; a present one is literal. */
    params[6] = f == NULL || f->allow_publish ? "t" : "f";
    params[7] = f == NULL || f->allow_share ? "t" : "f";
    params[8] = f != NULL && f->default_share_to_all ? "t" : "f";
    params[9] = f != NULL && f->only_admin_create_datasource ? "t" : "f";
    params[10] = f == NULL || f->use_comment ? "t" : "f";
    rc = authz_query(conn, o->call, "authz.ws_insert",
                     "INSERT INTO authz.workspaces AS w (id, organization_id, name, "
                     "description, owner_user_id, mode, allow_publish, allow_share, "
                     "default_share_to_all, only_admin_create_datasource, use_comment) "
                     "VALUES ($1, $2, $3, $4, $5, $6::smallint, $7::boolean, $8::boolean, "
                     "$9::boolean, $10::boolean, $11::boolean) RETURNING " AUTHZ_WS_COLS,
                     11, params, &o->res, err);
    if (rc != RS_OK)
        return authz_sqlstate_is(err, "23505") ? name_taken(r->name, err) : rc;
    rc = add_admin_member(conn, o->call, o->org_id, o->ws_id, r->owner_user_id, err);
    if (rc != RS_OK)
        return rc;
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

static rs_status
ws_response(struct ws_op *o, ProtobufCMessage **resp, struct rs_error *err)
{
    Roster__Authz__V1__WorkspaceResponse *out =
        rs_arena_alloc(rs_call_arena(o->call), sizeof(*out));

    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__workspace_response__init(out);
    out->workspace = ws_from_row(rs_call_arena(o->call), o->res, 0);
    if (out->workspace == NULL)
        return authz_nomem(err);
    out->revision = o->token != NULL ? o->token : (char *)"";
    *resp = &out->base;
    return RS_OK;
}

static rs_status
validate_mode(int mode, bool allow_unspecified, struct rs_error *err)
{
    if (mode == 1 || mode == 2 || (allow_unspecified && mode == 0))
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "WORKSPACE_MODE_INVALID",
                 "invalid mode %d: expected WORKSPACE_MODE_COLLABORATIVE or "
                 "WORKSPACE_MODE_PRIVATE",
                 mode);
    rs_error_meta(err, "field", "mode");
    return RS_EINVAL;
}

AUTHZ_HANDLER(authz_create_workspace)
{
    const Roster__Authz__V1__CreateWorkspaceRequest *r =
        (const Roster__Authz__V1__CreateWorkspaceRequest *)req;
    struct ws_op o;
    char id[RS_ID_LEN + 1];
    rs_status rc;

    rc = rs_call_name_normalize(call, &r->name, err);
    if (rc != RS_OK)
        return rc;
    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.req = r;
    rs_id_new(id);
    o.ws_id = id;
    rc = validate_ws_name(r->name, err);
    if (rc == RS_OK)
        rc = authz_validate_name("description", r->description[0] ? r->description : "x",
                                 WS_DESC_MAX, "WORKSPACE_DESCRIPTION_INVALID", err);
    if (rc == RS_OK)
        rc = validate_mode(r->mode, false, err);
    if (rc == RS_OK)
        rc = rs_validate_id("owner_user_id", r->owner_user_id, err);
    if (rc == RS_OK)
        rc = authz_tx(call, create_body, &o, err);
    if (rc != RS_OK)
        return rc;
    return ws_response(&o, resp, err);
}

AUTHZ_HANDLER(authz_get_workspace)
{
    const Roster__Authz__V1__GetWorkspaceRequest *r =
        (const Roster__Authz__V1__GetWorkspaceRequest *)req;
    const char *params[2] = { r->workspace_id, r->organization_id };
    struct ws_op o;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    rc = rs_validate_id("workspace_id", r->workspace_id, err);
    if (rc == RS_OK)
        rc = authz_read(call, r->organization_id, "authz.ws_get", AUTHZ_SQL_WS_GET, 2, params,
                        &o.res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(o.res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "WORKSPACE_NOT_FOUND",
                     "workspace \"%s\" not found in organization \"%s\"", r->workspace_id,
                     r->organization_id);
        rs_error_meta(err, "workspace_id", r->workspace_id);
        return RS_ENOTFOUND;
    }
    return ws_response(&o, resp, err);
}

static rs_status
list_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct ws_op *o = arg;
    struct authz_actor actor;
    const char *params[4] = { o->org_id, o->page.limit, o->page.after_param,
                              o->page.after.id };
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc != RS_OK)
        return rc;
    return authz_query(conn, o->call, "authz.ws_list",
                       "SELECT " AUTHZ_WS_COLS " FROM authz.workspaces w "
                       "WHERE w.organization_id = $1 AND "
                       AUTHZ_PAGE_AFTER("w.created_at", "w.id")
                       " ORDER BY w.created_at, w.id LIMIT $2::int",
                       4, params, &o->res, err);
}

AUTHZ_HANDLER(authz_list_workspaces)
{
    const Roster__Authz__V1__ListWorkspacesRequest *r =
        (const Roster__Authz__V1__ListWorkspacesRequest *)req;
    Roster__Authz__V1__ListWorkspacesResponse *out;
    const char *parts[1] = { r->organization_id };
    uint64_t filter = rs_page_filter_hash("authz.workspaces", parts, 1);
    struct ws_op o;
    void **items = NULL;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    rc = authz_page_start(r->page_size, r->page_token, filter, &o.page, err);
    if (rc == RS_OK)
        rc = authz_tx(call, list_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__list_workspaces_response__init(out);
    rc = authz_page_finish(call, &o.page, o.res, ws_from_row, 0, AUTHZ_WS_CREATED_COL, &items,
                           &out->n_workspaces, &out->next_page_token, err);
    if (rc != RS_OK)
        return rc;
    out->workspaces = (Roster__Authz__V1__Workspace **)items;
    *resp = &out->base;
    return RS_OK;
}

static rs_status
not_workspace_admin(const struct authz_actor *actor, const char *ws_id, struct rs_error *err)
{
    rs_error_set(err, RS_EPERM, "NOT_WORKSPACE_ADMIN",
                 "acting user \"%s\" is not an administrator of workspace \"%s\"",
                 actor->user_id, ws_id);
    rs_error_meta(err, "workspace_id", ws_id);
    return RS_EPERM;
}

static rs_status
update_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct ws_op *o = arg;
    const Roster__Authz__V1__UpdateWorkspaceRequest *r = o->req;
    struct authz_actor actor;
    char mode[4];
    const char *params[6] = { o->ws_id, o->org_id, r->name, r->description, r->owner_user_id,
                              mode };
    bool admin = false;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = authz_workspace_lock(conn, o->call, o->org_id, o->ws_id, true, NULL, err);
    if (rc == RS_OK)
        rc = authz_is_workspace_admin(conn, o->call, &actor, o->ws_id, &admin, err);
    if (rc != RS_OK)
        return rc;
    if (!admin)
        return not_workspace_admin(&actor, o->ws_id, err);
    if (r->owner_user_id[0] != '\0') {
        /* The old owner keeps its membership and roles. */
        rc = check_owner(conn, o->call, o->org_id, r->owner_user_id, err);
        if (rc == RS_OK)
            rc = add_admin_member(conn, o->call, o->org_id, o->ws_id, r->owner_user_id, err);
        if (rc != RS_OK)
            return rc;
    }
    snprintf(mode, sizeof(mode), "%d", (int)r->mode);
    rc = authz_query(conn, o->call, "authz.ws_update", AUTHZ_SQL_WS_UPDATE, 6, params,
                     &o->res, err);
    if (rc != RS_OK)
        return authz_sqlstate_is(err, "23505") ? name_taken(r->name, err) : rc;
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

AUTHZ_HANDLER(authz_update_workspace)
{
    const Roster__Authz__V1__UpdateWorkspaceRequest *r =
        (const Roster__Authz__V1__UpdateWorkspaceRequest *)req;
    struct ws_op o;
    rs_status rc;

    rc = rs_call_name_normalize(call, &r->name, err);
    if (rc != RS_OK)
        return rc;
    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.ws_id = r->workspace_id;
    o.req = r;
    rc = rs_validate_id("workspace_id", r->workspace_id, err);
    if (rc == RS_OK && r->name[0] != '\0')
        rc = validate_ws_name(r->name, err);
    if (rc == RS_OK && r->description[0] != '\0')
        rc = authz_validate_name("description", r->description, WS_DESC_MAX,
                                 "WORKSPACE_DESCRIPTION_INVALID", err);
    if (rc == RS_OK)
        rc = validate_mode(r->mode, true, err);
    if (rc == RS_OK && r->owner_user_id[0] != '\0')
        rc = rs_validate_id("owner_user_id", r->owner_user_id, err);
    if (rc == RS_OK)
        rc = authz_tx(call, update_body, &o, err);
    if (rc != RS_OK)
        return rc;
    return ws_response(&o, resp, err);
}

static rs_status
delete_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct ws_op *o = arg;
    struct authz_actor actor;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, AUTHZ_NEED_ADMIN, &actor, err);
    if (rc == RS_OK)
        rc = authz_workspace_lock(conn, o->call, o->org_id, o->ws_id, true, NULL, err);
    if (rc == RS_OK) {
        const char *params[2] = { o->ws_id, o->org_id };
        PGresult *res = NULL;

        /* Members, resources and their grants go with it (ON DELETE CASCADE). */
        rc = authz_query(conn, o->call, "authz.ws_delete", AUTHZ_SQL_WS_DELETE, 2, params,
                         &res, err);
    }
    if (rc != RS_OK)
        return rc;
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

AUTHZ_HANDLER(authz_delete_workspace)
{
    const Roster__Authz__V1__DeleteWorkspaceRequest *r =
        (const Roster__Authz__V1__DeleteWorkspaceRequest *)req;
    struct ws_op o;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.ws_id = r->workspace_id;
    rc = rs_validate_id("workspace_id", r->workspace_id, err);
    if (rc == RS_OK)
        rc = authz_tx(call, delete_body, &o, err);
    if (rc != RS_OK)
        return rc;
    return authz_write_response(call, o.token, resp, err);
}
