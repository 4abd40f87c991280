/*
 * libs/rpc/src/details.c
 *    The "grpc-status-details-bin" trailer: a google.rpc.Status carrying one
 *    google.rpc.ErrorInfo (reason, domain "roster", metadata), packed by the
 *    server and unpacked by the client.
 */
#include "roster/rpc.h"

#include <stdio.h>
#include <string.h>

#include "google/protobuf/any.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "roster/alloc.h"
#include "rpc_int.h"

#define ERROR_INFO_TYPE_URL "type.googleapis.com/google.rpc.ErrorInfo"
#define ERROR_DOMAIN "roster"

/* Packs st as a google.rpc.Status; *out is rs_malloc'ed and owned by the caller. */
rs_status
rs_rpc__status_details_pack(const struct rs_rpc__status *st, unsigned char **out,
                            size_t *out_len)
{
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
    Google__Rpc__ErrorInfo__MetadataEntry entries[RS_ERROR_META_MAX];
    Google__Rpc__ErrorInfo__MetadataEntry *entry_ptrs[RS_ERROR_META_MAX];
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Google__Protobuf__Any *anys[1];
    unsigned char *info_buf = NULL, *buf = NULL;
    size_t info_len, len;
    int i, n_meta = 0;

    *out = NULL;
    *out_len = 0;
    info.reason = (char *)(st->reason != NULL ? st->reason : "");
    info.domain = (char *)ERROR_DOMAIN;
    if (st->meta_from != NULL) {
        n_meta = st->meta_from->n_meta;
        if (n_meta > RS_ERROR_META_MAX)
            n_meta = RS_ERROR_META_MAX;
        for (i = 0; i < n_meta; i++) {
            google__rpc__error_info__metadata_entry__init(&entries[i]);
            entries[i].key = (char *)st->meta_from->meta_key[i];
            entries[i].value = (char *)st->meta_from->meta_value[i];
            entry_ptrs[i] = &entries[i];
        }
    }
    info.n_metadata = (size_t)n_meta;
    info.metadata = n_meta > 0 ? entry_ptrs : NULL;

    info_len = google__rpc__error_info__get_packed_size(&info);
    info_buf = rs_malloc(info_len + 1);
    if (info_buf == NULL)
        return RS_ENOMEM;
    google__rpc__error_info__pack(&info, info_buf);

    any.type_url = (char *)ERROR_INFO_TYPE_URL;
    any.value.data = info_buf;
    any.value.len = info_len;
    anys[0] = &any;
    status.code = (int32_t)st->code;
    status.message = (char *)(st->message != NULL ? st->message : "");
    status.n_details = 1;
    status.details = anys;

    len = google__rpc__status__get_packed_size(&status);
    buf = rs_malloc(len + 1);
    if (buf == NULL) {
        rs_free(info_buf);
        return RS_ENOMEM;
    }
    google__rpc__status__pack(&status, buf);
    rs_free(info_buf);
    *out = buf;
    *out_len = len;
    return RS_OK;
}

/*
 * Copies the ErrorInfo reason and metadata from a packed google.rpc.Status
 * into err. Leaves err untouched when the data does not parse.
 */
void
rs_rpc__status_details_unpack(const unsigned char *data, size_t len, struct rs_error *err)
{
    Google__Rpc__Status *status;
    Google__Rpc__ErrorInfo *info;
    size_t i, j;

    status = google__rpc__status__unpack(NULL, len, data);
    if (status == NULL)
        return;
    for (i = 0; i < status->n_details; i++) {
        const Google__Protobuf__Any *any = status->details[i];

        if (any->type_url == NULL || strcmp(any->type_url, ERROR_INFO_TYPE_URL) != 0)
            continue;
        info = google__rpc__error_info__unpack(NULL, any->value.len, any->value.data);
        if (info == NULL)
            continue;
        snprintf(err->reason, sizeof(err->reason), "%s", info->reason);
        err->n_meta = 0;
        for (j = 0; j < info->n_metadata; j++)
            rs_error_meta(err, info->metadata[j]->key, info->metadata[j]->value);
        google__rpc__error_info__free_unpacked(info, NULL);
        break;
    }
    google__rpc__status__free_unpacked(status, NULL);
}
