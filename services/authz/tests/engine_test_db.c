/*
 * services/authz/tests/engine_test_db.c
 *    The engine tests' throw-away database.
 */
#include "engine_test_db.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "roster/str.h"

static char dbname[64];

const char *
etdb_url_or_skip(void)
{
    const char *url = getenv("ROSTER_TEST_DATABASE_URL");

    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "ROSTER_TEST_DATABASE_URL is not set; skipping\n");
        exit(ETDB_SKIP);
    }
    return url;
}

static PGconn *
connect_to(const char *info)
{
    PGconn *pg = PQconnectdb(info);

    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("could not connect to the test database: %s", PQerrorMessage(pg));
    return pg;
}

void
etdb_exec(const char *info, const char *sql)
{
    PGconn *pg = connect_to(info);
    PGresult *res = PQexec(pg, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("could not run \"%s\": %s", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
}

/* The URL's connection options with dbname replaced by name. */
static void
conninfo_for(const char *url, const char *name, char *out, size_t size)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL), *o;
    size_t len = 0;

    assert_non_null(opts);
    out[0] = '\0';
    for (o = opts; o->keyword != NULL; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? name : o->val;
        const char *p;

        if (v == NULL || v[0] == '\0')
            continue;
        len += (size_t)snprintf(out + len, size - len, "%s='", o->keyword);
        for (p = v; *p != '\0' && len + 3 < size; p++) {
            if (*p == '\'' || *p == '\\')
                out[len++] = '\\';
            out[len++] = *p;
        }
        len += (size_t)snprintf(out + len, size - len, "' ");
        assert_true(len < size);
    }
    if (strstr(out, "dbname=") == NULL)
        snprintf(out + len, size - len, "dbname='%s'", name);
    PQconninfoFree(opts);
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    char *text;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static int
is_migration(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return n > 9 && strcmp(d->d_name + n - 4, ".sql") == 0 && d->d_name[4] == '_';
}

/* Applies dir's NNNN_name.sql files to schema through rs_db_migrate. */
static void
migrate(rs_db_pool *pool, const char *schema, const char *dir)
{
    struct dirent **names = NULL;
    struct rs_db_migration migs[32];
    char stems[32][64], path[1024];
    struct rs_error err;
    int n, i;

    n = scandir(dir, &names, is_migration, alphasort);
    assert_true(n > 0 && n <= 32);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        snprintf(stems[i], sizeof(stems[i]), "%.*s", (int)strlen(names[i]->d_name) - 4,
                 names[i]->d_name);
        migs[i].version = i + 1;
        migs[i].name = stems[i];
        migs[i].sql = read_file(path);
        free(names[i]);
    }
    free(names);
    rs_error_clear(&err);
    if (rs_db_migrate(pool, schema, migs, (size_t)n, NULL, &err) != RS_OK)
        fail_msg("could not migrate %s: %s (%s)", schema, err.message, err.detail);
    for (i = 0; i < n; i++)
        free((char *)migs[i].sql);
}

long long
etdb_scalar(const char *info, const char *sql)
{
    PGconn *pg = connect_to(info);
    PGresult *res = PQexec(pg, sql);
    long long value;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("could not run \"%s\": %s", sql, PQerrorMessage(pg));
    value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(pg);
    return value;
}

void
etdb_create(char *conninfo, size_t size, rs_db_pool **pool)
{
    const char *url = etdb_url_or_skip();
    char id[RS_ID_LEN + 1], create[128];
    struct rs_error err;

    rs_id_new(id);
    snprintf(dbname, sizeof(dbname), "rs_authz_engine_%.16s", id);
    snprintf(create, sizeof(create), "CREATE DATABASE %s", dbname);
    etdb_exec(url, create);
    conninfo_for(url, dbname, conninfo, size);
    rs_error_clear(&err);
    if (rs_db_pool_create(conninfo, 4, pool, &err) != RS_OK)
        fail_msg("could not create a pool: %s", err.message);
    migrate(*pool, "identity", IDENTITY_MIGRATIONS_DIR);
    migrate(*pool, "authz", AUTHZ_MIGRATIONS_DIR);
}

void
etdb_drop(rs_db_pool *pool)
{
    char drop[128];

    rs_db_pool_destroy(pool);
    snprintf(drop, sizeof(drop), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    etdb_exec(etdb_url_or_skip(), drop);
}
