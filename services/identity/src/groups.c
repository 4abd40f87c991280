/*
 * services/identity/src/groups.c
 *    The user group tree: create, get, list children, rename, move, delete.
 *    Structure changes of one organisation are serialised by an advisory
 *    lock, so depth and cycle checks see a tree no other transaction changes.
 */
#include "identity_int.h"

#include <stdio.h>
#include <string.h>

#include "lookups.h"
#include "roster/str.h"
#include "validate.h"

#define IDENTITY_GROUP_DEPTH_MAX 5

rs_status
identity_lock_group_tree(rs_db_conn *conn, const char *org_id, struct rs_error *err)
{
    const char *params[1] = { org_id };

    return rs_db_query(conn, "identity.group_tree_lock",
                       "SELECT pg_advisory_xact_lock("
                       "hashtextextended('identity.user_groups:' || $1, 0))",
                       1, params, NULL, err);
}

rs_status
identity_load_group(rs_db_conn *conn, rs_arena *arena, const char *org_id,
                    const char *group_id, bool for_update,
                    Roster__Identity__V1__UserGroup **out, struct rs_error *err)
{
    const char *params[2] = { group_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_db_query_arena(conn, arena, "identity.group_get",
                           for_update ? IDENTITY_SQL_GROUP_GET_NO_KEY_UPDATE
                                      : IDENTITY_SQL_GROUP_GET,
                           2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return identity_group_not_found(org_id, group_id, err);
    *out = identity_group_from_row(arena, res, 0);
    return *out == NULL ? identity_nomem(err) : RS_OK;
}

rs_status
identity_group_not_found(const char *org_id, const char *group_id, struct rs_error *err)
{
    rs_error_set(err, RS_ENOTFOUND, "GROUP_NOT_FOUND",
                 "user group \"%s\" not found in organization \"%s\"", group_id, org_id);
    rs_error_meta(err, "group_id", group_id);
    return RS_ENOTFOUND;
}

rs_status
identity_group_writable(struct rs_call *call, const char *group_id, bool synced,
                        struct rs_error *err)
{
    if (!synced || rs_call_has_scope(call, "sync"))
        return RS_OK;
    rs_error_set(err, RS_EPRECOND, "GROUP_SYNCHRONIZED",
                 "user group \"%s\" is synchronized from office software and changes only "
                 "through directory sync",
                 group_id);
    rs_error_meta(err, "group_id", group_id);
    return RS_EPRECOND;
}

rs_status
identity_check_group_writable(struct rs_call *call, const Roster__Identity__V1__UserGroup *g,
                              struct rs_error *err)
{
    return identity_group_writable(call, g->group_id, g->sync_source != NULL, err);
}

/* Rejects a name that a sibling under parent_id ("" for roots) already has. */
static rs_status
check_sibling_name(rs_db_conn *conn, rs_arena *arena, const char *org_id,
                   const char *parent_id, const char *name, const char *self_id,
                   struct rs_error *err)
{
    const char *params[4] = { org_id, parent_id, name, self_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_db_query_arena(conn, arena, "identity.group_name_taken",
                           "SELECT 1 FROM identity.user_groups WHERE organization_id = $1 "
                           "AND coalesce(parent_id, '') = $2 AND name = $3 "
                           "AND id IS DISTINCT FROM $4",
                           4, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return RS_OK;
    return identity_group_name_taken(name, err);
}

rs_status
identity_group_name_taken(const char *name, struct rs_error *err)
{
    rs_error_set(err, RS_EEXIST, "GROUP_NAME_TAKEN",
                 "a user group named \"%s\" already exists under the same parent", name);
    rs_error_meta(err, "name", name);
    return RS_EEXIST;
}

static rs_status
depth_exceeded(struct rs_error *err, int depth)
{
    rs_error_set(err, RS_EPRECOND, "GROUP_DEPTH_EXCEEDED",
                 "user groups nest at most %d levels; this change needs %d",
                 IDENTITY_GROUP_DEPTH_MAX, depth);
    return RS_EPRECOND;
}

rs_status
identity_check_group_parent(struct rs_call *call, const Roster__Identity__V1__UserGroup *parent,
                            int *depth, struct rs_error *err)
{
    rs_status rc;

    rc = identity_check_group_writable(call, parent, err);
    if (rc != RS_OK)
        return rc;
    *depth = parent->depth + 1;
    if (*depth > IDENTITY_GROUP_DEPTH_MAX)
        return depth_exceeded(err, *depth);
    return RS_OK;
}

static rs_status
validate_sync_source(struct rs_call *call, const Roster__Identity__V1__SyncSource *src,
                     struct rs_error *err)
{
    rs_status rc;

    if (!rs_call_has_scope(call, "sync"))
        return rs_error_set(err, RS_EPERM, "SYNC_SCOPE_REQUIRED",
                            "only a service token with the \"sync\" scope may set "
                            "sync_source");
    rc = identity_validate_platform("sync_source.platform", src->platform, err);
    if (rc == RS_OK)
        rc = identity_validate_text("sync_source.corp_id", src->corp_id,
                                    IDENTITY_EXTERNAL_ID_MAX, false, "SYNC_SOURCE_INVALID",
                                    err);
    if (rc == RS_OK)
        rc = identity_validate_text("sync_source.department_id", src->department_id,
                                    IDENTITY_EXTERNAL_ID_MAX, false, "SYNC_SOURCE_INVALID",
                                    err);
    return rc;
}

static rs_status
validate_name_description(const char *name, const char *description, struct rs_error *err)
{
    rs_status rc;

    rc = identity_validate_text("name", name, IDENTITY_GROUP_NAME_MAX, false,
                                "GROUP_NAME_INVALID", err);
    if (rc != RS_OK)
        return rc;
    /* As for nicknames, so two sibling names cannot differ only in invisible characters. */
    if (rs_utf8_has_invisible(name, strlen(name)) || rs_utf8_has_outer_space(name, strlen(name))) {
        rs_error_set(err, RS_EINVAL, "GROUP_NAME_INVALID",
                     "name must not contain invisible format characters or start or end "
                     "with white space");
        rs_error_meta(err, "field", "name");
        return RS_EINVAL;
    }
    return identity_validate_text("description", description, IDENTITY_GROUP_DESC_MAX, true,
                                  "GROUP_DESCRIPTION_INVALID", err);
}

rs_status
identity_insert_group(rs_db_conn *conn, struct rs_call *call,
                      const Roster__Identity__V1__CreateUserGroupRequest *req,
                      const char *creator_id, const char *new_id,
                      Roster__Identity__V1__UserGroup **out, struct rs_error *err)
{
    const Roster__Identity__V1__SyncSource *src = req->sync_source;
    rs_arena *arena = rs_call_arena(call);
    Roster__Identity__V1__UserGroup *parent = NULL;
    const char *params[10];
    int depth = 1;
    rs_status rc;

    if (req->parent_group_id[0] != '\0') {
        rc = identity_load_group(conn, arena, req->organization_id, req->parent_group_id,
                                 true, &parent, err);
        if (rc == RS_OK)
            rc = identity_check_group_parent(call, parent, &depth, err);
        if (rc != RS_OK)
            return rc;
    }
    rc = check_sibling_name(conn, arena, req->organization_id, req->parent_group_id,
                            req->name, NULL, err);
    if (rc != RS_OK)
        return rc;
    params[0] = new_id;
    params[1] = req->organization_id;
    params[2] = parent != NULL ? parent->group_id : NULL;
    params[3] = req->name;
    params[4] = req->description;
    params[5] = identity_int_param(arena, depth);
    params[6] = src != NULL ? identity_int_param(arena, src->platform) : NULL;
    params[7] = src != NULL ? src->corp_id : NULL;
    params[8] = src != NULL ? src->department_id : NULL;
    params[9] = creator_id;
    rc = rs_db_query_arena(conn, arena, "identity.group_insert",
                           "INSERT INTO identity.user_groups (id, organization_id, parent_id, "
                           "name, description, depth, sync_platform, sync_corp_id, "
                           "sync_department_id, creator_user_id) "
                           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                           10, params, NULL, err);
    if (rc != RS_OK) {
        if (identity_sqlstate_is(err, "23505"))
            return identity_group_name_taken(req->name, err);
        return rc;
    }
    /* Read back in a new statement: group_path() must see the inserted row. */
    return identity_load_group(conn, arena, req->organization_id, new_id, false, out, err);
}

rs_status
identity_validate_new_group(struct rs_call *call,
                            const Roster__Identity__V1__CreateUserGroupRequest *req,
                            struct rs_error *err)
{
    rs_status rc = RS_OK;

    if (req->parent_group_id[0] != '\0')
        rc = rs_validate_id("parent_group_id", req->parent_group_id, err);
    if (rc == RS_OK)
        rc = validate_name_description(req->name, req->description, err);
    if (rc == RS_OK && req->sync_source != NULL)
        rc = validate_sync_source(call, req->sync_source, err);
    return rc;
}

struct group_op {
    struct rs_call *call;
    const void *req;
    char new_id[RS_ID_LEN + 1];
    Roster__Identity__V1__UserGroup *group;
};

static rs_status
create_group_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct group_op *op = arg;
    const Roster__Identity__V1__CreateUserGroupRequest *req = op->req;
    struct identity_actor actor;
    rs_status rc;

    rc = identity_authorize(conn, op->call, req->organization_id, IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc == RS_OK)
        rc = identity_lock_group_tree(conn, req->organization_id, err);
    if (rc != RS_OK)
        return rc;
    return identity_insert_group(conn, op->call, req, actor.user_id, op->new_id, &op->group,
                                 err);
}

rs_status
identity_create_user_group(struct rs_call *call, const ProtobufCMessage *msg,
                           ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__CreateUserGroupRequest *req = (const void *)msg;
    struct group_op op;
    rs_status rc;

    memset(&op, 0, sizeof(op));
    op.call = call;
    op.req = req;
    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_call_name_normalize(call, &req->name, err);
    if (rc == RS_OK)
        rc = identity_validate_new_group(call, req, err);
    if (rc != RS_OK)
        return rc;
    rs_id_new(op.new_id);
    rc = identity_tx(call, req->organization_id, create_group_tx, &op, err);
    if (rc != RS_OK)
        return rc;
    *resp = &op.group->base;
    return RS_OK;
}

rs_status
identity_get_user_group(struct rs_call *call, const ProtobufCMessage *msg,
                        ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__GetUserGroupRequest *req = (const void *)msg;
    Roster__Identity__V1__UserGroup *group = NULL;
    struct identity_actor actor;
    rs_db_conn *conn = NULL;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("group_id", req->group_id, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc == RS_OK)
        rc = identity_load_group(conn, rs_call_arena(call), req->organization_id,
                                 req->group_id, false, &group, err);
    if (rc == RS_OK)
        *resp = &group->base;
    rs_db_release(identity_pool(call), conn);
    return rc;
}

rs_status
identity_list_user_groups(struct rs_call *call, const ProtobufCMessage *msg,
                          ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__ListUserGroupsRequest *req = (const void *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Identity__V1__ListUserGroupsResponse *out = NULL;
    Roster__Identity__V1__UserGroup *parent = NULL;
    struct rs_page_key key;
    struct identity_actor actor;
    const char *filter_parts[2];
    const char *params[5];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    uint64_t filter;
    int page_size;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK && req->parent_group_id[0] != '\0')
        rc = rs_validate_id("parent_group_id", req->parent_group_id, err);
    if (rc == RS_OK)
        rc = rs_page_size(req->page_size, &page_size, err);
    if (rc != RS_OK)
        return rc;
    params[0] = req->organization_id;
    params[1] = req->parent_group_id;
    params[2] = NULL;
    params[3] = NULL;
    params[4] = identity_int_param(arena, (long long)page_size + 1);
    filter_parts[0] = req->organization_id;
    filter_parts[1] = req->parent_group_id;
    filter = rs_page_filter_hash("groups", filter_parts, 2);
    if (req->page_token[0] != '\0') {
        rc = rs_page_token_decode(req->page_token, filter, &key, err);
        if (rc != RS_OK)
            return rc;
        params[2] = identity_int_param(arena, key.created_us);
        params[3] = rs_arena_strdup(arena, key.id);
    }

    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc == RS_OK && req->parent_group_id[0] != '\0')
        rc = identity_load_group(conn, arena, req->organization_id, req->parent_group_id,
                                 false, &parent, err);
    if (rc != RS_OK)
        goto out;
    rc = rs_db_query_arena(conn, arena, "identity.group_list",
                           "SELECT " IDENTITY_GROUP_COLS " FROM identity.user_groups g "
                           "WHERE g.organization_id = $1 AND coalesce(g.parent_id, '') = $2 "
                           "AND ($3::bigint IS NULL OR (g.created_at, g.id) > "
                           "('epoch'::timestamptz + $3::bigint * interval '1 microsecond', "
                           "$4::text)) "
                           "ORDER BY g.created_at, g.id LIMIT $5",
                           5, params, &res, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL) {
        rc = identity_nomem(err);
        goto out;
    }
    roster__identity__v1__list_user_groups_response__init(out);
    rc = rs_page_rows(arena, res, page_size, rs_call_max_message_bytes(call),
                      identity_group_row, 0, IDENTITY_GROUP_CREATED_COL, filter,
                      (void ***)&out->groups, &out->n_groups, &out->next_page_token, err);
    if (rc == RS_OK)
        *resp = &out->base;
out:
    rs_db_release(identity_pool(call), conn);
    return rc;
}

static rs_status
rename_group_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct group_op *op = arg;
    const Roster__Identity__V1__RenameUserGroupRequest *req = op->req;
    rs_arena *arena = rs_call_arena(op->call);
    Roster__Identity__V1__UserGroup *cur = NULL;
    struct identity_actor actor;
    const char *params[3];
    rs_status rc;

    rc = identity_authorize(conn, op->call, req->organization_id, IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc == RS_OK)
        rc = identity_lock_group_tree(conn, req->organization_id, err);
    if (rc == RS_OK)
        rc = identity_load_group(conn, arena, req->organization_id, req->group_id, true,
                                 &cur, err);
    if (rc == RS_OK)
        rc = identity_check_group_writable(op->call, cur, err);
    if (rc == RS_OK)
        rc = check_sibling_name(conn, arena, req->organization_id, cur->parent_group_id,
                                req->name, req->group_id, err);
    if (rc != RS_OK)
        return rc;
    params[0] = req->group_id;
    params[1] = req->name;
    params[2] = req->description;
    rc = rs_db_query_arena(conn, arena, "identity.group_rename",
                           "UPDATE identity.user_groups SET name = $2, description = $3 "
                           "WHERE id = $1",
                           3, params, NULL, err);
    if (rc != RS_OK)
        return rc;
    return identity_load_group(conn, arena, req->organization_id, req->group_id, false,
                               &op->group, err);
}

rs_status
identity_rename_user_group(struct rs_call *call, const ProtobufCMessage *msg,
                           ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__RenameUserGroupRequest *req = (const void *)msg;
    struct group_op op;
    rs_status rc;

    memset(&op, 0, sizeof(op));
    op.call = call;
    op.req = req;
    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("group_id", req->group_id, err);
    if (rc == RS_OK)
        rc = rs_call_name_normalize(call, &req->name, err);
    if (rc == RS_OK)
        rc = validate_name_description(req->name, req->description, err);
    if (rc == RS_OK)
        rc = identity_tx(call, req->organization_id, rename_group_tx, &op, err);
    if (rc != RS_OK)
        return rc;
    *resp = &op.group->base;
    return RS_OK;
}

static rs_status
move_group_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct group_op *op = arg;
    const Roster__Identity__V1__MoveUserGroupRequest *req = op->req;
    rs_arena *arena = rs_call_arena(op->call);
    Roster__Identity__V1__UserGroup *cur = NULL;
    Roster__Identity__V1__UserGroup *parent = NULL;
    struct identity_actor actor;
    const char *params[2];
    const char *depth_params[2];
    PGresult *res = NULL;
    int new_depth = 1;
    int height;
    rs_status rc;

    rc = identity_authorize(conn, op->call, req->organization_id, IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc == RS_OK)
        rc = identity_lock_group_tree(conn, req->organization_id, err);
    if (rc == RS_OK)
        rc = identity_load_group(conn, arena, req->organization_id, req->group_id, true,
                                 &cur, err);
    if (rc == RS_OK)
        rc = identity_check_group_writable(op->call, cur, err);
    if (rc != RS_OK)
        return rc;
    if (req->new_parent_group_id[0] != '\0') {
        rc = identity_load_group(conn, arena, req->organization_id, req->new_parent_group_id,
                                 true, &parent, err);
        if (rc == RS_OK)
            rc = identity_check_group_writable(op->call, parent, err);
        if (rc != RS_OK)
            return rc;
        new_depth = parent->depth + 1;
    }
    /* Height of the moved subtree, and whether the new parent lies inside it. */
    params[0] = req->group_id;
    params[1] = req->new_parent_group_id;
    rc = rs_db_query_arena(conn, arena, "identity.group_subtree",
                           "WITH RECURSIVE sub (id, rel) AS ("
                           " SELECT id, 0 FROM identity.user_groups WHERE id = $1"
                           " UNION ALL"
                           " SELECT g.id, sub.rel + 1 FROM identity.user_groups g"
                           " JOIN sub ON g.parent_id = sub.id WHERE sub.rel < 16)"
                           " SELECT max(rel), bool_or(id = $2) FROM sub",
                           2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    height = (int)identity_col_int64(res, 0, 0);
    if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        rs_error_set(err, RS_EPRECOND, "GROUP_CYCLE",
                     "cannot move user group \"%s\" under itself or one of its descendants",
                     req->group_id);
        rs_error_meta(err, "group_id", req->group_id);
        return RS_EPRECOND;
    }
    if (new_depth + height > IDENTITY_GROUP_DEPTH_MAX)
        return depth_exceeded(err, new_depth + height);
    rc = check_sibling_name(conn, arena, req->organization_id, req->new_parent_group_id,
                            cur->name, req->group_id, err);
    if (rc != RS_OK)
        return rc;
    params[1] = parent != NULL ? parent->group_id : NULL;
    depth_params[0] = req->group_id;
    depth_params[1] = identity_int_param(arena, new_depth);
    rc = rs_db_query_arena(conn, arena, "identity.group_move",
                           "UPDATE identity.user_groups SET parent_id = $2 WHERE id = $1", 2,
                           params, NULL, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query_arena(conn, arena, "identity.group_redepth",
                           "WITH RECURSIVE sub (id, rel) AS ("
                           " SELECT id, 0 FROM identity.user_groups WHERE id = $1"
                           " UNION ALL"
                           " SELECT g.id, sub.rel + 1 FROM identity.user_groups g"
                           " JOIN sub ON g.parent_id = sub.id WHERE sub.rel < 16)"
                           " UPDATE identity.user_groups g SET depth = $2::int + sub.rel"
                           " FROM sub WHERE g.id = sub.id",
                           2, depth_params, NULL, err);
    if (rc != RS_OK)
        return rc;
    return identity_load_group(conn, arena, req->organization_id, req->group_id, false,
                               &op->group, err);
}

rs_status
identity_move_user_group(struct rs_call *call, const ProtobufCMessage *msg,
                         ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__MoveUserGroupRequest *req = (const void *)msg;
    struct group_op op;
    rs_status rc;

    memset(&op, 0, sizeof(op));
    op.call = call;
    op.req = req;
    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("group_id", req->group_id, err);
    if (rc == RS_OK && req->new_parent_group_id[0] != '\0')
        rc = rs_validate_id("new_parent_group_id", req->new_parent_group_id, err);
    if (rc == RS_OK)
        rc = identity_tx(call, req->organization_id, move_group_tx, &op, err);
    if (rc != RS_OK)
        return rc;
    *resp = &op.group->base;
    return RS_OK;
}

static rs_status
delete_group_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct group_op *op = arg;
    const Roster__Identity__V1__DeleteUserGroupRequest *req = op->req;
    rs_arena *arena = rs_call_arena(op->call);
    Roster__Identity__V1__UserGroup *cur = NULL;
    struct identity_actor actor;
    const char *params[1] = { req->group_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = identity_authorize(conn, op->call, req->organization_id, IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc == RS_OK)
        rc = identity_lock_group_tree(conn, req->organization_id, err);
    if (rc == RS_OK)
        rc = identity_load_group(conn, arena, req->organization_id, req->group_id, true,
                                 &cur, err);
    if (rc == RS_OK)
        rc = identity_check_group_writable(op->call, cur, err);
    if (rc != RS_OK)
        return rc;
    if (strcmp(cur->creator_user_id, actor.user_id) != 0 &&
        strcmp(actor.owner_id, actor.user_id) != 0) {
        rs_error_set(err, RS_EPERM, "NOT_GROUP_CREATOR",
                     "only the creator of user group \"%s\" or the organization owner may "
                     "delete it",
                     req->group_id);
        rs_error_meta(err, "group_id", req->group_id);
        return RS_EPERM;
    }
    rc = rs_db_query_arena(conn, arena, "identity.group_children",
                           "SELECT 1 FROM identity.user_groups WHERE parent_id = $1 LIMIT 1",
                           1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) > 0) {
        rs_error_set(err, RS_EPRECOND, "GROUP_HAS_CHILDREN",
                     "cannot delete user group \"%s\": it has child groups", req->group_id);
        rs_error_meta(err, "group_id", req->group_id);
        return RS_EPRECOND;
    }
    /* Memberships go with the row (ON DELETE CASCADE). */
    return rs_db_query_arena(conn, arena, "identity.group_delete",
                             "DELETE FROM identity.user_groups WHERE id = $1", 1, params, NULL,
                             err);
}

rs_status
identity_delete_user_group(struct rs_call *call, const ProtobufCMessage *msg,
                           ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__DeleteUserGroupRequest *req = (const void *)msg;
    Roster__Identity__V1__DeleteUserGroupResponse *out;
    struct group_op op;
    rs_status rc;

    memset(&op, 0, sizeof(op));
    op.call = call;
    op.req = req;
    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("group_id", req->group_id, err);
    if (rc == RS_OK)
        rc = identity_tx(call, req->organization_id, delete_group_tx, &op, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return identity_nomem(err);
    roster__identity__v1__delete_user_group_response__init(out);
    out->group_id = (char *)req->group_id;
    *resp = &out->base;
    return RS_OK;
}
