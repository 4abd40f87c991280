/*
 * services/authz/tests/engine_test_db.h
 *    A throw-away database for the engine's DB tests: created from
 *    ROSTER_TEST_DATABASE_URL, migrated with identity's and authz's
 *    migrations, dropped at the end.
 */
#ifndef AUTHZ_ENGINE_TEST_DB_H
#define AUTHZ_ENGINE_TEST_DB_H

#include <stddef.h>

#include "roster/db.h"

#define ETDB_SKIP 77

/* Exits ETDB_SKIP when ROSTER_TEST_DATABASE_URL is unset; returns it otherwise. */
const char *etdb_url_or_skip(void);

/*
 * Creates and migrates a database of its own; conninfo (size >= 2048)
 * receives its connection string and *pool a pool of 4 connections to it.
 */
void etdb_create(char *conninfo, size_t size, rs_db_pool **pool);

/* Destroys pool and drops the database made by etdb_create. */
void etdb_drop(rs_db_pool *pool);

/* Runs sql (several statements allowed) on conninfo; fails the test on error. */
void etdb_exec(const char *conninfo, const char *sql);

/* Runs a one-row, one-column query and returns the value as an integer. */
long long etdb_scalar(const char *conninfo, const char *sql);

#endif /* AUTHZ_ENGINE_TEST_DB_H */
