/*
 * services/authz/src/check_handlers.c
 *    The question RPCs: Check, BatchCheck, Explain and
 *    ListAllowedResources, answered from the engine's snapshots.
 *
 * The actor must be an enabled user of the organisation. Any user may ask
 * about themselves. Asking about another user needs an organisation or
 * permission administrator as the actor, or a caller token with scope
 * "check", which other backends use to ask on their users' behalf.
 */
#include "engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "revision.h"
#include "roster/authz/v1/authz.pb-c.h"
#include "roster/clock.h"
#include "roster/page.h"
#include "roster/str.h"

#define BATCH_MAX 100
#define LIST_PAGE_DEFAULT 50
#define LIST_PAGE_MAX 1000
#define CHECK_SCOPE "check"

/* A question in progress: its snapshot and the checked actor. */
struct question {
    struct authz_engine *engine;
    const char *org_id;
    enum engine_consistency mode;
    int64_t min_rev;
    struct authz_snapshot *snap; /* one reference, dropped by question_end */
    const char *actor;
    bool may_check_others;
    char revision[64];
};

static struct authz_engine *
call_engine(struct rs_call *call)
{
    /* The service context's first member is the engine (engine.h). */
    return *(struct authz_engine *const *)rs_call_user_data(call);
}

static int64_t
now_unix_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static rs_status
nomem(struct rs_error *err)
{
    return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
}

/*
 * Reloads once when user_id is missing from the snapshot and the snapshot is
 * older than ENGINE_UNKNOWN_USER_RELOAD_US: a user created since the last
 * load is then found, while a stream of unknown ids costs at most one load
 * per interval.
 */
static rs_status
question_know_user(struct question *q, const char *user_id, struct rs_error *err)
{
    struct authz_snapshot *fresh = NULL;
    rs_status rc;

    if (user_id[0] == '\0' || snap_find_user(q->snap, user_id) != SNAP_NONE)
        return RS_OK;
    if (rs_clock_us() - q->snap->loaded_us <= ENGINE_UNKNOWN_USER_RELOAD_US)
        return RS_OK;
    rc = engine_snapshot(q->engine, q->org_id, q->mode, q->min_rev,
                         ENGINE_UNKNOWN_USER_RELOAD_US, &fresh, err);
    if (rc != RS_OK)
        return rc;
    snap_release(q->snap);
    q->snap = fresh;
    authz_revision_format(q->snap->revision, q->revision);
    return RS_OK;
}

static rs_status
question_begin(struct rs_call *call, const char *org_id, int consistency,
               const char *min_revision, struct question *q, struct rs_error *err)
{
    uint32_t actor;
    rs_status rc;

    memset(q, 0, sizeof(*q));
    q->engine = call_engine(call);
    q->org_id = org_id;
    if (!rs_id_valid(org_id)) {
        rs_error_set(err, RS_EINVAL, "INVALID_ID",
                     "invalid organization_id \"%s\": expected 32 lower-case hex digits", org_id);
        rs_error_meta(err, "field", "organization_id");
        return RS_EINVAL;
    }
    if (consistency < ENGINE_MINIMIZE_LATENCY || consistency > ENGINE_FULLY_CONSISTENT)
        return rs_error_set(err, RS_EINVAL, "CONSISTENCY_INVALID", "invalid consistency %d",
                            consistency);
    q->mode = (enum engine_consistency)consistency;
    rc = authz_revision_parse(min_revision, &q->min_rev, err);
    if (rc != RS_OK)
        return rc;
    q->actor = rs_call_actor(call);
    if (q->actor == NULL || q->actor[0] == '\0')
        return rs_error_set(err, RS_EUNAUTH, "ACTOR_REQUIRED",
                            "missing x-roster-actor: name the acting user");
    rc = engine_snapshot(q->engine, org_id, q->mode, q->min_rev, 0, &q->snap, err);
    if (rc != RS_OK)
        return rc;
    authz_revision_format(q->snap->revision, q->revision);
    rc = question_know_user(q, q->actor, err);
    if (rc != RS_OK)
        return rc;
    actor = snap_find_user(q->snap, q->actor);
    if (actor == SNAP_NONE)
        return rs_error_set(err, RS_EPERM, "ACTOR_NOT_IN_ORGANIZATION",
                            "actor \"%s\" is not a user of organization \"%s\"", q->actor,
                            org_id);
    if (!q->snap->users[actor].enabled)
        return rs_error_set(err, RS_EPERM, "ACTOR_DISABLED", "actor \"%s\" is disabled",
                            q->actor);
    q->may_check_others = authz_user_may_check_others(q->snap, actor) ||
                          rs_call_has_scope(call, CHECK_SCOPE);
    return RS_OK;
}

static void
question_end(struct question *q)
{
    snap_release(q->snap);
    q->snap = NULL;
}

/* The user asked about: user_id, or the actor when empty. */
static rs_status
question_subject(struct question *q, const char *user_id, const char **out,
                 struct rs_error *err)
{
    if (user_id == NULL || user_id[0] == '\0' || strcmp(user_id, q->actor) == 0) {
        *out = q->actor;
        return RS_OK;
    }
    if (!q->may_check_others)
        return rs_error_set(err, RS_EPERM, "NOT_ALLOWED_TO_CHECK_OTHERS",
                            "only organization and permission administrators, or callers with "
                            "scope \"check\", may ask about other users");
    *out = user_id;
    return question_know_user(q, user_id, err);
}

static rs_status
ask(struct question *q, const Roster__Authz__V1__CheckRequest *req, int64_t now_us,
    struct authz_answer *answer, struct authz_explain *ex, struct rs_error *err)
{
    struct authz_question aq;
    rs_status rc;

    if (req->resource == NULL)
        return rs_error_set(err, RS_EINVAL, "RESOURCE_REQUIRED", "missing resource");
    rc = question_subject(q, req->user_id, &aq.user_id, err);
    if (rc != RS_OK)
        return rc;
    aq.permission = req->permission;
    aq.resource_type = req->resource->type;
    aq.resource_id = req->resource->id;
    aq.workspace_id = req->resource->workspace_id;
    aq.now_us = now_us;
    return authz_evaluate(q->snap, &aq, answer, ex, err);
}

static Roster__Authz__V1__CheckResponse *
check_response(rs_arena *arena, const struct question *q, const struct authz_answer *answer,
               const char *correlation_id)
{
    Roster__Authz__V1__CheckResponse *resp = rs_arena_alloc(arena, sizeof(*resp));

    if (resp == NULL)
        return NULL;
    roster__authz__v1__check_response__init(resp);
    resp->allowed = answer->allowed;
    resp->reason = (char *)answer->reason;
    resp->revision = rs_arena_strdup(arena, q->revision);
    resp->correlation_id = (char *)(correlation_id ? correlation_id : "");
    return resp->revision ? resp : NULL;
}

rs_status
authz_check(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
            struct rs_error *err)
{
    const Roster__Authz__V1__CheckRequest *req = (const Roster__Authz__V1__CheckRequest *)msg;
    struct question q;
    struct authz_answer answer;
    Roster__Authz__V1__CheckResponse *out;
    rs_status rc;

    rc = question_begin(call, req->organization_id, (int)req->consistency, req->min_revision,
                        &q, err);
    if (rc != RS_OK)
        goto out;
    rc = ask(&q, req, now_unix_us(), &answer, NULL, err);
    if (rc != RS_OK)
        goto out;
    out = check_response(rs_call_arena(call), &q, &answer, req->correlation_id);
    if (out == NULL) {
        rc = nomem(err);
        goto out;
    }
    *resp = &out->base;
out:
    question_end(&q);
    return rc;
}

/*
 * Every item is asked against one snapshot. An item that cannot be
 * answered (unknown user or workspace, malformed permission, not allowed
 * to ask about that user) is answered allowed=false with the error's
 * reason instead of failing the whole batch.
 */
rs_status
authz_batch_check(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                  struct rs_error *err)
{
    const Roster__Authz__V1__BatchCheckRequest *req =
        (const Roster__Authz__V1__BatchCheckRequest *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Authz__V1__BatchCheckResponse *out;
    struct question q;
    int64_t now_us = now_unix_us(), max_rev = 0;
    size_t i;
    rs_status rc;

    memset(&q, 0, sizeof(q));
    if (req->n_items < 1 || req->n_items > BATCH_MAX)
        return rs_error_set(err, RS_EINVAL, "BATCH_SIZE_INVALID",
                            "invalid batch of %zu items: send 1 to %d", req->n_items, BATCH_MAX);
    for (i = 0; i < req->n_items; i++) {
        int64_t rev;

        if (strcmp(req->items[i]->organization_id, req->items[0]->organization_id) != 0)
            return rs_error_set(err, RS_EINVAL, "ORGANIZATION_MISMATCH",
                                "item %zu names another organization than item 0: a batch "
                                "asks about one organization", i);
        rc = authz_revision_parse(req->items[i]->min_revision, &rev, err);
        if (rc != RS_OK)
            return rc;
        if (rev > max_rev)
            max_rev = rev;
    }
    rc = question_begin(call, req->items[0]->organization_id, (int)req->items[0]->consistency,
                        "", &q, err);
    if (rc != RS_OK)
        goto out;
    if (max_rev > q.snap->revision) {
        struct authz_snapshot *fresh = NULL;

        /* The freshest requirement of any item applies to the batch. */
        rc = engine_snapshot(q.engine, q.org_id, ENGINE_AT_LEAST_AS_FRESH, max_rev, 0, &fresh,
                             err);
        if (rc != RS_OK)
            goto out;
        snap_release(q.snap);
        q.snap = fresh;
        authz_revision_format(q.snap->revision, q.revision);
    }
    /* Reload for an unknown subject before the first answer, so all items share one snapshot. */
    for (i = 0; i < req->n_items && q.may_check_others; i++) {
        rc = question_know_user(&q, req->items[i]->user_id, err);
        if (rc != RS_OK)
            goto out;
    }
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL) {
        rc = nomem(err);
        goto out;
    }
    roster__authz__v1__batch_check_response__init(out);
    out->results = rs_arena_alloc(arena, req->n_items * sizeof(*out->results));
    if (out->results == NULL) {
        rc = nomem(err);
        goto out;
    }
    for (i = 0; i < req->n_items; i++) {
        struct authz_answer answer;
        struct rs_error item_err;

        rs_error_clear(&item_err);
        if (ask(&q, req->items[i], now_us, &answer, NULL, &item_err) != RS_OK) {
            if (item_err.code == RS_ENOMEM || item_err.code == RS_EUNAVAIL) {
                rc = rs_error_set(err, item_err.code, item_err.reason, "%s", item_err.message);
                goto out;
            }
            answer.allowed = false;
            answer.reason = rs_arena_strdup(arena, item_err.reason);
        }
        out->results[i] = check_response(arena, &q, &answer, req->items[i]->correlation_id);
        if (out->results[i] == NULL || answer.reason == NULL) {
            rc = nomem(err);
            goto out;
        }
    }
    out->n_results = req->n_items;
    *resp = &out->base;
    rc = RS_OK;
out:
    question_end(&q);
    return rc;
}

static char *
arena_copy(rs_arena *arena, const char *s, bool *failed)
{
    char *copy = rs_arena_strdup(arena, s ? s : "");

    if (copy == NULL)
        *failed = true;
    return copy;
}

rs_status
authz_explain(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
              struct rs_error *err)
{
    const Roster__Authz__V1__CheckRequest *req = (const Roster__Authz__V1__CheckRequest *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Authz__V1__ExplainResponse *out;
    struct authz_explain ex = { .arena = arena, .effective_level = "" };
    struct authz_answer answer;
    struct question q;
    bool failed = false;
    size_t i;
    rs_status rc;

    rc = question_begin(call, req->organization_id, (int)req->consistency, req->min_revision,
                        &q, err);
    if (rc != RS_OK)
        goto out;
    rc = ask(&q, req, now_unix_us(), &answer, &ex, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL) {
        rc = nomem(err);
        goto out;
    }
    roster__authz__v1__explain_response__init(out);
    out->result = check_response(arena, &q, &answer, req->correlation_id);
    out->effective_level = (char *)ex.effective_level;
    out->contributions = rs_arena_alloc(arena, (ex.n + 1) * sizeof(*out->contributions));
    if (out->result == NULL || out->contributions == NULL) {
        rc = nomem(err);
        goto out;
    }
    /* Copied: the ids point into the snapshot, which may be freed before packing. */
    for (i = 0; i < ex.n && !failed; i++) {
        Roster__Authz__V1__Contribution *c = rs_arena_alloc(arena, sizeof(*c));

        if (c == NULL) {
            failed = true;
            break;
        }
        roster__authz__v1__contribution__init(c);
        c->kind = (char *)ex.items[i].kind;
        c->id = arena_copy(arena, ex.items[i].id, &failed);
        c->via_group_id = arena_copy(arena, ex.items[i].via_group_id, &failed);
        c->allows = arena_copy(arena, ex.items[i].allows, &failed);
        c->detail = arena_copy(arena, ex.items[i].detail, &failed);
        out->contributions[out->n_contributions++] = c;
    }
    if (failed) {
        rc = nomem(err);
        goto out;
    }
    *resp = &out->base;
out:
    question_end(&q);
    return rc;
}

/* --- ListAllowedResources --- */

/*
 * Page tokens are base64url("<filter hash, 16 hex>:<last resource id>"):
 * keyset paging on resource_id, bound to the request's filter so that a
 * token cannot be replayed with another user, type or permission.
 */
static uint64_t
list_filter_hash(const Roster__Authz__V1__ListAllowedResourcesRequest *req, const char *subject)
{
    char buf[512];

    snprintf(buf, sizeof(buf), "%s\x1f%s\x1f%s\x1f%s\x1f%s", req->organization_id, subject,
             req->resource_type, req->permission, req->workspace_id);
    return rs_hash_str(buf);
}

/*
 * Bytes of a token before base64url: "<16 hex>:" (17), the longest
 * resource id and "|<16 hex>" (17).
 */
#define LIST_TOKEN_RAW_MAX (17 + AUTHZ_RESOURCE_ID_MAX_BYTES + 17)

/*
 * Bytes of a ListAllowedResources reply other than its works: the longest
 * next_page_token (base64url of LIST_TOKEN_RAW_MAX bytes, a tag and a
 * two-byte length) and the revision (below 64 bytes, a tag and a length).
 */
#define LIST_REPLY_RESERVE (3 + (LIST_TOKEN_RAW_MAX + 2) / 3 * 4 + 2 + 64)

/*
 * A token is base64url of "<filter hash>:<last resource id>|<checksum>",
 * where the checksum hashes everything before the '|'. Like the other
 * listings' tokens it is checksummed, not signed: edits are rejected, but
 * it only selects a position inside a listing the caller may read anyway.
 */
static rs_status
list_token_parse(const char *token, uint64_t filter, char *after, size_t after_size,
                 struct rs_error *err)
{
    unsigned char raw[LIST_TOKEN_RAW_MAX + 1];
    char expect[18];
    char sum[18];
    size_t len;
    size_t body;

    after[0] = '\0';
    if (token[0] == '\0')
        return RS_OK;
    snprintf(expect, sizeof(expect), "%016" PRIx64 ":", filter);
    if (rs_base64url_decode(token, raw, sizeof(raw) - 1, &len) != RS_OK || len < 17 + 17)
        goto invalid;
    raw[len] = '\0';
    body = len - 17;
    if (raw[body] != '|' || memcmp(raw, expect, 17) != 0 || body - 17 >= after_size)
        goto invalid;
    raw[body] = '\0';
    snprintf(sum, sizeof(sum), "%016" PRIx64, rs_hash_str((const char *)raw));
    if (memcmp(raw + body + 1, sum, 16) != 0)
        goto invalid;
    memcpy(after, raw + 17, body - 17);
    after[body - 17] = '\0';
    return RS_OK;
invalid:
    return rs_error_set(err, RS_EINVAL, "PAGE_TOKEN_INVALID",
                        "invalid page_token: pass the token of the previous page with the "
                        "same filter");
}

static char *
list_token_make(rs_arena *arena, uint64_t filter, const char *last_id)
{
    char raw[LIST_TOKEN_RAW_MAX + 1];
    char *token;
    int n = snprintf(raw, sizeof(raw), "%016" PRIx64 ":%s", filter, last_id);
    int m;
    size_t size;

    if (n < 0 || (size_t)n + 18 > sizeof(raw))
        return NULL;
    m = snprintf(raw + n, sizeof(raw) - (size_t)n, "|%016" PRIx64, rs_hash_str(raw));
    if (m != 17)
        return NULL;
    n += m;
    size = (size_t)n * 4 / 3 + 4;
    token = rs_arena_alloc(arena, size);
    if (token == NULL ||
        rs_base64url_encode((const unsigned char *)raw, (size_t)n, token, size) != RS_OK)
        return NULL;
    return token;
}

static Roster__Authz__V1__Resource *
list_resource(rs_arena *arena, const struct authz_snapshot *s, const struct snap_resource *r)
{
    Roster__Authz__V1__Resource *res = rs_arena_alloc(arena, sizeof(*res));

    if (res == NULL)
        return NULL;
    roster__authz__v1__resource__init(res);
    res->type = (char *)authz_resource_types[r->type];
    res->id = rs_arena_strdup(arena, r->id);
    res->workspace_id = rs_arena_strdup(arena, s->workspaces[r->workspace].id);
    return res->id && res->workspace_id ? res : NULL;
}

/*
 * Scans the registered works of the type in resource_id order from the
 * token on. A page ends when it contains page_size works or when one more would
 * make the reply larger than the message limit. It gets a next_page_token
 * only when a further allowed work exists, so the token is empty exactly
 * when nothing is left.
 */
rs_status
authz_list_allowed_resources(struct rs_call *call, const ProtobufCMessage *msg,
                             ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Authz__V1__ListAllowedResourcesRequest *req =
        (const Roster__Authz__V1__ListAllowedResourcesRequest *)msg;
    rs_arena *arena = rs_call_arena(call);
    Roster__Authz__V1__ListAllowedResourcesResponse *out;
    struct question q;
    struct authz_question aq;
    struct rs_page_budget budget;
    Roster__Authz__V1__Resource *item;
    const char *subject = NULL;
    char after[AUTHZ_RESOURCE_ID_MAX_BYTES + 1];
    uint64_t filter;
    uint32_t i, ws = SNAP_NONE;
    int type, page_size = req->page_size;
    rs_status rc;

    rc = question_begin(call, req->organization_id, (int)req->consistency, req->min_revision,
                        &q, err);
    if (rc != RS_OK)
        goto out;
    type = snap_resource_type(req->resource_type);
    if (type < 0) {
        rc = rs_error_set(err, RS_EINVAL, "RESOURCE_TYPE_INVALID",
                          "invalid resource type \"%s\": expected a work type",
                          req->resource_type);
        goto out;
    }
    if (authz_level_from_name(req->permission) == 0) {
        rc = rs_error_set(err, RS_EINVAL, "PERMISSION_INVALID",
                          "invalid permission \"%s\": expected view, export or edit",
                          req->permission);
        goto out;
    }
    if (page_size == 0)
        page_size = LIST_PAGE_DEFAULT;
    if (page_size < 1 || page_size > LIST_PAGE_MAX) {
        rc = rs_error_set(err, RS_EINVAL, "PAGE_SIZE_INVALID",
                          "invalid page_size %d: expected 1 to %d", req->page_size,
                          LIST_PAGE_MAX);
        goto out;
    }
    rc = question_subject(&q, req->user_id, &subject, err);
    if (rc != RS_OK)
        goto out;
    if (snap_find_user(q.snap, subject) == SNAP_NONE) {
        rc = rs_error_set(err, RS_ENOTFOUND, "USER_NOT_FOUND",
                          "user \"%s\" not found in the organization", subject);
        goto out;
    }
    if (req->workspace_id[0] != '\0') {
        ws = snap_find_workspace(q.snap, req->workspace_id);
        if (ws == SNAP_NONE) {
            rc = rs_error_set(err, RS_ENOTFOUND, "WORKSPACE_NOT_FOUND",
                              "workspace \"%s\" not found", req->workspace_id);
            goto out;
        }
    }
    filter = list_filter_hash(req, subject);
    rc = list_token_parse(req->page_token, filter, after, sizeof(after), err);
    if (rc != RS_OK)
        goto out;

    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL) {
        rc = nomem(err);
        goto out;
    }
    roster__authz__v1__list_allowed_resources_response__init(out);
    out->resources = rs_arena_alloc(arena, (size_t)page_size * sizeof(*out->resources));
    if (out->resources == NULL) {
        rc = nomem(err);
        goto out;
    }
    aq.user_id = subject;
    aq.permission = req->permission;
    aq.resource_type = req->resource_type;
    aq.workspace_id = "";
    aq.now_us = now_unix_us();
    rs_page_budget_init(&budget, rs_call_max_message_bytes(call), LIST_REPLY_RESERVE);
    for (i = snap_resource_lower_bound(q.snap, type, after);
         i < q.snap->n_resources && q.snap->resources[i].type == type; i++) {
        const struct snap_resource *r = &q.snap->resources[i];
        struct authz_answer answer;

        if (ws != SNAP_NONE && r->workspace != ws)
            continue;
        aq.resource_id = r->id;
        rc = authz_evaluate(q.snap, &aq, &answer, NULL, err);
        if (rc != RS_OK)
            goto out;
        if (!answer.allowed)
            continue;
        if (out->n_resources == (size_t)page_size)
            break;
        item = list_resource(arena, q.snap, r);
        if (item == NULL) {
            rc = nomem(err);
            goto out;
        }
        if (!rs_page_budget_take(&budget, item)) {
            if (out->n_resources == 0) {
                rc = rs_page_item_too_large(&budget, item, err);
                goto out;
            }
            break;
        }
        out->resources[out->n_resources++] = item;
    }
    if (i < q.snap->n_resources && q.snap->resources[i].type == type) {
        const char *last = out->resources[out->n_resources - 1]->id;

        out->next_page_token = list_token_make(arena, filter, last);
        if (out->next_page_token == NULL) {
            rc = nomem(err);
            goto out;
        }
    }
    out->revision = rs_arena_strdup(arena, q.revision);
    if (out->revision == NULL) {
        rc = nomem(err);
        goto out;
    }
    *resp = &out->base;
out:
    question_end(&q);
    return rc;
}
