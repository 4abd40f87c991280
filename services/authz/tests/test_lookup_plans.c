/*
 * services/authz/tests/test_lookup_plans.c
 *    The statements of lookups.h probe the primary key of the table they
 *    search even when the planner's statistics predate a large
 *    organisation, as they do after a Start Sync until autovacuum analyses
 *    the table. Two groups build such statistics: one analyses a single
 *    large organisation, the other many organisations of one row each.
 *    Both then add a large organisation B without analysing and explain
 *    each statement for a row of B. Runs in a database of its own
 *    (engine_test_db.h); exits 77 without ROSTER_TEST_DATABASE_URL.
 */
#include <stddef.h>

#include "lookup_plans.h"
#include "lookups.h"

/* Rows per table of each large organisation. */
#define LARGE_ROWS "2000"

/* Organisations of one row each in the second group. */
#define SMALL_ORGS "2000"

/*
 * Ids made by row_id() below for organisation 1 of tag 'b' and its row
 * 1000 (0x3e8) of each table: tag, table digit, organisation, row.
 */
#define ORG_B "b0000000000100000000000000000000"
#define USER_B "b10000000001000000000000000003e8"
#define GROUP_B "b20000000001000000000000000003e8"
#define WS_B "b30000000001000000000000000003e8"
#define GRANT_B "b40000000001000000000000000003e8"
#define ROLE_B "2101000" /* role_base 2000000 + 1 * 100000 + 1000 */


/*
 * load_orgs(tag, n_orgs, n_rows, role_base) adds n_orgs organisations
 * with n_rows rows in every table that authz searches by key. Owner
 * user 1 of each organisation owns its workspaces and gave its grants.
 */
static const char load_functions[] =
    "CREATE FUNCTION row_id(tag text, kind int, o int, i int) RETURNS text "
    "LANGUAGE sql IMMUTABLE AS $$ "
    "SELECT tag || kind || lpad(to_hex(o), 10, '0') || lpad(to_hex(i), 20, '0') $$;"
    "CREATE FUNCTION load_orgs(tag text, n_orgs int, n_rows int, role_base bigint) "
    "RETURNS void LANGUAGE sql AS $$ "
    "INSERT INTO identity.organizations (id, name, edition, seat_total, owner_user_id) "
    "SELECT row_id(tag, 0, o, 0), 'org ' || o, 2, 1000000, row_id(tag, 1, o, 1) "
    "FROM generate_series(1, n_orgs) o; "
    "INSERT INTO identity.users (id, organization_id, nickname, user_type) "
    "SELECT row_id(tag, 1, o, i), row_id(tag, 0, o, 0), 'user ' || i, 1 "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO identity.user_groups (id, organization_id, name, depth, creator_user_id) "
    "SELECT row_id(tag, 2, o, i), row_id(tag, 0, o, 0), 'group ' || i, 1, "
    "row_id(tag, 1, o, 1) "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO authz.workspaces (id, organization_id, name, owner_user_id, mode) "
    "SELECT row_id(tag, 3, o, i), row_id(tag, 0, o, 0), 'workspace ' || i, "
    "row_id(tag, 1, o, 1), 1 "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO authz.resources (organization_id, resource_type, resource_id, workspace_id) "
    "SELECT row_id(tag, 0, o, 0), 'dashboard', 'report ' || i, row_id(tag, 3, o, i) "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO authz.grants (id, organization_id, resource_type, resource_id, "
    "subject_type, level, granted_by) "
    "SELECT row_id(tag, 4, o, i), row_id(tag, 0, o, 0), 'dashboard', 'report ' || i, "
    "3, 11, row_id(tag, 1, o, 1) "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO authz.org_roles (id, organization_id, name) "
    "SELECT role_base + o * 100000 + i, row_id(tag, 0, o, 0), 'role ' || i "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO authz.workspace_roles (id, organization_id, name, within_analyst_ceiling) "
    "SELECT role_base + o * 100000 + i, row_id(tag, 0, o, 0), 'role ' || i, true "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO authz.user_org_roles (organization_id, user_id, role_id) "
    "SELECT row_id(tag, 0, o, 0), row_id(tag, 1, o, i), 111111112 "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i "
    "$$;";

/* Autovacuum would analyse organisation B and end the stale window. */
static const char autovacuum_off[] =
    "ALTER TABLE identity.organizations SET (autovacuum_enabled = off);"
    "ALTER TABLE identity.users SET (autovacuum_enabled = off);"
    "ALTER TABLE identity.user_groups SET (autovacuum_enabled = off);"
    "ALTER TABLE authz.workspaces SET (autovacuum_enabled = off);"
    "ALTER TABLE authz.resources SET (autovacuum_enabled = off);"
    "ALTER TABLE authz.grants SET (autovacuum_enabled = off);"
    "ALTER TABLE authz.org_roles SET (autovacuum_enabled = off);"
    "ALTER TABLE authz.workspace_roles SET (autovacuum_enabled = off);"
    "ALTER TABLE authz.user_org_roles SET (autovacuum_enabled = off);";

static struct lp_lookup lookups[] = {
    { "actor finds user by key", AUTHZ_SQL_ACTOR, 2, { ORG_B, USER_B }, "users",
      "users_pkey" },
    { "actor finds role row by key", AUTHZ_SQL_ACTOR, 2, { ORG_B, USER_B },
      "user_org_roles", "user_org_roles_pkey" },
    { "user_type", AUTHZ_SQL_USER_TYPE, 2, { USER_B, ORG_B }, "users", "users_pkey" },
    { "group_exists", AUTHZ_SQL_GROUP_EXISTS, 2, { GROUP_B, ORG_B }, "user_groups",
      "user_groups_pkey" },
    { "grant_lock", AUTHZ_SQL_GRANT_LOCK, 2, { GRANT_B, ORG_B }, "grants", "grants_pkey" },
    { "grant_delete", AUTHZ_SQL_GRANT_DELETE, 2, { GRANT_B, ORG_B }, "grants",
      "grants_pkey" },
    { "org_role_update", AUTHZ_SQL_ORG_ROLE_UPDATE, 4, { ROLE_B, ORG_B, "", "{}" },
      "org_roles", "org_roles_pkey" },
    { "org_role_lock", AUTHZ_SQL_ORG_ROLE_LOCK, 2, { ROLE_B, ORG_B }, "org_roles",
      "org_roles_pkey" },
    { "org_role_delete", AUTHZ_SQL_ORG_ROLE_DELETE, 2, { ROLE_B, ORG_B }, "org_roles",
      "org_roles_pkey" },
    { "user_roles_check", AUTHZ_SQL_USER_ROLES_CHECK, 3, { "{" ROLE_B "}", ORG_B, "1" },
      "org_roles", "org_roles_pkey" },
    { "user_roles", AUTHZ_SQL_USER_ROLES, 2, { ORG_B, USER_B }, "user_org_roles",
      "user_org_roles_pkey" },
    { "user_roles_clear", AUTHZ_SQL_USER_ROLES_CLEAR, 2, { ORG_B, USER_B },
      "user_org_roles", "user_org_roles_pkey" },
    { "user_roles_revoke", AUTHZ_SQL_USER_ROLES_REVOKE, 3, { ORG_B, USER_B, "{111111112}" },
      "user_org_roles", "user_org_roles_pkey" },
    { "ws_lock_update", AUTHZ_SQL_WS_LOCK_UPDATE, 2, { WS_B, ORG_B }, "workspaces",
      "workspaces_pkey" },
    { "ws_lock_share", AUTHZ_SQL_WS_LOCK_SHARE, 2, { WS_B, ORG_B }, "workspaces",
      "workspaces_pkey" },
    { "ws_get", AUTHZ_SQL_WS_GET, 2, { WS_B, ORG_B }, "workspaces", "workspaces_pkey" },
    { "ws_update", AUTHZ_SQL_WS_UPDATE, 6, { WS_B, ORG_B, "", "", "", "0" }, "workspaces",
      "workspaces_pkey" },
    { "ws_delete", AUTHZ_SQL_WS_DELETE, 2, { WS_B, ORG_B }, "workspaces",
      "workspaces_pkey" },
    { "ws_role_get", AUTHZ_SQL_WS_ROLE_GET, 2, { ROLE_B, ORG_B }, "workspace_roles",
      "workspace_roles_pkey" },
    { "ws_role_lock", AUTHZ_SQL_WS_ROLE_LOCK, 2, { ROLE_B, ORG_B }, "workspace_roles",
      "workspace_roles_pkey" },
    { "ws_role_delete", AUTHZ_SQL_WS_ROLE_DELETE, 2, { ROLE_B, ORG_B }, "workspace_roles",
      "workspace_roles_pkey" },
};

#define N_LOOKUPS (sizeof(lookups) / sizeof(lookups[0]))

/*
 * The plain comparison organization_id = $2, which the statements avoid.
 * Each group checks first that its statistics lead it to an index that
 * starts with organization_id, because otherwise the group would test nothing.
 */
static struct lp_lookup controls[] = {
    { "plain comparison avoids users_pkey",
      "SELECT 1 FROM identity.users WHERE id = $1 AND organization_id = $2", 2,
      { USER_B, ORG_B }, "users", "users_pkey" },
    { "plain comparison avoids workspaces_pkey",
      "SELECT 1 FROM authz.workspaces WHERE id = $1 AND organization_id = $2", 2,
      { WS_B, ORG_B }, "workspaces", "workspaces_pkey" },
};

#define N_CONTROLS (sizeof(controls) / sizeof(controls[0]))

int
main(void)
{
    static const char *const fixture[] = { autovacuum_off, load_functions, NULL };
    struct lp_suite s = {
        .lookups = lookups,
        .n_lookups = N_LOOKUPS,
        .controls = controls,
        .n_controls = N_CONTROLS,
        .fixture = fixture,
        .load_large = "SELECT load_orgs('a', 1, " LARGE_ROWS ", 1000000)",
        .load_small = "SELECT load_orgs('c', " SMALL_ORGS ", 1, 3000000)",
        .load_b = "SELECT load_orgs('b', 1, " LARGE_ROWS ", 2000000)",
    };

    return lp_run(&s) == 0 ? 0 : 1;
}
