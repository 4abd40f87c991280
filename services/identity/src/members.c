/*
 * services/identity/src/members.c
 *    Group membership: add and remove batches of users, list the members of
 *    a group and the groups of a user.
 */
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookups.h"
#include "roster/str.h"
#include "validate.h"

struct members_op {
    struct rs_call *call;
    const Roster__Identity__V1__UserGroupMembersRequest *req;
    bool add;
    const char *ids; /* PostgreSQL array literal of the validated ids */
    Roster__Identity__V1__UserGroupMembersResponse *resp;
};

/*
 * Builds "{id,id,...}" from ids that are already validated as 32 hex digits,
 * so no element needs quoting. The literal is still sent as a parameter.
 */
static char *
id_array_literal(rs_arena *arena, char *const *ids, size_t n)
{
    char *buf = rs_arena_alloc(arena, n * (RS_ID_LEN + 1) + 2);
    char *p = buf;
    size_t i;

    if (buf == NULL)
        return NULL;
    *p++ = '{';
    for (i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        memcpy(p, ids[i], RS_ID_LEN);
        p += RS_ID_LEN;
    }
    *p++ = '}';
    *p = '\0';
    return buf;
}

static rs_status
members_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct members_op *op = arg;
    const Roster__Identity__V1__UserGroupMembersRequest *req = op->req;
    rs_arena *arena = rs_call_arena(op->call);
    Roster__Identity__V1__UserGroup *group = NULL;
    struct identity_actor actor;
    const char *params[2];
    PGresult *res = NULL;
    rs_status rc;

    rc = identity_authorize(conn, op->call, req->organization_id, IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc == RS_OK)
        rc = identity_load_group(conn, arena, req->organization_id, req->group_id, true,
                                 &group, err);
    if (rc == RS_OK)
        rc = identity_check_group_writable(op->call, group, err);
    if (rc != RS_OK)
        return rc;

    /* Share-lock the users so none is deleted between this check and the insert. */
    params[0] = req->organization_id;
    params[1] = op->ids;
    rc = rs_db_query_arena(conn, arena, "identity.members_lock_users",
                           IDENTITY_SQL_MEMBERS_LOCK_USERS, 2, params, NULL, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query_arena(conn, arena, "identity.members_missing_user",
                           IDENTITY_SQL_MEMBERS_MISSING_USER, 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) > 0) {
        rs_error_set(err, RS_ENOTFOUND, "USER_NOT_FOUND",
                     "user \"%s\" not found in organization \"%s\"; no membership changed",
                     PQgetvalue(res, 0, 0), req->organization_id);
        rs_error_meta(err, "user_id", PQgetvalue(res, 0, 0));
        return RS_ENOTFOUND;
    }

    params[0] = req->group_id;
    if (op->add)
        rc = rs_db_query_arena(conn, arena, "identity.members_add",
                               "INSERT INTO identity.user_group_members (group_id, user_id) "
                               "SELECT DISTINCT $1::text, x FROM unnest($2::text[]) AS x "
                               "ON CONFLICT DO NOTHING",
                               2, params, &res, err);
    else
        rc = rs_db_query_arena(conn, arena, "identity.members_remove",
                               "DELETE FROM identity.user_group_members WHERE group_id = $1 "
                               "AND user_id = ANY ($2::text[])",
                               2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    op->resp->changed = (int32_t)strtol(PQcmdTuples(res), NULL, 10);
    rc = rs_db_query_arena(conn, arena, "identity.members_count",
                           "SELECT count(*) FROM identity.user_group_members "
                           "WHERE group_id = $1",
                           1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    op->resp->member_count = (int32_t)identity_col_int64(res, 0, 0);
    return RS_OK;
}

static rs_status
change_members(struct rs_call *call, const ProtobufCMessage *msg, bool add,
               ProtobufCMessage **resp, struct rs_error *err)
{
    struct members_op op;
    size_t i;
    rs_status rc;

    memset(&op, 0, sizeof(op));
    op.call = call;
    op.req = (const void *)msg;
    op.add = add;
    rc = rs_validate_id("organization_id", op.req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("group_id", op.req->group_id, err);
    if (rc != RS_OK)
        return rc;
    if (op.req->n_user_ids < 1 || op.req->n_user_ids > IDENTITY_BATCH_MAX) {
        rs_error_set(err, RS_EINVAL, "BATCH_SIZE_INVALID",
                     "invalid number of user_ids %zu: expected 1 to %d", op.req->n_user_ids,
                     IDENTITY_BATCH_MAX);
        rs_error_meta(err, "field", "user_ids");
        return RS_EINVAL;
    }
    for (i = 0; i < op.req->n_user_ids; i++) {
        rc = rs_validate_id("user_ids", op.req->user_ids[i], err);
        if (rc != RS_OK)
            return rc;
    }
    op.ids = id_array_literal(rs_call_arena(call), op.req->user_ids, op.req->n_user_ids);
    op.resp = rs_arena_alloc(rs_call_arena(call), sizeof(*op.resp));
    if (op.ids == NULL || op.resp == NULL)
        return identity_nomem(err);
    roster__identity__v1__user_group_members_response__init(op.resp);
    rc = identity_tx(call, op.req->organization_id, members_tx, &op, err);
    if (rc != RS_OK)
        return rc;
    *resp = &op.resp->base;
    return RS_OK;
}

rs_status
identity_add_user_group_members(struct rs_call *call, const ProtobufCMessage *msg,
                                ProtobufCMessage **resp, struct rs_error *err)
{
    return change_members(call, msg, true, resp, err);
}

rs_status
identity_remove_user_group_members(struct rs_call *call, const ProtobufCMessage *msg,
                                   ProtobufCMessage **resp, struct rs_error *err)
{
    return change_members(call, msg, false, resp, err);
}

/* Reads page_token against filter into params[first], params[first + 1]. */
static rs_status
page_params(rs_arena *arena, const char *token, uint64_t filter, const char **params,
            int first, struct rs_error *err)
{
    struct rs_page_key key;
    rs_status rc;

    params[first] = NULL;
    params[first + 1] = NULL;
    if (token[0] == '\0')
        return RS_OK;
    rc = rs_page_token_decode(token, filter, &key, err);
    if (rc != RS_OK)
        return rc;
    params[first] = identity_int_param(arena, key.created_us);
    params[first + 1] = rs_arena_strdup(arena, key.id);
    return RS_OK;
}

rs_status
identity_list_user_group_members(struct rs_call *call, const ProtobufCMessage *msg,
                                 ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__ListUserGroupMembersRequest *req = (const void *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Identity__V1__ListUsersResponse *out = NULL;
    Roster__Identity__V1__UserGroup *group = NULL;
    struct identity_actor actor;
    const char *filter_parts[2] = { req->organization_id, req->group_id };
    const char *params[4];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    uint64_t filter = rs_page_filter_hash("members", filter_parts, 2);
    int page_size;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("group_id", req->group_id, err);
    if (rc == RS_OK)
        rc = rs_page_size(req->page_size, &page_size, err);
    if (rc == RS_OK)
        rc = page_params(arena, req->page_token, filter, params, 1, err);
    if (rc != RS_OK)
        return rc;
    params[0] = req->group_id;
    params[3] = identity_int_param(arena, (long long)page_size + 1);

    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc == RS_OK)
        rc = identity_load_group(conn, arena, req->organization_id, req->group_id, false,
                                 &group, err);
    if (rc == RS_OK)
        rc = rs_db_query_arena(conn, arena, "identity.members_list",
                               "SELECT " IDENTITY_USER_COLS " FROM identity.users u "
                               "JOIN identity.user_group_members m ON m.user_id = u.id "
                               "WHERE m.group_id = $1 "
                               "AND ($2::bigint IS NULL OR (u.created_at, u.id) > "
                               "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', "
                               "$3::text)) "
                               "ORDER BY u.created_at, u.id LIMIT $4",
                               4, params, &res, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        goto nomem;
    roster__identity__v1__list_users_response__init(out);
    rc = rs_page_rows(arena, res, page_size, rs_call_max_message_bytes(call),
                      identity_user_row, 0, IDENTITY_USER_CREATED_COL, filter,
                      (void ***)&out->users, &out->n_users, &out->next_page_token, err);
    if (rc == RS_OK)
        *resp = &out->base;
    goto out;
nomem:
    rc = identity_nomem(err);
out:
    rs_db_release(identity_pool(call), conn);
    return rc;
}

rs_status
identity_list_groups_of_user(struct rs_call *call, const ProtobufCMessage *msg,
                             ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__ListGroupsOfUserRequest *req = (const void *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Identity__V1__ListUserGroupsResponse *out = NULL;
    struct identity_actor actor;
    const char *filter_parts[2] = { req->organization_id, req->user_id };
    const char *params[5];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    uint64_t filter = rs_page_filter_hash("groups_of_user", filter_parts, 2);
    int page_size;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("user_id", req->user_id, err);
    if (rc == RS_OK)
        rc = rs_page_size(req->page_size, &page_size, err);
    if (rc == RS_OK)
        rc = page_params(arena, req->page_token, filter, params, 2, err);
    if (rc != RS_OK)
        return rc;
    params[0] = req->user_id;
    params[1] = req->organization_id;
    params[4] = identity_int_param(arena, (long long)page_size + 1);

    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc == RS_OK)
        rc = rs_db_query_arena(conn, arena, "identity.user_exists", IDENTITY_SQL_USER_EXISTS,
                               2, params, &res, err);
    if (rc != RS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = identity_user_not_found(req->organization_id, req->user_id, err);
        goto out;
    }
    rc = rs_db_query_arena(conn, arena, "identity.groups_of_user", IDENTITY_SQL_GROUPS_OF_USER,
                           5, params, &res, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        goto nomem;
    roster__identity__v1__list_user_groups_response__init(out);
    rc = rs_page_rows(arena, res, page_size, rs_call_max_message_bytes(call),
                      identity_group_row, 0, IDENTITY_GROUP_CREATED_COL, filter,
                      (void ***)&out->groups, &out->n_groups, &out->next_page_token, err);
    if (rc == RS_OK)
        *resp = &out->base;
    goto out;
nomem:
    rc = identity_nomem(err);
out:
    rs_db_release(identity_pool(call), conn);
    return rc;
}
