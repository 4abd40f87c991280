/*
 * services/authz/tests/lookup_plans.h
 *    The harness of authz's and identity's lookup plan tests. Each test
 *    runs EXPLAIN on its service's statements for a row of a large
 *    organisation B, added after ANALYZE, and checks which index each
 *    statement scans its table through. Two kinds of stale statistics are
 *    built, as a Start Sync leaves them until autovacuum analyses the tables.
 */
#ifndef AUTHZ_LOOKUP_PLANS_H
#define AUTHZ_LOOKUP_PLANS_H

#include <stddef.h>

/* A statement, its parameters for a row of B, the table it searches and the index it must use there. */
struct lp_lookup {
    const char *test;
    const char *sql;
    int n_params;
    const char *params[6];
    const char *relation;
    const char *index;
};

struct lp_suite {
    struct lp_lookup *lookups;
    size_t n_lookups;
    /* The plain comparison organization_id = $2, which must NOT use index:
     * otherwise the statistics do not reproduce the stale plan, and the
     * group would test nothing. */
    struct lp_lookup *controls;
    size_t n_controls;
    const char *const *fixture; /* SQL texts run first in the new database, NULL-ended */
    const char *load_large;     /* first group: one large organisation, analysed */
    const char *load_small;     /* second group: many one-row organisations, analysed */
    const char *load_b;         /* organisation B, added after ANALYZE */
};

/*
 * Runs the lookups and controls of s in both groups, each in a database of
 * its own (engine_test_db.c). Returns the number of failed tests. Exits 77
 * without ROSTER_TEST_DATABASE_URL. s is borrowed.
 */
int lp_run(struct lp_suite *s);

#endif /* AUTHZ_LOOKUP_PLANS_H */
