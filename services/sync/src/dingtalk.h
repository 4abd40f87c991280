/*
 * services/sync/src/dingtalk.h
 *    A client of DingTalk's legacy address-book API (oapi) over libcurl and
 *    jansson: the access-token cache, a per-API rate limiter, retries with
 *    backoff, error classification on sub_code, and the walk of the visible
 *    tree from the auth/scopes roots into one in-memory organisation.
 */
#ifndef SYNC_DINGTALK_H
#define SYNC_DINGTALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roster/log.h"
#include "roster/status.h"

struct dt_client;

struct dt_config {
    const char *endpoint;   /* "https://oapi.dingtalk.com" or a simulator; copied */
    const char *app_key;    /* copied */
    const char *app_secret; /* copied; never logged */
    /* Calls per second per API the limiter allows; <= 0 means 18 (under 20). */
    int rate_per_api;
    /* Requests a walk keeps in flight, each on its own connection. The
     * limiter still spaces calls to one API. <= 0 means 4. */
    int concurrency;
    int timeout_ms;         /* per HTTP request; <= 0 means 10000 */
    /* Attempts for a retryable failure (-1, 90002, 90018, non-JSON,
     * transport errors); <= 0 means 5. */
    int max_attempts;
    /* Pause after an IP ban page; <= 0 means 300000 (5 minutes). */
    int ban_pause_ms;
    /* Pause after 90018 / 90002; <= 0 means 1000. */
    int throttle_pause_ms;
    const struct rs_log_ctx *log; /* borrowed; may be NULL */
    /*
     * Asked during every retry pause; returning true ends the call with
     * RS_ECANCELLED / DINGTALK_CANCELLED, so a shutdown does not wait out
     * a 5-minute ban pause. May be NULL.
     */
    bool (*cancelled)(void *arg);
    void *cancel_arg;
};

/*
 * Creates a client; *out owned by the caller (dt_client_destroy). Nothing
 * is sent until the first call.
 * THREAD-SAFETY: one client is used by one thread at a time; dt_fetch_org
 * starts threads of its own and waits for them.
 */
RS_MUSTCHECK rs_status dt_client_create(const struct dt_config *cfg, struct dt_client **out,
                                        struct rs_error *err);
void dt_client_destroy(struct dt_client *client);

/*
 * Errors every call may return (err->reason):
 *   DINGTALK_CREDENTIALS_INVALID  RS_EPRECOND  40001/40089/40096 (bad key or secret)
 *   DINGTALK_PERMISSION_DENIED    RS_EPERM     60011/43007; message names the
 *                                              permission or API, meta "api"
 *   DINGTALK_IP_NOT_ALLOWED       RS_EPRECOND  60020
 *   DINGTALK_BANNED               RS_EUNAVAIL  ban page still served after the pause
 *   DINGTALK_UNAVAILABLE          RS_EUNAVAIL  retries exhausted (-1, 90002, 90018,
 *                                              transport errors, timeouts)
 *   DINGTALK_BAD_RESPONSE         RS_EINTERNAL non-JSON or malformed body after retries
 *   DINGTALK_ERROR                RS_EINTERNAL any other errcode; meta "errcode"
 *   DINGTALK_CANCELLED            RS_ECANCELLED cfg->cancelled returned true in a pause
 * Token errors (40014, 42001, 40000/41001 blank, bare or under errcode 88)
 * refetch the token and retry once before failing.
 */

/*
 * Maximum length of a stored department or member name, in code points.
 * identity allows 255 in a group name, and "<name> (<department id>)" must
 * fit too.
 */
#define SYNC_NAME_MAX 200

struct dt_department {
    int64_t dept_id;
    int64_t parent_id; /* 0 for the root (1) or when absent */
    char *name;        /* UTF-8, owned */
    int64_t order;
};

struct dt_user {
    char *userid;      /* owned strings; absent fields are "" */
    char *unionid;
    char *name;
    char *title;
    char *job_number;
    char *email;
    char *mobile;
    bool active;
    int64_t *dept_ids; /* the union of every dept_id_list seen, sorted, unique */
    size_t n_dept_ids;
};

/* The visible organisation. Owned by the caller; free with dt_org_free. */
struct dt_org {
    struct dt_department *depts; /* parents before children */
    size_t n_depts;
    struct dt_user *users;       /* sorted by userid, unique */
    size_t n_users;
    int64_t *scope_dept_ids;     /* auth/scopes authed_dept */
    size_t n_scope_depts;
    /* Departments that returned 50004 (outside the scope) or 60003 (not
     * found), skipped with their subtrees; never read as deletions. */
    int64_t *skipped_dept_ids;
    size_t n_skipped;
    /* authed_user entries that could not be read (50002, 60121). */
    char **skipped_userids;
    size_t n_skipped_users;
    size_t n_calls;              /* HTTP requests made */
};

/* Called after each department is read; returning false stops the walk
 * with RS_ECANCELLED (reason DINGTALK_WALK_CANCELLED). */
typedef bool (*dt_progress_fn)(void *arg, size_t depts_done, size_t users_seen);

/*
 * Reads auth/scopes, then walks every authed_dept root (department/get for
 * the root itself, listsub one level at a time, user/list with cursor
 * paging for each department's direct members) and reads every authed_user
 * with user/get. Users in several departments appear once with the union of
 * their departments. progress may be NULL.
 */
RS_MUSTCHECK rs_status dt_fetch_org(struct dt_client *client, struct dt_org *out,
                                    dt_progress_fn progress, void *arg,
                                    struct rs_error *err);
void dt_org_free(struct dt_org *org);

/* The result of a connection probe, for TestConnection. Owned by the caller;
 * free with dt_probe_free. */
struct dt_probe {
    int64_t *scope_dept_ids;
    size_t n_scope_depts;
    char **scope_userids;
    size_t n_scope_users;
    int sample_member_count; /* direct members on page one of the first root */
};

/* Fetches a token, auth/scopes and one user/list page of the first root. */
RS_MUSTCHECK rs_status dt_probe(struct dt_client *client, struct dt_probe *out,
                                struct rs_error *err);
void dt_probe_free(struct dt_probe *probe);

#endif /* SYNC_DINGTALK_H */
