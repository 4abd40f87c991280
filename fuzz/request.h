/*
 * fuzz/request.h
 *    The decoding path every unary call takes (libs/rpc/src/call.c), for
 *    the request fuzz targets: protobuf-c unpack into an arena, then the
 *    wire check of string fields, then the service's pure validations on
 *    every decoded field.
 */
#ifndef RS_FUZZ_REQUEST_H
#define RS_FUZZ_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Called for every string and every integer, enum or bool of a decoded message. */
struct fuzz_fields {
    void (*on_string)(const char *field, const char *value);
    void (*on_int)(const char *field, int64_t value);
};

/*
 * Decodes data[1..size) as the request of method data[0] % n_methods of
 * svc and, when the server would accept it, walks its fields with fields.
 * Aborts when a decoded message breaks what the wire check promises.
 */
void fuzz_request(const ProtobufCServiceDescriptor *svc, const uint8_t *data, size_t size,
                  const struct fuzz_fields *fields);

#endif /* RS_FUZZ_REQUEST_H */
