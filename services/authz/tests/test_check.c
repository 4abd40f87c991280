/*
 * services/authz/tests/test_check.c
 *    The decision rules, evaluated against a snapshot built in memory.
 *
 * The fixture organisation:
 *   groups   ROOT <- CHILD <- LEAF, OTHER, ANA_GROUP
 *   users    OWNER (dev, organisation owner), ADMIN (dev, 111111111),
 *            PADMIN (analyst, 111111112), DEV1 (dev), DEV2 (dev, in LEAF),
 *            DEV3 (dev, no membership), DEV4 (dev), ANA1 (analyst, in CHILD),
 *            ANA2 (analyst, in ANA_GROUP), VIS1 (visitor, in LEAF),
 *            OFF (dev, disabled), CUSTOM (visitor, custom role 1000)
 *   COLLAB   collaborative, owner DEV1; members DEV1 [25], ROOT [30],
 *            ANA_GROUP [25]
 *   PRIV     private, owner DEV1; members DEV1 [25], CHILD [26], DEV4 [1002]
 *   works    dashboard D1 (COLLAB), D3 (COLLAB, owner DEV2),
 *            D2 and D4 (PRIV), datasource S1 (PRIV), cube C1 (PRIV)
 *   grants   D2: VIS1 edit, ROOT view, DEV3 edit, a deleted group edit;
 *            D4: DEV3 view expiring at T_EXPIRY; S1: organisation view;
 *            C1: workspace COLLAB export, deleted workspace edit
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "roster/arena.h"
#include "snapshot.h"

#define ORG "0000000000000000000000000000000a"
#define OWNER "10000000000000000000000000000001"
#define ADMIN "10000000000000000000000000000002"
#define PADMIN "10000000000000000000000000000003"
#define DEV1 "10000000000000000000000000000004"
#define DEV2 "10000000000000000000000000000005"
#define DEV3 "10000000000000000000000000000006"
#define DEV4 "10000000000000000000000000000007"
#define ANA1 "10000000000000000000000000000008"
#define ANA2 "10000000000000000000000000000009"
#define VIS1 "1000000000000000000000000000000a"
#define OFF "1000000000000000000000000000000b"
#define CUSTOM "1000000000000000000000000000000c"
#define ROOT "20000000000000000000000000000001"
#define CHILD "20000000000000000000000000000002"
#define LEAF "20000000000000000000000000000003"
#define OTHER "20000000000000000000000000000004"
#define ANA_GROUP "20000000000000000000000000000005"
#define GONE_GROUP "20000000000000000000000000000099"
#define COLLAB "30000000000000000000000000000001"
#define PRIV "30000000000000000000000000000002"
#define GONE_WS "30000000000000000000000000000099"

#define T_NOW INT64_C(1800000000000000)
#define T_EXPIRY (T_NOW + 1000000)

static struct authz_snapshot *snap;

static void
ok(rs_status rc)
{
    assert_int_equal(rc, RS_OK);
}

static int
setup(void **state)
{
    struct snap_builder *b = snap_builder_create(ORG);
    struct authz_ws_perms cube_list = { .actions = { [AUTHZ_MOD_CUBE] = AUTHZ_ACT_LIST } };
    struct authz_ws_perms manager = {
        .actions = { [AUTHZ_MOD_DASHBOARD_CREATE] = AUTHZ_ACT_EDIT | AUTHZ_ACT_LIST },
        .manages_members = true,
    };
    int64_t r25[] = { 25 }, r26[] = { 26 }, r30[] = { 30 }, r1002[] = { 1002 };
    struct rs_error err;

    (void)state;
    assert_non_null(b);
    ok(snap_add_owner(b, OWNER));
    ok(snap_add_revision(b, 7));
    ok(snap_add_user(b, OWNER, AUTHZ_USER_DEVELOPER, true));
    ok(snap_add_user(b, ADMIN, AUTHZ_USER_DEVELOPER, true));
    ok(snap_add_user(b, PADMIN, AUTHZ_USER_ANALYST, true));
    ok(snap_add_user(b, DEV1, AUTHZ_USER_DEVELOPER, true));
    ok(snap_add_user(b, DEV2, AUTHZ_USER_DEVELOPER, true));
    ok(snap_add_user(b, DEV3, AUTHZ_USER_DEVELOPER, true));
    ok(snap_add_user(b, DEV4, AUTHZ_USER_DEVELOPER, true));
    ok(snap_add_user(b, ANA1, AUTHZ_USER_ANALYST, true));
    ok(snap_add_user(b, ANA2, AUTHZ_USER_ANALYST, true));
    ok(snap_add_user(b, VIS1, AUTHZ_USER_VISITOR, true));
    ok(snap_add_user(b, OFF, AUTHZ_USER_DEVELOPER, false));
    ok(snap_add_user(b, CUSTOM, AUTHZ_USER_VISITOR, true));

    /* Children before parents: the builder resolves references at the end. */
    ok(snap_add_group(b, LEAF, CHILD));
    ok(snap_add_group(b, CHILD, ROOT));
    ok(snap_add_group(b, ROOT, NULL));
    ok(snap_add_group(b, OTHER, ""));
    ok(snap_add_group(b, ANA_GROUP, NULL));
    ok(snap_add_group_member(b, LEAF, DEV2));
    ok(snap_add_group_member(b, CHILD, ANA1));
    ok(snap_add_group_member(b, ANA_GROUP, ANA2));
    ok(snap_add_group_member(b, LEAF, VIS1));

    ok(snap_add_user_org_role(b, ADMIN, AUTHZ_ORG_ADMIN));
    ok(snap_add_user_org_role(b, PADMIN, AUTHZ_PERMISSION_ADMIN));
    ok(snap_add_user_org_role(b, CUSTOM, 1000));
    ok(snap_add_org_role_key(b, 1000, "quick_monitor"));

    ok(snap_add_workspace(b, COLLAB, SNAP_MODE_COLLABORATIVE, DEV1));
    ok(snap_add_workspace(b, PRIV, SNAP_MODE_PRIVATE, DEV1));
    ok(snap_add_ws_role(b, 1001, &cube_list));
    ok(snap_add_ws_role(b, 1002, &manager));
    ok(snap_add_member(b, COLLAB, SNAP_PRINCIPAL_USER, DEV1, r25, 1));
    ok(snap_add_member(b, COLLAB, SNAP_PRINCIPAL_GROUP, ROOT, r30, 1));
    ok(snap_add_member(b, COLLAB, SNAP_PRINCIPAL_GROUP, ANA_GROUP, r25, 1));
    ok(snap_add_member(b, COLLAB, SNAP_PRINCIPAL_GROUP, GONE_GROUP, r25, 1));
    ok(snap_add_member(b, PRIV, SNAP_PRINCIPAL_USER, DEV1, r25, 1));
    ok(snap_add_member(b, PRIV, SNAP_PRINCIPAL_GROUP, CHILD, r26, 1));
    ok(snap_add_member(b, PRIV, SNAP_PRINCIPAL_USER, DEV4, r1002, 1));

    ok(snap_add_resource(b, "dashboard", "D1", COLLAB, NULL));
    ok(snap_add_resource(b, "dashboard", "D3", COLLAB, DEV2));
    ok(snap_add_resource(b, "dashboard", "D2", PRIV, ""));
    ok(snap_add_resource(b, "dashboard", "D4", PRIV, NULL));
    ok(snap_add_resource(b, "datasource", "S1", PRIV, NULL));
    ok(snap_add_resource(b, "cube", "C1", PRIV, NULL));

    ok(snap_add_grant(b, "a0000000000000000000000000000001", "dashboard", "D2",
                      SNAP_SUBJECT_USER, VIS1, AUTHZ_LEVEL_EDIT, 0));
    ok(snap_add_grant(b, "a0000000000000000000000000000002", "dashboard", "D2",
                      SNAP_SUBJECT_GROUP, ROOT, AUTHZ_LEVEL_VIEW, T_EXPIRY + 1000000000));
    ok(snap_add_grant(b, "a0000000000000000000000000000003", "dashboard", "D2",
                      SNAP_SUBJECT_USER, DEV3, AUTHZ_LEVEL_EDIT, 0));
    ok(snap_add_grant(b, "a0000000000000000000000000000004", "dashboard", "D2",
                      SNAP_SUBJECT_GROUP, GONE_GROUP, AUTHZ_LEVEL_EDIT, 0));
    ok(snap_add_grant(b, "a0000000000000000000000000000005", "dashboard", "D4",
                      SNAP_SUBJECT_USER, DEV3, AUTHZ_LEVEL_VIEW, T_EXPIRY));
    ok(snap_add_grant(b, "a0000000000000000000000000000006", "datasource", "S1",
                      SNAP_SUBJECT_ORGANIZATION, "", AUTHZ_LEVEL_VIEW, T_EXPIRY + 1000000000));
    ok(snap_add_grant(b, "a0000000000000000000000000000007", "cube", "C1",
                      SNAP_SUBJECT_WORKSPACE, COLLAB, AUTHZ_LEVEL_EXPORT, T_EXPIRY + 1000000000));
    ok(snap_add_grant(b, "a0000000000000000000000000000008", "cube", "C1",
                      SNAP_SUBJECT_WORKSPACE, GONE_WS, AUTHZ_LEVEL_EDIT, 0));

    rs_error_clear(&err);
    ok(snap_builder_build(b, &snap, &err));
    snap_builder_destroy(b);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    snap_release(snap);
    snap = NULL;
    return 0;
}

/* Asks and checks the decision; returns nothing so a mismatch names the case. */
static void
expect_at(const char *user, const char *perm, const char *type, const char *id,
          const char *ws, int64_t now, bool allowed, const char *reason)
{
    struct authz_question q = {
        .user_id = user, .permission = perm, .resource_type = type, .resource_id = id,
        .workspace_id = ws, .now_us = now,
    };
    struct authz_answer a;
    struct rs_error err;

    rs_error_clear(&err);
    assert_int_equal(authz_evaluate(snap, &q, &a, NULL, &err), RS_OK);
    assert_string_equal(a.reason, reason);
    assert_int_equal(a.allowed, allowed);
}

static void
expect(const char *user, const char *perm, const char *type, const char *id, bool allowed,
       const char *reason)
{
    expect_at(user, perm, type, id, "", T_NOW, allowed, reason);
}

static void
expect_error(const char *user, const char *perm, const char *type, const char *id,
             const char *ws, rs_status code, const char *reason)
{
    struct authz_question q = {
        .user_id = user, .permission = perm, .resource_type = type, .resource_id = id,
        .workspace_id = ws, .now_us = T_NOW,
    };
    struct authz_answer a;
    struct rs_error err;

    rs_error_clear(&err);
    assert_int_equal(authz_evaluate(snap, &q, &a, NULL, &err), code);
    assert_string_equal(err.reason, reason);
}

static void
test_snapshot_drops_dangling_rows(void **state)
{
    (void)state;
    assert_int_equal(snap->revision, 7);
    assert_int_equal(snap->n_users, 12);
    /* The grants to the deleted group and the deleted workspace are gone. */
    assert_int_equal(snap->n_grants, 6);
    /* The membership of the deleted group is gone. */
    assert_int_equal(snap->n_members, 6);
    assert_int_equal(snap_find_user(snap, "ffffffffffffffffffffffffffffffff"), SNAP_NONE);
    assert_int_not_equal(snap_find_resource(snap, snap_resource_type("cube"), "C1"), SNAP_NONE);
}

static void
test_user_errors_and_disabled(void **state)
{
    (void)state;
    expect_error("ffffffffffffffffffffffffffffffff", "view", "dashboard", "D1", "", RS_ENOTFOUND,
                 "USER_NOT_FOUND");
    expect(OFF, "view", "dashboard", "D1", false, "DENIED_USER_DISABLED");
    expect(OFF, "subscription", "organization", ORG, false, "DENIED_USER_DISABLED");
    expect(OFF, "dashboard_create.list", "workspace", COLLAB, false, "DENIED_USER_DISABLED");
}

static void
test_organization_keys(void **state)
{
    (void)state;
    expect(OWNER, "workspace.create", "organization", ORG, true, "GRANTED_BY_ORG_ROLE");
    expect(ADMIN, "role.manage", "organization", "", true, "GRANTED_BY_ORG_ROLE");
    expect(PADMIN, "grant.manage", "organization", ORG, true, "GRANTED_BY_ORG_ROLE");
    expect(PADMIN, "workspace.create", "organization", ORG, false, "DENIED_NO_ORG_ROLE");
    /* No role rows: Regular User. */
    expect(DEV1, "subscription", "organization", ORG, true, "GRANTED_BY_ORG_ROLE");
    expect(DEV1, "grant.manage", "organization", ORG, false, "DENIED_NO_ORG_ROLE");
    /* A custom role grants its keys and nothing of Regular User. */
    expect(CUSTOM, "quick_monitor", "organization", ORG, true, "GRANTED_BY_ORG_ROLE");
    expect(CUSTOM, "subscription", "organization", ORG, false, "DENIED_NO_ORG_ROLE");
    expect_error(DEV1, "no_such_key", "organization", ORG, "", RS_EINVAL, "PERMISSION_INVALID");
    expect_error(DEV1, "subscription", "organization", COLLAB, "", RS_EINVAL,
                 "ORGANIZATION_MISMATCH");
}

static void
test_workspace_permissions(void **state)
{
    (void)state;
    expect(DEV1, "members.manage", "workspace", COLLAB, true, "GRANTED_BY_WORKSPACE_ROLE");
    /* DEV2 is in LEAF, whose ancestor ROOT has role 30 in COLLAB. */
    expect(DEV2, "dashboard_create.list", "workspace", COLLAB, true, "GRANTED_BY_WORKSPACE_ROLE");
    expect(DEV2, "dashboard_create.edit", "workspace", COLLAB, false, "DENIED_NO_WORKSPACE_ROLE");
    expect(DEV2, "members.manage", "workspace", COLLAB, false, "DENIED_NO_WORKSPACE_ROLE");
    /* ANA1 has 26 through CHILD, and the analyst ceiling cuts it to 27. */
    expect(ANA1, "dashboard_create.edit", "workspace", PRIV, true, "GRANTED_BY_WORKSPACE_ROLE");
    expect(ANA1, "datasource.edit", "workspace", PRIV, false, "DENIED_TYPE_CEILING");
    expect(ANA1, "cube.use", "workspace", PRIV, true, "GRANTED_BY_WORKSPACE_ROLE");
    /* ANA2 has 25 through ANA_GROUP but may not manage members. */
    expect(ANA2, "members.manage", "workspace", COLLAB, false, "DENIED_TYPE_CEILING");
    expect(VIS1, "dashboard_create.list", "workspace", COLLAB, false, "DENIED_TYPE_CEILING");
    expect(ADMIN, "members.manage", "workspace", PRIV, true, "GRANTED_BY_ORG_ADMIN");
    expect(OWNER, "datasource.edit", "workspace", PRIV, true, "GRANTED_BY_ORG_ADMIN");
    expect(DEV3, "dashboard_create.list", "workspace", PRIV, false, "DENIED_NO_WORKSPACE_ROLE");
    /* A custom role that manages members. */
    expect(DEV4, "members.manage", "workspace", PRIV, true, "GRANTED_BY_WORKSPACE_ROLE");
    expect(DEV4, "cube.list", "workspace", PRIV, false, "DENIED_NO_WORKSPACE_ROLE");
    expect_error(DEV1, "dashboard_create", "workspace", PRIV, "", RS_EINVAL, "PERMISSION_INVALID");
    expect_error(DEV1, "nomodule.edit", "workspace", PRIV, "", RS_EINVAL, "PERMISSION_INVALID");
    expect_error(DEV1, "cube.fly", "workspace", PRIV, "", RS_EINVAL, "PERMISSION_INVALID");
    expect_error(DEV1, "cube.list", "workspace", GONE_WS, "", RS_ENOTFOUND, "WORKSPACE_NOT_FOUND");
}

static void
test_collaborative_and_private(void **state)
{
    (void)state;
    /* Collaborative: any role listing the module views every work. */
    expect(DEV2, "view", "dashboard", "D1", true, "GRANTED_BY_WORKSPACE_ROLE");
    expect(DEV2, "export", "dashboard", "D1", false, "DENIED_NO_GRANT");
    expect(ANA2, "view", "dashboard", "D1", true, "GRANTED_BY_WORKSPACE_ROLE");
    /* ANA2's 25 is cut to 27: no edit on others' works. */
    expect(ANA2, "edit", "dashboard", "D1", false, "DENIED_NO_GRANT");
    /* Private: membership alone shows nothing. */
    expect(ANA1, "view", "dashboard", "D4", false, "DENIED_NO_GRANT");
    /* Workspace admins edit every work of their workspace. */
    expect(DEV1, "edit", "dashboard", "D4", true, "GRANTED_BY_WORKSPACE_ROLE");
    expect(DEV4, "edit", "dashboard", "D4", true, "GRANTED_BY_WORKSPACE_ROLE");
    /* A visitor in a member group is no member. */
    expect(VIS1, "view", "dashboard", "D1", false, "DENIED_NO_GRANT");
}

static void
test_owner_and_org_admin(void **state)
{
    (void)state;
    expect(DEV2, "edit", "dashboard", "D3", true, "GRANTED_BY_OWNER");
    expect(ADMIN, "edit", "dashboard", "D4", true, "GRANTED_BY_ORG_ADMIN");
    expect(OWNER, "edit", "datasource", "S1", true, "GRANTED_BY_ORG_ADMIN");
    /* PADMIN is no organisation administrator. */
    expect(PADMIN, "view", "dashboard", "D4", false, "DENIED_NO_GRANT");
}

static void
test_grants_and_ceilings(void **state)
{
    (void)state;
    /* VIS1 holds edit, capped by the visitor ceiling at view+export. */
    expect(VIS1, "export", "dashboard", "D2", true, "GRANTED_BY_GRANT");
    expect(VIS1, "edit", "dashboard", "D2", false, "DENIED_TYPE_CEILING");
    /* DEV2 through LEAF -> CHILD -> ROOT; 26 through CHILD adds nothing in a private workspace. */
    expect(DEV2, "view", "dashboard", "D2", true, "GRANTED_BY_GRANT");
    expect(DEV2, "export", "dashboard", "D2", false, "DENIED_NO_GRANT");
    /* DEV3 holds edit but is no member of PRIV. */
    expect(DEV3, "export", "dashboard", "D2", true, "GRANTED_BY_GRANT");
    expect(DEV3, "edit", "dashboard", "D2", false, "DENIED_NOT_MEMBER");
    /* Organisation grant. Analysts and visitors may hold nothing on data sources. */
    expect(DEV3, "view", "datasource", "S1", true, "GRANTED_BY_GRANT");
    expect(ANA1, "view", "datasource", "S1", false, "DENIED_TYPE_CEILING");
    expect(VIS1, "view", "datasource", "S1", false, "DENIED_TYPE_CEILING");
    /* Workspace grant: members of COLLAB, directly or through groups. */
    expect(DEV2, "export", "cube", "C1", true, "GRANTED_BY_GRANT");
    expect(ANA2, "view", "cube", "C1", true, "GRANTED_BY_GRANT");
    expect(ANA2, "export", "cube", "C1", false, "DENIED_TYPE_CEILING");
    expect(DEV3, "view", "cube", "C1", false, "DENIED_NO_GRANT");
    expect(VIS1, "view", "cube", "C1", false, "DENIED_NO_GRANT");
}

static void
test_expiry_uses_check_time(void **state)
{
    (void)state;
    expect_at(DEV3, "view", "dashboard", "D4", "", T_EXPIRY - 1, true, "GRANTED_BY_GRANT");
    expect_at(DEV3, "view", "dashboard", "D4", "", T_EXPIRY, false, "DENIED_NO_GRANT");
    expect_at(DEV3, "view", "dashboard", "D4", "", T_EXPIRY + 1, false, "DENIED_NO_GRANT");
}

static void
test_unregistered_and_invalid_works(void **state)
{
    (void)state;
    expect_at(DEV1, "edit", "report", "NEW", PRIV, T_NOW, true, "GRANTED_BY_WORKSPACE_ROLE");
    expect_at(DEV2, "view", "report", "NEW", COLLAB, T_NOW, true, "GRANTED_BY_WORKSPACE_ROLE");
    expect_at(DEV2, "view", "report", "NEW", PRIV, T_NOW, false, "DENIED_NO_GRANT");
    /* A registered work's own workspace wins over the request's. */
    expect_at(DEV2, "view", "dashboard", "D4", COLLAB, T_NOW, false, "DENIED_NO_GRANT");
    expect_error(DEV1, "edit", "report", "NEW", GONE_WS, RS_ENOTFOUND, "WORKSPACE_NOT_FOUND");
    expect_error(DEV1, "edit", "report", "NEW", "", RS_EINVAL, "WORKSPACE_ID_REQUIRED");
    expect_error(DEV1, "write", "dashboard", "D1", "", RS_EINVAL, "PERMISSION_INVALID");
    expect_error(DEV1, "view", "spreadsheet", "D1", "", RS_EINVAL, "RESOURCE_TYPE_INVALID");
}

static const struct authz_contribution *
find_contribution(const struct authz_explain *ex, const char *kind, const char *id)
{
    size_t i;

    for (i = 0; i < ex->n; i++)
        if (strcmp(ex->items[i].kind, kind) == 0 && strcmp(ex->items[i].id, id) == 0)
            return &ex->items[i];
    return NULL;
}

static void
test_explain_names_the_group(void **state)
{
    struct authz_question q = {
        .user_id = DEV2, .permission = "view", .resource_type = "dashboard",
        .resource_id = "D2", .workspace_id = "", .now_us = T_NOW,
    };
    rs_arena *arena = rs_arena_create();
    struct authz_explain ex = { .arena = arena, .effective_level = "" };
    const struct authz_contribution *c;
    struct authz_answer a;
    struct rs_error err;

    (void)state;
    assert_non_null(arena);
    assert_int_equal(authz_evaluate(snap, &q, &a, &ex, &err), RS_OK);
    assert_true(a.allowed);
    assert_string_equal(ex.effective_level, "view");
    c = find_contribution(&ex, "GRANT", "a0000000000000000000000000000002");
    assert_non_null(c);
    assert_string_equal(c->via_group_id, ROOT);
    assert_string_equal(c->allows, "view");
    /* DEV2 is a member of PRIV too: LEAF's parent CHILD holds 26 there. */
    c = find_contribution(&ex, "MEMBERSHIP", PRIV);
    assert_non_null(c);
    assert_string_equal(c->allows, "edit");
    c = find_contribution(&ex, "WORKSPACE_ROLE", "26");
    assert_non_null(c);
    assert_string_equal(c->via_group_id, CHILD);
    c = find_contribution(&ex, "TYPE_CEILING", "dashboard");
    assert_non_null(c);
    assert_string_equal(c->allows, "edit");
    rs_arena_destroy(arena);
}

static void
test_may_check_others(void **state)
{
    (void)state;
    assert_true(authz_user_may_check_others(snap, snap_find_user(snap, OWNER)));
    assert_true(authz_user_may_check_others(snap, snap_find_user(snap, ADMIN)));
    assert_true(authz_user_may_check_others(snap, snap_find_user(snap, PADMIN)));
    assert_false(authz_user_may_check_others(snap, snap_find_user(snap, DEV1)));
}

static void
test_list_order_lower_bound(void **state)
{
    int dash = snap_resource_type("dashboard");
    uint32_t i;

    (void)state;
    i = snap_resource_lower_bound(snap, dash, "");
    assert_string_equal(snap->resources[i].id, "D1");
    i = snap_resource_lower_bound(snap, dash, "D2");
    assert_string_equal(snap->resources[i].id, "D3");
    i = snap_resource_lower_bound(snap, dash, "D4");
    assert_true(i == snap->n_resources || snap->resources[i].type != dash);
}

static void
test_empty_snapshot(void **state)
{
    struct snap_builder *b = snap_builder_create(ORG);
    struct authz_snapshot *empty = NULL;
    struct rs_error err;

    (void)state;
    assert_int_equal(snap_builder_build(b, &empty, &err), RS_OK);
    assert_int_equal(snap_find_user(empty, OWNER), SNAP_NONE);
    assert_int_equal(snap_find_resource(empty, 0, "x"), SNAP_NONE);
    snap_release(empty);
    snap_builder_destroy(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_drops_dangling_rows),
        cmocka_unit_test(test_user_errors_and_disabled),
        cmocka_unit_test(test_organization_keys),
        cmocka_unit_test(test_workspace_permissions),
        cmocka_unit_test(test_collaborative_and_private),
        cmocka_unit_test(test_owner_and_org_admin),
        cmocka_unit_test(test_grants_and_ceilings),
        cmocka_unit_test(test_expiry_uses_check_time),
        cmocka_unit_test(test_unregistered_and_invalid_works),
        cmocka_unit_test(test_explain_names_the_group),
        cmocka_unit_test(test_may_check_others),
        cmocka_unit_test(test_list_order_lower_bound),
        cmocka_unit_test(test_empty_snapshot),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
