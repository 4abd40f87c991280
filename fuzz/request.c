/*
 * fuzz/request.c
 *    Request decoding as the server does it, plus field walking and a
 *    pack round trip.
 */
#include "request.h"

#include <string.h>

#include "fuzz.h"
#include "roster/arena.h"
#include "roster/status.h"
#include "roster/str.h"
#include "rpc_int.h"

#define WALK_MAX_DEPTH 40

/* Number of values of field f in msg: 0 or 1 for singular fields, n for repeated ones. */
static size_t
field_count(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(base + f->quantifier_offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id ? 1 : 0;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
        f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_BYTES)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) ? 1 : 0;
    return 1;
}

/* Address of value i of field f: the member itself, or element i of its array. */
static const void *
field_value(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, size_t i)
{
    const char *member = (const char *)msg + f->offset;
    size_t size;

    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return member;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        size = sizeof(void *);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        size = 8;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        size = sizeof(protobuf_c_boolean);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        size = sizeof(ProtobufCBinaryData);
        break;
    default:
        size = 4;
        break;
    }
    return *(const char *const *)member + i * size;
}

static void
walk(const ProtobufCMessage *msg, const struct fuzz_fields *fields, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    unsigned i;

    FUZZ_ASSERT(depth < WALK_MAX_DEPTH);
    for (i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        size_t n = field_count(msg, f), k;

        for (k = 0; k < n; k++) {
            const void *v = field_value(msg, f, k);

            switch (f->type) {
            case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(const char *const *)v;

                FUZZ_ASSERT(s != NULL);
                /* The wire check let this message through, so it is UTF-8. */
                FUZZ_ASSERT(rs_utf8_valid(s, strlen(s)));
                fields->on_string(f->name, s);
                break;
            }
            case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;

                if (sub != NULL)
                    walk(sub, fields, depth + 1);
                break;
            }
            case PROTOBUF_C_TYPE_INT32:
            case PROTOBUF_C_TYPE_SINT32:
            case PROTOBUF_C_TYPE_SFIXED32:
            case PROTOBUF_C_TYPE_ENUM:
                fields->on_int(f->name, *(const int32_t *)v);
                break;
            case PROTOBUF_C_TYPE_UINT32:
            case PROTOBUF_C_TYPE_FIXED32:
                fields->on_int(f->name, *(const uint32_t *)v);
                break;
            case PROTOBUF_C_TYPE_INT64:
            case PROTOBUF_C_TYPE_SINT64:
            case PROTOBUF_C_TYPE_SFIXED64:
            case PROTOBUF_C_TYPE_UINT64:
            case PROTOBUF_C_TYPE_FIXED64:
                fields->on_int(f->name, *(const int64_t *)v);
                break;
            case PROTOBUF_C_TYPE_BOOL:
                fields->on_int(f->name, *(const protobuf_c_boolean *)v);
                break;
            default:
                break;
            }
        }
    }
}

/* Packs msg and decodes the result again, as a client would decode what the server returns. */
static void
round_trip(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    ProtobufCMessage *again;

    FUZZ_ASSERT(buf != NULL);
    FUZZ_ASSERT(protobuf_c_message_pack(msg, buf) == len);
    again = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    FUZZ_ASSERT(again != NULL);
    FUZZ_ASSERT(protobuf_c_message_get_packed_size(again) == len);
    protobuf_c_message_free_unpacked(again, NULL);
    free(buf);
}

void
fuzz_request(const ProtobufCServiceDescriptor *svc, const uint8_t *data, size_t size,
             const struct fuzz_fields *fields)
{
    const ProtobufCMessageDescriptor *desc;
    ProtobufCMessage *msg;
    struct rs_error err;
    rs_arena *arena;
    rs_status rc;

    if (size < 1 || svc->n_methods == 0)
        return;
    desc = svc->methods[data[0] % svc->n_methods].input;
    data++;
    size--;
    arena = rs_arena_create();
    FUZZ_ASSERT(arena != NULL);
    rs_error_clear(&err);
    msg = protobuf_c_message_unpack(desc, rs_arena_pb_allocator(arena), size, data);
    /* The wire check runs on any bytes, so it is exercised even when unpack fails. */
    rc = rs_rpc__check_strings(desc, data, size, &err);
    if (rc != RS_OK)
        FUZZ_ASSERT(err.reason[0] != '\0');
    if (msg != NULL && rc == RS_OK) {
        walk(msg, fields, 0);
        round_trip(msg);
    }
    rs_arena_destroy(arena);
}
