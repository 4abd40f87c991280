/*
 * libs/rpc/src/auth.c
 *    Bearer-token authentication. The tokens file contains one line per
 *    caller, "NAME sha256:HEX64 [scope1,scope2]", so the server stores only
 *    hashes. A presented token is hashed and compared in constant time with
 *    every entry, so timing reveals neither which entry matched nor how much.
 */
#include "roster/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "roster/alloc.h"
#include "roster/str.h"
#include "rpc_int.h"

#define TOKEN_PREFIX "sha256:"
#define TOKEN_PREFIX_LEN 7

static bool
sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int out_len = 0;

    return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) == 1 && out_len == 32;
}

rs_status
rs_rpc_token_hash(const char *token, char out[72])
{
    unsigned char digest[32];

    out[0] = '\0';
    if (token == NULL || token[0] == '\0')
        return RS_EINVAL;
    if (!sha256(token, strlen(token), digest))
        return RS_EINTERNAL;
    memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
    rs_hex_encode(out + TOKEN_PREFIX_LEN, digest, sizeof(digest));
    explicit_bzero(digest, sizeof(digest));
    return RS_OK;
}

static bool
name_char(char c, bool scope)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || (scope && c == ':');
}

static bool
parse_hash(const char *text, unsigned char out[32])
{
    size_t i;
    int hi, lo;

    if (strncmp(text, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0 ||
        strlen(text) != TOKEN_PREFIX_LEN + 64)
        return false;
    text += TOKEN_PREFIX_LEN;
    for (i = 0; i < 32; i++) {
        hi = rs_hex_value(text[2 * i]);
        lo = rs_hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* Splits "a,b" (optionally written "[a,b]") into tok->scopes. */
static rs_status
parse_scopes(char *text, struct rs_rpc__token *tok, const char **problem)
{
    size_t len = strlen(text), n = 1, i;
    char *p, *save = NULL;

    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text[len - 1] = '\0';
        text++;
    }
    if (text[0] == '\0' || text[0] == ',' || text[strlen(text) - 1] == ',' ||
        strstr(text, ",,") != NULL) {
        *problem = "empty scope";
        return RS_EINVAL;
    }
    for (p = text; *p != '\0'; p++) {
        if (*p == ',')
            n++;
        else if (!name_char(*p, true)) {
            *problem = "invalid character in scope list";
            return RS_EINVAL;
        }
    }
    tok->scopes = rs_calloc(n, sizeof(char *));
    if (tok->scopes == NULL)
        return RS_ENOMEM;
    for (i = 0, p = strtok_r(text, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
        tok->scopes[i] = rs_strdup(p);
        if (tok->scopes[i] == NULL)
            return RS_ENOMEM;
        tok->n_scopes = ++i;
    }
    return RS_OK;
}

static void
token_cleanup(struct rs_rpc__token *tok)
{
    size_t i;

    for (i = 0; i < tok->n_scopes; i++)
        rs_free(tok->scopes[i]);
    rs_free(tok->scopes);
    explicit_bzero(tok, sizeof(*tok));
}

void
rs_rpc__tokens_free(rs_rpc_server *server)
{
    size_t i;

    for (i = 0; i < server->n_tokens; i++)
        token_cleanup(&server->tokens[i]);
    rs_free(server->tokens);
    server->tokens = NULL;
    server->n_tokens = 0;
}

/* Parses one non-comment line into tok; *problem names the problem on RS_EINVAL. */
static rs_status
parse_line(char *line, struct rs_rpc__token *tok, const char **problem)
{
    char *fields[4];
    char *save = NULL, *p;
    int n = 0;

    for (p = strtok_r(line, " \t", &save); p != NULL; p = strtok_r(NULL, " \t", &save)) {
        if (n == 4)
            break;
        fields[n++] = p;
    }
    if (n < 2 || n > 3) {
        *problem = "expected \"NAME sha256:HEX [SCOPES]\"";
        return RS_EINVAL;
    }
    if (strlen(fields[0]) >= sizeof(tok->name)) {
        *problem = "token name too long";
        return RS_EINVAL;
    }
    for (p = fields[0]; *p != '\0'; p++) {
        if (!name_char(*p, false)) {
            *problem = "invalid character in token name";
            return RS_EINVAL;
        }
    }
    memcpy(tok->name, fields[0], strlen(fields[0]) + 1);
    if (!parse_hash(fields[1], tok->hash)) {
        *problem = "expected \"sha256:\" and 64 hex digits";
        return RS_EINVAL;
    }
    if (n == 3)
        return parse_scopes(fields[2], tok, problem);
    return RS_OK;
}

static rs_status
tokens_add(rs_rpc_server *server, struct rs_rpc__token *tok)
{
    struct rs_rpc__token *tokens;

    tokens = rs_realloc(server->tokens, (server->n_tokens + 1) * sizeof(*tokens));
    if (tokens == NULL)
        return RS_ENOMEM;
    server->tokens = tokens;
    tokens[server->n_tokens++] = *tok;
    memset(tok, 0, sizeof(*tok));
    return RS_OK;
}

rs_status
rs_rpc__tokens_load(rs_rpc_server *server, const char *path, struct rs_error *err)
{
    FILE *fp = NULL;
    char *line = NULL, *start, *end;
    size_t cap = 0, i;
    ssize_t len;
    int lineno = 0;
    const char *problem = NULL;
    struct rs_rpc__token tok;
    rs_status rc = RS_OK;

    memset(&tok, 0, sizeof(tok));
    fp = fopen(path, "r");
    if (fp == NULL) {
        rc = rs_error_set(err, RS_EINVAL, "TOKENS_FILE_INVALID",
                          "could not open tokens file \"%s\": %s", path, strerror(errno));
        goto out;
    }
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        start = line;
        while (*start == ' ' || *start == '\t')
            start++;
        end = start + strlen(start);
        while (end > start && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
                               end[-1] == '\t'))
            *--end = '\0';
        if (*start == '\0' || *start == '#')
            continue;
        rc = parse_line(start, &tok, &problem);
        if (rc == RS_OK) {
            for (i = 0; i < server->n_tokens; i++) {
                if (strcmp(server->tokens[i].name, tok.name) == 0) {
                    problem = "duplicate token name";
                    rc = RS_EINVAL;
                }
            }
        }
        if (rc == RS_OK)
            rc = tokens_add(server, &tok);
        if (rc == RS_ENOMEM) {
            rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
            goto out;
        }
        if (rc != RS_OK) {
            rc = rs_error_set(err, RS_EINVAL, "TOKENS_FILE_INVALID",
                              "invalid tokens file \"%s\" line %d: %s", path, lineno, problem);
            goto out;
        }
    }
    if (ferror(fp)) {
        rc = rs_error_set(err, RS_EINVAL, "TOKENS_FILE_INVALID",
                          "could not read tokens file \"%s\"", path);
        goto out;
    }
out:
    token_cleanup(&tok);
    if (line != NULL) {
        explicit_bzero(line, cap);
        free(line); /* allocated by getline */
    }
    if (fp != NULL)
        fclose(fp);
    return rc;
}

/* Returns the matching entry for the presented token, or NULL; constant time over entries. */
static const struct rs_rpc__token *
token_match(rs_rpc_server *server, const char *token, size_t len)
{
    const struct rs_rpc__token *match = NULL;
    unsigned char digest[32];
    size_t i;

    if (!sha256(token, len, digest))
        return NULL;
    for (i = 0; i < server->n_tokens; i++) {
        if (CRYPTO_memcmp(digest, server->tokens[i].hash, sizeof(digest)) == 0 && match == NULL)
            match = &server->tokens[i];
    }
    explicit_bzero(digest, sizeof(digest));
    return match;
}

static bool
reject(struct rs_call *call, struct rs_rpc__status *st, grpc_status_code code,
       const char *reason, const char *message, const char *detail)
{
    st->code = code;
    st->reason = reason;
    st->message = message;
    st->meta_from = NULL;
    snprintf(call->log_detail, sizeof(call->log_detail), "%s", detail);
    return false;
}

static bool
check_token(struct rs_call *call, struct rs_rpc__status *st)
{
    const char *value, *token;
    size_t len;

    value = rs_rpc__metadata_get(&call->md, "authorization", &len);
    if (value == NULL || len == 0)
        return reject(call, st, GRPC_STATUS_UNAUTHENTICATED, "TOKEN_MISSING",
                      "missing bearer token", "no authorization metadata");
    if (rs_rpc__metadata_count(&call->md, "authorization") > 1)
        return reject(call, st, GRPC_STATUS_UNAUTHENTICATED, "TOKEN_INVALID",
                      "invalid bearer token: authorization metadata sent more than once",
                      "repeated authorization metadata");
    if (len < 7 || strncasecmp(value, "Bearer ", 7) != 0)
        return reject(call, st, GRPC_STATUS_UNAUTHENTICATED, "TOKEN_INVALID",
                      "invalid bearer token", "authorization scheme is not Bearer");
    token = value + 7;
    len -= 7;
    while (len > 0 && *token == ' ') {
        token++;
        len--;
    }
    if (len == 0)
        return reject(call, st, GRPC_STATUS_UNAUTHENTICATED, "TOKEN_MISSING",
                      "missing bearer token", "empty bearer token");
    call->caller = token_match(call->server, token, len);
    if (call->caller == NULL)
        return reject(call, st, GRPC_STATUS_UNAUTHENTICATED, "TOKEN_INVALID",
                      "invalid bearer token", "token matches no entry of the tokens file");
    return true;
}

bool
rs_rpc__authenticate(struct rs_call *call, struct rs_rpc__status *st)
{
    const struct rs_rpc_method *method = call->reg != NULL ? call->reg->method : NULL;
    unsigned flags = method != NULL ? method->flags : RS_RPC_PUBLIC;

    if (call->server->auth_enabled && !(flags & RS_RPC_PUBLIC)) {
        if (!check_token(call, st))
            return false;
    }
    if (flags & RS_RPC_NEED_ACTOR) {
        if (call->actor == NULL || call->actor[0] == '\0')
            return reject(call, st, GRPC_STATUS_UNAUTHENTICATED, "ACTOR_REQUIRED",
                          "missing x-roster-actor metadata", "");
        if (rs_rpc__metadata_count(&call->md, "x-roster-actor") > 1)
            return reject(call, st, GRPC_STATUS_INVALID_ARGUMENT, "ACTOR_INVALID",
                          "invalid x-roster-actor: sent more than once",
                          "repeated x-roster-actor metadata");
        if (!rs_id_valid(call->actor)) {
            char detail[64];

            /*
             * Only the length: a token pasted into the wrong header by
             * mistake must not reach the log.
             */
            snprintf(detail, sizeof(detail), "actor of %zu bytes", strlen(call->actor));
            return reject(call, st, GRPC_STATUS_INVALID_ARGUMENT, "ACTOR_INVALID",
                          "invalid x-roster-actor: expected 32 lower-case hex digits", detail);
        }
    }
    return true;
}
