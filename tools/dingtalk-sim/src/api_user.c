/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/api_user.c
 *    User endpoints: paged department member lists, user details, unionid
 *    lookup and the company head count.
 */
#include "sim_int.h"

#include <stdio.h>
#include <string.h>

#define MAX_PAGE_SIZE 100

/* Text fields copied when set; field permissions may hide some of them. */
static const char *const text_fields[] = {
    "userid", "unionid", "name", "avatar", "title", "job_number", "telephone",
    "mobile", "state_code", "email", "org_email", "work_place", "remark",
    "extension",
};

static const char *const bool_fields[] = {
    "active", "admin", "boss", "hide_mobile", "exclusive_account",
};

static bool
in_id_list(const json_t *list, json_int_t id)
{
    json_t *v;
    size_t i;

    json_array_foreach(list, i, v)
        if (json_integer_value(v) == id)
            return true;
    return false;
}

static json_int_t
order_in(const json_t *user, json_int_t dept_id)
{
    json_t *orders = json_object_get(user, "dept_orders");
    char key[24];

    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, dept_id);
    if (json_object_get(orders, key) != NULL)
        return json_integer_value(json_object_get(orders, key));
    return json_integer_value(json_object_get(user, "dept_order"));
}

json_t *
sim_user_render(struct sim_server *srv, const json_t *user, json_int_t in_dept,
                bool detail)
{
    json_t *out = json_object();
    json_t *depts = json_object_get(user, "dept_id_list");
    json_t *leads = json_object_get(user, "leader_in_dept");
    json_t *hidden;
    json_t *v;
    size_t i;

    /* The hidden-field set changes only under the write lock of control. */
    hidden = srv->cfg.hidden_fields;
    for (i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
        v = json_object_get(user, text_fields[i]);
        /* A field without permission or value is absent, not empty. */
        if (!json_is_string(v) || json_string_length(v) == 0
            || json_object_get(hidden, text_fields[i]) != NULL)
            continue;
        json_object_set_new(out, text_fields[i], json_deep_copy(v));
    }
    for (i = 0; i < sizeof(bool_fields) / sizeof(bool_fields[0]); i++)
        json_object_set_new(out, bool_fields[i],
                            json_boolean(json_is_true(json_object_get(user, bool_fields[i]))));
    if (json_object_get(user, "hired_date") != NULL
        && json_object_get(hidden, "hired_date") == NULL)
        json_object_set_new(out, "hired_date",
                            json_deep_copy(json_object_get(user, "hired_date")));
    json_object_set_new(out, "dept_id_list", json_deep_copy(depts));

    if (!detail) {
        json_object_set_new(out, "dept_order", json_integer(order_in(user, in_dept)));
        json_object_set_new(out, "leader", json_boolean(in_id_list(leads, in_dept)));
        return out;
    }

    {
        json_t *orders = json_array();
        json_t *leaders = json_array();

        json_array_foreach(depts, i, v) {
            json_int_t id = json_integer_value(v);

            json_array_append_new(orders, json_pack("{s:I,s:I}", "dept_id", id,
                                                    "order", order_in(user, id)));
            json_array_append_new(leaders, json_pack("{s:I,s:b}", "dept_id", id,
                                                     "leader", in_id_list(leads, id)));
        }
        json_object_set_new(out, "dept_order_list", orders);
        json_object_set_new(out, "leader_in_dept", leaders);
    }
    v = json_object_get(user, "manager_userid");
    if (json_is_string(v) && json_string_length(v) > 0)
        json_object_set_new(out, "manager_userid", json_deep_copy(v));
    v = json_object_get(user, "role_list");
    json_object_set_new(out, "role_list", v != NULL ? json_deep_copy(v) : json_array());
    json_object_set_new(out, "real_authed", json_true());
    json_object_set_new(out, "senior", json_false());
    return out;
}

/*
 * Reads dept_id, cursor and size of a paged list. DingTalk's cursor is the
 * offset of the next member, so a change between pages can shift members.
 */
static bool
page_params(struct sim_server *srv, const struct sim_org *org,
            const struct sim_req *req, struct sim_reply *reply,
            json_int_t *dept_id, json_int_t *cursor, json_int_t *size)
{
    int got_cursor, got_size;

    if (!sim_api_dept_param(srv, req, reply, true, org, dept_id))
        return false;
    got_cursor = sim_param_int(req, "cursor", cursor);
    got_size = sim_param_int(req, "size", size);
    if (got_cursor == 0) {
        sim_reply_error(srv, req->api, reply, 40035, "缺少参数 cursor");
        return false;
    }
    if (got_size == 0) {
        sim_reply_error(srv, req->api, reply, 40035, "缺少参数 size");
        return false;
    }
    if (got_cursor < 0 || *cursor < 0) {
        sim_reply_error(srv, req->api, reply, 40068, "不合法的偏移量");
        return false;
    }
    if (got_size < 0 || *size < 1 || *size > MAX_PAGE_SIZE) {
        sim_reply_error(srv, req->api, reply, 40069, "不合法的分页大小");
        return false;
    }
    return true;
}

static void
list_page(struct sim_server *srv, const struct sim_org *org,
          const struct sim_req *req, struct sim_reply *reply, bool simple)
{
    json_int_t dept_id, cursor, size, n, i;
    const char *order = sim_param_str(req, "order_field");
    json_t *members;
    json_t *list;
    json_t *result;
    json_t *body;
    bool desc;
    char key[24];

    if (!page_params(srv, org, req, reply, &dept_id, &cursor, &size))
        return;
    if (order != NULL && strcmp(order, "entry_asc") != 0
        && strcmp(order, "entry_desc") != 0 && strcmp(order, "modify_asc") != 0
        && strcmp(order, "modify_desc") != 0 && strcmp(order, "custom") != 0) {
        sim_reply_error(srv, req->api, reply, 400002, "无效的参数 order_field");
        return;
    }
    /* Entry order is fixture order, and modify order follows it too. */
    desc = order != NULL && strstr(order, "_desc") != NULL;
    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, dept_id);
    members = json_object_get(org->members, key);
    n = (json_int_t) json_array_size(members);
    list = json_array();
    for (i = cursor; i < n && i < cursor + size; i++) {
        json_t *user = json_array_get(members, (size_t) (desc ? n - 1 - i : i));

        if (simple)
            json_array_append_new(list, json_pack("{s:s,s:s}",
                                                  "userid", json_string_value(json_object_get(user, "userid")),
                                                  "name", json_string_value(json_object_get(user, "name"))));
        else
            json_array_append_new(list, sim_user_render(srv, user, dept_id, false));
    }
    result = json_pack("{s:b,s:o}", "has_more", cursor + size < n, "list", list);
    /* next_cursor is present only while there is more to read. */
    if (cursor + size < n)
        json_object_set_new(result, "next_cursor", json_integer(cursor + size));
    body = sim_ok_body();
    json_object_set_new(body, "result", result);
    sim_reply_json(reply, body);
}

void
sim_api_user_list(struct sim_server *srv, const struct sim_org *org,
                  const struct sim_req *req, struct sim_reply *reply)
{
    list_page(srv, org, req, reply, false);
}

void
sim_api_user_listsimple(struct sim_server *srv, const struct sim_org *org,
                        const struct sim_req *req, struct sim_reply *reply)
{
    list_page(srv, org, req, reply, true);
}

void
sim_api_user_listid(struct sim_server *srv, const struct sim_org *org,
                    const struct sim_req *req, struct sim_reply *reply)
{
    json_int_t dept_id;
    json_t *ids;
    json_t *user;
    json_t *body;
    size_t i;
    char key[24];

    /* Unpaged and not scope-restricted, as DingTalk documents it. */
    if (!sim_api_dept_param(srv, req, reply, false, org, &dept_id))
        return;
    snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, dept_id);
    ids = json_array();
    json_array_foreach(json_object_get(org->members, key), i, user)
        json_array_append_new(ids, json_deep_copy(json_object_get(user, "userid")));
    body = sim_ok_body();
    json_object_set_new(body, "result", json_pack("{s:o}", "userid_list", ids));
    sim_reply_json(reply, body);
}

void
sim_api_user_get(struct sim_server *srv, const struct sim_org *org,
                 const struct sim_req *req, struct sim_reply *reply)
{
    const char *userid = sim_param_str(req, "userid");
    json_t *user;
    json_t *body;

    if (json_object_get(req->params, "userid") == NULL) {
        sim_reply_error(srv, req->api, reply, 40035, "缺少参数 userid");
        return;
    }
    if (userid == NULL || *userid == '\0') {
        sim_reply_error(srv, req->api, reply, 33012, "无效的USERID");
        return;
    }
    user = sim_org_user(org, userid);
    if (user == NULL) {
        sim_reply_error(srv, req->api, reply, 60121, "找不到该用户");
        return;
    }
    if (!sim_org_user_visible(org, userid)) {
        sim_reply_error(srv, req->api, reply, 50002, "请求的员工userid不在授权范围内");
        return;
    }
    body = sim_ok_body();
    json_object_set_new(body, "result", sim_user_render(srv, user, 0, true));
    sim_reply_json(reply, body);
}

void
sim_api_user_getbyunionid(struct sim_server *srv, const struct sim_org *org,
                          const struct sim_req *req, struct sim_reply *reply)
{
    const char *unionid = sim_param_str(req, "unionid");
    json_t *user;
    json_t *body;

    if (unionid == NULL || *unionid == '\0') {
        sim_reply_error(srv, req->api, reply, 40035, "缺少参数 unionid");
        return;
    }
    user = json_object_get(org->unionids, unionid);
    if (user == NULL) {
        sim_reply_error(srv, req->api, reply, 60121, "找不到该用户");
        return;
    }
    body = sim_ok_body();
    json_object_set_new(body, "result",
                        json_pack("{s:i,s:s}", "contact_type", 0,
                                  "userid", json_string_value(json_object_get(user, "userid"))));
    sim_reply_json(reply, body);
}

void
sim_api_user_count(struct sim_server *srv, const struct sim_org *org,
                   const struct sim_req *req, struct sim_reply *reply)
{
    bool only_active = false;
    json_int_t count = 0;
    const char *userid;
    json_t *user;
    json_t *body;
    int got = sim_param_bool(req, "only_active", &only_active);

    if (got == 0) {
        sim_reply_error(srv, req->api, reply, 40035, "缺少参数 only_active");
        return;
    }
    if (got < 0) {
        sim_reply_error(srv, req->api, reply, 400002, "无效的参数 only_active");
        return;
    }
    /* The whole company is counted, whatever the visibility scope. */
    json_object_foreach(org->users, userid, user) {
        if (!only_active || json_is_true(json_object_get(user, "active")))
            count++;
    }
    body = sim_ok_body();
    json_object_set_new(body, "result", json_pack("{s:I}", "count", count));
    sim_reply_json(reply, body);
}
