/*
 * services/sync/tests/test_dingtalk.c
 *    The DingTalk client against the real simulator (roster-dingtalk-sim)
 *    over loopback HTTP. Each case starts its own simulator on a free port;
 *    the first argument picks one case so ctest lists them one by one.
 *    Environment: SIM_BIN (the simulator), SIM_FIXTURES (its fixtures
 *    directory), TEST_TMPDIR (a writable directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dingtalk.h"
#include "roster/clock.h"

#define SMALL_KEY "dingsmallappkey01"
#define SMALL_SECRET "small-secret-0123456789abcdef"

struct sim {
    pid_t pid;
    int port;
    char log_path[512];
    char base[64];
};

/* The simulator process of the running case, stopped by the teardown when
 * an assertion ends the case early (its struct sim is gone by then). */
static pid_t running_sim_pid;

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

static const char *
env_or_fail(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0') {
        fprintf(stderr, "environment variable %s is not set\n", name);
        exit(2);
    }
    return v;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t) n + 1);
    if (buf != NULL && fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void
small_fixture(char *out, size_t size)
{
    snprintf(out, size, "%s/small.json", env_or_fail("SIM_FIXTURES"));
}

/* Starts the simulator on fixture with extra serve options (NULL-terminated). */
static void
sim_start(struct sim *s, const char *fixture, ...)
{
    const char *argv[32];
    const char *arg;
    va_list ap;
    int argc = 0, i, fd;
    char *log;
    const char *p;

    memset(s, 0, sizeof(*s));
    snprintf(s->log_path, sizeof(s->log_path), "%s/sim-%d.log", env_or_fail("TEST_TMPDIR"),
             (int) getpid());
    argv[argc++] = env_or_fail("SIM_BIN");
    argv[argc++] = "serve";
    argv[argc++] = "--fixture";
    argv[argc++] = fixture;
    argv[argc++] = "--addr";
    argv[argc++] = "127.0.0.1:0";
    va_start(ap, fixture);
    while ((arg = va_arg(ap, const char *)) != NULL && argc < 30)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;

    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        /* A sanitizer abort skips the teardown: the simulator goes with us. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, STDERR_FILENO);
        /* ctest waits for every holder of the test's stdout to exit. */
        fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, STDOUT_FILENO);
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    running_sim_pid = s->pid;
    for (i = 0; i < 200 && s->port == 0; i++) {
        sleep_ms(25);
        log = read_file(s->log_path);
        if (log != NULL && (p = strstr(log, "msg=listening")) != NULL
            && (p = strstr(p, "port=")) != NULL)
            s->port = atoi(p + 5);
        free(log);
    }
    assert_true(s->port > 0);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

/* Stops the simulator; fails the test unless it exited cleanly without a
 * sanitizer report. */
static void
sim_stop(struct sim *s)
{
    int status = 0;
    char *log;

    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
    s->pid = 0;
    running_sim_pid = 0;
    log = read_file(s->log_path);
    assert_non_null(log);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strstr(log, "Sanitizer") != NULL
        || strstr(log, "runtime error") != NULL)
        fail_msg("simulator exited badly:\n%s", log);
    free(log);
    unlink(s->log_path);
}

static int
kill_running_sim(void **state)
{
    (void) state;
    if (running_sim_pid > 0) {
        kill(running_sim_pid, SIGKILL);
        waitpid(running_sim_pid, NULL, 0);
    }
    running_sim_pid = 0;
    return 0;
}

struct buf {
    char *data;
    size_t len;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    char *grown = realloc(b->data, b->len + size * nmemb + 1);

    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, data, size * nmemb);
    b->len += size * nmemb;
    b->data[b->len] = '\0';
    return size * nmemb;
}

/* A plain HTTP exchange with the simulator; returns the parsed body. */
static json_t *
sim_http(struct sim *s, const char *path, const char *post)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct buf b = {NULL, 0};
    char url[1024];
    long status = 0;
    json_t *doc;

    assert_non_null(c);
    snprintf(url, sizeof(url), "%s/%s", s->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (post != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    doc = json_loads(b.data == NULL ? "" : b.data, 0, NULL);
    if (status != 200 || doc == NULL)
        fail_msg("simulator request %s failed with HTTP %ld: %s", path, status,
                 b.data == NULL ? "" : b.data);
    free(b.data);
    return doc;
}

/* Sends one control operation (JSON text) and asserts it was applied. */
static void
sim_control(struct sim *s, const char *op_json)
{
    json_t *reply = sim_http(s, "_sim/control", op_json);

    assert_true(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
}

/* Calls made to one API path so far. */
static long
sim_calls(struct sim *s, const char *api)
{
    json_t *stats = sim_http(s, "_sim/stats", NULL);
    long n = (long) json_integer_value(json_object_get(json_object_get(stats, "apis"), api));

    json_decref(stats);
    return n;
}

static struct dt_client *
client_new(struct sim *s, const char *secret, struct dt_config *over)
{
    struct dt_config cfg;
    struct dt_client *client = NULL;
    struct rs_error err;

    memset(&cfg, 0, sizeof(cfg));
    if (over != NULL)
        cfg = *over;
    cfg.endpoint = s->base;
    cfg.app_key = SMALL_KEY;
    cfg.app_secret = secret == NULL ? SMALL_SECRET : secret;
    if (cfg.ban_pause_ms == 0)
        cfg.ban_pause_ms = 100;
    if (cfg.throttle_pause_ms == 0)
        cfg.throttle_pause_ms = 100;
    if (cfg.timeout_ms == 0)
        cfg.timeout_ms = 5000;
    assert_int_equal(dt_client_create(&cfg, &client, &err), RS_OK);
    return client;
}

static const struct dt_department *
find_dept(const struct dt_org *org, int64_t id)
{
    size_t i;

    for (i = 0; i < org->n_depts; i++)
        if (org->depts[i].dept_id == id)
            return &org->depts[i];
    return NULL;
}

static const struct dt_user *
find_user(const struct dt_org *org, const char *userid)
{
    size_t i;

    for (i = 0; i < org->n_users; i++)
        if (strcmp(org->users[i].userid, userid) == 0)
            return &org->users[i];
    return NULL;
}

/* Every department's parent, when present in the result, comes earlier;
 * users are sorted and unique; every dept_ids list is sorted and unique. */
static void
assert_org_shape(const struct dt_org *org)
{
    size_t i, j;

    for (i = 0; i < org->n_depts; i++)
        for (j = i; j < org->n_depts; j++)
            assert_false(org->depts[j].dept_id == org->depts[i].parent_id);
    for (i = 1; i < org->n_users; i++)
        assert_true(strcmp(org->users[i - 1].userid, org->users[i].userid) < 0);
    for (i = 0; i < org->n_users; i++)
        for (j = 1; j < org->users[i].n_dept_ids; j++)
            assert_true(org->users[i].dept_ids[j - 1] < org->users[i].dept_ids[j]);
}

static void
assert_depts(const struct dt_user *u, const int64_t *ids, size_t n)
{
    size_t i;

    assert_non_null(u);
    assert_int_equal(u->n_dept_ids, n);
    for (i = 0; i < n; i++)
        assert_int_equal(u->dept_ids[i], ids[i]);
}

/* The small fixture, whole company visible: every department and user. */
static void
assert_small_org(const struct dt_org *org)
{
    static const int64_t parents[][2] = {
        {1, 0}, {100, 1}, {110, 100}, {111, 110}, {1111, 111}, {200, 1}, {300, 1}};
    static const int64_t lei[] = {100, 300};
    static const int64_t ana[] = {300, 1111};
    static const int64_t ji[] = {1111};
    const struct dt_department *d;
    const struct dt_user *u;
    size_t i;

    assert_org_shape(org);
    assert_int_equal(org->n_depts, 7);
    for (i = 0; i < 7; i++) {
        d = find_dept(org, parents[i][0]);
        assert_non_null(d);
        assert_int_equal(d->parent_id, parents[i][1]);
    }
    assert_string_equal(find_dept(org, 1)->name, "小型示例公司");
    assert_string_equal(find_dept(org, 1111)->name, "实时计算小组");
    assert_string_equal(find_dept(org, 300)->name, "Data Platform");
    assert_int_equal(org->n_users, 7);
    assert_depts(find_user(org, "lei.li"), lei, 2);
    assert_depts(find_user(org, "ana.wang"), ana, 2);
    assert_depts(find_user(org, "ji.ouyang"), ji, 1);
    u = find_user(org, "ji.ouyang");
    /* 𠮷 is outside the BMP: four bytes that must come back unchanged. */
    assert_string_equal(u->name, "欧阳\xf0\xa0\xae\xb7");
    assert_string_equal(u->unionid, "uJiOuyang01iE");
    u = find_user(org, "lei.li");
    assert_string_equal(u->email, "lilei@example.org");
    assert_string_equal(u->title, "BI engineer");
    assert_string_equal(u->job_number, "E0001");
    assert_true(u->active);
    assert_false(find_user(org, "jie.zhou")->active);
    assert_string_equal(find_user(org, "jie.zhou")->email, "");
    assert_string_equal(find_user(org, "boss01")->mobile, "13800000001");
    assert_int_equal(org->n_skipped, 0);
    assert_int_equal(org->n_skipped_users, 0);
}

static void
fetch_ok(struct dt_client *client, struct dt_org *org)
{
    struct rs_error err;
    rs_status rc;

    rs_error_clear(&err);
    rc = dt_fetch_org(client, org, NULL, NULL, &err);
    if (rc != RS_OK)
        fail_msg("dt_fetch_org failed: %s: %s", err.reason, err.message);
}

static const char *
meta(const struct rs_error *err, const char *key)
{
    int i;

    for (i = 0; i < err->n_meta; i++)
        if (strcmp(err->meta_key[i], key) == 0)
            return err->meta_value[i];
    return "";
}

static void
expect_fetch_error(struct dt_client *client, rs_status code, const char *reason,
                   struct rs_error *err)
{
    struct dt_org org;
    rs_status rc;

    rs_error_clear(err);
    rc = dt_fetch_org(client, &org, NULL, NULL, err);
    if (rc != code || strcmp(err->reason, reason) != 0)
        fail_msg("expected %s/%s, got %s/%s: %s", rs_status_name(code), reason,
                 rs_status_name(rc), err->reason, err->message);
    assert_int_equal(org.n_depts, 0);
    assert_int_equal(org.n_users, 0);
    assert_null(strstr(err->message, SMALL_SECRET));
}

/* ---- the whole tree ---- */

static void
small_tree_all_levels(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    client = client_new(&s, NULL, NULL);
    fetch_ok(client, &org);
    assert_small_org(&org);
    /* gettoken, auth/scopes, department/get of the root, then listsub and
     * one user/list page for each of the 7 departments. */
    assert_int_equal(org.n_calls, 17);
    assert_int_equal(sim_calls(&s, "topapi/v2/department/listsub"), 7);
    assert_int_equal(sim_calls(&s, "topapi/v2/user/list"), 7);
    dt_org_free(&org);

    /* A second walk reuses the cached token. */
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_int_equal(org.n_calls, 16);
    assert_int_equal(sim_calls(&s, "gettoken"), 1);
    dt_org_free(&org);
    dt_client_destroy(client);
    sim_stop(&s);
}

/* Generates a company of users members into a new file, writes its name
 * to path and returns its document, owned by the caller. */
static json_t *
generate(int users, int seed, char *path, size_t size)
{
    char cmd[1200];
    json_t *doc;

    snprintf(path, size, "%s/gen-%d-%d.json", env_or_fail("TEST_TMPDIR"), (int) getpid(),
             seed);
    snprintf(cmd, sizeof(cmd), "'%s' generate --users %d --seed %d --out '%s'",
             env_or_fail("SIM_BIN"), users, seed, path);
    assert_int_equal(system(cmd), 0);
    doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    return doc;
}

static struct dt_client *
generated_client(const struct sim *s, const json_t *doc, int concurrency)
{
    const json_t *app = json_object_get(doc, "app");
    struct dt_config cfg;
    struct dt_client *client = NULL;
    struct rs_error err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint = s->base;
    cfg.app_key = json_string_value(json_object_get(app, "key"));
    cfg.app_secret = json_string_value(json_object_get(app, "secret"));
    cfg.rate_per_api = 100000;
    cfg.concurrency = concurrency; /* 0: the default */
    assert_int_equal(dt_client_create(&cfg, &client, &err), RS_OK);
    return client;
}

/* A generated 5-level company: every department, user, parent link and
 * multi-department membership matches the fixture, byte for byte. */
static void
generated_tree_matches_fixture(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    char path[512];
    json_t *doc, *d, *u, *v;
    const struct dt_department *got;
    const struct dt_user *gu;
    size_t i, j, multi = 0;
    int64_t ids[16];
    size_t n;

    (void) state;
    doc = generate(600, 7, path, sizeof(path));
    sim_start(&s, path, NULL);
    client = generated_client(&s, doc, 0);
    fetch_ok(client, &org);
    assert_org_shape(&org);

    assert_int_equal(org.n_depts, json_array_size(json_object_get(doc, "departments")));
    json_array_foreach(json_object_get(doc, "departments"), i, d) {
        got = find_dept(&org, json_integer_value(json_object_get(d, "dept_id")));
        assert_non_null(got);
        assert_int_equal(got->parent_id, json_integer_value(json_object_get(d, "parent_id")));
        assert_string_equal(got->name, json_string_value(json_object_get(d, "name")));
    }
    assert_int_equal(org.n_users, json_array_size(json_object_get(doc, "users")));
    json_array_foreach(json_object_get(doc, "users"), i, u) {
        gu = find_user(&org, json_string_value(json_object_get(u, "userid")));
        assert_non_null(gu);
        assert_string_equal(gu->name, json_string_value(json_object_get(u, "name")));
        assert_string_equal(gu->unionid, json_string_value(json_object_get(u, "unionid")));
        n = 0;
        json_array_foreach(json_object_get(u, "dept_id_list"), j, v)
            ids[n++] = json_integer_value(v);
        for (j = 1; j < n; j++) {
            int64_t key = ids[j];
            size_t k = j;

            while (k > 0 && ids[k - 1] > key) {
                ids[k] = ids[k - 1];
                k--;
            }
            ids[k] = key;
        }
        assert_depts(gu, ids, n);
        if (n > 1)
            multi++;
    }
    /* The generator puts about 15% of users in several departments. */
    assert_true(multi > 30);
    dt_org_free(&org);
    dt_client_destroy(client);
    json_decref(doc);
    unlink(path);
    sim_stop(&s);
}

/*
 * Eight requests in flight give the same organisation as one, in the same
 * order, with the same calls. A failure halfway still fails the walk and
 * leaves nothing behind.
 */
static void
concurrent_walk_matches_one_connection(void **state)
{
    struct sim s;
    struct dt_client *single, *eight;
    struct dt_org a, b;
    struct rs_error err;
    char path[512];
    json_t *doc;
    long listed;
    size_t i;

    (void) state;
    doc = generate(4000, 11, path, sizeof(path));
    sim_start(&s, path, NULL);
    /* Unthrottled, so that retries do not make the call counts differ. */
    sim_control(&s, "{\"op\":\"config\",\"rate_limit\":0}");
    single = generated_client(&s, doc, 1);
    eight = generated_client(&s, doc, 8);
    fetch_ok(single, &a);
    listed = sim_calls(&s, "topapi/v2/user/list");
    fetch_ok(eight, &b);
    assert_int_equal(sim_calls(&s, "topapi/v2/user/list"), 2 * listed);
    assert_int_equal(a.n_calls, b.n_calls);
    assert_true(a.n_depts > 3 * 8 * 8); /* several batches of 8 connections */
    assert_int_equal(a.n_depts, b.n_depts);
    for (i = 0; i < a.n_depts; i++) {
        assert_int_equal(a.depts[i].dept_id, b.depts[i].dept_id);
        assert_int_equal(a.depts[i].parent_id, b.depts[i].parent_id);
        assert_string_equal(a.depts[i].name, b.depts[i].name);
    }
    assert_int_equal(a.n_users, b.n_users);
    for (i = 0; i < a.n_users; i++) {
        assert_string_equal(a.users[i].userid, b.users[i].userid);
        assert_string_equal(a.users[i].name, b.users[i].name);
        assert_depts(&b.users[i], a.users[i].dept_ids, a.users[i].n_dept_ids);
    }
    dt_org_free(&b);

    /* The 20th user/list call from now is denied: the walk fails with that error,
     * and the other connections stop taking departments. */
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/user/list\",\"kind\":"
                    "\"error\",\"errcode\":60011,\"at\":20}");
    rs_error_clear(&err);
    assert_int_equal(dt_fetch_org(eight, &b, NULL, NULL, &err), RS_EPERM);
    assert_string_equal(err.reason, "DINGTALK_PERMISSION_DENIED");
    assert_int_equal(b.n_depts, 0);
    assert_int_equal(b.n_users, 0);
    assert_true(sim_calls(&s, "topapi/v2/user/list") < 3 * listed);

    dt_org_free(&a);
    dt_client_destroy(single);
    dt_client_destroy(eight);
    json_decref(doc);
    unlink(path);
    sim_stop(&s);
}

static bool
revoke_and_break_gettoken(void *arg, size_t depts_done, size_t users_seen)
{
    struct sim *s = arg;

    (void) users_seen;
    if (depts_done == 1) {
        sim_control(s, "{\"op\":\"token.invalidate\",\"mode\":\"revoke\"}");
        sim_control(s, "{\"op\":\"fault.add\",\"api\":\"gettoken\",\"kind\":\"error\","
                       "\"errcode\":-1,\"count\":1000}");
    }
    return true;
}

/*
 * When the token dies and every refetch fails, the connections that waited
 * for the failed fetch report its error: the retries run about once, not
 * once per connection.
 */
static void
failed_token_fetch_not_repeated(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_config cfg;
    struct dt_org org;
    struct rs_error err;
    char path[512];
    json_t *doc;
    long before;

    (void) state;
    doc = generate(600, 7, path, sizeof(path));
    sim_start(&s, path, NULL);
    sim_control(&s, "{\"op\":\"config\",\"rate_limit\":0}");
    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint = s.base;
    cfg.app_key = json_string_value(json_object_get(json_object_get(doc, "app"), "key"));
    cfg.app_secret = json_string_value(json_object_get(json_object_get(doc, "app"), "secret"));
    cfg.rate_per_api = 100000;
    cfg.concurrency = 8;
    cfg.max_attempts = 3;
    client = NULL;
    assert_int_equal(dt_client_create(&cfg, &client, &err), RS_OK);
    before = sim_calls(&s, "gettoken");
    rs_error_clear(&err);
    assert_int_equal(dt_fetch_org(client, &org, revoke_and_break_gettoken, &s, &err),
                     RS_EUNAVAIL);
    assert_string_equal(err.reason, "DINGTALK_UNAVAILABLE");
    assert_string_equal(meta(&err, "api"), "gettoken");
    /* The first token, then one series of 3 attempts; a second series only
     * if a request began after the first had failed. */
    assert_true(sim_calls(&s, "gettoken") - before <= 1 + 2 * 3);
    dt_client_destroy(client);
    json_decref(doc);
    unlink(path);
    sim_stop(&s);
}

/* 250 extra members in one department take three user/list pages. */
static void
paging_over_100_members(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    char fixture[512], path[512], userid[32], name[64];
    json_t *doc, *users;
    const struct dt_user *u;
    int i;

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    doc = json_load_file(fixture, 0, NULL);
    assert_non_null(doc);
    users = json_object_get(doc, "users");
    for (i = 0; i < 250; i++) {
        snprintf(userid, sizeof(userid), "p%03d", i);
        snprintf(name, sizeof(name), "测试员%03d", i);
        json_array_append_new(users, json_pack("{s:s,s:s,s:s,s:[i,i],s:b}", "userid", userid,
                                               "unionid", userid, "name", name,
                                               "dept_id_list", 110, 300, "active", 1));
    }
    snprintf(path, sizeof(path), "%s/paging-%d.json", env_or_fail("TEST_TMPDIR"),
             (int) getpid());
    assert_int_equal(json_dump_file(doc, path, 0), 0);
    json_decref(doc);

    sim_start(&s, path, NULL);
    client = client_new(&s, NULL, NULL);
    fetch_ok(client, &org);
    assert_org_shape(&org);
    assert_int_equal(org.n_users, 257);
    for (i = 0; i < 250; i++) {
        static const int64_t both[] = {110, 300};

        snprintf(userid, sizeof(userid), "p%03d", i);
        snprintf(name, sizeof(name), "测试员%03d", i);
        u = find_user(&org, userid);
        assert_depts(u, both, 2);
        assert_string_equal(u->name, name);
    }
    /* 110 and 300 hold 251 members each: three pages apiece. */
    assert_int_equal(sim_calls(&s, "topapi/v2/user/list"), 7 + 2 + 2);
    assert_int_equal(org.n_calls, 17 + 4);
    dt_org_free(&org);
    dt_client_destroy(client);
    unlink(path);
    sim_stop(&s);
}

/* ---- scope ---- */

static void
scope_subtree_and_authed_user(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct dt_probe probe;
    struct rs_error err;
    char fixture[512];
    static const int64_t na[] = {200};

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    sim_control(&s, "{\"op\":\"scope.set\",\"dept_ids\":[110],"
                    "\"user_ids\":[\"na.zhang\",\"boss01\"]}");
    client = client_new(&s, NULL, NULL);
    /* boss01 cannot be read because user/get returns 60121 for it. */
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/user/get\",\"kind\":\"error\","
                    "\"at\":2,\"errcode\":60121,\"errmsg\":\"找不到该用户\"}");
    fetch_ok(client, &org);
    assert_org_shape(&org);
    assert_int_equal(org.n_scope_depts, 1);
    assert_int_equal(org.scope_dept_ids[0], 110);
    assert_int_equal(org.n_depts, 3);
    assert_int_equal(org.depts[0].dept_id, 110);
    assert_int_equal(org.depts[0].parent_id, 100);
    assert_string_equal(org.depts[0].name, "平台部");
    assert_non_null(find_dept(&org, 111));
    assert_non_null(find_dept(&org, 1111));
    assert_null(find_dept(&org, 1));
    /* mei.han, jie.zhou, ji.ouyang, ana.wang (through 1111) and na.zhang. */
    assert_int_equal(org.n_users, 5);
    assert_non_null(find_user(&org, "ana.wang"));
    assert_depts(find_user(&org, "na.zhang"), na, 1);
    assert_null(find_user(&org, "boss01"));
    assert_int_equal(org.n_skipped_users, 1);
    assert_string_equal(org.skipped_userids[0], "boss01");
    assert_int_equal(org.n_skipped, 0);
    dt_org_free(&org);

    rs_error_clear(&err);
    assert_int_equal(dt_probe(client, &probe, &err), RS_OK);
    assert_int_equal(probe.n_scope_depts, 1);
    assert_int_equal(probe.scope_dept_ids[0], 110);
    assert_int_equal(probe.n_scope_users, 2);
    assert_string_equal(probe.scope_userids[0], "na.zhang");
    assert_int_equal(probe.sample_member_count, 1);
    dt_probe_free(&probe);
    dt_client_destroy(client);
    sim_stop(&s);
}

struct shrink_arg {
    struct sim *sim;
    int calls;
};

static bool
shrink_after_root(void *arg, size_t depts_done, size_t users_seen)
{
    struct shrink_arg *a = arg;

    (void) users_seen;
    a->calls++;
    if (depts_done == 1)
        sim_control(a->sim, "{\"op\":\"scope.set\",\"dept_ids\":[100,300],\"user_ids\":[]}");
    return true;
}

/* The scope shrinks after the root is read: 市场部 (200) returns 50004 and
 * is skipped with its members, and the walk still succeeds. */
static void
scope_shrink_skips_50004_branch(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct rs_error err;
    struct shrink_arg arg = {NULL, 0};
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    arg.sim = &s;
    client = client_new(&s, NULL, NULL);
    rs_error_clear(&err);
    assert_int_equal(dt_fetch_org(client, &org, shrink_after_root, &arg, &err), RS_OK);
    assert_org_shape(&org);
    assert_int_equal(org.n_skipped, 1);
    assert_int_equal(org.skipped_dept_ids[0], 200);
    assert_null(find_dept(&org, 200));
    assert_int_equal(org.n_depts, 6);
    assert_null(find_user(&org, "na.zhang"));
    assert_non_null(find_user(&org, "boss01"));
    assert_int_equal(org.n_users, 6);
    /* Once per department read, the skipped one included. */
    assert_int_equal(arg.calls, 7);
    dt_org_free(&org);
    dt_client_destroy(client);
    sim_stop(&s);
}

static bool
cancel_at_two(void *arg, size_t depts_done, size_t users_seen)
{
    (void) arg;
    (void) users_seen;
    return depts_done < 2;
}

static void
progress_false_cancels(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct rs_error err;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    client = client_new(&s, NULL, NULL);
    rs_error_clear(&err);
    assert_int_equal(dt_fetch_org(client, &org, cancel_at_two, NULL, &err), RS_ECANCELLED);
    assert_string_equal(err.reason, "DINGTALK_WALK_CANCELLED");
    assert_int_equal(org.n_depts, 0);
    dt_client_destroy(client);
    sim_stop(&s);
}

/* ---- permissions and configuration ---- */

static void
check_denied(struct sim *s, const char *api, const char *permission)
{
    struct dt_client *client = client_new(s, NULL, NULL);
    struct rs_error err;

    expect_fetch_error(client, RS_EPERM, "DINGTALK_PERMISSION_DENIED", &err);
    assert_non_null(strstr(err.message, api));
    assert_non_null(strstr(err.message, permission));
    assert_non_null(strstr(err.message, "没有调用该接口的权限"));
    assert_string_equal(meta(&err, "api"), api);
    assert_string_equal(meta(&err, "errcode"), "60011");
    dt_client_destroy(client);
}

static void
deny_api_fails_with_permission(void **state)
{
    struct sim s;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, "--deny-api", "topapi/v2/department/listsub", NULL);
    /* The default envelope wraps 60011 under errcode 88. */
    check_denied(&s, "topapi/v2/department/listsub", "qyapi_get_department_list");
    sim_control(&s, "{\"op\":\"config\",\"envelope\":\"bare\","
                    "\"denied_apis\":[\"topapi/v2/user/list\"]}");
    check_denied(&s, "topapi/v2/user/list", "qyapi_get_department_member");
    sim_stop(&s);
}

static void
configuration_errors(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct rs_error err;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);

    client = client_new(&s, "wrong-secret", NULL);
    expect_fetch_error(client, RS_EPRECOND, "DINGTALK_CREDENTIALS_INVALID", &err);
    assert_string_equal(meta(&err, "errcode"), "40096");
    assert_null(strstr(err.message, "wrong-secret"));
    dt_client_destroy(client);

    client = client_new(&s, NULL, NULL);
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"gettoken\",\"kind\":\"error\","
                    "\"errcode\":40001,\"errmsg\":\"invalid credential\"}");
    expect_fetch_error(client, RS_EPRECOND, "DINGTALK_CREDENTIALS_INVALID", &err);
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"auth/scopes\",\"kind\":\"error\","
                    "\"errcode\":60020,\"errmsg\":\"访问ip不在白名单之中\"}");
    expect_fetch_error(client, RS_EPRECOND, "DINGTALK_IP_NOT_ALLOWED", &err);
    assert_non_null(strstr(err.message, "访问ip不在白名单之中"));
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/department/get\","
                    "\"kind\":\"error\",\"errcode\":43007,\"errmsg\":\"需要授权\"}");
    expect_fetch_error(client, RS_EPERM, "DINGTALK_PERMISSION_DENIED", &err);
    assert_string_equal(meta(&err, "api"), "topapi/v2/department/get");
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/department/listsub\","
                    "\"kind\":\"error\",\"errcode\":400002,\"errmsg\":\"无效的参数\"}");
    expect_fetch_error(client, RS_EINTERNAL, "DINGTALK_ERROR", &err);
    assert_string_equal(meta(&err, "errcode"), "400002");
    assert_string_equal(meta(&err, "api"), "topapi/v2/department/listsub");
    dt_client_destroy(client);
    sim_stop(&s);
}

/* ---- tokens ---- */

static bool
revoke_at_three(void *arg, size_t depts_done, size_t users_seen)
{
    (void) users_seen;
    if (depts_done == 3)
        sim_control(arg, "{\"op\":\"token.invalidate\",\"mode\":\"revoke\"}");
    if (depts_done == 5)
        sim_control(arg, "{\"op\":\"token.invalidate\",\"mode\":\"expire\"}");
    return true;
}

static void
token_invalidated_mid_walk(void **state)
{
    static const char *const envelopes[] = {"wrapped", "bare"};
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct rs_error err;
    char fixture[512], op[128];
    size_t i;

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    for (i = 0; i < 2; i++) {
        snprintf(op, sizeof(op), "{\"op\":\"config\",\"envelope\":\"%s\"}", envelopes[i]);
        sim_control(&s, op);
        client = client_new(&s, NULL, NULL);
        rs_error_clear(&err);
        if (dt_fetch_org(client, &org, revoke_at_three, &s, &err) != RS_OK)
            fail_msg("%s envelope: %s", envelopes[i], err.message);
        assert_small_org(&org);
        /* One token at the start, one after each invalidation. */
        assert_int_equal(sim_calls(&s, "gettoken"), 3 * (long) (i + 1));
        dt_org_free(&org);
        dt_client_destroy(client);
    }
    sim_stop(&s);
}

/* A token revoked for good keeps failing after the one refetch. */
static void
token_rejected_twice_fails(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct rs_error err;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    client = client_new(&s, NULL, NULL);
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"auth/scopes\",\"kind\":\"error\","
                    "\"count\":5,\"errcode\":40014,\"errmsg\":\"不合法的access_token\","
                    "\"envelope\":\"wrapped\"}");
    expect_fetch_error(client, RS_EINTERNAL, "DINGTALK_ERROR", &err);
    assert_string_equal(meta(&err, "errcode"), "40014");
    assert_int_equal(sim_calls(&s, "auth/scopes"), 2);
    assert_int_equal(sim_calls(&s, "gettoken"), 2);
    dt_client_destroy(client);
    sim_stop(&s);
}

/* Tokens live 2 s; with 150 ms per call the walk outlives several, and the
 * client refreshes before expiry instead of waiting for 42001. */
static void
token_expiry_refreshes_early(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    char fixture[512], *log;

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, "--token-ttl", "2", "--latency-ms", "150", "--log-level", "debug",
              NULL);
    client = client_new(&s, NULL, NULL);
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_true(sim_calls(&s, "gettoken") >= 2);
    dt_org_free(&org);
    dt_client_destroy(client);
    log = read_file(s.log_path);
    assert_non_null(log);
    assert_null(strstr(log, "42001"));
    free(log);
    sim_stop(&s);
}

/* ---- throttling, bans, faults ---- */

static void
throttle_90018_recovers(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct dt_config cfg;
    char fixture[512];
    long sent;

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, "--rate-limit", "2", NULL);

    /* A limiter far above the server's limit: 90018 comes back, the client
     * backs off and still finishes. */
    memset(&cfg, 0, sizeof(cfg));
    cfg.rate_per_api = 1000;
    cfg.throttle_pause_ms = 400;
    cfg.max_attempts = 10;
    client = client_new(&s, NULL, &cfg);
    fetch_ok(client, &org);
    assert_small_org(&org);
    sent = sim_calls(&s, "topapi/v2/department/listsub") + sim_calls(&s, "topapi/v2/user/list");
    assert_true(sent > 14);
    assert_true(org.n_calls > 17);
    dt_org_free(&org);
    dt_client_destroy(client);

    /* A limiter at the server's rate: no call is refused at all. */
    sleep_ms(1100);
    cfg.rate_per_api = 2;
    cfg.max_attempts = 1;
    client = client_new(&s, NULL, &cfg);
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_int_equal(org.n_calls, 17);
    dt_org_free(&org);

    /* 90002, the global per-API limit, twice in a row; the per-app limit is
     * off so that the count of calls is exact. */
    sim_control(&s, "{\"op\":\"config\",\"rate_limit\":0}");
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/user/list\",\"kind\":\"error\","
                    "\"count\":2,\"errcode\":90002,\"errmsg\":\"请求总次数超过了 300 次\"}");
    dt_client_destroy(client);
    cfg.max_attempts = 3;
    client = client_new(&s, NULL, &cfg);
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_int_equal(org.n_calls, 17 + 2);
    dt_org_free(&org);
    dt_client_destroy(client);
    sim_stop(&s);
}

/* Returns true from the Nth call on; *arg counts the calls down. */
static bool
cancel_after_calls(void *arg)
{
    int *left = arg;

    return --*left <= 0;
}

static void
ip_ban_pauses_then_fails(void **state)
{
    int64_t start;
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct dt_config cfg;
    struct rs_error err;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);

    /* 8 calls per second per address, then a 1 s ban served as HTML. */
    sim_control(&s, "{\"op\":\"config\",\"ip_limit\":8,\"ip_window\":1,\"ban_seconds\":1,"
                    "\"ban_body\":\"html\"}");
    memset(&cfg, 0, sizeof(cfg));
    cfg.rate_per_api = 1000;
    cfg.ban_pause_ms = 1100;
    client = client_new(&s, NULL, &cfg);
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_true(org.n_calls > 17);
    dt_org_free(&org);
    dt_client_destroy(client);

    /* The JSON ban body, twice, then normal service. */
    sim_control(&s, "{\"op\":\"config\",\"ip_limit\":0}");
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/department/listsub\","
                    "\"kind\":\"json_ban\",\"count\":2}");
    cfg.ban_pause_ms = 50;
    client = client_new(&s, NULL, &cfg);
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_int_equal(org.n_calls, 17 + 2);
    dt_org_free(&org);

    /* Still banned after every pause. */
    sim_control(&s, "{\"op\":\"ip.ban\",\"ip\":\"127.0.0.1\",\"seconds\":60}");
    expect_fetch_error(client, RS_EUNAVAIL, "DINGTALK_BANNED", &err);
    dt_client_destroy(client);

    /* A long ban pause ends as soon as the cancel hook returns true. */
    cfg.ban_pause_ms = 60000;
    cfg.cancelled = cancel_after_calls;
    cfg.cancel_arg = &(int){ 3 };
    client = client_new(&s, NULL, &cfg);
    start = rs_clock_ms();
    expect_fetch_error(client, RS_ECANCELLED, "DINGTALK_CANCELLED", &err);
    assert_true(rs_clock_ms() - start < 5000);
    dt_client_destroy(client);
    sim_control(&s, "{\"op\":\"ip.unban\",\"ip\":\"127.0.0.1\"}");
    sim_stop(&s);
}

static void
busy_and_truncated_replies(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct dt_config cfg;
    struct rs_error err;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_attempts = 3;
    client = client_new(&s, NULL, &cfg);

    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/user/list\",\"kind\":\"error\","
                    "\"at\":3,\"count\":2,\"errcode\":-1,\"errmsg\":\"系统繁忙\"}");
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/department/listsub\","
                    "\"kind\":\"truncated\",\"at\":2,\"count\":2}");
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_int_equal(org.n_calls, 17 + 4);
    dt_org_free(&org);

    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"auth/scopes\",\"kind\":\"truncated\","
                    "\"count\":3}");
    expect_fetch_error(client, RS_EINTERNAL, "DINGTALK_BAD_RESPONSE", &err);
    assert_string_equal(meta(&err, "api"), "auth/scopes");
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"auth/scopes\",\"kind\":\"error\","
                    "\"count\":3,\"errcode\":-1,\"errmsg\":\"系统繁忙\"}");
    expect_fetch_error(client, RS_EUNAVAIL, "DINGTALK_UNAVAILABLE", &err);
    assert_string_equal(meta(&err, "errcode"), "-1");

    /* An unknown code under HTTP 500 is a server fault: retried like -1. */
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/user/list\",\"kind\":\"error\","
                    "\"at\":2,\"count\":1,\"errcode\":500,\"errmsg\":\"internal error\","
                    "\"http_status\":500}");
    fetch_ok(client, &org);
    assert_small_org(&org);
    dt_org_free(&org);
    dt_client_destroy(client);
    sim_stop(&s);
}

static void
slow_reply_times_out(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct dt_config cfg;
    struct rs_error err;
    char fixture[512];

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_attempts = 2;
    cfg.timeout_ms = 300;
    client = client_new(&s, NULL, &cfg);

    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/department/get\","
                    "\"kind\":\"delay\",\"delay_ms\":1000}");
    fetch_ok(client, &org);
    assert_small_org(&org);
    assert_int_equal(org.n_calls, 18);
    dt_org_free(&org);

    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"auth/scopes\",\"kind\":\"delay\","
                    "\"count\":2,\"delay_ms\":1000}");
    expect_fetch_error(client, RS_EUNAVAIL, "DINGTALK_UNAVAILABLE", &err);
    assert_string_equal(meta(&err, "api"), "auth/scopes");
    dt_client_destroy(client);
    sleep_ms(1200);
    sim_stop(&s);
}

/* ---- logging ---- */

/* Neither the app secret nor an access token reaches the log, while the
 * retries that were logged name the API and the errcode. */
static void
log_has_no_secret_or_token(void **state)
{
    struct sim s;
    struct dt_client *client;
    struct dt_org org;
    struct dt_config cfg;
    struct rs_error err;
    char fixture[512], path[512], *log;
    json_t *tok;
    const char *token;
    int saved, fd;

    (void) state;
    small_fixture(fixture, sizeof(fixture));
    sim_start(&s, fixture, NULL);
    snprintf(path, sizeof(path), "%s/client-%d.log", env_or_fail("TEST_TMPDIR"),
             (int) getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    rs_log_init("sync-test", RS_LOG_DEBUG);

    memset(&cfg, 0, sizeof(cfg));
    client = client_new(&s, NULL, &cfg);
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/user/list\",\"kind\":\"error\","
                    "\"errcode\":90018,\"errmsg\":\"频率超过限制\"}");
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"topapi/v2/department/listsub\","
                    "\"kind\":\"html\"}");
    fetch_ok(client, &org);
    dt_org_free(&org);
    sim_control(&s, "{\"op\":\"token.invalidate\",\"mode\":\"revoke\"}");
    fetch_ok(client, &org);
    dt_org_free(&org);
    sim_control(&s, "{\"op\":\"fault.add\",\"api\":\"auth/scopes\",\"kind\":\"truncated\","
                    "\"count\":10}");
    expect_fetch_error(client, RS_EINTERNAL, "DINGTALK_BAD_RESPONSE", &err);
    dt_client_destroy(client);

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    tok = sim_http(&s, "gettoken?appkey=" SMALL_KEY "&appsecret=" SMALL_SECRET, NULL);
    token = json_string_value(json_object_get(tok, "access_token"));
    assert_non_null(token);
    log = read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "api=topapi/v2/user/list errcode=90018 attempt=1"));
    assert_non_null(strstr(log, "api=topapi/v2/department/listsub errcode=0 attempt=1"));
    assert_non_null(strstr(log, "refreshing DingTalk access token"));
    assert_null(strstr(log, SMALL_SECRET));
    assert_null(strstr(log, token));
    assert_null(strstr(log, "access_token="));
    assert_null(strstr(err.message, token));
    free(log);
    json_decref(tok);
    unlink(path);
    sim_stop(&s);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(small_tree_all_levels, kill_running_sim),
        cmocka_unit_test_teardown(generated_tree_matches_fixture, kill_running_sim),
        cmocka_unit_test_teardown(concurrent_walk_matches_one_connection, kill_running_sim),
        cmocka_unit_test_teardown(failed_token_fetch_not_repeated, kill_running_sim),
        cmocka_unit_test_teardown(paging_over_100_members, kill_running_sim),
        cmocka_unit_test_teardown(scope_subtree_and_authed_user, kill_running_sim),
        cmocka_unit_test_teardown(scope_shrink_skips_50004_branch, kill_running_sim),
        cmocka_unit_test_teardown(progress_false_cancels, kill_running_sim),
        cmocka_unit_test_teardown(deny_api_fails_with_permission, kill_running_sim),
        cmocka_unit_test_teardown(configuration_errors, kill_running_sim),
        cmocka_unit_test_teardown(token_invalidated_mid_walk, kill_running_sim),
        cmocka_unit_test_teardown(token_rejected_twice_fails, kill_running_sim),
        cmocka_unit_test_teardown(token_expiry_refreshes_early, kill_running_sim),
        cmocka_unit_test_teardown(throttle_90018_recovers, kill_running_sim),
        cmocka_unit_test_teardown(ip_ban_pauses_then_fails, kill_running_sim),
        cmocka_unit_test_teardown(busy_and_truncated_replies, kill_running_sim),
        cmocka_unit_test_teardown(slow_reply_times_out, kill_running_sim),
        cmocka_unit_test_teardown(log_has_no_secret_or_token, kill_running_sim),
    };

    /* The client logs at warn and above unless a case sets a lower level. */
    rs_log_init("sync-test", RS_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
