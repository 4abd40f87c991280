/*
 * services/identity/src/external.c
 *    External identities: a user's accounts on DingTalk, WeCom and Lark,
 *    bound by (platform, corp_id, platform_user_id) and optionally by the
 *    platform-wide union id.
 */
#include "identity_int.h"

#include <string.h>

#include "lookups.h"
#include "roster/str.h"
#include "validate.h"

rs_status
identity_external_bound(const char *corp_id, const char *platform_user_id,
                        const char *owner_id, struct rs_error *err)
{
    rs_error_set(err, RS_EEXIST, "EXTERNAL_IDENTITY_BOUND",
                 "platform user \"%s\" of corp \"%s\" is already bound to another user",
                 platform_user_id, corp_id);
    rs_error_meta(err, "user_id", owner_id);
    return RS_EEXIST;
}

rs_status
identity_union_id_bound(const char *union_id, const char *owner_id, struct rs_error *err)
{
    rs_error_set(err, RS_EEXIST, "UNION_ID_BOUND",
                 "union_id \"%s\" is already bound to another user", union_id);
    rs_error_meta(err, "user_id", owner_id);
    return RS_EEXIST;
}

rs_status
identity_lock_externals(rs_db_conn *conn, rs_arena *arena, const char *org_id, int platform,
                        struct rs_error *err)
{
    const char *params[2] = { org_id, identity_int_param(arena, platform) };

    /*
     * The union id rule spans rows, so no unique index enforces it: binds of
     * one organisation and platform take turns instead.
     */
    return rs_db_query_arena(conn, arena, "identity.external_lock",
                             "SELECT pg_advisory_xact_lock(hashtextextended("
                             "'identity.external_identities:' || $1 || ':' || $2, 0))",
                             2, params, NULL, err);
}

rs_status
identity_validate_external_key(int platform, const char *corp_id,
                               const char *platform_user_id, struct rs_error *err)
{
    rs_status rc;

    rc = identity_validate_platform("platform", platform, err);
    if (rc == RS_OK)
        rc = identity_validate_text("corp_id", corp_id, IDENTITY_EXTERNAL_ID_MAX, false,
                                    "EXTERNAL_ID_INVALID", err);
    if (rc == RS_OK)
        rc = identity_validate_text("platform_user_id", platform_user_id,
                                    IDENTITY_EXTERNAL_ID_MAX, false, "EXTERNAL_ID_INVALID",
                                    err);
    return rc;
}

static rs_status
user_exists(rs_db_conn *conn, rs_arena *arena, const char *org_id, const char *user_id,
            struct rs_error *err)
{
    const char *params[2] = { user_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_db_query_arena(conn, arena, "identity.user_exists", IDENTITY_SQL_USER_EXISTS, 2,
                           params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) > 0)
        return RS_OK;
    return identity_user_not_found(org_id, user_id, err);
}

struct bind_op {
    struct rs_call *call;
    const Roster__Identity__V1__BindExternalIdentityRequest *req;
    Roster__Identity__V1__ExternalIdentity *identity;
};

static rs_status
bind_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct bind_op *op = arg;
    const Roster__Identity__V1__BindExternalIdentityRequest *req = op->req;
    rs_arena *arena = rs_call_arena(op->call);
    struct identity_actor actor;
    const char *params[6];
    PGresult *res = NULL;
    rs_status rc;

    rc = identity_authorize(conn, op->call, req->organization_id, IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc == RS_OK)
        rc = user_exists(conn, arena, req->organization_id, req->user_id, err);
    if (rc != RS_OK)
        return rc;
    params[0] = req->organization_id;
    params[1] = identity_int_param(arena, req->platform);
    params[2] = req->corp_id;
    params[3] = req->platform_user_id;
    params[4] = req->user_id;
    params[5] = req->union_id;
    rc = identity_lock_externals(conn, arena, req->organization_id, req->platform, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query_arena(conn, arena, "identity.external_owner",
                           "SELECT user_id FROM identity.external_identities "
                           "WHERE organization_id = $1 AND platform = $2 AND corp_id = $3 "
                           "AND platform_user_id = $4 AND user_id <> $5",
                           5, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) > 0)
        return identity_external_bound(req->corp_id, req->platform_user_id,
                                       PQgetvalue(res, 0, 0), err);
    if (req->union_id[0] != '\0') {
        const char *uparams[4] = { params[0], params[1], params[5], params[4] };

        rc = rs_db_query_arena(conn, arena, "identity.external_union_owner",
                               "SELECT user_id FROM identity.external_identities "
                               "WHERE organization_id = $1 AND platform = $2 "
                               "AND union_id = $3 AND union_id <> '' AND user_id <> $4 LIMIT 1",
                               4, uparams, &res, err);
        if (rc != RS_OK)
            return rc;
        if (PQntuples(res) > 0)
            return identity_union_id_bound(req->union_id, PQgetvalue(res, 0, 0), err);
    }
    rc = rs_db_query_arena(conn, arena, "identity.external_bind",
                           "INSERT INTO identity.external_identities AS e (organization_id, "
                           "platform, corp_id, platform_user_id, user_id, union_id) "
                           "VALUES ($1, $2, $3, $4, $5, $6) "
                           "ON CONFLICT (organization_id, platform, corp_id, platform_user_id) "
                           "DO UPDATE SET union_id = EXCLUDED.union_id "
                           "RETURNING " IDENTITY_EXTERNAL_COLS,
                           6, params, &res, err);
    if (rc != RS_OK)
        return rc;
    op->identity = identity_external_from_row(arena, res, 0);
    return op->identity == NULL ? identity_nomem(err) : RS_OK;
}

rs_status
identity_bind_external_identity(struct rs_call *call, const ProtobufCMessage *msg,
                                ProtobufCMessage **resp, struct rs_error *err)
{
    struct bind_op op = { call, (const void *)msg, NULL };
    rs_status rc;

    rc = rs_validate_id("organization_id", op.req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("user_id", op.req->user_id, err);
    if (rc == RS_OK)
        rc = identity_validate_external_key(op.req->platform, op.req->corp_id,
                                            op.req->platform_user_id, err);
    if (rc == RS_OK)
        rc = identity_validate_text("union_id", op.req->union_id, IDENTITY_EXTERNAL_ID_MAX,
                                    true, "EXTERNAL_ID_INVALID", err);
    if (rc == RS_OK)
        rc = identity_tx(call, op.req->organization_id, bind_tx, &op, err);
    if (rc != RS_OK)
        return rc;
    *resp = &op.identity->base;
    return RS_OK;
}

struct unbind_op {
    struct rs_call *call;
    const Roster__Identity__V1__UnbindExternalIdentityRequest *req;
};

static rs_status
unbind_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct unbind_op *op = arg;
    const Roster__Identity__V1__UnbindExternalIdentityRequest *req = op->req;
    rs_arena *arena = rs_call_arena(op->call);
    struct identity_actor actor;
    const char *params[4];
    PGresult *res = NULL;
    rs_status rc;

    rc = identity_authorize(conn, op->call, req->organization_id, IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc != RS_OK)
        return rc;
    params[0] = req->organization_id;
    params[1] = identity_int_param(arena, req->platform);
    params[2] = req->corp_id;
    params[3] = req->platform_user_id;
    rc = rs_db_query_arena(conn, arena, "identity.external_unbind",
                           "DELETE FROM identity.external_identities WHERE organization_id = $1 "
                           "AND platform = $2 AND corp_id = $3 AND platform_user_id = $4 "
                           "RETURNING user_id",
                           4, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return rs_error_set(err, RS_ENOTFOUND, "EXTERNAL_IDENTITY_NOT_FOUND",
                            "no user is bound to platform user \"%s\" of corp \"%s\"",
                            req->platform_user_id, req->corp_id);
    return RS_OK;
}

rs_status
identity_unbind_external_identity(struct rs_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, struct rs_error *err)
{
    struct unbind_op op = { call, (const void *)msg };
    Roster__Identity__V1__UnbindExternalIdentityResponse *out;
    rs_status rc;

    rc = rs_validate_id("organization_id", op.req->organization_id, err);
    if (rc == RS_OK)
        rc = identity_validate_external_key(op.req->platform, op.req->corp_id,
                                            op.req->platform_user_id, err);
    if (rc == RS_OK)
        rc = identity_tx(call, op.req->organization_id, unbind_tx, &op, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return identity_nomem(err);
    roster__identity__v1__unbind_external_identity_response__init(out);
    *resp = &out->base;
    return RS_OK;
}

rs_status
identity_list_external_identities(struct rs_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__ListExternalIdentitiesRequest *req = (const void *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Identity__V1__ListExternalIdentitiesResponse *out = NULL;
    struct identity_actor actor;
    const char *params[2] = { req->user_id, req->organization_id };
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    int n;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("user_id", req->user_id, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc == RS_OK)
        rc = user_exists(conn, arena, req->organization_id, req->user_id, err);
    /* Returns every identity of the user unpaged: a user has a few, one per enterprise account. */
    if (rc == RS_OK)
        rc = rs_db_query_arena(conn, arena, "identity.external_list",
                               IDENTITY_SQL_EXTERNAL_LIST, 2, params, &res, err);
    if (rc != RS_OK)
        goto out;
    n = PQntuples(res);
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL) {
        rc = identity_nomem(err);
        goto out;
    }
    roster__identity__v1__list_external_identities_response__init(out);
    out->identities = identity_externals_from_rows(arena, res, n);
    if (out->identities == NULL) {
        rc = identity_nomem(err);
        goto out;
    }
    out->n_identities = (size_t)n;
    *resp = &out->base;
out:
    rs_db_release(identity_pool(call), conn);
    return rc;
}

static rs_status
lookup_key_invalid(struct rs_error *err)
{
    rs_error_set(err, RS_EINVAL, "LOOKUP_KEY_INVALID",
                 "give either corp_id and platform_user_id, or union_id, but not both");
    return RS_EINVAL;
}

rs_status
identity_lookup_external_identity(struct rs_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__LookupExternalIdentityRequest *req = (const void *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Identity__V1__User *user = NULL;
    struct identity_actor actor;
    bool by_pair = req->corp_id[0] != '\0' || req->platform_user_id[0] != '\0';
    bool by_union = req->union_id[0] != '\0';
    const char *params[4];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = identity_validate_platform("platform", req->platform, err);
    if (rc != RS_OK)
        return rc;
    if (by_pair == by_union)
        return lookup_key_invalid(err);
    if (by_pair && (req->corp_id[0] == '\0' || req->platform_user_id[0] == '\0'))
        return lookup_key_invalid(err);
    params[0] = req->organization_id;
    params[1] = identity_int_param(arena, req->platform);
    params[2] = by_pair ? req->corp_id : req->union_id;
    params[3] = req->platform_user_id;

    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc != RS_OK)
        goto out;
    if (by_pair)
        rc = rs_db_query_arena(conn, arena, "identity.external_lookup",
                               "SELECT " IDENTITY_USER_COLS " FROM identity.users u "
                               "JOIN identity.external_identities e ON e.user_id = u.id "
                               "WHERE e.organization_id = $1 AND e.platform = $2 "
                               "AND e.corp_id = $3 AND e.platform_user_id = $4",
                               4, params, &res, err);
    else
        rc = rs_db_query_arena(conn, arena, "identity.external_lookup_union",
                               "SELECT " IDENTITY_USER_COLS " FROM identity.users u "
                               "JOIN identity.external_identities e ON e.user_id = u.id "
                               "WHERE e.organization_id = $1 AND e.platform = $2 "
                               "AND e.union_id = $3 AND e.union_id <> '' LIMIT 1",
                               3, params, &res, err);
    if (rc != RS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = rs_error_set(err, RS_ENOTFOUND, "EXTERNAL_IDENTITY_NOT_FOUND",
                          "no user is bound to the given external identity");
        goto out;
    }
    user = identity_user_from_row(arena, res, 0);
    if (user == NULL) {
        rc = identity_nomem(err);
        goto out;
    }
    *resp = &user->base;
out:
    rs_db_release(identity_pool(call), conn);
    return rc;
}
