/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/sim_int.h
 *    Shared types of the DingTalk open API simulator: organisation model,
 *    server state, request context and the handlers of each file.
 */
#ifndef RS_SIM_INT_H
#define RS_SIM_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "roster/status.h"

/*
 * Handlers copy values out of an org instead of taking references, because
 * jansson's json_incref reads the count without an atomic load, and readers
 * share these objects across threads.
 *
 * An organisation built from one fixture document. Every index holds
 * references into doc, so the whole structure is immutable once built and
 * a change builds a new one (see org_change in control.c).
 */
struct sim_org {
    json_t *doc;            /* the fixture document, owned */
    const char *corp_id;    /* borrowed from doc */
    const char *app_key;
    const char *app_secret;
    json_t *depts;          /* "dept_id" -> department object */
    json_t *users;          /* userid -> user object */
    json_t *unionids;       /* unionid -> user object */
    json_t *children;       /* "dept_id" -> array of child ids, by order */
    json_t *members;        /* "dept_id" -> array of direct member objects */
    json_t *visible_depts;  /* "dept_id" -> true, inside the scope */
    json_t *visible_users;  /* userid -> true, inside the scope */
    json_t *scope_depts;    /* array of authed_dept ids (borrowed) */
    json_t *scope_users;    /* array of authed_user ids (borrowed) */
};

/*
 * Builds an organisation from doc (reference taken on success and failure).
 * Returns RS_OK and *out owned by caller (free with sim_org_destroy), or
 * RS_EINVAL with a message in err naming the offending entry.
 */
RS_MUSTCHECK rs_status sim_org_build(json_t *doc, struct sim_org **out,
                                     struct rs_error *err);
void sim_org_destroy(struct sim_org *org);

/* Loads and builds the fixture at path; ownership as sim_org_build. */
RS_MUSTCHECK rs_status sim_org_load(const char *path, struct sim_org **out,
                                    struct rs_error *err);

/* Returns the department or user object, or NULL; borrowed from org. */
json_t *sim_org_dept(const struct sim_org *org, json_int_t dept_id);
json_t *sim_org_user(const struct sim_org *org, const char *userid);
bool sim_org_dept_visible(const struct sim_org *org, json_int_t dept_id);
bool sim_org_user_visible(const struct sim_org *org, const char *userid);

/* Error envelope: plain errcode, or errcode 88 with the code in sub_code. */
enum sim_envelope {
    SIM_ENV_AUTO = 0,       /* gateway codes wrapped, business codes plain */
    SIM_ENV_BARE = 1,
    SIM_ENV_WRAPPED = 2,
};

enum sim_fault_kind {
    SIM_FAULT_ERROR = 0,
    SIM_FAULT_HTML = 1,
    SIM_FAULT_TRUNCATED = 2,
    SIM_FAULT_DELAY = 3,
    SIM_FAULT_JSON_BAN = 4,
};

/* A fault that fires on calls at..at+count-1 of one API, counted from now. */
struct sim_fault {
    char api[64];
    long at;
    long count;
    long seen;
    enum sim_fault_kind kind;
    int errcode;
    char errmsg[128];
    int envelope;           /* enum sim_envelope */
    int http_status;
    int delay_ms;
};

#define SIM_MAX_FAULTS 32
#define SIM_MAX_IPS 64
#define SIM_MAX_OLD_TOKENS 16

struct sim_ip {
    char addr[48];
    int64_t window_start_ms;
    long calls;
    int64_t banned_until_ms;
};

struct sim_token {
    char value[33];
    int64_t expires_ms;
    bool revoked;
};

/* A per-API call counter for the rate limit and the statistics. */
struct sim_api_stat {
    char api[64];
    int64_t second;
    long in_second;
    long total;
};

#define SIM_MAX_APIS 32

struct sim_config {
    int token_ttl_s;
    int rate_limit;         /* calls per second per app per API; 0 = off */
    int latency_ms;
    long ip_limit;          /* calls per ip_window_s per IP; 0 = off */
    int ip_window_s;
    int ban_s;
    bool ban_html;          /* HTML body, or the JSON punish body */
    int envelope;           /* default enum sim_envelope */
    json_t *api_envelope;   /* api -> "bare"/"wrapped"/"auto", owned */
    json_t *denied_apis;    /* api -> true: rejected with 60011, owned */
    json_t *hidden_fields;  /* field -> true: dropped from users, owned */
};

/* The running simulator. org_lock guards org; lock guards everything else. */
struct sim_server {
    pthread_rwlock_t org_lock;
    struct sim_org *org;
    pthread_mutex_t lock;
    struct sim_config cfg;
    struct sim_token token;
    struct sim_token old_tokens[SIM_MAX_OLD_TOKENS];
    int n_old_tokens;
    struct sim_fault faults[SIM_MAX_FAULTS];
    int n_faults;
    struct sim_ip ips[SIM_MAX_IPS];
    int n_ips;
    struct sim_api_stat apis[SIM_MAX_APIS];
    int n_apis;
    long requests;
};

/* One HTTP request as the handlers see it. */
struct sim_req {
    const char *method;
    const char *api;        /* path without the leading '/' */
    const char *peer;
    json_t *params;         /* query, form and JSON body merged, owned */
    bool body_invalid;
};

/* A reply: HTTP status, body (owned) and content type (static). */
struct sim_reply {
    int status;
    char *body;
    size_t len;
    const char *content_type;
};

/* Parameter accessors: numbers and numeric strings are both accepted. */
const char *sim_param_str(const struct sim_req *req, const char *name);
/* Returns 1 and *out if present and numeric, 0 if absent, -1 if not numeric. */
int sim_param_int(const struct sim_req *req, const char *name, json_int_t *out);
/* Returns 1 with *out, 0 if absent, -1 if not a boolean. */
int sim_param_bool(const struct sim_req *req, const char *name, bool *out);

/* Fills reply with body_json (reference taken) as application/json. */
void sim_reply_json(struct sim_reply *reply, json_t *body_json);
/* Fills reply with an error in the envelope configured for api. */
void sim_reply_error(struct sim_server *srv, const char *api,
                     struct sim_reply *reply, int errcode, const char *errmsg);
/* As sim_reply_error with an explicit envelope (fault injection). */
void sim_reply_error_in(struct sim_reply *reply, int env, int errcode,
                        const char *errmsg);
/* Returns a new {"errcode":0,"errmsg":"ok","request_id":...} object. */
json_t *sim_ok_body(void);
/* Writes 32 random lower-case hex digits and a NUL into out[33]. */
void sim_random_hex(char out[33]);

/* Runs one API request through the gateway checks, then the API (gate.c). */
void sim_gate_handle(struct sim_server *srv, const struct sim_req *req,
                     struct sim_reply *reply);

/* Address-book endpoints (api.c); org read lock held by the caller. */
void sim_api_dispatch(struct sim_server *srv, const struct sim_org *org,
                      const struct sim_req *req, struct sim_reply *reply);
/* Returns true if api is a simulated address-book endpoint. */
bool sim_api_known(const char *api);

/* One address-book endpoint; org read lock held (api.c, api_user.c). */
typedef void (*sim_api_fn)(struct sim_server *srv, const struct sim_org *org,
                       const struct sim_req *req, struct sim_reply *reply);

void sim_api_user_list(struct sim_server *, const struct sim_org *,
                       const struct sim_req *, struct sim_reply *);
void sim_api_user_listsimple(struct sim_server *, const struct sim_org *,
                             const struct sim_req *, struct sim_reply *);
void sim_api_user_listid(struct sim_server *, const struct sim_org *,
                         const struct sim_req *, struct sim_reply *);
void sim_api_user_get(struct sim_server *, const struct sim_org *,
                      const struct sim_req *, struct sim_reply *);
void sim_api_user_getbyunionid(struct sim_server *, const struct sim_org *,
                               const struct sim_req *, struct sim_reply *);
void sim_api_user_count(struct sim_server *, const struct sim_org *,
                        const struct sim_req *, struct sim_reply *);

/* Reads a required department id; on failure the reply is already set. */
bool sim_api_dept_param(struct sim_server *srv, const struct sim_req *req,
                        struct sim_reply *reply, bool scoped,
                        const struct sim_org *org, json_int_t *out);

/* User object as user/list or user/get render it (api_user.c). */
json_t *sim_user_render(struct sim_server *srv, const json_t *user,
                        json_int_t in_dept, bool detail);

/* POST /_sim/... control requests (control.c). */
void sim_control(struct sim_server *srv, const struct sim_req *req,
                 struct sim_reply *reply);

struct MHD_Daemon;

/*
 * Starts serving srv (borrowed until the daemon is stopped) on host:port;
 * port 0 picks a free one, returned in *bound_port. *out is owned by the
 * caller (stop with MHD_stop_daemon).
 */
RS_MUSTCHECK rs_status sim_server_start(struct sim_server *srv, const char *host,
                                        int port, struct MHD_Daemon **out,
                                        int *bound_port, struct rs_error *err);

/* Sets defaults and takes org. Clean up with sim_server_cleanup (control.c). */
void sim_server_init(struct sim_server *srv, struct sim_org *org);
void sim_server_cleanup(struct sim_server *srv);

/* Fixture generator (gen.c): argv after "generate". Returns an exit code. */
int sim_generate_main(int argc, char **argv);

#endif /* RS_SIM_INT_H */
