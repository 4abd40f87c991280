/*
 * services/sync/src/main.c
 *    roster-sync: the operator interface of libs/service (serve, migrate,
 *    healthcheck, hash-token) for the sync service, its settings, and the
 *    service context built at start.
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roster/cfg.h"
#include "roster/service.h"
#include "roster/str.h"

#ifndef ROSTER_VERSION
#define ROSTER_VERSION "0.0.0"
#endif

/* Embedded at build time by rs_embed_file (FileDescriptorSet with imports). */
extern const unsigned char sync_descriptor_set[];
extern const size_t sync_descriptor_set_len;

/*
 * sync reads identity's users, groups and external identities (version 1)
 * and authz's roles, workspaces and grants as of 0002, the migration that
 * keeps authz's rows in step with identity's.
 */
#define SYNC_IDENTITY_SCHEMA_VERSION 1
#define SYNC_AUTHZ_SCHEMA_VERSION 2

#define DEFAULT_ENDPOINTS "https://oapi.dingtalk.com"

static rs_status
cfg_int(const char *name, long def, long min, long max, int *out, struct rs_error *err)
{
    long v = def;
    rs_status rc = rs_cfg_int(name, def, min, max, &v, err);

    *out = (int)v;
    return rc;
}

/* Drops trailing slashes, so "http://h:1/" and "http://h:1" name one endpoint. */
static void
trim_endpoint(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == '/' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static rs_status
parse_endpoints(struct sync_settings *s, struct rs_error *err)
{
    const char *text = NULL;
    char *copy;
    char *save = NULL;
    char *tok;
    size_t cap;

    rs_cfg_string("ROSTER_SYNC_DINGTALK_ENDPOINTS", DEFAULT_ENDPOINTS, &text);
    copy = strdup(text);
    if (copy == NULL)
        return sync_nomem(err);
    cap = 1;
    for (tok = copy; *tok != '\0'; tok++)
        cap += *tok == ',';
    s->endpoints = calloc(cap, sizeof(char *));
    if (s->endpoints == NULL) {
        free(copy);
        return sync_nomem(err);
    }
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        trim_endpoint(tok);
        if (*tok == '\0')
            continue;
        if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0) {
            rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                         "invalid value for ROSTER_SYNC_DINGTALK_ENDPOINTS: \"%s\" (expected "
                         "comma-separated http:// or https:// base addresses)",
                         tok);
            free(copy);
            return RS_EINVAL;
        }
        s->endpoints[s->n_endpoints] = strdup(tok);
        if (s->endpoints[s->n_endpoints++] == NULL) {
            free(copy);
            return sync_nomem(err);
        }
    }
    free(copy);
    if (s->n_endpoints == 0)
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "invalid value for ROSTER_SYNC_DINGTALK_ENDPOINTS: no address");
    return RS_OK;
}

/* The service token from ROSTER_SYNC_SERVICE_TOKEN or the first line of ..._FILE. */
static rs_status
read_token(struct sync_settings *s, struct rs_error *err)
{
    const char *text = NULL;
    const char *path = NULL;
    char line[512];
    FILE *f;
    rs_status rc;

    rs_cfg_string("ROSTER_SYNC_SERVICE_TOKEN", NULL, &text);
    if (text == NULL) {
        rc = rs_cfg_file("ROSTER_SYNC_SERVICE_TOKEN_FILE", &path, err);
        if (rc != RS_OK)
            return rc;
        if (path == NULL)
            return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                                "missing ROSTER_SYNC_SERVICE_TOKEN: set it (or "
                                "ROSTER_SYNC_SERVICE_TOKEN_FILE) to a token with the "
                                "\"sync\" scope");
        f = fopen(path, "r");
        if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
            if (f != NULL)
                fclose(f);
            return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                                "could not read ROSTER_SYNC_SERVICE_TOKEN_FILE \"%s\"", path);
        }
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        text = line;
    }
    s->service_token = strdup(text);
    return s->service_token == NULL ? sync_nomem(err) : RS_OK;
}

rs_status
sync_settings_load(struct sync_settings *s, struct rs_error *err)
{
    const char *v = NULL;
    rs_status rc;

    memset(s, 0, sizeof(*s));
    rs_cfg_string("ROSTER_SYNC_IDENTITY_ADDR", "127.0.0.1:50051", &v);
    s->identity_addr = strdup(v);
    rs_cfg_string("ROSTER_SYNC_AUTHZ_ADDR", "127.0.0.1:50052", &v);
    s->authz_addr = strdup(v);
    if (s->identity_addr == NULL || s->authz_addr == NULL)
        return sync_nomem(err);
    rc = read_token(s, err);
    if (rc == RS_OK)
        rc = parse_endpoints(s, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_WORKERS", 2, 1, 64, &s->workers, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_LEASE_MS", 15000, 300, 3600000, &s->lease_ms, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_POLL_MS", 1000, 10, 600000, &s->poll_ms, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_MAX_ATTEMPTS", 3, 1, 100, &s->max_attempts, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_DELETION_GUARD_PERCENT", 20, 0, 100,
                     &s->deletion_guard_pct, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_DINGTALK_RATE", 18, 1, 100000, &s->dingtalk_rate, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_DINGTALK_CONCURRENCY", 4, 1, 32, &s->dingtalk_concurrency,
                     err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_DINGTALK_TIMEOUT_MS", 10000, 100, 600000,
                     &s->dingtalk_timeout_ms, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_DINGTALK_BAN_PAUSE_MS", 300000, 0, 3600000,
                     &s->dingtalk_ban_pause_ms, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_DINGTALK_THROTTLE_PAUSE_MS", 1000, 0, 600000,
                     &s->dingtalk_throttle_pause_ms, err);
    if (rc == RS_OK)
        rc = cfg_int("ROSTER_SYNC_RPC_TIMEOUT_MS", 10000, 100, 600000, &s->rpc_timeout_ms,
                     err);
    return rc;
}

void
sync_settings_free(struct sync_settings *s)
{
    size_t i;

    free(s->identity_addr);
    free(s->authz_addr);
    if (s->service_token != NULL) {
        memset(s->service_token, 0, strlen(s->service_token));
        free(s->service_token);
    }
    for (i = 0; i < s->n_endpoints; i++)
        free(s->endpoints[i]);
    free(s->endpoints);
    memset(s, 0, sizeof(*s));
}

rs_status
sync_service_init(rs_db_pool *pool, const char *conninfo, void **out, struct rs_error *err)
{
    struct rs_rpc_client_config ccfg;
    struct sync_service *svc = calloc(1, sizeof(*svc));
    char host[64];
    char rnd[33];
    int resealed = 0;
    char n_text[16];
    rs_status rc;

    if (svc == NULL)
        return sync_nomem(err);
    svc->pool = pool;
    rc = sync_keyring_load(&svc->keys, err);
    if (rc == RS_OK)
        rc = sync_settings_load(&svc->settings, err);
    if (rc != RS_OK)
        goto fail;
    memset(&ccfg, 0, sizeof(ccfg));
    ccfg.token = svc->settings.service_token;
    rc = rs_rpc_client_create(svc->settings.identity_addr, &ccfg, &svc->identity, err);
    if (rc == RS_OK)
        rc = rs_rpc_client_create(svc->settings.authz_addr, &ccfg, &svc->authz, err);
    if (rc != RS_OK)
        goto fail;
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    rs_id_new(rnd);
    snprintf(svc->holder, sizeof(svc->holder), "%s:%ld:%.8s", host, (long)getpid(), rnd);

    /* A database that is not up yet must not stop the start: the re-seal runs again next start. */
    if (sync_keyring_reseal(svc->keys, pool, &resealed, err) != RS_OK) {
        rs_log_warn(NULL, "could not re-seal app secrets under the current key", "error",
                    err->message, NULL);
        rs_error_clear(err);
    } else if (resealed > 0) {
        snprintf(n_text, sizeof(n_text), "%d", resealed);
        rs_log_info(NULL, "re-sealed app secrets under the current key", "count", n_text,
                    "key_id", sync_keyring_key_id(svc->keys), NULL);
    }
    rc = sync_worker_start(svc, conninfo, err);
    if (rc != RS_OK)
        goto fail;
    *out = svc;
    return RS_OK;
fail:
    sync_service_cleanup(svc);
    return rc;
}

void
sync_service_cleanup(void *arg)
{
    struct sync_service *svc = arg;

    if (svc == NULL)
        return;
    sync_worker_stop(svc);
    rs_rpc_client_destroy(svc->identity);
    rs_rpc_client_destroy(svc->authz);
    sync_keyring_free(svc->keys);
    sync_settings_free(&svc->settings);
    free(svc);
}

/*
 * serve needs the data key; migrate and healthcheck do not. libs/service
 * reports init failures with exit code 1, but a missing or malformed key
 * is a configuration error (2), so serve checks it before anything starts.
 */
static int
check_key(void)
{
    struct sync_keyring *keys = NULL;
    struct rs_error err;

    rs_error_clear(&err);
    if (sync_keyring_load(&keys, &err) != RS_OK) {
        fprintf(stderr, "roster-sync: %s\n", err.message);
        return 2;
    }
    sync_keyring_free(keys);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct rs_service_schema ready[] = {
        { "identity", SYNC_IDENTITY_SCHEMA_VERSION },
        { "authz", SYNC_AUTHZ_SCHEMA_VERSION },
        { SYNC_SCHEMA, 0 },
    };
    struct rs_service_def def = {
        .program = "roster-sync",
        .name = "sync",
        .version = ROSTER_VERSION,
        .default_addr = "0.0.0.0:50053",
        .schema = SYNC_SCHEMA,
        .migrations = sync_migrations,
        .n_migrations = sync_n_migrations,
        .ready = ready,
        .n_ready = sizeof(ready) / sizeof(ready[0]),
        .rpc = &sync_rpc_service,
        .init = sync_service_init,
        .cleanup = sync_service_cleanup,
        .stopping = sync_worker_request_stop,
        .descriptor_set = sync_descriptor_set,
        .descriptor_set_len = sync_descriptor_set_len,
    };

    if (argc >= 2 && strcmp(argv[1], "serve") == 0) {
        int code = check_key();

        if (code != 0)
            return code;
    }
    return rs_service_main(&def, argc, argv);
}
