/*
 * services/sync/src/dingtalk.c
 *    The DingTalk client: reused libcurl easy handles, the access-token
 *    cache, a per-API limiter and the retry loop that turns DingTalk's codes
 *    into rs_error reasons. The token and the limiter are shared by every
 *    connection of a client under their own locks, so a walk may keep
 *    several requests in flight. The walk of the tree is in dingtalk_walk.c.
 */
#include "dingtalk_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "roster/alloc.h"
#include "roster/clock.h"

#define DT_DEFAULT_RATE 18
#define DT_DEFAULT_CONCURRENCY 4
#define DT_DEFAULT_TIMEOUT_MS 10000
#define DT_DEFAULT_ATTEMPTS 5
#define DT_DEFAULT_BAN_PAUSE_MS 300000
#define DT_DEFAULT_THROTTLE_MS 1000
/* Exponential backoff for -1, transport errors and malformed bodies. */
#define DT_BACKOFF_BASE_MS 200
#define DT_BACKOFF_MAX_MS 8000
/* A reply larger than this is not an address-book page: stop reading. */
#define DT_MAX_BODY (64u * 1024u * 1024u)
/* DingTalk's guide: refresh about 10 minutes before the token expires. */
#define DT_TOKEN_MARGIN_S 600

/* Next free send time of one API path (spaced slots). */
struct dt_slot {
    char api[64];
    int64_t next_ns;
};

/* One HTTP connection: an easy handle and the reply it is reading. */
struct dt_conn {
    CURL *curl;
    char *body;
    size_t body_len;
    size_t body_cap;
    bool body_too_large;
};

struct dt_client {
    char *endpoint; /* without trailing slashes */
    char *app_key;
    char *app_secret;
    int rate_per_api;
    int concurrency;
    int timeout_ms;
    int max_attempts;
    int ban_pause_ms;
    int throttle_pause_ms;
    const struct rs_log_ctx *log;
    bool (*cancelled)(void *arg);
    void *cancel_arg;

    struct dt_conn *conn; /* the one dt__call uses */

    /* Held while a token is fetched, so concurrent callers wait for one
     * fetch instead of each making their own. */
    pthread_mutex_t token_mu;
    char *token;              /* NULL when none is cached */
    int64_t token_refresh_ns; /* monotonic time after which it is refetched */
    uint64_t token_gen;       /* bumped on every new token */
    /* Token fetches finished, and the error of the last one (RS_OK when it
     * succeeded), so that callers who waited for a failed fetch report its
     * error instead of each running the same retries again. */
    atomic_uint_fast64_t fetches;
    struct rs_error fetch_err;

    pthread_mutex_t slot_mu;
    struct dt_slot *slots;
    size_t n_slots;
    atomic_size_t n_calls;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void
curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
sleep_ns(int64_t ns)
{
    struct timespec ts;

    if (ns <= 0)
        return;
    ts.tv_sec = (time_t) (ns / 1000000000LL);
    ts.tv_nsec = (long) (ns % 1000000000LL);
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * Sleeps ns in slices of at most 100 ms, asking the cancel hook between
 * them. Returns false when cancelled.
 */
static bool
pause_ns(const struct dt_client *client, int64_t ns)
{
    const int64_t slice = 100000000LL;

    while (ns > 0) {
        if (client->cancelled != NULL && client->cancelled(client->cancel_arg))
            return false;
        sleep_ns(ns < slice ? ns : slice);
        ns -= slice;
    }
    return client->cancelled == NULL || !client->cancelled(client->cancel_arg);
}

/* Adds up to a quarter of ms at random, so clients that were throttled
 * together do not come back together. */
static int64_t
with_jitter_ns(int ms)
{
    uint32_t r = 0;
    int64_t base = (int64_t) ms * 1000000LL;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r))
        r = (uint32_t) rs_clock_ns();
    return base + (int64_t) (r % 1024u) * (base / 4) / 1024;
}

static rs_status
fail_cancelled(const char *api, struct rs_error *err)
{
    rs_error_set(err, RS_ECANCELLED, "DINGTALK_CANCELLED",
                 "DingTalk API \"%s\" call cancelled while waiting", api);
    rs_error_meta(err, "api", api);
    return RS_ECANCELLED;
}

static void
free_secret(char **s)
{
    if (*s != NULL)
        explicit_bzero(*s, strlen(*s));
    RS_FREE(s);
}

static void
drop_token(struct dt_client *client)
{
    free_secret(&client->token);
    client->token_refresh_ns = 0;
}

rs_status
dt_client_create(const struct dt_config *cfg, struct dt_client **out, struct rs_error *err)
{
    struct dt_client *client = NULL;
    size_t len;
    rs_status rc = RS_OK;

    *out = NULL;
    if (cfg->endpoint == NULL || cfg->app_key == NULL || cfg->app_secret == NULL
        || *cfg->endpoint == '\0' || *cfg->app_key == '\0' || *cfg->app_secret == '\0')
        return rs_error_set(err, RS_EINVAL, "FIELD_INVALID",
                            "DingTalk endpoint, app key and app secret must not be empty");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return rs_error_set(err, RS_EINTERNAL, NULL, "could not initialise libcurl: %s",
                            curl_easy_strerror(curl_init_rc));

    client = rs_calloc(1, sizeof(*client));
    if (client == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&client->token_mu, NULL);
    pthread_mutex_init(&client->slot_mu, NULL);
    client->endpoint = rs_strdup(cfg->endpoint);
    client->app_key = rs_strdup(cfg->app_key);
    client->app_secret = rs_strdup(cfg->app_secret);
    client->conn = dt__conn_create();
    if (client->endpoint == NULL || client->app_key == NULL || client->app_secret == NULL
        || client->conn == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    len = strlen(client->endpoint);
    while (len > 0 && client->endpoint[len - 1] == '/')
        client->endpoint[--len] = '\0';

    client->rate_per_api = cfg->rate_per_api > 0 ? cfg->rate_per_api : DT_DEFAULT_RATE;
    client->concurrency = cfg->concurrency > 0 ? cfg->concurrency : DT_DEFAULT_CONCURRENCY;
    client->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DT_DEFAULT_TIMEOUT_MS;
    client->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DT_DEFAULT_ATTEMPTS;
    client->ban_pause_ms = cfg->ban_pause_ms > 0 ? cfg->ban_pause_ms : DT_DEFAULT_BAN_PAUSE_MS;
    client->throttle_pause_ms =
        cfg->throttle_pause_ms > 0 ? cfg->throttle_pause_ms : DT_DEFAULT_THROTTLE_MS;
    client->log = cfg->log;
    client->cancelled = cfg->cancelled;
    client->cancel_arg = cfg->cancel_arg;

    *out = client;
    client = NULL;
out:
    dt_client_destroy(client);
    return rc;
}

void
dt_client_destroy(struct dt_client *client)
{
    if (client == NULL)
        return;
    dt__conn_destroy(client->conn);
    drop_token(client);
    free_secret(&client->app_secret);
    rs_free(client->app_key);
    rs_free(client->endpoint);
    rs_free(client->slots);
    pthread_mutex_destroy(&client->token_mu);
    pthread_mutex_destroy(&client->slot_mu);
    rs_free(client);
}

struct dt_conn *
dt__conn_create(void)
{
    struct dt_conn *conn = rs_calloc(1, sizeof(*conn));

    if (conn == NULL)
        return NULL;
    conn->curl = curl_easy_init();
    if (conn->curl == NULL) {
        rs_free(conn);
        return NULL;
    }
    return conn;
}

void
dt__conn_destroy(struct dt_conn *conn)
{
    if (conn == NULL)
        return;
    curl_easy_cleanup(conn->curl);
    /* The last reply may be a gettoken reply, which contains the token. */
    if (conn->body != NULL)
        explicit_bzero(conn->body, conn->body_cap);
    rs_free(conn->body);
    rs_free(conn);
}

int
dt__concurrency(const struct dt_client *client)
{
    return client->concurrency;
}

size_t
dt__calls_made(const struct dt_client *client)
{
    return atomic_load(&client->n_calls);
}

/* Waits for the next free slot of api. Calls to one path are spaced
 * 1/rate_per_api s apart, so no one-second window has more than rate_per_api.
 * A walk's connections may hold slots seconds ahead, so the wait ends
 * early when the client is cancelled. */
static rs_status
limiter_wait(struct dt_client *client, const char *api, struct rs_error *err)
{
    struct dt_slot *slot = NULL;
    int64_t interval = 1000000000LL / client->rate_per_api;
    int64_t now, at;
    size_t i;

    pthread_mutex_lock(&client->slot_mu);
    for (i = 0; i < client->n_slots; i++)
        if (strcmp(client->slots[i].api, api) == 0)
            slot = &client->slots[i];
    if (slot == NULL) {
        struct dt_slot *grown = rs_realloc(client->slots, (client->n_slots + 1) * sizeof(*grown));

        if (grown == NULL) {
            pthread_mutex_unlock(&client->slot_mu);
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        }
        client->slots = grown;
        slot = &client->slots[client->n_slots++];
        snprintf(slot->api, sizeof(slot->api), "%s", api);
        slot->next_ns = 0;
    }
    now = rs_clock_ns();
    at = slot->next_ns > now ? slot->next_ns : now;
    slot->next_ns = at + interval;
    pthread_mutex_unlock(&client->slot_mu);
    /* Only a real wait checks the cancel hook, because during the grace
     * period a call in flight (TestConnection, say) should still finish. */
    if (at > now && !pause_ns(client, at - now))
        return fail_cancelled(api, err);
    return RS_OK;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct dt_conn *conn = arg;
    size_t n = size * nmemb;
    size_t cap;
    char *grown;

    if (conn->body_len + n > DT_MAX_BODY) {
        conn->body_too_large = true;
        return 0;
    }
    if (conn->body_len + n > conn->body_cap) {
        cap = conn->body_cap == 0 ? 16384 : conn->body_cap;
        while (cap < conn->body_len + n)
            cap *= 2;
        grown = rs_realloc(conn->body, cap);
        if (grown == NULL)
            return 0;
        conn->body = grown;
        conn->body_cap = cap;
    }
    memcpy(conn->body + conn->body_len, data, n);
    conn->body_len += n;
    return n;
}

/*
 * Sends one request. url may hold the secret or the token: it is never
 * logged and the caller wipes it. Returns the libcurl code; *http_status is
 * the HTTP status of a completed exchange.
 */
static CURLcode
http_send(struct dt_client *client, struct dt_conn *conn, const char *url,
          const char *post_body, long *http_status)
{
    struct curl_slist *headers = NULL;
    CURL *c = conn->curl;
    CURLcode cc;

    conn->body_len = 0;
    conn->body_too_large = false;
    *http_status = 0;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) client->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long) client->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, conn);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (post_body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json;charset=utf-8");
        if (headers == NULL)
            return CURLE_OUT_OF_MEMORY;
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(post_body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    atomic_fetch_add(&client->n_calls, 1);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_status);
    /* The handle keeps a pointer to the URL until the next reset; clear it. */
    curl_easy_setopt(c, CURLOPT_URL, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return cc;
}

/* Builds endpoint/api?name=value&..., escaping each value; NULL on OOM.
 * names and values end with a NULL name. */
static char *
build_url(const struct dt_client *client, struct dt_conn *conn, const char *api,
          const char *const *params)
{
    size_t cap = strlen(client->endpoint) + strlen(api) + 4;
    char *url, *p;
    char *escaped[4] = {NULL, NULL, NULL, NULL};
    size_t i, n = 0;

    for (i = 0; params[2 * i] != NULL && i < 4; i++) {
        escaped[i] = curl_easy_escape(conn->curl, params[2 * i + 1], 0);
        if (escaped[i] == NULL)
            goto fail;
        cap += strlen(params[2 * i]) + strlen(escaped[i]) + 2;
        n++;
    }
    url = rs_malloc(cap);
    if (url == NULL)
        goto fail;
    p = url + sprintf(url, "%s/%s", client->endpoint, api);
    for (i = 0; i < n; i++)
        p += sprintf(p, "%c%s=%s", i == 0 ? '?' : '&', params[2 * i], escaped[i]);
    for (i = 0; i < n; i++) {
        explicit_bzero(escaped[i], strlen(escaped[i]));
        curl_free(escaped[i]);
    }
    return url;
fail:
    for (i = 0; i < n; i++) {
        explicit_bzero(escaped[i], strlen(escaped[i]));
        curl_free(escaped[i]);
    }
    return NULL;
}

static void
log_retry(struct dt_client *client, const char *api, long errcode, int attempt,
          const char *why)
{
    char code[24];
    char n[16];

    snprintf(code, sizeof(code), "%ld", errcode);
    snprintf(n, sizeof(n), "%d", attempt);
    rs_log_warn(client->log, "retrying DingTalk request", "api", api, "errcode", code,
                "attempt", n, "reason", why, NULL);
}

static void
log_token_refresh(struct dt_client *client, const char *api, long errcode)
{
    char code[24];

    snprintf(code, sizeof(code), "%ld", errcode);
    rs_log_info(client->log, "refreshing DingTalk access token", "api", api, "errcode", code,
                NULL);
}

static void
set_meta_code(struct rs_error *err, const char *api, long errcode)
{
    char code[24];

    snprintf(code, sizeof(code), "%ld", errcode);
    rs_error_meta(err, "api", api);
    rs_error_meta(err, "errcode", code);
}

/* Fills err for an errcode reply the client does not retry. */
static rs_status
fail_errcode(const char *api, const struct dt_envelope *env, bool from_gettoken,
             struct rs_error *err)
{
    const char *perm;
    rs_status rc;

    switch (dt__code_classify(env->errcode, from_gettoken)) {
    case DT_CLASS_PERMISSION:
        perm = dt__api_permission(api);
        if (*perm != '\0')
            rc = rs_error_set(err, RS_EPERM, "DINGTALK_PERMISSION_DENIED",
                              "DingTalk denied API \"%s\": %s (errcode %ld); grant the app "
                              "the permission \"%s\"", api, env->errmsg, env->errcode, perm);
        else
            rc = rs_error_set(err, RS_EPERM, "DINGTALK_PERMISSION_DENIED",
                              "DingTalk denied API \"%s\": %s (errcode %ld)", api,
                              env->errmsg, env->errcode);
        break;
    case DT_CLASS_CREDENTIALS:
        rc = rs_error_set(err, RS_EPRECOND, "DINGTALK_CREDENTIALS_INVALID",
                          "DingTalk rejected the app key or app secret: %s (errcode %ld)",
                          env->errmsg, env->errcode);
        break;
    case DT_CLASS_IP:
        rc = rs_error_set(err, RS_EPRECOND, "DINGTALK_IP_NOT_ALLOWED",
                          "DingTalk rejected this server's IP address: %s (errcode %ld); add "
                          "it to the app's IP allow-list", env->errmsg, env->errcode);
        break;
    case DT_CLASS_TOKEN:
        /* Still rejected with a token fetched a moment ago. */
        rc = rs_error_set(err, env->errcode == 40001 ? RS_EPRECOND : RS_EINTERNAL,
                          env->errcode == 40001 ? "DINGTALK_CREDENTIALS_INVALID"
                                                : "DINGTALK_ERROR",
                          "DingTalk rejected a new access token for API \"%s\": %s "
                          "(errcode %ld)", api, env->errmsg, env->errcode);
        break;
    default:
        rc = rs_error_set(err, RS_EINTERNAL, "DINGTALK_ERROR",
                          "DingTalk API \"%s\" failed: %s (errcode %ld)", api, env->errmsg,
                          env->errcode);
        break;
    }
    set_meta_code(err, api, env->errcode);
    return rc;
}

static int
backoff_ms(int attempt)
{
    int64_t ms = (int64_t) DT_BACKOFF_BASE_MS << (attempt > 10 ? 10 : attempt - 1);

    return ms > DT_BACKOFF_MAX_MS ? DT_BACKOFF_MAX_MS : (int) ms;
}

static rs_status request(struct dt_client *client, struct dt_conn *conn, const char *api,
                         json_t *body, bool is_gettoken, json_t **result, long *errcode,
                         struct rs_error *err);

/* Caches a new token; called with token_mu held. */
static rs_status
fetch_token(struct dt_client *client, struct dt_conn *conn, struct rs_error *err)
{
    json_t *reply = NULL;
    const char *value;
    int64_t ttl;
    rs_status rc;

    drop_token(client);
    rc = request(client, conn, "gettoken", NULL, true, &reply, NULL, err);
    if (rc != RS_OK)
        return rc;
    value = dt__json_str(reply, "access_token");
    if (*value == '\0') {
        rc = rs_error_set(err, RS_EINTERNAL, "DINGTALK_BAD_RESPONSE",
                          "invalid reply from DingTalk API \"gettoken\": no access_token");
        goto out;
    }
    if (!dt__json_int64(reply, "expires_in", &ttl) || ttl <= 0)
        ttl = 7200;
    /* Short-lived tokens are refreshed at half their life instead. */
    ttl = ttl > 2 * DT_TOKEN_MARGIN_S ? ttl - DT_TOKEN_MARGIN_S : ttl / 2;
    client->token = rs_strdup(value);
    if (client->token == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    client->token_refresh_ns = rs_clock_ns() + ttl * 1000000000LL;
    client->token_gen++;
    rs_log_debug(client->log, "fetched DingTalk access token", NULL);
out:
    /* The reply contains the token, so wipe it before it goes back to the heap. */
    if (json_is_string(json_object_get(reply, "access_token")))
        explicit_bzero((char *) json_string_value(json_object_get(reply, "access_token")),
                       strlen(json_string_value(json_object_get(reply, "access_token"))));
    json_decref(reply);
    return rc;
}

/*
 * Copies the cached token into *token (owned by the caller, to be wiped
 * with free_secret), fetching one when none is cached or it is near
 * expiry. *gen identifies the token, for forget_token. seen is the
 * fetch count when the caller's request began: a fetch that failed since
 * then fails this call too.
 */
static rs_status
take_token(struct dt_client *client, struct dt_conn *conn, uint_fast64_t seen, char **token,
           uint64_t *gen, struct rs_error *err)
{
    rs_status rc = RS_OK;

    *token = NULL;
    pthread_mutex_lock(&client->token_mu);
    if (client->token == NULL && atomic_load(&client->fetches) != seen
        && client->fetch_err.code != RS_OK) {
        *err = client->fetch_err;
        rc = err->code;
    } else if (client->token == NULL || rs_clock_ns() >= client->token_refresh_ns) {
        rc = fetch_token(client, conn, err);
        if (rc == RS_OK)
            rs_error_clear(&client->fetch_err);
        else
            client->fetch_err = *err;
        atomic_fetch_add(&client->fetches, 1);
    }
    if (rc == RS_OK) {
        *token = rs_strdup(client->token);
        *gen = client->token_gen;
        if (*token == NULL)
            rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    pthread_mutex_unlock(&client->token_mu);
    return rc;
}

/* Drops the cached token if it is still the one DingTalk rejected; another
 * connection may have replaced it already. */
static void
forget_token(struct dt_client *client, uint64_t gen)
{
    pthread_mutex_lock(&client->token_mu);
    if (client->token_gen == gen)
        drop_token(client);
    pthread_mutex_unlock(&client->token_mu);
}

/* Sends one attempt of api with token (NULL for gettoken); *env receives
 * the parsed reply or the transport failure is returned as a libcurl code. */
static rs_status
send_once(struct dt_client *client, struct dt_conn *conn, const char *api,
          const char *post_body, const char *token, CURLcode *cc, struct dt_envelope *env,
          struct rs_error *err)
{
    const char *params[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    char *url;
    long status;
    rs_status rc;

    if (token == NULL) {
        params[0] = "appkey";
        params[1] = client->app_key;
        params[2] = "appsecret";
        params[3] = client->app_secret;
    } else {
        params[0] = "access_token";
        params[1] = token;
    }
    url = build_url(client, conn, api, params);
    if (url == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    rc = limiter_wait(client, api, err);
    if (rc == RS_OK) {
        *cc = http_send(client, conn, url, post_body, &status);
        if (*cc == CURLE_OK)
            dt__envelope_parse(conn->body, conn->body_len, status, env);
        else if (conn->body_too_large)
            *cc = CURLE_FILESIZE_EXCEEDED;
    }
    explicit_bzero(url, strlen(url));
    rs_free(url);
    return rc;
}

/* The retry loop shared by gettoken and every API call. */
static rs_status
request(struct dt_client *client, struct dt_conn *conn, const char *api, json_t *body,
        bool is_gettoken, json_t **result, long *errcode, struct rs_error *err)
{
    struct dt_envelope env;
    char *post_body = NULL;
    char *token = NULL;
    uint64_t token_gen = 0;
    uint_fast64_t fetches_seen = atomic_load(&client->fetches);
    bool token_retried = false;
    enum dt_code_class cls;
    int attempt = 0;
    CURLcode cc;
    rs_status rc = RS_OK;

    memset(&env, 0, sizeof(env));
    *result = NULL;
    if (errcode != NULL)
        *errcode = 0;
    if (body != NULL) {
        post_body = json_dumps(body, JSON_COMPACT);
        if (post_body == NULL)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    for (;;) {
        attempt++;
        json_decref(env.root);
        memset(&env, 0, sizeof(env));
        cc = CURLE_OK;
        free_secret(&token);
        if (!is_gettoken) {
            rc = take_token(client, conn, fetches_seen, &token, &token_gen, err);
            if (rc != RS_OK)
                goto out;
        }
        rc = send_once(client, conn, api, post_body, token, &cc, &env, err);
        if (rc != RS_OK)
            goto out;

        if (cc != CURLE_OK) {
            if (attempt < client->max_attempts) {
                log_retry(client, api, 0, attempt, curl_easy_strerror(cc));
                if (!pause_ns(client, with_jitter_ns(backoff_ms(attempt))))
                    goto cancelled;
                continue;
            }
            rc = rs_error_set(err, RS_EUNAVAIL, "DINGTALK_UNAVAILABLE",
                              "could not reach DingTalk API \"%s\" after %d attempts: %s", api,
                              attempt, curl_easy_strerror(cc));
            rs_error_meta(err, "api", api);
            goto out;
        }
        switch (env.kind) {
        case DT_BODY_OK:
            *result = env.root;
            env.root = NULL;
            rc = RS_OK;
            goto out;
        case DT_BODY_BANNED:
            if (attempt < client->max_attempts) {
                log_retry(client, api, 0, attempt, "IP ban");
                if (!pause_ns(client, with_jitter_ns(client->ban_pause_ms)))
                    goto cancelled;
                continue;
            }
            rc = rs_error_set(err, RS_EUNAVAIL, "DINGTALK_BANNED",
                              "DingTalk is refusing this server's IP address: API \"%s\" still "
                              "returned a ban reply after %d attempts", api, attempt);
            rs_error_meta(err, "api", api);
            goto out;
        case DT_BODY_MALFORMED:
            if (attempt < client->max_attempts) {
                log_retry(client, api, 0, attempt, "malformed reply");
                if (!pause_ns(client, with_jitter_ns(backoff_ms(attempt))))
                    goto cancelled;
                continue;
            }
            rc = rs_error_set(err, RS_EINTERNAL, "DINGTALK_BAD_RESPONSE",
                              "invalid reply from DingTalk API \"%s\" after %d attempts: %s",
                              api, attempt, env.errmsg);
            rs_error_meta(err, "api", api);
            goto out;
        case DT_BODY_ERRCODE:
            break;
        }

        if (errcode != NULL)
            *errcode = env.errcode;
        cls = dt__code_classify(env.errcode, is_gettoken);
        /* A code DingTalk gives no meaning to, under HTTP 5xx, is a server fault. */
        if (cls == DT_CLASS_OTHER && env.http_status >= 500)
            cls = DT_CLASS_BUSY;
        switch (cls) {
        case DT_CLASS_TOKEN:
            if (is_gettoken || token_retried)
                break;
            /* A refetch does not count as an attempt: the token died, not the API. */
            log_token_refresh(client, api, env.errcode);
            token_retried = true;
            forget_token(client, token_gen);
            attempt--;
            continue;
        case DT_CLASS_THROTTLE:
            if (attempt < client->max_attempts) {
                log_retry(client, api, env.errcode, attempt, "throttled");
                if (!pause_ns(client, with_jitter_ns(client->throttle_pause_ms)))
                    goto cancelled;
                continue;
            }
            rc = rs_error_set(err, RS_EUNAVAIL, "DINGTALK_UNAVAILABLE",
                              "DingTalk API \"%s\" still throttled after %d attempts: %s "
                              "(errcode %ld)", api, attempt, env.errmsg, env.errcode);
            set_meta_code(err, api, env.errcode);
            goto out;
        case DT_CLASS_BUSY:
            if (attempt < client->max_attempts) {
                log_retry(client, api, env.errcode, attempt, "busy");
                if (!pause_ns(client, with_jitter_ns(backoff_ms(attempt))))
                    goto cancelled;
                continue;
            }
            rc = rs_error_set(err, RS_EUNAVAIL, "DINGTALK_UNAVAILABLE",
                              "DingTalk API \"%s\" still busy after %d attempts: %s "
                              "(errcode %ld)", api, attempt, env.errmsg, env.errcode);
            set_meta_code(err, api, env.errcode);
            goto out;
        default:
            break;
        }
        rc = fail_errcode(api, &env, is_gettoken, err);
        goto out;
    }
cancelled:
    rc = fail_cancelled(api, err);
out:
    json_decref(env.root);
    free_secret(&token);
    if (post_body != NULL)
        free(post_body);
    return rc;
}

rs_status
dt__call(struct dt_client *client, const char *api, json_t *body, json_t **result,
         long *errcode, struct rs_error *err)
{
    return request(client, client->conn, api, body, false, result, errcode, err);
}

rs_status
dt__call_on(struct dt_client *client, struct dt_conn *conn, const char *api, json_t *body,
            json_t **result, long *errcode, struct rs_error *err)
{
    return request(client, conn != NULL ? conn : client->conn, api, body, false, result,
                   errcode, err);
}
