/*
 * services/authz/src/orgroles.c
 *    Organisation role definitions: the three built-in presets and the
 *    organisation's custom roles built from function-permission keys.
 */
#include "authz_int.h"

#include <stdio.h>
#include <string.h>

#include "lookups.h"

#define ROLE_NAME_MAX 50

/* Splits "a,b" (keys hold no comma) into an arena array. */
static rs_status
split_keys(struct rs_call *call, const char *text, char ***out, size_t *n_out,
           struct rs_error *err)
{
    rs_arena *arena = rs_call_arena(call);
    char *copy = rs_arena_strdup(arena, text);
    size_t n = 0;
    char **keys;
    char *p;

    if (copy == NULL)
        return authz_nomem(err);
    keys = rs_arena_alloc(arena, (strlen(text) / 2 + 1) * sizeof(*keys));
    if (keys == NULL)
        return authz_nomem(err);
    for (p = copy; *p != '\0';) {
        char *comma = strchr(p, ',');

        keys[n++] = p;
        if (comma == NULL)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    *out = keys;
    *n_out = n;
    return RS_OK;
}

static rs_status
role_from_row(struct rs_call *call, const PGresult *res, int row,
              Roster__Authz__V1__OrgRole **out, struct rs_error *err)
{
    Roster__Authz__V1__OrgRole *r = rs_arena_alloc(rs_call_arena(call), sizeof(*r));

    if (r == NULL)
        return authz_nomem(err);
    roster__authz__v1__org_role__init(r);
    r->role_id = authz_col_int64(res, row, 0);
    r->name = authz_col_str(rs_call_arena(call), res, row, 1);
    if (r->name == NULL)
        return authz_nomem(err);
    *out = r;
    return split_keys(call, PQgetvalue(res, row, 2), &r->auth_keys, &r->n_auth_keys, err);
}

static Roster__Authz__V1__OrgRole *
preset_role(struct rs_call *call, const struct authz_org_preset *p)
{
    Roster__Authz__V1__OrgRole *r = rs_arena_alloc(rs_call_arena(call), sizeof(*r));
    size_t n = 0;

    if (r == NULL)
        return NULL;
    roster__authz__v1__org_role__init(r);
    r->role_id = p->role_id;
    r->name = (char *)p->name;
    r->is_preset = true;
    while (p->keys[n] != NULL)
        n++;
    r->auth_keys = (char **)p->keys;
    r->n_auth_keys = n;
    return r;
}

/* Checks name and keys; *keys_literal receives the keys as a text[] literal. */
static rs_status
validate_role(struct rs_call *call, const char *name, char *const *keys, size_t n_keys,
              char **keys_literal, struct rs_error *err)
{
    size_t size = 3;
    size_t i;
    size_t j;
    char *lit;
    rs_status rc;

    rc = authz_validate_name("name", name, ROLE_NAME_MAX, "ROLE_NAME_INVALID", err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < authz_n_org_presets; i++) {
        if (strcmp(authz_org_presets[i].name, name) == 0) {
            rs_error_set(err, RS_EEXIST, "ROLE_NAME_TAKEN",
                         "organization role name \"%s\" is taken by a preset role", name);
            rs_error_meta(err, "field", "name");
            return RS_EEXIST;
        }
    }
    for (i = 0; i < n_keys; i++) {
        if (!authz_function_key_valid(keys[i])) {
            rs_error_set(err, RS_EINVAL, "AUTH_KEY_INVALID",
                         "invalid auth key \"%s\": not a function-permission key", keys[i]);
            rs_error_meta(err, "field", "auth_keys");
            return RS_EINVAL;
        }
        size += strlen(keys[i]) + 1;
    }
    lit = rs_arena_alloc(rs_call_arena(call), size);
    if (lit == NULL)
        return authz_nomem(err);
    strcpy(lit, "{");
    for (i = 0; i < n_keys; i++) {
        /* Duplicates are dropped, keeping the first. */
        for (j = 0; j < i && strcmp(keys[j], keys[i]) != 0; j++)
            ;
        if (j < i)
            continue;
        if (lit[1] != '\0')
            strcat(lit, ",");
        strcat(lit, keys[i]);
    }
    strcat(lit, "}");
    *keys_literal = lit;
    return RS_OK;
}

static rs_status
preset_read_only(int64_t role_id, struct rs_error *err)
{
    char id[24];

    snprintf(id, sizeof(id), "%lld", (long long)role_id);
    rs_error_set(err, RS_EPRECOND, "PRESET_ROLE_READ_ONLY",
                 "organization role %s is a preset and cannot be changed or deleted", id);
    rs_error_meta(err, "role_id", id);
    return RS_EPRECOND;
}

static rs_status
role_not_found(int64_t role_id, struct rs_error *err)
{
    char id[24];

    snprintf(id, sizeof(id), "%lld", (long long)role_id);
    rs_error_set(err, RS_ENOTFOUND, "ROLE_NOT_FOUND", "organization role %s not found", id);
    rs_error_meta(err, "role_id", id);
    return RS_ENOTFOUND;
}

static rs_status
name_taken(const char *name, struct rs_error *err)
{
    rs_error_set(err, RS_EEXIST, "ROLE_NAME_TAKEN", "organization role name \"%s\" is taken",
                 name);
    rs_error_meta(err, "field", "name");
    return RS_EEXIST;
}

struct role_write {
    struct rs_call *call;
    const char *org_id;
    int64_t role_id;  /* 0 for create */
    const char *name; /* "" keeps the name on update */
    const char *keys; /* text[] literal */
    PGresult *res;
    char *token;
};

static rs_status
create_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct role_write *w = arg;
    struct authz_actor actor;
    const char *params[3] = { w->org_id, w->name, w->keys };
    rs_status rc;

    rc = authz_authorize(conn, w->call, w->org_id, AUTHZ_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = authz_query(conn, w->call, "authz.org_role_insert",
                     "INSERT INTO authz.org_roles (organization_id, name, auth_keys) "
                     "VALUES ($1, $2, $3::text[]) RETURNING " AUTHZ_ORG_ROLE_COLS,
                     3, params, &w->res, err);
    if (rc != RS_OK)
        return authz_sqlstate_is(err, "23505") ? name_taken(w->name, err) : rc;
    return authz_bump(conn, w->call, w->org_id, &w->token, err);
}

static rs_status
role_response(struct role_write *w, ProtobufCMessage **resp, struct rs_error *err)
{
    Roster__Authz__V1__OrgRoleResponse *out =
        rs_arena_alloc(rs_call_arena(w->call), sizeof(*out));
    rs_status rc;

    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__org_role_response__init(out);
    rc = role_from_row(w->call, w->res, 0, &out->role, err);
    if (rc != RS_OK)
        return rc;
    out->revision = w->token;
    *resp = &out->base;
    return RS_OK;
}

AUTHZ_HANDLER(authz_create_org_role)
{
    const Roster__Authz__V1__CreateOrgRoleRequest *r =
        (const Roster__Authz__V1__CreateOrgRoleRequest *)req;
    struct role_write w;
    rs_status rc;

    rc = rs_call_name_normalize(call, &r->name, err);
    if (rc != RS_OK)
        return rc;
    memset(&w, 0, sizeof(w));
    w.call = call;
    w.org_id = r->organization_id;
    w.name = r->name;
    rc = validate_role(call, r->name, r->auth_keys, r->n_auth_keys, (char **)&w.keys, err);
    if (rc == RS_OK)
        rc = authz_tx(call, create_body, &w, err);
    if (rc != RS_OK)
        return rc;
    return role_response(&w, resp, err);
}

static rs_status
update_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct role_write *w = arg;
    struct authz_actor actor;
    char id[24];
    const char *params[4] = { id, w->org_id, w->name, w->keys };
    rs_status rc;

    rc = authz_authorize(conn, w->call, w->org_id, AUTHZ_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    snprintf(id, sizeof(id), "%lld", (long long)w->role_id);
    rc = authz_query(conn, w->call, "authz.org_role_update", AUTHZ_SQL_ORG_ROLE_UPDATE, 4,
                     params, &w->res, err);
    if (rc != RS_OK)
        return authz_sqlstate_is(err, "23505") ? name_taken(w->name, err) : rc;
    if (PQntuples(w->res) == 0)
        return role_not_found(w->role_id, err);
    return authz_bump(conn, w->call, w->org_id, &w->token, err);
}

AUTHZ_HANDLER(authz_update_org_role)
{
    const Roster__Authz__V1__UpdateOrgRoleRequest *r =
        (const Roster__Authz__V1__UpdateOrgRoleRequest *)req;
    struct role_write w;
    rs_status rc;

    rc = rs_call_name_normalize(call, &r->name, err);
    if (rc != RS_OK)
        return rc;
    memset(&w, 0, sizeof(w));
    w.call = call;
    w.org_id = r->organization_id;
    w.role_id = r->role_id;
    w.name = r->name;
    if (authz_org_preset_find(r->role_id) != NULL)
        return preset_read_only(r->role_id, err);
    /* An empty name keeps the current one; the keys are always replaced. */
    rc = validate_role(call, r->name[0] == '\0' ? "x" : r->name, r->auth_keys, r->n_auth_keys,
                       (char **)&w.keys, err);
    if (rc == RS_OK)
        rc = authz_tx(call, update_body, &w, err);
    if (rc != RS_OK)
        return rc;
    return role_response(&w, resp, err);
}

/* A role held by a user stays; FOR UPDATE waits for assignments in flight (FOR SHARE). */
static const struct authz_custom_role_kind org_role_kind = {
    "organization role",
    "user(s); revoke it first",
    "authz.org_role_lock",
    AUTHZ_SQL_ORG_ROLE_LOCK,
    "authz.org_role_delete",
    AUTHZ_SQL_ORG_ROLE_DELETE,
};

static rs_status
delete_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct role_write *w = arg;

    return authz_delete_custom_role(conn, w->call, &org_role_kind, w->org_id, w->role_id,
                                    &w->token, err);
}

AUTHZ_HANDLER(authz_delete_org_role)
{
    const Roster__Authz__V1__DeleteOrgRoleRequest *r =
        (const Roster__Authz__V1__DeleteOrgRoleRequest *)req;
    struct role_write w;
    rs_status rc;

    memset(&w, 0, sizeof(w));
    w.call = call;
    w.org_id = r->organization_id;
    w.role_id = r->role_id;
    if (authz_org_preset_find(r->role_id) != NULL)
        return preset_read_only(r->role_id, err);
    rc = authz_tx(call, delete_body, &w, err);
    if (rc != RS_OK)
        return rc;
    return authz_write_response(call, w.token, resp, err);
}

AUTHZ_HANDLER(authz_list_org_roles)
{
    const Roster__Authz__V1__ListOrgRolesRequest *r =
        (const Roster__Authz__V1__ListOrgRolesRequest *)req;
    const char *params[1] = { r->organization_id };
    Roster__Authz__V1__ListOrgRolesResponse *out;
    PGresult *res = NULL;
    size_t n;
    size_t i;
    rs_status rc;

    rc = authz_read(call, r->organization_id, "authz.org_role_list",
                    "SELECT " AUTHZ_ORG_ROLE_COLS " FROM authz.org_roles "
                    "WHERE organization_id = $1 ORDER BY id",
                    1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    n = authz_n_org_presets + (size_t)PQntuples(res);
    if (out == NULL)
        return authz_nomem(err);
    roster__authz__v1__list_org_roles_response__init(out);
    out->roles = rs_arena_alloc(rs_call_arena(call), n * sizeof(*out->roles));
    if (out->roles == NULL)
        return authz_nomem(err);
    for (i = 0; i < authz_n_org_presets; i++) {
        out->roles[i] = preset_role(call, &authz_org_presets[i]);
        if (out->roles[i] == NULL)
            return authz_nomem(err);
    }
    for (; i < n; i++) {
        rc = role_from_row(call, res, (int)(i - authz_n_org_presets), &out->roles[i], err);
        if (rc != RS_OK)
            return rc;
    }
    out->n_roles = n;
    *resp = &out->base;
    return RS_OK;
}
