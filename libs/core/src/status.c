/*
 * libs/core/src/status.c
 *    Status names, texts and gRPC codes from the one table in status.h.
 */
#include "roster/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "roster/str.h"

#define RS_STATUS_NAME_(name, grpc, text) #name,
#define RS_STATUS_TEXT_(name, grpc, text) text,
#define RS_STATUS_GRPC_(name, grpc, text) grpc,

static const char *const status_names[] = {RS_STATUS_TABLE(RS_STATUS_NAME_)};
static const char *const status_texts[] = {RS_STATUS_TABLE(RS_STATUS_TEXT_)};
static const int status_grpc[] = {RS_STATUS_TABLE(RS_STATUS_GRPC_)};

static int
status_valid(rs_status rc)
{
    return (int)rc >= 0 && rc < RS_STATUS_COUNT_;
}

const char *
rs_status_name(rs_status rc)
{
    return status_valid(rc) ? status_names[rc] : "RS_EINTERNAL";
}

const char *
rs_status_str(rs_status rc)
{
    return status_valid(rc) ? status_texts[rc] : "internal error";
}

int
rs_status_to_grpc(rs_status rc)
{
    return status_valid(rc) ? status_grpc[rc] : 13;
}

rs_status
rs_status_from_grpc(int grpc_code)
{
    int i;

    /* The first entry with this code wins, so RS_ERESOURCE beats RS_ENOMEM. */
    for (i = 0; i < RS_STATUS_COUNT_; i++) {
        if (status_grpc[i] == grpc_code)
            return (rs_status)i;
    }
    return RS_EINTERNAL;
}

void
rs_error_clear(struct rs_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
    err->code = RS_OK;
}

rs_status
rs_error_set(struct rs_error *err, rs_status code, const char *reason,
             const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    rs_error_clear(err);
    err->code = code;
    if (reason != NULL)
        snprintf(err->reason, sizeof(err->reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    rs_utf8_trim_partial(err->message);
    return code;
}

void
rs_error_detail(struct rs_error *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    rs_utf8_trim_partial(err->detail);
}

void
rs_error_meta(struct rs_error *err, const char *key, const char *value)
{
    if (err == NULL || err->n_meta >= RS_ERROR_META_MAX)
        return;
    snprintf(err->meta_key[err->n_meta], sizeof(err->meta_key[0]), "%s", key);
    snprintf(err->meta_value[err->n_meta], sizeof(err->meta_value[0]), "%s",
             value != NULL ? value : "");
    rs_utf8_trim_partial(err->meta_value[err->n_meta]);
    err->n_meta++;
}
