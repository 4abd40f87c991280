/*
 * services/identity/tests/test_lookup_plans.c
 *    The statements of lookups.h use the index they are written for (the
 *    primary key, or the index on user_id or owner_user_id) even when the
 *    planner's statistics predate a large organisation. After a Start Sync
 *    the statistics stay that way until autovacuum analyses the tables.
 *    Two groups build such statistics: one analyses a single large
 *    organisation, the other many organisations of one row each. Both then
 *    add a large organisation B without analysing and explain each
 *    statement for a row of B (the harness is lookup_plans.c in authz's
 *    tests). Exits 77 without ROSTER_TEST_DATABASE_URL.
 */
#include <stddef.h>

#include "lookup_plans.h"
#include "lookups.h"

/* Rows per table of each large organisation. */
#define LARGE_ROWS "2000"

/* Organisations of one row each in the second group. */
#define SMALL_ORGS "2000"

/*
 * Ids that row_id() below makes for organisation 1 of tag 'b' and for its
 * row 1000 (0x3e8) of each table. An id is the tag, a table digit, the
 * organisation and the row in hex. User 1000 is the only member of group
 * 1000 and owns no workspace.
 */
#define ORG_B "b0000000000100000000000000000000"
#define USER_B "b10000000001000000000000000003e8"
#define GROUP_B "b20000000001000000000000000003e8"


/*
 * load_orgs(tag, n_orgs, n_rows) adds n_orgs organisations with n_rows
 * rows in every table that identity searches by key: users, root groups
 * with user i in group i, one external identity per user, and workspaces
 * owned by user 1.
 */
static const char load_functions[] =
    "CREATE FUNCTION row_id(tag text, kind int, o int, i int) RETURNS text "
    "LANGUAGE sql IMMUTABLE AS $$ "
    "SELECT tag || kind || lpad(to_hex(o), 10, '0') || lpad(to_hex(i), 20, '0') $$;"
    "CREATE FUNCTION load_orgs(tag text, n_orgs int, n_rows int) "
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
    "INSERT INTO identity.user_group_members (group_id, user_id) "
    "SELECT row_id(tag, 2, o, i), row_id(tag, 1, o, i) "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO identity.external_identities (organization_id, user_id, platform, "
    "corp_id, platform_user_id, union_id) "
    "SELECT row_id(tag, 0, o, 0), row_id(tag, 1, o, i), 1, 'corp ' || o, 'staff ' || i, "
    "'union ' || i "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i; "
    "INSERT INTO authz.workspaces (id, organization_id, name, owner_user_id, mode) "
    "SELECT row_id(tag, 3, o, i), row_id(tag, 0, o, 0), 'workspace ' || i, "
    "row_id(tag, 1, o, 1), 1 "
    "FROM generate_series(1, n_orgs) o, generate_series(1, n_rows) i "
    "$$;";

/* Autovacuum would analyse organisation B and end the stale window. */
static const char autovacuum_off[] =
    "ALTER TABLE identity.organizations SET (autovacuum_enabled = off);"
    "ALTER TABLE identity.users SET (autovacuum_enabled = off);"
    "ALTER TABLE identity.user_groups SET (autovacuum_enabled = off);"
    "ALTER TABLE identity.user_group_members SET (autovacuum_enabled = off);"
    "ALTER TABLE identity.external_identities SET (autovacuum_enabled = off);"
    "ALTER TABLE identity.seat_counts SET (autovacuum_enabled = off);"
    "ALTER TABLE authz.workspaces SET (autovacuum_enabled = off);";

static struct lp_lookup lookups[] = {
    { "actor", IDENTITY_SQL_ACTOR, 2, { USER_B, ORG_B }, "users", "users_pkey" },
    { "org_user", IDENTITY_SQL_ORG_USER, 2, { USER_B, ORG_B }, "users", "users_pkey" },
    { "user_get", IDENTITY_SQL_USER_GET, 2, { USER_B, ORG_B }, "users", "users_pkey" },
    { "user_get_no_key_update", IDENTITY_SQL_USER_GET_NO_KEY_UPDATE, 2, { USER_B, ORG_B },
      "users", "users_pkey" },
    { "user_get_update", IDENTITY_SQL_USER_GET_UPDATE, 2, { USER_B, ORG_B }, "users",
      "users_pkey" },
    { "user_exists", IDENTITY_SQL_USER_EXISTS, 2, { USER_B, ORG_B }, "users", "users_pkey" },
    { "members_lock_users", IDENTITY_SQL_MEMBERS_LOCK_USERS, 2, { ORG_B, "{" USER_B "}" },
      "users", "users_pkey" },
    { "members_missing_user", IDENTITY_SQL_MEMBERS_MISSING_USER, 2, { ORG_B, "{" USER_B "}" },
      "users", "users_pkey" },
    { "groups_of_user", IDENTITY_SQL_GROUPS_OF_USER, 5, { USER_B, ORG_B, NULL, NULL, "101" },
      "user_groups", "user_groups_pkey" },
    { "group_get", IDENTITY_SQL_GROUP_GET, 2, { GROUP_B, ORG_B }, "user_groups",
      "user_groups_pkey" },
    { "group_get_no_key_update", IDENTITY_SQL_GROUP_GET_NO_KEY_UPDATE, 2, { GROUP_B, ORG_B },
      "user_groups", "user_groups_pkey" },
    { "groups_batch_read_back", IDENTITY_SQL_GROUPS_BATCH_READ_BACK, 2,
      { ORG_B, "{" GROUP_B "}" }, "user_groups", "user_groups_pkey" },
    { "groups_batch_parents", IDENTITY_SQL_GROUPS_BATCH_PARENTS, 2, { ORG_B, "{" GROUP_B "}" },
      "user_groups", "user_groups_pkey" },
    { "users_batch_groups", IDENTITY_SQL_USERS_BATCH_GROUPS, 2, { ORG_B, "{" GROUP_B "}" },
      "user_groups", "user_groups_pkey" },
    { "external_list", IDENTITY_SQL_EXTERNAL_LIST, 2, { USER_B, ORG_B },
      "external_identities", "external_identities_user_idx" },
    { "owned_workspace", IDENTITY_SQL_OWNED_WORKSPACE, 2, { ORG_B, USER_B }, "workspaces",
      "workspaces_owner_idx" },
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
    { "plain comparison avoids user_groups_pkey",
      "SELECT 1 FROM identity.user_groups WHERE id = $1 AND organization_id = $2", 2,
      { GROUP_B, ORG_B }, "user_groups", "user_groups_pkey" },
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
        .load_large = "SELECT load_orgs('a', 1, " LARGE_ROWS ")",
        .load_small = "SELECT load_orgs('c', " SMALL_ORGS ", 1)",
        .load_b = "SELECT load_orgs('b', 1, " LARGE_ROWS ")",
    };

    return lp_run(&s) == 0 ? 0 : 1;
}
