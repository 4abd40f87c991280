/*
 * services/authz/src/main.c
 *    roster-authz: the operator interface of libs/service (serve, migrate,
 *    healthcheck, hash-token) for the authz service.
 */
#include "authz_int.h"

#include "roster/service.h"

#ifndef ROSTER_VERSION
#define ROSTER_VERSION "0.0.0"
#endif

/* Embedded at build time by rs_embed_file (FileDescriptorSet with imports). */
extern const unsigned char authz_descriptor_set[];
extern const size_t authz_descriptor_set_len;

/*
 * authz reads identity's users and groups, so it is ready only when both
 * schemas are: identity at the version whose tables it reads, and its own
 * at its latest migration (version 0).
 */
#define AUTHZ_IDENTITY_SCHEMA_VERSION 1

int
main(int argc, char **argv)
{
    static const struct rs_service_schema ready[] = {
        { "identity", AUTHZ_IDENTITY_SCHEMA_VERSION },
        { AUTHZ_SCHEMA, 0 },
    };
    struct rs_service_def def = {
        .program = "roster-authz",
        .name = "authz",
        .version = ROSTER_VERSION,
        .default_addr = "0.0.0.0:50052",
        .schema = AUTHZ_SCHEMA,
        .migrations = authz_migrations,
        .n_migrations = authz_n_migrations,
        .ready = ready,
        .n_ready = sizeof(ready) / sizeof(ready[0]),
        .rpc = &authz_rpc_service,
        .init = authz_service_init,
        .cleanup = authz_service_cleanup,
        .descriptor_set = authz_descriptor_set,
        .descriptor_set_len = authz_descriptor_set_len,
    };

    return rs_service_main(&def, argc, argv);
}
