/*
 * services/identity/src/cache.c
 *    The read cache behind GetUser and the read-only actor check.
 *
 * A row is current only while the listener is connected. It must also
 * carry the listener's current epoch: notifications sent while no
 * connection listened are lost, so a reconnection makes every older row
 * stale. And its organisation's generation must not have moved, which a
 * notification or a write on this replica does.
 *
 * Generations live in a fixed array indexed by a hash of the
 * organisation's id, so an unknown organisation costs no memory. Two
 * organisations that share a slot only make each other's rows stale more
 * often. A row's stamp is taken before its query runs, so a change that
 * commits during the query leaves the row stale, never wrong. A full
 * table is emptied, which bounds memory without bookkeeping per read.
 */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"
#include "roster/db.h"
#include "roster/log.h"
#include "roster/str.h"

#define CACHE_CHANNEL "roster_identity_changes"
#define CACHE_GENERATION_SLOTS 4096
#define CACHE_MIN_BUCKETS 1024
#define CACHE_MAX_BUCKETS (1u << 20)

struct cache_row {
    struct cache_row *next;
    uint64_t hash;
    uint64_t epoch;
    uint64_t generation;
    char org_id[RS_ID_LEN + 1];
    char user_id[RS_ID_LEN + 1]; /* "" for the organisation's owner */
    size_t len;
    unsigned char data[]; /* a packed User, or the owner's id and a NUL */
};

struct identity_cache {
    pthread_rwlock_t lock; /* protects buckets and count */
    struct cache_row **buckets;
    size_t n_buckets;      /* a power of two */
    size_t count;
    size_t max_rows;
    atomic_ullong epoch;
    atomic_bool listening;
    atomic_ullong generations[CACHE_GENERATION_SLOTS];
    rs_db_listener *listener;
};

static atomic_ullong *
generation_slot(struct identity_cache *c, const char *org_id)
{
    return &c->generations[rs_hash_str(org_id) % CACHE_GENERATION_SLOTS];
}

static void
on_notify(void *arg, const char *payload)
{
    struct identity_cache *c = arg;

    if (rs_id_valid(payload))
        atomic_fetch_add(generation_slot(c, payload), 1);
    else
        atomic_fetch_add(&c->epoch, 1); /* '*' from a TRUNCATE, or unknown: every row */
}

static void
on_listening(void *arg, bool on)
{
    struct identity_cache *c = arg;

    if (on)
        atomic_fetch_add(&c->epoch, 1);
    atomic_store(&c->listening, on);
}

rs_status
identity_cache_create(const char *conninfo, long max_rows, struct identity_cache **out,
                      struct rs_error *err)
{
    struct rs_db_listen_hooks hooks = { on_notify, on_listening, NULL };
    struct identity_cache *c;
    size_t i;
    rs_status rc;

    *out = NULL;
    c = rs_calloc(1, sizeof(*c));
    if (c == NULL)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    c->max_rows = (size_t)max_rows;
    c->n_buckets = CACHE_MIN_BUCKETS;
    while (c->n_buckets < c->max_rows && c->n_buckets < CACHE_MAX_BUCKETS)
        c->n_buckets *= 2;
    c->buckets = rs_calloc(c->n_buckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        rs_free(c);
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    }
    pthread_rwlock_init(&c->lock, NULL);
    atomic_init(&c->epoch, 0);
    atomic_init(&c->listening, false);
    for (i = 0; i < CACHE_GENERATION_SLOTS; i++)
        atomic_init(&c->generations[i], 0);
    hooks.arg = c;
    rc = rs_db_listen_start(conninfo, CACHE_CHANNEL, "roster-identity-listen", &hooks,
                            &c->listener, err);
    if (rc != RS_OK) {
        identity_cache_destroy(c);
        return rc;
    }
    *out = c;
    return RS_OK;
}

/* Frees every row. REQUIRES: the write lock, or no other user of c. */
static void
clear_rows(struct identity_cache *c)
{
    size_t i;

    for (i = 0; i < c->n_buckets; i++) {
        struct cache_row *r = c->buckets[i], *next;

        for (; r != NULL; r = next) {
            next = r->next;
            rs_free(r);
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
}

void
identity_cache_destroy(struct identity_cache *c)
{
    if (c == NULL)
        return;
    rs_db_listen_stop(c->listener);
    clear_rows(c);
    rs_free(c->buckets);
    pthread_rwlock_destroy(&c->lock);
    rs_free(c);
}

struct identity_cache_stamp
identity_cache_stamp(struct identity_cache *c, const char *org_id)
{
    struct identity_cache_stamp s = { 0, 0, false };

    if (c == NULL)
        return s;
    s.ok = atomic_load(&c->listening);
    s.epoch = atomic_load(&c->epoch);
    s.generation = atomic_load(generation_slot(c, org_id));
    return s;
}

static bool
current(struct identity_cache *c, const char *org_id, uint64_t epoch, uint64_t generation)
{
    return atomic_load(&c->listening) && atomic_load(&c->epoch) == epoch &&
           atomic_load(generation_slot(c, org_id)) == generation;
}

static uint64_t
row_hash(const char *org_id, const char *user_id)
{
    return rs_hash_str(org_id) ^ (rs_hash_str(user_id) * UINT64_C(0x9E3779B97F4A7C15));
}

/* Returns the current row of (org_id, user_id), or NULL. REQUIRES: the read lock. */
static const struct cache_row *
find_current(struct identity_cache *c, const char *org_id, const char *user_id)
{
    uint64_t h = row_hash(org_id, user_id);
    const struct cache_row *r;

    for (r = c->buckets[h & (c->n_buckets - 1)]; r != NULL; r = r->next)
        if (r->hash == h && strcmp(r->org_id, org_id) == 0 && strcmp(r->user_id, user_id) == 0)
            return current(c, org_id, r->epoch, r->generation) ? r : NULL;
    return NULL;
}

/* Inserts row, replacing the row of the same key. Takes ownership of row. */
static void
store(struct identity_cache *c, struct cache_row *row)
{
    struct cache_row **p;

    pthread_rwlock_wrlock(&c->lock);
    for (p = &c->buckets[row->hash & (c->n_buckets - 1)]; *p != NULL; p = &(*p)->next) {
        struct cache_row *old = *p;

        if (old->hash == row->hash && strcmp(old->org_id, row->org_id) == 0 &&
            strcmp(old->user_id, row->user_id) == 0) {
            row->next = old->next;
            *p = row;
            rs_free(old);
            pthread_rwlock_unlock(&c->lock);
            return;
        }
    }
    if (c->count >= c->max_rows) {
        rs_log_debug(NULL, "read cache full, emptied it", NULL);
        clear_rows(c);
    }
    p = &c->buckets[row->hash & (c->n_buckets - 1)];
    row->next = *p;
    *p = row;
    c->count++;
    pthread_rwlock_unlock(&c->lock);
}

/*
 * Allocates a row for (org_id, user_id) with room for len bytes. Returns
 * NULL when stamp is stale already or memory is short.
 */
static struct cache_row *
new_row(struct identity_cache *c, const char *org_id, const char *user_id, size_t len,
        struct identity_cache_stamp stamp)
{
    struct cache_row *row;

    if (c == NULL || c->max_rows == 0 || !stamp.ok ||
        !current(c, org_id, stamp.epoch, stamp.generation) || strlen(org_id) != RS_ID_LEN ||
        strlen(user_id) > RS_ID_LEN)
        return NULL;
    row = rs_malloc(sizeof(*row) + len);
    if (row == NULL)
        return NULL;
    row->next = NULL;
    row->hash = row_hash(org_id, user_id);
    row->epoch = stamp.epoch;
    row->generation = stamp.generation;
    memcpy(row->org_id, org_id, RS_ID_LEN + 1);
    memcpy(row->user_id, user_id, strlen(user_id) + 1);
    row->len = len;
    return row;
}

bool
identity_cache_get_owner(struct identity_cache *c, const char *org_id, char owner[33])
{
    const struct cache_row *r;

    if (c == NULL)
        return false;
    pthread_rwlock_rdlock(&c->lock);
    r = find_current(c, org_id, "");
    if (r != NULL)
        memcpy(owner, r->data, r->len);
    pthread_rwlock_unlock(&c->lock);
    return r != NULL;
}

void
identity_cache_put_owner(struct identity_cache *c, const char *org_id, const char *owner,
                         struct identity_cache_stamp stamp)
{
    struct cache_row *row;

    if (strlen(owner) != RS_ID_LEN)
        return;
    row = new_row(c, org_id, "", RS_ID_LEN + 1, stamp);
    if (row == NULL)
        return;
    memcpy(row->data, owner, RS_ID_LEN + 1);
    store(c, row);
}

bool
identity_cache_get_user(struct identity_cache *c, const char *org_id, const char *user_id,
                        rs_arena *arena, Roster__Identity__V1__User **out)
{
    const struct cache_row *r;

    *out = NULL;
    if (c == NULL || user_id[0] == '\0')
        return false;
    pthread_rwlock_rdlock(&c->lock);
    r = find_current(c, org_id, user_id);
    if (r != NULL)
        *out = roster__identity__v1__user__unpack(rs_arena_pb_allocator(arena), r->len,
                                                  r->data);
    pthread_rwlock_unlock(&c->lock);
    return *out != NULL;
}

void
identity_cache_put_user(struct identity_cache *c, const Roster__Identity__V1__User *user,
                        struct identity_cache_stamp stamp)
{
    size_t len = roster__identity__v1__user__get_packed_size(user);
    struct cache_row *row;

    if (user->user_id[0] == '\0')
        return;
    row = new_row(c, user->organization_id, user->user_id, len, stamp);
    if (row == NULL)
        return;
    roster__identity__v1__user__pack(user, row->data);
    store(c, row);
}

void
identity_cache_forget(struct identity_cache *c, const char *org_id)
{
    if (c != NULL && org_id != NULL)
        atomic_fetch_add(generation_slot(c, org_id), 1);
}
