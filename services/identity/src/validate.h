/*
 * services/identity/src/validate.h
 *    Input rules of the identity service that need no database: text
 *    fields and enums (page sizes and tokens are in roster/page.h). Every
 *    check fills err with INVALID_ARGUMENT, a stable reason and a "field"
 *    meta entry.
 */
#ifndef IDENTITY_VALIDATE_H
#define IDENTITY_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "roster/actor.h"
#include "roster/arena.h"
#include "roster/name.h"
#include "roster/page.h"
#include "roster/status.h"

#define IDENTITY_NICKNAME_MAX 50    /* code points */
#define IDENTITY_ORG_NAME_MAX 100   /* code points */
#define IDENTITY_GROUP_NAME_MAX 255 /* code points */
#define IDENTITY_GROUP_DESC_MAX 255 /* code points */
#define IDENTITY_ACCOUNT_ID_MAX 64  /* code points */
#define IDENTITY_EXTERNAL_ID_MAX 64 /* code points */
#define IDENTITY_KEYWORD_MAX 50     /* code points, as long as a nickname */
#define IDENTITY_EMAIL_MAX 254      /* bytes */
#define IDENTITY_BATCH_MAX 1000


/*
 * Nickname: 1 to 50 code points of valid UTF-8, no control characters,
 * not only white space. NICKNAME_INVALID or NICKNAME_TOO_LONG.
 */
RS_MUSTCHECK rs_status identity_validate_nickname(const char *value, struct rs_error *err);

/* Empty, or local@domain.tld of at most 254 bytes without spaces. EMAIL_INVALID. */
RS_MUSTCHECK rs_status identity_validate_email(const char *value, struct rs_error *err);

/*
 * Empty, or an optional leading '+' then 5 to 20 digits, with single '-' or
 * ' ' allowed between digits. PHONE_INVALID.
 */
RS_MUSTCHECK rs_status identity_validate_phone(const char *value, struct rs_error *err);

/* Empty, or up to 64 code points without control characters or spaces. ACCOUNT_ID_INVALID. */
RS_MUSTCHECK rs_status identity_validate_account_id(const char *value, struct rs_error *err);

/*
 * A display name of 1 to max_len code points, no control characters, not
 * only white space (allow_empty also accepts ""). On failure sets reason.
 */
RS_MUSTCHECK rs_status identity_validate_text(const char *field, const char *value,
                                              size_t max_len, bool allow_empty,
                                              const char *reason, struct rs_error *err);


/* user_type must be 1, 2 or 3. USER_TYPE_INVALID. */
RS_MUSTCHECK rs_status identity_validate_user_type(const char *field, int value,
                                                   struct rs_error *err);

/* platform must be 1, 2 or 3. PLATFORM_INVALID. */
RS_MUSTCHECK rs_status identity_validate_platform(const char *field, int value,
                                                  struct rs_error *err);

#endif /* IDENTITY_VALIDATE_H */
