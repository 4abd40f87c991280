/*
 * services/identity/src/main.c
 *    roster-identity: the operator interface of libs/service (serve,
 *    migrate, healthcheck, hash-token) for the identity service.
 */
#include "identity_int.h"

#include "roster/service.h"

#ifndef ROSTER_VERSION
#define ROSTER_VERSION "0.0.0"
#endif

/* Embedded at build time by rs_embed_file (FileDescriptorSet with imports). */
extern const unsigned char identity_descriptor_set[];
extern const size_t identity_descriptor_set_len;

/*
 * identity calls authz's SQL functions (authz.is_org_admin,
 * authz.type_change_conflicts, authz.demote_for_type_change), so it is
 * ready only when its own schema is at its latest migration and authz's
 * schema exists. authz's migrations run after identity's.
 */
#define IDENTITY_AUTHZ_SCHEMA_VERSION 1

int
main(int argc, char **argv)
{
    static const struct rs_service_schema ready[] = {
        { IDENTITY_SCHEMA, 0 },
        { "authz", IDENTITY_AUTHZ_SCHEMA_VERSION },
    };
    struct rs_service_def def = {
        .program = "roster-identity",
        .name = "identity",
        .version = ROSTER_VERSION,
        .default_addr = "0.0.0.0:50051",
        .schema = IDENTITY_SCHEMA,
        .migrations = identity_migrations,
        .n_migrations = identity_n_migrations,
        .ready = ready,
        .n_ready = sizeof(ready) / sizeof(ready[0]),
        .rpc = &identity_rpc_service,
        .init = identity_service_init,
        .cleanup = identity_service_cleanup,
        .descriptor_set = identity_descriptor_set,
        .descriptor_set_len = identity_descriptor_set_len,
    };

    return rs_service_main(&def, argc, argv);
}
