/*
 * services/authz/tests/test_engine_db.c
 *    Snapshot loading and invalidation against PostgreSQL: a write plus
 *    authz.bump_revision makes the engine reload through LISTEN/NOTIFY,
 *    the three consistency modes, a listener reconnect, one load for
 *    concurrent readers, and identity writes bumping the revision through
 *    the triggers of 0002_identity_changes.sql. Runs in a database of its
 *    own (engine_test_db.h); exits 77 without ROSTER_TEST_DATABASE_URL.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "engine_int.h"
#include "engine_test_db.h"
#include "roster/alloc.h"
#include "roster/str.h"

#define ORG "0000000000000000000000000000000a"
#define OWNER "10000000000000000000000000000001"
#define DEV "10000000000000000000000000000002"
#define WS "30000000000000000000000000000001"
#define GRANT_ID "a0000000000000000000000000000001"
#define EXPIRED_ID "a0000000000000000000000000000002"
#define MISSING_ORG "0000000000000000000000000000000b"
#define GROUP "20000000000000000000000000000001"
#define NEWBIE "10000000000000000000000000000003"

static char conninfo[2048];
static rs_db_pool *pool;
static struct authz_engine *engine;

static void
sql(const char *text)
{
    etdb_exec(conninfo, text);
}

static int
setup(void **state)
{
    struct rs_error err;

    (void)state;
    etdb_create(conninfo, sizeof(conninfo), &pool);
    sql("BEGIN;"
        "INSERT INTO identity.organizations (id, name, edition, seat_total, owner_user_id) "
        "VALUES ('" ORG "', 'org', 2, 100, '" OWNER "');"
        "INSERT INTO identity.users (id, organization_id, nickname, user_type) VALUES "
        "('" OWNER "', '" ORG "', 'owner', 1), ('" DEV "', '" ORG "', 'dev', 1);"
        "INSERT INTO authz.workspaces (id, organization_id, name, owner_user_id, mode) "
        "VALUES ('" WS "', '" ORG "', 'ws', '" OWNER "', 2);"
        "INSERT INTO authz.resources (organization_id, resource_type, resource_id, workspace_id) "
        "VALUES ('" ORG "', 'dashboard', 'D1', '" WS "');"
        "INSERT INTO authz.grants (id, organization_id, resource_type, resource_id, subject_type, "
        "subject_id, subject_user_id, level, expires_at, granted_by) VALUES "
        "('" GRANT_ID "', '" ORG "', 'dashboard', 'D1', 1, '" DEV "', '" DEV "', 1, "
        " now() + interval '1 day', '" OWNER "'),"
        "('" EXPIRED_ID "', '" ORG "', 'dashboard', 'D1', 1, '" OWNER "', '" OWNER "', 3, "
        " now() - interval '1 day', '" OWNER "');"
        "SELECT authz.bump_revision('" ORG "');"
        "COMMIT");

    assert_int_equal(authz_engine_create(pool, conninfo, &engine, &err), RS_OK);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    authz_engine_destroy(engine);
    etdb_drop(pool);
    return 0;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void
wait_listening(void)
{
    int i;

    for (i = 0; i < 500 && !atomic_load(&engine->listening); i++)
        sleep_ms(10);
    assert_true(atomic_load(&engine->listening));
}

static struct authz_snapshot *
take(enum engine_consistency mode, int64_t min_rev)
{
    struct authz_snapshot *s = NULL;
    struct rs_error err;

    rs_error_clear(&err);
    if (engine_snapshot(engine, ORG, mode, min_rev, 0, &s, &err) != RS_OK)
        fail_msg("could not take a snapshot: %s (%s)", err.message, err.detail);
    return s;
}

static bool
dev_may_view(const struct authz_snapshot *s)
{
    struct authz_question q = {
        .user_id = DEV, .permission = "view", .resource_type = "dashboard",
        .resource_id = "D1", .workspace_id = "", .now_us = (int64_t)time(NULL) * 1000000,
    };
    struct authz_answer a;
    struct rs_error err;

    assert_int_equal(authz_evaluate(s, &q, &a, NULL, &err), RS_OK);
    return a.allowed;
}

static int64_t
db_revision(void)
{
    return etdb_scalar(conninfo, "SELECT revision FROM authz.org_revisions");
}

static void
test_load_and_notify(void **state)
{
    struct authz_snapshot *s1, *s2, *s3;
    long loads;
    int i;

    (void)state;
    wait_listening();
    s1 = take(ENGINE_MINIMIZE_LATENCY, 0);
    assert_true(s1->revision == db_revision());
    assert_int_equal(s1->n_users, 2);
    /* The expired grant is not loaded; the live one is. */
    assert_int_equal(s1->n_grants, 1);
    assert_true(dev_may_view(s1));
    loads = atomic_load(&engine->loads);

    s2 = take(ENGINE_MINIMIZE_LATENCY, 0);
    assert_ptr_equal(s1, s2);
    assert_int_equal(atomic_load(&engine->loads), loads);
    snap_release(s2);

    sql("BEGIN; DELETE FROM authz.grants WHERE id = '" GRANT_ID "';"
        "SELECT authz.bump_revision('" ORG "'); COMMIT");
    for (i = 0; i < 500; i++) {
        s3 = take(ENGINE_MINIMIZE_LATENCY, 0);
        if (s3 != s1)
            break;
        snap_release(s3);
        s3 = NULL;
        sleep_ms(10);
    }
    assert_non_null(s3);
    assert_true(s3->revision == s1->revision + 1);
    assert_false(dev_may_view(s3));
    /* The old snapshot stays valid for whoever still holds it. */
    assert_true(dev_may_view(s1));
    snap_release(s1);
    snap_release(s3);
}

static void
test_consistency_modes(void **state)
{
    struct authz_snapshot *s, *t;
    int64_t rev;
    long loads;

    (void)state;
    s = take(ENGINE_MINIMIZE_LATENCY, 0);
    loads = atomic_load(&engine->loads);
    t = take(ENGINE_AT_LEAST_AS_FRESH, s->revision);
    assert_ptr_equal(s, t);
    snap_release(t);
    assert_int_equal(atomic_load(&engine->loads), loads);

    /* Bump and ask at once: FULLY_CONSISTENT must not wait for the notification. */
    sql("SELECT authz.bump_revision('" ORG "')");
    rev = db_revision();
    t = take(ENGINE_FULLY_CONSISTENT, 0);
    assert_true(t->revision == rev);
    snap_release(t);

    sql("SELECT authz.bump_revision('" ORG "')");
    t = take(ENGINE_AT_LEAST_AS_FRESH, rev + 1);
    assert_true(t->revision == rev + 1);
    snap_release(t);

    /* A token from the future is answered from the newest state. */
    t = take(ENGINE_AT_LEAST_AS_FRESH, rev + 1000);
    assert_true(t->revision == rev + 1);
    snap_release(t);
    snap_release(s);
}

static void
test_reconnect_marks_stale(void **state)
{
    struct authz_snapshot *s, *t;
    uint64_t epoch;
    int i;

    (void)state;
    wait_listening();
    s = take(ENGINE_MINIMIZE_LATENCY, 0);
    epoch = atomic_load(&engine->epoch);
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'roster-authz-listen' AND datname = current_database()");
    for (i = 0; i < 1000 && atomic_load(&engine->epoch) == epoch; i++)
        sleep_ms(10);
    assert_true(atomic_load(&engine->epoch) > epoch);
    wait_listening();
    t = take(ENGINE_MINIMIZE_LATENCY, 0);
    assert_ptr_not_equal(s, t);
    assert_true(t->epoch > s->epoch);
    snap_release(s);
    snap_release(t);
}

static void *
reader(void *arg)
{
    struct authz_snapshot *s = take(ENGINE_FULLY_CONSISTENT, 0);

    (void)arg;
    snap_release(s);
    return NULL;
}

static void
test_concurrent_readers_load_once(void **state)
{
    pthread_t threads[4];
    struct authz_snapshot *s;
    long loads;
    int i;

    (void)state;
    s = take(ENGINE_FULLY_CONSISTENT, 0);
    snap_release(s);
    sql("SELECT authz.bump_revision('" ORG "')");
    loads = atomic_load(&engine->loads);
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, reader, NULL), 0);
    for (i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(atomic_load(&engine->loads), loads + 1);
}

static void
test_identity_rows_and_missing_org(void **state)
{
    struct authz_snapshot *s = NULL;
    struct rs_error err;

    (void)state;
    sql("BEGIN; UPDATE identity.users SET enabled = false WHERE id = '" DEV "';"
        "SELECT authz.bump_revision('" ORG "'); COMMIT");
    s = take(ENGINE_FULLY_CONSISTENT, 0);
    assert_false(s->users[snap_find_user(s, DEV)].enabled);
    assert_true(s->users[snap_find_user(s, OWNER)].org_admin);
    snap_release(s);

    rs_error_clear(&err);
    assert_int_equal(engine_snapshot(engine, MISSING_ORG, ENGINE_MINIMIZE_LATENCY, 0, 0, &s, &err),
                     RS_ENOTFOUND);
    assert_string_equal(err.reason, "ORGANIZATION_NOT_FOUND");
}

static struct org_entry *
org_entry(void)
{
    size_t i;
    struct org_entry *e;

    for (i = 0; i < ENGINE_BUCKETS; i++)
        for (e = engine->buckets[i]; e != NULL; e = e->next)
            if (strcmp(e->org_id, ORG) == 0)
                return e;
    fail_msg("no engine entry for the organization");
    return NULL;
}

static void
test_stale_served_during_load(void **state)
{
    struct authz_snapshot *s, *t;
    struct org_entry *e;
    int i;

    (void)state;
    wait_listening();
    s = take(ENGINE_FULLY_CONSISTENT, 0);
    e = org_entry();
    sql("SELECT authz.bump_revision('" ORG "')");
    for (i = 0; i < 500 && atomic_load(&e->notified) <= s->revision; i++)
        sleep_ms(10);
    assert_true(atomic_load(&e->notified) > s->revision);

    /* Another load in flight: MINIMIZE_LATENCY gets the previous snapshot at once. */
    pthread_mutex_lock(&e->load_mu);
    t = take(ENGINE_MINIMIZE_LATENCY, 0);
    pthread_mutex_unlock(&e->load_mu);
    assert_ptr_equal(s, t);
    snap_release(t);

    t = take(ENGINE_MINIMIZE_LATENCY, 0);
    assert_true(t->revision > s->revision);
    snap_release(t);
    snap_release(s);
}

/* 0002_identity_changes: identity writes bump the revision by themselves. */
static void
test_identity_triggers_bump(void **state)
{
    struct authz_snapshot *s;
    int64_t rev;

    (void)state;
    rev = db_revision();
    sql("UPDATE identity.users SET nickname = 'dev2' WHERE id = '" DEV "'");
    assert_true(db_revision() == rev);

    sql("UPDATE identity.users SET enabled = true WHERE id = '" DEV "'");
    assert_true(db_revision() == rev + 1);
    s = take(ENGINE_FULLY_CONSISTENT, 0);
    assert_true(s->users[snap_find_user(s, DEV)].enabled);
    snap_release(s);

    sql("INSERT INTO identity.user_groups (id, organization_id, name, depth, creator_user_id) "
        "VALUES ('" GROUP "', '" ORG "', 'g', 1, '" OWNER "')");
    sql("INSERT INTO identity.user_group_members (group_id, user_id) VALUES ('" GROUP "', '" DEV "')");
    assert_true(db_revision() == rev + 3);
    /* A statement that inserts no membership bumps nothing (0003_member_insert_orgs). */
    sql("INSERT INTO identity.user_group_members (group_id, user_id) VALUES ('" GROUP "', '" DEV "') "
        "ON CONFLICT DO NOTHING");
    assert_true(db_revision() == rev + 3);
    s = take(ENGINE_FULLY_CONSISTENT, 0);
    assert_int_equal(s->users[snap_find_user(s, DEV)].closure_len, 1);
    snap_release(s);

    /* Deleting the group cascades to its members: still one bump per statement and table. */
    sql("DELETE FROM identity.user_groups WHERE id = '" GROUP "'");
    assert_true(db_revision() > rev + 3);
    s = take(ENGINE_FULLY_CONSISTENT, 0);
    assert_int_equal(s->users[snap_find_user(s, DEV)].closure_len, 0);
    assert_int_equal(snap_find_group(s, GROUP), SNAP_NONE);
    snap_release(s);

    sql("INSERT INTO identity.users (id, organization_id, nickname, user_type) VALUES "
        "('" NEWBIE "', '" ORG "', 'newbie', 2)");
    s = take(ENGINE_FULLY_CONSISTENT, 0);
    assert_int_not_equal(snap_find_user(s, NEWBIE), SNAP_NONE);
    snap_release(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_notify),
        cmocka_unit_test(test_consistency_modes),
        cmocka_unit_test(test_reconnect_marks_stale),
        cmocka_unit_test(test_concurrent_readers_load_once),
        cmocka_unit_test(test_identity_rows_and_missing_org),
        cmocka_unit_test(test_identity_triggers_bump),
        cmocka_unit_test(test_stale_served_during_load),
    };
    etdb_url_or_skip();
    return cmocka_run_group_tests(tests, setup, teardown);
}
