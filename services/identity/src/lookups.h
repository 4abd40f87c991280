/*
 * services/identity/src/lookups.h
 *    SQL of the statements that find rows by their key, or by a user id,
 *    within one organisation. Each compares the organisation through
 *    RS_DB_EQ_UNINDEXED (roster/db.h), so that statistics taken before a
 *    large import cannot lead the planner into an index that starts with
 *    organization_id. The handlers run these texts, and
 *    tests/test_lookup_plans.c runs EXPLAIN on the same texts under such
 *    statistics to check the index each one uses. A statement added here
 *    needs a row in that test's table.
 */
#ifndef IDENTITY_LOOKUPS_H
#define IDENTITY_LOOKUPS_H

#include "identity_int.h"

/* The groups g of organisation $1 whose ids are in the array $2, found by primary key. */
#define IDENTITY_GROUPS_BY_ID                                                          \
    RS_DB_EQ_UNINDEXED("g.organization_id", "$1") " AND g.id = ANY ($2::text[])"

/* --- actor.c --- */

/* Enabled flag of user $1 of organisation $2; no row when the user is not in it. */
#define IDENTITY_SQL_ACTOR                                                             \
    "SELECT enabled FROM identity.users "                                               \
    "WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2")

/*
 * Organisation $2's owner after the IDENTITY_USER_COLS of user $1, which
 * are NULL when the user is not in the organisation. No row when the
 * organisation does not exist.
 */
#define IDENTITY_SQL_ORG_USER                                                          \
    "SELECT " IDENTITY_USER_COLS ", org.owner_user_id "                                 \
    "FROM identity.organizations org LEFT JOIN identity.users u "                       \
    "ON u.id = $1 AND " RS_DB_EQ_UNINDEXED("u.organization_id", "org.id")               \
    " WHERE org.id = $2"

/* --- users.c --- */

/* User $1 of organisation $2, unlocked and with each lock that load_user takes. */
#define IDENTITY_SQL_USER_GET                                                          \
    "SELECT " IDENTITY_USER_COLS " FROM identity.users u "                              \
    "WHERE u.id = $1 AND " RS_DB_EQ_UNINDEXED("u.organization_id", "$2")
#define IDENTITY_SQL_USER_GET_NO_KEY_UPDATE IDENTITY_SQL_USER_GET " FOR NO KEY UPDATE OF u"
#define IDENTITY_SQL_USER_GET_UPDATE IDENTITY_SQL_USER_GET " FOR UPDATE OF u"

/* --- members.c and external.c --- */

/* One row when user $1 belongs to organisation $2. */
#define IDENTITY_SQL_USER_EXISTS                                                       \
    "SELECT 1 FROM identity.users "                                                     \
    "WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2")

/* --- members.c --- */

/* Locks FOR SHARE the users of organisation $1 whose ids are in the array $2. */
#define IDENTITY_SQL_MEMBERS_LOCK_USERS                                                \
    "SELECT id FROM identity.users "                                                    \
    "WHERE " RS_DB_EQ_UNINDEXED("organization_id", "$1") " AND id = ANY ($2::text[]) "  \
    "FOR SHARE"

/* An id in the array $2 that names no user of organisation $1. */
#define IDENTITY_SQL_MEMBERS_MISSING_USER                                              \
    "SELECT x FROM unnest($2::text[]) AS x WHERE NOT EXISTS ("                          \
    "SELECT 1 FROM identity.users u WHERE u.id = x "                                    \
    "AND " RS_DB_EQ_UNINDEXED("u.organization_id", "$1") ") LIMIT 1"

/*
 * A page of the groups of organisation $2 that user $1 is a member of,
 * after the (created_at, id) key $3, $4 and at most $5 rows. The groups
 * are found through the user's memberships.
 */
#define IDENTITY_SQL_GROUPS_OF_USER                                                    \
    "SELECT " IDENTITY_GROUP_COLS " FROM identity.user_groups g "                       \
    "JOIN identity.user_group_members m ON m.group_id = g.id "                          \
    "WHERE m.user_id = $1 AND " RS_DB_EQ_UNINDEXED("g.organization_id", "$2") " "        \
    "AND ($3::bigint IS NULL OR (g.created_at, g.id) > "                                \
    "('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::text)) "        \
    "ORDER BY g.created_at, g.id LIMIT $5"

/* --- groups.c --- */

/* Group $1 of organisation $2, unlocked and locked FOR NO KEY UPDATE. */
#define IDENTITY_SQL_GROUP_GET                                                         \
    "SELECT " IDENTITY_GROUP_COLS " FROM identity.user_groups g "                       \
    "WHERE g.id = $1 AND " RS_DB_EQ_UNINDEXED("g.organization_id", "$2")
#define IDENTITY_SQL_GROUP_GET_NO_KEY_UPDATE IDENTITY_SQL_GROUP_GET " FOR NO KEY UPDATE OF g"

/* --- groups_batch.c --- */

/*
 * The groups of organisation $1 whose ids are in the array $2, sorted by
 * id in byte order for identity_find_row. The PARENTS form locks them as
 * CreateUserGroup locks its parent.
 */
#define IDENTITY_SQL_GROUPS_BATCH_READ_BACK                                            \
    "SELECT " IDENTITY_GROUP_COLS " FROM identity.user_groups g "                       \
    "WHERE " IDENTITY_GROUPS_BY_ID " ORDER BY g.id COLLATE \"C\""
#define IDENTITY_SQL_GROUPS_BATCH_PARENTS                                              \
    IDENTITY_SQL_GROUPS_BATCH_READ_BACK " FOR NO KEY UPDATE OF g"

/* --- users_batch.c --- */

/*
 * Id and synced flag of the groups of organisation $1 whose ids are in the
 * array $2, sorted by id in byte order. KEY SHARE keeps the groups from
 * being deleted before commit.
 */
#define IDENTITY_SQL_USERS_BATCH_GROUPS                                                \
    "SELECT g.id, g.sync_platform IS NOT NULL FROM identity.user_groups g "             \
    "WHERE " IDENTITY_GROUPS_BY_ID " ORDER BY g.id COLLATE \"C\" FOR KEY SHARE"

/* --- external.c --- */

/*
 * Every external identity of user $1 of organisation $2. The primary key
 * of external_identities starts with organization_id, so the organisation
 * is compared in a form that leaves only the index on user_id.
 */
#define IDENTITY_SQL_EXTERNAL_LIST                                                     \
    "SELECT " IDENTITY_EXTERNAL_COLS " FROM identity.external_identities e "            \
    "WHERE e.user_id = $1 AND " RS_DB_EQ_UNINDEXED("e.organization_id", "$2") " "        \
    "ORDER BY e.created_at, e.platform, e.corp_id, e.platform_user_id"

/* --- authz_rules.c --- */

/*
 * The first workspace of organisation $1 that user $2 owns, found through
 * authz's index on owner_user_id.
 */
#define IDENTITY_SQL_OWNED_WORKSPACE                                                   \
    "SELECT id, name FROM authz.workspaces "                                            \
    "WHERE " RS_DB_EQ_UNINDEXED("organization_id", "$1") " AND owner_user_id = $2 "     \
    "ORDER BY created_at, id LIMIT 1"

#endif /* IDENTITY_LOOKUPS_H */
