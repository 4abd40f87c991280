/*
 * libs/service/include/roster/name.h
 *    Names in requests: identity's nicknames and group names, authz's
 *    workspace and role names. Each is stored in Unicode NFC, so that
 *    "Café" written with U+00E9 and with "e" and U+0301 is one name.
 */
#ifndef RS_NAME_H
#define RS_NAME_H

#include "roster/arena.h"
#include "roster/rpc.h"
#include "roster/status.h"

/*
 * Replaces *value, a name in a request decoded into arena, with its NFC
 * form copied into arena, so validation, uniqueness checks and the stored
 * row all see one spelling. Call it before the validator, which then
 * counts code points of the normalised form. Invalid UTF-8 stays as it is
 * for the validator to reject. Fails with OUT_OF_MEMORY, or
 * NORMALIZATION_FAILED if libunistring fails otherwise.
 */
RS_MUSTCHECK rs_status rs_name_normalize(rs_arena *arena, char **value, struct rs_error *err);

/*
 * Normalises a name field of call's request, passed as &req->field, like
 * rs_name_normalize. The request was decoded into the call's arena for one
 * handler, so that handler may replace its fields although it gets the
 * request as const. A new string belongs to the call's arena.
 */
RS_MUSTCHECK rs_status rs_call_name_normalize(struct rs_call *call, char *const *field,
                                              struct rs_error *err);

#endif /* RS_NAME_H */
