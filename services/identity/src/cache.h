/*
 * services/identity/src/cache.h
 *    Users and organisation owners held in memory for GetUser and the
 *    read-only actor check, kept current by the roster_identity_changes
 *    notifications that identity's own triggers send at commit.
 */
#ifndef IDENTITY_CACHE_H
#define IDENTITY_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "roster/arena.h"
#include "roster/identity/v1/identity.pb-c.h"
#include "roster/status.h"

struct identity_cache;

/*
 * The cache state taken before a load reads the database. A row stored
 * with it is served until a change of its organisation is notified or
 * made here, or the listener reconnects. ok is false when nothing may be
 * stored (cache off, or the listener is down).
 */
struct identity_cache_stamp {
    uint64_t epoch;
    uint64_t generation;
    bool ok;
};

/*
 * Creates a cache of at most max_rows rows and starts its LISTEN thread on
 * conninfo. Returns RS_OK and *out owned by the caller (free with
 * identity_cache_destroy).
 */
RS_MUSTCHECK rs_status identity_cache_create(const char *conninfo, long max_rows,
                                             struct identity_cache **out,
                                             struct rs_error *err);

/* Stops the LISTEN thread and frees every row. NULL is a no-op. */
void identity_cache_destroy(struct identity_cache *c);

/* Takes the stamp of org_id; call it before the query whose rows are stored. c may be NULL. */
struct identity_cache_stamp identity_cache_stamp(struct identity_cache *c, const char *org_id);

/*
 * Copies the cached owner of org_id into owner[33]; returns false when it
 * is not cached or no longer current. c may be NULL.
 */
bool identity_cache_get_owner(struct identity_cache *c, const char *org_id, char owner[33]);

/* Stores org_id's owner as loaded under stamp (ignored when stale already). */
void identity_cache_put_owner(struct identity_cache *c, const char *org_id, const char *owner,
                              struct identity_cache_stamp stamp);

/*
 * Sets *out to a copy of the cached user, allocated from arena, and
 * returns true. Returns false when the user is not cached, no longer
 * current, or memory is short. c may be NULL.
 */
bool identity_cache_get_user(struct identity_cache *c, const char *org_id, const char *user_id,
                             rs_arena *arena, Roster__Identity__V1__User **out);

/* Stores a copy of user as loaded under stamp (ignored when stale already). */
void identity_cache_put_user(struct identity_cache *c, const Roster__Identity__V1__User *user,
                             struct identity_cache_stamp stamp);

/*
 * Makes every cached row of org_id stale at once. Writers here call it
 * after their transaction ends, so that this replica reads its own
 * writes before the notification arrives. c and org_id may be NULL.
 */
void identity_cache_forget(struct identity_cache *c, const char *org_id);

#endif /* IDENTITY_CACHE_H */
