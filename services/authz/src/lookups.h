/*
 * services/authz/src/lookups.h
 *    SQL of the statements that find rows by their key within one
 *    organisation. The handlers run these texts, and
 *    tests/test_lookup_plans.c runs EXPLAIN on the same texts under
 *    statistics taken before a large organisation was added, to check that
 *    each one probes the primary key. A statement added here needs a row
 *    in that test's table.
 */
#ifndef AUTHZ_LOOKUPS_H
#define AUTHZ_LOOKUPS_H

#include "authz_int.h"

/* Columns of a workspace row, in the order ws_from_row in workspaces.c reads them. */
#define AUTHZ_WS_COLS                                                                  \
    "w.id, w.organization_id, w.name, w.description, w.owner_user_id, w.mode, "         \
    "w.allow_publish, w.allow_share, w.default_share_to_all, "                          \
    "w.only_admin_create_datasource, w.use_comment, " AUTHZ_US("w.created_at")
#define AUTHZ_WS_CREATED_COL 11

/* Columns of an organisation role row: id, name and the keys joined by ",". */
#define AUTHZ_ORG_ROLE_COLS "id, name, array_to_string(auth_keys, ',')"

/* --- actor.c --- */

/*
 * Organisation $1's owner and, when user $2 belongs to it, the user's
 * enabled flag, type, administrator flag and Permission Administrator flag.
 * No row when the organisation does not exist.
 */
#define AUTHZ_SQL_ACTOR                                                                \
    "SELECT o.owner_user_id, u.enabled, u.user_type, "                                  \
    "authz.is_org_admin(o.id, u.id), EXISTS (SELECT 1 FROM "                            \
    "authz.user_org_roles r WHERE " RS_DB_EQ_UNINDEXED("r.organization_id", "o.id") " "       \
    "AND r.user_id = u.id AND r.role_id = 111111112) "                                  \
    "FROM identity.organizations o LEFT JOIN identity.users u "                         \
    "ON u.id = $2 AND " RS_DB_EQ_UNINDEXED("u.organization_id", "o.id") " WHERE o.id = $1"

/* Type and enabled flag of user $1 of organisation $2, locked FOR SHARE. */
#define AUTHZ_SQL_USER_TYPE                                                            \
    "SELECT user_type, enabled FROM identity.users "                                    \
    "WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2") " FOR SHARE"

/* Group $1 of organisation $2, locked FOR SHARE. */
#define AUTHZ_SQL_GROUP_EXISTS                                                         \
    "SELECT 1 FROM identity.user_groups "                                               \
    "WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2") " FOR SHARE"

/* --- grants.c --- */

/* Workspace and owner of the work of grant $1 of organisation $2. Locks the grant. */
#define AUTHZ_SQL_GRANT_LOCK                                                           \
    "SELECT r.workspace_id, coalesce(r.owner_user_id, '') "                             \
    "FROM authz.grants g JOIN authz.resources r "                                       \
    "ON r.organization_id = g.organization_id "                                         \
    "AND r.resource_type = g.resource_type "                                            \
    "AND r.resource_id = g.resource_id "                                                \
    "WHERE g.id = $1 AND " RS_DB_EQ_UNINDEXED("g.organization_id", "$2") " FOR UPDATE OF g"

#define AUTHZ_SQL_GRANT_DELETE                                                         \
    "DELETE FROM authz.grants WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2")

/* --- orgroles.c --- */

/* Renames custom role $1 of organisation $2 to $3 (unless empty) and sets its keys to $4. */
#define AUTHZ_SQL_ORG_ROLE_UPDATE                                                      \
    "UPDATE authz.org_roles SET name = CASE WHEN $3 = '' THEN name "                    \
    "ELSE $3 END, auth_keys = $4::text[] "                                              \
    "WHERE id = $1::bigint AND " RS_DB_EQ_UNINDEXED("organization_id", "$2")                  \
    " RETURNING " AUTHZ_ORG_ROLE_COLS

/* Locks custom role $1 of organisation $2 FOR UPDATE and counts its holders. */
#define AUTHZ_SQL_ORG_ROLE_LOCK                                                        \
    "SELECT (SELECT count(*) FROM authz.user_org_roles u "                              \
    "WHERE u.organization_id = r.organization_id AND u.role_id = r.id) "                \
    "FROM authz.org_roles r WHERE r.id = $1::bigint AND "                               \
    RS_DB_EQ_UNINDEXED("r.organization_id", "$2") " FOR UPDATE"

#define AUTHZ_SQL_ORG_ROLE_DELETE                                                      \
    "DELETE FROM authz.org_roles WHERE id = $1::bigint AND "                            \
    RS_DB_EQ_UNINDEXED("organization_id", "$2")

/* --- userroles.c --- */

/*
 * For each role of the array $1: whether it is a preset or a custom role
 * of organisation $2 (locked FOR SHARE), and whether user type $3 may hold it.
 */
#define AUTHZ_SQL_USER_ROLES_CHECK                                                     \
    "SELECT r.id, r.id IN (111111111, 111111112, 111111113) "                           \
    "OR EXISTS (SELECT 1 FROM authz.org_roles c WHERE c.id = r.id "                     \
    "AND " RS_DB_EQ_UNINDEXED("c.organization_id", "$2") " FOR SHARE), "                      \
    "authz.org_role_allowed(r.id, $3::smallint) "                                       \
    "FROM unnest($1::bigint[]) AS r (id)"

/* Role ids stored for user $2 of organisation $1. The owner's implicit role has no row. */
#define AUTHZ_SQL_USER_ROLES                                                           \
    "SELECT role_id FROM authz.user_org_roles "                                         \
    "WHERE " RS_DB_EQ_UNINDEXED("organization_id", "$1") " AND user_id = $2 ORDER BY role_id"

#define AUTHZ_SQL_USER_ROLES_CLEAR                                                     \
    "DELETE FROM authz.user_org_roles "                                                 \
    "WHERE " RS_DB_EQ_UNINDEXED("organization_id", "$1") " AND user_id = $2"

/* Takes the roles of the array $3 from user $2 of organisation $1. */
#define AUTHZ_SQL_USER_ROLES_REVOKE                                                    \
    "DELETE FROM authz.user_org_roles WHERE " RS_DB_EQ_UNINDEXED("organization_id", "$1")     \
    " AND user_id = $2 AND role_id = ANY ($3::bigint[])"

/* --- workspaces.c --- */

/* Owner of workspace $1 of organisation $2, locked FOR NO KEY UPDATE. */
#define AUTHZ_SQL_WS_LOCK_UPDATE                                                       \
    "SELECT owner_user_id FROM authz.workspaces "                                       \
    "WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2") " FOR NO KEY UPDATE"

/* Owner of workspace $1 of organisation $2, locked FOR SHARE. */
#define AUTHZ_SQL_WS_LOCK_SHARE                                                        \
    "SELECT owner_user_id FROM authz.workspaces "                                       \
    "WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2") " FOR SHARE"

#define AUTHZ_SQL_WS_GET                                                               \
    "SELECT " AUTHZ_WS_COLS " FROM authz.workspaces w "                                 \
    "WHERE w.id = $1 AND " RS_DB_EQ_UNINDEXED("w.organization_id", "$2")

/*
 * Sets the name $3, description $4, owner $5 and mode $6 of workspace $1 of
 * organisation $2. An empty text or a zero mode keeps the current value.
 */
#define AUTHZ_SQL_WS_UPDATE                                                            \
    "UPDATE authz.workspaces AS w SET "                                                 \
    "name = CASE WHEN $3 = '' THEN w.name ELSE $3 END, "                                \
    "description = CASE WHEN $4 = '' THEN w.description ELSE $4 END, "                 \
    "owner_user_id = CASE WHEN $5 = '' THEN w.owner_user_id ELSE $5 END, "              \
    "mode = CASE WHEN $6::smallint = 0 THEN w.mode ELSE $6::smallint END "              \
    "WHERE w.id = $1 AND " RS_DB_EQ_UNINDEXED("w.organization_id", "$2")                      \
    " RETURNING " AUTHZ_WS_COLS

#define AUTHZ_SQL_WS_DELETE                                                            \
    "DELETE FROM authz.workspaces WHERE id = $1 AND " RS_DB_EQ_UNINDEXED("organization_id", "$2")

/* --- wsroles.c --- */

/* Permissions of custom workspace role $1 of organisation $2, locked FOR SHARE. */
#define AUTHZ_SQL_WS_ROLE_GET                                                          \
    "SELECT permissions::text FROM authz.workspace_roles "                              \
    "WHERE id = $1::bigint AND " RS_DB_EQ_UNINDEXED("organization_id", "$2") " FOR SHARE"

/*
 * Locks custom workspace role $1 of organisation $2 FOR UPDATE and counts
 * the members holding it.
 */
#define AUTHZ_SQL_WS_ROLE_LOCK                                                         \
    "SELECT (SELECT count(*) FROM authz.workspace_members m "                           \
    "WHERE m.organization_id = r.organization_id AND r.id = ANY (m.role_ids)) "         \
    "FROM authz.workspace_roles r WHERE r.id = $1::bigint AND "                         \
    RS_DB_EQ_UNINDEXED("r.organization_id", "$2") " FOR UPDATE"

#define AUTHZ_SQL_WS_ROLE_DELETE                                                       \
    "DELETE FROM authz.workspace_roles WHERE id = $1::bigint AND "                      \
    RS_DB_EQ_UNINDEXED("organization_id", "$2")

#endif /* AUTHZ_LOOKUPS_H */
