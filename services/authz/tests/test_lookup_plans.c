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
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "engine_test_db.h"
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

static char conninfo[2048];
static rs_db_pool *pool;

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

/* A statement, its parameters for a row of B, and the table it searches by key. */
struct lookup {
    const char *test;
    const char *sql;
    int n_params;
    const char *params[6];
    const char *relation;
    const char *pkey;
};

static struct lookup lookups[] = {
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
static struct lookup controls[] = {
    { "plain comparison avoids users_pkey",
      "SELECT 1 FROM identity.users WHERE id = $1 AND organization_id = $2", 2,
      { USER_B, ORG_B }, "users", "users_pkey" },
    { "plain comparison avoids workspaces_pkey",
      "SELECT 1 FROM authz.workspaces WHERE id = $1 AND organization_id = $2", 2,
      { WS_B, ORG_B }, "workspaces", "workspaces_pkey" },
};

#define N_CONTROLS (sizeof(controls) / sizeof(controls[0]))

static PGresult *
query(PGconn *pg, const char *sql, int n_params, const char *const *params)
{
    PGresult *res = PQexecParams(pg, sql, n_params, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("could not run \"%s\": %s", sql, PQerrorMessage(pg));
    return res;
}

/*
 * Returns, from the plan of l->sql with l->params, the index of every scan
 * of l->relation (or the node type of a scan without index), joined by
 * ", ". The caller frees the string. Plain EXPLAIN runs no statement, so
 * the DELETE and UPDATE lookups change nothing.
 */
static char *
scans_of(const struct lookup *l)
{
    PGconn *pg = PQconnectdb(conninfo);
    char explain[4096];
    const char *args[2];
    PGresult *plan;
    PGresult *scans;
    char *out;

    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("could not connect to the test database: %s", PQerrorMessage(pg));
    assert_true((size_t)snprintf(explain, sizeof(explain), "EXPLAIN (FORMAT JSON) %s",
                                 l->sql) < sizeof(explain));
    plan = query(pg, explain, l->n_params, l->params);
    args[0] = PQgetvalue(plan, 0, 0);
    args[1] = l->relation;
    scans = query(pg,
                  "SELECT coalesce(string_agg(coalesce(n->>'Index Name', n->>'Node Type'), "
                  "', '), '') FROM jsonb_path_query($1::jsonb, 'strict $.**') AS n "
                  "WHERE n->>'Relation Name' = $2 AND n->>'Node Type' <> 'ModifyTable'",
                  2, args);
    out = strdup(PQgetvalue(scans, 0, 0));
    assert_non_null(out);
    PQclear(scans);
    PQclear(plan);
    PQfinish(pg);
    return out;
}

static void
test_probes_primary_key(void **state)
{
    const struct lookup *l = *state;
    char *used = scans_of(l);

    if (strcmp(used, l->pkey) != 0)
        fail_msg("%s: scans of %s use \"%s\", expected \"%s\"", l->test, l->relation, used,
                 l->pkey);
    free(used);
}

static void
test_statistics_are_stale(void **state)
{
    const struct lookup *l = *state;
    char *used = scans_of(l);

    if (used[0] == '\0' || strcmp(used, l->pkey) == 0)
        fail_msg("%s: the plain comparison scans %s through \"%s\", so these statistics "
                 "do not reproduce the stale plan",
                 l->test, l->relation, used);
    free(used);
}

/*
 * Creates the database, runs first_load and analyses it, then adds the
 * large organisation B without analysing.
 */
static void
create_and_analyse(const char *first_load)
{
    etdb_create(conninfo, sizeof(conninfo), &pool);
    etdb_exec(conninfo, autovacuum_off);
    etdb_exec(conninfo, load_functions);
    etdb_exec(conninfo, first_load);
    etdb_exec(conninfo, "ANALYZE");
    etdb_exec(conninfo, "SELECT load_orgs('b', 1, " LARGE_ROWS ", 2000000)");
}

static int
setup_one_large(void **state)
{
    (void)state;
    create_and_analyse("SELECT load_orgs('a', 1, " LARGE_ROWS ", 1000000)");
    return 0;
}

/*
 * Most organisations have one row in each table. With these statistics an
 * index on organization_id ties with the primary key even when the value
 * is hidden from the planner as (SELECT $2::text).
 */
static int
setup_many_small(void **state)
{
    (void)state;
    create_and_analyse("SELECT load_orgs('c', " SMALL_ORGS ", 1, 3000000)");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    etdb_drop(pool);
    pool = NULL;
    return 0;
}

int
main(void)
{
    struct CMUnitTest tests[N_CONTROLS + N_LOOKUPS];
    size_t i;
    int failed;

    etdb_url_or_skip();
    for (i = 0; i < N_CONTROLS; i++)
        tests[i] = (struct CMUnitTest){ controls[i].test, test_statistics_are_stale, NULL, NULL,
                                        &controls[i] };
    for (i = 0; i < N_LOOKUPS; i++)
        tests[N_CONTROLS + i] = (struct CMUnitTest){ lookups[i].test, test_probes_primary_key,
                                                     NULL, NULL, &lookups[i] };
    failed = cmocka_run_group_tests_name("one large organisation analysed", tests,
                                         setup_one_large, teardown);
    failed += cmocka_run_group_tests_name("many one-row organisations analysed", tests,
                                          setup_many_small, teardown);
    return failed == 0 ? 0 : 1;
}
