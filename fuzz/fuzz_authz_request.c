/*
 * fuzz/fuzz_authz_request.c
 *    Fuzz target: an AuthzService request (first byte picks the method)
 *    through decoding, the wire check and authz's pure parsers: revision
 *    tokens, role keys, modules and actions, work types, levels and the
 *    stored form of workspace role permissions.
 */
#include <string.h>

#include "fuzz.h"
#include "model.h"
#include "request.h"
#include "revision.h"
#include "roster/authz/v1/authz.pb-c.h"

static void
check_revision(const char *value)
{
    struct rs_error err;
    char text[64];
    int64_t rev = -1, again = -1;

    rs_error_clear(&err);
    if (authz_revision_parse(value, &rev, &err) != RS_OK) {
        FUZZ_ASSERT(strcmp(err.reason, "REVISION_INVALID") == 0);
        return;
    }
    FUZZ_ASSERT(rev >= 0);
    authz_revision_format(rev, text);
    FUZZ_ASSERT(authz_revision_parse(text, &again, &err) == RS_OK);
    FUZZ_ASSERT(again == rev);
}

static void
check_ws_perms(const char *value)
{
    struct authz_ws_perms perms, again;
    char json[2048];

    if (!authz_ws_perms_from_json(value, &perms))
        return;
    (void)authz_ws_within_analyst_ceiling(&perms);
    FUZZ_ASSERT(authz_ws_perms_to_json(&perms, json, sizeof(json)));
    FUZZ_ASSERT(authz_ws_perms_from_json(json, &again));
    FUZZ_ASSERT(memcmp(&perms, &again, sizeof(perms)) == 0);
}

static void
on_string(const char *field, const char *value)
{
    int module, level;

    (void)field;
    check_revision(value);
    check_ws_perms(value);
    (void)authz_function_key_valid(value);
    module = authz_module_find(value);
    FUZZ_ASSERT(module < AUTHZ_N_MODULES);
    (void)authz_action_find(value);
    if (authz_resource_type_valid(value)) {
        FUZZ_ASSERT(authz_resource_module(value) >= 0);
        for (level = 1; level <= 3; level++)
            (void)authz_type_ceiling(level, value);
    }
    level = authz_level_from_name(value);
    if (level > 0) {
        FUZZ_ASSERT(authz_level_valid(level));
        FUZZ_ASSERT(strcmp(authz_level_name(level), value) == 0);
    }
}

static void
on_int(const char *field, int64_t value)
{
    (void)field;
    (void)authz_org_preset_find(value);
    (void)authz_ws_preset_find(value);
    if (authz_level_valid((int)value))
        FUZZ_ASSERT(authz_level_name((int)value) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_fields fields = { on_string, on_int };

    fuzz_request(&roster__authz__v1__authz_service__descriptor, data, size, &fields);
    return 0;
}
