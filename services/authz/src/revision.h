/*
 * services/authz/src/revision.h
 *    Revision tokens: what writes return and reads accept. Opaque to
 *    clients; today "r" followed by the decimal organisation revision.
 */
#ifndef AUTHZ_REVISION_H
#define AUTHZ_REVISION_H

#include <stdint.h>

#include "roster/status.h"

/* Writes the token for rev (>= 0) into out. */
void authz_revision_format(int64_t rev, char out[64]);

/*
 * Parses token into *rev. An empty string (or NULL) means "no requirement"
 * and yields 0. A malformed token is RS_EINVAL with reason REVISION_INVALID.
 */
RS_MUSTCHECK rs_status authz_revision_parse(const char *token, int64_t *rev,
                                            struct rs_error *err);

#endif /* AUTHZ_REVISION_H */
