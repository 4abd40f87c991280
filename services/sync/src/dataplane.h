/*
 * services/sync/src/dataplane.h
 *    Helpers shared by the data plane's files (structure.c tree.c apply*.c
 *    nodes.c preview.c). They build parameters, call identity and authz on
 *    behalf of a run's operator, and load the source's settings. They also
 *    preview deletions and apply the nickname suffix rule.
 */
#ifndef SYNC_DATAPLANE_H
#define SYNC_DATAPLANE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync_int.h"

#include "roster/buf.h"

#define SYNC_DP_ACQUIRE_MS 5000
#define SYNC_DP_NICKNAME_MAX 50
#define SYNC_DP_REGULAR_USER 111111113


/* The settings of one source that the data plane needs. */
struct sync_dp_source {
    char source_id[33];
    char org_id[33];
    int platform;
    char corp_id[65];
    int nickname_suffix;   /* enum NicknameSuffix, 1..4 */
    bool structure_loaded; /* it has a structure time (SYNC_STRUCTURE_AT) */
};

/* Loads source_id of org_id (SOURCE_NOT_FOUND), optionally FOR SHARE. */
RS_MUSTCHECK rs_status sync_dp_load_source(rs_db_conn *conn, const char *org_id,
                                           const char *source_id, bool lock,
                                           struct sync_dp_source *out, struct rs_error *err);

/* INVALID_ID with the field named, for an id that is not 32 lower-case hex. */
RS_MUSTCHECK rs_status sync_dp_check_id(const char *field, const char *value,
                                        struct rs_error *err);

/* Takes a connection of the service's pool. */
RS_MUSTCHECK rs_status sync_dp_acquire(struct sync_service *svc, rs_db_conn **out,
                                       struct rs_error *err);

/*
 * Turns nested loops off until the end of conn's transaction (SET LOCAL),
 * for transactions whose statements all read or write whole sets. A hash
 * join costs the same whatever the row estimates, so stale statistics
 * cannot make such a statement scan a table once per row of another.
 */
RS_MUSTCHECK rs_status sync_dp_disable_nestloop(rs_db_conn *conn, struct rs_error *err);

/* Formats v into arena; NULL when out of memory. */
char *sync_dp_int(rs_arena *arena, int64_t v);

/*
 * Parses a bigint array literal ("{1,-2}", or "" for NULL) into *out (from
 * arena, NULL when empty) and *n. Returns false when out of memory.
 */
RS_MUSTCHECK bool sync_dp_parse_ids(rs_arena *arena, const char *text, int64_t **out,
                                    size_t *n);


/*
 * Calls identity (to_authz false) or authz with the operator as actor and
 * the configured timeout; *resp is allocated from arena. err carries the
 * callee's status and ErrorInfo reason.
 */
RS_MUSTCHECK rs_status sync_dp_call(struct sync_service *svc, bool to_authz,
                                    const char *operator_id, const char *method,
                                    const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_desc,
                                    rs_arena *arena, ProtobufCMessage **resp,
                                    struct rs_error *err);

/*
 * Writes into out (at least 4 * SYNC_DP_NICKNAME_MAX + 1 bytes) the
 * nickname "<base>-<suffix>", or base alone when suffix is NULL or empty.
 * base is cut so the whole fits in SYNC_DP_NICKNAME_MAX code points, never
 * inside a character. A suffix longer than the limit is cut too. base is
 * cleaned first as rs_utf8_clean_name does, and white space at the end of
 * a cut base is dropped, so identity accepts the result.
 */
void sync_dp_nickname(const char *base, const char *suffix, char *out, size_t out_size);

/* Bytes of one nickname candidate: 50 code points of up to 4 bytes, and NUL. */
#define SYNC_DP_NICK_BYTES (4 * SYNC_DP_NICKNAME_MAX + 1)
/* Random four-digit suffixes tried after the name and the source's rule. */
#define SYNC_DP_RANDOM_SUFFIXES 5
#define SYNC_DP_NICKNAMES_MAX (2 + SYNC_DP_RANDOM_SUFFIXES)

/* The part of an e-mail address before '@' into out; "" without '@'. */
void sync_dp_email_local(const char *email, char *out, size_t out_size);

/* --- preview.c: what a deletion removes and invalidates --- */

enum sync_dp_target { SYNC_DP_MEMBER = 1, SYNC_DP_DEPARTMENT = 2, SYNC_DP_CLEAR = 3 };

struct sync_dp_preview {
    Roster__Sync__V1__DeletePreview msg; /* strings from the arena */
    /* msg.group_ids, deepest first; group_depts[i] is the department
     * group_ids[i] mirrors. */
    char **group_depts;
};

/*
 * Computes the preview of deleting a member or a department subtree
 * (external_id) or of clearing the source, with its confirmation token,
 * into *out (from arena). MEMBER_NOT_FOUND, DEPARTMENT_NOT_FOUND,
 * NODE_NOT_FLAGGED.
 */
RS_MUSTCHECK rs_status sync_dp_preview(rs_db_conn *conn, rs_arena *arena,
                                       const struct sync_dp_source *src, int target,
                                       const char *external_id,
                                       struct sync_dp_preview *out, struct rs_error *err);

/* --- structure.c: bulk item records --- */

/*
 * Records the rows of the temporary table sync_dp_items as run items of
 * job, numbered from first_seq in (node_kind DESC, k1, k2) order. Its
 * columns are node_kind, external_id, name, outcome, user_id, group_id,
 * reason, message, k1 bigint and k2 text. Adds their counts and n_unchanged
 * to the run inside the caller's fenced transaction, and sets *n_out (may
 * be NULL) to how many were recorded.
 */
RS_MUSTCHECK rs_status sync_dp_record_items(struct sync_job *job, rs_db_conn *conn,
                                            int first_seq, int n_unchanged, int *n_out,
                                            struct rs_error *err);

/* Creates (or empties) the temporary table sync_dp_items in conn's transaction. */
RS_MUSTCHECK rs_status sync_dp_items_table(rs_db_conn *conn, struct rs_error *err);

/* --- apply.c, apply_member.c: Start Sync --- */

#define SYNC_DP_MAX_ROLES 3

/* The run's selection, from sync.runs.request. */
struct sync_dp_request {
    char **userids;
    size_t n_userids;
    int64_t *dept_ids;
    size_t n_dept_ids;
    int user_type;
    int64_t roles[SYNC_DP_MAX_ROLES];
    size_t n_roles;
};

struct sync_dp_dept {
    int64_t dept_id;
    int64_t parent_id; /* 0 for a root */
    char *name;
    int flag;
    char *stored_group; /* sync.departments.group_id or "" */
    int level;
    char group_id[33]; /* "" until known; stays "" when its item failed */
};

struct sync_dp_member {
    char *userid;
    char *unionid;
    char *name;
    char *email;
    char *mobile;
    char *job_number;
    char *stored_user; /* sync.members.user_id or "" */
    int flag;
    bool explicit_pick;
    bool missing;
    int64_t *groups_of; /* the departments whose groups the member belongs in */
    size_t n_groups_of;
};

struct sync_dp_apply {
    struct sync_job *job;
    struct sync_service *svc;
    struct sync_dp_source src;
    struct sync_dp_request req;
    rs_arena *arena; /* the plan's memory */
    struct sync_dp_dept *depts;
    size_t n_depts;
    struct sync_dp_dept **by_id; /* depts sorted by dept_id, for lookups */
    struct sync_dp_member *members;
    size_t n_members;
    int pending_unchanged; /* unchanged items not yet counted */
    int pending_from;      /* seq of the first of them */
    /* the member chunk being recorded by a thread, or NULL (apply_member.c) */
    struct sync_dp_recording *recording;
    /* the smallest request identity's gRPC rejected as too large in this
     * run, or 0 (apply_batch.c); member chunks run on two threads */
    atomic_size_t rejected_request_bytes;
};

/*
 * One identity batch call of Start Sync over a list of entries: CreateUsers,
 * CreateUserGroups, AddUserGroupMembers or RemoveUserGroupMembers.
 */
struct sync_dp_batch {
    const char *method; /* identity's method, e.g. "CreateUsers" */
    ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *resp_desc;
    rs_arena *arena; /* memory of the responses */
    /* Points req at entries [first, first + n) of the list. */
    void (*range)(void *arg, size_t first, size_t n);
    /* Reads the outcome of one call for entries [first, first + n): resp on
     * success, otherwise NULL and err, the call's error. */
    void (*take)(void *arg, size_t first, size_t n, const ProtobufCMessage *resp,
                 const struct rs_error *err);
    void *arg;
};

/*
 * Sets *out to the error that every entry of one batch call for n entries
 * shares. That is err when the call failed (err not NULL), or an INTERNAL
 * error when identity returned n_results results instead of n, or no
 * error. what names the entries in that message, e.g. "users".
 */
void sync_dp_batch_error(const struct rs_error *err, size_t n_results, size_t n,
                         const char *what, struct rs_error *out);

/*
 * Sends entries [first, first + n) of b to identity in one call as the run's
 * operator, and passes the outcome to b->take. identity rejects a call whose
 * request or reply is larger than its ROSTER_MAX_MESSAGE_BYTES. A rejected
 * call of more than one entry is sent again as two halves, and so on. A
 * single entry that does not fit reaches take as REQUEST_TOO_LARGE or
 * RESPONSE_TOO_LARGE (apply_batch.c).
 */
void sync_dp_batch_send(struct sync_dp_apply *a, const struct sync_dp_batch *b, size_t first,
                        size_t n);

/*
 * Writes m's nickname candidates into out and returns how many: the name,
 * then the source's suffix rule, then random four-digit suffixes, each cut
 * to 50 code points. At most max.
 */
size_t sync_dp_nicknames(const struct sync_dp_apply *a, const struct sync_dp_member *m,
                         char out[][SYNC_DP_NICK_BYTES], size_t max);

/* Copies the error of one rejected entry of an identity batch call into e. */
void sync_dp_entry_error(struct rs_error *e, const Roster__Identity__V1__EntryError *in);

/* Group of a department of the plan, or NULL when it has none. */
const char *sync_dp_group_of(const struct sync_dp_apply *a, int64_t dept_id);

/* Counts unchanged items not yet written; call before any item record. */
RS_MUSTCHECK rs_status sync_dp_flush_unchanged(struct sync_dp_apply *a, struct rs_error *err);
/* Notes seq as unchanged (counted later, in batches). */
RS_MUSTCHECK rs_status sync_dp_unchanged(struct sync_dp_apply *a, int seq, struct rs_error *err);

/*
 * Records one chunk of items, in plan order. A chunk without items only
 * notes its unchanged seqs, which are counted later. Otherwise one fenced
 * transaction runs write (the chunk's own rows, or NULL), writes the
 * items, counts every unchanged item so far, and moves the checkpoint past
 * last_seq. items and unchanged are borrowed.
 */
RS_MUSTCHECK rs_status sync_dp_record(struct sync_dp_apply *a, const struct sync_item *items,
                                      size_t n_items, const int *unchanged, size_t n_unchanged,
                                      int last_seq, rs_db_tx_fn write, void *arg,
                                      struct rs_error *err);

/* Departments applied between two lease checks, and recorded together. */
#define SYNC_DP_DEPT_CHUNK 100

/*
 * Applies departments [from, to) of the plan, at most SYNC_DP_DEPT_CHUNK
 * of them (apply_dept.c). The seq of department i is i.
 */
RS_MUSTCHECK rs_status sync_dp_apply_depts(struct sync_dp_apply *a, size_t from, size_t to,
                                           struct rs_error *err);

struct member_chunk;

/*
 * The section of a member chunk that creates users and changes their type,
 * profile and roles. identity admits users to the last seats and gives out
 * nicknames in the order of its calls. So chunks pass through this section
 * in plan order, even when they are applied on two lanes.
 */
struct sync_dp_gate {
    bool (*enter)(void *arg); /* waits for the chunk's turn; false: stop */
    void (*leave)(void *arg); /* passes the turn to the next chunk */
    void *arg;
};

/*
 * Applies members [from, to) of the plan (apply_member.c); seq of member i
 * is n_depts + i. The users are created and updated inside gate (borrowed).
 * *out receives the chunk to record, owned by the caller (pass it to
 * sync_dp_record_members or sync_dp_member_chunk_free), or NULL when an
 * earlier holder recorded every member of the range. Two threads may apply
 * different ranges at once.
 *
 * RS_OK means the chunk entered gate and left it once, even when it had no
 * member to apply. On an error the chunk never leaves gate, so later chunks
 * do not create users after a failed one. The caller must then wake them,
 * and their enter returns false. An enter that returns false ends the
 * chunk with RS_ECANCELLED (EARLIER_CHUNK_FAILED).
 */
RS_MUSTCHECK rs_status sync_dp_apply_members(struct sync_dp_apply *a, size_t from, size_t to,
                                             const struct sync_dp_gate *gate,
                                             struct member_chunk **out,
                                             struct rs_error *err);

/*
 * Hands c (owned from here; NULL is a no-op) to a thread that records its
 * items once the chunk before it is recorded. Chunks must come in plan
 * order, from one thread at a time. An error of the record is returned by
 * the next call or by sync_dp_members_recorded.
 */
RS_MUSTCHECK rs_status sync_dp_record_members(struct member_chunk *c, struct rs_error *err);

/* Frees a chunk that is not to be recorded. NULL is a no-op. */
void sync_dp_member_chunk_free(struct member_chunk *c);

/*
 * Applies and records all members of the plan in chunks, two chunks at a
 * time (apply_lanes.c). Returns the failure of the earliest failed chunk,
 * after the chunks before it are recorded.
 */
RS_MUSTCHECK rs_status sync_dp_apply_all_members(struct sync_dp_apply *a, struct rs_error *err);

/*
 * Waits until the last member chunk is recorded, and returns how its record
 * ended (err may be NULL). Call it before the run ends, whatever its outcome,
 * because the recording thread uses a.
 */
RS_MUSTCHECK rs_status sync_dp_members_recorded(struct sync_dp_apply *a, struct rs_error *err);

#endif /* SYNC_DATAPLANE_H */
