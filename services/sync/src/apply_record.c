/*
 * services/sync/src/apply_record.c
 *    How Start Sync records its items: changed items in chunks, each in
 *    one fenced transaction with the chunk's own rows, and unchanged items
 *    as counts written with the next chunk or in batches.
 */
#include "dataplane.h"

/* Unchanged items counted in one write at most. */
#define UNCHANGED_BATCH 500

rs_status
sync_dp_flush_unchanged(struct sync_dp_apply *a, struct rs_error *err)
{
    int n = a->pending_unchanged;

    if (n == 0)
        return RS_OK;
    a->pending_unchanged = 0;
    return sync_job_unchanged(a->job, n, a->pending_from + n, err);
}

rs_status
sync_dp_unchanged(struct sync_dp_apply *a, int seq, struct rs_error *err)
{
    rs_status rc;

    if (a->pending_unchanged > 0 && a->pending_from + a->pending_unchanged != seq) {
        rc = sync_dp_flush_unchanged(a, err);
        if (rc != RS_OK)
            return rc;
    }
    if (a->pending_unchanged == 0)
        a->pending_from = seq;
    a->pending_unchanged++;
    if (a->pending_unchanged >= UNCHANGED_BATCH)
        return sync_dp_flush_unchanged(a, err);
    return RS_OK;
}

struct record_op {
    struct sync_dp_apply *a;
    const struct sync_item *items;
    size_t n_items;
    int n_unchanged;
    int next_seq;
    rs_db_tx_fn write;
    void *arg;
};

static rs_status
record_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct record_op *op = arg;
    rs_status rc;

    rc = sync_job_check_tx(op->a->job, conn, err);
    if (rc == RS_OK && op->write != NULL)
        rc = op->write(conn, op->arg, err);
    if (rc == RS_OK)
        rc = sync_job_items_tx(op->a->job, conn, op->items, op->n_items, op->n_unchanged,
                               op->next_seq, err);
    return rc;
}

rs_status
sync_dp_record(struct sync_dp_apply *a, const struct sync_item *items, size_t n_items,
               const int *unchanged, size_t n_unchanged, int last_seq, rs_db_tx_fn write,
               void *arg, struct rs_error *err)
{
    struct record_op op;
    size_t i;
    rs_status rc = RS_OK;

    if (n_items == 0) {
        for (i = 0; rc == RS_OK && i < n_unchanged; i++)
            rc = sync_dp_unchanged(a, unchanged[i], err);
        return rc;
    }
    /* Earlier unchanged items, then this chunk's, all in this write. */
    op.a = a;
    op.items = items;
    op.n_items = n_items;
    op.n_unchanged = a->pending_unchanged + (int)n_unchanged;
    op.next_seq = last_seq + 1;
    op.write = write;
    op.arg = arg;
    rc = sync_tx(a->svc, record_tx, &op, err);
    if (rc == RS_OK)
        a->pending_unchanged = 0;
    return rc;
}
