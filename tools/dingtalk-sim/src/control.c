/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/control.c
 *    The /_sim/ control API: change the organisation while serving, shrink
 *    the scope, invalidate tokens, inject faults and tune the limits.
 */
/* pthread_rwlockattr_setkind_np is a GNU extension. */
#define _GNU_SOURCE

#include "sim_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/clock.h"
#include "roster/log.h"

void
sim_server_init(struct sim_server *srv, struct sim_org *org)
{
    pthread_rwlockattr_t attr;

    memset(srv, 0, sizeof(*srv));
    /*
     * glibc's default rwlock prefers readers, so a steady stream of API
     * calls could hold a control change back indefinitely.
     */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&srv->org_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&srv->lock, NULL);
    srv->org = org;
    srv->cfg.token_ttl_s = 7200;
    srv->cfg.rate_limit = 20;
    srv->cfg.ip_limit = 10000;
    srv->cfg.ip_window_s = 20;
    srv->cfg.ban_s = 300;
    srv->cfg.ban_html = true;
    srv->cfg.envelope = SIM_ENV_AUTO;
    srv->cfg.api_envelope = json_object();
    srv->cfg.denied_apis = json_object();
    srv->cfg.hidden_fields = json_object();
}

void
sim_server_cleanup(struct sim_server *srv)
{
    sim_org_destroy(srv->org);
    json_decref(srv->cfg.api_envelope);
    json_decref(srv->cfg.denied_apis);
    json_decref(srv->cfg.hidden_fields);
    pthread_rwlock_destroy(&srv->org_lock);
    pthread_mutex_destroy(&srv->lock);
    explicit_bzero(&srv->token, sizeof(srv->token));
    explicit_bzero(srv->old_tokens, sizeof(srv->old_tokens));
}

static void
reply_ctl(struct sim_reply *reply, int status, const char *error)
{
    if (error == NULL)
        sim_reply_json(reply, json_pack("{s:b}", "ok", 1));
    else
        sim_reply_json(reply, json_pack("{s:b,s:s}", "ok", 0, "error", error));
    reply->status = status;
}

/* Returns the index in arr of the object whose key equals match, or -1. */
static long
find_by(json_t *arr, const char *key, json_t *match)
{
    json_t *v;
    size_t i;

    json_array_foreach(arr, i, v)
        if (json_equal(json_object_get(v, key), match))
            return (long) i;
    return -1;
}

static void
drop_from(json_t *arr, json_t *value)
{
    size_t i;

    for (i = json_array_size(arr); i-- > 0;)
        if (json_equal(json_array_get(arr, i), value))
            json_array_remove(arr, i);
}

/* Upserts obj into arr by key: fields given replace, others are kept. */
static const char *
upsert(json_t *arr, const char *key, json_t *obj)
{
    json_t *id = json_object_get(obj, key);
    long at;

    if (!json_is_object(obj) || id == NULL)
        return "missing object or its id";
    at = find_by(arr, key, id);
    if (at < 0)
        return json_array_append(arr, obj) == 0 ? NULL : "out of memory";
    return json_object_update(json_array_get(arr, (size_t) at), obj) == 0
               ? NULL : "out of memory";
}

static const char *
remove_dept(json_t *doc, json_t *id)
{
    json_t *depts = json_object_get(doc, "departments");
    json_t *users = json_object_get(doc, "users");
    json_t *v;
    long at = find_by(depts, "dept_id", id);
    size_t i, j;

    if (at < 0)
        return "department not found";
    if (json_integer_value(id) == 1)
        return "cannot remove the root department";
    /*
     * A non-empty department is rejected, as DingTalk's admin console does.
     * NOTE: what the delete API itself returns here is not documented.
     */
    if (find_by(depts, "parent_id", id) >= 0)
        return "department has sub-departments";
    json_array_foreach(users, i, v) {
        json_t *d;

        json_array_foreach(json_object_get(v, "dept_id_list"), j, d)
            if (json_equal(d, id))
                return "department has members";
    }
    json_array_remove(depts, (size_t) at);
    drop_from(json_object_get(json_object_get(doc, "scope"), "dept_ids"), id);
    return NULL;
}

static const char *
remove_user(json_t *doc, json_t *userid)
{
    json_t *users = json_object_get(doc, "users");
    long at = find_by(users, "userid", userid);

    if (at < 0)
        return "user not found";
    json_array_remove(users, (size_t) at);
    drop_from(json_object_get(json_object_get(doc, "scope"), "user_ids"), userid);
    return NULL;
}

/* Applies one organisation change to doc (a private copy). */
static const char *
edit_doc(json_t *doc, const char *op, json_t *args)
{
    if (strcmp(op, "user.upsert") == 0)
        return upsert(json_object_get(doc, "users"), "userid",
                      json_object_get(args, "user"));
    if (strcmp(op, "user.remove") == 0)
        return remove_user(doc, json_object_get(args, "userid"));
    if (strcmp(op, "dept.upsert") == 0)
        return upsert(json_object_get(doc, "departments"), "dept_id",
                      json_object_get(args, "dept"));
    if (strcmp(op, "dept.remove") == 0)
        return remove_dept(doc, json_object_get(args, "dept_id"));
    if (strcmp(op, "scope.set") == 0) {
        json_t *scope = json_pack("{s:O*,s:O*}",
                                  "dept_ids", json_object_get(args, "dept_ids"),
                                  "user_ids", json_object_get(args, "user_ids"));

        if (scope == NULL || json_object_get(scope, "dept_ids") == NULL) {
            json_decref(scope);
            return "scope.set needs \"dept_ids\"";
        }
        json_object_set_new(doc, "scope", scope);
        return NULL;
    }
    return "unknown operation";
}

static void
org_change(struct sim_server *srv, const char *op, json_t *args,
           struct sim_reply *reply)
{
    struct sim_org *org = NULL;
    struct rs_error err;
    json_t *doc;
    const char *fail;

    rs_error_clear(&err);
    pthread_rwlock_wrlock(&srv->org_lock);
    if (strcmp(op, "fixture.replace") == 0) {
        doc = json_deep_copy(json_object_get(args, "fixture"));
        fail = doc == NULL ? "fixture.replace needs \"fixture\"" : NULL;
    } else {
        doc = json_deep_copy(srv->org->doc);
        fail = doc == NULL ? "out of memory" : edit_doc(doc, op, args);
    }
    if (fail != NULL) {
        json_decref(doc);
        goto out;
    }
    if (sim_org_build(doc, &org, &err) != RS_OK) {
        fail = err.message;
        goto out;
    }
    sim_org_destroy(srv->org);
    srv->org = org;
    rs_log_info(NULL, "changed organisation", "op", op, NULL);
out:
    pthread_rwlock_unlock(&srv->org_lock);
    if (fail != NULL) {
        rs_log_warn(NULL, "could not change organisation", "op", op,
                    "detail", fail, NULL);
        reply_ctl(reply, 400, fail);
        return;
    }
    reply_ctl(reply, 200, NULL);
}

static int
envelope_mode(const char *text)
{
    if (text == NULL || strcmp(text, "auto") == 0)
        return SIM_ENV_AUTO;
    if (strcmp(text, "bare") == 0)
        return SIM_ENV_BARE;
    if (strcmp(text, "wrapped") == 0)
        return SIM_ENV_WRAPPED;
    return -1;
}

static const char *
add_fault(struct sim_server *srv, json_t *args)
{
    static const char *const kinds[] = {"error", "html", "truncated", "delay", "json_ban"};
    struct sim_fault f;
    const char *kind = json_string_value(json_object_get(args, "kind"));
    const char *api = json_string_value(json_object_get(args, "api"));
    const char *msg = json_string_value(json_object_get(args, "errmsg"));
    size_t k;

    memset(&f, 0, sizeof(f));
    if (api == NULL || kind == NULL)
        return "fault.add needs \"api\" and \"kind\"";
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (strcmp(kind, kinds[k]) == 0)
            break;
    if (k == sizeof(kinds) / sizeof(kinds[0]))
        return "invalid fault kind";
    f.kind = (enum sim_fault_kind) k;
    snprintf(f.api, sizeof(f.api), "%s", api);
    f.at = json_object_get(args, "at") ? (long) json_integer_value(json_object_get(args, "at")) : 1;
    f.count = json_object_get(args, "count") ? (long) json_integer_value(json_object_get(args, "count")) : 1;
    f.errcode = (int) json_integer_value(json_object_get(args, "errcode"));
    f.http_status = (int) json_integer_value(json_object_get(args, "http_status"));
    f.delay_ms = (int) json_integer_value(json_object_get(args, "delay_ms"));
    f.envelope = envelope_mode(json_string_value(json_object_get(args, "envelope")));
    snprintf(f.errmsg, sizeof(f.errmsg), "%s", msg != NULL ? msg : "系统繁忙");
    if (f.at < 1 || f.count < 1 || f.envelope < 0)
        return "invalid fault: \"at\" and \"count\" start at 1, envelope is auto, bare or wrapped";
    if (f.kind == SIM_FAULT_ERROR && f.errcode == 0)
        return "an error fault needs \"errcode\"";
    pthread_mutex_lock(&srv->lock);
    if (srv->n_faults == SIM_MAX_FAULTS) {
        pthread_mutex_unlock(&srv->lock);
        return "too many pending faults";
    }
    srv->faults[srv->n_faults++] = f;
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

/* Converts ["a","b"] to {"a":true,"b":true}, or returns NULL if arr is not an array. */
static json_t *
string_set(json_t *arr)
{
    json_t *set;
    json_t *v;
    size_t i;

    if (!json_is_array(arr))
        return NULL;
    set = json_object();
    json_array_foreach(arr, i, v)
        if (json_is_string(v))
            json_object_set_new(set, json_string_value(v), json_true());
    return set;
}

static void
swap_json(json_t **slot, json_t *value)
{
    if (value == NULL)
        return;
    json_decref(*slot);
    *slot = value;
}

static const char *
set_config(struct sim_server *srv, json_t *args)
{
    struct sim_config *c = &srv->cfg;
    json_t *v;
    const char *ban = json_string_value(json_object_get(args, "ban_body"));
    int env = envelope_mode(json_string_value(json_object_get(args, "envelope")));

    if (env < 0 || (ban != NULL && strcmp(ban, "html") != 0 && strcmp(ban, "json") != 0))
        return "invalid envelope or ban_body";
    /* The org write lock keeps handlers from reading hidden_fields mid-swap. */
    pthread_rwlock_wrlock(&srv->org_lock);
    pthread_mutex_lock(&srv->lock);
    if ((v = json_object_get(args, "rate_limit")) != NULL)
        c->rate_limit = (int) json_integer_value(v);
    if ((v = json_object_get(args, "latency_ms")) != NULL)
        c->latency_ms = (int) json_integer_value(v);
    if ((v = json_object_get(args, "token_ttl")) != NULL)
        c->token_ttl_s = (int) json_integer_value(v);
    if ((v = json_object_get(args, "ip_limit")) != NULL)
        c->ip_limit = (long) json_integer_value(v);
    if ((v = json_object_get(args, "ip_window")) != NULL)
        c->ip_window_s = (int) json_integer_value(v);
    if ((v = json_object_get(args, "ban_seconds")) != NULL)
        c->ban_s = (int) json_integer_value(v);
    if (ban != NULL)
        c->ban_html = strcmp(ban, "html") == 0;
    if (json_object_get(args, "envelope") != NULL)
        c->envelope = env;
    if (json_is_object(json_object_get(args, "api_envelope")))
        swap_json(&c->api_envelope, json_deep_copy(json_object_get(args, "api_envelope")));
    swap_json(&c->denied_apis, string_set(json_object_get(args, "denied_apis")));
    swap_json(&c->hidden_fields, string_set(json_object_get(args, "hidden_fields")));
    pthread_mutex_unlock(&srv->lock);
    pthread_rwlock_unlock(&srv->org_lock);
    return NULL;
}

static const char *
ban_ip(struct sim_server *srv, json_t *args, bool ban)
{
    const char *ip = json_string_value(json_object_get(args, "ip"));
    json_int_t seconds = json_integer_value(json_object_get(args, "seconds"));
    int64_t now = rs_clock_ms();
    int i;

    if (ip == NULL)
        return "needs \"ip\"";
    pthread_mutex_lock(&srv->lock);
    for (i = 0; i < srv->n_ips; i++)
        if (strcmp(srv->ips[i].addr, ip) == 0)
            break;
    if (i == srv->n_ips && srv->n_ips < SIM_MAX_IPS) {
        memset(&srv->ips[i], 0, sizeof(srv->ips[i]));
        snprintf(srv->ips[i].addr, sizeof(srv->ips[i].addr), "%s", ip);
        srv->ips[i].window_start_ms = now;
        srv->n_ips++;
    }
    if (seconds <= 0)
        seconds = srv->cfg.ban_s;
    if (i < srv->n_ips) {
        srv->ips[i].banned_until_ms = ban ? now + seconds * 1000 : 0;
        srv->ips[i].calls = 0;
    }
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

static const char *
invalidate_token(struct sim_server *srv, json_t *args)
{
    const char *mode = json_string_value(json_object_get(args, "mode"));

    pthread_mutex_lock(&srv->lock);
    if (mode != NULL && strcmp(mode, "expire") == 0)
        srv->token.expires_ms = rs_clock_ms();
    else
        srv->token.revoked = true;
    pthread_mutex_unlock(&srv->lock);
    rs_log_info(NULL, "invalidated access token", "mode",
                mode != NULL ? mode : "revoke", NULL);
    return NULL;
}

static void
stats(struct sim_server *srv, struct sim_reply *reply)
{
    json_t *apis = json_object();
    int i;
    long requests;

    pthread_mutex_lock(&srv->lock);
    for (i = 0; i < srv->n_apis; i++)
        json_object_set_new(apis, srv->apis[i].api, json_integer(srv->apis[i].total));
    requests = srv->requests;
    pthread_mutex_unlock(&srv->lock);
    sim_reply_json(reply, json_pack("{s:I,s:o}", "requests", (json_int_t) requests,
                                    "apis", apis));
}

void
sim_control(struct sim_server *srv, const struct sim_req *req,
            struct sim_reply *reply)
{
    const char *op = sim_param_str(req, "op");
    const char *fail = NULL;

    if (strcmp(req->api, "_sim/stats") == 0) {
        stats(srv, reply);
        return;
    }
    if (strcmp(req->api, "_sim/fixture") == 0) {
        pthread_rwlock_rdlock(&srv->org_lock);
        sim_reply_json(reply, json_deep_copy(srv->org->doc));
        pthread_rwlock_unlock(&srv->org_lock);
        return;
    }
    if (strcmp(req->api, "_sim/control") != 0 || strcmp(req->method, "POST") != 0) {
        reply_ctl(reply, 404, "unknown control path; use POST /_sim/control");
        return;
    }
    if (req->body_invalid || op == NULL) {
        reply_ctl(reply, 400, "control body must be a JSON object with \"op\"");
        return;
    }
    if (strcmp(op, "fault.add") == 0) {
        fail = add_fault(srv, req->params);
    } else if (strcmp(op, "fault.clear") == 0) {
        pthread_mutex_lock(&srv->lock);
        srv->n_faults = 0;
        pthread_mutex_unlock(&srv->lock);
    } else if (strcmp(op, "config") == 0) {
        fail = set_config(srv, req->params);
    } else if (strcmp(op, "token.invalidate") == 0) {
        fail = invalidate_token(srv, req->params);
    } else if (strcmp(op, "ip.ban") == 0 || strcmp(op, "ip.unban") == 0) {
        fail = ban_ip(srv, req->params, strcmp(op, "ip.ban") == 0);
    } else {
        org_change(srv, op, req->params, reply);
        return;
    }
    reply_ctl(reply, fail == NULL ? 200 : 400, fail);
}
