/*
 * services/sync/src/preview.c
 *    What deleting a flagged member or department, or clearing a source,
 *    would remove: Roster users, synced groups, stored nodes, and the
 *    workspace memberships and grants those users and groups hold. The
 *    confirmation token is a SHA-256 of the preview's canonical text, so
 *    any change between preview and confirmation is seen.
 */
#include "dataplane.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "roster/str.h"

static rs_status
not_flagged(struct rs_error *err, const char *kind, const char *id)
{
    rs_error_set(err, RS_EPRECOND, "NODE_NOT_FLAGGED",
                 "%s \"%s\" is not flagged: only a node marked name changed or to be "
                 "deleted can be deleted",
                 kind, id);
    rs_error_meta(err, "external_id", id);
    return RS_EPRECOND;
}

/* Copies column c of every row into a NULL-terminated array from arena. */
static char **
column(rs_arena *arena, const PGresult *res, int c, size_t *n)
{
    char **out = rs_arena_alloc(arena, sizeof(char *) * (size_t)(PQntuples(res) + 1));
    int i;

    if (out == NULL)
        return NULL;
    for (i = 0; i < PQntuples(res); i++) {
        out[i] = rs_arena_strdup(arena, PQgetvalue(res, i, c));
        if (out[i] == NULL)
            return NULL;
    }
    out[i] = NULL;
    *n = (size_t)PQntuples(res);
    return out;
}

static char *
text_array(rs_arena *arena, char *const *items, size_t n)
{
    struct rs_buf b = { 0 };
    char *out;
    size_t i;

    rs_buf_str(&b, "{");
    for (i = 0; i < n; i++)
        rs_buf_elem(&b, items[i]);
    rs_buf_str(&b, "}");
    out = b.oom ? NULL : rs_arena_strdup(arena, b.data);
    rs_buf_free(&b);
    return out;
}

/* The member's user, unless another stored member (of any source) is the
 * same person: then the user stays and only the member row goes. */
static rs_status
member_target(rs_db_conn *conn, rs_arena *arena, const struct sync_dp_source *src,
              const char *userid, struct sync_dp_preview *out, struct rs_error *err)
{
    const char *params[3] = { src->source_id, userid, src->org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_db_query_arena(conn, arena, "sync.preview_member",
                           "SELECT m.flag, coalesce((SELECT u.id FROM identity.users u "
                           " WHERE u.id = m.user_id AND u.organization_id = $3 "
                           " AND NOT EXISTS (SELECT 1 FROM sync.members o "
                           "  WHERE o.user_id = m.user_id AND NOT (o.source_id = m.source_id "
                           "  AND o.userid = m.userid))), '') "
                           "FROM sync.members m WHERE m.source_id = $1 AND m.userid = $2",
                           3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "MEMBER_NOT_FOUND",
                     "member \"%s\" not found in the stored structure of source \"%s\"",
                     userid, src->source_id);
        rs_error_meta(err, "external_id", userid);
        return RS_ENOTFOUND;
    }
    if (atoi(PQgetvalue(res, 0, 0)) == SYNC_FLAG_NONE)
        return not_flagged(err, "member", userid);
    out->msg.member_count = 1;
    if (PQgetvalue(res, 0, 1)[0] != '\0') {
        out->msg.user_ids = rs_arena_alloc(arena, sizeof(char *) * 2);
        if (out->msg.user_ids == NULL)
            return sync_nomem(err);
        out->msg.user_ids[0] = rs_arena_strdup(arena, PQgetvalue(res, 0, 1));
        if (out->msg.user_ids[0] == NULL)
            return sync_nomem(err);
        out->msg.n_user_ids = 1;
    }
    return RS_OK;
}

/* Departments of the subtree (or every department for a clear) and the
 * synced groups mirroring them, deepest first. */
static rs_status
dept_target(rs_db_conn *conn, rs_arena *arena, const struct sync_dp_source *src,
            const char *dept_id, struct sync_dp_preview *out, struct rs_error *err)
{
    char platform[8];
    const char *params[5] = { src->source_id, dept_id, src->org_id, platform, src->corp_id };
    PGresult *res = NULL;
    size_t n = 0;
    rs_status rc;

    snprintf(platform, sizeof(platform), "%d", src->platform);
    if (dept_id != NULL) {
        rc = rs_db_query_arena(conn, arena, "sync.preview_dept",
                               "SELECT flag FROM sync.departments WHERE source_id = $1 "
                               "AND dept_id = $2::bigint",
                               2, params, &res, err);
        if (rc != RS_OK)
            return rc;
        if (PQntuples(res) == 0) {
            rs_error_set(err, RS_ENOTFOUND, "DEPARTMENT_NOT_FOUND",
                         "department %s not found in the stored structure of source \"%s\"",
                         dept_id, src->source_id);
            rs_error_meta(err, "external_id", dept_id);
            return RS_ENOTFOUND;
        }
        if (atoi(PQgetvalue(res, 0, 0)) == SYNC_FLAG_NONE)
            return not_flagged(err, "department", dept_id);
    }
    rc = rs_db_query_arena(
        conn, arena, "sync.preview_groups",
        "WITH RECURSIVE t (dept_id) AS ("
        " SELECT dept_id FROM sync.departments WHERE source_id = $1 "
        " AND ($2::bigint IS NULL OR dept_id = $2::bigint) "
        " UNION SELECT d.dept_id FROM sync.departments d JOIN t ON d.parent_id = t.dept_id "
        " WHERE d.source_id = $1 AND $2::bigint IS NOT NULL) "
        "SELECT g.id, g.sync_department_id, (SELECT count(*) FROM t) "
        "FROM (SELECT 1) AS one LEFT JOIN identity.user_groups g "
        " ON g.organization_id = $3 AND g.sync_platform = $4::smallint "
        " AND g.sync_corp_id = $5 AND ($2::bigint IS NULL OR g.sync_department_id IN "
        " (SELECT dept_id::text FROM t)) "
        /* Deepest first: identity deletes leaves only. */
        "ORDER BY g.depth DESC, g.id",
        5, params, &res, err);
    if (rc != RS_OK)
        return rc;
    out->msg.department_count = atoi(PQgetvalue(res, 0, 2));
    if (PQgetisnull(res, 0, 0))
        return RS_OK;
    out->msg.group_ids = column(arena, res, 0, &out->msg.n_group_ids);
    out->group_depts = column(arena, res, 1, &n);
    if (out->msg.group_ids == NULL || out->group_depts == NULL)
        return sync_nomem(err);
    return RS_OK;
}

static rs_status
invalidated(rs_db_conn *conn, rs_arena *arena, const struct sync_dp_source *src,
            struct sync_dp_preview *out, struct rs_error *err)
{
    const char *params[3];
    PGresult *res = NULL;
    size_t i;
    rs_status rc;

    params[0] = src->org_id;
    params[1] = text_array(arena, out->msg.user_ids, out->msg.n_user_ids);
    params[2] = text_array(arena, out->msg.group_ids, out->msg.n_group_ids);
    if (params[1] == NULL || params[2] == NULL)
        return sync_nomem(err);
    rc = rs_db_query_arena(
        conn, arena, "sync.preview_invalidated",
        "SELECT 'workspace_member', m.workspace_id, '', '', m.principal_id, "
        " array_to_string(m.role_ids, ',') FROM authz.workspace_members m "
        " WHERE m.organization_id = $1 AND ((m.principal_type = 1 "
        " AND m.principal_id = ANY ($2::text[])) OR (m.principal_type = 2 "
        " AND m.principal_id = ANY ($3::text[]))) "
        "UNION ALL SELECT 'grant', r.workspace_id, g.resource_type, g.resource_id, "
        " g.subject_id, g.level::text FROM authz.grants g JOIN authz.resources r "
        " ON r.organization_id = g.organization_id AND r.resource_type = g.resource_type "
        " AND r.resource_id = g.resource_id WHERE g.organization_id = $1 "
        " AND ((g.subject_type = 1 AND g.subject_id = ANY ($2::text[])) "
        " OR (g.subject_type = 2 AND g.subject_id = ANY ($3::text[]))) "
        "ORDER BY 1, 2, 3, 4, 5",
        3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    out->msg.n_invalidated = (size_t)PQntuples(res);
    out->msg.invalidated =
        rs_arena_alloc(arena, sizeof(*out->msg.invalidated) * (out->msg.n_invalidated + 1));
    if (out->msg.invalidated == NULL)
        return sync_nomem(err);
    for (i = 0; i < out->msg.n_invalidated; i++) {
        Roster__Sync__V1__InvalidatedAccess *x = rs_arena_alloc(arena, sizeof(*x));
        int r = (int)i;

        if (x == NULL)
            return sync_nomem(err);
        roster__sync__v1__invalidated_access__init(x);
        x->kind = rs_arena_strdup(arena, PQgetvalue(res, r, 0));
        x->workspace_id = rs_arena_strdup(arena, PQgetvalue(res, r, 1));
        x->resource_type = rs_arena_strdup(arena, PQgetvalue(res, r, 2));
        x->resource_id = rs_arena_strdup(arena, PQgetvalue(res, r, 3));
        x->principal_id = rs_arena_strdup(arena, PQgetvalue(res, r, 4));
        x->detail = rs_arena_strdup(arena, PQgetvalue(res, r, 5));
        if (x->kind == NULL || x->workspace_id == NULL || x->resource_type == NULL ||
            x->resource_id == NULL || x->principal_id == NULL || x->detail == NULL)
            return sync_nomem(err);
        out->msg.invalidated[i] = x;
    }
    return RS_OK;
}

/* base64url(SHA-256(canonical preview)); fields are separated by a unit
 * separator, which no id and no stored name holds. */
static rs_status
make_token(rs_arena *arena, const struct sync_dp_source *src, int target,
           const char *external_id, struct sync_dp_preview *out, struct rs_error *err)
{
    struct rs_buf b = { 0 };
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char token[64];
    size_t i;

    rs_buf_printf(&b, "roster-sync-delete-v1\x1f%s\x1f%d\x1f%s\x1f%d\x1f%d", src->source_id,
                       target, external_id != NULL ? external_id : "",
                       (int)out->msg.member_count, (int)out->msg.department_count);
    for (i = 0; i < out->msg.n_user_ids; i++)
        rs_buf_printf(&b, "\x1eu\x1f%s", out->msg.user_ids[i]);
    for (i = 0; i < out->msg.n_group_ids; i++)
        rs_buf_printf(&b, "\x1eg\x1f%s", out->msg.group_ids[i]);
    for (i = 0; i < out->msg.n_invalidated; i++) {
        const Roster__Sync__V1__InvalidatedAccess *x = out->msg.invalidated[i];

        rs_buf_printf(&b, "\x1ei\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", x->kind,
                           x->workspace_id, x->resource_type, x->resource_id,
                           x->principal_id, x->detail);
    }
    if (b.oom) {
        rs_buf_free(&b);
        return sync_nomem(err);
    }
    SHA256((const unsigned char *)b.data, b.len, digest);
    rs_buf_free(&b);
    if (rs_base64url_encode(digest, sizeof(digest), token, sizeof(token)) != RS_OK)
        return rs_error_set(err, RS_EINTERNAL, "INTERNAL", "could not encode the token");
    out->msg.confirmation_token = rs_arena_strdup(arena, token);
    return out->msg.confirmation_token == NULL ? sync_nomem(err) : RS_OK;
}

rs_status
sync_dp_preview(rs_db_conn *conn, rs_arena *arena, const struct sync_dp_source *src,
                int target, const char *external_id, struct sync_dp_preview *out,
                struct rs_error *err)
{
    rs_status rc;

    memset(out, 0, sizeof(*out));
    roster__sync__v1__delete_preview__init(&out->msg);
    if (target == SYNC_DP_MEMBER) {
        if (external_id == NULL || external_id[0] == '\0' || strlen(external_id) > 64)
            return sync_field_invalid(err, "external_id", "expected a DingTalk userid");
        rc = member_target(conn, arena, src, external_id, out, err);
    } else if (target == SYNC_DP_DEPARTMENT) {
        /* Digits only, no sign or leading zero, within bigint: the id as DingTalk writes it. */
        size_t len = external_id != NULL ? strlen(external_id) : 0;

        if (len == 0 || len > 18 || external_id[0] == '0'
            || strspn(external_id, "0123456789") != len)
            return sync_field_invalid(err, "external_id", "expected a department id");
        rc = dept_target(conn, arena, src, external_id, out, err);
    } else {
        rc = dept_target(conn, arena, src, NULL, out, err);
        if (rc == RS_OK) {
            const char *params[1] = { src->source_id };
            PGresult *res = NULL;

            rc = rs_db_query_arena(conn, arena, "sync.preview_clear_members",
                                   "SELECT count(*) FROM sync.members WHERE source_id = $1",
                                   1, params, &res, err);
            if (rc == RS_OK)
                out->msg.member_count = atoi(PQgetvalue(res, 0, 0));
        }
    }
    if (rc == RS_OK && out->msg.user_ids == NULL)
        out->msg.user_ids = rs_arena_alloc(arena, sizeof(char *));
    if (rc == RS_OK && out->msg.group_ids == NULL) {
        out->msg.group_ids = rs_arena_alloc(arena, sizeof(char *));
        out->group_depts = rs_arena_alloc(arena, sizeof(char *));
    }
    if (rc == RS_OK && (out->msg.user_ids == NULL || out->msg.group_ids == NULL ||
                        out->group_depts == NULL))
        rc = sync_nomem(err);
    if (rc == RS_OK)
        rc = invalidated(conn, arena, src, out, err);
    if (rc == RS_OK)
        rc = make_token(arena, src, target, external_id, out, err);
    return rc;
}
