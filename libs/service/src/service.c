/*
 * libs/service/src/service.c
 *    rs_service_main: the subcommands serve, migrate, healthcheck and
 *    hash-token, configured from ROSTER_* environment variables.
 */
#include "roster/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "roster/cfg.h"
#include "roster/log.h"

#define EXIT_USAGE 2

struct config {
    const char *database_url;
    const char *grpc_addr;
    const char *tokens_file;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
    enum rs_log_level log_level;
    long workers;
    long pool_size;
    long max_message_bytes;
    long grace_ms;
};

static const char usage_fmt[] =
    "usage: %s COMMAND\n"
    "\n"
    "Commands:\n"
    "  serve        run the gRPC server until SIGTERM or SIGINT\n"
    "  migrate      apply pending migrations to schema \"%s\" and exit\n"
    "  healthcheck  exit 0 if the server at ROSTER_GRPC_ADDR reports SERVING\n"
    "  hash-token   read a token on stdin and print its sha256:<hex> hash\n"
    "  --version    print the version\n"
    "  --help       print this help\n"
    "\n"
    "Environment:\n"
    "  ROSTER_DATABASE_URL       libpq conninfo or URI (serve, migrate; required)\n"
    "  ROSTER_GRPC_ADDR          listen address (default %s)\n"
    "  ROSTER_AUTH_TOKENS_FILE   service tokens file (serve; required)\n"
    "  ROSTER_TLS_CERT, ROSTER_TLS_KEY  server certificate and key, PEM (both or neither)\n"
    "  ROSTER_TLS_CLIENT_CA      CA that client certificates must chain to (mTLS)\n"
    "  ROSTER_TLS_CA             CA of the server certificate (healthcheck)\n"
    "  ROSTER_TLS_SERVER_NAME    name expected in the server certificate (healthcheck)\n"
    "  ROSTER_LOG_LEVEL          debug, info, warn or error (default info)\n"
    "  ROSTER_WORKERS            worker threads (default: number of CPUs)\n"
    "  ROSTER_DB_POOL_SIZE       database connections (default 8)\n"
    "  ROSTER_MAX_MESSAGE_BYTES  largest request or response in bytes (default 4194304)\n"
    "  ROSTER_SHUTDOWN_GRACE_MS  time for calls in flight at shutdown (default 10000)\n";

static int
fail(const struct rs_service_def *def, int code, const struct rs_error *err)
{
    fprintf(stderr, "%s: %s\n", def->program, err->message);
    return code;
}

/*
 * Prints a server start-up failure on one line, naming the environment
 * variables behind it so the operator knows what to fix.
 */
static int
fail_server(const struct rs_service_def *def, int code, const struct rs_error *err)
{
    const char *vars = NULL;

    if (strcmp(err->reason, "TOKENS_FILE_INVALID") == 0)
        vars = "ROSTER_AUTH_TOKENS_FILE";
    else if (strcmp(err->reason, "FILE_UNREADABLE") == 0 ||
             strcmp(err->reason, "TLS_INVALID") == 0)
        vars = "ROSTER_TLS_CERT, ROSTER_TLS_KEY, ROSTER_TLS_CLIENT_CA";
    else if (strcmp(err->reason, "BIND_FAILED") == 0)
        vars = "ROSTER_GRPC_ADDR";
    if (vars == NULL)
        return fail(def, code, err);
    fprintf(stderr, "%s: %s (check %s)\n", def->program, err->message, vars);
    return code;
}

/* Accepts HOST:PORT or [IPV6]:PORT with a port from 0 to 65535 (0 picks a free port). */
static rs_status
check_listen_addr(const char *addr, struct rs_error *err)
{
    const char *colon = strrchr(addr, ':');
    const char *p;
    long port = 0;

    if (colon == NULL || colon == addr || colon[1] == '\0' || strlen(colon + 1) > 5)
        goto bad;
    if (addr[0] == '[' && colon[-1] != ']')
        goto bad;
    for (p = addr; p < colon; p++) {
        if (*p == ' ' || *p == '/' || (unsigned char)*p < 0x21)
            goto bad;
    }
    for (p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        port = port * 10 + (*p - '0');
    }
    if (port <= 65535)
        return RS_OK;
bad:
    return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                        "invalid value for ROSTER_GRPC_ADDR: \"%s\" (expected HOST:PORT with a "
                        "port from 0 to 65535)",
                        addr);
}

static rs_status
load_config(const struct rs_service_def *def, struct config *cfg, bool serving,
            struct rs_error *err)
{
    const char *level = NULL;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    rs_status rc;

    memset(cfg, 0, sizeof(*cfg));
    rs_cfg_string("ROSTER_DATABASE_URL", NULL, &cfg->database_url);
    if (cfg->database_url == NULL)
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "missing ROSTER_DATABASE_URL: set it to a libpq conninfo "
                            "string or postgresql:// URI");
    rs_cfg_string("ROSTER_GRPC_ADDR", def->default_addr, &cfg->grpc_addr);
    if (serving && check_listen_addr(cfg->grpc_addr, err) != RS_OK)
        return RS_EINVAL;
    rs_cfg_string("ROSTER_LOG_LEVEL", "info", &level);
    if (rs_log_level_parse(level, &cfg->log_level) != RS_OK)
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "invalid value for ROSTER_LOG_LEVEL: \"%s\" (expected debug, "
                            "info, warn or error)",
                            level);
    rc = rs_cfg_int("ROSTER_DB_POOL_SIZE", 8, 1, 1000, &cfg->pool_size, err);
    if (rc != RS_OK || !serving)
        return rc;

    rc = rs_cfg_file("ROSTER_AUTH_TOKENS_FILE", &cfg->tokens_file, err);
    if (rc != RS_OK)
        return rc;
    if (cfg->tokens_file == NULL)
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "missing ROSTER_AUTH_TOKENS_FILE: the server does not run "
                            "without service tokens");
    rc = rs_cfg_file("ROSTER_TLS_CERT", &cfg->tls_cert, err);
    if (rc == RS_OK)
        rc = rs_cfg_file("ROSTER_TLS_KEY", &cfg->tls_key, err);
    if (rc == RS_OK)
        rc = rs_cfg_file("ROSTER_TLS_CLIENT_CA", &cfg->tls_client_ca, err);
    if (rc != RS_OK)
        return rc;
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "invalid TLS configuration: set both ROSTER_TLS_CERT and "
                            "ROSTER_TLS_KEY, or neither");
    if (cfg->tls_client_ca != NULL && cfg->tls_cert == NULL)
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "invalid TLS configuration: ROSTER_TLS_CLIENT_CA needs "
                            "ROSTER_TLS_CERT and ROSTER_TLS_KEY");
    rc = rs_cfg_int("ROSTER_WORKERS", cpus > 0 ? cpus : 1, 1, 1024, &cfg->workers, err);
    if (rc == RS_OK)
        rc = rs_cfg_int("ROSTER_MAX_MESSAGE_BYTES", 4194304, 1024, 1073741824L,
                        &cfg->max_message_bytes, err);
    if (rc == RS_OK)
        rc = rs_cfg_int("ROSTER_SHUTDOWN_GRACE_MS", 10000, 0, 3600000L, &cfg->grace_ms, err);
    return rc;
}

static int
latest_version(const struct rs_service_def *def)
{
    return def->migrations[def->n_migrations - 1].version;
}

struct probe {
    const struct rs_service_def *def;
    rs_db_pool *pool;
};

/* Health probe: SERVING once the database responds and every schema is current. */
static rs_status
probe_ready(void *arg, struct rs_error *err)
{
    const struct probe *p = arg;
    const struct rs_service_def *def = p->def;
    rs_status rc;
    size_t i;

    if (def->n_ready == 0)
        return rs_db_check_ready(p->pool, def->schema, latest_version(def), err);
    for (i = 0; i < def->n_ready; i++) {
        int version = def->ready[i].version;

        rc = rs_db_check_ready(p->pool, def->ready[i].schema,
                               version > 0 ? version : latest_version(def), err);
        if (rc != RS_OK)
            return rc;
    }
    return RS_OK;
}

static int
cmd_serve(const struct rs_service_def *def)
{
    struct rs_rpc_server_config scfg;
    struct probe probe;
    void *user_data = NULL;
    struct config cfg;
    struct rs_error err;
    rs_rpc_server *server = NULL;
    rs_db_pool *pool = NULL;
    char port_text[16];
    char message[96];
    int port = 0;
    int code = 1;

    /* Before any thread exists, so only the main thread receives the signals. */
    rs_rpc_block_signals();
    rs_error_clear(&err);
    if (load_config(def, &cfg, true, &err) != RS_OK)
        return fail(def, EXIT_USAGE, &err);
    rs_log_init(def->name, cfg.log_level);

    if (rs_db_pool_create(cfg.database_url, (int)cfg.pool_size, &pool, &err) != RS_OK) {
        fprintf(stderr, "%s: invalid ROSTER_DATABASE_URL: %s\n", def->program,
                err.message);
        return EXIT_USAGE;
    }
    if (def->init == NULL) {
        user_data = pool;
    } else if (def->init(pool, cfg.database_url, &user_data, &err) != RS_OK) {
        code = fail(def, 1, &err);
        goto out;
    }
    memset(&scfg, 0, sizeof(scfg));
    scfg.service_name = def->name;
    scfg.listen_addr = cfg.grpc_addr;
    scfg.workers = (int)cfg.workers;
    scfg.max_message_bytes = (int)cfg.max_message_bytes;
    /* The library reads 0 as "default"; 1 ms is the nearest to no grace at all. */
    scfg.grace_ms = cfg.grace_ms > 0 ? (int)cfg.grace_ms : 1;
    scfg.tokens_file = cfg.tokens_file;
    scfg.tls_cert = cfg.tls_cert;
    scfg.tls_key = cfg.tls_key;
    scfg.tls_client_ca = cfg.tls_client_ca;
    scfg.descriptor_set = def->descriptor_set;
    scfg.descriptor_set_len = def->descriptor_set_len;

    if (rs_rpc_server_create(&scfg, &server, &err) != RS_OK) {
        code = fail_server(def, EXIT_USAGE, &err);
        goto out;
    }
    if (rs_rpc_server_add_service(server, def->rpc, user_data, &err) != RS_OK) {
        code = fail(def, 1, &err);
        goto out;
    }
    probe.def = def;
    probe.pool = pool;
    rs_rpc_server_set_health_probe(server, probe_ready, &probe, 2000);
    if (def->stopping != NULL && user_data != NULL && user_data != (void *)pool)
        rs_rpc_server_on_shutdown(server, def->stopping, user_data);
    if (rs_rpc_server_start(server, &port, &err) != RS_OK) {
        code = fail_server(def, 1, &err);
        goto out;
    }
    snprintf(port_text, sizeof(port_text), "%d", port);
    snprintf(message, sizeof(message), "%s service listening", def->name);
    rs_log_info(NULL, message, "port", port_text, "version", def->version, "latest_migration",
                def->migrations[def->n_migrations - 1].name, NULL);
    rs_rpc_server_wait_for_signal(server);
    code = 0;
out:
    rs_rpc_server_destroy(server);
    if (def->cleanup != NULL && user_data != NULL && user_data != (void *)pool)
        def->cleanup(user_data);
    rs_db_pool_destroy(pool);
    return code;
}

static int
cmd_migrate(const struct rs_service_def *def)
{
    struct config cfg;
    struct rs_error err;
    rs_db_pool *pool = NULL;
    int applied = 0;
    int code = 1;

    rs_error_clear(&err);
    if (load_config(def, &cfg, false, &err) != RS_OK)
        return fail(def, EXIT_USAGE, &err);
    rs_log_init(def->name, cfg.log_level);
    if (rs_db_pool_create(cfg.database_url, 1, &pool, &err) != RS_OK) {
        fprintf(stderr, "%s: invalid ROSTER_DATABASE_URL: %s\n", def->program,
                err.message);
        return EXIT_USAGE;
    }
    if (rs_db_migrate(pool, def->schema, def->migrations, def->n_migrations, &applied,
                      &err) != RS_OK) {
        fprintf(stderr, "%s: could not migrate schema \"%s\": %s\n", def->program,
                def->schema, err.message);
        goto out;
    }
    printf("applied %d migration%s; schema \"%s\" is at version %d\n", applied,
           applied == 1 ? "" : "s", def->schema, latest_version(def));
    code = 0;
out:
    rs_db_pool_destroy(pool);
    return code;
}

/* A wildcard listen address is reached through loopback. */
static void
health_target(const char *addr, char *out, size_t size)
{
    if (strncmp(addr, "0.0.0.0:", 8) == 0)
        snprintf(out, size, "127.0.0.1:%s", addr + 8);
    else if (strncmp(addr, "[::]:", 5) == 0)
        snprintf(out, size, "[::1]:%s", addr + 5);
    else
        snprintf(out, size, "%s", addr);
}

static int
cmd_healthcheck(const struct rs_service_def *def)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    Grpc__Health__V1__HealthCheckResponse *resp = NULL;
    struct rs_rpc_client_config ccfg;
    struct rs_error err;
    rs_rpc_client *client = NULL;
    const char *addr = NULL;
    const char *tls_cert = NULL;
    const char *client_ca = NULL;
    char target[256];
    int code = 1;

    rs_error_clear(&err);
    rs_log_init(def->name, RS_LOG_ERROR);
    rs_cfg_string("ROSTER_GRPC_ADDR", def->default_addr, &addr);
    health_target(addr, target, sizeof(target));
    memset(&ccfg, 0, sizeof(ccfg));
    ccfg.max_attempts = 1;
    rs_cfg_string("ROSTER_TLS_CERT", NULL, &tls_cert);
    rs_cfg_string("ROSTER_TLS_CLIENT_CA", NULL, &client_ca);
    if (tls_cert != NULL) {
        rs_cfg_string("ROSTER_TLS_CA", client_ca, &ccfg.tls_ca);
        if (ccfg.tls_ca == NULL) {
            fprintf(stderr, "%s: TLS is on but neither ROSTER_TLS_CA nor "
                            "ROSTER_TLS_CLIENT_CA names a CA to verify the server\n",
                    def->program);
            return 1;
        }
        /* With mTLS the server's own certificate identifies the probe. */
        if (client_ca != NULL) {
            ccfg.tls_cert = tls_cert;
            rs_cfg_string("ROSTER_TLS_KEY", NULL, &ccfg.tls_key);
        }
        rs_cfg_string("ROSTER_TLS_SERVER_NAME", NULL, &ccfg.tls_server_name);
    }
    req.service = (char *)def->rpc->name;
    if (rs_rpc_client_create(target, &ccfg, &client, &err) != RS_OK ||
        rs_rpc_client_call(client, "/grpc.health.v1.Health/Check", &req.base,
                           &grpc__health__v1__health_check_response__descriptor, NULL, NULL,
                           3000, (ProtobufCMessage **)&resp, &err) != RS_OK) {
        fprintf(stderr, "%s: health check of %s failed: %s\n", def->program, target,
                err.message);
        goto out;
    }
    if (resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        code = 0;
    } else {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor,
            resp->status);

        fprintf(stderr, "%s: %s is %s\n", def->program, target, v != NULL ? v->name : "UNKNOWN");
    }
out:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    rs_rpc_client_destroy(client);
    return code;
}

static int
cmd_hash_token(const struct rs_service_def *def)
{
    char token[4096];
    char hash[72];
    size_t len;

    len = fread(token, 1, sizeof(token) - 1, stdin);
    if (!feof(stdin)) {
        fprintf(stderr, "%s: token on stdin is longer than %zu bytes\n", def->program,
                sizeof(token) - 1);
        return 1;
    }
    token[len] = '\0';
    /* Tokens are typed or echoed: drop the line ending. */
    while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r'))
        token[--len] = '\0';
    if (len == 0) {
        fprintf(stderr, "%s: no token on stdin\n", def->program);
        return 1;
    }
    if (rs_rpc_token_hash(token, hash) != RS_OK) {
        explicit_bzero(token, sizeof(token));
        fprintf(stderr, "%s: could not hash the token\n", def->program);
        return 1;
    }
    explicit_bzero(token, sizeof(token));
    printf("%s\n", hash);
    return 0;
}

static void
usage(const struct rs_service_def *def, FILE *out)
{
    fprintf(out, usage_fmt, def->program, def->schema, def->default_addr);
}

int
rs_service_main(const struct rs_service_def *def, int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd == NULL) {
        usage(def, stderr);
        return EXIT_USAGE;
    }
    if (argc > 2) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", def->program, argv[2]);
        usage(def, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(def);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(def);
    if (strcmp(cmd, "healthcheck") == 0)
        return cmd_healthcheck(def);
    if (strcmp(cmd, "hash-token") == 0)
        return cmd_hash_token(def);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("%s %s\n", def->program, def->version);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(def, stdout);
        return 0;
    }
    fprintf(stderr, "%s: unknown command \"%s\"\n", def->program, cmd);
    usage(def, stderr);
    return EXIT_USAGE;
}
