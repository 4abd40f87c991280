/*
 * libs/service/include/roster/service.h
 *    The operator interface every Roster binary shares: the subcommands
 *    serve, migrate, healthcheck and hash-token, ROSTER_* configuration
 *    with one-line errors, and the pool, server and health probe wiring.
 *    A service describes itself in a struct rs_service_def; its main()
 *    is one call to rs_service_main.
 */
#ifndef RS_SERVICE_H
#define RS_SERVICE_H

#include <stddef.h>

#include "roster/db.h"
#include "roster/rpc.h"
#include "roster/status.h"

/* A schema the health probe requires at a version or later. */
struct rs_service_schema {
    const char *schema;
    int version; /* 0: the latest of rs_service_def.migrations */
};

/*
 * Builds the service's handler context (rs_call_user_data) from the open
 * pool; conninfo is ROSTER_DATABASE_URL for services that need their own
 * connection (LISTEN). *user_data is owned by the service and freed by
 * the cleanup hook. Failures print err->message and exit 1.
 */
typedef rs_status (*rs_service_init_fn)(rs_db_pool *pool, const char *conninfo,
                                        void **user_data, struct rs_error *err);
typedef void (*rs_service_cleanup_fn)(void *user_data);

struct rs_service_def {
    const char *program;      /* "roster-identity": messages and --version */
    const char *name;         /* "identity": log component and server name */
    const char *version;      /* "0.1.0" */
    const char *default_addr; /* ROSTER_GRPC_ADDR default, "0.0.0.0:50051" */
    /* migrate applies these to schema; the last one is the current version. */
    const char *schema;
    const struct rs_db_migration *migrations;
    size_t n_migrations;
    /*
     * Schemas the health probe requires before reporting SERVING; none
     * (n_ready 0) means schema at its latest migration.
     */
    const struct rs_service_schema *ready;
    size_t n_ready;
    const struct rs_rpc_service *rpc; /* its name is also the health service name */
    rs_service_init_fn init;          /* NULL: user_data is the pool itself */
    rs_service_cleanup_fn cleanup;    /* may be NULL */
    /* Called with user_data when the shutdown begins, before calls in
     * flight have finished; must not block. May be NULL. */
    void (*stopping)(void *user_data);
    /* FileDescriptorSet (with imports) served by reflection; static. */
    const unsigned char *descriptor_set;
    size_t descriptor_set_len;
};

/*
 * Runs the subcommand in argv[1] and returns the process exit code: 0 on
 * success, 1 on failure, 2 on a usage or configuration error. def and
 * everything it points to must outlive the call.
 */
int rs_service_main(const struct rs_service_def *def, int argc, char **argv);

#endif /* RS_SERVICE_H */
