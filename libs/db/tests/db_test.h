/*
 * libs/db/tests/db_test.h
 *    Helpers for libs/db tests: the test server from the environment and
 *    throw-away schemas with random names.
 */
#ifndef RS_DB_TEST_H
#define RS_DB_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "roster/db.h"

#define DBT_SKIP 77
#define DBT_SCHEMA_LEN 64

/* Returns ROSTER_TEST_DATABASE_URL, or exits DBT_SKIP when it is unset. */
const char *dbt_url_or_skip(void);

/* Writes a new random schema name "rs_test_<hex>" into out. */
void dbt_schema_name(char out[DBT_SCHEMA_LEN]);

/* Runs sql on a fresh connection outside any pool; fails the test on error. */
void dbt_exec(const char *sql);

/* Runs a query returning one value, copied into out; fails the test on error. */
void dbt_scalar(const char *sql, const char *param, char *out, size_t out_size);

/* Creates and drops a schema through dbt_exec. */
void dbt_schema_create(const char *schema);
void dbt_schema_drop(const char *schema);

/*
 * Ends the server session of backend pid and waits until it is gone, so the
 * client's next statement meets a closed connection.
 */
void dbt_terminate_backend(int pid);

#endif /* RS_DB_TEST_H */
