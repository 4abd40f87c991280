/*
 * services/identity/src/actor.c
 *    Who is calling: the organisation and actor checks every RPC except
 *    CreateOrganization starts with, and pool access for handlers.
 */
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/actor.h"
#include "roster/str.h"

/* Maximum wait for a pooled connection, also when the call has no deadline. */
#define IDENTITY_ACQUIRE_MAX_MS 5000

rs_status
identity_service_init(rs_db_pool *pool, const char *conninfo, void **out,
                      struct rs_error *err)
{
    struct identity_service *svc = calloc(1, sizeof(*svc));

    RS_UNUSED(conninfo);
    if (svc == NULL)
        return identity_nomem(err);
    svc->pool = pool;
    *out = svc;
    return RS_OK;
}

void
identity_service_cleanup(void *svc)
{
    free(svc);
}

rs_db_pool *
identity_pool(struct rs_call *call)
{
    const struct identity_service *svc = rs_call_user_data(call);

    return svc->pool;
}

rs_status
identity_acquire(struct rs_call *call, rs_db_conn **out, struct rs_error *err)
{
    int64_t left = rs_call_remaining_ms(call);
    int timeout_ms = IDENTITY_ACQUIRE_MAX_MS;

    if (left <= 0)
        return rs_error_set(err, RS_ETIMEDOUT, "DEADLINE_EXCEEDED",
                            "deadline exceeded before the database was reached");
    if (left < timeout_ms)
        timeout_ms = (int)left;
    return rs_db_acquire(identity_pool(call), timeout_ms, out, err);
}

rs_status
identity_tx(struct rs_call *call, rs_db_tx_fn fn, void *arg, struct rs_error *err)
{
    return rs_db_tx(identity_pool(call), RS_DB_READ_COMMITTED, 0, fn, arg, err);
}

rs_status
identity_nomem(struct rs_error *err)
{
    return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
}

bool
identity_sqlstate_is(const struct rs_error *err, const char *sqlstate)
{
    return strcmp(err->sqlstate, sqlstate) == 0;
}

rs_status
identity_authorize(rs_db_conn *conn, struct rs_call *call, const char *org_id,
                   unsigned flags, struct identity_actor *out, struct rs_error *err)
{
    rs_arena *arena = rs_call_arena(call);
    const char *actor = rs_call_actor(call);
    const char *params[2];
    PGresult *res = NULL;
    rs_status rc;

    memset(out, 0, sizeof(*out));
    params[0] = org_id;
    /*
     * NO KEY UPDATE serialises seat counting like FOR UPDATE, but lets
     * concurrent inserts of rows that reference the organisation take
     * their foreign-key KEY SHARE lock, so those cannot deadlock with it.
     */
    if (flags & IDENTITY_LOCK_ORG)
        rc = rs_db_query_arena(conn, arena, "identity.org_lock",
                               "SELECT owner_user_id FROM identity.organizations "
                               "WHERE id = $1 FOR NO KEY UPDATE",
                               1, params, &res, err);
    else
        rc = rs_db_query_arena(conn, arena, "identity.org_owner",
                               "SELECT owner_user_id FROM identity.organizations "
                               "WHERE id = $1",
                               1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return rs_org_not_found(org_id, err);
    memcpy(out->org_id, org_id, RS_ID_LEN + 1);
    snprintf(out->owner_id, sizeof(out->owner_id), "%s", PQgetvalue(res, 0, 0));

    /* libs/rpc refuses calls without an actor first; checked again for safety. */
    if (actor == NULL || actor[0] == '\0')
        return rs_error_set(err, RS_EUNAUTH, "ACTOR_REQUIRED",
                            "missing x-roster-actor metadata naming the acting user");
    rc = rs_actor_validate(actor, err);
    if (rc != RS_OK)
        return rc;
    params[0] = actor;
    params[1] = org_id;
    rc = rs_db_query_arena(conn, arena, "identity.actor",
                           "SELECT enabled FROM identity.users "
                           "WHERE id = $1 AND organization_id = $2",
                           2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_actor_check(org_id, actor, true, PQntuples(res) > 0,
                        PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0, err);
    if (rc != RS_OK)
        return rc;
    memcpy(out->user_id, actor, RS_ID_LEN + 1);
    if (flags & IDENTITY_NEED_ADMIN)
        return identity_actor_is_org_admin(conn, out, err);
    return RS_OK;
}
