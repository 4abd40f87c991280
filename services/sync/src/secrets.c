/*
 * services/sync/src/secrets.c
 *    App secrets at rest: AES-256-GCM under a data key from the
 *    environment, with the previous key kept for rotation. A sealed secret
 *    is nonce (12) || ciphertext || tag (16); the source id is bound as
 *    additional data, so a sealed secret copied to another source does not
 *    open.
 */
#include "control.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "roster/cfg.h"
#include "roster/str.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define SECRET_MAX 4096

struct sync_key {
    unsigned char key[SYNC_KEY_LEN];
    char id[SYNC_KEY_ID_LEN + 1];
};

struct sync_keyring {
    struct sync_key current;
    struct sync_key previous;
    bool has_previous;
};

static void
key_init(struct sync_key *k, const unsigned char raw[SYNC_KEY_LEN])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int i;

    memcpy(k->key, raw, SYNC_KEY_LEN);
    SHA256(raw, SYNC_KEY_LEN, digest);
    for (i = 0; i < SYNC_KEY_ID_LEN / 2; i++)
        snprintf(k->id + 2 * i, 3, "%02x", digest[i]);
    OPENSSL_cleanse(digest, sizeof(digest));
}

rs_status
sync_keyring_create(const unsigned char current[SYNC_KEY_LEN], const unsigned char *previous,
                    struct sync_keyring **out, struct rs_error *err)
{
    struct sync_keyring *keys = calloc(1, sizeof(*keys));

    if (keys == NULL)
        return sync_nomem(err);
    key_init(&keys->current, current);
    if (previous != NULL) {
        key_init(&keys->previous, previous);
        keys->has_previous = strcmp(keys->previous.id, keys->current.id) != 0;
    }
    *out = keys;
    return RS_OK;
}

void
sync_keyring_free(struct sync_keyring *keys)
{
    if (keys == NULL)
        return;
    OPENSSL_cleanse(keys, sizeof(*keys));
    free(keys);
}

const char *
sync_keyring_key_id(const struct sync_keyring *keys)
{
    return keys->current.id;
}

/* Decodes standard base64 (padding and surrounding space allowed) into exactly 32 bytes. */
static bool
decode_key(const char *text, size_t len, unsigned char out[SYNC_KEY_LEN])
{
    unsigned char buf[96];
    char clean[96];
    size_t n = 0;
    size_t i;
    int got;
    int pad = 0;

    for (i = 0; i < len; i++) {
        if (isspace((unsigned char)text[i]))
            continue;
        if (n + 1 >= sizeof(clean))
            return false;
        clean[n++] = text[i];
    }
    clean[n] = '\0';
    if (n != 44)
        return false;
    pad = 0;
    if (clean[43] == '=')
        pad++;
    if (clean[43] == '=' && clean[42] == '=')
        pad++;
    got = EVP_DecodeBlock(buf, (const unsigned char *)clean, (int)n);
    if (got < 0 || got - pad != SYNC_KEY_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return false;
    }
    memcpy(out, buf, SYNC_KEY_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_cleanse(clean, sizeof(clean));
    return true;
}

/*
 * Reads one key from VAR (base64) or VAR_FILE (base64 text, or exactly 32
 * raw bytes). *found is false when neither is set.
 */
static rs_status
read_key(const char *var, unsigned char out[SYNC_KEY_LEN], bool *found, struct rs_error *err)
{
    char file_var[96];
    const char *text = NULL;
    const char *path = NULL;
    unsigned char buf[256];
    size_t n;
    FILE *f;
    rs_status rc;

    *found = false;
    snprintf(file_var, sizeof(file_var), "%s_FILE", var);
    rs_cfg_string(var, NULL, &text);
    if (text != NULL) {
        *found = true;
        if (!decode_key(text, strlen(text), out))
            return rs_error_set(err, RS_EINVAL, "SECRET_KEY_INVALID",
                                "invalid value for %s: expected the base64 encoding of "
                                "32 bytes",
                                var);
        return RS_OK;
    }
    rc = rs_cfg_file(file_var, &path, err);
    if (rc != RS_OK)
        return rc;
    if (path == NULL)
        return RS_OK;
    *found = true;
    f = fopen(path, "rb");
    if (f == NULL)
        return rs_error_set(err, RS_EINVAL, "SECRET_KEY_INVALID", "could not open %s \"%s\"",
                            file_var, path);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n == SYNC_KEY_LEN) {
        memcpy(out, buf, SYNC_KEY_LEN);
    } else if (!decode_key((const char *)buf, n, out)) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return rs_error_set(err, RS_EINVAL, "SECRET_KEY_INVALID",
                            "invalid key in %s \"%s\": expected 32 bytes or their base64 "
                            "encoding",
                            file_var, path);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return RS_OK;
}

rs_status
sync_keyring_load(struct sync_keyring **out, struct rs_error *err)
{
    unsigned char current[SYNC_KEY_LEN];
    unsigned char previous[SYNC_KEY_LEN];
    bool found = false;
    bool has_previous = false;
    rs_status rc;

    rc = read_key("ROSTER_SYNC_SECRET_KEY", current, &found, err);
    if (rc != RS_OK)
        goto out;
    if (!found) {
        rc = rs_error_set(err, RS_EINVAL, "SECRET_KEY_MISSING",
                          "missing ROSTER_SYNC_SECRET_KEY: set it to the base64 encoding of "
                          "a 32-byte key, or set ROSTER_SYNC_SECRET_KEY_FILE");
        goto out;
    }
    rc = read_key("ROSTER_SYNC_SECRET_KEY_PREVIOUS", previous, &has_previous, err);
    if (rc != RS_OK)
        goto out;
    rc = sync_keyring_create(current, has_previous ? previous : NULL, out, err);
out:
    OPENSSL_cleanse(current, sizeof(current));
    OPENSSL_cleanse(previous, sizeof(previous));
    return rc;
}

rs_status
sync_secret_seal(const struct sync_keyring *keys, const char *aad, const char *secret,
                 size_t len, unsigned char **out, size_t *out_len, struct rs_error *err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    int n = 0;
    int fin = 0;
    rs_status rc = RS_EINTERNAL;

    *out = NULL;
    if (len > SECRET_MAX)
        return rs_error_set(err, RS_EINVAL, "FIELD_INVALID",
                            "invalid app_secret: longer than %d bytes", SECRET_MAX);
    buf = malloc(NONCE_LEN + len + TAG_LEN);
    ctx = EVP_CIPHER_CTX_new();
    if (buf == NULL || ctx == NULL) {
        rc = sync_nomem(err);
        goto out;
    }
    if (RAND_bytes(buf, NONCE_LEN) != 1 ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, keys->current.key, buf) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, buf + NONCE_LEN, &n, (const unsigned char *)secret,
                          (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, buf + NONCE_LEN + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, buf + NONCE_LEN + len) != 1) {
        rs_error_set(err, RS_EINTERNAL, "INTERNAL", "could not encrypt the app secret");
        goto out;
    }
    *out = buf;
    *out_len = NONCE_LEN + len + TAG_LEN;
    buf = NULL;
    rc = RS_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(buf);
    return rc;
}

static rs_status
unreadable(struct rs_error *err)
{
    return rs_error_set(err, RS_EPRECOND, "SECRET_UNREADABLE",
                        "could not decrypt the stored app secret: the data key changed; set "
                        "the app secret again with UpdateSource");
}

rs_status
sync_secret_open(const struct sync_keyring *keys, const char *key_id, const char *aad,
                 const unsigned char *sealed, size_t len, char **out, struct rs_error *err)
{
    const struct sync_key *key = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    char *plain = NULL;
    size_t plain_len;
    int n = 0;
    int fin = 0;
    rs_status rc = RS_EPRECOND;

    *out = NULL;
    if (strcmp(key_id, keys->current.id) == 0)
        key = &keys->current;
    else if (keys->has_previous && strcmp(key_id, keys->previous.id) == 0)
        key = &keys->previous;
    if (key == NULL || len < NONCE_LEN + TAG_LEN)
        return unreadable(err);
    plain_len = len - NONCE_LEN - TAG_LEN;
    plain = malloc(plain_len + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (plain == NULL || ctx == NULL) {
        rc = sync_nomem(err);
        goto out;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key->key, sealed) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, sealed + NONCE_LEN,
                          (int)plain_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                            (void *)(sealed + NONCE_LEN + plain_len)) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + n, &fin) != 1) {
        /* A failed tag leaves unverified plaintext in the buffer: wipe it. */
        OPENSSL_cleanse(plain, plain_len + 1);
        rc = unreadable(err);
        goto out;
    }
    plain[plain_len] = '\0';
    *out = plain;
    plain = NULL;
    rc = RS_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(plain);
    return rc;
}

void
sync_secret_free(char *secret)
{
    if (secret == NULL)
        return;
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

char *
sync_bytea_param(const unsigned char *data, size_t len)
{
    char *out = malloc(3 + 2 * len);
    size_t i;

    if (out == NULL)
        return NULL;
    out[0] = '\\';
    out[1] = 'x';
    for (i = 0; i < len; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", data[i]);
    out[2 + 2 * len] = '\0';
    return out;
}

rs_status
sync_bytea_value(const char *text, unsigned char **out, size_t *len, struct rs_error *err)
{
    size_t n = strlen(text);
    unsigned char *buf;
    size_t i;

    *out = NULL;
    if (n < 2 || text[0] != '\\' || text[1] != 'x' || (n - 2) % 2 != 0)
        return rs_error_set(err, RS_EINTERNAL, "INTERNAL", "unexpected bytea format");
    buf = malloc((n - 2) / 2 + 1);
    if (buf == NULL)
        return sync_nomem(err);
    for (i = 0; i < (n - 2) / 2; i++) {
        int hi = rs_hex_value(text[2 + 2 * i]);
        int lo = rs_hex_value(text[3 + 2 * i]);

        if (hi < 0 || lo < 0) {
            free(buf);
            return rs_error_set(err, RS_EINTERNAL, "INTERNAL", "unexpected bytea format");
        }
        buf[i] = (unsigned char)(hi * 16 + lo);
    }
    *out = buf;
    *len = (n - 2) / 2;
    return RS_OK;
}

struct reseal_op {
    const struct sync_keyring *keys;
    int n;
};

static rs_status
reseal_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct reseal_op *o = arg;
    const char *params[3];
    PGresult *res = NULL;
    rs_status rc;
    int i;

    o->n = 0;
    params[0] = o->keys->current.id;
    rc = rs_db_query(conn, "sync.reseal_list",
                     "SELECT id, secret_key_id, secret_sealed FROM sync.sources "
                     "WHERE secret_key_id <> $1 FOR UPDATE",
                     1, params, &res, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < PQntuples(res) && rc == RS_OK; i++) {
        const char *id = PQgetvalue(res, i, 0);
        unsigned char *sealed = NULL;
        unsigned char *fresh = NULL;
        char *plain = NULL;
        char *hex = NULL;
        size_t len = 0;
        size_t fresh_len = 0;
        struct rs_error e;

        rs_error_clear(&e);
        rc = sync_bytea_value(PQgetvalue(res, i, 2), &sealed, &len, err);
        if (rc != RS_OK)
            break;
        if (sync_secret_open(o->keys, PQgetvalue(res, i, 1), id, sealed, len, &plain, &e) !=
            RS_OK) {
            rs_log_warn(NULL, "could not re-seal an app secret: its key is neither the "
                              "current nor the previous one",
                        "source_id", id, "key_id", PQgetvalue(res, i, 1), NULL);
            free(sealed);
            continue;
        }
        rc = sync_secret_seal(o->keys, id, plain, strlen(plain), &fresh, &fresh_len, err);
        sync_secret_free(plain);
        if (rc == RS_OK) {
            hex = sync_bytea_param(fresh, fresh_len);
            if (hex == NULL)
                rc = sync_nomem(err);
        }
        if (rc == RS_OK) {
            params[0] = id;
            params[1] = hex;
            params[2] = o->keys->current.id;
            rc = rs_db_query(conn, "sync.reseal_update",
                             "UPDATE sync.sources SET secret_sealed = $2::bytea, "
                             "secret_key_id = $3 WHERE id = $1",
                             3, params, NULL, err);
        }
        if (rc == RS_OK)
            o->n++;
        free(hex);
        free(fresh);
        free(sealed);
    }
    PQclear(res);
    return rc;
}

rs_status
sync_keyring_reseal(const struct sync_keyring *keys, rs_db_pool *pool, int *n_resealed,
                    struct rs_error *err)
{
    struct reseal_op o = { keys, 0 };
    rs_status rc;

    rc = rs_db_tx(pool, RS_DB_READ_COMMITTED, 0, reseal_body, &o, err);
    if (n_resealed != NULL)
        *n_resealed = o.n;
    return rc;
}
