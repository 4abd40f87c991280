/*
 * services/sync/src/dingtalk_walk.c
 *    The walk of the visible organisation: auth/scopes roots, listsub one
 *    level at a time, user/list with cursor paging for each department's
 *    direct members, and user/get for authed_user entries. Departments are
 *    read in batches on several connections at once, and join the result
 *    in queue order, so the result does not depend on which reply came
 *    first. The connection probe is here too.
 */
#include "dingtalk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"
#include "roster/str.h"

/* DingTalk's largest user/list page. */
#define DT_PAGE_SIZE 100
/* Departments read per batch and connection: enough to keep every
 * connection busy while one department pages through many members. */
#define DT_BATCH_PER_CONN 8

struct walk {
    struct dt_client *client;
    const struct rs_log_ctx *log;
    struct dt_org *org;
    size_t depts_cap;
    size_t users_cap;
    size_t skipped_cap;
    size_t skipped_users_cap;

    struct dt_department *queue; /* departments listed but not yet read */
    size_t queue_len;
    size_t queue_cap;
    size_t queue_head;

    json_t *seen_depts; /* "dept_id" -> true, every department queued once */
    json_t *user_index; /* userid -> index into org->users */

    struct dt_conn **conns; /* the extra connections of a batch, owned */
    size_t n_conns;
    struct dept_read *reads; /* one per department of a batch */
    size_t reads_cap;
};

/* The replies for one department, kept until it joins the result. */
struct dept_read {
    int64_t dept_id;
    json_t *children; /* owned */
    json_t *members;  /* owned */
    long errcode;
    rs_status rc;
    struct rs_error err;
};

static bool
grow(void **array, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap == 0 ? 16 : *cap;
    void *grown;

    if (need <= *cap)
        return true;
    while (n < need)
        n *= 2;
    grown = rs_realloc(*array, n * elem);
    if (grown == NULL)
        return false;
    *array = grown;
    *cap = n;
    return true;
}

static rs_status
oom(struct rs_error *err)
{
    return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
}

static int
cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}

/* Sorts ids and drops repeats; returns the new count. */
static size_t
sort_unique(int64_t *ids, size_t n)
{
    size_t i, out = 0;

    if (n == 0)
        return 0;
    qsort(ids, n, sizeof(*ids), cmp_int64);
    for (i = 0; i < n; i++)
        if (out == 0 || ids[out - 1] != ids[i])
            ids[out++] = ids[i];
    return out;
}

static void
dept_key(int64_t id, char key[24])
{
    snprintf(key, 24, "%lld", (long long) id);
}

static void
user_cleanup(struct dt_user *u)
{
    rs_free(u->userid);
    rs_free(u->unionid);
    rs_free(u->name);
    rs_free(u->title);
    rs_free(u->job_number);
    rs_free(u->email);
    rs_free(u->mobile);
    rs_free(u->dept_ids);
}

void
dt_org_free(struct dt_org *org)
{
    size_t i;

    if (org == NULL)
        return;
    for (i = 0; i < org->n_depts; i++)
        rs_free(org->depts[i].name);
    for (i = 0; i < org->n_users; i++)
        user_cleanup(&org->users[i]);
    for (i = 0; i < org->n_skipped_users; i++)
        rs_free(org->skipped_userids[i]);
    rs_free(org->depts);
    rs_free(org->users);
    rs_free(org->scope_dept_ids);
    rs_free(org->skipped_dept_ids);
    rs_free(org->skipped_userids);
    memset(org, 0, sizeof(*org));
}

/* Reads auth/scopes into new arrays owned by the caller. */
static rs_status
read_scopes(struct dt_client *client, int64_t **dept_ids, size_t *n_depts, char ***userids,
            size_t *n_users, struct rs_error *err)
{
    json_t *reply = NULL;
    json_t *scopes, *depts, *users, *v;
    int64_t id;
    size_t i;
    rs_status rc;

    *dept_ids = NULL;
    *userids = NULL;
    *n_depts = 0;
    *n_users = 0;
    rc = dt__call(client, "auth/scopes", NULL, &reply, NULL, err);
    if (rc != RS_OK)
        return rc;
    scopes = json_object_get(reply, "auth_org_scopes");
    depts = json_object_get(scopes, "authed_dept");
    users = json_object_get(scopes, "authed_user");
    if (json_array_size(depts) > 0) {
        *dept_ids = rs_calloc(json_array_size(depts), sizeof(**dept_ids));
        if (*dept_ids == NULL) {
            rc = oom(err);
            goto out;
        }
    }
    json_array_foreach(depts, i, v) {
        if (!dt__json_as_int64(v, &id)) {
            rc = rs_error_set(err, RS_EINTERNAL, "DINGTALK_BAD_RESPONSE",
                              "invalid reply from DingTalk API \"auth/scopes\": authed_dept "
                              "holds a non-numeric id");
            goto out;
        }
        (*dept_ids)[(*n_depts)++] = id;
    }
    if (json_array_size(users) > 0) {
        *userids = rs_calloc(json_array_size(users), sizeof(**userids));
        if (*userids == NULL) {
            rc = oom(err);
            goto out;
        }
    }
    json_array_foreach(users, i, v) {
        if (!json_is_string(v) || *json_string_value(v) == '\0')
            continue;
        (*userids)[*n_users] = rs_strdup(json_string_value(v));
        if ((*userids)[*n_users] == NULL) {
            rc = oom(err);
            goto out;
        }
        (*n_users)++;
    }
out:
    json_decref(reply);
    return rc;
}

/*
 * Returns a copy of a department or member name, cleaned as
 * rs_utf8_clean_name does, normalised to Unicode NFC and cut to
 * SYNC_NAME_MAX code points, or a copy of fallback (the node's id) when
 * nothing is left; NULL when out of memory. Names are cleaned once here,
 * so the stored structure, its rename flags, groups and nicknames all see
 * the same name, whichever normalisation form DingTalk sent. The caller
 * frees it.
 */
static char *
name_dup(const char *name, const char *fallback)
{
    size_t size = strlen(name) + 1;
    char *clean = rs_malloc(size);
    char *out = NULL;
    size_t len;

    if (clean == NULL)
        return NULL;
    rs_utf8_clean_name(name, clean, size);
    /* After cleaning, because a dropped invisible character such as U+034F
     * can stand between a letter and the accent it composes with. */
    if (rs_utf8_nfc(clean, strlen(clean), &out, &len) != RS_OK)
        goto out;
    len = rs_utf8_trim_end(out, rs_utf8_prefix(out, SYNC_NAME_MAX));
    out[len] = '\0';
    if (len == 0) {
        rs_free(out);
        out = rs_strdup(fallback);
    }
out:
    rs_free(clean);
    return out;
}

/* Copies the fields Roster keeps from a user/list entry or a user/get result. */
static rs_status
user_from_json(const json_t *obj, int64_t in_dept, struct dt_user *u)
{
    const json_t *list = json_object_get(obj, "dept_id_list");
    json_t *v;
    size_t i, n = 0;
    int64_t id;

    memset(u, 0, sizeof(*u));
    u->userid = rs_strdup(dt__json_str(obj, "userid"));
    u->unionid = rs_strdup(dt__json_str(obj, "unionid"));
    u->name = name_dup(dt__json_str(obj, "name"), u->userid != NULL ? u->userid : "");
    u->title = rs_strdup(dt__json_str(obj, "title"));
    u->job_number = rs_strdup(dt__json_str(obj, "job_number"));
    u->email = rs_strdup(dt__json_str(obj, "email"));
    u->mobile = rs_strdup(dt__json_str(obj, "mobile"));
    u->active = dt__json_bool(obj, "active");
    u->dept_ids = rs_calloc(json_array_size(list) + 1, sizeof(*u->dept_ids));
    if (u->userid == NULL || u->unionid == NULL || u->name == NULL || u->title == NULL
        || u->job_number == NULL || u->email == NULL || u->mobile == NULL
        || u->dept_ids == NULL) {
        user_cleanup(u);
        return RS_ENOMEM;
    }
    json_array_foreach(list, i, v)
        if (dt__json_as_int64(v, &id))
            u->dept_ids[n++] = id;
    /* A user listed under in_dept is a member of it, even if dept_id_list omits it. */
    if (in_dept != 0)
        u->dept_ids[n++] = in_dept;
    u->n_dept_ids = n;
    return RS_OK;
}

static rs_status
require_fields(const json_t *obj, int64_t in_dept, struct rs_error *err)
{
    static const char *const fields[] = { "userid", "name", "unionid" };
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (*dt__json_str(obj, fields[i]) != '\0')
            continue;
        rs_error_set(err, RS_EPRECOND, "DINGTALK_FIELD_MISSING",
                     "DingTalk listed a member of department %lld without \"%s\": the app "
                     "may lack the field permission; nothing was changed",
                     (long long) in_dept, fields[i]);
        rs_error_meta(err, "field", fields[i]);
        return RS_EPRECOND;
    }
    return RS_OK;
}

/* Adds a user, or merges its departments into the one already seen. */
static rs_status
merge_user(struct walk *w, const json_t *obj, int64_t in_dept, struct rs_error *err)
{
    struct dt_org *org = w->org;
    const char *userid = dt__json_str(obj, "userid");
    struct dt_user fresh;
    struct dt_user *known;
    json_t *index;
    int64_t *grown;
    rs_status rc;

    /*
     * DingTalk leaves out fields the app may not read. Without its userid,
     * name or unionid a member would look departed or renamed, so the walk
     * stops instead and nothing is stored.
     */
    rc = require_fields(obj, in_dept, err);
    if (rc != RS_OK)
        return rc;
    if (user_from_json(obj, in_dept, &fresh) != RS_OK)
        return oom(err);
    index = json_object_get(w->user_index, userid);
    if (index != NULL) {
        known = &org->users[json_integer_value(index)];
        grown = rs_realloc(known->dept_ids,
                           (known->n_dept_ids + fresh.n_dept_ids + 1) * sizeof(*grown));
        if (grown == NULL) {
            user_cleanup(&fresh);
            return oom(err);
        }
        memcpy(grown + known->n_dept_ids, fresh.dept_ids,
               fresh.n_dept_ids * sizeof(*grown));
        known->dept_ids = grown;
        known->n_dept_ids += fresh.n_dept_ids;
        user_cleanup(&fresh);
        return RS_OK;
    }
    if (!grow((void **) &org->users, &w->users_cap, org->n_users + 1, sizeof(*org->users))
        || json_object_set_new(w->user_index, userid,
                               json_integer((json_int_t) org->n_users)) != 0) {
        user_cleanup(&fresh);
        return oom(err);
    }
    org->users[org->n_users++] = fresh;
    return RS_OK;
}

static rs_status
add_skipped_dept(struct walk *w, int64_t dept_id, struct rs_error *err)
{
    struct dt_org *org = w->org;
    char key[24];

    dept_key(dept_id, key);
    rs_log_info(w->log, "skipped DingTalk department outside the app's scope", "dept_id", key,
                NULL);
    if (!grow((void **) &org->skipped_dept_ids, &w->skipped_cap, org->n_skipped + 1,
              sizeof(*org->skipped_dept_ids)))
        return oom(err);
    org->skipped_dept_ids[org->n_skipped++] = dept_id;
    return RS_OK;
}

/* Queues a department once; takes ownership of d->name either way. */
static rs_status
enqueue(struct walk *w, struct dt_department *d, struct rs_error *err)
{
    char key[24];

    dept_key(d->dept_id, key);
    if (json_object_get(w->seen_depts, key) != NULL) {
        rs_free(d->name);
        return RS_OK;
    }
    if (!grow((void **) &w->queue, &w->queue_cap, w->queue_len + 1, sizeof(*w->queue))
        || json_object_set_new(w->seen_depts, key, json_true()) != 0) {
        rs_free(d->name);
        return oom(err);
    }
    w->queue[w->queue_len++] = *d;
    return RS_OK;
}

/* Reads a department record from department/get or a listsub entry. */
static rs_status
dept_from_json(const json_t *obj, int64_t fallback_id, struct dt_department *d)
{
    char id[24];

    memset(d, 0, sizeof(*d));
    if (!dt__json_int64(obj, "dept_id", &d->dept_id))
        d->dept_id = fallback_id;
    if (!dt__json_int64(obj, "parent_id", &d->parent_id))
        d->parent_id = 0;
    /* listsub carries no order; such departments keep 0. */
    if (!dt__json_int64(obj, "order", &d->order))
        d->order = 0;
    snprintf(id, sizeof(id), "%lld", (long long)d->dept_id);
    d->name = name_dup(dt__json_str(obj, "name"), id);
    return d->name == NULL ? RS_ENOMEM : RS_OK;
}

/* Codes that mean "this department is not there for us" rather than a failure. */
static bool
dept_gone(long errcode)
{
    return errcode == 50004 || errcode == 60003;
}

static rs_status
skip_dept(struct walk *w, int64_t dept_id, long errcode, struct rs_error *err)
{
    char key[24];

    /*
     * 60003 means deleted while the walk ran, or a glitch upstream. One such
     * reply must not turn the whole branch into departures, so the branch is
     * skipped like one outside the scope and read again next time.
     */
    rs_error_clear(err);
    dept_key(dept_id, key);
    rs_log_warn(w->log, "skipped DingTalk department branch", "dept_id", key, "errcode",
                errcode == 50004 ? "50004" : "60003", NULL);
    return add_skipped_dept(w, dept_id, err);
}

static rs_status
read_root(struct walk *w, int64_t root, struct rs_error *err)
{
    struct dt_department d;
    json_t *reply = NULL;
    json_t *body;
    long errcode = 0;
    char key[24];
    rs_status rc;

    dept_key(root, key);
    if (json_object_get(w->seen_depts, key) != NULL)
        return RS_OK;
    body = json_pack("{s:I}", "dept_id", (json_int_t) root);
    if (body == NULL)
        return oom(err);
    rc = dt__call(w->client, "topapi/v2/department/get", body, &reply, &errcode, err);
    json_decref(body);
    if (rc != RS_OK)
        return dept_gone(errcode) ? skip_dept(w, root, errcode, err) : rc;
    if (dept_from_json(json_object_get(reply, "result"), root, &d) != RS_OK)
        rc = oom(err);
    else
        rc = enqueue(w, &d, err);
    json_decref(reply);
    return rc;
}

/* Lists the children of dept_id into *children (a new JSON array). */
static rs_status
list_children(struct walk *w, struct dt_conn *conn, int64_t dept_id, json_t **children,
              long *errcode, struct rs_error *err)
{
    json_t *reply = NULL;
    json_t *body;
    json_t *result;
    rs_status rc;

    *children = NULL;
    body = json_pack("{s:I}", "dept_id", (json_int_t) dept_id);
    if (body == NULL)
        return oom(err);
    rc = dt__call_on(w->client, conn, "topapi/v2/department/listsub", body, &reply, errcode,
                     err);
    json_decref(body);
    if (rc != RS_OK)
        return rc;
    result = json_object_get(reply, "result");
    *children = json_is_array(result) ? json_incref(result) : json_array();
    json_decref(reply);
    return *children == NULL ? oom(err) : RS_OK;
}

/* Pages user/list of dept_id into *members (a new JSON array of user objects). */
static rs_status
list_members(struct walk *w, struct dt_conn *conn, int64_t dept_id, json_t **members,
             long *errcode, struct rs_error *err)
{
    json_t *reply = NULL;
    json_t *body = NULL;
    json_t *result, *list;
    int64_t cursor = 0, next;
    bool restarted = false;
    rs_status rc = RS_OK;

    *members = json_array();
    if (*members == NULL)
        return oom(err);
    for (;;) {
        body = json_pack("{s:I,s:I,s:i}", "dept_id", (json_int_t) dept_id,
                         "cursor", (json_int_t) cursor, "size", DT_PAGE_SIZE);
        if (body == NULL) {
            rc = oom(err);
            goto out;
        }
        rc = dt__call_on(w->client, conn, "topapi/v2/user/list", body, &reply, errcode, err);
        json_decref(body);
        body = NULL;
        if (rc != RS_OK && *errcode == 40068 && !restarted) {
            /* DingTalk's rule for an invalid cursor: start again from page one. */
            rs_error_clear(err);
            restarted = true;
            cursor = 0;
            json_array_clear(*members);
            continue;
        }
        if (rc != RS_OK)
            goto out;
        result = json_object_get(reply, "result");
        list = json_object_get(result, "list");
        if (json_is_array(list) && json_array_extend(*members, list) != 0) {
            rc = oom(err);
            goto out;
        }
        if (!dt__json_bool(result, "has_more"))
            break;
        if (!dt__json_int64(result, "next_cursor", &next) || next == cursor) {
            rc = rs_error_set(err, RS_EINTERNAL, "DINGTALK_BAD_RESPONSE",
                              "invalid reply from DingTalk API \"topapi/v2/user/list\": "
                              "has_more without a new next_cursor");
            rs_error_meta(err, "api", "topapi/v2/user/list");
            goto out;
        }
        cursor = next;
        json_decref(reply);
        reply = NULL;
    }
out:
    json_decref(reply);
    if (rc != RS_OK) {
        json_decref(*members);
        *members = NULL;
    }
    return rc;
}

/* A task of dt__run_parallel: the children and direct members of one
 * department. Runs on several threads at once; touches only its own read. */
static bool
read_dept(void *arg, size_t i, struct dt_conn *conn)
{
    struct walk *w = arg;
    struct dept_read *r = &w->reads[i];

    r->rc = list_children(w, conn, r->dept_id, &r->children, &r->errcode, &r->err);
    if (r->rc == RS_OK)
        r->rc = list_members(w, conn, r->dept_id, &r->members, &r->errcode, &r->err);
    /* Any failure but a department gone ends the walk: stop reading. */
    return r->rc == RS_OK || dept_gone(r->errcode);
}

/*
 * Adds one read department, its children and its members to the result.
 * They enter together, so one that turned out to be out of scope (50004)
 * or deleted (60003) halfway leaves nothing behind.
 */
static rs_status
add_dept(struct walk *w, struct dt_department *d, struct dept_read *r, struct rs_error *err)
{
    struct dt_org *org = w->org;
    struct dt_department child;
    json_t *v;
    size_t i;
    rs_status rc = RS_OK;

    if (r->rc != RS_OK) {
        if (dept_gone(r->errcode)) {
            rc = skip_dept(w, d->dept_id, r->errcode, err);
        } else {
            *err = r->err;
            rc = r->rc;
        }
        RS_FREE(&d->name);
        goto out;
    }

    if (!grow((void **) &org->depts, &w->depts_cap, org->n_depts + 1, sizeof(*org->depts))) {
        RS_FREE(&d->name);
        rc = oom(err);
        goto out;
    }
    org->depts[org->n_depts++] = *d;
    d->name = NULL;
    json_array_foreach(r->children, i, v) {
        if (dept_from_json(v, 0, &child) != RS_OK) {
            rc = oom(err);
            goto out;
        }
        if (child.dept_id == 0) {
            rs_free(child.name);
            continue;
        }
        if (child.parent_id == 0)
            child.parent_id = org->depts[org->n_depts - 1].dept_id;
        rc = enqueue(w, &child, err);
        if (rc != RS_OK)
            goto out;
    }
    json_array_foreach(r->members, i, v) {
        rc = merge_user(w, v, org->depts[org->n_depts - 1].dept_id, err);
        if (rc != RS_OK)
            goto out;
    }
out:
    return rc;
}

static void
reads_clear(struct dept_read *reads, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        json_decref(reads[i].children);
        json_decref(reads[i].members);
    }
    memset(reads, 0, n * sizeof(*reads));
}

/*
 * Reads the next batch of queued departments at once, then adds them in
 * queue order. Children found here join the queue for a later batch.
 */
static rs_status
read_batch(struct walk *w, dt_progress_fn progress, void *arg, struct rs_error *err)
{
    struct dt_org *org = w->org;
    size_t n = w->queue_len - w->queue_head;
    size_t i, handed_out;
    rs_status rc = RS_OK;

    if (n > w->reads_cap)
        n = w->reads_cap;
    for (i = 0; i < n; i++) {
        w->reads[i].dept_id = w->queue[w->queue_head + i].dept_id;
        rs_error_clear(&w->reads[i].err);
    }
    handed_out = dt__run_parallel(w->conns, w->n_conns, n, read_dept, w);
    for (i = 0; i < n; i++) {
        struct dt_department d = w->queue[w->queue_head++];

        /* Never reached: a task is left unread only after a failure
         * earlier in the batch, which ended this loop. */
        if (i >= handed_out) {
            RS_FREE(&d.name);
            rc = rs_error_set(err, RS_EINTERNAL, NULL, "department %lld was not read",
                              (long long) d.dept_id);
            goto out;
        }
        rc = add_dept(w, &d, &w->reads[i], err);
        if (rc != RS_OK)
            goto out;
        if (progress != NULL && !progress(arg, org->n_depts, org->n_users)) {
            rc = rs_error_set(err, RS_ECANCELLED, "DINGTALK_WALK_CANCELLED",
                              "DingTalk walk cancelled after %zu departments", org->n_depts);
            goto out;
        }
    }
out:
    reads_clear(w->reads, n);
    return rc;
}

static rs_status
read_authed_user(struct walk *w, const char *userid, struct rs_error *err)
{
    struct dt_org *org = w->org;
    json_t *reply = NULL;
    json_t *body;
    long errcode = 0;
    char *copy;
    rs_status rc;

    body = json_pack("{s:s}", "userid", userid);
    if (body == NULL)
        return oom(err);
    rc = dt__call(w->client, "topapi/v2/user/get", body, &reply, &errcode, err);
    json_decref(body);
    if (rc != RS_OK) {
        if (errcode != 50002 && errcode != 60121 && errcode != 33012)
            return rc;
        rs_error_clear(err);
        rs_log_info(w->log, "skipped unreadable DingTalk user in the app's scope", "userid",
                    userid, NULL);
        copy = rs_strdup(userid);
        if (copy == NULL
            || !grow((void **) &org->skipped_userids, &w->skipped_users_cap,
                     org->n_skipped_users + 1, sizeof(*org->skipped_userids))) {
            rs_free(copy);
            return oom(err);
        }
        org->skipped_userids[org->n_skipped_users++] = copy;
        return RS_OK;
    }
    rc = merge_user(w, json_object_get(reply, "result"), 0, err);
    json_decref(reply);
    return rc;
}

struct dept_rank {
    size_t index;
    size_t depth;
};

static int
cmp_rank(const void *a, const void *b)
{
    const struct dept_rank *x = a, *y = b;

    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Orders departments parents first. Breadth-first order already is, except
 * when one scope root lies under another that came later in authed_dept.
 */
static rs_status
order_parents_first(struct dt_org *org, struct rs_error *err)
{
    struct dept_rank *rank = NULL;
    struct dt_department *sorted = NULL;
    json_t *index = json_object();
    json_t *parent;
    size_t i, depth, hops;
    int64_t at;
    char key[24];
    rs_status rc = RS_OK;

    if (org->n_depts == 0)
        goto out;
    rank = rs_calloc(org->n_depts + 1, sizeof(*rank));
    sorted = rs_calloc(org->n_depts + 1, sizeof(*sorted));
    if (index == NULL || rank == NULL || sorted == NULL) {
        rc = oom(err);
        goto out;
    }
    for (i = 0; i < org->n_depts; i++) {
        dept_key(org->depts[i].dept_id, key);
        if (json_object_set_new(index, key, json_integer((json_int_t) i)) != 0) {
            rc = oom(err);
            goto out;
        }
    }
    for (i = 0; i < org->n_depts; i++) {
        depth = 0;
        at = org->depts[i].parent_id;
        /* hops bounds the climb should DingTalk ever report a cycle. */
        for (hops = 0; hops < org->n_depts; hops++) {
            dept_key(at, key);
            parent = json_object_get(index, key);
            if (parent == NULL || at == org->depts[i].dept_id)
                break;
            depth++;
            at = org->depts[json_integer_value(parent)].parent_id;
        }
        rank[i].index = i;
        rank[i].depth = depth;
    }
    qsort(rank, org->n_depts, sizeof(*rank), cmp_rank);
    for (i = 0; i < org->n_depts; i++)
        sorted[i] = org->depts[rank[i].index];
    memcpy(org->depts, sorted, org->n_depts * sizeof(*sorted));
out:
    json_decref(index);
    rs_free(rank);
    rs_free(sorted);
    return rc;
}

static int
cmp_user(const void *a, const void *b)
{
    return strcmp(((const struct dt_user *) a)->userid, ((const struct dt_user *) b)->userid);
}

/* Opens the connections and the read slots of the batches. */
static rs_status
walk_open(struct walk *w, struct rs_error *err)
{
    size_t n = (size_t) dt__concurrency(w->client);

    w->conns = rs_calloc(n, sizeof(*w->conns));
    w->reads_cap = n * DT_BATCH_PER_CONN;
    w->reads = rs_calloc(w->reads_cap, sizeof(*w->reads));
    w->seen_depts = json_object();
    w->user_index = json_object();
    if (w->conns == NULL || w->reads == NULL || w->seen_depts == NULL || w->user_index == NULL)
        return oom(err);
    for (w->n_conns = 0; w->n_conns + 1 < n; w->n_conns++) {
        w->conns[w->n_conns] = dt__conn_create();
        if (w->conns[w->n_conns] == NULL)
            return oom(err);
    }
    return RS_OK;
}

static void
walk_cleanup(struct walk *w)
{
    size_t i;

    for (i = w->queue_head; i < w->queue_len; i++)
        rs_free(w->queue[i].name);
    rs_free(w->queue);
    json_decref(w->seen_depts);
    json_decref(w->user_index);
    for (i = 0; i < w->n_conns; i++)
        dt__conn_destroy(w->conns[i]);
    rs_free(w->conns);
    rs_free(w->reads);
}

rs_status
dt_fetch_org(struct dt_client *client, struct dt_org *out, dt_progress_fn progress,
             void *arg, struct rs_error *err)
{
    struct walk w;
    char **scope_users = NULL;
    size_t n_scope_users = 0;
    size_t calls_before = dt__calls_made(client);
    size_t i;
    rs_status rc;

    memset(out, 0, sizeof(*out));
    memset(&w, 0, sizeof(w));
    w.client = client;
    w.org = out;
    rc = walk_open(&w, err);
    if (rc != RS_OK)
        goto out;
    rc = read_scopes(client, &out->scope_dept_ids, &out->n_scope_depts, &scope_users,
                     &n_scope_users, err);
    if (rc != RS_OK)
        goto out;

    for (i = 0; i < out->n_scope_depts; i++) {
        rc = read_root(&w, out->scope_dept_ids[i], err);
        if (rc != RS_OK)
            goto out;
    }
    while (w.queue_head < w.queue_len) {
        rc = read_batch(&w, progress, arg, err);
        if (rc != RS_OK)
            goto out;
    }
    for (i = 0; i < n_scope_users; i++) {
        rc = read_authed_user(&w, scope_users[i], err);
        if (rc != RS_OK)
            goto out;
    }

    rc = order_parents_first(out, err);
    if (rc != RS_OK)
        goto out;
    for (i = 0; i < out->n_users; i++)
        out->users[i].n_dept_ids = sort_unique(out->users[i].dept_ids, out->users[i].n_dept_ids);
    if (out->n_users > 0)
        qsort(out->users, out->n_users, sizeof(*out->users), cmp_user);
    out->n_skipped = sort_unique(out->skipped_dept_ids, out->n_skipped);
    out->n_calls = dt__calls_made(client) - calls_before;
out:
    for (i = 0; i < n_scope_users; i++)
        rs_free(scope_users[i]);
    rs_free(scope_users);
    walk_cleanup(&w);
    if (rc != RS_OK)
        dt_org_free(out);
    return rc;
}

rs_status
dt_probe(struct dt_client *client, struct dt_probe *out, struct rs_error *err)
{
    json_t *reply = NULL;
    json_t *body = NULL;
    rs_status rc;

    memset(out, 0, sizeof(*out));
    rc = read_scopes(client, &out->scope_dept_ids, &out->n_scope_depts, &out->scope_userids,
                     &out->n_scope_users, err);
    if (rc != RS_OK)
        goto out;
    if (out->n_scope_depts == 0)
        goto out;
    body = json_pack("{s:I,s:i,s:i}", "dept_id", (json_int_t) out->scope_dept_ids[0],
                     "cursor", 0, "size", DT_PAGE_SIZE);
    if (body == NULL) {
        rc = oom(err);
        goto out;
    }
    rc = dt__call(client, "topapi/v2/user/list", body, &reply, NULL, err);
    if (rc != RS_OK)
        goto out;
    out->sample_member_count =
        (int) json_array_size(json_object_get(json_object_get(reply, "result"), "list"));
out:
    json_decref(body);
    json_decref(reply);
    if (rc != RS_OK)
        dt_probe_free(out);
    return rc;
}

void
dt_probe_free(struct dt_probe *probe)
{
    size_t i;

    if (probe == NULL)
        return;
    for (i = 0; i < probe->n_scope_users; i++)
        rs_free(probe->scope_userids[i]);
    rs_free(probe->scope_userids);
    rs_free(probe->scope_dept_ids);
    memset(probe, 0, sizeof(*probe));
}
