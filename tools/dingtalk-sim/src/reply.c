/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/reply.c
 *    Request parameters and the two DingTalk error envelopes.
 */
#include "sim_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

void
sim_random_hex(char out[33])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[16];
    int i;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        /* RAND_bytes fails only without entropy; ids must stay unique even then. */
        static unsigned long fallback;

        snprintf(out, 33, "%032lx", __atomic_add_fetch(&fallback, 1, __ATOMIC_RELAXED));
        return;
    }
    for (i = 0; i < 16; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[32] = '\0';
}

const char *
sim_param_str(const struct sim_req *req, const char *name)
{
    return json_string_value(json_object_get(req->params, name));
}

static int
parse_int_text(const char *text, json_int_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = (json_int_t) v;
    return 1;
}

int
sim_param_int(const struct sim_req *req, const char *name, json_int_t *out)
{
    json_t *v = json_object_get(req->params, name);

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_string(v))
        return parse_int_text(json_string_value(v), out);
    return -1;
}

int
sim_param_bool(const struct sim_req *req, const char *name, bool *out)
{
    json_t *v = json_object_get(req->params, name);
    const char *s;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 1;
    }
    s = json_string_value(v);
    if (s != NULL && strcmp(s, "true") == 0) {
        *out = true;
        return 1;
    }
    if (s != NULL && strcmp(s, "false") == 0) {
        *out = false;
        return 1;
    }
    return -1;
}

json_t *
sim_ok_body(void)
{
    char rid[33];

    sim_random_hex(rid);
    rid[12] = '\0';
    return json_pack("{s:i,s:s,s:s}", "errcode", 0, "errmsg", "ok",
                     "request_id", rid);
}

void
sim_reply_json(struct sim_reply *reply, json_t *body_json)
{
    free(reply->body);
    reply->body = body_json == NULL ? NULL : json_dumps(body_json, JSON_COMPACT);
    json_decref(body_json);
    if (reply->body == NULL) {
        reply->status = 500;
        reply->body = strdup("{\"errcode\":-1,\"errmsg\":\"系统繁忙\"}");
    } else {
        reply->status = 200;
    }
    reply->len = reply->body == NULL ? 0 : strlen(reply->body);
    reply->content_type = "application/json;charset=utf-8";
}

/* Codes the API gateway returns itself, which arrive as errcode 88. */
static bool
gateway_code(int errcode)
{
    switch (errcode) {
    case 40000:
    case 40001:
    case 40014:
    case 41001:
    case 42001:
    case 60011:
    case 60020:
    case 90002:
    case 90018:
        return true;
    default:
        return false;
    }
}

static int
envelope_for(struct sim_server *srv, const char *api)
{
    const char *mode;
    int env;

    pthread_mutex_lock(&srv->lock);
    env = srv->cfg.envelope;
    mode = json_string_value(json_object_get(srv->cfg.api_envelope, api));
    if (mode != NULL)
        env = strcmp(mode, "bare") == 0 ? SIM_ENV_BARE
              : strcmp(mode, "wrapped") == 0 ? SIM_ENV_WRAPPED : SIM_ENV_AUTO;
    pthread_mutex_unlock(&srv->lock);
    return env;
}

static void
reply_error_env(struct sim_reply *reply, int env, int errcode, const char *errmsg)
{
    char rid[33];
    char code[16];
    char wrapped[512];
    bool wrap;

    sim_random_hex(rid);
    rid[12] = '\0';
    wrap = env == SIM_ENV_WRAPPED || (env == SIM_ENV_AUTO && gateway_code(errcode));
    if (!wrap) {
        sim_reply_json(reply, json_pack("{s:i,s:s,s:s}", "errcode", errcode,
                                        "errmsg", errmsg, "request_id", rid));
        return;
    }
    snprintf(code, sizeof(code), "%d", errcode);
    snprintf(wrapped, sizeof(wrapped), "ding talk error[subcode=%d,submsg=%s]",
             errcode, errmsg);
    sim_reply_json(reply, json_pack("{s:i,s:s,s:s,s:s,s:s}", "errcode", 88,
                                    "sub_code", code, "sub_msg", errmsg,
                                    "errmsg", wrapped, "request_id", rid));
}

void
sim_reply_error(struct sim_server *srv, const char *api, struct sim_reply *reply,
                int errcode, const char *errmsg)
{
    reply_error_env(reply, envelope_for(srv, api), errcode, errmsg);
}

void
sim_reply_error_in(struct sim_reply *reply, int env, int errcode,
                   const char *errmsg)
{
    reply_error_env(reply, env, errcode, errmsg);
}
