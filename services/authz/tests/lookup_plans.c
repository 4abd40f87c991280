/*
 * services/authz/tests/lookup_plans.c
 *    The shared harness of the lookup plan tests (lookup_plans.h).
 */
#include "lookup_plans.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "engine_test_db.h"

static char conninfo[2048];
static rs_db_pool *pool;
static const struct lp_suite *suite;

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
 * the locking, UPDATE and DELETE lookups change nothing.
 */
static char *
scans_of(const struct lp_lookup *l)
{
    PGconn *pg = PQconnectdb(conninfo);
    char explain[8192];
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
test_uses_index(void **state)
{
    const struct lp_lookup *l = *state;
    char *used = scans_of(l);

    if (strcmp(used, l->index) != 0)
        fail_msg("%s: scans of %s use \"%s\", expected \"%s\"", l->test, l->relation, used,
                 l->index);
    free(used);
}

static void
test_statistics_are_stale(void **state)
{
    const struct lp_lookup *l = *state;
    char *used = scans_of(l);

    if (used[0] == '\0' || strcmp(used, l->index) == 0)
        fail_msg("%s: the plain comparison scans %s through \"%s\", so these statistics "
                 "do not reproduce the stale plan",
                 l->test, l->relation, used);
    free(used);
}

/* Creates the database, runs first_load and analyses it, then adds B without analysing. */
static void
create_and_analyse(const char *first_load)
{
    const char *const *sql;

    etdb_create(conninfo, sizeof(conninfo), &pool);
    for (sql = suite->fixture; *sql != NULL; sql++)
        etdb_exec(conninfo, *sql);
    etdb_exec(conninfo, first_load);
    etdb_exec(conninfo, "ANALYZE");
    etdb_exec(conninfo, suite->load_b);
}

static int
setup_one_large(void **state)
{
    (void)state;
    create_and_analyse(suite->load_large);
    return 0;
}

/*
 * Most organisations have one row in each table. With these statistics an
 * index on organization_id ties with the primary key even when the value
 * is hidden from the planner as (SELECT $1::text).
 */
static int
setup_many_small(void **state)
{
    (void)state;
    create_and_analyse(suite->load_small);
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
lp_run(struct lp_suite *s)
{
    struct CMUnitTest *tests;
    size_t n = s->n_controls + s->n_lookups;
    size_t i;
    int failed;

    etdb_url_or_skip();
    suite = s;
    tests = calloc(n, sizeof(*tests));
    if (tests == NULL)
        return 1;
    for (i = 0; i < s->n_controls; i++)
        tests[i] = (struct CMUnitTest){ s->controls[i].test, test_statistics_are_stale, NULL,
                                        NULL, &s->controls[i] };
    for (i = 0; i < s->n_lookups; i++)
        tests[s->n_controls + i] = (struct CMUnitTest){ s->lookups[i].test, test_uses_index,
                                                        NULL, NULL, &s->lookups[i] };
    failed = _cmocka_run_group_tests("one large organisation analysed", tests, n,
                                     setup_one_large, teardown);
    failed += _cmocka_run_group_tests("many one-row organisations analysed", tests, n,
                                      setup_many_small, teardown);
    free(tests);
    return failed;
}
