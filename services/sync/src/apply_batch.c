/*
 * services/sync/src/apply_batch.c
 *    Identity batch calls of Start Sync, split in halves while a message is
 *    too large for identity. Start Sync then works with any identity
 *    ROSTER_MAX_MESSAGE_BYTES that one entry and its reply fit in.
 */
#include "dataplane.h"

#include <stdio.h>
#include <string.h>

/*
 * Whether gRPC core rejected the request because it is larger than
 * identity's ROSTER_MAX_MESSAGE_BYTES. Nothing ran then. gRPC sends no
 * Roster reason, so the client sets the status name as reason, and the
 * status message is "Received message larger than max (N vs. M)" (gRPC
 * 1.51). Later versions put "SERVER: " or "CLIENT: " before it. Other
 * RESOURCE_EXHAUSTED errors without a Roster reason are not taken as this,
 * because an out-of-memory error of identity may come after its commit.
 *
 * NOTE: gRPC 1.51 words the sync's own rejection of a reply above its
 * client limit (4 MiB) the same. Replies to Start Sync's batches stay far
 * below that, so a match is taken as identity's rejection of the request.
 */
static bool
request_too_large(const struct rs_error *e)
{
    return e->code == RS_ERESOURCE && strcmp(e->reason, "RESOURCE_EXHAUSTED") == 0 &&
           strstr(e->message, "Received message larger than max") != NULL &&
           strncmp(e->message, "CLIENT:", 7) != 0;
}

/* identity checks the size of a batch reply before it commits. */
static bool
response_too_large(const struct rs_error *e)
{
    return e->code == RS_ERESOURCE && strcmp(e->reason, "RESPONSE_TOO_LARGE") == 0;
}

/* Remembers the size of a request that gRPC rejected, so that later
 * requests at least as large are split before they are sent. */
static void
note_rejected(struct sync_dp_apply *a, const struct sync_dp_batch *b, size_t size)
{
    size_t seen = atomic_load(&a->rejected_request_bytes);
    char num[24];

    while (seen == 0 || size < seen) {
        if (!atomic_compare_exchange_weak(&a->rejected_request_bytes, &seen, size))
            continue;
        if (seen == 0) {
            snprintf(num, sizeof(num), "%zu", size);
            rs_log_info(&a->job->log,
                        "identity rejected a request as too large, sending smaller batches",
                        "method", b->method, "request_bytes", num, NULL);
        }
        return;
    }
}

void
sync_dp_batch_error(const struct rs_error *err, size_t n_results, size_t n, const char *what,
                    struct rs_error *out)
{
    rs_error_clear(out);
    if (err != NULL)
        *out = *err;
    else if (n_results != n)
        rs_error_set(out, RS_EINTERNAL, "INTERNAL", "identity returned %zu results for %zu %s",
                     n_results, n, what);
}

void
sync_dp_batch_send(struct sync_dp_apply *a, const struct sync_dp_batch *b, size_t first,
                   size_t n)
{
    ProtobufCMessage *resp = NULL;
    struct rs_error e;
    char grpc_message[sizeof(e.message)];
    size_t size;
    size_t rejected;
    bool split = false;

    if (n == 0)
        return;
    b->range(b->arg, first, n);
    size = protobuf_c_message_get_packed_size(b->req);
    rs_error_clear(&e);
    /* gRPC rejects any request at least as large as one it rejected. */
    rejected = atomic_load(&a->rejected_request_bytes);
    if (n > 1 && rejected != 0 && size >= rejected) {
        split = true;
    } else if (sync_dp_call(a->svc, false, a->job->operator_id, b->method, b->req,
                            b->resp_desc, b->arena, &resp, &e) == RS_OK) {
        b->take(b->arg, first, n, resp, NULL);
        return;
    } else if (request_too_large(&e)) {
        note_rejected(a, b, size);
        split = n > 1;
        if (!split) {
            snprintf(grpc_message, sizeof(grpc_message), "%s", e.message);
            rs_error_set(&e, RS_ERESOURCE, "REQUEST_TOO_LARGE",
                         "the %s request for this entry alone is %zu bytes, more than "
                         "identity's ROSTER_MAX_MESSAGE_BYTES allows. Raise that limit to "
                         "sync it. gRPC reported: %s",
                         b->method, size, grpc_message);
        }
    } else if (response_too_large(&e)) {
        split = n > 1;
        if (!split)
            rs_error_set(&e, RS_ERESOURCE, "RESPONSE_TOO_LARGE",
                         "identity's %s reply for this entry alone would be larger than "
                         "its ROSTER_MAX_MESSAGE_BYTES allows. Raise that limit to sync it.",
                         b->method);
    }
    if (!split) {
        b->take(b->arg, first, n, NULL, &e);
        return;
    }
    sync_dp_batch_send(a, b, first, n / 2);
    sync_dp_batch_send(a, b, first + n / 2, n - n / 2);
}
