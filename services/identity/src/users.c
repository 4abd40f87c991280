/*
 * services/identity/src/users.c
 *    CreateUser, GetUser, ListUsers and UpdateUser, with the nickname,
 *    account id and seat checks they share with CreateOrganization.
 */
#include "identity_int.h"

#include <stdio.h>
#include <string.h>

#include "lookups.h"
#include "roster/str.h"
#include "validate.h"

static const char *
user_type_name(int t)
{
    switch (t) {
    case 1:
        return "DEVELOPER";
    case 2:
        return "VISITOR";
    case 3:
        return "ANALYST";
    default:
        return "UNSPECIFIED";
    }
}

rs_status
identity_validate_new_user(const Roster__Identity__V1__CreateUserRequest *u,
                           struct rs_error *err)
{
    rs_status rc;

    rc = identity_validate_nickname(u->nickname, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_validate_user_type("user_type", u->user_type, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_validate_email(u->email, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_validate_phone(u->phone, err);
    if (rc != RS_OK)
        return rc;
    return identity_validate_account_id(u->account_id, err);
}

rs_status
identity_nickname_taken(const char *nickname, struct rs_error *err)
{
    rs_error_set(err, RS_EEXIST, "NICKNAME_TAKEN",
                 "nickname \"%s\" is already used in this organization", nickname);
    rs_error_meta(err, "nickname", nickname);
    return RS_EEXIST;
}

rs_status
identity_account_id_taken(const char *account_id, struct rs_error *err)
{
    rs_error_set(err, RS_EEXIST, "ACCOUNT_ID_TAKEN",
                 "account_id \"%s\" is already used in this organization", account_id);
    rs_error_meta(err, "account_id", account_id);
    return RS_EEXIST;
}

/* Rejects a nickname or account id that another user of the organisation has. */
static rs_status
check_unique(rs_db_conn *conn, rs_arena *arena, const char *org_id, const char *self_id,
             const char *nickname, const char *account_id, struct rs_error *err)
{
    const char *params[3] = { org_id, nickname, self_id };
    PGresult *res = NULL;
    rs_status rc;

    if (nickname != NULL) {
        rc = rs_db_query_arena(conn, arena, "identity.user_nickname_taken",
                               "SELECT 1 FROM identity.users WHERE organization_id = "
                               IDENTITY_ORG_PARAM " AND nickname = $2 "
                               "AND id IS DISTINCT FROM $3",
                               3, params, &res, err);
        if (rc != RS_OK)
            return rc;
        if (PQntuples(res) > 0)
            return identity_nickname_taken(nickname, err);
    }
    if (account_id != NULL && account_id[0] != '\0') {
        params[1] = account_id;
        rc = rs_db_query_arena(conn, arena, "identity.user_account_taken",
                               "SELECT 1 FROM identity.users WHERE organization_id = "
                               IDENTITY_ORG_PARAM " AND account_id = $2 "
                               "AND account_id <> '' AND id IS DISTINCT FROM $3",
                               3, params, &res, err);
        if (rc != RS_OK)
            return rc;
        if (PQntuples(res) > 0)
            return identity_account_id_taken(account_id, err);
    }
    return RS_OK;
}

/*
 * A unique violation the checks above did not foresee still gets the right
 * reason; the constraint name is in the server's message.
 */
static rs_status
map_unique_violation(struct rs_error *err)
{
    if (!identity_sqlstate_is(err, "23505"))
        return err->code;
    if (strstr(err->detail, "users_account_id_key") != NULL ||
        strstr(err->message, "users_account_id_key") != NULL)
        return rs_error_set(err, RS_EEXIST, "ACCOUNT_ID_TAKEN",
                            "account_id is already used in this organization");
    return rs_error_set(err, RS_EEXIST, "NICKNAME_TAKEN",
                        "nickname is already used in this organization");
}

rs_status
identity_seat_usage(rs_db_conn *conn, rs_arena *arena, const char *org_id,
                    struct identity_seats *out, struct rs_error *err)
{
    const char *params[1] = { org_id };
    PGresult *res = NULL;
    int t;
    rs_status rc;

    /* Triggers keep identity.seat_counts (migration 0004), so this reads one
     * row. Callers hold the organisation row lock, so every earlier create is
     * counted. */
    rc = rs_db_query_arena(conn, arena, "identity.seat_usage",
                           "SELECT o.seat_total, o.seat_developers, o.seat_visitors, "
                           "o.seat_analysts, c.developers + c.visitors + c.analysts, "
                           "c.developers, c.visitors, c.analysts "
                           "FROM identity.organizations o LEFT JOIN identity.seat_counts c "
                           "ON c.organization_id = o.id WHERE o.id = $1",
                           1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return rs_error_set(err, RS_ENOTFOUND, "ORGANIZATION_NOT_FOUND",
                            "organization \"%s\" not found", org_id);
    /* Counting zero seats in use would let the organisation exceed its caps. */
    if (PQgetisnull(res, 0, 4))
        return rs_error_set(err, RS_EINTERNAL, "SEAT_COUNTS_MISSING",
                            "identity.seat_counts has no row for organization \"%s\", so "
                            "its seats in use are unknown: insert its user counts there "
                            "as migration 0004 does",
                            org_id);
    /* Column t is the cap of user type t, and column 4 + t its usage. */
    out->cap_total = identity_col_int64(res, 0, 0);
    out->used_total = identity_col_int64(res, 0, 4);
    for (t = 1; t <= 3; t++) {
        out->capped[t] = !PQgetisnull(res, 0, t);
        out->cap[t] = identity_col_int64(res, 0, t);
        out->used[t] = identity_col_int64(res, 0, 4 + t);
    }
    return RS_OK;
}

rs_status
identity_seat_take(struct identity_seats *s, int user_type, int old_type,
                   struct rs_error *err)
{
    char buf[24];

    if (old_type == user_type)
        return RS_OK;
    if (s->capped[user_type] && s->used[user_type] + 1 > s->cap[user_type]) {
        snprintf(buf, sizeof(buf), "%lld", s->cap[user_type]);
        rs_error_set(err, RS_ERESOURCE, "SEAT_LIMIT_REACHED",
                     "no free %s seat: all %s are in use", user_type_name(user_type), buf);
        rs_error_meta(err, "user_type", user_type_name(user_type));
        rs_error_meta(err, "limit", buf);
        return RS_ERESOURCE;
    }
    /* A type change keeps its seat in the total. */
    if (s->used_total + (old_type > 0 ? 0 : 1) > s->cap_total) {
        snprintf(buf, sizeof(buf), "%lld", s->cap_total);
        rs_error_set(err, RS_ERESOURCE, "TOTAL_SEAT_LIMIT_REACHED",
                     "no free seat: all %lld seats of the organization are in use",
                     s->cap_total);
        rs_error_meta(err, "limit", buf);
        return RS_ERESOURCE;
    }
    s->used[user_type]++;
    if (old_type > 0)
        s->used[old_type]--;
    else
        s->used_total++;
    return RS_OK;
}

rs_status
identity_check_seats(rs_db_conn *conn, rs_arena *arena, const char *org_id, int user_type,
                     int old_type, struct rs_error *err)
{
    struct identity_seats seats;
    rs_status rc;

    rc = identity_seat_usage(conn, arena, org_id, &seats, err);
    if (rc != RS_OK)
        return rc;
    return identity_seat_take(&seats, user_type, old_type, err);
}

rs_status
identity_insert_user(rs_db_conn *conn, rs_arena *arena, const char *org_id,
                     const char *user_id, const Roster__Identity__V1__CreateUserRequest *u,
                     Roster__Identity__V1__User **out, struct rs_error *err)
{
    const char *params[8];
    PGresult *res = NULL;
    rs_status rc;

    rc = check_unique(conn, arena, org_id, NULL, u->nickname, u->account_id, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_check_seats(conn, arena, org_id, u->user_type, 0, err);
    if (rc != RS_OK)
        return rc;
    params[0] = user_id;
    params[1] = org_id;
    params[2] = u->nickname;
    params[3] = identity_int_param(arena, u->user_type);
    params[4] = u->email;
    params[5] = u->phone;
    params[6] = u->account_id;
    rc = rs_db_query_arena(conn, arena, "identity.user_insert",
                           "INSERT INTO identity.users AS u (id, organization_id, nickname, "
                           "user_type, email, phone, account_id) "
                           "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " IDENTITY_USER_COLS,
                           7, params, &res, err);
    if (rc != RS_OK)
        return map_unique_violation(err);
    *out = identity_user_from_row(arena, res, 0);
    return *out == NULL ? identity_nomem(err) : RS_OK;
}

struct create_user {
    struct rs_call *call;
    const Roster__Identity__V1__CreateUserRequest *req;
    char user_id[RS_ID_LEN + 1];
    Roster__Identity__V1__User *user;
};

static rs_status
create_user_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct create_user *c = arg;
    struct identity_actor actor;
    rs_status rc;

    /* The organisation row lock serialises seat counting across creates. */
    rc = identity_authorize(conn, c->call, c->req->organization_id,
                            IDENTITY_LOCK_ORG | IDENTITY_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    return identity_insert_user(conn, rs_call_arena(c->call), c->req->organization_id,
                                c->user_id, c->req, &c->user, err);
}

rs_status
identity_create_user(struct rs_call *call, const ProtobufCMessage *msg,
                     ProtobufCMessage **resp, struct rs_error *err)
{
    struct create_user c;
    rs_status rc;

    memset(&c, 0, sizeof(c));
    c.call = call;
    c.req = (const void *)msg;
    rc = rs_validate_id("organization_id", c.req->organization_id, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_call_name_normalize(call, &c.req->nickname, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_validate_new_user(c.req, err);
    if (rc != RS_OK)
        return rc;
    rs_id_new(c.user_id);
    rc = identity_tx(call, c.req->organization_id, create_user_tx, &c, err);
    if (rc != RS_OK)
        return rc;
    rs_log_info(rs_call_log(call), "user created", "organization_id",
                c.req->organization_id, "user_id", c.user_id, NULL);
    *resp = &c.user->base;
    return RS_OK;
}

enum user_lock {
    USER_LOCK_NONE,
    USER_LOCK_NO_KEY_UPDATE,
    /*
     * Type changes and deletions: blocks authz's FOR SHARE read of the
     * user's type and the KEY SHARE of its foreign keys, so no role,
     * membership or grant for this user commits while identity judges
     * the authz rows.
     */
    USER_LOCK_UPDATE,
};

rs_status
identity_user_not_found(const char *org_id, const char *user_id, struct rs_error *err)
{
    rs_error_set(err, RS_ENOTFOUND, "USER_NOT_FOUND",
                 "user \"%s\" not found in organization \"%s\"", user_id, org_id);
    rs_error_meta(err, "user_id", user_id);
    return RS_ENOTFOUND;
}

/* Loads a user of org_id, locked as lock specifies; USER_NOT_FOUND when absent. */
static rs_status
load_user(rs_db_conn *conn, rs_arena *arena, const char *org_id, const char *user_id,
          enum user_lock lock, Roster__Identity__V1__User **out, struct rs_error *err)
{
    static const char *const sql[] = {
        IDENTITY_SQL_USER_GET,
        IDENTITY_SQL_USER_GET_NO_KEY_UPDATE,
        IDENTITY_SQL_USER_GET_UPDATE,
    };
    static const char *const stmt[] = {
        "identity.user_get",
        "identity.user_get_no_key_update",
        "identity.user_get_update",
    };
    const char *params[2] = { user_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_db_query_arena(conn, arena, stmt[lock], sql[lock], 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return identity_user_not_found(org_id, user_id, err);
    *out = identity_user_from_row(arena, res, 0);
    return *out == NULL ? identity_nomem(err) : RS_OK;
}

rs_status
identity_get_user(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                  struct rs_error *err)
{
    const Roster__Identity__V1__GetUserRequest *req = (const void *)msg;
    Roster__Identity__V1__User *user = NULL;
    struct identity_actor actor;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("user_id", req->user_id, err);
    if (rc == RS_OK)
        rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc == RS_OK)
        rc = identity_get_user_read(call, req->organization_id, req->user_id, &user, err);
    if (rc != RS_OK)
        return rc;
    *resp = &user->base;
    return RS_OK;
}

rs_status
identity_list_users(struct rs_call *call, const ProtobufCMessage *msg,
                    ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__ListUsersRequest *req = (const void *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Identity__V1__ListUsersResponse *out = NULL;
    struct rs_page_key key;
    struct identity_actor actor;
    const char *filter_parts[4];
    const char *params[7];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    uint64_t filter;
    int page_size;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_page_size(req->page_size, &page_size, err);
    if (rc != RS_OK)
        return rc;
    if (req->user_type != 0) {
        rc = identity_validate_user_type("user_type", req->user_type, err);
        if (rc != RS_OK)
            return rc;
    }
    if (strlen(req->keyword) > IDENTITY_KEYWORD_MAX * 4 ||
        rs_utf8_length(req->keyword, strlen(req->keyword)) > IDENTITY_KEYWORD_MAX) {
        rs_error_set(err, RS_EINVAL, "KEYWORD_TOO_LONG",
                     "keyword is longer than %d characters", IDENTITY_KEYWORD_MAX);
        rs_error_meta(err, "field", "keyword");
        return RS_EINVAL;
    }

    params[0] = req->organization_id;
    params[1] = req->user_type != 0 ? identity_int_param(arena, req->user_type) : NULL;
    params[2] = NULL;
    if (req->enabled_filter_case != 0)
        params[2] = req->enabled ? "true" : "false";
    params[3] = req->keyword;
    params[4] = NULL;
    params[5] = NULL;
    params[6] = identity_int_param(arena, (long long)page_size + 1);
    filter_parts[0] = req->organization_id;
    filter_parts[1] = params[1];
    filter_parts[2] = params[2];
    filter_parts[3] = req->keyword;
    filter = rs_page_filter_hash("users", filter_parts, 4);
    if (req->page_token[0] != '\0') {
        rc = rs_page_token_decode(req->page_token, filter, &key, err);
        if (rc != RS_OK)
            return rc;
        params[4] = identity_int_param(arena, key.created_us);
        params[5] = rs_arena_strdup(arena, key.id);
    }

    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc != RS_OK)
        goto out;
    /* strpos, unlike LIKE, treats '%' and '_' in the keyword literally. */
    rc = rs_db_query_arena(conn, arena, "identity.user_list",
                           "SELECT " IDENTITY_USER_COLS " FROM identity.users u "
                           "WHERE u.organization_id = $1 "
                           "AND ($2::smallint IS NULL OR u.user_type = $2) "
                           "AND ($3::boolean IS NULL OR u.enabled = $3) "
                           "AND ($4 = '' OR strpos(lower(u.nickname), lower($4)) > 0) "
                           "AND ($5::bigint IS NULL OR (u.created_at, u.id) > "
                           "('epoch'::timestamptz + $5::bigint * interval '1 microsecond', "
                           "$6::text)) "
                           "ORDER BY u.created_at, u.id LIMIT $7",
                           7, params, &res, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL) {
        rc = identity_nomem(err);
        goto out;
    }
    roster__identity__v1__list_users_response__init(out);
    rc = rs_page_rows(arena, res, page_size, rs_call_max_message_bytes(call),
                      identity_user_row, 0, IDENTITY_USER_CREATED_COL, filter,
                      (void ***)&out->users, &out->n_users, &out->next_page_token, err);
    if (rc != RS_OK)
        goto out;
    *resp = &out->base;
out:
    rs_db_release(identity_pool(call), conn);
    return rc;
}

struct update_user {
    struct rs_call *call;
    const Roster__Identity__V1__UpdateUserRequest *req;
    bool set_nickname, set_type, set_email, set_phone, set_account;
    Roster__Identity__V1__User *user;
};

static rs_status
update_user_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct update_user *u = arg;
    const Roster__Identity__V1__UpdateUserRequest *req = u->req;
    rs_arena *arena = rs_call_arena(u->call);
    Roster__Identity__V1__User *cur = NULL;
    struct identity_actor actor;
    const char *params[7];
    PGresult *res = NULL;
    int new_type;
    rs_status rc;

    rc = identity_authorize(conn, u->call, req->organization_id,
                            IDENTITY_LOCK_ORG | IDENTITY_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = load_user(conn, arena, req->organization_id, req->user_id,
                   u->set_type ? USER_LOCK_UPDATE : USER_LOCK_NO_KEY_UPDATE, &cur, err);
    if (rc != RS_OK)
        return rc;
    new_type = u->set_type ? req->user_type : cur->user_type;
    if (new_type != (int)cur->user_type) {
        if (cur->is_owner && new_type == ROSTER__IDENTITY__V1__USER_TYPE__USER_TYPE_VISITOR) {
            rs_error_set(err, RS_EPRECOND, "OWNER_TYPE_NOT_ALLOWED",
                         "cannot make the organization owner a VISITOR");
            rs_error_meta(err, "user_id", req->user_id);
            return RS_EPRECOND;
        }
        rc = identity_check_seats(conn, arena, req->organization_id, new_type,
                                  cur->user_type, err);
        if (rc != RS_OK)
            return rc;
        rc = identity_authz_type_change(conn, arena, req->organization_id, req->user_id,
                                        new_type, req->demote_conflicts, err);
        if (rc != RS_OK)
            return rc;
    }
    rc = check_unique(conn, arena, req->organization_id, req->user_id,
                      u->set_nickname ? req->nickname : NULL,
                      u->set_account ? req->account_id : NULL, err);
    if (rc != RS_OK)
        return rc;
    params[0] = req->user_id;
    params[1] = u->set_nickname ? req->nickname : cur->nickname;
    params[2] = identity_int_param(arena, new_type);
    params[3] = u->set_email ? req->email : cur->email;
    params[4] = u->set_phone ? req->phone : cur->phone;
    params[5] = u->set_account ? req->account_id : cur->account_id;
    rc = rs_db_query_arena(conn, arena, "identity.user_update",
                           "UPDATE identity.users AS u SET nickname = $2, user_type = $3, "
                           "email = $4, phone = $5, account_id = $6, updated_at = now() "
                           "WHERE u.id = $1 RETURNING " IDENTITY_USER_COLS,
                           6, params, &res, err);
    if (rc != RS_OK)
        return map_unique_violation(err);
    u->user = identity_user_from_row(arena, res, 0);
    return u->user == NULL ? identity_nomem(err) : RS_OK;
}

/* Parses the update mask and validates the fields it names. */
static rs_status
parse_user_mask(struct update_user *u, struct rs_error *err)
{
    const Roster__Identity__V1__UpdateUserRequest *req = u->req;
    size_t i;
    rs_status rc = RS_OK;

    if (req->update_mask == NULL || req->update_mask->n_paths == 0) {
        rs_error_set(err, RS_EINVAL, "UPDATE_MASK_INVALID",
                     "update_mask must name at least one of nickname, user_type, email, "
                     "phone, account_id");
        rs_error_meta(err, "field", "update_mask");
        return RS_EINVAL;
    }
    for (i = 0; i < req->update_mask->n_paths; i++) {
        const char *path = req->update_mask->paths[i];

        if (strcmp(path, "nickname") == 0) {
            u->set_nickname = true;
        } else if (strcmp(path, "user_type") == 0) {
            u->set_type = true;
        } else if (strcmp(path, "email") == 0) {
            u->set_email = true;
        } else if (strcmp(path, "phone") == 0) {
            u->set_phone = true;
        } else if (strcmp(path, "account_id") == 0) {
            u->set_account = true;
        } else {
            rs_error_set(err, RS_EINVAL, "UPDATE_MASK_INVALID",
                         "invalid update_mask path \"%s\": expected nickname, user_type, "
                         "email, phone or account_id",
                         path);
            rs_error_meta(err, "field", "update_mask");
            return RS_EINVAL;
        }
    }
    if (u->set_nickname)
        rc = identity_validate_nickname(req->nickname, err);
    if (rc == RS_OK && u->set_type)
        rc = identity_validate_user_type("user_type", req->user_type, err);
    if (rc == RS_OK && u->set_email)
        rc = identity_validate_email(req->email, err);
    if (rc == RS_OK && u->set_phone)
        rc = identity_validate_phone(req->phone, err);
    if (rc == RS_OK && u->set_account)
        rc = identity_validate_account_id(req->account_id, err);
    return rc;
}

rs_status
identity_update_user(struct rs_call *call, const ProtobufCMessage *msg,
                     ProtobufCMessage **resp, struct rs_error *err)
{
    struct update_user u;
    rs_status rc;

    memset(&u, 0, sizeof(u));
    u.call = call;
    u.req = (const void *)msg;
    rc = rs_validate_id("organization_id", u.req->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("user_id", u.req->user_id, err);
    if (rc == RS_OK)
        rc = rs_call_name_normalize(call, &u.req->nickname, err);
    if (rc == RS_OK)
        rc = parse_user_mask(&u, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_tx(call, u.req->organization_id, update_user_tx, &u, err);
    if (rc != RS_OK)
        return rc;
    *resp = &u.user->base;
    return RS_OK;
}

/* --- DisableUser, EnableUser, DeleteUser --- */

struct user_state {
    struct rs_call *call;
    const char *org_id;
    const char *user_id;
    int action; /* 0 disable, 1 enable, 2 delete */
    Roster__Identity__V1__User *user;
};

static rs_status
user_state_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct user_state *s = arg;
    rs_arena *arena = rs_call_arena(s->call);
    Roster__Identity__V1__User *cur = NULL;
    struct identity_actor actor;
    const char *params[2] = { s->user_id, NULL };
    PGresult *res = NULL;
    rs_status rc;

    rc = identity_authorize(conn, s->call, s->org_id, IDENTITY_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = load_user(conn, arena, s->org_id, s->user_id,
                   s->action == 2 ? USER_LOCK_UPDATE : USER_LOCK_NO_KEY_UPDATE, &cur, err);
    if (rc != RS_OK)
        return rc;
    if (s->action == 2) {
        if (strcmp(s->user_id, actor.user_id) == 0)
            return rs_error_set(err, RS_EPRECOND, "CANNOT_DELETE_SELF",
                                "cannot delete the acting user");
        if (cur->is_owner)
            return rs_error_set(err, RS_EPRECOND, "CANNOT_DELETE_OWNER",
                                "cannot delete the organization owner");
        rc = identity_authz_check_deletable(conn, arena, s->org_id, s->user_id, err);
        if (rc != RS_OK)
            return rc;
        /*
         * Group memberships, external identities and the user's authz roles,
         * memberships and grants go with the row (ON DELETE CASCADE).
         */
        return rs_db_query_arena(conn, arena, "identity.user_delete",
                                 "DELETE FROM identity.users WHERE id = $1", 1, params,
                                 NULL, err);
    }
    if (s->action == 0) {
        if (cur->is_owner)
            return rs_error_set(err, RS_EPRECOND, "OWNER_CANNOT_BE_DISABLED",
                                "cannot disable the organization owner");
        if (strcmp(s->user_id, actor.user_id) == 0)
            return rs_error_set(err, RS_EPRECOND, "CANNOT_DISABLE_SELF",
                                "cannot disable the acting user");
    }
    params[1] = s->action == 1 ? "true" : "false";
    rc = rs_db_query_arena(conn, arena, "identity.user_set_enabled",
                           "UPDATE identity.users AS u SET enabled = $2, updated_at = now() "
                           "WHERE u.id = $1 RETURNING " IDENTITY_USER_COLS,
                           2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    s->user = identity_user_from_row(arena, res, 0);
    return s->user == NULL ? identity_nomem(err) : RS_OK;
}

static rs_status
run_user_state(struct rs_call *call, const char *org_id, const char *user_id, int action,
               struct user_state *s, struct rs_error *err)
{
    rs_status rc;

    memset(s, 0, sizeof(*s));
    s->call = call;
    s->org_id = org_id;
    s->user_id = user_id;
    s->action = action;
    rc = rs_validate_id("organization_id", org_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("user_id", user_id, err);
    if (rc != RS_OK)
        return rc;
    return identity_tx(call, org_id, user_state_tx, s, err);
}

rs_status
identity_disable_user(struct rs_call *call, const ProtobufCMessage *msg,
                      ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__SetUserEnabledRequest *req = (const void *)msg;
    struct user_state s;
    rs_status rc;

    rc = run_user_state(call, req->organization_id, req->user_id, 0, &s, err);
    if (rc != RS_OK)
        return rc;
    *resp = &s.user->base;
    return RS_OK;
}

rs_status
identity_enable_user(struct rs_call *call, const ProtobufCMessage *msg,
                     ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__SetUserEnabledRequest *req = (const void *)msg;
    struct user_state s;
    rs_status rc;

    rc = run_user_state(call, req->organization_id, req->user_id, 1, &s, err);
    if (rc != RS_OK)
        return rc;
    *resp = &s.user->base;
    return RS_OK;
}

rs_status
identity_delete_user(struct rs_call *call, const ProtobufCMessage *msg,
                     ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__DeleteUserRequest *req = (const void *)msg;
    Roster__Identity__V1__DeleteUserResponse *out;
    struct user_state s;
    rs_status rc;

    rc = run_user_state(call, req->organization_id, req->user_id, 2, &s, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return identity_nomem(err);
    roster__identity__v1__delete_user_response__init(out);
    out->user_id = (char *)req->user_id;
    rs_log_info(rs_call_log(call), "user deleted", "organization_id", req->organization_id,
                "user_id", req->user_id, NULL);
    *resp = &out->base;
    return RS_OK;
}
