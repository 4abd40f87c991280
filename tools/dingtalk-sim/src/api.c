/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/api.c
 *    Scope and department endpoints, and the routing of every address-book
 *    endpoint; the user endpoints live in api_user.c.
 */
#include "sim_int.h"

#include <stdio.h>
#include <string.h>

bool
sim_api_dept_param(struct sim_server *srv, const struct sim_req *req,
                   struct sim_reply *reply, bool scoped,
                   const struct sim_org *org, json_int_t *out)
{
    int got = sim_param_int(req, "dept_id", out);

    if (got == 0) {
        sim_reply_error(srv, req->api, reply, 40035, "缺少参数 dept_id");
        return false;
    }
    if (got < 0) {
        sim_reply_error(srv, req->api, reply, 400002, "无效的参数 dept_id");
        return false;
    }
    if (sim_org_dept(org, *out) == NULL) {
        sim_reply_error(srv, req->api, reply, 60003, "部门不存在");
        return false;
    }
    if (scoped && !sim_org_dept_visible(org, *out)) {
        sim_reply_error(srv, req->api, reply, 50004, "请求的部门id不在授权范围内");
        return false;
    }
    return true;
}

static const char *
dept_name(const json_t *dept, const struct sim_req *req)
{
    const char *lang = sim_param_str(req, "language");
    const char *en = json_string_value(json_object_get(dept, "name_en"));

    if (lang != NULL && strcmp(lang, "en_US") == 0 && en != NULL)
        return en;
    return json_string_value(json_object_get(dept, "name"));
}

static bool
flag(const json_t *obj, const char *key, bool dflt)
{
    json_t *v = json_object_get(obj, key);

    return v == NULL ? dflt : json_is_true(v);
}

static void
api_scopes(struct sim_server *srv, const struct sim_org *org,
           const struct sim_req *req, struct sim_reply *reply)
{
    json_t *body = sim_ok_body();
    json_t *fields = json_object_get(org->doc, "auth_user_field");

    RS_UNUSED(srv);
    RS_UNUSED(req);
    if (fields == NULL)
        fields = json_pack("[s,s,s,s,s,s]", "userid", "name", "unionid",
                           "dept_id_list", "jobnumber", "active");
    else
        fields = json_deep_copy(fields);
    /* auth/scopes answers without request_id, as the documented example. */
    json_object_del(body, "request_id");
    json_object_set_new(body, "auth_user_field", fields);
    json_object_set_new(body, "condition_field", json_array());
    json_object_set_new(body, "auth_org_scopes",
                        json_pack("{s:o,s:o}",
                                  "authed_dept", json_deep_copy(org->scope_depts),
                                  "authed_user", json_deep_copy(org->scope_users)));
    sim_reply_json(reply, body);
}

static void
api_listsub(struct sim_server *srv, const struct sim_org *org,
            const struct sim_req *req, struct sim_reply *reply)
{
    json_int_t dept_id = 1;
    json_t *result;
    json_t *kid;
    json_t *body;
    size_t i;
    char key[24];

    /* dept_id is optional here: the root's children when it is absent. */
    if (json_object_get(req->params, "dept_id") != NULL
        && !sim_api_dept_param(srv, req, reply, true, org, &dept_id))
        return;
    if (!sim_org_dept_visible(org, dept_id)) {
        sim_reply_error(srv, req->api, reply, 50004, "请求的部门id不在授权范围内");
        return;
    }
    result = json_array();
    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, dept_id);
    json_array_foreach(json_object_get(org->children, key), i, kid) {
        json_t *d = sim_org_dept(org, json_integer_value(kid));

        json_array_append_new(result, json_pack(
            "{s:I,s:s,s:I,s:b,s:b}",
            "dept_id", json_integer_value(kid),
            "name", dept_name(d, req),
            "parent_id", dept_id,
            "create_dept_group", flag(d, "create_dept_group", false),
            "auto_add_user", flag(d, "auto_add_user", false)));
    }
    body = sim_ok_body();
    json_object_set_new(body, "result", result);
    sim_reply_json(reply, body);
}

static void
api_listsubid(struct sim_server *srv, const struct sim_org *org,
              const struct sim_req *req, struct sim_reply *reply)
{
    json_int_t dept_id;
    json_t *body;
    char key[24];

    /* Not scope-restricted: ids only, for any department of the company. */
    if (!sim_api_dept_param(srv, req, reply, false, org, &dept_id))
        return;
    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, dept_id);
    body = sim_ok_body();
    json_object_set_new(body, "result",
                        json_pack("{s:o}", "dept_id_list",
                                  json_deep_copy(json_object_get(org->children, key))));
    sim_reply_json(reply, body);
}

static void
count_subtree(const struct sim_org *org, json_int_t dept_id, json_t *seen)
{
    json_t *member;
    json_t *kid;
    size_t i;
    char key[24];

    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, dept_id);
    json_array_foreach(json_object_get(org->members, key), i, member)
        json_object_set(seen, json_string_value(json_object_get(member, "userid")),
                        json_true());
    json_array_foreach(json_object_get(org->children, key), i, kid)
        count_subtree(org, json_integer_value(kid), seen);
}

static void
api_dept_get(struct sim_server *srv, const struct sim_org *org,
             const struct sim_req *req, struct sim_reply *reply)
{
    json_int_t dept_id;
    json_t *dept;
    json_t *result;
    json_t *body;
    json_t *seen;
    json_t *managers;
    char key[24];

    if (!sim_api_dept_param(srv, req, reply, true, org, &dept_id))
        return;
    dept = sim_org_dept(org, dept_id);
    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, dept_id);
    seen = json_object();
    count_subtree(org, dept_id, seen);
    managers = json_object_get(dept, "manager_userids");
    result = json_pack("{s:I,s:s,s:I,s:b,s:b,s:b,s:b,s:b,s:I,s:I}",
                       "dept_id", dept_id,
                       "name", dept_name(dept, req),
                       "order", json_integer_value(json_object_get(dept, "order")),
                       "hide_dept", flag(dept, "hidden", false),
                       "outer_dept", flag(dept, "outer_dept", false),
                       "create_dept_group", flag(dept, "create_dept_group", false),
                       "auto_add_user", flag(dept, "auto_add_user", false),
                       "group_contain_sub_dept", false,
                       "member_count", (json_int_t) json_object_size(seen),
                       "owning_member_count",
                       (json_int_t) json_array_size(json_object_get(org->members, key)));
    json_decref(seen);
    if (dept_id != 1)
        json_object_set_new(result, "parent_id",
                            json_integer(json_integer_value(
                                json_object_get(dept, "parent_id"))));
    if (json_array_size(managers) > 0)
        json_object_set_new(result, "dept_manager_userid_list", json_deep_copy(managers));
    body = sim_ok_body();
    json_object_set_new(body, "result", result);
    sim_reply_json(reply, body);
}

static const struct {
    const char *api;
    bool post;
    sim_api_fn fn;
} routes[] = {
    {"auth/scopes", false, api_scopes},
    {"topapi/v2/department/listsub", true, api_listsub},
    {"topapi/v2/department/listsubid", true, api_listsubid},
    {"topapi/v2/department/get", true, api_dept_get},
    {"topapi/v2/user/list", true, sim_api_user_list},
    {"topapi/user/listsimple", true, sim_api_user_listsimple},
    {"topapi/user/listid", true, sim_api_user_listid},
    {"topapi/v2/user/get", true, sim_api_user_get},
    {"topapi/user/getbyunionid", true, sim_api_user_getbyunionid},
    {"topapi/user/count", true, sim_api_user_count},
};

bool
sim_api_known(const char *api)
{
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(routes[i].api, api) == 0)
            return true;
    return false;
}

void
sim_api_dispatch(struct sim_server *srv, const struct sim_org *org,
                 const struct sim_req *req, struct sim_reply *reply)
{
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(routes[i].api, req->api) != 0)
            continue;
        if (routes[i].post && strcmp(req->method, "POST") != 0) {
            sim_reply_error(srv, req->api, reply, 43002, "需要POST请求");
            return;
        }
        routes[i].fn(srv, org, req, reply);
        return;
    }
    sim_reply_error(srv, req->api, reply, 22, "Invalid method[submsg=不合法ApiName]");
}
