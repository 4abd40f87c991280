/*
 * services/sync/src/apply_lanes.c
 *    Start Sync's members in chunks on two lanes. identity writes one
 *    organisation's users one transaction at a time, under its organisation
 *    row lock. With one lane, identity's database waited while the sync
 *    looked up the next chunk's users and while replies travelled. In a
 *    statement log of one bench run, that wait was about a quarter of a
 *    100,000-member run.
 *    A second lane applies the next chunk in those gaps. Chunks still
 *    create and update users in plan order (a turn). So the last seats and
 *    the plain nicknames go to the same members as with one lane. They also
 *    record their items in plan order (a second turn), so a take-over
 *    resumes from a checkpoint as before.
 */
#include "dataplane.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Members applied between two lease checks and group batches. */
#define MEMBER_CHUNK 100

/* Chunks applied at once. identity serialises an organisation's writes,
 * so more lanes would only wait for its lock. */
#define LANES 2

struct lanes {
    struct sync_dp_apply *a;
    pthread_mutex_t mu;
    pthread_cond_t turn_cv;
    size_t next;        /* first member of the next chunk to apply */
    size_t create_turn; /* first member of the chunk to create users next */
    size_t record_turn; /* first member of the chunk to record next */
    bool failed;
    size_t failed_at; /* first member of the earliest failed chunk */
    rs_status rc;
    struct rs_error err;
};

/* Keeps the failure of the earliest chunk, the one of chunk from, and
 * wakes the lanes waiting for their turn. REQUIRES: l->mu held. */
static void
lanes_fail(struct lanes *l, size_t from, rs_status rc, const struct rs_error *e)
{
    if (!l->failed || from < l->failed_at) {
        l->failed = true;
        l->failed_at = from;
        l->rc = rc;
        l->err = *e;
    }
    pthread_cond_broadcast(&l->turn_cv);
}

/* Takes the next range of members, or returns false when none is left or a lane failed. */
static bool
lanes_take(struct lanes *l, size_t *from, size_t *to)
{
    bool more;

    pthread_mutex_lock(&l->mu);
    more = !l->failed && l->next < l->a->n_members;
    if (more) {
        *from = l->next;
        *to = *from + MEMBER_CHUNK < l->a->n_members ? *from + MEMBER_CHUNK : l->a->n_members;
        l->next = *to;
    }
    pthread_mutex_unlock(&l->mu);
    return more;
}

/*
 * Waits until *turn reaches from, the first member of a chunk, and returns
 * true, or returns false at once when an earlier chunk failed.
 */
static bool
lanes_wait(struct lanes *l, const size_t *turn, size_t from)
{
    bool go;

    pthread_mutex_lock(&l->mu);
    while (*turn != from && !(l->failed && l->failed_at < from))
        pthread_cond_wait(&l->turn_cv, &l->mu);
    go = *turn == from;
    pthread_mutex_unlock(&l->mu);
    return go;
}

/* Passes *turn on to the chunk that starts at to. */
static void
lanes_pass(struct lanes *l, size_t *turn, size_t to)
{
    pthread_mutex_lock(&l->mu);
    *turn = to;
    pthread_cond_broadcast(&l->turn_cv);
    pthread_mutex_unlock(&l->mu);
}

/* The create section of one chunk (struct sync_dp_gate). */
struct lane_gate {
    struct lanes *l;
    size_t from;
    size_t to;
};

static bool
gate_enter(void *arg)
{
    struct lane_gate *g = arg;

    return lanes_wait(g->l, &g->l->create_turn, g->from);
}

static void
gate_leave(void *arg)
{
    struct lane_gate *g = arg;

    lanes_pass(g->l, &g->l->create_turn, g->to);
}

/*
 * Records c, the applied chunk of members [from, to), once every chunk
 * before it is recorded. c is owned from here. A chunk after a failed one
 * is freed unrecorded: its users are in identity but not linked in
 * sync.members, so the next Start Sync records them as UPDATED.
 */
static rs_status
lanes_record(struct lanes *l, size_t from, size_t to, struct member_chunk *c,
             struct rs_error *err)
{
    rs_status rc;

    if (!lanes_wait(l, &l->record_turn, from)) {
        sync_dp_member_chunk_free(c);
        return RS_OK;
    }
    /* The turn is this lane's alone until it passes it on, so the record
     * runs without the lock and the other lane can go on meanwhile. */
    rc = sync_dp_record_members(c, err);
    if (rc == RS_OK)
        lanes_pass(l, &l->record_turn, to);
    return rc;
}

static void *
lane_main(void *arg)
{
    struct lanes *l = arg;
    struct member_chunk *c;
    struct rs_error e;
    size_t from;
    size_t to;
    rs_status rc = RS_OK;

    while (rc == RS_OK && lanes_take(l, &from, &to)) {
        struct lane_gate g = { l, from, to };
        struct sync_dp_gate gate = { gate_enter, gate_leave, &g };

        rs_error_clear(&e);
        c = NULL;
        rc = sync_job_check(l->a->job, &e);
        if (rc == RS_OK)
            rc = sync_dp_apply_members(l->a, from, to, &gate, &c, &e);
        if (rc == RS_OK)
            rc = lanes_record(l, from, to, c, &e);
        /* A failed chunk does not pass its turns on. Marking it failed is
         * what wakes the later chunks that wait for them. */
        if (rc != RS_OK) {
            pthread_mutex_lock(&l->mu);
            lanes_fail(l, from, rc, &e);
            pthread_mutex_unlock(&l->mu);
        }
    }
    return NULL;
}

rs_status
sync_dp_apply_all_members(struct sync_dp_apply *a, struct rs_error *err)
{
    struct lanes l;
    pthread_t threads[LANES - 1];
    size_t started = 0;
    size_t i;

    memset(&l, 0, sizeof(l));
    l.a = a;
    if (pthread_mutex_init(&l.mu, NULL) != 0)
        return sync_nomem(err);
    if (pthread_cond_init(&l.turn_cv, NULL) != 0) {
        pthread_mutex_destroy(&l.mu);
        return sync_nomem(err);
    }
    /* A lane that cannot start leaves the work to the others. */
    for (i = 0; i < LANES - 1; i++)
        if (pthread_create(&threads[started], NULL, lane_main, &l) == 0)
            started++;
    lane_main(&l);
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_cond_destroy(&l.turn_cv);
    pthread_mutex_destroy(&l.mu);
    if (l.failed && err != NULL)
        *err = l.err;
    return l.failed ? l.rc : RS_OK;
}
