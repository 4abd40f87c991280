/*
 * libs/rpc/src/wirecheck.c
 *    Checks the string fields of a received message on the wire.
 *
 * protobuf-c 1.4.1 neither checks that proto3 strings are UTF-8 nor keeps
 * their length: a string with a NUL byte reaches the handler cut at the NUL.
 * Reading the wire bytes once more finds both, so every service gets the
 * same refusal instead of storing a silently shortened value.
 */
#include "rpc_int.h"

#include <stdio.h>
#include <string.h>

#include "roster/str.h"

/* Deeper nesting than any Roster contract; also bounds the recursion. */
#define WIRE_MAX_DEPTH 32
#define WIRE_MAX_FIELD 536870911u /* 2^29 - 1 */

/* Reads a varint at *pos; returns false if it runs past len or is over 10 bytes. */
static bool
read_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    int shift;

    for (shift = 0; shift < 70 && *pos < len; shift += 7) {
        uint8_t b = data[(*pos)++];

        v |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

static rs_status
malformed(struct rs_error *err, const ProtobufCMessageDescriptor *desc)
{
    return rs_error_set(err, RS_EINVAL, "MALFORMED_MESSAGE",
                        "invalid request message: could not decode \"%s\"", desc->name);
}

/* Field paths are dotted from the request message: "owner.nickname". */
static rs_status
bad_string(struct rs_error *err, const char *reason, const char *what, const char *prefix,
           const char *name)
{
    char path[128];

    snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", name);
    rs_error_set(err, RS_EINVAL, reason, "field \"%s\" %s", path, what);
    rs_error_meta(err, "field", path);
    return RS_EINVAL;
}

static rs_status
check_message(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
              const char *prefix, int depth, struct rs_error *err)
{
    const ProtobufCFieldDescriptor *field;
    char path[128];
    size_t pos = 0;
    uint64_t key;
    uint64_t n;
    rs_status rc;

    if (depth > WIRE_MAX_DEPTH)
        return malformed(err, desc);
    while (pos < len) {
        if (!read_varint(data, len, &pos, &key))
            return malformed(err, desc);
        /*
         * Field numbers are 1 to 2^29 - 1. protobuf-c 1.4.1 rejects field 0
         * in a one-byte tag but keeps it as an unknown field when the tag is
         * padded (0x80 0x00), so reject it here whatever its encoding.
         */
        if ((key >> 3) == 0 || (key >> 3) > WIRE_MAX_FIELD)
            return malformed(err, desc);
        switch (key & 7) {
        case 0: /* varint */
            if (!read_varint(data, len, &pos, &n))
                return malformed(err, desc);
            break;
        case 1: /* fixed64 */
            if (len - pos < 8)
                return malformed(err, desc);
            pos += 8;
            break;
        case 5: /* fixed32 */
            if (len - pos < 4)
                return malformed(err, desc);
            pos += 4;
            break;
        case 2: /* length-delimited */
            if (!read_varint(data, len, &pos, &n) || n > len - pos)
                return malformed(err, desc);
            field = protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
            if (field != NULL && field->type == PROTOBUF_C_TYPE_STRING) {
                if (!rs_utf8_valid((const char *)data + pos, (size_t)n))
                    return bad_string(err, "INVALID_UTF8", "is not valid UTF-8", prefix,
                                      field->name);
                if (memchr(data + pos, '\0', (size_t)n) != NULL)
                    return bad_string(err, "INVALID_STRING", "contains a NUL character",
                                      prefix, field->name);
            } else if (field != NULL && field->type == PROTOBUF_C_TYPE_MESSAGE) {
                snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "",
                         field->name);
                rc = check_message(field->descriptor, data + pos, (size_t)n, path, depth + 1,
                                   err);
                if (rc != RS_OK)
                    return rc;
            }
            pos += (size_t)n;
            break;
        default: /* groups are not used by proto3 contracts */
            return malformed(err, desc);
        }
    }
    return RS_OK;
}

rs_status
rs_rpc__check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      struct rs_error *err)
{
    return check_message(desc, data, len, "", 0, err);
}
