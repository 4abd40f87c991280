/*
 * services/authz/tests/test_check_rpc.c
 *    Check, BatchCheck, Explain and ListAllowedResources over gRPC, on an
 *    in-process server with only these four methods, against a database of
 *    its own (engine_test_db.h); exits 77 without ROSTER_TEST_DATABASE_URL.
 *
 * Data: OWNER (organisation owner), DEV (developer, no membership), ANA
 * (analyst in CHILD, child of ROOT). Private workspace WS: OWNER [25],
 * group ROOT [27]. Dashboards D001..D030 in WS; ROOT may view every third
 * (D003, D006, ... D030).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "engine_test_db.h"
#include "roster/authz/v1/authz.pb-c.h"
#include "roster/rpc.h"

#define ORG "0000000000000000000000000000000a"
#define OTHER_ORG "0000000000000000000000000000000b"
#define OWNER "10000000000000000000000000000001"
#define DEV "10000000000000000000000000000002"
#define ANA "10000000000000000000000000000003"
#define NOBODY "1fffffffffffffffffffffffffffffff"
#define ROOT "20000000000000000000000000000001"
#define CHILD "20000000000000000000000000000002"
#define WS "30000000000000000000000000000001"
#define SVC "/roster.authz.v1.AuthzService/"
#define BI_TOKEN "bi-token-for-tests"
#define WEB_TOKEN "web-token-for-tests"

struct test_service {
    struct authz_engine *engine; /* first, as engine.h requires */
};

static char conninfo[2048];
static char tokens_path[64];
static rs_db_pool *pool;
static struct test_service service;
static rs_rpc_server *server;
static rs_rpc_client *bi;  /* token with scope "check" */
static rs_rpc_client *web; /* token without scopes */

#define METHOD(name, in, out, fn)                                                        \
    { SVC name, &roster__authz__v1__##in##__descriptor,                                 \
      &roster__authz__v1__##out##__descriptor, fn, RS_RPC_NEED_ACTOR }

static const struct rs_rpc_method methods[] = {
    METHOD("Check", check_request, check_response, authz_check),
    METHOD("BatchCheck", batch_check_request, batch_check_response, authz_batch_check),
    METHOD("Explain", check_request, explain_response, authz_explain),
    METHOD("ListAllowedResources", list_allowed_resources_request,
           list_allowed_resources_response, authz_list_allowed_resources),
};

static const struct rs_rpc_service rpc_service = {
    "roster.authz.v1.AuthzService", methods, sizeof(methods) / sizeof(methods[0]),
};

static void
write_tokens(void)
{
    char bi_hash[72], web_hash[72];
    FILE *f;
    int fd;

    assert_int_equal(rs_rpc_token_hash(BI_TOKEN, bi_hash), RS_OK);
    assert_int_equal(rs_rpc_token_hash(WEB_TOKEN, web_hash), RS_OK);
    snprintf(tokens_path, sizeof(tokens_path), "/tmp/authz-tokens-XXXXXX");
    fd = mkstemp(tokens_path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "bi %s check\nweb %s\n", bi_hash, web_hash);
    fclose(f);
}

static int
setup(void **state)
{
    struct rs_rpc_server_config cfg = {
        .service_name = "authz", .listen_addr = "127.0.0.1:0", .workers = 2,
    };
    struct rs_rpc_client_config bi_cfg = { .token = BI_TOKEN };
    struct rs_rpc_client_config web_cfg = { .token = WEB_TOKEN };
    struct rs_error err;
    char target[64];
    int port = 0;

    (void)state;
    etdb_create(conninfo, sizeof(conninfo), &pool);
    etdb_exec(conninfo,
              "BEGIN;"
              "INSERT INTO identity.organizations (id, name, edition, seat_total, owner_user_id) "
              "VALUES ('" ORG "', 'org', 2, 100, '" OWNER "'),"
              "       ('" OTHER_ORG "', 'other', 2, 100, '" NOBODY "');"
              "INSERT INTO identity.users (id, organization_id, nickname, user_type) VALUES "
              "('" OWNER "', '" ORG "', 'owner', 1), ('" DEV "', '" ORG "', 'dev', 1),"
              "('" ANA "', '" ORG "', 'ana', 3), ('" NOBODY "', '" OTHER_ORG "', 'x', 1);"
              "INSERT INTO identity.user_groups (id, organization_id, parent_id, name, depth, "
              "creator_user_id) VALUES ('" ROOT "', '" ORG "', NULL, 'root', 1, '" OWNER "'),"
              "('" CHILD "', '" ORG "', '" ROOT "', 'child', 2, '" OWNER "');"
              "INSERT INTO identity.user_group_members VALUES ('" CHILD "', '" ANA "');"
              "INSERT INTO authz.workspaces (id, organization_id, name, owner_user_id, mode) "
              "VALUES ('" WS "', '" ORG "', 'ws', '" OWNER "', 2);"
              "INSERT INTO authz.workspace_members (workspace_id, organization_id, principal_type,"
              " principal_id, principal_user_id, role_ids) VALUES "
              "('" WS "', '" ORG "', 1, '" OWNER "', '" OWNER "', '{25}'),"
              "('" WS "', '" ORG "', 2, '" ROOT "', NULL, '{27}');"
              "INSERT INTO authz.resources (organization_id, resource_type, resource_id, "
              "workspace_id) SELECT '" ORG "', 'dashboard', 'D' || lpad(i::text, 3, '0'), "
              "'" WS "' FROM generate_series(1, 30) i;"
              "INSERT INTO authz.grants (id, organization_id, resource_type, resource_id, "
              "subject_type, subject_id, level, expires_at, granted_by) "
              "SELECT lpad(to_hex(i), 32, '0'), '" ORG "', 'dashboard', "
              "'D' || lpad(i::text, 3, '0'), 2, '" ROOT "', 1, now() + interval '2 days', "
              "'" OWNER "' FROM generate_series(3, 30, 3) i;"
              "COMMIT");

    rs_error_clear(&err);
    assert_int_equal(authz_engine_create(pool, conninfo, &service.engine, &err), RS_OK);
    write_tokens();
    cfg.tokens_file = tokens_path;
    if (rs_rpc_server_create(&cfg, &server, &err) != RS_OK ||
        rs_rpc_server_add_service(server, &rpc_service, &service, &err) != RS_OK ||
        rs_rpc_server_start(server, &port, &err) != RS_OK)
        fail_msg("could not start the server: %s", err.message);
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    assert_int_equal(rs_rpc_client_create(target, &bi_cfg, &bi, &err), RS_OK);
    assert_int_equal(rs_rpc_client_create(target, &web_cfg, &web, &err), RS_OK);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    rs_rpc_client_destroy(bi);
    rs_rpc_client_destroy(web);
    rs_rpc_server_destroy(server);
    authz_engine_destroy(service.engine);
    etdb_drop(pool);
    unlink(tokens_path);
    return 0;
}

struct ask {
    rs_rpc_client *client;
    const char *actor;
    const char *org;
    const char *user;
    const char *permission;
    const char *type;
    const char *id;
    int consistency;
    const char *min_revision;
};

static void
fill_request(const struct ask *a, Roster__Authz__V1__CheckRequest *req,
             Roster__Authz__V1__Resource *res)
{
    roster__authz__v1__check_request__init(req);
    roster__authz__v1__resource__init(res);
    req->organization_id = (char *)(a->org ? a->org : ORG);
    req->user_id = (char *)(a->user ? a->user : "");
    req->permission = (char *)(a->permission ? a->permission : "view");
    res->type = (char *)(a->type ? a->type : "dashboard");
    res->id = (char *)a->id;
    req->resource = res;
    req->consistency = (Roster__Authz__V1__Consistency)a->consistency;
    req->min_revision = (char *)(a->min_revision ? a->min_revision : "");
    req->correlation_id = "corr";
}

/* Calls Check; returns the status and fills *out on success (free with protobuf_c). */
static rs_status
check(const struct ask *a, Roster__Authz__V1__CheckResponse **out, struct rs_error *err)
{
    Roster__Authz__V1__CheckRequest req;
    Roster__Authz__V1__Resource res;

    fill_request(a, &req, &res);
    rs_error_clear(err);
    return rs_rpc_client_call(a->client ? a->client : bi, SVC "Check", &req.base,
                              &roster__authz__v1__check_response__descriptor, NULL, a->actor,
                              5000, (ProtobufCMessage **)out, err);
}

static void
want_answer(const struct ask *a, bool allowed, const char *reason)
{
    Roster__Authz__V1__CheckResponse *resp = NULL;
    struct rs_error err;

    if (check(a, &resp, &err) != RS_OK)
        fail_msg("Check failed: %s %s", err.reason, err.message);
    assert_string_equal(resp->reason, reason);
    assert_int_equal(resp->allowed, allowed);
    assert_string_equal(resp->correlation_id, "corr");
    assert_true(resp->revision[0] == 'r');
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void
want_error(const struct ask *a, rs_status code, const char *reason)
{
    Roster__Authz__V1__CheckResponse *resp = NULL;
    struct rs_error err;

    assert_int_equal(check(a, &resp, &err), code);
    assert_string_equal(err.reason, reason);
}

static void
test_check_self_and_others(void **state)
{
    (void)state;
    want_answer(&(struct ask){ .actor = DEV, .id = "D003" }, false, "DENIED_NO_GRANT");
    want_answer(&(struct ask){ .actor = ANA, .id = "D003" }, true, "GRANTED_BY_GRANT");
    want_answer(&(struct ask){ .actor = ANA, .id = "D003", .user = ANA }, true,
                 "GRANTED_BY_GRANT");
    /* Asking about another user: scope "check" or an administrator. */
    want_error(&(struct ask){ .client = web, .actor = DEV, .user = ANA, .id = "D003" },
                       RS_EPERM, "NOT_ALLOWED_TO_CHECK_OTHERS");
    want_answer(&(struct ask){ .client = bi, .actor = DEV, .user = ANA, .id = "D003" }, true,
                 "GRANTED_BY_GRANT");
    want_answer(&(struct ask){ .client = web, .actor = OWNER, .user = ANA, .id = "D003" }, true,
                 "GRANTED_BY_GRANT");
    want_answer(&(struct ask){ .actor = OWNER, .permission = "workspace.create",
                                .type = "organization", .id = ORG },
                 true, "GRANTED_BY_ORG_ROLE");
    want_answer(&(struct ask){ .actor = ANA, .permission = "dashboard_create.edit",
                                .type = "workspace", .id = WS },
                 true, "GRANTED_BY_WORKSPACE_ROLE");
}

static void
test_check_errors(void **state)
{
    (void)state;
    want_error(&(struct ask){ .actor = NOBODY, .id = "D003" }, RS_EPERM,
                       "ACTOR_NOT_IN_ORGANIZATION");
    want_error(&(struct ask){ .actor = DEV, .id = "D003", .min_revision = "7" },
                       RS_EINVAL, "REVISION_INVALID");
    want_error(&(struct ask){ .actor = DEV, .id = "D003", .org = "ORG" }, RS_EINVAL,
                       "INVALID_ID");
    want_error(&(struct ask){ .actor = DEV, .id = "D003",
                                      .org = "0000000000000000000000000000000c" },
                       RS_ENOTFOUND, "ORGANIZATION_NOT_FOUND");
    want_error(&(struct ask){ .actor = OWNER, .user = NOBODY, .id = "D003" },
                       RS_ENOTFOUND, "USER_NOT_FOUND");
    want_error(&(struct ask){ .actor = DEV, .id = "D003", .permission = "read" },
                       RS_EINVAL, "PERMISSION_INVALID");
    want_error(&(struct ask){ .actor = DEV, .id = "NEW" }, RS_EINVAL,
                       "WORKSPACE_ID_REQUIRED");
}

static void
test_revoke_then_check(void **state)
{
    Roster__Authz__V1__CheckResponse *resp = NULL;
    struct rs_error err;
    char token[64];
    bool allowed = true;
    int i;

    (void)state;
    want_answer(&(struct ask){ .actor = ANA, .id = "D006" }, true, "GRANTED_BY_GRANT");
    snprintf(token, sizeof(token), "r%lld",
             etdb_scalar(conninfo, "WITH d AS (DELETE FROM authz.grants WHERE resource_id = "
                                   "'D006' RETURNING 1) SELECT authz.bump_revision('" ORG "')"));
    /* The token of the write is honoured at once. */
    want_answer(&(struct ask){ .actor = ANA, .id = "D006", .consistency = 1,
                                .min_revision = token },
                 false, "DENIED_NO_GRANT");
    want_answer(&(struct ask){ .actor = ANA, .id = "D006", .consistency = 2 }, false,
                 "DENIED_NO_GRANT");
    /* MINIMIZE_LATENCY follows once the notification arrives. */
    for (i = 0; i < 500 && allowed; i++) {
        assert_int_equal(check(&(struct ask){ .actor = ANA, .id = "D006" }, &resp, &err), RS_OK);
        allowed = resp->allowed;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (allowed)
            usleep(10 * 1000);
    }
    assert_false(allowed);
}

static void
test_batch_check(void **state)
{
    Roster__Authz__V1__BatchCheckRequest req = ROSTER__AUTHZ__V1__BATCH_CHECK_REQUEST__INIT;
    Roster__Authz__V1__CheckRequest items[101], *ptrs[101];
    Roster__Authz__V1__Resource res[101];
    Roster__Authz__V1__BatchCheckResponse *resp = NULL;
    const char *corr[3] = { "a", "b", "c" };
    struct rs_error err;
    size_t i;

    (void)state;
    for (i = 0; i < 101; i++) {
        fill_request(&(struct ask){ .user = ANA, .id = "D009" }, &items[i], &res[i]);
        ptrs[i] = &items[i];
    }
    items[1].user_id = NOBODY;
    items[2].user_id = DEV;
    for (i = 0; i < 3; i++)
        items[i].correlation_id = (char *)corr[i];
    req.items = ptrs;
    req.n_items = 3;
    rs_error_clear(&err);
    assert_int_equal(rs_rpc_client_call(bi, SVC "BatchCheck", &req.base,
                                        &roster__authz__v1__batch_check_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_OK);
    assert_int_equal(resp->n_results, 3);
    for (i = 0; i < 3; i++)
        assert_string_equal(resp->results[i]->correlation_id, corr[i]);
    assert_true(resp->results[0]->allowed);
    assert_string_equal(resp->results[1]->reason, "USER_NOT_FOUND");
    assert_false(resp->results[1]->allowed);
    assert_string_equal(resp->results[2]->reason, "DENIED_NO_GRANT");
    assert_string_equal(resp->results[0]->revision, resp->results[2]->revision);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.n_items = 101;
    assert_int_equal(rs_rpc_client_call(bi, SVC "BatchCheck", &req.base,
                                        &roster__authz__v1__batch_check_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "BATCH_SIZE_INVALID");
    req.n_items = 0;
    assert_int_equal(rs_rpc_client_call(bi, SVC "BatchCheck", &req.base,
                                        &roster__authz__v1__batch_check_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "BATCH_SIZE_INVALID");
    req.n_items = 2;
    items[1].organization_id = OTHER_ORG;
    assert_int_equal(rs_rpc_client_call(bi, SVC "BatchCheck", &req.base,
                                        &roster__authz__v1__batch_check_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "ORGANIZATION_MISMATCH");
}

static void
test_explain_contributions(void **state)
{
    Roster__Authz__V1__CheckRequest req;
    Roster__Authz__V1__Resource res;
    Roster__Authz__V1__ExplainResponse *resp = NULL;
    struct rs_error err;
    bool grant_via_root = false;
    size_t i;

    (void)state;
    fill_request(&(struct ask){ .user = ANA, .id = "D012" }, &req, &res);
    rs_error_clear(&err);
    assert_int_equal(rs_rpc_client_call(bi, SVC "Explain", &req.base,
                                        &roster__authz__v1__explain_response__descriptor, NULL,
                                        OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_OK);
    assert_true(resp->result->allowed);
    assert_string_equal(resp->result->reason, "GRANTED_BY_GRANT");
    assert_string_equal(resp->effective_level, "view");
    for (i = 0; i < resp->n_contributions; i++) {
        const Roster__Authz__V1__Contribution *c = resp->contributions[i];

        if (strcmp(c->kind, "GRANT") == 0 && strcmp(c->via_group_id, ROOT) == 0 &&
            strcmp(c->allows, "view") == 0)
            grant_via_root = true;
    }
    assert_true(grant_via_root);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* Lists every page; returns the number of resources and checks the order. */
static int
list_all(const char *user, int page_size, int *pages)
{
    Roster__Authz__V1__ListAllowedResourcesRequest req =
        ROSTER__AUTHZ__V1__LIST_ALLOWED_RESOURCES_REQUEST__INIT;
    char token[512] = "", last[32] = "";
    int total = 0;

    req.organization_id = ORG;
    req.user_id = (char *)user;
    req.resource_type = "dashboard";
    req.permission = "view";
    req.page_size = page_size;
    *pages = 0;
    do {
        Roster__Authz__V1__ListAllowedResourcesResponse *resp = NULL;
        struct rs_error err;
        size_t i;

        req.page_token = token;
        rs_error_clear(&err);
        if (rs_rpc_client_call(bi, SVC "ListAllowedResources", &req.base,
                               &roster__authz__v1__list_allowed_resources_response__descriptor,
                               NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err) != RS_OK)
            fail_msg("ListAllowedResources failed: %s %s", err.reason, err.message);
        (*pages)++;
        for (i = 0; i < resp->n_resources; i++) {
            assert_true(strcmp(resp->resources[i]->id, last) > 0);
            assert_string_equal(resp->resources[i]->workspace_id, WS);
            snprintf(last, sizeof(last), "%s", resp->resources[i]->id);
        }
        /* Short pages only at the end. */
        if (resp->next_page_token[0] != '\0' && page_size > 0)
            assert_int_equal(resp->n_resources, page_size);
        total += (int)resp->n_resources;
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } while (token[0] != '\0' && *pages < 100);
    return total;
}

static void
test_list_allowed_paging(void **state)
{
    int pages;

    (void)state;
    /* D006 was revoked above: 9 of the 10 granted dashboards remain. */
    assert_int_equal(list_all(ANA, 4, &pages), 9);
    assert_int_equal(pages, 3);
    assert_int_equal(list_all(ANA, 9, &pages), 9);
    assert_int_equal(pages, 1);
    assert_int_equal(list_all(ANA, 0, &pages), 9);
    assert_int_equal(list_all(OWNER, 7, &pages), 30);
    assert_int_equal(pages, 5);
    assert_int_equal(list_all(DEV, 5, &pages), 0);
    assert_int_equal(pages, 1);
}

static void
test_list_allowed_errors(void **state)
{
    Roster__Authz__V1__ListAllowedResourcesRequest req =
        ROSTER__AUTHZ__V1__LIST_ALLOWED_RESOURCES_REQUEST__INIT;
    Roster__Authz__V1__ListAllowedResourcesResponse *resp = NULL;
    struct rs_error err;
    char token[512];

    (void)state;
    req.organization_id = ORG;
    req.user_id = ANA;
    req.resource_type = "dashboard";
    req.permission = "view";
    req.page_size = 2;
    assert_int_equal(rs_rpc_client_call(bi, SVC "ListAllowedResources", &req.base,
                                        &roster__authz__v1__list_allowed_resources_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_OK);
    snprintf(token, sizeof(token), "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    assert_true(token[0] != '\0');

    /* A token is bound to its filter. */
    req.page_token = token;
    req.permission = "export";
    assert_int_equal(rs_rpc_client_call(bi, SVC "ListAllowedResources", &req.base,
                                        &roster__authz__v1__list_allowed_resources_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "PAGE_TOKEN_INVALID");
    req.page_token = "not-a-token";
    req.permission = "view";
    assert_int_equal(rs_rpc_client_call(bi, SVC "ListAllowedResources", &req.base,
                                        &roster__authz__v1__list_allowed_resources_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "PAGE_TOKEN_INVALID");
    req.page_token = "";
    req.page_size = 1001;
    assert_int_equal(rs_rpc_client_call(bi, SVC "ListAllowedResources", &req.base,
                                        &roster__authz__v1__list_allowed_resources_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "PAGE_SIZE_INVALID");
    req.page_size = 2;
    req.resource_type = "workspace";
    assert_int_equal(rs_rpc_client_call(bi, SVC "ListAllowedResources", &req.base,
                                        &roster__authz__v1__list_allowed_resources_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_EINVAL);
    assert_string_equal(err.reason, "RESOURCE_TYPE_INVALID");
    req.resource_type = "dashboard";
    req.workspace_id = "3fffffffffffffffffffffffffffffff";
    assert_int_equal(rs_rpc_client_call(bi, SVC "ListAllowedResources", &req.base,
                                        &roster__authz__v1__list_allowed_resources_response__descriptor,
                                        NULL, OWNER, 5000, (ProtobufCMessage **)&resp, &err),
                     RS_ENOTFOUND);
    assert_string_equal(err.reason, "WORKSPACE_NOT_FOUND");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_self_and_others),
        cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_revoke_then_check),
        cmocka_unit_test(test_batch_check),
        cmocka_unit_test(test_explain_contributions),
        cmocka_unit_test(test_list_allowed_paging),
        cmocka_unit_test(test_list_allowed_errors),
    };

    etdb_url_or_skip();
    rs_rpc_block_signals();
    return cmocka_run_group_tests(tests, setup, teardown);
}
