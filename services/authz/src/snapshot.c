/*
 * services/authz/src/snapshot.c
 *    Loading an organisation's snapshot: every row a decision needs, read
 *    in one REPEATABLE READ transaction so that the rows and the revision
 *    read with them are one consistent cut.
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"
#include "roster/clock.h"
#include "roster/log.h"

/* Rows fetched per round trip from the large tables. */
#define LOAD_FETCH_ROWS "20000"

struct load_ctx {
    const char *org_id;
    struct snap_builder *b;
};

typedef rs_status (*row_fn)(struct snap_builder *b, const PGresult *res, int row);

static int64_t
col_int64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *
col_str(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

/*
 * Runs sql ($1 = the organisation) through a cursor, LOAD_FETCH_ROWS rows
 * at a time, so that a million grants never sit in one PGresult.
 */
static rs_status
load_rows(rs_db_conn *conn, struct load_ctx *ctx, const char *stmt, const char *sql, row_fn fn,
          struct rs_error *err)
{
    const char *params[1] = { ctx->org_id };
    char *declare = NULL;
    PGresult *res = NULL;
    rs_status rc;
    size_t len = strlen(sql) + 64;
    int i, n;

    declare = rs_malloc(len);
    if (declare == NULL)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    snprintf(declare, len, "DECLARE authz_load NO SCROLL CURSOR FOR %s", sql);
    rc = rs_db_query(conn, stmt, declare, 1, params, NULL, err);
    if (rc != RS_OK)
        goto out;
    do {
        rc = rs_db_query(conn, stmt, "FETCH " LOAD_FETCH_ROWS " FROM authz_load", 0, NULL, &res,
                         err);
        if (rc != RS_OK)
            goto out;
        n = PQntuples(res);
        for (i = 0; i < n; i++) {
            rc = fn(ctx->b, res, i);
            if (rc != RS_OK) {
                rs_error_set(err, rc, "OUT_OF_MEMORY", "out of memory while loading a snapshot");
                goto out;
            }
        }
        PQclear(res);
        res = NULL;
    } while (n > 0);
    rc = rs_db_query(conn, stmt, "CLOSE authz_load", 0, NULL, NULL, err);
out:
    PQclear(res);
    rs_free(declare);
    return rc;
}

static rs_status
row_user(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_user(b, col_str(res, r, 0), (int)col_int64(res, r, 1),
                         strcmp(col_str(res, r, 2), "t") == 0);
}

static rs_status
row_group(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_group(b, col_str(res, r, 0), col_str(res, r, 1));
}

static rs_status
row_group_member(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_group_member(b, col_str(res, r, 0), col_str(res, r, 1));
}

static rs_status
row_user_role(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_user_org_role(b, col_str(res, r, 0), col_int64(res, r, 1));
}

static rs_status
row_role_key(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_org_role_key(b, col_int64(res, r, 0), col_str(res, r, 1));
}

static rs_status
row_workspace(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_workspace(b, col_str(res, r, 0), (int)col_int64(res, r, 1),
                              col_str(res, r, 2));
}

static rs_status
row_ws_role(struct snap_builder *b, const PGresult *res, int r)
{
    struct authz_ws_perms perms;

    /* A row the service wrote always parses; anything else grants nothing. */
    if (!authz_ws_perms_from_json(col_str(res, r, 1), &perms))
        memset(&perms, 0, sizeof(perms));
    perms.manages_members = strcmp(col_str(res, r, 2), "t") == 0;
    return snap_add_ws_role(b, col_int64(res, r, 0), &perms);
}

/* role_ids arrive as a PostgreSQL array literal, "{25,1001}". */
static rs_status
row_member(struct snap_builder *b, const PGresult *res, int r)
{
    int64_t roles[64];
    const char *p = col_str(res, r, 3);
    size_t n = 0;

    while (*p != '\0' && n < sizeof(roles) / sizeof(roles[0])) {
        char *end;
        long long v;

        if (*p < '0' || *p > '9') {
            p++;
            continue;
        }
        v = strtoll(p, &end, 10);
        roles[n++] = v;
        p = end;
    }
    return snap_add_member(b, col_str(res, r, 0), (int)col_int64(res, r, 1), col_str(res, r, 2),
                           roles, n);
}

static rs_status
row_resource(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_resource(b, col_str(res, r, 0), col_str(res, r, 1), col_str(res, r, 2),
                             col_str(res, r, 3));
}

static rs_status
row_grant(struct snap_builder *b, const PGresult *res, int r)
{
    return snap_add_grant(b, col_str(res, r, 0), col_str(res, r, 1), col_str(res, r, 2),
                          (int)col_int64(res, r, 3), col_str(res, r, 4),
                          (int)col_int64(res, r, 5), col_int64(res, r, 6));
}

static rs_status
row_ceiling(struct snap_builder *b, const PGresult *res, int r)
{
    snap_set_ceiling(b, (int)col_int64(res, r, 0), col_str(res, r, 1), (int)col_int64(res, r, 2));
    return RS_OK;
}

struct load_step {
    const char *stmt;
    const char *sql;
    row_fn fn;
};

/*
 * Grants already expired are left out; the others keep their expiry, which
 * every check compares with its own clock.
 */
static const struct load_step load_steps[] = {
    { "authz_load_users",
      "SELECT id, user_type, enabled FROM identity.users WHERE organization_id = $1", row_user },
    { "authz_load_groups",
      "SELECT id, parent_id FROM identity.user_groups WHERE organization_id = $1", row_group },
    { "authz_load_group_members",
      "SELECT m.group_id, m.user_id FROM identity.user_group_members m "
      "JOIN identity.user_groups g ON g.id = m.group_id WHERE g.organization_id = $1",
      row_group_member },
    { "authz_load_user_roles",
      "SELECT user_id, role_id FROM authz.user_org_roles WHERE organization_id = $1",
      row_user_role },
    { "authz_load_role_keys",
      "SELECT r.id, k.key FROM authz.org_roles r CROSS JOIN LATERAL unnest(r.auth_keys) AS k (key) "
      "WHERE r.organization_id = $1",
      row_role_key },
    { "authz_load_workspaces",
      "SELECT id, mode, owner_user_id FROM authz.workspaces WHERE organization_id = $1",
      row_workspace },
    { "authz_load_ws_roles",
      "SELECT id, permissions::text, manages_members FROM authz.workspace_roles "
      "WHERE organization_id = $1",
      row_ws_role },
    { "authz_load_members",
      "SELECT workspace_id, principal_type, principal_id, role_ids::text "
      "FROM authz.workspace_members WHERE organization_id = $1",
      row_member },
    { "authz_load_resources",
      "SELECT resource_type, resource_id, workspace_id, owner_user_id FROM authz.resources "
      "WHERE organization_id = $1",
      row_resource },
    { "authz_load_grants",
      "SELECT id, resource_type, resource_id, subject_type, subject_id, level, "
      "coalesce((extract(epoch from expires_at) * 1000000)::bigint, 0) "
      "FROM authz.grants WHERE organization_id = $1 "
      "AND (expires_at IS NULL OR expires_at > now())",
      row_grant },
    { "authz_load_ceilings",
      "SELECT user_type, resource_type, max_level FROM authz.type_ceilings "
      "WHERE $1::text IS NOT NULL",
      row_ceiling },
};

static rs_status
load_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct load_ctx *ctx = arg;
    const char *params[1] = { ctx->org_id };
    PGresult *res = NULL;
    rs_status rc;
    size_t i;

    /* The transaction may run again after a serialization failure: start clean. */
    snap_builder_destroy(ctx->b);
    ctx->b = snap_builder_create(ctx->org_id);
    if (ctx->b == NULL)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");

    rc = rs_db_query(conn, "authz_load_org",
                     "SELECT o.owner_user_id, coalesce(r.revision, 0) "
                     "FROM identity.organizations o "
                     "LEFT JOIN authz.org_revisions r ON r.organization_id = o.id "
                     "WHERE o.id = $1",
                     1, params, &res, err);
    if (rc != RS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = rs_error_set(err, RS_ENOTFOUND, "ORGANIZATION_NOT_FOUND",
                          "organization \"%s\" not found", ctx->org_id);
        goto out;
    }
    if (snap_add_owner(ctx->b, col_str(res, 0, 0)) != RS_OK ||
        snap_add_revision(ctx->b, col_int64(res, 0, 1)) != RS_OK) {
        rc = rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
        goto out;
    }
    for (i = 0; i < sizeof(load_steps) / sizeof(load_steps[0]); i++) {
        rc = load_rows(conn, ctx, load_steps[i].stmt, load_steps[i].sql, load_steps[i].fn, err);
        if (rc != RS_OK)
            goto out;
    }
out:
    PQclear(res);
    return rc;
}

rs_status
snap_load(rs_db_pool *pool, const char *org_id, struct authz_snapshot **out,
          struct rs_error *err)
{
    struct load_ctx ctx = { .org_id = org_id, .b = NULL };
    rs_status rc;

    *out = NULL;
    rc = rs_db_tx(pool, RS_DB_REPEATABLE_READ, 0, load_tx, &ctx, err);
    if (rc == RS_OK)
        rc = snap_builder_build(ctx.b, out, err);
    snap_builder_destroy(ctx.b);
    if (rc == RS_OK)
        (*out)->loaded_us = rs_clock_us();
    return rc;
}
