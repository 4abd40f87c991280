/*
 * libs/rpc/src/tls.c
 *    PEM files and TLS server credentials. Files are read when the server is
 *    created, so a bad path fails creation with the file named.
 */
#include "roster/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "roster/alloc.h"
#include "rpc_int.h"

/* PEM files are small; anything larger is a wrong path, not a certificate. */
#define PEM_MAX_BYTES (1024 * 1024)

rs_status
rs_rpc__read_file(const char *path, const char *what, char **out, struct rs_error *err)
{
    FILE *fp;
    char *buf = NULL;
    size_t len = 0, n;
    rs_status rc = RS_OK;

    *out = NULL;
    fp = fopen(path, "rb");
    if (fp == NULL)
        return rs_error_set(err, RS_EINVAL, "FILE_UNREADABLE", "could not open %s file \"%s\": %s",
                            what, path, strerror(errno));
    buf = rs_malloc(PEM_MAX_BYTES + 1);
    if (buf == NULL) {
        rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    while ((n = fread(buf + len, 1, PEM_MAX_BYTES + 1 - len, fp)) > 0) {
        len += n;
        if (len > PEM_MAX_BYTES)
            break;
    }
    if (ferror(fp)) {
        rc = rs_error_set(err, RS_EINVAL, "FILE_UNREADABLE", "could not read %s file \"%s\"",
                          what, path);
        goto out;
    }
    if (len == 0 || len > PEM_MAX_BYTES) {
        rc = rs_error_set(err, RS_EINVAL, "FILE_UNREADABLE",
                          "invalid %s file \"%s\": empty or larger than 1 MiB", what, path);
        goto out;
    }
    buf[len] = '\0';
    /* Keep only what the file needs, not the whole read buffer. */
    *out = rs_realloc(buf, len + 1);
    if (*out == NULL)
        *out = buf;
    buf = NULL;
out:
    if (buf != NULL) {
        explicit_bzero(buf, PEM_MAX_BYTES + 1);
        rs_free(buf);
    }
    fclose(fp);
    return rc;
}

/* Wipes and frees a PEM buffer that may hold a private key. */
void
rs_rpc__free_secret(char **pem)
{
    if (*pem == NULL)
        return;
    explicit_bzero(*pem, strlen(*pem));
    RS_FREE(pem);
}

/* Returns new server credentials (release after adding the port), or NULL. */
grpc_server_credentials *
rs_rpc__server_credentials(rs_rpc_server *server)
{
    grpc_ssl_pem_key_cert_pair pair;

    if (server->tls_cert_pem == NULL)
        return grpc_insecure_server_credentials_create();
    pair.private_key = server->tls_key_pem;
    pair.cert_chain = server->tls_cert_pem;
    return grpc_ssl_server_credentials_create_ex(
        server->tls_ca_pem, &pair, 1,
        server->tls_ca_pem != NULL ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
}
