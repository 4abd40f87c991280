/*
 * libs/core/src/log.c
 *    logfmt lines on stderr: ts level svc pid [req rpc peer] msg, then the
 *    caller's key/value pairs.
 */
#include "roster/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static char log_service[32] = "roster";
static atomic_int log_min_level = RS_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
rs_log_init(const char *service, enum rs_log_level level)
{
    snprintf(log_service, sizeof(log_service), "%s", service);
    atomic_store(&log_min_level, (int)level);
}

rs_status
rs_log_level_parse(const char *text, enum rs_log_level *out)
{
    int i;

    for (i = 0; i < 4; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum rs_log_level)i;
            return RS_OK;
        }
    }
    return RS_EINVAL;
}

bool
rs_log_enabled(enum rs_log_level level)
{
    return (int)level >= atomic_load(&log_min_level);
}

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static void
line_raw(struct line *l, const char *s, size_t n)
{
    /* Keep one byte for the newline; long lines are cut, never split. */
    if (l->len + n > sizeof(l->buf) - 1)
        n = sizeof(l->buf) - 1 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static bool
needs_quotes(const char *v)
{
    const unsigned char *p;

    if (*v == '\0')
        return true;
    for (p = (const unsigned char *)v; *p != '\0'; p++) {
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7F)
            return true;
    }
    return false;
}

/* Appends " key=value", quoting and escaping value as logfmt requires. */
static void
line_pair(struct line *l, const char *key, const char *value)
{
    const unsigned char *p;
    char esc[8];

    if (value == NULL)
        value = "";
    if (l->len > 0)
        line_raw(l, " ", 1);
    line_raw(l, key, strlen(key));
    line_raw(l, "=", 1);
    if (!needs_quotes(value)) {
        line_raw(l, value, strlen(value));
        return;
    }
    line_raw(l, "\"", 1);
    for (p = (const unsigned char *)value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            line_raw(l, esc, 2);
        } else if (*p == '\n') {
            line_raw(l, "\\n", 2);
        } else if (*p < 0x20 || *p == 0x7F) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            line_raw(l, esc, 4);
        } else {
            line_raw(l, (const char *)p, 1);
        }
    }
    line_raw(l, "\"", 1);
}

void
rs_log_write(enum rs_log_level level, const struct rs_log_ctx *ctx, const char *msg, ...)
{
    struct line l;
    struct timespec now;
    struct tm tm;
    char ts[64];
    char pid[16];
    const char *key;
    const char *value;
    va_list ap;
    ssize_t written;

    if (!rs_log_enabled(level))
        return;
    l.len = 0;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(now.tv_nsec / 1000000L) % 1000);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    line_pair(&l, "ts", ts);
    line_pair(&l, "level", level_names[level]);
    line_pair(&l, "svc", log_service);
    line_pair(&l, "pid", pid);
    if (ctx != NULL) {
        if (ctx->req != NULL)
            line_pair(&l, "req", ctx->req);
        if (ctx->rpc != NULL)
            line_pair(&l, "rpc", ctx->rpc);
        if (ctx->peer != NULL)
            line_pair(&l, "peer", ctx->peer);
    }
    line_pair(&l, "msg", msg);
    va_start(ap, msg);
    for (;;) {
        key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        value = va_arg(ap, const char *);
        line_pair(&l, key, value);
    }
    va_end(ap);
    l.buf[l.len++] = '\n';
    /* One write per line keeps lines whole when threads log at once. */
    written = write(STDERR_FILENO, l.buf, l.len);
    RS_UNUSED(written);
}
