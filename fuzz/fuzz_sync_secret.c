/*
 * fuzz/fuzz_sync_secret.c
 *    Fuzz target: decrypting stored app secrets (services/sync/src/secrets.c).
 *    The first byte picks the key id and the associated data; the rest is
 *    the sealed value as stored, which must never open. The input is also
 *    sealed as a secret: it must open again under the same key id and
 *    source, and not after any byte of it changes. Last, the input read as
 *    PostgreSQL's text form of bytea must print back to the same bytes.
 */
#define _GNU_SOURCE /* memmem */

#include <string.h>

#include "control.h"
#include "fuzz.h"

/*
 * secrets.c reports allocation failures through sync_nomem, which lives in
 * actor.c with the gRPC handlers; this target defines the same function.
 */
rs_status
sync_nomem(struct rs_error *err)
{
    return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
}

static struct sync_keyring *
keyring(void)
{
    static struct sync_keyring *keys;
    unsigned char current[SYNC_KEY_LEN], previous[SYNC_KEY_LEN];
    struct rs_error err;

    if (keys == NULL) {
        memset(current, 0x11, sizeof(current));
        memset(previous, 0x22, sizeof(previous));
        rs_error_clear(&err);
        FUZZ_ASSERT(sync_keyring_create(current, previous, &keys, &err) == RS_OK);
    }
    return keys;
}

static void
check_sealed_input(const struct sync_keyring *keys, uint8_t selector, const uint8_t *data,
                   size_t size)
{
    static const char *const aads[] = { "", "0123456789abcdef0123456789abcdef", "x" };
    const char *key_id = (selector & 1) ? sync_keyring_key_id(keys) : "0000000000000000";
    struct rs_error err;
    char *plain = NULL;
    rs_status rc;

    rs_error_clear(&err);
    rc = sync_secret_open(keys, key_id, aads[(selector >> 1) % 3], data, size, &plain, &err);
    /* Forging AES-GCM is out of a fuzzer's reach, so nothing made up opens. */
    FUZZ_ASSERT(rc != RS_OK);
    FUZZ_ASSERT(plain == NULL);
    FUZZ_ASSERT(strcmp(err.reason, "SECRET_UNREADABLE") == 0);
}

static void
check_seal_open(const struct sync_keyring *keys, const uint8_t *data, size_t size)
{
    const char *aad = "0123456789abcdef0123456789abcdef";
    char *secret = fuzz_cstr(data, size);
    size_t len = strlen(secret), sealed_len = 0, i;
    unsigned char *sealed = NULL;
    struct rs_error err;
    char *plain = NULL;
    rs_status rc;

    rs_error_clear(&err);
    rc = sync_secret_seal(keys, aad, secret, len, &sealed, &sealed_len, &err);
    if (rc != RS_OK) {
        FUZZ_ASSERT(strcmp(err.reason, "FIELD_INVALID") == 0);
        free(secret);
        return;
    }
    FUZZ_ASSERT(sealed_len > len);
    /* The secret is encrypted: its bytes do not appear in the sealed value. */
    if (len >= 8)
        FUZZ_ASSERT(memmem(sealed, sealed_len, secret, len) == NULL);
    FUZZ_ASSERT(sync_secret_open(keys, sync_keyring_key_id(keys), aad, sealed, sealed_len,
                                 &plain, &err) == RS_OK);
    FUZZ_ASSERT(strcmp(plain, secret) == 0);
    sync_secret_free(plain);
    plain = NULL;
    FUZZ_ASSERT(sync_secret_open(keys, sync_keyring_key_id(keys), "another source", sealed,
                                 sealed_len, &plain, &err) == RS_EPRECOND);
    FUZZ_ASSERT(plain == NULL);
    /* Change one byte, chosen by the input, of nonce, ciphertext or tag. */
    i = size > 0 ? data[0] % sealed_len : 0;
    sealed[i] ^= 0x01;
    FUZZ_ASSERT(sync_secret_open(keys, sync_keyring_key_id(keys), aad, sealed, sealed_len,
                                 &plain, &err) == RS_EPRECOND);
    FUZZ_ASSERT(plain == NULL);
    free(sealed);
    free(secret);
}

static void
check_bytea(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    unsigned char *bytes = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    struct rs_error err;
    char *printed;

    rs_error_clear(&err);
    if (sync_bytea_value(text, &bytes, &len, &err) == RS_OK) {
        printed = sync_bytea_param(bytes, len);
        FUZZ_ASSERT(printed != NULL);
        FUZZ_ASSERT(strlen(printed) == strlen(text));
        FUZZ_ASSERT(sync_bytea_value(printed, &again, &len2, &err) == RS_OK);
        FUZZ_ASSERT(len2 == len && memcmp(again, bytes, len) == 0);
        free(again);
        free(printed);
        free(bytes);
    } else {
        FUZZ_ASSERT(bytes == NULL);
    }
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct sync_keyring *keys = keyring();

    if (size < 1)
        return 0;
    check_sealed_input(keys, data[0], data + 1, size - 1);
    check_seal_open(keys, data + 1, size - 1);
    check_bytea(data, size);
    return 0;
}
