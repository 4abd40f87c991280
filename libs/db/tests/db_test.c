/*
 * libs/db/tests/db_test.c
 *    Helpers for libs/db tests.
 */
#include "db_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roster/str.h"

const char *
dbt_url_or_skip(void)
{
    const char *url = getenv("ROSTER_TEST_DATABASE_URL");

    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "ROSTER_TEST_DATABASE_URL is not set; skipping\n");
        exit(DBT_SKIP);
    }
    return url;
}

void
dbt_schema_name(char out[DBT_SCHEMA_LEN])
{
    char id[RS_ID_LEN + 1];

    rs_id_new(id);
    snprintf(out, DBT_SCHEMA_LEN, "rs_test_%.16s", id);
}

static void
ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *
dbt_connect(void)
{
    PGconn *pg = PQconnectdb(dbt_url_or_skip());

    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("could not connect to the test database: %s", PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    return pg;
}

void
dbt_exec(const char *sql)
{
    PGconn *pg = dbt_connect();
    PGresult *res = PQexec(pg, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("could not run \"%s\": %s", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
}

void
dbt_scalar(const char *sql, const char *param, char *out, size_t out_size)
{
    PGconn *pg = dbt_connect();
    const char *params[1] = {param};
    PGresult *res = PQexecParams(pg, sql, param != NULL ? 1 : 0, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("could not run \"%s\": %s", sql, PQerrorMessage(pg));
    snprintf(out, out_size, "%s", PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(pg);
}

void
dbt_schema_create(const char *schema)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    dbt_exec(sql);
}

void
dbt_schema_drop(const char *schema)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    dbt_exec(sql);
}

void
dbt_terminate_backend(int pid)
{
    char pid_text[16];
    char value[16];
    int i;

    snprintf(pid_text, sizeof(pid_text), "%d", pid);
    dbt_scalar("SELECT pg_terminate_backend($1::int)", pid_text, value, sizeof(value));
    assert_string_equal(value, "t");
    for (i = 0; i < 500; i++) {
        dbt_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", pid_text, value,
                   sizeof(value));
        if (strcmp(value, "0") == 0)
            return;
        usleep(10 * 1000);
    }
    fail_msg("backend %d did not exit within 5 s", pid);
}
