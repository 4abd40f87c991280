/*
 * services/sync/src/run_rpc.c
 *    Starting runs (UpdateStructure, StartSync) and reading them (GetRun,
 *    ListRuns, ListRunItems). A start inserts a PENDING run, notifies the
 *    workers and returns at once; the partial unique index
 *    runs_one_active_key turns a second start into "already running".
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "roster/str.h"

#define REGULAR_USER_ROLE 111111113
#define MAX_ROLES 3
#define MAX_USERIDS 10000
#define MAX_DEPARTMENTS 1000

struct start_op {
    struct rs_call *call;
    const char *org_id;
    const char *source_id;
    int kind;
    const char *request_json;
    const Roster__Sync__V1__StartSyncRequest *sync; /* StartSync only */
    Roster__Sync__V1__Run *run;
    bool already;
};

/* StartSync's checks against the stored structure and authz's roles. */
static rs_status
check_selection(rs_db_conn *conn, struct start_op *o, struct rs_error *err)
{
    const Roster__Sync__V1__StartSyncRequest *r = o->sync;
    rs_arena *arena = rs_call_arena(o->call);
    json_t *ids = json_array();
    json_t *depts = json_array();
    json_t *roles = json_array();
    const char *params[5];
    PGresult *res = NULL;
    char *ids_text = NULL;
    char *depts_text = NULL;
    char *roles_text = NULL;
    size_t i;
    rs_status rc = RS_OK;

    for (i = 0; i < r->n_userids; i++)
        json_array_append_new(ids, json_string(r->userids[i]));
    for (i = 0; i < r->n_department_ids; i++)
        json_array_append_new(depts, json_integer(r->department_ids[i]));
    for (i = 0; i < r->n_org_role_ids; i++)
        json_array_append_new(roles, json_integer(r->org_role_ids[i]));
    ids_text = json_dumps(ids, JSON_COMPACT);
    depts_text = json_dumps(depts, JSON_COMPACT);
    roles_text = json_dumps(roles, JSON_COMPACT);
    if (ids_text == NULL || depts_text == NULL || roles_text == NULL) {
        rc = sync_nomem(err);
        goto out;
    }
    params[0] = o->source_id;
    params[1] = ids_text;
    params[2] = depts_text;
    params[3] = o->org_id;
    params[4] = roles_text;
    rc = rs_db_query_arena(conn, arena, "sync.start_check",
                           "SELECT (SELECT u FROM jsonb_array_elements_text($2::jsonb) u "
                           "WHERE NOT EXISTS (SELECT 1 FROM sync.members m WHERE "
                           "m.source_id = $1 AND m.userid = u) LIMIT 1), "
                           "(SELECT d FROM jsonb_array_elements_text($3::jsonb) d "
                           "WHERE NOT EXISTS (SELECT 1 FROM sync.departments x WHERE "
                           "x.source_id = $1 AND x.dept_id = d::bigint) LIMIT 1), "
                           "(SELECT r FROM jsonb_array_elements_text($5::jsonb) r "
                           "WHERE r::bigint NOT IN (111111111, 111111112, 111111113) AND "
                           "NOT EXISTS (SELECT 1 FROM authz.org_roles x WHERE x.id = "
                           "r::bigint AND x.organization_id = $4) LIMIT 1)",
                           5, params, &res, err);
    if (rc != RS_OK)
        goto out;
    if (!PQgetisnull(res, 0, 0)) {
        rs_error_set(err, RS_ENOTFOUND, "MEMBER_NOT_FOUND",
                     "member \"%.64s\" is not in the stored structure of source \"%s\"; "
                     "run Update Structure first",
                     PQgetvalue(res, 0, 0), o->source_id);
        rs_utf8_trim_partial(err->message);
        rs_error_meta(err, "userid", PQgetvalue(res, 0, 0));
        rc = RS_ENOTFOUND;
    } else if (!PQgetisnull(res, 0, 1)) {
        rs_error_set(err, RS_ENOTFOUND, "DEPARTMENT_NOT_FOUND",
                     "department %s is not in the stored structure of source \"%s\"",
                     PQgetvalue(res, 0, 1), o->source_id);
        rs_error_meta(err, "department_id", PQgetvalue(res, 0, 1));
        rc = RS_ENOTFOUND;
    } else if (!PQgetisnull(res, 0, 2)) {
        rs_error_set(err, RS_ENOTFOUND, "ROLE_NOT_FOUND",
                     "organization role %s not found in organization \"%s\"",
                     PQgetvalue(res, 0, 2), o->org_id);
        rs_error_meta(err, "role_id", PQgetvalue(res, 0, 2));
        rc = RS_ENOTFOUND;
    }
out:
    json_decref(ids);
    json_decref(depts);
    json_decref(roles);
    free(ids_text);
    free(depts_text);
    free(roles_text);
    return rc;
}

static rs_status
start_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct start_op *o = arg;
    rs_arena *arena = rs_call_arena(o->call);
    struct sync_actor actor;
    char run_id[33];
    char kind[8];
    const char *params[6];
    PGresult *res = NULL;
    int tries;
    rs_status rc;

    o->already = false;
    rc = sync_authorize(conn, o->call, o->org_id, SYNC_NEED_ADMIN, &actor, err);
    if (rc == RS_OK)
        rc = rs_validate_id("source_id", o->source_id, err);
    if (rc != RS_OK)
        return rc;
    params[0] = o->source_id;
    params[1] = o->org_id;
    rc = rs_db_query_arena(conn, arena, "sync.start_source",
                           "SELECT " SYNC_STRUCTURE_AT("s.id") " IS NOT NULL "
                           "FROM sync.sources s WHERE s.id = $1 AND s.organization_id = $2 "
                           "FOR KEY SHARE OF s",
                           2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "SOURCE_NOT_FOUND", "source \"%s\" not found",
                     o->source_id);
        rs_error_meta(err, "source_id", o->source_id);
        return RS_ENOTFOUND;
    }
    if (o->sync != NULL) {
        if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
            rs_error_set(err, RS_EPRECOND, "STRUCTURE_NOT_LOADED",
                         "source \"%s\" has no structure yet; run Update Structure first",
                         o->source_id);
            rs_error_meta(err, "source_id", o->source_id);
            return RS_EPRECOND;
        }
        rc = check_selection(conn, o, err);
        if (rc != RS_OK)
            return rc;
    }
    snprintf(kind, sizeof(kind), "%d", o->kind);
    /* A conflicting run may finish between the insert and the read: try again then. */
    for (tries = 0; tries < 3; tries++) {
        rs_id_new(run_id);
        params[0] = run_id;
        params[1] = o->org_id;
        params[2] = o->source_id;
        params[3] = kind;
        params[4] = actor.user_id;
        params[5] = o->request_json;
        rc = rs_db_query_arena(conn, arena, "sync.run_insert",
                               "INSERT INTO sync.runs (id, organization_id, source_id, kind, "
                               "status, operator_user_id, request) VALUES ($1, $2, $3, $4, 1, "
                               "$5, $6::jsonb) ON CONFLICT (source_id) WHERE status IN (1, 2) "
                               "DO NOTHING RETURNING id",
                               6, params, &res, err);
        if (rc != RS_OK)
            return rc;
        if (PQntuples(res) == 1) {
            params[0] = SYNC_NOTIFY_CHANNEL;
            params[1] = run_id;
            rc = rs_db_query(conn, "sync.run_notify", "SELECT pg_notify($1, $2)", 2, params,
                             NULL, err);
            if (rc != RS_OK)
                return rc;
            return sync_run_load(conn, arena, o->org_id, run_id, &o->run, err);
        }
        params[0] = o->source_id;
        rc = rs_db_query_arena(conn, arena, "sync.run_active",
                               "SELECT id FROM sync.runs WHERE source_id = $1 "
                               "AND status IN (1, 2)",
                               1, params, &res, err);
        if (rc != RS_OK)
            return rc;
        if (PQntuples(res) == 1) {
            o->already = true;
            return sync_run_load(conn, arena, o->org_id, PQgetvalue(res, 0, 0), &o->run, err);
        }
    }
    return rs_error_set(err, RS_EABORTED, "SYNC_RUNNING",
                        "runs of source \"%s\" keep starting and finishing; try again",
                        o->source_id);
}

static rs_status
start_run(struct rs_call *call, struct start_op *o, ProtobufCMessage **resp,
          struct rs_error *err)
{
    Roster__Sync__V1__StartRunResponse *out;
    rs_status rc;

    rc = sync_call_tx(call, start_body, o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return sync_nomem(err);
    roster__sync__v1__start_run_response__init(out);
    out->run = o->run;
    out->already_running = o->already;
    rs_log_info(rs_call_log(call), o->already ? "run already active" : "run queued", "run_id",
                o->run->run_id, "source_id", o->source_id, NULL);
    *resp = &out->base;
    return RS_OK;
}

rs_status
sync_update_structure(struct rs_call *call, const ProtobufCMessage *msg,
                      ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Sync__V1__UpdateStructureRequest *r =
        (const Roster__Sync__V1__UpdateStructureRequest *)msg;
    struct start_op o;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.source_id = r->source_id;
    o.kind = SYNC_KIND_STRUCTURE;
    o.request_json = r->force ? "{\"force\":true}" : "{\"force\":false}";
    return start_run(call, &o, resp, err);
}

static rs_status
validate_start_sync(const Roster__Sync__V1__StartSyncRequest *r, struct rs_error *err)
{
    size_t i;
    size_t j;

    if (r->user_type != ROSTER__IDENTITY__V1__USER_TYPE__USER_TYPE_DEVELOPER &&
        r->user_type != ROSTER__IDENTITY__V1__USER_TYPE__USER_TYPE_ANALYST &&
        r->user_type != ROSTER__IDENTITY__V1__USER_TYPE__USER_TYPE_VISITOR)
        return sync_field_invalid(err, "user_type", "expected DEVELOPER, ANALYST or VISITOR");
    if (r->n_org_role_ids > MAX_ROLES)
        return sync_field_invalid(err, "org_role_ids", "at most %d roles, got %zu", MAX_ROLES,
                                  r->n_org_role_ids);
    for (i = 0; i < r->n_org_role_ids; i++) {
        if (r->org_role_ids[i] <= 0)
            return sync_field_invalid(err, "org_role_ids", "%lld is not a role id",
                                      (long long)r->org_role_ids[i]);
        for (j = 0; j < i; j++)
            if (r->org_role_ids[j] == r->org_role_ids[i])
                return sync_field_invalid(err, "org_role_ids", "%lld is named twice",
                                          (long long)r->org_role_ids[i]);
    }
    if (r->n_userids == 0 && r->n_department_ids == 0)
        return sync_field_invalid(err, "userids",
                                  "name at least one member (userids) or department "
                                  "(department_ids)");
    if (r->n_userids > MAX_USERIDS)
        return sync_field_invalid(err, "userids", "at most %d members, got %zu", MAX_USERIDS,
                                  r->n_userids);
    if (r->n_department_ids > MAX_DEPARTMENTS)
        return sync_field_invalid(err, "department_ids", "at most %d departments, got %zu",
                                  MAX_DEPARTMENTS, r->n_department_ids);
    for (i = 0; i < r->n_userids; i++) {
        size_t len = strlen(r->userids[i]);

        if (len == 0 || len > 64 || !rs_utf8_valid(r->userids[i], len) ||
            rs_utf8_has_control(r->userids[i], len))
            return sync_field_invalid(err, "userids",
                                      "entry %zu must be 1 to 64 bytes of text", i);
    }
    for (i = 0; i < r->n_department_ids; i++)
        if (r->department_ids[i] <= 0)
            return sync_field_invalid(err, "department_ids", "%lld is not a department id",
                                      (long long)r->department_ids[i]);
    return RS_OK;
}

/* The run's request: {"userids":[..], "department_ids":[..], "user_type":N, "org_role_ids":[..]}. */
static char *
sync_request_json(const Roster__Sync__V1__StartSyncRequest *r)
{
    json_t *doc = json_object();
    json_t *ids = json_array();
    json_t *depts = json_array();
    json_t *roles = json_array();
    char *text;
    size_t i;

    for (i = 0; i < r->n_userids; i++)
        json_array_append_new(ids, json_string(r->userids[i]));
    for (i = 0; i < r->n_department_ids; i++)
        json_array_append_new(depts, json_integer(r->department_ids[i]));
    for (i = 0; i < r->n_org_role_ids; i++)
        json_array_append_new(roles, json_integer(r->org_role_ids[i]));
    if (r->n_org_role_ids == 0)
        json_array_append_new(roles, json_integer(REGULAR_USER_ROLE));
    json_object_set_new(doc, "userids", ids);
    json_object_set_new(doc, "department_ids", depts);
    json_object_set_new(doc, "user_type", json_integer(r->user_type));
    json_object_set_new(doc, "org_role_ids", roles);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

rs_status
sync_start_sync(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                struct rs_error *err)
{
    const Roster__Sync__V1__StartSyncRequest *r =
        (const Roster__Sync__V1__StartSyncRequest *)msg;
    struct start_op o;
    char *request;
    rs_status rc;

    rc = rs_validate_id("organization_id", r->organization_id, err);
    if (rc == RS_OK)
        rc = rs_validate_id("source_id", r->source_id, err);
    if (rc == RS_OK)
        rc = validate_start_sync(r, err);
    if (rc != RS_OK)
        return rc;
    request = sync_request_json(r);
    if (request == NULL)
        return sync_nomem(err);
    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.source_id = r->source_id;
    o.kind = SYNC_KIND_SYNC;
    o.request_json = request;
    o.sync = r;
    rc = start_run(call, &o, resp, err);
    free(request);
    return rc;
}

/* --- reads --- */

struct read_op {
    struct rs_call *call;
    const char *org_id;
    const char *run_id;
    Roster__Sync__V1__Run *run;
    const char *stmt;
    const char *sql;
    int n_params;
    const char *const *params;
    PGresult *res;
};

static rs_status
read_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct read_op *o = arg;
    struct sync_actor actor;
    rs_status rc;

    rc = sync_authorize(conn, o->call, o->org_id, 0, &actor, err);
    if (rc == RS_OK && o->run_id != NULL)
        rc = sync_run_load(conn, rs_call_arena(o->call), o->org_id, o->run_id, &o->run, err);
    if (rc == RS_OK && o->sql != NULL)
        rc = sync_query(conn, o->call, o->stmt, o->sql, o->n_params, o->params, &o->res, err);
    return rc;
}

rs_status
sync_get_run(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
             struct rs_error *err)
{
    const Roster__Sync__V1__GetRunRequest *r = (const Roster__Sync__V1__GetRunRequest *)msg;
    struct read_op o;
    rs_status rc;

    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.run_id = r->run_id;
    rc = sync_call_tx(call, read_body, &o, err);
    if (rc != RS_OK)
        return rc;
    *resp = &o.run->base;
    return RS_OK;
}

/* sync_run_from_row as an rs_page_row_fn. */
static void *
run_row(rs_arena *arena, const PGresult *res, int row)
{
    return sync_run_from_row(arena, res, row);
}

rs_status
sync_list_runs(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
               struct rs_error *err)
{
    const Roster__Sync__V1__ListRunsRequest *r = (const Roster__Sync__V1__ListRunsRequest *)msg;
    rs_arena *arena = rs_call_arena(call);
    const char *parts[2] = { r->organization_id, r->source_id };
    Roster__Sync__V1__ListRunsResponse *out;
    struct rs_page_key after;
    struct read_op o;
    const char *params[5];
    char after_us[24];
    char limit[16];
    uint64_t filter;
    char *sql;
    int size;
    rs_status rc;

    rc = rs_page_size(r->page_size, &size, err);
    if (rc == RS_OK && r->source_id[0] != '\0')
        rc = rs_validate_id("source_id", r->source_id, err);
    if (rc != RS_OK)
        return rc;
    filter = rs_page_filter_hash("sync.runs", parts, 2);
    params[2] = NULL;
    params[3] = NULL;
    if (r->page_token[0] != '\0') {
        rc = rs_page_token_decode(r->page_token, filter, &after, err);
        if (rc != RS_OK)
            return rc;
        snprintf(after_us, sizeof(after_us), "%lld", (long long)after.created_us);
        params[2] = after_us;
        params[3] = rs_arena_strdup(arena, after.id);
    }
    snprintf(limit, sizeof(limit), "%d", size + 1);
    params[0] = r->organization_id;
    params[1] = r->source_id;
    params[4] = limit;
    sql = rs_arena_printf(arena,
                          "SELECT %s FROM sync.runs r WHERE r.organization_id = $1 "
                          "AND ($2 = '' OR r.source_id = $2) AND ($3::bigint IS NULL OR "
                          "(" SYNC_US("r.created_at") ", r.id) < ($3::bigint, $4)) "
                          "ORDER BY r.created_at DESC, r.id DESC LIMIT $5::int",
                          sync_run_columns);
    if (sql == NULL)
        return sync_nomem(err);
    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.stmt = "sync.run_list";
    o.sql = sql;
    o.n_params = 5;
    o.params = params;
    rc = sync_call_tx(call, read_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        return sync_nomem(err);
    roster__sync__v1__list_runs_response__init(out);
    rc = rs_page_rows(arena, o.res, size, rs_call_max_message_bytes(call), run_row, 0, 7,
                      filter, (void ***) &out->runs, &out->n_runs, &out->next_page_token, err);
    if (rc != RS_OK)
        return rc;
    *resp = &out->base;
    return RS_OK;
}

static void *
item_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Sync__V1__RunItem *it = rs_arena_alloc(arena, sizeof(*it));

    if (it == NULL)
        return NULL;
    roster__sync__v1__run_item__init(it);
    it->seq = (int32_t)sync_col_int64(res, row, 0);
    it->node_kind = (Roster__Sync__V1__NodeKind)sync_col_int64(res, row, 1);
    it->external_id = sync_col_str(arena, res, row, 2);
    it->name = sync_col_str(arena, res, row, 3);
    it->outcome = (Roster__Sync__V1__ItemOutcome)sync_col_int64(res, row, 4);
    it->user_id = sync_col_str(arena, res, row, 5);
    it->group_id = sync_col_str(arena, res, row, 6);
    it->reason = sync_col_str(arena, res, row, 7);
    it->message = sync_col_str(arena, res, row, 8);
    if (it->external_id == NULL || it->name == NULL || it->user_id == NULL ||
        it->group_id == NULL || it->reason == NULL || it->message == NULL)
        return NULL;
    return it;
}

rs_status
sync_list_run_items(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                    struct rs_error *err)
{
    const Roster__Sync__V1__ListRunItemsRequest *r =
        (const Roster__Sync__V1__ListRunItemsRequest *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Sync__V1__ListRunItemsResponse *out;
    struct rs_page_key after;
    struct read_op o;
    const char *parts[3];
    const char *params[4];
    char outcome[8];
    char after_seq[24];
    char limit[16];
    uint64_t filter;
    int size;
    rs_status rc;

    rc = rs_page_size(r->page_size, &size, err);
    if (rc != RS_OK)
        return rc;
    if (r->outcome < 0 || r->outcome > ROSTER__SYNC__V1__ITEM_OUTCOME__ITEM_OUTCOME_DELETED)
        return sync_field_invalid(err, "outcome", "unknown value %d", (int)r->outcome);
    snprintf(outcome, sizeof(outcome), "%d", (int)r->outcome);
    parts[0] = r->organization_id;
    parts[1] = r->run_id;
    parts[2] = outcome;
    filter = rs_page_filter_hash("sync.run_items", parts, 3);
    /* Items are ordered by seq: the token's "created" position carries it. */
    snprintf(after_seq, sizeof(after_seq), "-1");
    if (r->page_token[0] != '\0') {
        rc = rs_page_token_decode(r->page_token, filter, &after, err);
        if (rc != RS_OK)
            return rc;
        snprintf(after_seq, sizeof(after_seq), "%lld", (long long)after.created_us);
    }
    snprintf(limit, sizeof(limit), "%d", size + 1);
    params[0] = r->run_id;
    params[1] = outcome;
    params[2] = after_seq;
    params[3] = limit;
    memset(&o, 0, sizeof(o));
    o.call = call;
    o.org_id = r->organization_id;
    o.run_id = r->run_id;
    o.stmt = "sync.run_items";
    o.sql = "SELECT seq, node_kind, external_id, name, outcome, user_id, group_id, reason, "
            "message, run_id FROM sync.run_items WHERE run_id = $1 AND ($2::int = 0 OR "
            "outcome = $2::int) AND seq > $3::bigint ORDER BY seq LIMIT $4::int";
    o.n_params = 4;
    o.params = params;
    rc = sync_call_tx(call, read_body, &o, err);
    if (rc != RS_OK)
        return rc;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        return sync_nomem(err);
    roster__sync__v1__list_run_items_response__init(out);
    rc = rs_page_rows(arena, o.res, size, rs_call_max_message_bytes(call), item_from_row, 9,
                      0, filter, (void ***) &out->items, &out->n_items, &out->next_page_token,
                      err);
    if (rc != RS_OK)
        return rc;
    *resp = &out->base;
    return RS_OK;
}
