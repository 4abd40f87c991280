/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/org.c
 *    Fixture loading and validation, and the lookup indexes of an
 *    organisation (children, direct members, visibility scope).
 */
#include "sim_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"

#define ROOT_DEPT_ID 1

static void
id_key(json_int_t id, char buf[24])
{
    snprintf(buf, 24, "%" JSON_INTEGER_FORMAT, id);
}

json_t *
sim_org_dept(const struct sim_org *org, json_int_t dept_id)
{
    char key[24];

    id_key(dept_id, key);
    return json_object_get(org->depts, key);
}

json_t *
sim_org_user(const struct sim_org *org, const char *userid)
{
    return json_object_get(org->users, userid);
}

bool
sim_org_dept_visible(const struct sim_org *org, json_int_t dept_id)
{
    char key[24];

    id_key(dept_id, key);
    return json_object_get(org->visible_depts, key) != NULL;
}

bool
sim_org_user_visible(const struct sim_org *org, const char *userid)
{
    return json_object_get(org->visible_users, userid) != NULL;
}

void
sim_org_destroy(struct sim_org *org)
{
    if (org == NULL)
        return;
    json_decref(org->depts);
    json_decref(org->users);
    json_decref(org->unionids);
    json_decref(org->children);
    json_decref(org->members);
    json_decref(org->visible_depts);
    json_decref(org->visible_users);
    json_decref(org->doc);
    rs_free(org);
}

static const char *
req_string(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    return json_string_value(v);
}

static bool
opt_type_ok(json_t *obj, const char *key, json_type type)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return true;
    if (type == JSON_TRUE)
        return json_is_boolean(v);
    return json_typeof(v) == type;
}

static rs_status
index_depts(struct sim_org *org, struct rs_error *err)
{
    json_t *arr = json_object_get(org->doc, "departments");
    json_t *dept;
    size_t i;
    char key[24];

    if (!json_is_array(arr))
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "fixture has no \"departments\" array");
    json_array_foreach(arr, i, dept) {
        json_t *id = json_object_get(dept, "dept_id");
        json_t *parent = json_object_get(dept, "parent_id");

        if (!json_is_integer(id) || json_integer_value(id) < 1)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "department %zu has no positive integer \"dept_id\"", i);
        if (req_string(dept, "name") == NULL)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "department %" JSON_INTEGER_FORMAT " has no \"name\"",
                                json_integer_value(id));
        if ((parent != NULL && !json_is_integer(parent))
            || !opt_type_ok(dept, "order", JSON_INTEGER)
            || !opt_type_ok(dept, "hidden", JSON_TRUE)
            || !opt_type_ok(dept, "manager_userids", JSON_ARRAY))
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "department %" JSON_INTEGER_FORMAT " has a field of the wrong type",
                                json_integer_value(id));
        id_key(json_integer_value(id), key);
        if (json_object_get(org->depts, key) != NULL)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "duplicate department id %s", key);
        if (json_object_set(org->depts, key, dept) != 0
            || json_object_set_new(org->children, key, json_array()) != 0
            || json_object_set_new(org->members, key, json_array()) != 0)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    if (sim_org_dept(org, ROOT_DEPT_ID) == NULL)
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "fixture has no root department with dept_id 1");
    return RS_OK;
}

static json_int_t
dept_order(json_t *dept)
{
    return json_integer_value(json_object_get(dept, "order"));
}

static int
cmp_child(const void *a, const void *b, const struct sim_org *org)
{
    json_int_t ia = *(const json_int_t *) a;
    json_int_t ib = *(const json_int_t *) b;
    json_int_t oa = dept_order(sim_org_dept(org, ia));
    json_int_t ob = dept_order(sim_org_dept(org, ib));

    if (oa != ob)
        return oa < ob ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

/* qsort has no context argument; the sort runs under the org being built. */
static _Thread_local const struct sim_org *sort_org;

static int
cmp_child_qsort(const void *a, const void *b)
{
    return cmp_child(a, b, sort_org);
}

static rs_status
link_depts(struct sim_org *org, struct rs_error *err)
{
    const char *key;
    json_t *dept;
    json_t *kids;
    size_t n = json_object_size(org->depts);

    json_object_foreach(org->depts, key, dept) {
        json_int_t id = json_integer_value(json_object_get(dept, "dept_id"));
        json_int_t parent = json_integer_value(json_object_get(dept, "parent_id"));
        json_int_t walk = parent;
        size_t steps = 0;
        char pkey[24];

        if (id == ROOT_DEPT_ID) {
            if (parent != 0)
                return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                    "root department 1 must not have a parent");
            continue;
        }
        if (sim_org_dept(org, parent) == NULL)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "department %s has unknown parent_id %" JSON_INTEGER_FORMAT,
                                key, parent);
        while (walk != ROOT_DEPT_ID) {
            if (walk == id || ++steps > n)
                return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                    "department %s is its own ancestor", key);
            walk = json_integer_value(json_object_get(sim_org_dept(org, walk),
                                                      "parent_id"));
        }
        id_key(parent, pkey);
        if (json_array_append_new(json_object_get(org->children, pkey),
                                  json_integer(id)) != 0)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }

    /* Children are listed by "order", then id, as the client would see. */
    json_object_foreach(org->children, key, kids) {
        size_t i, cnt = json_array_size(kids);
        json_int_t *ids;

        if (cnt < 2)
            continue;
        ids = rs_calloc(cnt, sizeof(*ids));
        if (ids == NULL)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        for (i = 0; i < cnt; i++)
            ids[i] = json_integer_value(json_array_get(kids, i));
        sort_org = org;
        qsort(ids, cnt, sizeof(*ids), cmp_child_qsort);
        for (i = 0; i < cnt; i++)
            json_integer_set(json_array_get(kids, i), ids[i]);
        rs_free(ids);
    }
    return RS_OK;
}

static rs_status
check_user_fields(json_t *user, size_t i, const char *userid,
                  struct rs_error *err)
{
    static const char *const strings[] = {
        "unionid", "name", "mobile", "email", "org_email", "job_number",
        "title", "telephone", "work_place", "remark", "avatar",
        "state_code", "manager_userid",
    };
    static const char *const bools[] = {
        "active", "admin", "boss", "hide_mobile", "exclusive_account",
    };
    size_t k;

    if (userid == NULL)
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "user %zu has no \"userid\"", i);
    if (req_string(user, "unionid") == NULL || req_string(user, "name") == NULL)
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "user \"%s\" needs \"unionid\" and \"name\"", userid);
    for (k = 0; k < sizeof(strings) / sizeof(strings[0]); k++)
        if (!opt_type_ok(user, strings[k], JSON_STRING))
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "user \"%s\": \"%s\" must be a string",
                                userid, strings[k]);
    for (k = 0; k < sizeof(bools) / sizeof(bools[0]); k++)
        if (!opt_type_ok(user, bools[k], JSON_TRUE))
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "user \"%s\": \"%s\" must be a boolean",
                                userid, bools[k]);
    if (!opt_type_ok(user, "hired_date", JSON_INTEGER)
        || !opt_type_ok(user, "leader_in_dept", JSON_ARRAY))
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "user \"%s\" has a field of the wrong type", userid);
    return RS_OK;
}

static rs_status
index_users(struct sim_org *org, struct rs_error *err)
{
    json_t *arr = json_object_get(org->doc, "users");
    json_t *user;
    size_t i;
    rs_status rc;

    if (!json_is_array(arr))
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "fixture has no \"users\" array");
    json_array_foreach(arr, i, user) {
        const char *userid = req_string(user, "userid");
        json_t *depts = json_object_get(user, "dept_id_list");
        json_t *d;
        size_t j;

        rc = check_user_fields(user, i, userid, err);
        if (rc != RS_OK)
            return rc;
        if (json_object_get(org->users, userid) != NULL)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "duplicate userid \"%s\"", userid);
        if (json_object_get(org->unionids, req_string(user, "unionid")) != NULL)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "user \"%s\" repeats unionid \"%s\"", userid,
                                req_string(user, "unionid"));
        if (!json_is_array(depts) || json_array_size(depts) == 0)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "user \"%s\" needs a non-empty \"dept_id_list\"",
                                userid);
        json_array_foreach(depts, j, d) {
            char key[24];
            json_t *members;

            if (!json_is_integer(d)
                || sim_org_dept(org, json_integer_value(d)) == NULL)
                return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                    "user \"%s\" lists an unknown department",
                                    userid);
            id_key(json_integer_value(d), key);
            members = json_object_get(org->members, key);
            /* A repeated id in dept_id_list must not list the user twice. */
            if (json_array_size(members) > 0
                && json_array_get(members, json_array_size(members) - 1) == user)
                continue;
            if (json_array_append(members, user) != 0)
                return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        }
        if (json_object_set(org->users, userid, user) != 0
            || json_object_set(org->unionids, req_string(user, "unionid"), user) != 0)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    return RS_OK;
}

static rs_status
mark_visible(struct sim_org *org, json_int_t id)
{
    char key[24];
    json_t *kids;
    json_t *member;
    json_t *kid;
    size_t i;

    id_key(id, key);
    if (json_object_get(org->visible_depts, key) != NULL)
        return RS_OK;
    if (json_object_set_new(org->visible_depts, key, json_true()) != 0)
        return RS_ENOMEM;
    json_array_foreach(json_object_get(org->members, key), i, member) {
        const char *userid = json_string_value(json_object_get(member, "userid"));

        if (json_object_set_new(org->visible_users, userid, json_true()) != 0)
            return RS_ENOMEM;
    }
    kids = json_object_get(org->children, key);
    json_array_foreach(kids, i, kid) {
        if (mark_visible(org, json_integer_value(kid)) != RS_OK)
            return RS_ENOMEM;
    }
    return RS_OK;
}

static rs_status
index_scope(struct sim_org *org, struct rs_error *err)
{
    json_t *scope = json_object_get(org->doc, "scope");
    json_t *v;
    size_t i;

    if (scope == NULL) {
        /* No scope given: the whole company, as authed_dept [1] means. */
        scope = json_pack("{s:[i],s:[]}", "dept_ids", ROOT_DEPT_ID, "user_ids");
        if (scope == NULL || json_object_set_new(org->doc, "scope", scope) != 0)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    org->scope_depts = json_object_get(scope, "dept_ids");
    org->scope_users = json_object_get(scope, "user_ids");
    if (org->scope_users == NULL) {
        org->scope_users = json_array();
        if (json_object_set_new(scope, "user_ids", org->scope_users) != 0)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    if (!json_is_array(org->scope_depts) || !json_is_array(org->scope_users))
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "\"scope\" needs arrays \"dept_ids\" and \"user_ids\"");
    json_array_foreach(org->scope_depts, i, v) {
        if (!json_is_integer(v) || sim_org_dept(org, json_integer_value(v)) == NULL)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "scope lists an unknown department");
        if (mark_visible(org, json_integer_value(v)) != RS_OK)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    json_array_foreach(org->scope_users, i, v) {
        if (!json_is_string(v) || sim_org_user(org, json_string_value(v)) == NULL)
            return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                                "scope lists an unknown userid");
        if (json_object_set_new(org->visible_users, json_string_value(v),
                                json_true()) != 0)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    return RS_OK;
}

rs_status
sim_org_build(json_t *doc, struct sim_org **out, struct rs_error *err)
{
    struct sim_org *org = NULL;
    json_t *app;
    rs_status rc;

    *out = NULL;
    org = rs_calloc(1, sizeof(*org));
    if (org == NULL) {
        json_decref(doc);
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    }
    org->doc = doc;
    org->depts = json_object();
    org->users = json_object();
    org->unionids = json_object();
    org->children = json_object();
    org->members = json_object();
    org->visible_depts = json_object();
    org->visible_users = json_object();
    if (org->depts == NULL || org->users == NULL || org->unionids == NULL
        || org->children == NULL || org->members == NULL
        || org->visible_depts == NULL || org->visible_users == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (!json_is_object(doc)) {
        rc = rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                          "fixture must be a JSON object");
        goto out;
    }
    app = json_object_get(doc, "app");
    org->corp_id = req_string(doc, "corp_id");
    org->app_key = req_string(app, "key");
    org->app_secret = req_string(app, "secret");
    if (org->corp_id == NULL || org->app_key == NULL || org->app_secret == NULL) {
        rc = rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                          "fixture needs \"corp_id\", \"app.key\" and \"app.secret\"");
        goto out;
    }
    rc = index_depts(org, err);
    if (rc == RS_OK)
        rc = link_depts(org, err);
    if (rc == RS_OK)
        rc = index_users(org, err);
    if (rc == RS_OK)
        rc = index_scope(org, err);
    if (rc != RS_OK)
        goto out;
    *out = org;
    org = NULL;
out:
    sim_org_destroy(org);
    return rc;
}

rs_status
sim_org_load(const char *path, struct sim_org **out, struct rs_error *err)
{
    json_error_t jerr;
    json_t *doc;
    rs_status rc;

    *out = NULL;
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return rs_error_set(err, RS_EINVAL, "FIXTURE_INVALID",
                            "could not load fixture \"%s\": %s (line %d)",
                            path, jerr.text, jerr.line);
    rc = sim_org_build(doc, out, err);
    if (rc != RS_OK) {
        char msg[sizeof(err->message)];

        if (err != NULL) {
            snprintf(msg, sizeof(msg), "%s", err->message);
            rs_error_set(err, rc, "FIXTURE_INVALID", "invalid fixture \"%s\": %s",
                         path, msg);
        }
    }
    return rc;
}
