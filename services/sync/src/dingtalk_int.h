/*
 * services/sync/src/dingtalk_int.h
 *    What the DingTalk client's files share: the envelope parser, the error
 *    classes and the one call that runs a request through the token cache,
 *    the limiter and the retries. Not used outside src/dingtalk*.c.
 */
#ifndef SYNC_DINGTALK_INT_H
#define SYNC_DINGTALK_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dingtalk.h"

struct dt_conn;

/* The kind of one HTTP reply body. */
enum dt_body_kind {
    DT_BODY_OK,        /* JSON with errcode 0 (or no errcode, as auth/scopes may send) */
    DT_BODY_ERRCODE,   /* JSON with a non-zero code, after unwrapping errcode 88 */
    DT_BODY_BANNED,    /* HTML or the {"status":1111,"punish":"deny"} body */
    DT_BODY_MALFORMED, /* looks like JSON but does not parse: cut or corrupt */
};

struct dt_envelope {
    enum dt_body_kind kind;
    long errcode;      /* sub_code when errcode was 88 and sub_code parsed */
    char errmsg[192];  /* sub_msg or errmsg, UTF-8, cut on a character boundary */
    json_t *root;      /* owned, may be set whatever the kind; the caller frees it */
    long http_status;
};

/* The client's reaction to an errcode. */
enum dt_code_class {
    DT_CLASS_TOKEN,       /* refetch the token, retry once */
    DT_CLASS_THROTTLE,    /* 90002, 90018: pause throttle_pause_ms, retry */
    DT_CLASS_BUSY,        /* -1: exponential backoff, retry */
    DT_CLASS_PERMISSION,  /* 60011, 43007 */
    DT_CLASS_CREDENTIALS, /* 40089, 40096, 40001 from gettoken */
    DT_CLASS_IP,          /* 60020 */
    DT_CLASS_OTHER,       /* returned to the caller as DINGTALK_ERROR */
};

/*
 * Parses body (len bytes, not NUL-terminated) into *out; the caller frees
 * out->root with json_decref. http_status >= 500 with a non-JSON body counts
 * as DT_BODY_MALFORMED (a proxy error page), not as a ban.
 */
void dt__envelope_parse(const char *body, size_t len, long http_status,
                        struct dt_envelope *out);

enum dt_code_class dt__code_classify(long errcode, bool from_gettoken);

/* The permission an API path needs, for messages; "" when unknown. */
const char *dt__api_permission(const char *api);

/*
 * Field readers that accept DingTalk's numeric strings ("71003001") and
 * treat an absent or null field as missing. dt__json_int64 returns false
 * when the field is missing or not a number.
 */
bool dt__json_int64(const json_t *obj, const char *key, int64_t *out);
bool dt__json_as_int64(const json_t *value, int64_t *out);
/* Returns the string value, or "" when absent or not a string; borrowed from obj. */
const char *dt__json_str(const json_t *obj, const char *key);
/* true for JSON true, a non-zero number, "true" or "1". */
bool dt__json_bool(const json_t *obj, const char *key);

/*
 * Calls one API: GET when body is NULL, else a JSON POST of body (borrowed).
 * On RS_OK *result is the whole reply object (owned by the caller). On
 * failure err is filled as dingtalk.h lists and *errcode, when not NULL,
 * receives DingTalk's code (0 when the failure was not an errcode reply), so a
 * walk can tell 50004 or 60003 apart from fatal errors.
 */
RS_MUSTCHECK rs_status dt__call(struct dt_client *client, const char *api, json_t *body,
                                json_t **result, long *errcode, struct rs_error *err);

/*
 * The same on conn, one of the connections a walk keeps for its requests
 * in flight; NULL means the client's own. THREAD-SAFETY: threads may call dt__call_on at once on one
 * client, each with its own conn; the token cache and the limiter are
 * shared under locks. dt__call uses the client's own conn, so it is not
 * called while dt__call_on calls are running.
 */
RS_MUSTCHECK rs_status dt__call_on(struct dt_client *client, struct dt_conn *conn,
                                   const char *api, json_t *body, json_t **result,
                                   long *errcode, struct rs_error *err);

/* A new connection, owned by the caller (dt__conn_destroy); NULL on OOM. */
struct dt_conn *dt__conn_create(void);
void dt__conn_destroy(struct dt_conn *conn);

/* Requests a walk may keep in flight (dt_config.concurrency). */
int dt__concurrency(const struct dt_client *client);

/*
 * One task of a parallel batch: reads task i on conn (NULL for the
 * client's own connection). Returns false when the batch should hand out
 * no more tasks.
 */
typedef bool (*dt_task_fn)(void *arg, size_t i, struct dt_conn *conn);

/*
 * Runs tasks 0..n-1 in index order on the calling thread and on up to
 * n_conns more threads, one per conns[k] (borrowed). Returns when all have
 * ended, with the number of tasks handed out. After a task returned false,
 * the tasks from that number on were never run.
 */
size_t dt__run_parallel(struct dt_conn *const *conns, size_t n_conns, size_t n,
                        dt_task_fn fn, void *arg);

/* HTTP requests sent by this client so far, gettoken included. */
size_t dt__calls_made(const struct dt_client *client);

#endif /* SYNC_DINGTALK_INT_H */
