/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/gate.c
 *    What the DingTalk gateway does before an API runs: per-IP bans, fault
 *    injection, access tokens, per-app per-API rate limits and permissions.
 */
#include "sim_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roster/clock.h"
#include "roster/log.h"

static const char ban_html[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    "<title>访问被拒绝</title></head>\n<body><h1>访问被拒绝</h1>"
    "<p>您的访问过于频繁，请稍后再试。</p></body></html>\n";

static void
reply_ban(struct sim_reply *reply, bool html, int status)
{
    char uuid[33];
    char buf[160];

    free(reply->body);
    if (html) {
        reply->body = strdup(ban_html);
        reply->content_type = "text/html;charset=utf-8";
    } else {
        sim_random_hex(uuid);
        snprintf(buf, sizeof(buf),
                 "{\"status\":1111,\"wait\":5,\"source\":\"x5\","
                 "\"punish\":\"deny\",\"uuid\":\"%s\"}", uuid);
        reply->body = strdup(buf);
        reply->content_type = "application/json;charset=utf-8";
    }
    reply->len = reply->body == NULL ? 0 : strlen(reply->body);
    reply->status = status > 0 ? status : 200;
}

/* Counts the call against the caller's IP; returns true if it is banned. */
static bool
ip_banned(struct sim_server *srv, const char *peer, int64_t now)
{
    struct sim_ip *ip = NULL;
    bool banned;
    int i;

    for (i = 0; i < srv->n_ips; i++)
        if (strcmp(srv->ips[i].addr, peer) == 0)
            ip = &srv->ips[i];
    if (ip == NULL) {
        /* Past the table size the oldest slot is reused. */
        ip = &srv->ips[srv->n_ips < SIM_MAX_IPS ? srv->n_ips++ : 0];
        memset(ip, 0, sizeof(*ip));
        snprintf(ip->addr, sizeof(ip->addr), "%s", peer);
        ip->window_start_ms = now;
    }
    if (ip->banned_until_ms > now)
        return true;
    if (now - ip->window_start_ms >= (int64_t) srv->cfg.ip_window_s * 1000) {
        ip->window_start_ms = now;
        ip->calls = 0;
    }
    ip->calls++;
    banned = srv->cfg.ip_limit > 0 && ip->calls > srv->cfg.ip_limit;
    if (banned) {
        ip->banned_until_ms = now + (int64_t) srv->cfg.ban_s * 1000;
        rs_log_warn(NULL, "banning client address", "peer", peer, NULL);
    }
    return banned;
}

static struct sim_api_stat *
api_stat(struct sim_server *srv, const char *api)
{
    int i;

    for (i = 0; i < srv->n_apis; i++)
        if (strcmp(srv->apis[i].api, api) == 0)
            return &srv->apis[i];
    if (srv->n_apis == SIM_MAX_APIS)
        return NULL;
    i = srv->n_apis++;
    memset(&srv->apis[i], 0, sizeof(srv->apis[i]));
    snprintf(srv->apis[i].api, sizeof(srv->apis[i].api), "%s", api);
    return &srv->apis[i];
}

/* Returns the fault due on this call of api, copied into *out, if any. */
static bool
fault_due(struct sim_server *srv, const char *api, struct sim_fault *out)
{
    bool due = false;
    int i;

    for (i = 0; i < srv->n_faults; i++) {
        struct sim_fault *f = &srv->faults[i];

        if (strcmp(f->api, api) != 0 && strcmp(f->api, "*") != 0)
            continue;
        f->seen++;
        if (!due && f->seen >= f->at && f->seen < f->at + f->count) {
            *out = *f;
            due = true;
        }
    }
    /* Spent faults are dropped so the table does not fill up. */
    for (i = 0; i < srv->n_faults;) {
        struct sim_fault *f = &srv->faults[i];

        if (f->seen >= f->at + f->count - 1) {
            *f = srv->faults[--srv->n_faults];
            continue;
        }
        i++;
    }
    return due;
}

static void
sleep_ms(int ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void
handle_gettoken(struct sim_server *srv, const struct sim_req *req,
                struct sim_reply *reply)
{
    const char *key = sim_param_str(req, "appkey");
    const char *secret = sim_param_str(req, "appsecret");
    struct sim_token *tok = &srv->token;
    int64_t now = rs_clock_ms();
    bool key_ok, secret_ok;
    int ttl;
    char value[33];

    if (key == NULL || secret == NULL || *key == '\0' || *secret == '\0') {
        sim_reply_error(srv, req->api, reply, 40035, "缺少参数 corpid or appkey");
        return;
    }
    pthread_rwlock_rdlock(&srv->org_lock);
    key_ok = strcmp(key, srv->org->app_key) == 0;
    secret_ok = strcmp(secret, srv->org->app_secret) == 0;
    pthread_rwlock_unlock(&srv->org_lock);
    if (!key_ok || !secret_ok) {
        sim_reply_error(srv, req->api, reply, 40096, "不合法的appKey或appSecret");
        return;
    }

    pthread_mutex_lock(&srv->lock);
    ttl = srv->cfg.token_ttl_s;
    if (tok->value[0] != '\0' && !tok->revoked && now < tok->expires_ms) {
        /* Asking again while valid returns the same token and extends it. */
        tok->expires_ms = now + (int64_t) ttl * 1000;
    } else {
        if (tok->value[0] != '\0') {
            memmove(&srv->old_tokens[1], &srv->old_tokens[0],
                    sizeof(srv->old_tokens[0]) * (SIM_MAX_OLD_TOKENS - 1));
            srv->old_tokens[0] = *tok;
            if (srv->n_old_tokens < SIM_MAX_OLD_TOKENS)
                srv->n_old_tokens++;
        }
        sim_random_hex(tok->value);
        tok->expires_ms = now + (int64_t) ttl * 1000;
        tok->revoked = false;
        rs_log_info(NULL, "issued access token", NULL);
    }
    memcpy(value, tok->value, sizeof(value));
    pthread_mutex_unlock(&srv->lock);

    sim_reply_json(reply, json_pack("{s:i,s:s,s:s,s:i}", "errcode", 0,
                                    "errmsg", "ok", "access_token", value,
                                    "expires_in", ttl));
}

/* Returns 0 for a valid token, else the errcode DingTalk returns for it. */
static int
check_token(struct sim_server *srv, const char *value, const char **msg)
{
    int64_t now = rs_clock_ms();
    const struct sim_token *tok = NULL;
    int code = 0;
    int i;

    if (value == NULL || *value == '\0') {
        *msg = "access_token is blank";
        return 40000;
    }
    pthread_mutex_lock(&srv->lock);
    if (strcmp(value, srv->token.value) == 0)
        tok = &srv->token;
    for (i = 0; tok == NULL && i < srv->n_old_tokens; i++)
        if (strcmp(value, srv->old_tokens[i].value) == 0)
            tok = &srv->old_tokens[i];
    /* Revoked or unknown tokens are "invalid"; ours past expiry "expired". */
    if (tok == NULL || tok->revoked) {
        code = 40014;
        *msg = "不合法的access_token";
    } else if (now >= tok->expires_ms) {
        code = 42001;
        *msg = "access_token超时";
    }
    pthread_mutex_unlock(&srv->lock);
    return code;
}

static void
apply_fault(struct sim_reply *reply, const struct sim_fault *f)
{
    switch (f->kind) {
    case SIM_FAULT_HTML:
        reply_ban(reply, true, f->http_status);
        break;
    case SIM_FAULT_JSON_BAN:
        reply_ban(reply, false, f->http_status);
        break;
    case SIM_FAULT_TRUNCATED:
        /* Half a JSON document, as a connection cut mid-body leaves. */
        reply->len /= 2;
        break;
    case SIM_FAULT_ERROR:
        sim_reply_error_in(reply, f->envelope, f->errcode, f->errmsg);
        if (f->http_status > 0)
            reply->status = f->http_status;
        break;
    case SIM_FAULT_DELAY:
        break;
    }
}

/* Runs one API request through the gateway checks and then the API. */
void
sim_gate_handle(struct sim_server *srv, const struct sim_req *req,
                struct sim_reply *reply)
{
    struct sim_fault fault;
    struct sim_api_stat *stat;
    bool has_fault, banned, ban_html_body, limited = false, denied;
    int64_t now = rs_clock_ms();
    int latency, code;
    const char *msg = NULL;

    pthread_mutex_lock(&srv->lock);
    srv->requests++;
    banned = ip_banned(srv, req->peer, now);
    ban_html_body = srv->cfg.ban_html;
    latency = srv->cfg.latency_ms;
    has_fault = !banned && fault_due(srv, req->api, &fault);
    stat = api_stat(srv, req->api);
    if (stat != NULL && !banned) {
        stat->total++;
        if (stat->second != now / 1000) {
            stat->second = now / 1000;
            stat->in_second = 0;
        }
        stat->in_second++;
        limited = srv->cfg.rate_limit > 0 && stat->in_second > srv->cfg.rate_limit;
    }
    denied = json_object_get(srv->cfg.denied_apis, req->api) != NULL;
    pthread_mutex_unlock(&srv->lock);

    if (banned) {
        reply_ban(reply, ban_html_body, 200);
        return;
    }
    sleep_ms(latency + (has_fault && fault.kind == SIM_FAULT_DELAY ? fault.delay_ms : 0));
    if (has_fault && fault.kind != SIM_FAULT_DELAY && fault.kind != SIM_FAULT_TRUNCATED) {
        apply_fault(reply, &fault);
        return;
    }

    if (strcmp(req->api, "gettoken") == 0) {
        handle_gettoken(srv, req, reply);
    } else if (!sim_api_known(req->api)) {
        sim_reply_error(srv, req->api, reply, 22, "Invalid method[submsg=不合法ApiName]");
    } else if ((code = check_token(srv, sim_param_str(req, "access_token"), &msg)) != 0) {
        sim_reply_error(srv, req->api, reply, code, msg);
    } else if (limited) {
        sim_reply_error(srv, req->api, reply, 90018,
                        "当前企业应用调用此接口的频率超过限制，请降低调用频率");
    } else if (denied) {
        sim_reply_error(srv, req->api, reply, 60011, "没有调用该接口的权限");
    } else if (req->body_invalid) {
        sim_reply_error(srv, req->api, reply, 400002, "无效的参数");
    } else {
        pthread_rwlock_rdlock(&srv->org_lock);
        sim_api_dispatch(srv, srv->org, req, reply);
        pthread_rwlock_unlock(&srv->org_lock);
    }
    if (has_fault && fault.kind == SIM_FAULT_TRUNCATED)
        apply_fault(reply, &fault);
}
