/*
 * services/sync/tests/test_secrets.c
 *    The app-secret keyring: seal and open, a wrong key or another
 *    source's additional data, rotation to a new key, and the key's
 *    environment variables.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"

static const char *const SOURCE = "0123456789abcdef0123456789abcdef";
static const char *const OTHER = "fedcba9876543210fedcba9876543210";
static const char *const SECRET = "app-secret-XYZ-0123456789";

static void
fill(unsigned char key[SYNC_KEY_LEN], unsigned char v)
{
    memset(key, v, SYNC_KEY_LEN);
}

static struct sync_keyring *
ring(unsigned char cur, int prev)
{
    unsigned char a[SYNC_KEY_LEN];
    unsigned char b[SYNC_KEY_LEN];
    struct sync_keyring *keys = NULL;
    struct rs_error err;

    fill(a, cur);
    fill(b, (unsigned char)prev);
    assert_int_equal(sync_keyring_create(a, prev >= 0 ? b : NULL, &keys, &err), RS_OK);
    return keys;
}

static void
seal(struct sync_keyring *keys, const char *aad, unsigned char **out, size_t *len)
{
    struct rs_error err;

    assert_int_equal(sync_secret_seal(keys, aad, SECRET, strlen(SECRET), out, len, &err),
                     RS_OK);
    assert_int_equal(*len, 12 + strlen(SECRET) + 16);
    /* The plaintext never appears in the sealed bytes. */
    assert_null(memmem(*out, *len, SECRET, strlen(SECRET)));
}

static void
test_round_trip(void **state)
{
    struct sync_keyring *keys = ring(1, -1);
    unsigned char *sealed = NULL;
    unsigned char *again = NULL;
    char *plain = NULL;
    size_t len = 0;
    size_t len2 = 0;
    struct rs_error err;

    (void)state;
    seal(keys, SOURCE, &sealed, &len);
    seal(keys, SOURCE, &again, &len2);
    /* A fresh nonce every time. */
    assert_memory_not_equal(sealed, again, len);
    assert_int_equal(strlen(sync_keyring_key_id(keys)), 16);
    assert_int_equal(sync_secret_open(keys, sync_keyring_key_id(keys), SOURCE, sealed, len,
                                      &plain, &err),
                     RS_OK);
    assert_string_equal(plain, SECRET);
    sync_secret_free(plain);
    free(sealed);
    free(again);
    sync_keyring_free(keys);
}

static void
test_wrong_key(void **state)
{
    struct sync_keyring *keys = ring(1, -1);
    struct sync_keyring *other = ring(2, -1);
    unsigned char *sealed = NULL;
    char *plain = (char *)"x";
    size_t len = 0;
    struct rs_error err;

    (void)state;
    seal(keys, SOURCE, &sealed, &len);
    /* Unknown key id. */
    assert_int_equal(sync_secret_open(other, sync_keyring_key_id(keys), SOURCE, sealed, len,
                                      &plain, &err),
                     RS_EPRECOND);
    assert_string_equal(err.reason, "SECRET_UNREADABLE");
    assert_null(plain);
    assert_null(strstr(err.message, SECRET));
    /* A key claiming the id it does not have: the tag fails. */
    plain = (char *)"x";
    assert_int_equal(sync_secret_open(other, sync_keyring_key_id(other), SOURCE, sealed, len,
                                      &plain, &err),
                     RS_EPRECOND);
    assert_string_equal(err.reason, "SECRET_UNREADABLE");
    assert_null(plain);
    /* The right key, but sealed for another source. */
    assert_int_equal(sync_secret_open(keys, sync_keyring_key_id(keys), OTHER, sealed, len,
                                      &plain, &err),
                     RS_EPRECOND);
    assert_null(plain);
    /* A flipped byte. */
    sealed[20] ^= 1;
    assert_int_equal(sync_secret_open(keys, sync_keyring_key_id(keys), SOURCE, sealed, len,
                                      &plain, &err),
                     RS_EPRECOND);
    assert_null(plain);
    /* Too short to hold a nonce and a tag. */
    assert_int_equal(sync_secret_open(keys, sync_keyring_key_id(keys), SOURCE, sealed, 10,
                                      &plain, &err),
                     RS_EPRECOND);
    free(sealed);
    sync_keyring_free(keys);
    sync_keyring_free(other);
}

static void
test_rotation(void **state)
{
    struct sync_keyring *old = ring(1, -1);
    struct sync_keyring *rotated = ring(2, 1);
    struct sync_keyring *later = ring(3, 2);
    unsigned char *sealed = NULL;
    unsigned char *fresh = NULL;
    char old_id[17];
    char *plain = NULL;
    size_t len = 0;
    size_t fresh_len = 0;
    struct rs_error err;

    (void)state;
    snprintf(old_id, sizeof(old_id), "%s", sync_keyring_key_id(old));
    seal(old, SOURCE, &sealed, &len);
    assert_string_not_equal(old_id, sync_keyring_key_id(rotated));
    /* The previous key still opens what it sealed ... */
    assert_int_equal(sync_secret_open(rotated, old_id, SOURCE, sealed, len, &plain, &err),
                     RS_OK);
    assert_string_equal(plain, SECRET);
    /* ... and the re-sealed copy is under the current key. */
    assert_int_equal(sync_secret_seal(rotated, SOURCE, plain, strlen(plain), &fresh,
                                      &fresh_len, &err),
                     RS_OK);
    sync_secret_free(plain);
    plain = NULL;
    assert_int_equal(sync_secret_open(later, sync_keyring_key_id(rotated), SOURCE, fresh,
                                      fresh_len, &plain, &err),
                     RS_OK);
    sync_secret_free(plain);
    plain = NULL;
    /* Two rotations later the first key is gone. */
    assert_int_equal(sync_secret_open(later, old_id, SOURCE, sealed, len, &plain, &err),
                     RS_EPRECOND);
    assert_string_equal(err.reason, "SECRET_UNREADABLE");
    free(sealed);
    free(fresh);
    sync_keyring_free(old);
    sync_keyring_free(rotated);
    sync_keyring_free(later);
}

static void
test_env(void **state)
{
    struct sync_keyring *keys = NULL;
    char path[] = "/tmp/sync-key-XXXXXX";
    struct rs_error err;
    int fd;

    (void)state;
    unsetenv("ROSTER_SYNC_SECRET_KEY");
    unsetenv("ROSTER_SYNC_SECRET_KEY_FILE");
    unsetenv("ROSTER_SYNC_SECRET_KEY_PREVIOUS");
    unsetenv("ROSTER_SYNC_SECRET_KEY_PREVIOUS_FILE");
    assert_int_equal(sync_keyring_load(&keys, &err), RS_EINVAL);
    assert_string_equal(err.reason, "SECRET_KEY_MISSING");
    assert_non_null(strstr(err.message, "ROSTER_SYNC_SECRET_KEY"));

    setenv("ROSTER_SYNC_SECRET_KEY", "c2hvcnQ=", 1);
    assert_int_equal(sync_keyring_load(&keys, &err), RS_EINVAL);
    assert_string_equal(err.reason, "SECRET_KEY_INVALID");
    assert_null(strstr(err.message, "c2hvcnQ="));

    setenv("ROSTER_SYNC_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 1);
    assert_int_equal(sync_keyring_load(&keys, &err), RS_OK);
    sync_keyring_free(keys);

    unsetenv("ROSTER_SYNC_SECRET_KEY");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n", 45), 45);
    close(fd);
    setenv("ROSTER_SYNC_SECRET_KEY_FILE", path, 1);
    setenv("ROSTER_SYNC_SECRET_KEY_PREVIOUS", "not base64 at all", 1);
    assert_int_equal(sync_keyring_load(&keys, &err), RS_EINVAL);
    assert_non_null(strstr(err.message, "ROSTER_SYNC_SECRET_KEY_PREVIOUS"));
    unsetenv("ROSTER_SYNC_SECRET_KEY_PREVIOUS");
    assert_int_equal(sync_keyring_load(&keys, &err), RS_OK);
    sync_keyring_free(keys);
    unlink(path);
    unsetenv("ROSTER_SYNC_SECRET_KEY_FILE");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
