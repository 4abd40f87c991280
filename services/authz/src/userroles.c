/*
 * services/authz/src/userroles.c
 *    The organisation roles a user holds: 1 to 3 roles, Regular User when
 *    the user has no row, and the owner always an administrator.
 */
#include "authz_int.h"

#include <stdio.h>
#include <string.h>

#include "lookups.h"

#define ROLES_MAX 3

enum roles_op { OP_ASSIGN, OP_REVOKE, OP_SET, OP_GET };

struct user_roles {
    struct rs_call *call;
    const char *org_id;
    const char *user_id;
    const int64_t *roles;
    size_t n_roles;
    enum roles_op op;
    const char *min_revision;
    int64_t held[ROLES_MAX + 8];
    size_t n_held;
    char *token;
};

static rs_status
role_error(rs_status code, const char *reason, int64_t role_id, const char *fmt,
           struct rs_error *err)
{
    char id[24];

    snprintf(id, sizeof(id), "%lld", (long long)role_id);
    rs_error_set(err, code, reason, fmt, id);
    rs_error_meta(err, "role_id", id);
    return code;
}

/*
 * Loads the user's effective roles into u->held: the rows, the owner's
 * implicit 111111111, and 111111113 when nothing else is held.
 */
static rs_status
load_roles(rs_db_conn *conn, struct user_roles *u, const char *owner_id,
           struct rs_error *err)
{
    const char *params[2] = { u->org_id, u->user_id };
    PGresult *res = NULL;
    bool owner = strcmp(owner_id, u->user_id) == 0;
    int i;
    rs_status rc;

    rc = authz_query(conn, u->call, "authz.user_roles", AUTHZ_SQL_USER_ROLES, 2, params, &res,
                     err);
    if (rc != RS_OK)
        return rc;
    u->n_held = 0;
    if (owner)
        u->held[u->n_held++] = AUTHZ_ORG_ADMIN;
    for (i = 0; i < PQntuples(res) && u->n_held < sizeof(u->held) / sizeof(u->held[0]);
         i++) {
        int64_t id = authz_col_int64(res, i, 0);

        if (owner && id == AUTHZ_ORG_ADMIN)
            continue;
        u->held[u->n_held++] = id;
    }
    if (u->n_held == 0)
        u->held[u->n_held++] = AUTHZ_REGULAR_USER;
    return RS_OK;
}

/* Checks that every requested role exists and suits the user's type. */
static rs_status
check_roles(rs_db_conn *conn, struct user_roles *u, int user_type, struct rs_error *err)
{
    char type[8];
    const char *params[3];
    PGresult *res = NULL;
    size_t i;
    rs_status rc;

    snprintf(type, sizeof(type), "%d", user_type);
    params[0] = authz_int64_array(u->call, u->roles, u->n_roles);
    params[1] = u->org_id;
    params[2] = type;
    if (params[0] == NULL)
        return authz_nomem(err);
    /* FOR SHARE keeps a custom role from being deleted under the assignment. */
    rc = authz_query(conn, u->call, "authz.user_roles_check", AUTHZ_SQL_USER_ROLES_CHECK, 3,
                     params, &res, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < (size_t)PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, (int)i, 1), "t") != 0)
            return role_error(RS_ENOTFOUND, "ROLE_NOT_FOUND", authz_col_int64(res, (int)i, 0),
                              "organization role %s not found", err);
        if (strcmp(PQgetvalue(res, (int)i, 2), "t") != 0)
            return role_error(RS_EPRECOND, "ROLE_NOT_ALLOWED_FOR_USER_TYPE",
                              authz_col_int64(res, (int)i, 0),
                              "organization role %s needs a Developer or Analyst user", err);
    }
    return RS_OK;
}

static bool
has_role(const int64_t *ids, size_t n, int64_t id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (ids[i] == id)
            return true;
    }
    return false;
}

static rs_status
owner_keeps_admin(const char *user_id, struct rs_error *err)
{
    rs_error_set(err, RS_EPRECOND, "OWNER_KEEPS_ORG_ADMIN",
                 "user \"%s\" owns the organization and keeps role 111111111", user_id);
    rs_error_meta(err, "user_id", user_id);
    return RS_EPRECOND;
}

static rs_status
write_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct user_roles *u = arg;
    struct authz_actor actor;
    const char *params[3];
    PGresult *res = NULL;
    bool owner;
    int user_type = 0;
    rs_status rc;

    rc = authz_authorize(conn, u->call, u->org_id, u->op == OP_GET ? 0 : AUTHZ_NEED_ADMIN,
                         &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = authz_user_type(conn, u->call, u->org_id, u->user_id, &user_type, NULL, err);
    if (rc != RS_OK)
        return rc;
    owner = strcmp(actor.owner_id, u->user_id) == 0;
    if (u->op == OP_GET)
        return load_roles(conn, u, actor.owner_id, err);

    /* One writer per user at a time, so the 3-role limit holds under concurrency. */
    params[0] = u->user_id;
    rc = authz_query(conn, u->call, "authz.user_roles_lock",
                     "SELECT pg_advisory_xact_lock(hashtextextended("
                     "'authz.user_org_roles:' || $1, 0))",
                     1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (u->op != OP_REVOKE) {
        rc = check_roles(conn, u, user_type, err);
        if (rc != RS_OK)
            return rc;
    }
    if ((u->op == OP_REVOKE && owner && has_role(u->roles, u->n_roles, AUTHZ_ORG_ADMIN)) ||
        (u->op == OP_SET && owner && !has_role(u->roles, u->n_roles, AUTHZ_ORG_ADMIN)))
        return owner_keeps_admin(u->user_id, err);

    params[0] = u->org_id;
    params[1] = u->user_id;
    params[2] = authz_int64_array(u->call, u->roles, u->n_roles);
    if (params[2] == NULL)
        return authz_nomem(err);
    if (u->op == OP_SET) {
        rc = authz_query(conn, u->call, "authz.user_roles_clear", AUTHZ_SQL_USER_ROLES_CLEAR,
                         2, params, &res, err);
        if (rc != RS_OK)
            return rc;
    }
    if (u->op == OP_REVOKE)
        rc = authz_query(conn, u->call, "authz.user_roles_revoke",
                         AUTHZ_SQL_USER_ROLES_REVOKE, 3, params, &res, err);
    else
        rc = authz_query(conn, u->call, "authz.user_roles_add",
                         "INSERT INTO authz.user_org_roles (organization_id, user_id, role_id) "
                         "SELECT $1, $2, r FROM unnest($3::bigint[]) AS r "
                         "ON CONFLICT DO NOTHING",
                         3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    rc = load_roles(conn, u, actor.owner_id, err);
    if (rc != RS_OK)
        return rc;
    if (u->op == OP_ASSIGN && u->n_held > ROLES_MAX) {
        rs_error_set(err, RS_EPRECOND, "ROLE_LIMIT_REACHED",
                     "user \"%s\" would hold %zu organization roles; the limit is 3",
                     u->user_id, u->n_held);
        rs_error_meta(err, "user_id", u->user_id);
        return RS_EPRECOND;
    }
    return authz_bump(conn, u->call, u->org_id, &u->token, err);
}

static rs_status
run(struct rs_call *call, const ProtobufCMessage *req, enum roles_op op,
    ProtobufCMessage **resp, struct rs_error *err)
{
    Roster__Authz__V1__UserOrgRolesResponse *out;
    struct user_roles u;
    size_t i;
    size_t j;
    rs_status rc;

    memset(&u, 0, sizeof(u));
    u.call = call;
    u.op = op;
    if (op == OP_GET) {
        const Roster__Authz__V1__GetUserOrgRolesRequest *r =
            (const Roster__Authz__V1__GetUserOrgRolesRequest *)req;

        u.org_id = r->organization_id;
        u.user_id = r->user_id;
        rc = authz_validate_min_revision(r->min_revision, err);
        if (rc != RS_OK)
            return rc;
    } else {
        const Roster__Authz__V1__UserOrgRolesRequest *r =
            (const Roster__Authz__V1__UserOrgRolesRequest *)req;

        u.org_id = r->organization_id;
        u.user_id = r->user_id;
        u.roles = r->role_ids;
        u.n_roles = r->n_role_ids;
        for (i = 0; i < u.n_roles; i++) {
            for (j = 0; j < i && u.roles[j] != u.roles[i]; j++)
                ;
            if (j < i)
                break;
        }
        if (u.n_roles == 0 || i < u.n_roles || (op == OP_SET && u.n_roles > ROLES_MAX)) {
            rs_error_set(err, RS_EINVAL, "ROLE_COUNT_INVALID",
                         "invalid role_ids: expected %s distinct role ids",
                         op == OP_SET ? "1 to 3" : "1 or more");
            rs_error_meta(err, "field", "role_ids");
            return RS_EINVAL;
        }
    }
    rc = rs_validate_id("user_id", u.user_id, err);
    if (rc == RS_OK)
        rc = authz_tx(call, write_body, &u, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__user_org_roles_response__init(out);
    out->user_id = (char *)u.user_id;
    out->role_ids = rs_arena_alloc(rs_call_arena(call), u.n_held * sizeof(int64_t));
    if (out->role_ids == NULL)
        return authz_nomem(err);
    memcpy(out->role_ids, u.held, u.n_held * sizeof(int64_t));
    out->n_role_ids = u.n_held;
    out->revision = u.token != NULL ? u.token : (char *)"";
    *resp = &out->base;
    return RS_OK;
}

AUTHZ_HANDLER(authz_assign_org_roles)
{
    return run(call, req, OP_ASSIGN, resp, err);
}

AUTHZ_HANDLER(authz_revoke_org_roles)
{
    return run(call, req, OP_REVOKE, resp, err);
}

AUTHZ_HANDLER(authz_set_org_roles)
{
    return run(call, req, OP_SET, resp, err);
}

AUTHZ_HANDLER(authz_get_user_org_roles)
{
    return run(call, req, OP_GET, resp, err);
}
