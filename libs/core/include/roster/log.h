/*
 * libs/core/include/roster/log.h
 *    logfmt logging to stderr: one line per event with fixed keys first.
 *
 * A line reads
 *   ts=... level=info svc=identity pid=1 req=... rpc=... peer=... msg="..." k=v
 * Extra keys are passed as NULL-terminated (key, value) string pairs; values
 * are quoted and escaped as logfmt needs. Never pass a secret as a value.
 */
#ifndef RS_LOG_H
#define RS_LOG_H

#include <stdbool.h>

#include "roster/status.h"

enum rs_log_level {
    RS_LOG_DEBUG = 0,
    RS_LOG_INFO = 1,
    RS_LOG_WARN = 2,
    RS_LOG_ERROR = 3,
};

/* Per-call context; any field may be NULL. Borrowed for the call's life. */
struct rs_log_ctx {
    const char *req;
    const char *rpc;
    const char *peer;
};

/* Sets the service name (copied) and the minimum level. Call once at start. */
void rs_log_init(const char *service, enum rs_log_level level);

/* Parses "debug", "info", "warn" or "error". Returns RS_EINVAL otherwise. */
RS_MUSTCHECK rs_status rs_log_level_parse(const char *text, enum rs_log_level *out);

bool rs_log_enabled(enum rs_log_level level);

/*
 * Writes one line: msg, then the NULL-terminated key/value string pairs.
 * ctx may be NULL. Thread-safe: each line is written with one write(2).
 */
void rs_log_write(enum rs_log_level level, const struct rs_log_ctx *ctx,
                  const char *msg, ...);

#define rs_log_debug(ctx, ...) \
    do { if (rs_log_enabled(RS_LOG_DEBUG)) rs_log_write(RS_LOG_DEBUG, (ctx), __VA_ARGS__); } while (0)
#define rs_log_info(ctx, ...) \
    do { if (rs_log_enabled(RS_LOG_INFO)) rs_log_write(RS_LOG_INFO, (ctx), __VA_ARGS__); } while (0)
#define rs_log_warn(ctx, ...) rs_log_write(RS_LOG_WARN, (ctx), __VA_ARGS__)
#define rs_log_error(ctx, ...) rs_log_write(RS_LOG_ERROR, (ctx), __VA_ARGS__)

#endif /* RS_LOG_H */
