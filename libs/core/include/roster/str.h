/*
 * libs/core/include/roster/str.h
 *    UTF-8 checks and normalisation, ids and base64 helpers shared by every
 *    service.
 */
#ifndef RS_STR_H
#define RS_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roster/status.h"

/* Returns true if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool rs_utf8_valid(const char *s, size_t len);

/* Returns the number of code points in valid UTF-8 s[0..len). */
size_t rs_utf8_length(const char *s, size_t len);

/*
 * Cuts a trailing incomplete UTF-8 sequence off the NUL-terminated s, as left
 * by snprintf truncation, so the result stays valid UTF-8.
 */
void rs_utf8_trim_partial(char *s);

/* Returns true if s contains a C0 or C1 control character or DEL. */
bool rs_utf8_has_control(const char *s, size_t len);

/* Returns true if valid UTF-8 s is empty or only white space, Unicode spaces included. */
bool rs_utf8_is_blank(const char *s, size_t len);

/*
 * Returns true if non-empty valid UTF-8 s starts with white space, a
 * zero-width (non-)joiner or a variation selector, or ends with white
 * space or a zero-width (non-)joiner.
 */
bool rs_utf8_has_outer_space(const char *s, size_t len);

/*
 * Returns true if valid UTF-8 s contains an invisible format character
 * (zero-width space, word joiners, bidirectional controls, byte-order mark,
 * soft hyphen, the grapheme joiner, Hangul fillers, the blank Braille
 * pattern) or a noncharacter. Zero-width joiners and variation
 * selectors are allowed, because emoji and several scripts need them.
 */
bool rs_utf8_has_invisible(const char *s, size_t len);

/* Returns the byte length of the first max_cp code points of the NUL-terminated UTF-8 s. */
size_t rs_utf8_prefix(const char *s, size_t max_cp);

/*
 * Returns the byte length of valid UTF-8 s[0..len) without the white space
 * and zero-width (non-)joiners at its end.
 */
size_t rs_utf8_trim_end(const char *s, size_t len);

/*
 * Copies the valid, NUL-terminated UTF-8 s into out as a name that the
 * identity checks accept: a white-space control becomes a space, other
 * controls and invisible format characters are dropped, and the ends are
 * trimmed of what rs_utf8_has_outer_space rejects. Stops before the first code point that does not
 * fit. Writes a NUL when out_size > 0 and returns the length written.
 * The caller owns out.
 */
size_t rs_utf8_clean_name(const char *s, char *out, size_t out_size);

/*
 * Normalises s[0..len) to Unicode Normalization Form C (canonical
 * composition) with GNU libunistring's u8_normalize. On RS_OK *out
 * is a new NUL-terminated string of *out_len bytes, which the caller frees
 * with rs_free. The result can be longer than s (U+0958 becomes two code
 * points, for one). Returns RS_EINVAL if s is not valid UTF-8 (*out is then
 * NULL), RS_ENOMEM when out of memory.
 */
RS_MUSTCHECK rs_status rs_utf8_nfc(const char *s, size_t len, char **out, size_t *out_len);

/*
 * Returns true if s[0..len) is valid UTF-8 made only of code points that
 * NFC never changes in any context. These are the code points below
 * U+0300, the CJK ideographs of the main block and of extensions A and B,
 * and kana other than the combining sound marks. Such a string, like most
 * Chinese names, is already in NFC. A false result does not mean that NFC
 * changes it.
 */
bool rs_utf8_nfc_inert(const char *s, size_t len);

/* Returns true if NFC never changes code point cp in any context. */
bool rs_nfc_inert_code_point(uint32_t cp);

/* Returns the value of hexadecimal digit c (either case), or -1. */
int rs_hex_value(char c);

/*
 * Writes the n bytes at in as 2 * n lower-case hex digits and a NUL into
 * out, which the caller provides with room for 2 * n + 1 bytes.
 */
void rs_hex_encode(char *out, const void *in, size_t n);

/*
 * A 64-bit hash of the NUL-terminated s for hash tables (not for
 * security): every bit depends on every byte.
 */
uint64_t rs_hash_str(const char *s);

#define RS_ID_LEN 32

/* Writes a new random id (32 lower-case hex digits) and a NUL into out[33]. */
void rs_id_new(char out[RS_ID_LEN + 1]);

/* Returns true if s is 32 lower-case hex digits. */
bool rs_id_valid(const char *s);

/*
 * Encodes src[0..len) as unpadded base64url into out (NUL-terminated).
 * Returns RS_OK, or RS_ERANGE when out_size is too small.
 */
RS_MUSTCHECK rs_status rs_base64url_encode(const unsigned char *src, size_t len,
                                           char *out, size_t out_size);

/*
 * Decodes unpadded base64url src into out; *out_len receives the length.
 * Returns RS_OK, RS_EINVAL for malformed input, RS_ERANGE if out is too small.
 */
RS_MUSTCHECK rs_status rs_base64url_decode(const char *src, unsigned char *out,
                                           size_t out_size, size_t *out_len);

#endif /* RS_STR_H */
