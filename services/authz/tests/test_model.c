/*
 * services/authz/tests/test_model.c
 *    Unit tests of the authorisation model: preset roles, the analyst
 *    ceiling, the permissions JSON and the per-type grant ceilings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

#define E AUTHZ_ACT_EDIT
#define U AUTHZ_ACT_USE
#define L AUTHZ_ACT_LIST

static void
test_org_presets(void **state)
{
    const struct authz_org_preset *admin = authz_org_preset_find(AUTHZ_ORG_ADMIN);
    const struct authz_org_preset *perm = authz_org_preset_find(AUTHZ_PERMISSION_ADMIN);
    const struct authz_org_preset *regular = authz_org_preset_find(AUTHZ_REGULAR_USER);
    size_t i;

    (void)state;
    assert_int_equal(authz_n_function_keys, 13);
    assert_int_equal(authz_n_org_presets, 3);
    assert_non_null(admin);
    assert_non_null(perm);
    assert_non_null(regular);
    assert_null(authz_org_preset_find(1000));
    /* Org Admin: every function key plus the three organisation keys. */
    for (i = 0; i < authz_n_function_keys; i++)
        assert_true(authz_org_preset_has_key(admin, authz_function_keys[i]));
    assert_true(authz_org_preset_has_key(admin, AUTHZ_KEY_WORKSPACE_CREATE));
    assert_true(authz_org_preset_has_key(admin, AUTHZ_KEY_GRANT_MANAGE));
    assert_true(authz_org_preset_has_key(admin, AUTHZ_KEY_ROLE_MANAGE));
    assert_true(authz_org_preset_has_key(perm, AUTHZ_KEY_GRANT_MANAGE));
    assert_true(authz_org_preset_has_key(perm, "subscription"));
    assert_true(authz_org_preset_has_key(perm, "offline_download"));
    assert_false(authz_org_preset_has_key(perm, AUTHZ_KEY_WORKSPACE_CREATE));
    assert_false(authz_org_preset_has_key(perm, "quick_monitor"));
    assert_true(authz_org_preset_has_key(regular, "subscription"));
    assert_true(authz_org_preset_has_key(regular, "offline_download"));
    assert_false(authz_org_preset_has_key(regular, AUTHZ_KEY_GRANT_MANAGE));
    assert_true(authz_function_key_valid("enterprise_safety"));
    assert_false(authz_function_key_valid("workspace.create"));
    assert_false(authz_function_key_valid(""));
}

static void
test_ws_presets(void **state)
{
    const struct authz_ws_perms *admin = &authz_ws_preset_find(AUTHZ_WS_ADMIN)->perms;
    const struct authz_ws_perms *dev = &authz_ws_preset_find(AUTHZ_WS_DEVELOPER)->perms;
    const struct authz_ws_perms *ana = &authz_ws_preset_find(AUTHZ_WS_ANALYST)->perms;
    const struct authz_ws_perms *viewer = &authz_ws_preset_find(AUTHZ_WS_VIEWER)->perms;
    int m;

    (void)state;
    assert_null(authz_ws_preset_find(28));
    for (m = 0; m < AUTHZ_N_MODULES; m++) {
        assert_true(authz_ws_role_allows(admin, m, AUTHZ_ACT_ALL));
        assert_true(authz_ws_role_allows(dev, m, AUTHZ_ACT_ALL));
        assert_true(authz_ws_role_allows(viewer, m, L));
        assert_false(authz_ws_role_allows(viewer, m, E));
        assert_false(authz_ws_role_allows(viewer, m, U));
        assert_true(authz_ws_role_allows(ana, m, L));
    }
    assert_true(admin->manages_members);
    assert_false(dev->manages_members);
    assert_false(ana->manages_members);
    /* 27: edit+list on the seven work modules, list on forms and sources, use+list on cubes. */
    assert_true(authz_ws_role_allows(ana, AUTHZ_MOD_DASHBOARD_CREATE, E | L));
    assert_false(authz_ws_role_allows(ana, AUTHZ_MOD_DASHBOARD_CREATE, U));
    assert_true(authz_ws_role_allows(ana, AUTHZ_MOD_QUICK_ETL, E));
    assert_false(authz_ws_role_allows(ana, AUTHZ_MOD_DATA_FORM, E));
    assert_true(authz_ws_role_allows(ana, AUTHZ_MOD_CUBE, U | L));
    assert_false(authz_ws_role_allows(ana, AUTHZ_MOD_CUBE, E));
    assert_false(authz_ws_role_allows(ana, AUTHZ_MOD_DATASOURCE, E));
    assert_false(authz_ws_role_allows(ana, AUTHZ_MOD_DATASOURCE, U));
    /* No action asked is never allowed, nor an out-of-range module. */
    assert_false(authz_ws_role_allows(admin, AUTHZ_MOD_CUBE, 0));
    assert_false(authz_ws_role_allows(admin, AUTHZ_N_MODULES, L));
}

static void
test_analyst_ceiling(void **state)
{
    struct authz_ws_perms p;

    (void)state;
    assert_false(authz_ws_within_analyst_ceiling(&authz_ws_preset_find(25)->perms));
    assert_false(authz_ws_within_analyst_ceiling(&authz_ws_preset_find(26)->perms));
    assert_true(authz_ws_within_analyst_ceiling(&authz_ws_preset_find(27)->perms));
    assert_true(authz_ws_within_analyst_ceiling(&authz_ws_preset_find(30)->perms));
    memset(&p, 0, sizeof(p));
    assert_true(authz_ws_within_analyst_ceiling(&p));
    p.actions[AUTHZ_MOD_CUBE] = U;
    p.actions[AUTHZ_MOD_REPORT_CREATE] = E | L;
    assert_true(authz_ws_within_analyst_ceiling(&p));
    p.actions[AUTHZ_MOD_DATASOURCE] = U;
    assert_false(authz_ws_within_analyst_ceiling(&p));
    p.actions[AUTHZ_MOD_DATASOURCE] = 0;
    p.actions[AUTHZ_MOD_DATA_FORM] = E;
    assert_false(authz_ws_within_analyst_ceiling(&p));
    p.actions[AUTHZ_MOD_DATA_FORM] = 0;
    p.actions[AUTHZ_MOD_PORTAL_CREATE] = U;
    assert_false(authz_ws_within_analyst_ceiling(&p));
    p.actions[AUTHZ_MOD_PORTAL_CREATE] = 0;
    p.manages_members = true;
    assert_false(authz_ws_within_analyst_ceiling(&p));
}

static void
test_perms_json(void **state)
{
    struct authz_ws_perms in;
    struct authz_ws_perms out;
    char json[512];
    char tiny[8];

    (void)state;
    memset(&in, 0, sizeof(in));
    in.actions[AUTHZ_MOD_CUBE] = U | L;
    in.actions[AUTHZ_MOD_PORTAL_CREATE] = E;
    assert_true(authz_ws_perms_to_json(&in, json, sizeof(json)));
    assert_string_equal(json, "{\"portal_create\": [\"edit\"], \"cube\": [\"use\", \"list\"]}");
    assert_true(authz_ws_perms_from_json(json, &out));
    assert_memory_equal(in.actions, out.actions, sizeof(in.actions));
    assert_false(authz_ws_perms_to_json(&in, tiny, sizeof(tiny)));
    /* The full matrix fits the documented 512 bytes. */
    assert_true(authz_ws_perms_to_json(&authz_ws_preset_find(25)->perms, json, sizeof(json)));
    assert_true(authz_ws_perms_from_json("{}", &out));
    assert_false(authz_ws_perms_from_json("{\"bogus\": [\"edit\"]}", &out));
    assert_false(authz_ws_perms_from_json("{\"cube\": [\"fly\"]}", &out));
    assert_false(authz_ws_perms_from_json("[\"edit\"]", &out));
    assert_false(authz_ws_perms_from_json("{\"cube", &out));
    assert_int_equal(authz_module_find("datasource"), AUTHZ_MOD_DATASOURCE);
    assert_int_equal(authz_module_find("dataForm"), -1);
    assert_int_equal(authz_action_find("use"), U);
    assert_int_equal(authz_action_find("view"), 0);
}

static void
test_resources_and_levels(void **state)
{
    (void)state;
    assert_int_equal(authz_n_resource_types, 8);
    assert_true(authz_resource_type_valid("dashboardOfflineQuery"));
    assert_true(authz_resource_type_valid("ANALYSIS"));
    assert_false(authz_resource_type_valid("analysis"));
    assert_false(authz_resource_type_valid("workspace"));
    assert_int_equal(authz_resource_module("dataForm"), AUTHZ_MOD_DATA_FORM);
    assert_int_equal(authz_resource_module("dashboardOfflineQuery"), AUTHZ_MOD_OFFLINE_DOWNLOAD);
    assert_int_equal(authz_resource_module("portal"), -1);
    assert_true(authz_level_valid(1));
    assert_true(authz_level_valid(3));
    assert_true(authz_level_valid(11));
    assert_false(authz_level_valid(2));
    assert_false(authz_level_valid(0));
    assert_string_equal(authz_level_name(3), "export");
    assert_null(authz_level_name(4));
    assert_int_equal(authz_level_from_name("edit"), 11);
    assert_int_equal(authz_level_from_name("use"), 0);
}

/* Quick BI's highest grant per user type, as authz.type_ceilings holds it. */
static void
test_type_ceilings(void **state)
{
    static const struct {
        const char *type;
        int developer, visitor, analyst;
    } rows[] = {
        { "dashboard", 11, 3, 11 },  { "report", 11, 3, 11 },
        { "dashboardOfflineQuery", 11, 3, 11 }, { "screen", 11, 3, 11 },
        { "ANALYSIS", 11, 3, 11 },   { "dataForm", 11, 1, 11 },
        { "cube", 11, 0, 1 },        { "datasource", 11, 0, 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(authz_type_ceiling(AUTHZ_USER_DEVELOPER, rows[i].type),
                         rows[i].developer);
        assert_int_equal(authz_type_ceiling(AUTHZ_USER_VISITOR, rows[i].type),
                         rows[i].visitor);
        assert_int_equal(authz_type_ceiling(AUTHZ_USER_ANALYST, rows[i].type),
                         rows[i].analyst);
    }
    assert_int_equal(authz_type_ceiling(4, "dashboard"), 0);
    assert_int_equal(authz_type_ceiling(AUTHZ_USER_DEVELOPER, "bogus"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_org_presets),
        cmocka_unit_test(test_ws_presets),
        cmocka_unit_test(test_analyst_ceiling),
        cmocka_unit_test(test_perms_json),
        cmocka_unit_test(test_resources_and_levels),
        cmocka_unit_test(test_type_ceilings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
