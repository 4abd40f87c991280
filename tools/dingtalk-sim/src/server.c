/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/server.c
 *    libmicrohttpd wiring: body collection, parameter merging (query, form
 *    and JSON body) and routing to the gateway or the control API.
 */
#include "sim_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "roster/alloc.h"
#include "roster/log.h"
#include "roster/str.h"

#define MAX_BODY (64u * 1024 * 1024)

struct conn_ctx {
    char *buf;
    size_t len;
    size_t cap;
    bool too_big;
};

/* Decodes %XX and '+' in place. */
static void
url_decode(char *s)
{
    char *out = s;

    for (; *s != '\0'; s++) {
        if (*s == '+') {
            *out++ = ' ';
        } else if (*s == '%' && rs_hex_value(s[1]) >= 0 && rs_hex_value(s[2]) >= 0) {
            *out++ = (char) (rs_hex_value(s[1]) * 16 + rs_hex_value(s[2]));
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* Adds the pairs of an application/x-www-form-urlencoded body to params. */
static void
parse_form(json_t *params, char *body)
{
    char *save = NULL;
    char *pair;

    for (pair = strtok_r(body, "&", &save); pair != NULL;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');

        if (eq == NULL)
            continue;
        *eq = '\0';
        url_decode(pair);
        url_decode(eq + 1);
        json_object_set_new(params, pair, json_string(eq + 1));
    }
}

static enum MHD_Result
add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
              const char *value)
{
    RS_UNUSED(kind);
    if (key != NULL)
        json_object_set_new((json_t *) cls, key, json_string(value != NULL ? value : ""));
    return MHD_YES;
}

/*
 * Merges query arguments, then the body: JSON when it parses as an object,
 * form-encoded otherwise. gettoken reads its query only, so credentials sent
 * as a body are "missing" (errcode 40035), as on DingTalk.
 */
static void
build_params(struct MHD_Connection *conn, struct conn_ctx *ctx,
             struct sim_req *req)
{
    const char *ctype;
    json_t *body;
    json_error_t jerr;

    req->params = json_object();
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_query_arg,
                              req->params);
    if (ctx->len == 0 || strcmp(req->api, "gettoken") == 0)
        return;
    ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_CONTENT_TYPE);
    if ((ctype != NULL && strstr(ctype, "json") != NULL) || ctx->buf[0] == '{') {
        body = json_loadb(ctx->buf, ctx->len, 0, &jerr);
        if (!json_is_object(body)) {
            req->body_invalid = true;
        } else {
            json_object_update(req->params, body);
        }
        json_decref(body);
        return;
    }
    parse_form(req->params, ctx->buf);
}

static void
peer_text(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *info;
    const struct sockaddr *sa;

    snprintf(out, size, "unknown");
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL)
        return;
    sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *) (const void *) sa)->sin_addr,
                  out, (socklen_t) size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr,
                  out, (socklen_t) size);
}

static enum MHD_Result
send_reply(struct MHD_Connection *conn, struct sim_reply *reply)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (reply->body == NULL) {
        reply->body = strdup("");
        reply->len = 0;
        reply->status = 500;
    }
    resp = MHD_create_response_from_buffer(reply->len, reply->body,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(reply->body);
        return MHD_NO;
    }
    reply->body = NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            reply->content_type != NULL ? reply->content_type
                                                        : "application/json;charset=utf-8");
    ret = MHD_queue_response(conn, (unsigned) reply->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_size, void **con_cls)
{
    struct sim_server *srv = cls;
    struct conn_ctx *ctx = *con_cls;
    struct sim_req req;
    struct sim_reply reply;
    char peer[64];
    enum MHD_Result ret;

    RS_UNUSED(version);
    if (ctx == NULL) {
        ctx = rs_calloc(1, sizeof(*ctx));
        if (ctx == NULL)
            return MHD_NO;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (ctx->len + *upload_size + 1 > MAX_BODY) {
            ctx->too_big = true;
        } else if (!ctx->too_big) {
            if (ctx->len + *upload_size + 1 > ctx->cap) {
                size_t cap = (ctx->len + *upload_size + 1) * 2;
                char *buf = rs_realloc(ctx->buf, cap);

                if (buf == NULL)
                    return MHD_NO;
                ctx->buf = buf;
                ctx->cap = cap;
            }
            memcpy(ctx->buf + ctx->len, upload_data, *upload_size);
            ctx->len += *upload_size;
            ctx->buf[ctx->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }

    memset(&req, 0, sizeof(req));
    memset(&reply, 0, sizeof(reply));
    peer_text(conn, peer, sizeof(peer));
    req.method = method;
    req.api = url[0] == '/' ? url + 1 : url;
    req.peer = peer;
    if (ctx->too_big) {
        reply.status = 413;
        reply.body = strdup("request body too large");
        reply.len = reply.body == NULL ? 0 : strlen(reply.body);
        reply.content_type = "text/plain";
        return send_reply(conn, &reply);
    }
    build_params(conn, ctx, &req);
    if (strncmp(req.api, "_sim/", 5) == 0)
        sim_control(srv, &req, &reply);
    else
        sim_gate_handle(srv, &req, &reply);
    json_decref(req.params);
    if (rs_log_enabled(RS_LOG_DEBUG)) {
        char status[8];

        /* url is the path alone, so no access_token reaches the log. */
        snprintf(status, sizeof(status), "%d", reply.status);
        rs_log_debug(NULL, "handled request", "method", method, "path", url,
                     "peer", peer, "status", status, NULL);
    }
    ret = send_reply(conn, &reply);
    return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct conn_ctx *ctx = *con_cls;

    RS_UNUSED(cls);
    RS_UNUSED(conn);
    RS_UNUSED(toe);
    if (ctx == NULL)
        return;
    rs_free(ctx->buf);
    rs_free(ctx);
    *con_cls = NULL;
}

static void
on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[256];

    RS_UNUSED(cls);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    rs_log_warn(NULL, "http server error", "detail", msg, NULL);
}

rs_status
sim_server_start(struct sim_server *srv, const char *host, int port,
                 struct MHD_Daemon **out, int *bound_port, struct rs_error *err)
{
    struct sockaddr_in addr;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return rs_error_set(err, RS_EINVAL, "INVALID_ADDRESS",
                            "invalid listen address \"%s\"", host);
    /* A thread per connection lets injected latency overlap across clients. */
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                             | MHD_USE_POLL | MHD_USE_ERROR_LOG,
                         0, NULL, NULL, on_request, srv,
                         MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60,
                         MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
                         MHD_OPTION_END);
    if (d == NULL)
        return rs_error_set(err, RS_EUNAVAIL, "LISTEN_FAILED",
                            "could not listen on %s:%d", host, port);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info != NULL ? info->port : port;
    *out = d;
    return RS_OK;
}
