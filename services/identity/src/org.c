/*
 * services/identity/src/org.c
 *    CreateOrganization, GetOrganization and UpdateOrganization.
 */
#include "identity_int.h"

#include <stdio.h>
#include <string.h>

#include "roster/actor.h"
#include "roster/str.h"
#include "validate.h"

static rs_status
validate_edition(int edition, struct rs_error *err)
{
    if (edition == ROSTER__IDENTITY__V1__EDITION__EDITION_ADVANCED ||
        edition == ROSTER__IDENTITY__V1__EDITION__EDITION_PROFESSIONAL)
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "EDITION_INVALID",
                 "invalid edition %d: expected ADVANCED or PROFESSIONAL", edition);
    rs_error_meta(err, "field", "edition");
    return RS_EINVAL;
}

static rs_status
bad_caps(struct rs_error *err, const char *field, const char *text)
{
    rs_error_set(err, RS_EINVAL, "SEAT_CAPS_INVALID", "invalid seat_caps.%s: %s", field,
                 text);
    rs_error_meta(err, "field", "seat_caps");
    return RS_EINVAL;
}

static rs_status
validate_caps(const Roster__Identity__V1__SeatCaps *caps, struct rs_error *err)
{
    if (caps == NULL) {
        rs_error_set(err, RS_EINVAL, "SEAT_CAPS_INVALID", "missing required field \"%s\"",
                     "seat_caps");
        rs_error_meta(err, "field", "seat_caps");
        return RS_EINVAL;
    }
    if (caps->total < 1)
        return bad_caps(err, "total", "must be at least 1");
    if (caps->developers_cap_case != 0 &&
        (caps->developers < 0 || caps->developers > caps->total))
        return bad_caps(err, "developers", "must be between 0 and total");
    if (caps->analysts_cap_case != 0 && (caps->analysts < 0 || caps->analysts > caps->total))
        return bad_caps(err, "analysts", "must be between 0 and total");
    if (caps->visitors_cap_case != 0 && (caps->visitors < 0 || caps->visitors > caps->total))
        return bad_caps(err, "visitors", "must be between 0 and total");
    return RS_OK;
}

/* NULL (no per-type cap) or the cap in decimal, as a query parameter. */
static const char *
cap_param(rs_arena *arena, bool set, int32_t value)
{
    return set ? identity_int_param(arena, value) : NULL;
}

static rs_status
select_org(rs_db_conn *conn, rs_arena *arena, const char *org_id,
           Roster__Identity__V1__Organization **out, struct rs_error *err)
{
    const char *params[1] = { org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_db_query_arena(conn, arena, "identity.org_get",
                           "SELECT " IDENTITY_ORG_COLS
                           " FROM identity.organizations o WHERE o.id = $1",
                           1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return rs_org_not_found(org_id, err);
    *out = identity_org_from_row(arena, res, 0);
    return *out == NULL ? identity_nomem(err) : RS_OK;
}

struct create_org {
    struct rs_call *call;
    const Roster__Identity__V1__CreateOrganizationRequest *req;
    Roster__Identity__V1__CreateOrganizationResponse *resp;
};

static rs_status
create_org_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct create_org *c = arg;
    const Roster__Identity__V1__SeatCaps *caps = c->req->seat_caps;
    rs_arena *arena = rs_call_arena(c->call);
    char org_id[RS_ID_LEN + 1];
    char owner_id[RS_ID_LEN + 1];
    const char *params[8];
    rs_status rc;

    rs_id_new(org_id);
    rs_id_new(owner_id);
    params[0] = org_id;
    params[1] = c->req->name;
    params[2] = identity_int_param(arena, c->req->edition);
    params[3] = identity_int_param(arena, caps->total);
    params[4] = cap_param(arena, caps->developers_cap_case != 0, caps->developers);
    params[5] = cap_param(arena, caps->analysts_cap_case != 0, caps->analysts);
    params[6] = cap_param(arena, caps->visitors_cap_case != 0, caps->visitors);
    params[7] = owner_id;
    rc = rs_db_query_arena(conn, arena, "identity.org_insert",
                           "INSERT INTO identity.organizations (id, name, edition, seat_total, "
                           "seat_developers, seat_analysts, seat_visitors, owner_user_id) "
                           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                           8, params, NULL, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_insert_user(conn, arena, org_id, owner_id, c->req->owner, &c->resp->owner,
                              err);
    if (rc != RS_OK)
        return rc;
    return select_org(conn, arena, org_id, &c->resp->organization, err);
}

rs_status
identity_create_organization(struct rs_call *call, const ProtobufCMessage *msg,
                             ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__CreateOrganizationRequest *req = (const void *)msg;
    struct create_org c = { call, req, NULL };
    rs_status rc;

    rc = identity_validate_text("name", req->name, IDENTITY_ORG_NAME_MAX, false,
                                "ORGANIZATION_NAME_INVALID", err);
    if (rc != RS_OK)
        return rc;
    rc = validate_edition(req->edition, err);
    if (rc != RS_OK)
        return rc;
    rc = validate_caps(req->seat_caps, err);
    if (rc != RS_OK)
        return rc;
    if (req->owner == NULL) {
        rs_error_set(err, RS_EINVAL, "OWNER_REQUIRED", "missing required field \"%s\"",
                     "owner");
        rs_error_meta(err, "field", "owner");
        return RS_EINVAL;
    }
    rc = rs_name_normalize(rs_call_arena(call), &req->owner->nickname, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_validate_new_user(req->owner, err);
    if (rc != RS_OK)
        return rc;
    if (req->owner->user_type != ROSTER__IDENTITY__V1__USER_TYPE__USER_TYPE_DEVELOPER &&
        req->owner->user_type != ROSTER__IDENTITY__V1__USER_TYPE__USER_TYPE_ANALYST) {
        rs_error_set(err, RS_EINVAL, "OWNER_TYPE_NOT_ALLOWED",
                     "the organization owner must be a DEVELOPER or an ANALYST");
        rs_error_meta(err, "field", "owner.user_type");
        return RS_EINVAL;
    }

    c.resp = rs_arena_alloc(rs_call_arena(call), sizeof(*c.resp));
    if (c.resp == NULL)
        return identity_nomem(err);
    roster__identity__v1__create_organization_response__init(c.resp);
    rc = identity_tx(call, NULL, create_org_tx, &c, err);
    if (rc != RS_OK)
        return rc;
    rs_log_info(rs_call_log(call), "organization created", "organization_id",
                c.resp->organization->organization_id, "owner_user_id",
                c.resp->owner->user_id, NULL);
    *resp = &c.resp->base;
    return RS_OK;
}

rs_status
identity_get_organization(struct rs_call *call, const ProtobufCMessage *msg,
                          ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__GetOrganizationRequest *req = (const void *)msg;
    Roster__Identity__V1__Organization *org = NULL;
    struct identity_actor actor;
    rs_db_conn *conn = NULL;
    rs_status rc;

    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_authorize_read(call, req->organization_id, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = identity_acquire(call, &conn, err);
    if (rc != RS_OK)
        goto out;
    rc = select_org(conn, rs_call_arena(call), req->organization_id, &org, err);
    if (rc != RS_OK)
        goto out;
    *resp = &org->base;
out:
    rs_db_release(identity_pool(call), conn);
    return rc;
}

struct update_org {
    struct rs_call *call;
    const Roster__Identity__V1__UpdateOrganizationRequest *req;
    bool set_name, set_edition, set_caps;
    Roster__Identity__V1__Organization *org;
};

/* Rejects caps below the seats in use, so no user loses a seat silently. */
static rs_status
check_caps_cover_usage(const Roster__Identity__V1__SeatCaps *caps,
                       const Roster__Identity__V1__SeatUsage *usage, struct rs_error *err)
{
    const char *name = NULL;
    int cap = 0;
    int used = 0;
    char field[32];
    char buf[16];

    if (caps->total < usage->total) {
        name = "total";
        cap = caps->total;
        used = usage->total;
    } else if (caps->developers_cap_case != 0 && caps->developers < usage->developers) {
        name = "developers";
        cap = caps->developers;
        used = usage->developers;
    } else if (caps->analysts_cap_case != 0 && caps->analysts < usage->analysts) {
        name = "analysts";
        cap = caps->analysts;
        used = usage->analysts;
    } else if (caps->visitors_cap_case != 0 && caps->visitors < usage->visitors) {
        name = "visitors";
        cap = caps->visitors;
        used = usage->visitors;
    }
    if (name == NULL)
        return RS_OK;
    rs_error_set(err, RS_EPRECOND, "SEAT_CAPS_BELOW_USAGE",
                 "cannot set seat_caps.%s to %d: %d seats are in use", name, cap, used);
    snprintf(field, sizeof(field), "seat_caps.%s", name);
    rs_error_meta(err, "field", field);
    snprintf(buf, sizeof(buf), "%d", used);
    rs_error_meta(err, "in_use", buf);
    return RS_EPRECOND;
}

static rs_status
update_org_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct update_org *u = arg;
    const Roster__Identity__V1__UpdateOrganizationRequest *req = u->req;
    rs_arena *arena = rs_call_arena(u->call);
    Roster__Identity__V1__Organization *cur = NULL;
    const Roster__Identity__V1__SeatCaps *caps;
    struct identity_actor actor;
    const char *params[8];
    rs_status rc;

    rc = identity_authorize(conn, u->call, req->organization_id,
                            IDENTITY_LOCK_ORG | IDENTITY_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    rc = select_org(conn, arena, req->organization_id, &cur, err);
    if (rc != RS_OK)
        return rc;
    if (u->set_caps) {
        rc = check_caps_cover_usage(req->seat_caps, cur->seat_usage, err);
        if (rc != RS_OK)
            return rc;
    }
    caps = u->set_caps ? req->seat_caps : cur->seat_caps;
    params[0] = req->organization_id;
    params[1] = u->set_name ? req->name : cur->name;
    params[2] = identity_int_param(arena, u->set_edition ? req->edition : cur->edition);
    params[3] = identity_int_param(arena, caps->total);
    params[4] = cap_param(arena, caps->developers_cap_case != 0, caps->developers);
    params[5] = cap_param(arena, caps->analysts_cap_case != 0, caps->analysts);
    params[6] = cap_param(arena, caps->visitors_cap_case != 0, caps->visitors);
    rc = rs_db_query_arena(conn, arena, "identity.org_update",
                           "UPDATE identity.organizations SET name = $2, edition = $3, "
                           "seat_total = $4, seat_developers = $5, seat_analysts = $6, "
                           "seat_visitors = $7, updated_at = now() WHERE id = $1",
                           7, params, NULL, err);
    if (rc != RS_OK)
        return rc;
    return select_org(conn, arena, req->organization_id, &u->org, err);
}

rs_status
identity_update_organization(struct rs_call *call, const ProtobufCMessage *msg,
                             ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__UpdateOrganizationRequest *req = (const void *)msg;
    struct update_org u;
    size_t i;
    rs_status rc;

    memset(&u, 0, sizeof(u));
    u.call = call;
    u.req = req;
    rc = rs_validate_id("organization_id", req->organization_id, err);
    if (rc != RS_OK)
        return rc;
    if (req->update_mask == NULL || req->update_mask->n_paths == 0) {
        rs_error_set(err, RS_EINVAL, "UPDATE_MASK_INVALID",
                     "update_mask must name at least one of name, edition, seat_caps");
        rs_error_meta(err, "field", "update_mask");
        return RS_EINVAL;
    }
    for (i = 0; i < req->update_mask->n_paths; i++) {
        const char *path = req->update_mask->paths[i];

        if (strcmp(path, "name") == 0) {
            u.set_name = true;
        } else if (strcmp(path, "edition") == 0) {
            u.set_edition = true;
        } else if (strcmp(path, "seat_caps") == 0) {
            u.set_caps = true;
        } else {
            rs_error_set(err, RS_EINVAL, "UPDATE_MASK_INVALID",
                         "invalid update_mask path \"%s\": expected name, edition or "
                         "seat_caps",
                         path);
            rs_error_meta(err, "field", "update_mask");
            return RS_EINVAL;
        }
    }
    if (u.set_name) {
        rc = identity_validate_text("name", req->name, IDENTITY_ORG_NAME_MAX, false,
                                    "ORGANIZATION_NAME_INVALID", err);
        if (rc != RS_OK)
            return rc;
    }
    if (u.set_edition) {
        rc = validate_edition(req->edition, err);
        if (rc != RS_OK)
            return rc;
    }
    if (u.set_caps) {
        rc = validate_caps(req->seat_caps, err);
        if (rc != RS_OK)
            return rc;
    }
    rc = identity_tx(call, req->organization_id, update_org_tx, &u, err);
    if (rc != RS_OK)
        return rc;
    *resp = &u.org->base;
    return RS_OK;
}
