/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/gen.c
 *    "generate": a realistic organisation fixture from a seed. The same
 *    arguments always give the same bytes.
 */
#include "sim_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"

#define MAX_DEPTH 6

static const char *const surnames[] = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
    "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋",
    "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁",
    "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金",
    "欧阳", "司马", "诸葛", "上官",
};

static const char *const given[] = {
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋",
    "勇", "艳", "杰", "娟", "涛", "明", "超", "兰", "霞", "平", "刚", "华",
    "玉", "萍", "红", "鹏", "飞", "宇", "浩", "然", "子", "涵", "欣", "怡",
    "思", "雨", "晨", "佳", "琪", "梓", "轩", "博", "文", "俊", "一", "诺",
    "雪", "婷", "志", "国", "建", "海", "晓", "丹", "辉", "斌", "鑫", "颖",
    "慧", "琳", "喆", "堃", "淼", "昇", "𠮷",
};

static const char *const top_depts[] = {
    "研发中心", "市场部", "销售部", "人力资源部", "财务部", "行政部", "产品部",
    "运营中心", "客户服务部", "法务部", "数据平台部", "供应链管理部",
};

static const char *const sub_depts[] = {
    "前端组", "后端组", "测试组", "华东区", "华南区", "华北区", "西南区",
    "一组", "二组", "三组", "招聘组", "培训组", "品牌组", "渠道组",
    "基础架构组", "Data Platform", "BI 分析组", "大客户部", "质量保障部",
};

static const char *const titles[] = {
    "工程师", "高级工程师", "产品经理", "销售经理", "HRBP", "会计", "BI engineer",
    "运营专员", "总监", "设计师",
};

struct rng {
    uint64_t state;
};

/* splitmix64: small, fast and fully determined by the seed. */
static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

#define PICK(r, arr) (arr[rng_below((r), sizeof(arr) / sizeof(arr[0]))])

static void
rng_text(struct rng *r, char *out, size_t n)
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i;

    for (i = 0; i < n; i++)
        out[i] = alnum[rng_below(r, 62)];
    out[n] = '\0';
}

struct gen_dept {
    json_int_t id;
    int depth;
};

/* Builds the department tree: a 5-deep spine, then random branches. */
static json_t *
gen_depts(struct rng *r, size_t n_users, struct gen_dept **out, size_t *n_out)
{
    size_t target = n_users / 20;
    json_t *arr = json_array();
    struct gen_dept *d;
    json_int_t next_id = 71000000 + (json_int_t) rng_below(r, 900000);
    size_t i, n = 1;
    bool any_hidden = false;

    if (target < 12)
        target = 12;
    if (target > 5000)
        target = 5000;
    d = rs_calloc(target, sizeof(*d));
    d[0].id = 1;
    json_array_append_new(arr, json_pack("{s:i,s:s,s:i,s:b,s:b,s:b}",
                                         "dept_id", 1, "name", "示例科技有限公司",
                                         "order", 0, "hidden", 0,
                                         "create_dept_group", 1, "auto_add_user", 1));
    for (i = 1; i < target; i++) {
        size_t parent = i <= 4 ? i - 1 : (size_t) rng_below(r, n);
        const char *name;
        bool hidden, group, auto_add;
        json_int_t order;
        json_t *dept;

        while (d[parent].depth >= MAX_DEPTH - 1)
            parent = (size_t) rng_below(r, n);
        next_id += 1 + (json_int_t) rng_below(r, 50);
        d[i].id = next_id;
        d[i].depth = d[parent].depth + 1;
        name = d[i].depth == 1 ? PICK(r, top_depts) : PICK(r, sub_depts);
        hidden = rng_below(r, 20) == 0 || (i == target - 1 && !any_hidden);
        any_hidden = any_hidden || hidden;
        /* One draw per statement: argument evaluation order is unspecified. */
        order = (json_int_t) rng_below(r, 1000);
        group = rng_below(r, 2) == 0;
        auto_add = rng_below(r, 3) != 0;
        dept = json_pack("{s:I,s:s,s:I,s:I,s:b,s:b,s:b}",
                         "dept_id", d[i].id, "name", name,
                         "parent_id", d[parent].id, "order", order,
                         "hidden", hidden, "create_dept_group", group,
                         "auto_add_user", auto_add);
        json_array_append_new(arr, dept);
        n++;
    }
    *out = d;
    *n_out = n;
    return arr;
}

static json_t *
gen_user(struct rng *r, size_t i, uint64_t id_base, const char *domain,
         const struct gen_dept *depts, size_t n_depts)
{
    char userid[24], unionid[48], name[32], mobile[24], job[32], email[96];
    json_t *list = json_array();
    json_t *user;
    size_t k, extra;
    const char *sur, *g1, *g2;
    bool active, admin;
    json_int_t order, hired;
    char lead;

    snprintf(userid, sizeof(userid), "%" PRIu64, id_base + (uint64_t) i * 7919);
    rng_text(r, unionid, 14);
    snprintf(unionid + 14, sizeof(unionid) - 14, "iE%zx", i);
    /* One draw per statement: argument evaluation order is unspecified. */
    g2 = rng_below(r, 3) == 0 ? "" : PICK(r, given);
    sur = PICK(r, surnames);
    g1 = PICK(r, given);
    snprintf(name, sizeof(name), "%s%s%s", sur, g1, g2);
    lead = "35789"[rng_below(r, 5)];
    snprintf(mobile, sizeof(mobile), "1%c%09" PRIu64, lead,
             (uint64_t) (((uint64_t) i * 104729 + id_base) % 1000000000u));
    snprintf(job, sizeof(job), "E%06zu", i + 1);

    /* Most people sit in one department; some in two or three. */
    if (rng_below(r, 20) == 0)
        json_array_append_new(list, json_integer(1));
    else
        json_array_append_new(list, json_integer(depts[1 + rng_below(r, n_depts - 1)].id));
    extra = rng_below(r, 100) < 15 ? 1 + (rng_below(r, 5) == 0) : 0;
    for (k = 0; k < extra; k++) {
        json_int_t id = depts[1 + rng_below(r, n_depts - 1)].id;
        json_t *v;
        size_t j;
        bool dup = false;

        json_array_foreach(list, j, v)
            dup = dup || json_integer_value(v) == id;
        if (!dup)
            json_array_append_new(list, json_integer(id));
    }
    active = rng_below(r, 100) < 92;
    admin = rng_below(r, 100) == 0 || i == 0;
    order = (json_int_t) rng_below(r, 1000);
    /* Hired between 2015-01-01 and late 2025, in milliseconds. */
    hired = (json_int_t) 1420070400000LL + (json_int_t) rng_below(r, 4000) * 86400000LL;
    user = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:b,s:b,s:b,s:I,s:I}",
                     "userid", userid, "unionid", unionid, "name", name,
                     "mobile", mobile, "state_code", "86", "job_number", job,
                     "dept_id_list", list, "active", active, "admin", admin,
                     "boss", i == 0, "dept_order", order, "hired_date", hired);
    if (rng_below(r, 10) < 7) {
        snprintf(email, sizeof(email), "emp%06zu@%s", i + 1, domain);
        json_object_set_new(user, "email", json_string(email));
    }
    if (rng_below(r, 5) != 0)
        json_object_set_new(user, "title", json_string(PICK(r, titles)));
    /* About one in 25 leads its first department. */
    if (rng_below(r, 25) == 0)
        json_object_set_new(user, "leader_in_dept",
                            json_pack("[O]", json_array_get(list, 0)));
    return user;
}

static void
link_managers(json_t *depts, json_t *users)
{
    json_t *user;
    size_t i;

    json_array_foreach(users, i, user) {
        json_t *lead = json_array_get(json_object_get(user, "leader_in_dept"), 0);
        json_t *dept;
        size_t j;

        if (lead == NULL)
            continue;
        json_array_foreach(depts, j, dept) {
            if (!json_equal(json_object_get(dept, "dept_id"), lead))
                continue;
            if (json_object_get(dept, "manager_userids") == NULL)
                json_object_set_new(dept, "manager_userids", json_array());
            json_array_append(json_object_get(dept, "manager_userids"),
                              json_object_get(user, "userid"));
            break;
        }
    }
}

/*
 * Generates one enterprise. shared (may be NULL) lists people who also
 * belong here: they keep unionid, name, mobile and email but get a userid
 * of this enterprise, as DingTalk assigns userids per enterprise.
 */
static json_t *
gen_org(uint64_t seed, size_t n_users, const char *corp, uint64_t id_base,
        json_t *shared)
{
    struct rng r = {seed};
    struct gen_dept *d = NULL;
    size_t n_depts, i;
    json_t *depts, *users, *doc;
    char key[32], secret[64], domain[64];

    rng_text(&r, key, 20);
    memcpy(key, "ding", 4);
    rng_text(&r, secret, 48);
    snprintf(domain, sizeof(domain), "%s.example.com", corp);
    for (i = 0; domain[i] != '\0'; i++)
        if (domain[i] >= 'A' && domain[i] <= 'Z')
            domain[i] = (char) (domain[i] - 'A' + 'a');
    depts = gen_depts(&r, n_users, &d, &n_depts);
    users = json_array();
    for (i = 0; i < n_users; i++) {
        json_t *u = gen_user(&r, i, id_base, domain, d, n_depts);
        json_t *s = json_array_get(shared, i);

        if (s != NULL) {
            json_object_set(u, "unionid", json_object_get(s, "unionid"));
            json_object_set(u, "name", json_object_get(s, "name"));
            json_object_set(u, "mobile", json_object_get(s, "mobile"));
            if (json_object_get(s, "email") != NULL)
                json_object_set(u, "email", json_object_get(s, "email"));
        }
        json_array_append_new(users, u);
    }
    link_managers(depts, users);
    rs_free(d);
    doc = json_pack("{s:s,s:{s:s,s:s},s:o,s:o,s:{s:[i],s:[]}}",
                    "corp_id", corp, "app", "key", key, "secret", secret,
                    "departments", depts, "users", users,
                    "scope", "dept_ids", 1, "user_ids");
    return doc;
}

static int
write_doc(json_t *doc, const char *path)
{
    FILE *f = path == NULL ? stdout : fopen(path, "w");
    int bad;

    if (f == NULL) {
        fprintf(stderr, "roster-dingtalk-sim: could not open \"%s\": %s\n", path,
                strerror(errno));
        return 1;
    }
    /* One user per line keeps large fixtures greppable and diffable. */
    bad = json_dumpf(doc, f, JSON_INDENT(1) | JSON_COMPACT) != 0;
    bad |= fputc('\n', f) == EOF;
    if (path != NULL)
        bad |= fclose(f) != 0;
    else
        bad |= fflush(f) != 0;
    if (bad) {
        fprintf(stderr, "roster-dingtalk-sim: could not write \"%s\"\n",
                path != NULL ? path : "stdout");
        return 1;
    }
    return 0;
}

static bool
parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (text[0] == '-')
        return false;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int
sim_generate_main(int argc, char **argv)
{
    uint64_t users = 0, seed = 0, shared = 1;
    bool have_users = false, have_seed = false;
    const char *corp = NULL, *out = NULL, *second = NULL;
    char corp_buf[40], corp2[48];
    json_t *doc = NULL, *doc2 = NULL, *head;
    int i, rc = 2;

    for (i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--users") == 0)
            have_users = parse_u64(argv[i + 1], 20, 1000000, &users);
        else if (strcmp(argv[i], "--seed") == 0)
            have_seed = parse_u64(argv[i + 1], 0, UINT64_MAX, &seed);
        else if (strcmp(argv[i], "--shared") == 0 && parse_u64(argv[i + 1], 1, 1000, &shared))
            continue;
        else if (strcmp(argv[i], "--corp") == 0)
            corp = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[i + 1];
        else if (strcmp(argv[i], "--second") == 0)
            second = argv[i + 1];
        else
            break;
    }
    if (i != argc || !have_users || !have_seed) {
        fprintf(stderr, "roster-dingtalk-sim: generate needs --users N (20..1000000) "
                        "and --seed S; options --corp, --out, --second FILE, --shared N\n");
        return 2;
    }
    if (corp == NULL) {
        struct rng r = {seed ^ 0x636f7270ULL};

        snprintf(corp_buf, sizeof(corp_buf), "ding%016" PRIx64, rng_next(&r));
        corp = corp_buf;
    }
    doc = gen_org(seed, (size_t) users, corp, 2500000000ULL, NULL);
    rc = write_doc(doc, out);
    if (rc == 0 && second != NULL) {
        size_t n2 = (size_t) users / 10 < 20 ? 20 : (size_t) users / 10;

        if (shared > n2 || shared > users) {
            fprintf(stderr, "roster-dingtalk-sim: --shared %" PRIu64 " exceeds the "
                            "second enterprise's %zu users\n", shared, n2);
            rc = 2;
            goto out;
        }
        head = json_array();
        for (i = 0; (uint64_t) i < shared; i++)
            json_array_append(head, json_array_get(json_object_get(doc, "users"),
                                                   (size_t) i));
        snprintf(corp2, sizeof(corp2), "%s-b", corp);
        doc2 = gen_org(seed ^ 0x5eed5eedULL, n2, corp2, 3600000000ULL, head);
        json_decref(head);
        rc = write_doc(doc2, second);
    }
out:
    json_decref(doc);
    json_decref(doc2);
    return rc;
}
