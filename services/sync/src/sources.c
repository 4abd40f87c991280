/*
 * services/sync/src/sources.c
 *    Authorised enterprises: create, read, list, update, delete, test the
 *    connection, and the DingTalk client a run builds from a source. The
 *    app secret is sealed before it reaches the database and never leaves
 *    the service: not in a response, a log line or an error message.
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/str.h"

#define SOURCE_COLUMNS                                                                  \
    "s.id, s.organization_id, s.platform, s.corp_id, s.name, s.app_key, s.endpoint, "  \
    "s.nickname_suffix, " SYNC_US(SYNC_STRUCTURE_AT("s.id")) ", "                      \
    "(SELECT count(*) FROM sync.departments d WHERE d.source_id = s.id), "             \
    "(SELECT count(*) FROM sync.members m WHERE m.source_id = s.id), s.created_by, "   \
    SYNC_US("s.created_at") ", " SYNC_US("s.updated_at")

static Roster__Sync__V1__Source *
source_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Sync__V1__Source *s = rs_arena_alloc(arena, sizeof(*s));

    if (s == NULL)
        return NULL;
    roster__sync__v1__source__init(s);
    s->source_id = sync_col_str(arena, res, row, 0);
    s->organization_id = sync_col_str(arena, res, row, 1);
    s->platform = (Roster__Identity__V1__Platform)sync_col_int64(res, row, 2);
    s->corp_id = sync_col_str(arena, res, row, 3);
    s->name = sync_col_str(arena, res, row, 4);
    s->app_key = sync_col_str(arena, res, row, 5);
    s->endpoint = sync_col_str(arena, res, row, 6);
    s->nickname_suffix = (Roster__Sync__V1__NicknameSuffix)sync_col_int64(res, row, 7);
    s->structure_time = sync_col_time(arena, res, row, 8);
    s->department_count = (int32_t)sync_col_int64(res, row, 9);
    s->member_count = (int32_t)sync_col_int64(res, row, 10);
    s->created_by = sync_col_str(arena, res, row, 11);
    s->create_time = sync_col_time(arena, res, row, 12);
    s->update_time = sync_col_time(arena, res, row, 13);
    if (s->source_id == NULL || s->organization_id == NULL || s->corp_id == NULL ||
        s->name == NULL || s->app_key == NULL || s->endpoint == NULL || s->created_by == NULL)
        return NULL;
    return s;
}

static rs_status
source_not_found(const char *source_id, struct rs_error *err)
{
    rs_error_set(err, RS_ENOTFOUND, "SOURCE_NOT_FOUND", "source \"%s\" not found", source_id);
    rs_error_meta(err, "source_id", source_id);
    return RS_ENOTFOUND;
}

/* Reads source_id of org_id as a message; lock adds FOR UPDATE. */
static rs_status
source_load(rs_db_conn *conn, struct rs_call *call, const char *org_id, const char *source_id,
            bool lock, Roster__Sync__V1__Source **out, struct rs_error *err)
{
    const char *params[2] = { source_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_validate_id("source_id", source_id, err);
    if (rc != RS_OK)
        return rc;
    if (lock) {
        rc = sync_query(conn, call, "sync.source_lock",
                        "SELECT 1 FROM sync.sources WHERE id = $1 AND organization_id = $2 "
                        "FOR UPDATE",
                        2, params, &res, err);
        if (rc != RS_OK)
            return rc;
        if (PQntuples(res) == 0)
            return source_not_found(source_id, err);
    }
    rc = sync_query(conn, call, "sync.source_get",
                    "SELECT " SOURCE_COLUMNS " FROM sync.sources s "
                    "WHERE s.id = $1 AND s.organization_id = $2",
                    2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0)
        return source_not_found(source_id, err);
    *out = source_from_row(rs_call_arena(call), res, 0);
    return *out == NULL ? sync_nomem(err) : RS_OK;
}

/* --- validation --- */

static rs_status
validate_text(const char *field, const char *value, size_t max_len, struct rs_error *err)
{
    size_t len = strlen(value);

    if (len == 0)
        return sync_field_invalid(err, field, "must not be empty");
    if (!rs_utf8_valid(value, len))
        return sync_field_invalid(err, field, "not valid UTF-8");
    if (rs_utf8_is_blank(value, len))
        return sync_field_invalid(err, field, "must not be empty");
    if (rs_utf8_has_control(value, len))
        return sync_field_invalid(err, field, "control characters are not allowed");
    if (rs_utf8_has_invisible(value, len))
        return sync_field_invalid(err, field, "invisible format characters are not allowed");
    if (rs_utf8_length(value, len) > max_len)
        return sync_field_invalid(err, field, "longer than %zu characters", max_len);
    return RS_OK;
}

/* Printable ASCII without spaces: corp ids, app keys and secrets are tokens. */
static rs_status
validate_token(const char *field, const char *value, size_t max_len, bool quote,
               struct rs_error *err)
{
    size_t len = strlen(value);
    size_t i;

    if (len == 0)
        return sync_field_invalid(err, field, "must not be empty");
    if (len > max_len)
        return sync_field_invalid(err, field, "longer than %zu characters", max_len);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];

        if (c <= 0x20 || c >= 0x7f) {
            /* Never quote a secret, not even a malformed one. */
            if (quote)
                return sync_field_invalid(err, field,
                                          "\"%s\" contains a space or a character that is "
                                          "not printable ASCII",
                                          value);
            return sync_field_invalid(err, field,
                                      "contains a space or a character that is not "
                                      "printable ASCII");
        }
    }
    return RS_OK;
}

static rs_status
validate_suffix(int value, struct rs_error *err)
{
    if (value < 0 || value > ROSTER__SYNC__V1__NICKNAME_SUFFIX__NICKNAME_SUFFIX_EMAIL)
        return sync_field_invalid(err, "nickname_suffix", "unknown value %d", value);
    return RS_OK;
}

/* The allowed endpoint matching value (trailing slashes ignored), or NULL. */
static const char *
allowed_endpoint(const struct sync_settings *s, const char *value)
{
    size_t n = strlen(value);
    size_t i;

    while (n > 0 && value[n - 1] == '/')
        n--;
    for (i = 0; i < s->n_endpoints; i++)
        if (strlen(s->endpoints[i]) == n && strncmp(s->endpoints[i], value, n) == 0)
            return s->endpoints[i];
    return NULL;
}

static rs_status
validate_create(const struct sync_settings *s, const Roster__Sync__V1__CreateSourceRequest *r,
                const char **endpoint, struct rs_error *err)
{
    rs_status rc;

    if (r->platform == ROSTER__IDENTITY__V1__PLATFORM__PLATFORM_WECOM ||
        r->platform == ROSTER__IDENTITY__V1__PLATFORM__PLATFORM_LARK) {
        rs_error_set(err, RS_EINVAL, "PLATFORM_UNSUPPORTED",
                     "platform %s is not supported yet; only DINGTALK is",
                     r->platform == ROSTER__IDENTITY__V1__PLATFORM__PLATFORM_WECOM ? "WECOM"
                                                                                   : "LARK");
        rs_error_meta(err, "field", "platform");
        return RS_EINVAL;
    }
    if (r->platform != ROSTER__IDENTITY__V1__PLATFORM__PLATFORM_DINGTALK)
        return sync_field_invalid(err, "platform", "expected DINGTALK");
    rc = validate_token("corp_id", r->corp_id, 64, true, err);
    if (rc == RS_OK)
        rc = validate_text("name", r->name, 100, err);
    if (rc == RS_OK)
        rc = validate_token("app_key", r->app_key, 128, true, err);
    if (rc == RS_OK)
        rc = validate_token("app_secret", r->app_secret, 512, false, err);
    if (rc == RS_OK)
        rc = validate_suffix(r->nickname_suffix, err);
    if (rc != RS_OK)
        return rc;
    if (r->endpoint[0] == '\0') {
        *endpoint = s->endpoints[0];
        return RS_OK;
    }
    *endpoint = allowed_endpoint(s, r->endpoint);
    if (*endpoint == NULL) {
        rs_error_set(err, RS_EINVAL, "ENDPOINT_NOT_ALLOWED",
                     "endpoint \"%.120s\" is not one of the addresses the operator allows "
                     "(ROSTER_SYNC_DINGTALK_ENDPOINTS)",
                     r->endpoint);
        rs_utf8_trim_partial(err->message);
        rs_error_meta(err, "field", "endpoint");
        return RS_EINVAL;
    }
    return RS_OK;
}

/* Seals secret for source_id into a bytea parameter (malloc'd, owned by the caller). */
static rs_status
seal_param(struct sync_service *svc, const char *source_id, const char *secret, char **hex,
           struct rs_error *err)
{
    unsigned char *sealed = NULL;
    size_t len = 0;
    rs_status rc;

    *hex = NULL;
    rc = sync_secret_seal(svc->keys, source_id, secret, strlen(secret), &sealed, &len, err);
    if (rc != RS_OK)
        return rc;
    *hex = sync_bytea_param(sealed, len);
    free(sealed);
    return *hex == NULL ? sync_nomem(err) : RS_OK;
}

/* --- CreateSource --- */

struct create_op {
    struct rs_call *call;
    const Roster__Sync__V1__CreateSourceRequest *req;
    const char *endpoint;
    char id[33];
    const char *sealed;
    Roster__Sync__V1__Source *out;
};

static rs_status
create_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct create_op *o = arg;
    const Roster__Sync__V1__CreateSourceRequest *r = o->req;
    struct sync_service *svc = rs_call_user_data(o->call);
    struct sync_actor actor;
    char platform[8];
    char suffix[8];
    const char *params[11];
    PGresult *res = NULL;
    rs_status rc;

    rc = sync_authorize(conn, o->call, r->organization_id, SYNC_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    snprintf(platform, sizeof(platform), "%d", (int)r->platform);
    snprintf(suffix, sizeof(suffix), "%d", r->nickname_suffix == 0 ? 1 : (int)r->nickname_suffix);
    params[0] = r->organization_id;
    params[1] = platform;
    /* Serialises creations in one organisation, so the count below stays true. */
    rc = sync_query(conn, o->call, "sync.source_count",
                    "SELECT pg_advisory_xact_lock(hashtext('sync.sources:' || $1)), "
                    "(SELECT count(*) FROM sync.sources WHERE organization_id = $1 "
                    "AND platform = $2::smallint)",
                    2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (sync_col_int64(res, 0, 1) >= SYNC_MAX_SOURCES_PER_PLATFORM) {
        rs_error_set(err, RS_ERESOURCE, "SOURCE_LIMIT_REACHED",
                     "organization \"%s\" already has %d sources of this platform, the "
                     "most allowed",
                     r->organization_id, SYNC_MAX_SOURCES_PER_PLATFORM);
        return RS_ERESOURCE;
    }
    params[0] = o->id;
    params[1] = r->organization_id;
    params[2] = platform;
    params[3] = r->corp_id;
    params[4] = r->name;
    params[5] = r->app_key;
    params[6] = o->sealed;
    params[7] = sync_keyring_key_id(svc->keys);
    params[8] = o->endpoint;
    params[9] = suffix;
    params[10] = actor.user_id;
    rc = sync_query(conn, o->call, "sync.source_insert",
                    "INSERT INTO sync.sources (id, organization_id, platform, corp_id, name, "
                    "app_key, secret_sealed, secret_key_id, endpoint, nickname_suffix, "
                    "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7::bytea, $8, $9, $10, $11) "
                    "ON CONFLICT ON CONSTRAINT sources_corp_key DO NOTHING RETURNING 1",
                    11, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_EEXIST, "SOURCE_EXISTS",
                     "organization \"%s\" already has a source for corp id \"%s\"",
                     r->organization_id, r->corp_id);
        rs_error_meta(err, "corp_id", r->corp_id);
        return RS_EEXIST;
    }
    return source_load(conn, o->call, r->organization_id, o->id, false, &o->out, err);
}

rs_status
sync_create_source(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                   struct rs_error *err)
{
    struct sync_service *svc = rs_call_user_data(call);
    const Roster__Sync__V1__CreateSourceRequest *r =
        (const Roster__Sync__V1__CreateSourceRequest *)msg;
    struct create_op o;
    char *sealed = NULL;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.req = r;
    rc = rs_validate_id("organization_id", r->organization_id, err);
    if (rc == RS_OK)
        rc = validate_create(&svc->settings, r, &o.endpoint, err);
    if (rc != RS_OK)
        return rc;
    rs_id_new(o.id);
    rc = seal_param(svc, o.id, r->app_secret, &sealed, err);
    if (rc != RS_OK)
        return rc;
    o.sealed = sealed;
    rc = sync_call_tx(call, create_body, &o, err);
    free(sealed);
    if (rc != RS_OK)
        return rc;
    rs_log_info(rs_call_log(call), "source created", "source_id", o.id, "corp_id", r->corp_id,
                NULL);
    *resp = &o.out->base;
    return RS_OK;
}

/* --- GetSource / ListSources --- */

struct get_op {
    struct rs_call *call;
    const char *org_id;
    const char *source_id;
    Roster__Sync__V1__Source *out;
    PGresult *list;
};

static rs_status
get_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct get_op *o = arg;
    struct sync_actor actor;
    rs_status rc;

    rc = sync_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc != RS_OK)
        return rc;
    return source_load(conn, o->call, o->org_id, o->source_id, false, &o->out, err);
}

rs_status
sync_get_source(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                struct rs_error *err)
{
    const Roster__Sync__V1__GetSourceRequest *r = (const Roster__Sync__V1__GetSourceRequest *)msg;
    struct get_op o = { call, r->organization_id, r->source_id, NULL, NULL };
    rs_status rc;

    rc = sync_call_tx(call, get_body, &o, err);
    if (rc != RS_OK)
        return rc;
    *resp = &o.out->base;
    return RS_OK;
}

static rs_status
list_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct get_op *o = arg;
    struct sync_actor actor;
    const char *params[1] = { o->org_id };
    rs_status rc;

    rc = sync_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc != RS_OK)
        return rc;
    return sync_query(conn, o->call, "sync.source_list",
                      "SELECT " SOURCE_COLUMNS " FROM sync.sources s "
                      "WHERE s.organization_id = $1 ORDER BY s.created_at, s.id",
                      1, params, &o->list, err);
}

rs_status
sync_list_sources(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                  struct rs_error *err)
{
    const Roster__Sync__V1__ListSourcesRequest *r =
        (const Roster__Sync__V1__ListSourcesRequest *)msg;
    rs_arena *arena = rs_call_arena(call);
    struct get_op o = { call, r->organization_id, NULL, NULL, NULL };
    Roster__Sync__V1__ListSourcesResponse *out;
    int i;
    int n;
    rs_status rc;

    rc = sync_call_tx(call, list_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        return sync_nomem(err);
    roster__sync__v1__list_sources_response__init(out);
    n = PQntuples(o.list);
    if (n > 0) {
        out->sources = rs_arena_alloc(arena, (size_t)n * sizeof(*out->sources));
        if (out->sources == NULL)
            return sync_nomem(err);
    }
    for (i = 0; i < n; i++) {
        out->sources[i] = source_from_row(arena, o.list, i);
        if (out->sources[i] == NULL)
            return sync_nomem(err);
        out->n_sources++;
    }
    *resp = &out->base;
    return RS_OK;
}

/* --- UpdateSource --- */

struct update_op {
    struct rs_call *call;
    const Roster__Sync__V1__UpdateSourceRequest *req;
    const char *sealed;
    Roster__Sync__V1__Source *out;
};

static rs_status
update_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct update_op *o = arg;
    const Roster__Sync__V1__UpdateSourceRequest *r = o->req;
    struct sync_service *svc = rs_call_user_data(o->call);
    struct sync_actor actor;
    Roster__Sync__V1__Source *cur = NULL;
    char suffix[8];
    const char *params[7];
    rs_status rc;

    rc = sync_authorize(conn, o->call, r->organization_id, SYNC_NEED_ADMIN, &actor, err);
    if (rc == RS_OK)
        rc = source_load(conn, o->call, r->organization_id, r->source_id, true, &cur, err);
    if (rc != RS_OK)
        return rc;
    snprintf(suffix, sizeof(suffix), "%d", (int)r->nickname_suffix);
    params[0] = r->source_id;
    params[1] = r->name[0] != '\0' ? r->name : NULL;
    params[2] = r->app_key[0] != '\0' ? r->app_key : NULL;
    params[3] = o->sealed;
    params[4] = o->sealed != NULL ? sync_keyring_key_id(svc->keys) : NULL;
    params[5] = r->nickname_suffix != 0 ? suffix : NULL;
    rc = sync_query(conn, o->call, "sync.source_update",
                    "UPDATE sync.sources SET name = coalesce($2, name), "
                    "app_key = coalesce($3, app_key), "
                    "secret_sealed = coalesce($4::bytea, secret_sealed), "
                    "secret_key_id = coalesce($5, secret_key_id), "
                    "nickname_suffix = coalesce($6::smallint, nickname_suffix), "
                    "updated_at = now() WHERE id = $1",
                    6, params, NULL, err);
    if (rc != RS_OK)
        return rc;
    return source_load(conn, o->call, r->organization_id, r->source_id, false, &o->out, err);
}

rs_status
sync_update_source(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                   struct rs_error *err)
{
    struct sync_service *svc = rs_call_user_data(call);
    const Roster__Sync__V1__UpdateSourceRequest *r =
        (const Roster__Sync__V1__UpdateSourceRequest *)msg;
    struct update_op o = { call, r, NULL, NULL };
    char *sealed = NULL;
    rs_status rc;

    rc = rs_validate_id("organization_id", r->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("source_id", r->source_id, err);
    if (rc == RS_OK && r->name[0] != '\0')
        rc = validate_text("name", r->name, 100, err);
    if (rc == RS_OK && r->app_key[0] != '\0')
        rc = validate_token("app_key", r->app_key, 128, true, err);
    if (rc == RS_OK && r->app_secret[0] != '\0')
        rc = validate_token("app_secret", r->app_secret, 512, false, err);
    if (rc == RS_OK)
        rc = validate_suffix(r->nickname_suffix, err);
    if (rc == RS_OK && r->app_secret[0] != '\0')
        rc = seal_param(svc, r->source_id, r->app_secret, &sealed, err);
    if (rc != RS_OK)
        return rc;
    o.sealed = sealed;
    rc = sync_call_tx(call, update_body, &o, err);
    free(sealed);
    if (rc != RS_OK)
        return rc;
    rs_log_info(rs_call_log(call), "source updated", "source_id", r->source_id, "secret",
                r->app_secret[0] != '\0' ? "replaced" : "kept", NULL);
    *resp = &o.out->base;
    return RS_OK;
}

/* --- DeleteSource --- */

struct delete_op {
    struct rs_call *call;
    const Roster__Sync__V1__DeleteSourceRequest *req;
};

static rs_status
delete_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct delete_op *o = arg;
    const Roster__Sync__V1__DeleteSourceRequest *r = o->req;
    struct sync_actor actor;
    Roster__Sync__V1__Source *cur = NULL;
    const char *params[1] = { r->source_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = sync_authorize(conn, o->call, r->organization_id, SYNC_NEED_ADMIN, &actor, err);
    /* The row lock makes a run inserted meanwhile wait for this transaction. */
    if (rc == RS_OK)
        rc = source_load(conn, o->call, r->organization_id, r->source_id, true, &cur, err);
    if (rc == RS_OK)
        rc = sync_query(conn, o->call, "sync.source_active_run",
                        "SELECT id FROM sync.runs WHERE source_id = $1 AND status IN (1, 2)",
                        1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) > 0) {
        rs_error_set(err, RS_EPRECOND, "SYNC_RUNNING",
                     "source \"%s\" has a run pending or running (\"%s\"); delete it when "
                     "the run has finished",
                     r->source_id, PQgetvalue(res, 0, 0));
        rs_error_meta(err, "run_id", PQgetvalue(res, 0, 0));
        return RS_EPRECOND;
    }
    /* Members and their department rows have no foreign key to cascade
     * along (migration 0003). */
    return sync_query(conn, o->call, "sync.source_delete",
                      "WITH md AS (DELETE FROM sync.member_departments WHERE source_id = $1), "
                      "m AS (DELETE FROM sync.members WHERE source_id = $1) "
                      "DELETE FROM sync.sources WHERE id = $1",
                      1, params, NULL, err);
}

rs_status
sync_delete_source(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                   struct rs_error *err)
{
    const Roster__Sync__V1__DeleteSourceRequest *r =
        (const Roster__Sync__V1__DeleteSourceRequest *)msg;
    struct delete_op o = { call, r };
    Roster__Sync__V1__DeleteSourceResponse *out;
    rs_status rc;

    rc = sync_call_tx(call, delete_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return sync_nomem(err);
    roster__sync__v1__delete_source_response__init(out);
    out->source_id = rs_arena_strdup(rs_call_arena(call), r->source_id);
    if (out->source_id == NULL)
        return sync_nomem(err);
    rs_log_info(rs_call_log(call), "source deleted", "source_id", r->source_id, NULL);
    *resp = &out->base;
    return RS_OK;
}

/* --- the DingTalk client of a source --- */


/* The DingTalk client's cancel hook: a replica that shuts down stops waiting. */
static bool
client_cancelled(void *arg)
{
    return sync_worker_stopping(arg);
}

rs_status
sync_source_client(struct sync_service *svc, rs_db_conn *conn, const char *org_id,
                   const char *source_id, const struct rs_log_ctx *log, struct dt_client **out,
                   struct rs_error *err)
{
    const char *params[2] = { source_id, org_id };
    struct dt_config cfg;
    unsigned char *sealed = NULL;
    char *secret = NULL;
    PGresult *res = NULL;
    size_t len = 0;
    rs_status rc;

    *out = NULL;
    rc = rs_validate_id("source_id", source_id, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query(conn, "sync.source_secret",
                     "SELECT endpoint, app_key, secret_key_id, secret_sealed "
                     "FROM sync.sources WHERE id = $1 AND organization_id = $2",
                     2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rc = source_not_found(source_id, err);
        goto out;
    }
    rc = sync_bytea_value(PQgetvalue(res, 0, 3), &sealed, &len, err);
    if (rc == RS_OK)
        rc = sync_secret_open(svc->keys, PQgetvalue(res, 0, 2), source_id, sealed, len,
                              &secret, err);
    if (rc != RS_OK)
        goto out;
    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint = PQgetvalue(res, 0, 0);
    cfg.app_key = PQgetvalue(res, 0, 1);
    cfg.app_secret = secret;
    cfg.rate_per_api = svc->settings.dingtalk_rate;
    cfg.concurrency = svc->settings.dingtalk_concurrency;
    cfg.timeout_ms = svc->settings.dingtalk_timeout_ms;
    cfg.ban_pause_ms = svc->settings.dingtalk_ban_pause_ms;
    cfg.throttle_pause_ms = svc->settings.dingtalk_throttle_pause_ms;
    cfg.log = log;
    cfg.cancelled = client_cancelled;
    cfg.cancel_arg = svc;
    rc = dt_client_create(&cfg, out, err);
out:
    sync_secret_free(secret);
    free(sealed);
    PQclear(res);
    return rc;
}

/* --- TestConnection --- */

struct test_op {
    struct rs_call *call;
    const Roster__Sync__V1__TestConnectionRequest *req;
    struct dt_client *client;
};

static rs_status
test_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct test_op *o = arg;
    struct sync_actor actor;
    rs_status rc;

    rc = sync_authorize(conn, o->call, o->req->organization_id, SYNC_NEED_ADMIN, &actor, err);
    if (rc != RS_OK)
        return rc;
    dt_client_destroy(o->client);
    o->client = NULL;
    return sync_source_client(rs_call_user_data(o->call), conn, o->req->organization_id,
                              o->req->source_id, rs_call_log(o->call), &o->client, err);
}

rs_status
sync_test_connection(struct rs_call *call, const ProtobufCMessage *msg,
                     ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Sync__V1__TestConnectionRequest *r =
        (const Roster__Sync__V1__TestConnectionRequest *)msg;
    rs_arena *arena = rs_call_arena(call);
    struct test_op o = { call, r, NULL };
    Roster__Sync__V1__TestConnectionResponse *out;
    struct dt_probe probe;
    size_t i;
    rs_status rc;

    memset(&probe, 0, sizeof(probe));
    rc = sync_call_tx(call, test_body, &o, err);
    /* The DingTalk calls run outside the transaction: no connection waits on them. */
    if (rc == RS_OK)
        rc = dt_probe(o.client, &probe, err);
    dt_client_destroy(o.client);
    if (rc != RS_OK) {
        dt_probe_free(&probe);
        return rc;
    }
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        goto nomem;
    roster__sync__v1__test_connection_response__init(out);
    if (probe.n_scope_depts > 0) {
        out->scope_department_ids = rs_arena_alloc(arena, probe.n_scope_depts * sizeof(int64_t));
        if (out->scope_department_ids == NULL)
            goto nomem;
        memcpy(out->scope_department_ids, probe.scope_dept_ids,
               probe.n_scope_depts * sizeof(int64_t));
        out->n_scope_department_ids = probe.n_scope_depts;
    }
    if (probe.n_scope_users > 0) {
        out->scope_userids = rs_arena_alloc(arena, probe.n_scope_users * sizeof(char *));
        if (out->scope_userids == NULL)
            goto nomem;
        for (i = 0; i < probe.n_scope_users; i++) {
            out->scope_userids[i] = rs_arena_strdup(arena, probe.scope_userids[i]);
            if (out->scope_userids[i] == NULL)
                goto nomem;
            out->n_scope_userids++;
        }
    }
    out->sample_member_count = probe.sample_member_count;
    dt_probe_free(&probe);
    *resp = &out->base;
    return RS_OK;
nomem:
    dt_probe_free(&probe);
    return sync_nomem(err);
}
