/*
 * libs/core/include/roster/status.h
 *    The one status type of Roster, its gRPC mapping, and rich errors.
 */
#ifndef RS_STATUS_H
#define RS_STATUS_H

#include <stddef.h>

#if defined(__GNUC__)
#define RS_MUSTCHECK __attribute__((warn_unused_result))
#define RS_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define RS_MUSTCHECK
#define RS_PRINTF(fmt_idx, arg_idx)
#endif

#define RS_UNUSED(x) ((void)(x))

/*
 * X(name, grpc_code, text): every status with the gRPC status code it is sent
 * as. The numeric grpc_code values are those of grpc_status_code.
 */
#define RS_STATUS_TABLE(X)                                   \
    X(RS_OK, 0, "ok")                                        \
    X(RS_ECANCELLED, 1, "cancelled")                         \
    X(RS_EINVAL, 3, "invalid argument")                      \
    X(RS_ETIMEDOUT, 4, "deadline exceeded")                  \
    X(RS_ENOTFOUND, 5, "not found")                          \
    X(RS_EEXIST, 6, "already exists")                        \
    X(RS_EPERM, 7, "permission denied")                      \
    X(RS_ERESOURCE, 8, "resource exhausted")                 \
    X(RS_EPRECOND, 9, "failed precondition")                 \
    X(RS_EABORTED, 10, "aborted")                            \
    X(RS_ERANGE, 11, "out of range")                         \
    X(RS_EUNIMPL, 12, "unimplemented")                       \
    X(RS_EINTERNAL, 13, "internal error")                    \
    X(RS_EUNAVAIL, 14, "unavailable")                        \
    X(RS_ENOMEM, 8, "out of memory")                         \
    X(RS_EUNAUTH, 16, "unauthenticated")

#define RS_STATUS_ENUM_(name, grpc, text) name,
typedef enum rs_status { RS_STATUS_TABLE(RS_STATUS_ENUM_) RS_STATUS_COUNT_ } rs_status;
#undef RS_STATUS_ENUM_

/* Returns the enum name ("RS_EINVAL"); static storage. */
const char *rs_status_name(rs_status rc);
/* Returns a lower-case description ("invalid argument"); static storage. */
const char *rs_status_str(rs_status rc);
/* Returns the grpc_status_code value that rc is sent as. */
int rs_status_to_grpc(rs_status rc);
/* Returns the status for a received grpc_status_code (unknown codes map to RS_EINTERNAL). */
rs_status rs_status_from_grpc(int grpc_code);

#define RS_ERROR_META_MAX 4

/*
 * A rich error. "message" and "reason" may reach the client; "detail" is
 * for the log only. "reason" is a stable UPPER_SNAKE string such as
 * SEAT_LIMIT_REACHED, and meta holds key/value pairs sent with it.
 * Embedded by value; all text is copied in, so nothing needs freeing.
 */
struct rs_error {
    rs_status code;
    char reason[64];
    char sqlstate[6];
    char message[256];
    char detail[512];
    int n_meta;
    char meta_key[RS_ERROR_META_MAX][32];
    char meta_value[RS_ERROR_META_MAX][128];
};

/* Resets err to RS_OK with empty text. err may be NULL. */
void rs_error_clear(struct rs_error *err);

/*
 * Sets code, reason (may be NULL) and a printf-formatted message; clears the
 * rest. Returns code, so "return rs_error_set(...)" reads naturally.
 * err may be NULL, in which case only code is returned.
 */
rs_status rs_error_set(struct rs_error *err, rs_status code, const char *reason,
                       const char *fmt, ...) RS_PRINTF(4, 5);

/* Sets the log-only detail text. err may be NULL. */
void rs_error_detail(struct rs_error *err, const char *fmt, ...) RS_PRINTF(2, 3);

/* Adds one metadata pair (copied; truncated to fit; ignored when full). */
void rs_error_meta(struct rs_error *err, const char *key, const char *value);

#endif /* RS_STATUS_H */
