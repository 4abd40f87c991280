/*
 * services/identity/src/actor.c
 *    Who is calling: the organisation and actor checks every RPC except
 *    CreateOrganization starts with, the read path through the cache, and
 *    pool access for handlers.
 */
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "lookups.h"
#include "roster/actor.h"
#include "roster/cfg.h"
#include "roster/str.h"

/* Maximum wait for a pooled connection, also when the call has no deadline. */
#define IDENTITY_ACQUIRE_MAX_MS 5000
/* ROSTER_IDENTITY_CACHE_ROWS: about 300 bytes each. */
#define IDENTITY_CACHE_ROWS_DEFAULT 100000
#define IDENTITY_CACHE_ROWS_MAX 10000000

rs_status
identity_service_init(rs_db_pool *pool, const char *conninfo, void **out,
                      struct rs_error *err)
{
    struct identity_service *svc = calloc(1, sizeof(*svc));
    long rows = 0;
    rs_status rc;

    *out = NULL;
    if (svc == NULL)
        return identity_nomem(err);
    svc->pool = pool;
    rc = rs_cfg_int("ROSTER_IDENTITY_CACHE_ROWS", IDENTITY_CACHE_ROWS_DEFAULT, 0,
                    IDENTITY_CACHE_ROWS_MAX, &rows, err);
    if (rc == RS_OK && rows > 0 && conninfo != NULL && conninfo[0] != '\0')
        rc = identity_cache_create(conninfo, rows, &svc->cache, err);
    if (rc != RS_OK) {
        free(svc);
        return rc;
    }
    *out = svc;
    return RS_OK;
}

void
identity_service_cleanup(void *arg)
{
    struct identity_service *svc = arg;

    if (svc == NULL)
        return;
    identity_cache_destroy(svc->cache);
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
identity_tx(struct rs_call *call, const char *org_id, rs_db_tx_fn fn, void *arg,
            struct rs_error *err)
{
    const struct identity_service *svc = rs_call_user_data(call);
    rs_status rc = rs_db_tx(svc->pool, RS_DB_READ_COMMITTED, 0, fn, arg, err);

    /* Also after a failure: COMMIT may have reached the server before the error. */
    identity_cache_forget(svc->cache, org_id);
    return rc;
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

/* The call's actor metadata, checked after the organisation is known to exist. */
static rs_status
actor_well_formed(const char *actor, struct rs_error *err)
{
    /* libs/rpc refuses calls without an actor first; checked again for safety. */
    if (actor == NULL || actor[0] == '\0')
        return rs_error_set(err, RS_EUNAUTH, "ACTOR_REQUIRED",
                            "missing x-roster-actor metadata naming the acting user");
    return rs_actor_validate(actor, err);
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

    rc = actor_well_formed(actor, err);
    if (rc != RS_OK)
        return rc;
    params[0] = actor;
    params[1] = org_id;
    rc = rs_db_query_arena(conn, arena, "identity.actor", IDENTITY_SQL_ACTOR, 2, params, &res,
                           err);
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

/*
 * Reads org_id's owner into owner[33] and, when user_id names a user of
 * it, that user into *user (NULL otherwise), in one query, and stores both
 * in the cache. *org_found is false when the organisation does not exist.
 */
static rs_status
load_org_user(struct rs_call *call, const char *org_id, const char *user_id, char owner[33],
              bool *org_found, Roster__Identity__V1__User **user, struct rs_error *err)
{
    const struct identity_service *svc = rs_call_user_data(call);
    struct identity_cache_stamp stamp = identity_cache_stamp(svc->cache, org_id);
    rs_arena *arena = rs_call_arena(call);
    const char *params[2] = { user_id, org_id };
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    rs_status rc;

    *org_found = false;
    *user = NULL;
    rc = identity_acquire(call, &conn, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query_arena(conn, arena, "identity.org_user", IDENTITY_SQL_ORG_USER, 2, params,
                           &res, err);
    if (rc != RS_OK || PQntuples(res) == 0)
        goto out;
    *org_found = true;
    snprintf(owner, RS_ID_LEN + 1, "%s", PQgetvalue(res, 0, IDENTITY_USER_NCOLS));
    identity_cache_put_owner(svc->cache, org_id, owner, stamp);
    if (PQgetisnull(res, 0, 0))
        goto out;
    *user = identity_user_from_row(arena, res, 0);
    if (*user == NULL) {
        rc = identity_nomem(err);
        goto out;
    }
    identity_cache_put_user(svc->cache, *user, stamp);
out:
    rs_db_release(svc->pool, conn);
    return rc;
}

rs_status
identity_authorize_read(struct rs_call *call, const char *org_id, struct identity_actor *out,
                        struct rs_error *err)
{
    const struct identity_service *svc = rs_call_user_data(call);
    const char *actor = rs_call_actor(call);
    bool actor_ok = actor != NULL && rs_id_valid(actor);
    Roster__Identity__V1__User *user = NULL;
    bool org_found = true;
    rs_status rc;

    memset(out, 0, sizeof(*out));
    if (!identity_cache_get_owner(svc->cache, org_id, out->owner_id) ||
        (actor_ok && !identity_cache_get_user(svc->cache, org_id, actor, rs_call_arena(call),
                                              &user))) {
        rc = load_org_user(call, org_id, actor_ok ? actor : "", out->owner_id, &org_found,
                           &user, err);
        if (rc != RS_OK)
            return rc;
    }
    if (!org_found)
        return rs_org_not_found(org_id, err);
    memcpy(out->org_id, org_id, RS_ID_LEN + 1);
    rc = actor_well_formed(actor, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_actor_check(org_id, actor, true, user != NULL, user != NULL && user->enabled, err);
    if (rc != RS_OK)
        return rc;
    memcpy(out->user_id, actor, RS_ID_LEN + 1);
    return RS_OK;
}

rs_status
identity_get_user_read(struct rs_call *call, const char *org_id, const char *user_id,
                       Roster__Identity__V1__User **out, struct rs_error *err)
{
    const struct identity_service *svc = rs_call_user_data(call);
    char owner[RS_ID_LEN + 1];
    bool org_found;
    rs_status rc;

    if (identity_cache_get_user(svc->cache, org_id, user_id, rs_call_arena(call), out))
        return RS_OK;
    rc = load_org_user(call, org_id, user_id, owner, &org_found, out, err);
    if (rc != RS_OK)
        return rc;
    if (!org_found)
        return rs_org_not_found(org_id, err);
    return *out != NULL ? RS_OK : identity_user_not_found(org_id, user_id, err);
}
