/*
 * services/authz/src/grants.c
 *    Work authorisations. Organisation administrators, permission
 *    administrators, the work's workspace administrators and its owner may
 *    grant. Levels are capped by the subject user's type, and edit is
 *    granted only to workspace members.
 */
#include "authz_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "lookups.h"
#include "roster/page.h"
#include "roster/str.h"

/* Non-edit grants must last at least this long. */
#define EXPIRY_MIN_SECONDS (24 * 3600)

#define GRANT_COLS                                                                     \
    "g.id, g.resource_type, g.resource_id, r.workspace_id, g.subject_type, "            \
    "g.subject_id, g.level, " AUTHZ_US("g.expires_at") ", g.granted_by, "               \
    AUTHZ_US("g.created_at") ", CASE WHEN g.subject_type = 2 AND ug.id IS NULL "        \
    "THEN 'GROUP_DELETED' WHEN g.subject_type = 4 AND sw.id IS NULL "                   \
    "THEN 'WORKSPACE_DELETED' ELSE '' END"
#define GRANT_JOINS                                                                    \
    " JOIN authz.resources r ON r.organization_id = g.organization_id "                 \
    "AND r.resource_type = g.resource_type AND r.resource_id = g.resource_id "          \
    "LEFT JOIN identity.user_groups ug ON g.subject_type = 2 AND ug.id = g.subject_id " \
    "LEFT JOIN authz.workspaces sw ON g.subject_type = 4 AND sw.id = g.subject_id "
#define GRANT_CREATED_COL 9

/* Returns the grant of a GRANT_COLS row (from arena), or NULL when out of memory. */
static void *
grant_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Authz__V1__WorkGrant *g = rs_arena_alloc(arena, sizeof(*g));
    Roster__Authz__V1__Resource *r = rs_arena_alloc(arena, sizeof(*r));
    Roster__Authz__V1__Subject *s = rs_arena_alloc(arena, sizeof(*s));

    if (g == NULL || r == NULL || s == NULL)
        return NULL;
    roster__authz__v1__work_grant__init(g);
    roster__authz__v1__resource__init(r);
    roster__authz__v1__subject__init(s);
    g->grant_id = authz_col_str(arena, res, row, 0);
    r->type = authz_col_str(arena, res, row, 1);
    r->id = authz_col_str(arena, res, row, 2);
    r->workspace_id = authz_col_str(arena, res, row, 3);
    s->type = (Roster__Authz__V1__SubjectType)authz_col_int64(res, row, 4);
    s->id = authz_col_str(arena, res, row, 5);
    g->resource = r;
    g->subject = s;
    g->level = (Roster__Authz__V1__GrantLevel)authz_col_int64(res, row, 6);
    if (!PQgetisnull(res, row, 7)) {
        g->expire_time = authz_timestamp(arena, authz_col_int64(res, row, 7));
        if (g->expire_time == NULL)
            return NULL;
    }
    g->granted_by = authz_col_str(arena, res, row, 8);
    g->create_time = authz_timestamp(arena, authz_col_int64(res, row, 9));
    g->invalidated_reason = authz_col_str(arena, res, row, 10);
    if (g->grant_id == NULL || r->type == NULL || r->id == NULL || r->workspace_id == NULL ||
        s->id == NULL || g->granted_by == NULL || g->create_time == NULL ||
        g->invalidated_reason == NULL)
        return NULL;
    g->invalidated = g->invalidated_reason[0] != '\0';
    return g;
}

static rs_status
validate_subject(const Roster__Authz__V1__Subject *s, struct rs_error *err)
{
    if (s == NULL || s->type < 1 || s->type > 4) {
        rs_error_set(err, RS_EINVAL, "SUBJECT_TYPE_INVALID",
                     "invalid subject type: expected SUBJECT_TYPE_USER, SUBJECT_TYPE_GROUP, "
                     "SUBJECT_TYPE_ORGANIZATION or SUBJECT_TYPE_WORKSPACE");
        rs_error_meta(err, "field", "subject.type");
        return RS_EINVAL;
    }
    if (s->type != ROSTER__AUTHZ__V1__SUBJECT_TYPE__SUBJECT_TYPE_ORGANIZATION)
        return rs_validate_id("subject.id", s->id, err);
    if (s->id[0] == '\0')
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "INVALID_ID",
                 "invalid subject.id: must be empty for SUBJECT_TYPE_ORGANIZATION");
    rs_error_meta(err, "field", "subject.id");
    return RS_EINVAL;
}

struct grant_op {
    struct rs_call *call;
    const char *org_id;
    const Roster__Authz__V1__GrantRequest *req;
    const char *grant_id;
    char expires_us[24]; /* "" for edit */
    /* listing */
    const Roster__Authz__V1__ListGrantsRequest *list;
    struct authz_page page;
    PGresult *res;
    char *token;
};

/* Org Admin, Permission Admin, the workspace's admins and the work's owner grant. */
static rs_status
check_grantor(rs_db_conn *conn, struct rs_call *call, const struct authz_actor *actor,
              const char *ws_id, const char *owner_id, struct rs_error *err)
{
    bool ok = actor->org_admin || actor->permission_admin ||
              strcmp(owner_id, actor->user_id) == 0;
    rs_status rc;

    if (!ok) {
        rc = authz_is_workspace_admin(conn, call, actor, ws_id, &ok, err);
        if (rc != RS_OK)
            return rc;
    }
    if (ok)
        return RS_OK;
    rs_error_set(err, RS_EPERM, "NOT_ALLOWED_TO_GRANT",
                 "acting user \"%s\" may not grant on works of workspace \"%s\": needs "
                 "organization or permission administration, workspace administration or "
                 "ownership of the work",
                 actor->user_id, ws_id);
    rs_error_meta(err, "workspace_id", ws_id);
    return RS_EPERM;
}

/* Type ceiling and, for edit, workspace membership of a user subject. */
static rs_status
check_user_subject(rs_db_conn *conn, struct grant_op *o, const char *ws_id,
                   struct rs_error *err)
{
    const Roster__Authz__V1__GrantRequest *r = o->req;
    const char *user = r->subject->id;
    char type_text[8];
    const char *params[3];
    PGresult *res = NULL;
    int type = 0;
    rs_status rc;

    rc = authz_user_type(conn, o->call, o->org_id, user, &type, NULL, err);
    if (rc != RS_OK)
        return rc;
    snprintf(type_text, sizeof(type_text), "%d", type);
    params[0] = type_text;
    params[1] = r->resource->type;
    rc = authz_query(conn, o->call, "authz.type_ceiling",
                     "SELECT max_level FROM authz.type_ceilings "
                     "WHERE user_type = $1::smallint AND resource_type = $2",
                     2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0 || authz_col_int64(res, 0, 0) < (int64_t)r->level) {
        rs_error_set(err, RS_EPRECOND, "LEVEL_ABOVE_TYPE_CEILING",
                     "user \"%s\" cannot be granted %s on a %s: above the ceiling of the "
                     "user's type",
                     user, authz_level_name((int)r->level), r->resource->type);
        rs_error_meta(err, "subject_id", user);
        return RS_EPRECOND;
    }
    if (r->level != ROSTER__AUTHZ__V1__GRANT_LEVEL__GRANT_LEVEL_EDIT)
        return RS_OK;
    params[0] = user;
    params[1] = ws_id;
    rc = authz_query(conn, o->call, "authz.is_member",
                     AUTHZ_USER_GROUPS_CTE
                     "SELECT 1 FROM authz.workspace_members m WHERE m.workspace_id = $2 "
                     "AND ((m.principal_type = 1 AND m.principal_id = $1) OR "
                     "(m.principal_type = 2 AND m.principal_id IN (SELECT ug.id FROM ug "
                     "JOIN identity.user_groups g ON g.id = ug.id))) LIMIT 1",
                     2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) > 0)
        return RS_OK;
    rs_error_set(err, RS_EPRECOND, "EDIT_REQUIRES_MEMBERSHIP",
                 "user \"%s\" is not a member of workspace \"%s\"; non-members get view or "
                 "export only",
                 user, ws_id);
    rs_error_meta(err, "subject_id", user);
    return RS_EPRECOND;
}

static rs_status
grant_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct grant_op *o = arg;
    const Roster__Authz__V1__GrantRequest *r = o->req;
    struct authz_actor actor;
    char type[4];
    char level[4];
    const char *params[9] = { o->org_id, r->resource->type, r->resource->id };
    PGresult *res = NULL;
    const char *ws_id = r->resource->workspace_id;
    const char *owner = "";
    bool registered;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = authz_query(conn, o->call, "authz.grant_resource",
                         "SELECT workspace_id, coalesce(owner_user_id, '') FROM "
                         "authz.resources WHERE organization_id = $1 AND resource_type = $2 "
                         "AND resource_id = $3 FOR SHARE",
                         3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    registered = PQntuples(res) > 0;
    if (registered) {
        const char *given = ws_id;

        ws_id = authz_col_str(rs_call_arena(o->call), res, 0, 0);
        owner = authz_col_str(rs_call_arena(o->call), res, 0, 1);
        if (ws_id == NULL || owner == NULL)
            return authz_nomem(err);
        /* As RegisterResource: a work never moves between workspaces. */
        if (given[0] != '\0' && strcmp(given, ws_id) != 0) {
            rs_error_set(err, RS_EPRECOND, "RESOURCE_IN_OTHER_WORKSPACE",
                         "%s \"%s\" is registered in another workspace", r->resource->type,
                         r->resource->id);
            rs_error_meta(err, "field", "resource.workspace_id");
            return RS_EPRECOND;
        }
    } else if (ws_id[0] == '\0') {
        rs_error_set(err, RS_ENOTFOUND, "RESOURCE_NOT_FOUND",
                     "%s \"%s\" is not registered; pass resource.workspace_id to register it",
                     r->resource->type, r->resource->id);
        rs_error_meta(err, "field", "resource.workspace_id");
        return RS_ENOTFOUND;
    }
    rc = authz_workspace_lock(conn, o->call, o->org_id, ws_id, false, NULL, err);
    if (rc == RS_OK)
        rc = check_grantor(conn, o->call, &actor, ws_id, owner, err);
    if (rc != RS_OK)
        return rc;
    switch (r->subject->type) {
    case ROSTER__AUTHZ__V1__SUBJECT_TYPE__SUBJECT_TYPE_USER:
        rc = check_user_subject(conn, o, ws_id, err);
        break;
    case ROSTER__AUTHZ__V1__SUBJECT_TYPE__SUBJECT_TYPE_GROUP:
        rc = authz_group_exists(conn, o->call, o->org_id, r->subject->id, err);
        break;
    case ROSTER__AUTHZ__V1__SUBJECT_TYPE__SUBJECT_TYPE_WORKSPACE:
        rc = authz_workspace_lock(conn, o->call, o->org_id, r->subject->id, false, NULL, err);
        break;
    default:
        break;
    }
    if (rc != RS_OK)
        return rc;
    if (!registered) {
        params[3] = ws_id;
        rc = authz_query(conn, o->call, "authz.grant_register",
                         "INSERT INTO authz.resources (organization_id, resource_type, "
                         "resource_id, workspace_id) VALUES ($1, $2, $3, $4) "
                         "ON CONFLICT DO NOTHING",
                         4, params, &res, err);
        if (rc != RS_OK)
            return rc;
    }
    snprintf(type, sizeof(type), "%d", (int)r->subject->type);
    snprintf(level, sizeof(level), "%d", (int)r->level);
    params[3] = o->grant_id;
    params[4] = type;
    params[5] = r->subject->id;
    params[6] = level;
    params[7] = o->expires_us[0] != '\0' ? o->expires_us : NULL;
    params[8] = actor.user_id;
    /* Granting again to the same subject replaces the level and expiry. */
    rc = authz_query(conn, o->call, "authz.grant_upsert",
                     "WITH up AS (INSERT INTO authz.grants AS g (id, organization_id, "
                     "resource_type, resource_id, subject_type, subject_id, subject_user_id, "
                     "level, expires_at, granted_by) VALUES ($4, $1, $2, $3, $5::smallint, $6, "
                     "CASE WHEN $5 = '1' THEN $6 END, $7::smallint, 'epoch'::timestamptz + "
                     "$8::bigint * interval '1 microsecond', $9) "
                     "ON CONFLICT ON CONSTRAINT grants_resource_subject_key DO UPDATE SET "
                     "level = EXCLUDED.level, expires_at = EXCLUDED.expires_at, "
                     "granted_by = EXCLUDED.granted_by RETURNING g.*) "
                     "SELECT " GRANT_COLS " FROM up g" GRANT_JOINS,
                     9, params, &o->res, err);
    if (rc != RS_OK)
        return rc;
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

static rs_status
validate_grant(struct grant_op *o, struct rs_error *err)
{
    const Roster__Authz__V1__GrantRequest *r = o->req;
    const Google__Protobuf__Timestamp *t = r->expire_time;
    rs_status rc;

    rc = authz_validate_resource(r->resource, false, err);
    if (rc == RS_OK)
        rc = validate_subject(r->subject, err);
    if (rc != RS_OK)
        return rc;
    if (!authz_level_valid((int)r->level)) {
        rs_error_set(err, RS_EINVAL, "GRANT_LEVEL_INVALID",
                     "invalid level %d: expected GRANT_LEVEL_VIEW, GRANT_LEVEL_VIEW_EXPORT or "
                     "GRANT_LEVEL_EDIT",
                     (int)r->level);
        rs_error_meta(err, "field", "level");
        return RS_EINVAL;
    }
    /* Edit is permanent: any expiry is ignored. */
    if (r->level == ROSTER__AUTHZ__V1__GRANT_LEVEL__GRANT_LEVEL_EDIT)
        return RS_OK;
    if (t == NULL) {
        rs_error_set(err, RS_EINVAL, "EXPIRY_REQUIRED",
                     "missing expire_time: view and export grants need an expiry at least "
                     "24 hours ahead");
        rs_error_meta(err, "field", "expire_time");
        return RS_EINVAL;
    }
    if (t->seconds < (int64_t)time(NULL) + EXPIRY_MIN_SECONDS || t->nanos < 0 ||
        t->nanos > 999999999 || t->seconds > INT64_C(253402300799)) {
        rs_error_set(err, RS_EINVAL, "EXPIRY_TOO_SOON",
                     "invalid expire_time: must be at least 24 hours ahead");
        rs_error_meta(err, "field", "expire_time");
        return RS_EINVAL;
    }
    snprintf(o->expires_us, sizeof(o->expires_us), "%lld",
             (long long)t->seconds * 1000000LL + t->nanos / 1000);
    return RS_OK;
}

AUTHZ_HANDLER(authz_grant)
{
    const Roster__Authz__V1__GrantRequest *r = (const Roster__Authz__V1__GrantRequest *)req;
    Roster__Authz__V1__GrantResponse *out;
    struct grant_op o;
    char id[RS_ID_LEN + 1];
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.req = r;
    rs_id_new(id);
    o.grant_id = id;
    rc = validate_grant(&o, err);
    if (rc == RS_OK)
        rc = authz_tx(call, grant_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__grant_response__init(out);
    out->grant = grant_from_row(rs_call_arena(call), o.res, 0);
    if (out->grant == NULL)
        return authz_nomem(err);
    out->revision = o.token;
    *resp = &out->base;
    return RS_OK;
}

static rs_status
revoke_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct grant_op *o = arg;
    struct authz_actor actor;
    const char *params[2] = { o->grant_id, o->org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = authz_query(conn, o->call, "authz.grant_lock", AUTHZ_SQL_GRANT_LOCK, 2, params,
                         &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "GRANT_NOT_FOUND", "grant \"%s\" not found",
                     o->grant_id);
        rs_error_meta(err, "grant_id", o->grant_id);
        return RS_ENOTFOUND;
    }
    rc = check_grantor(conn, o->call, &actor, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), err);
    if (rc == RS_OK)
        rc = authz_query(conn, o->call, "authz.grant_delete", AUTHZ_SQL_GRANT_DELETE, 2,
                         params, &res, err);
    if (rc != RS_OK)
        return rc;
    return authz_bump(conn, o->call, o->org_id, &o->token, err);
}

AUTHZ_HANDLER(authz_revoke)
{
    const Roster__Authz__V1__RevokeRequest *r = (const Roster__Authz__V1__RevokeRequest *)req;
    struct grant_op o;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.grant_id = r->grant_id;
    rc = rs_validate_id("grant_id", r->grant_id, err);
    if (rc == RS_OK)
        rc = authz_tx(call, revoke_body, &o, err);
    if (rc != RS_OK)
        return rc;
    return authz_write_response(call, o.token, resp, err);
}

static rs_status
list_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct grant_op *o = arg;
    const Roster__Authz__V1__ListGrantsRequest *r = o->list;
    struct authz_actor actor;
    char type[4] = "";
    const char *params[6] = { o->org_id, o->page.limit, o->page.after_param,
                              o->page.after.id };
    rs_status rc;

    rc = authz_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc != RS_OK)
        return rc;
    if (r->resource != NULL) {
        params[4] = r->resource->type;
        params[5] = r->resource->id;
        return authz_query(conn, o->call, "authz.grant_list_resource",
                           "SELECT " GRANT_COLS " FROM authz.grants g" GRANT_JOINS
                           "WHERE g.organization_id = $1 AND g.resource_type = $5 "
                           "AND g.resource_id = $6 AND "
                           AUTHZ_PAGE_AFTER("g.created_at", "g.id")
                           " ORDER BY g.created_at, g.id LIMIT $2::int",
                           6, params, &o->res, err);
    }
    snprintf(type, sizeof(type), "%d", (int)r->subject->type);
    params[4] = type;
    params[5] = r->subject->id;
    return authz_query(conn, o->call, "authz.grant_list_subject",
                       "SELECT " GRANT_COLS " FROM authz.grants g" GRANT_JOINS
                       "WHERE g.organization_id = $1 AND g.subject_type = $5::smallint "
                       "AND g.subject_id = $6 AND "
                       AUTHZ_PAGE_AFTER("g.created_at", "g.id")
                       " ORDER BY g.created_at, g.id LIMIT $2::int",
                       6, params, &o->res, err);
}

AUTHZ_HANDLER(authz_list_grants)
{
    const Roster__Authz__V1__ListGrantsRequest *r =
        (const Roster__Authz__V1__ListGrantsRequest *)req;
    Roster__Authz__V1__ListGrantsResponse *out;
    const char *parts[5];
    uint64_t filter;
    struct grant_op o;
    void **items = NULL;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.list = r;
    if ((r->resource == NULL) == (r->subject == NULL)) {
        rs_error_set(err, RS_EINVAL, "LIST_FILTER_INVALID",
                     "invalid filter: set exactly one of resource or subject");
        rs_error_meta(err, "field", "resource");
        return RS_EINVAL;
    }
    rc = r->resource != NULL ? authz_validate_resource(r->resource, false, err)
                             : validate_subject(r->subject, err);
    if (rc == RS_OK)
        rc = authz_validate_min_revision(r->min_revision, err);
    if (rc != RS_OK)
        return rc;
    parts[0] = r->organization_id;
    parts[1] = r->resource != NULL ? "resource" : "subject";
    parts[2] = r->resource != NULL ? r->resource->type : (r->subject->type == 1   ? "1"
                                                          : r->subject->type == 2 ? "2"
                                                          : r->subject->type == 3 ? "3"
                                                                                  : "4");
    parts[3] = r->resource != NULL ? r->resource->id : r->subject->id;
    parts[4] = NULL;
    filter = rs_page_filter_hash("authz.grants", parts, 4);
    rc = authz_page_start(r->page_size, r->page_token, filter, &o.page, err);
    if (rc == RS_OK)
        rc = authz_tx(call, list_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__list_grants_response__init(out);
    rc = authz_page_finish(call, &o.page, o.res, grant_from_row, 0, GRANT_CREATED_COL, &items,
                           &out->n_grants, &out->next_page_token, err);
    if (rc != RS_OK)
        return rc;
    out->grants = (Roster__Authz__V1__WorkGrant **)items;
    *resp = &out->base;
    return RS_OK;
}
