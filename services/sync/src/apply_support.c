/*
 * services/sync/src/apply_support.c
 *    Small helpers of the data plane: id lists, nickname candidates,
 *    the source's settings, the planner setting of bulk transactions,
 *    and calls to identity and authz.
 */
#include "dataplane.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "roster/alloc.h"
#include "roster/str.h"

char *
sync_dp_int(rs_arena *arena, int64_t v)
{
    return rs_arena_printf(arena, "%lld", (long long)v);
}

bool
sync_dp_parse_ids(rs_arena *arena, const char *text, int64_t **out, size_t *n)
{
    const char *p;
    size_t count = 1;
    size_t i = 0;

    *out = NULL;
    *n = 0;
    if (strpbrk(text, "0123456789") == NULL)
        return true;
    for (p = text; *p != '\0'; p++)
        if (*p == ',')
            count++;
    *out = rs_arena_alloc(arena, count * sizeof(**out));
    if (*out == NULL)
        return false;
    for (p = text; *p != '\0' && i < count;) {
        if ((*p >= '0' && *p <= '9') || *p == '-') {
            char *end;

            (*out)[i++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    *n = i;
    return true;
}

rs_status
sync_dp_check_id(const char *field, const char *value, struct rs_error *err)
{
    if (value != NULL && rs_id_valid(value))
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "INVALID_ID",
                 "invalid %s \"%s\": expected 32 lower-case hexadecimal digits", field,
                 value != NULL ? value : "");
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
}

rs_status
sync_dp_acquire(struct sync_service *svc, rs_db_conn **out, struct rs_error *err)
{
    return rs_db_acquire(svc->pool, SYNC_DP_ACQUIRE_MS, out, err);
}

rs_status
sync_dp_disable_nestloop(rs_db_conn *conn, struct rs_error *err)
{
    return rs_db_query(conn, "sync.dp_no_nestloop", "SET LOCAL enable_nestloop = off", 0, NULL,
                       NULL, err);
}

rs_status
sync_dp_load_source(rs_db_conn *conn, const char *org_id, const char *source_id, bool lock,
                    struct sync_dp_source *out, struct rs_error *err)
{
    const char *params[2] = { source_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    memset(out, 0, sizeof(*out));
    rc = sync_dp_check_id("source_id", source_id, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query(conn, lock ? "sync.dp_source_lock" : "sync.dp_source",
                     lock ? "SELECT s.platform, s.corp_id, s.nickname_suffix, "
                            SYNC_STRUCTURE_AT("s.id") " IS NOT NULL FROM sync.sources s "
                            "WHERE s.id = $1 AND s.organization_id = $2 FOR SHARE OF s"
                          : "SELECT s.platform, s.corp_id, s.nickname_suffix, "
                            SYNC_STRUCTURE_AT("s.id") " IS NOT NULL FROM sync.sources s "
                            "WHERE s.id = $1 AND s.organization_id = $2",
                     2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        rs_error_set(err, RS_ENOTFOUND, "SOURCE_NOT_FOUND",
                     "source \"%s\" not found in organization \"%s\"", source_id, org_id);
        rs_error_meta(err, "source_id", source_id);
        return RS_ENOTFOUND;
    }
    snprintf(out->source_id, sizeof(out->source_id), "%s", source_id);
    snprintf(out->org_id, sizeof(out->org_id), "%s", org_id);
    out->platform = atoi(PQgetvalue(res, 0, 0));
    snprintf(out->corp_id, sizeof(out->corp_id), "%s", PQgetvalue(res, 0, 1));
    out->nickname_suffix = atoi(PQgetvalue(res, 0, 2));
    out->structure_loaded = PQgetvalue(res, 0, 3)[0] == 't';
    PQclear(res);
    return RS_OK;
}

rs_status
sync_dp_call(struct sync_service *svc, bool to_authz, const char *operator_id,
             const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, rs_arena *arena,
             ProtobufCMessage **resp, struct rs_error *err)
{
    char path[160];

    snprintf(path, sizeof(path), "/roster.%s.v1.%s/%s", to_authz ? "authz" : "identity",
             to_authz ? "AuthzService" : "IdentityService", method);
    return rs_rpc_client_call(to_authz ? svc->authz : svc->identity, path, req, resp_desc,
                              rs_arena_pb_allocator(arena), operator_id,
                              svc->settings.rpc_timeout_ms, resp, err);
}

void
sync_dp_nickname(const char *base, const char *suffix, char *out, size_t out_size)
{
    char clean[SYNC_DP_NICK_BYTES];
    char clean_suffix[SYNC_DP_NICK_BYTES];
    size_t suffix_cp = 0;
    size_t base_len;
    size_t suffix_len = 0;
    size_t room;

    if (out_size == 0)
        return;
    /* A suffix from the directory (a job number, say) needs the same care. */
    if (suffix != NULL && rs_utf8_clean_name(suffix, clean_suffix, sizeof(clean_suffix)) > 0) {
        suffix = clean_suffix;
        suffix_len = rs_utf8_trim_end(suffix, rs_utf8_prefix(suffix, SYNC_DP_NICKNAME_MAX - 2));
        suffix_cp = rs_utf8_length(suffix, suffix_len);
    }
    room = SYNC_DP_NICKNAME_MAX - (suffix_len > 0 ? suffix_cp + 1 : 0);
    /* Fetched names are clean already. Cleaning again covers names stored
     * before fetch-time cleaning, and a cut may end in a space. */
    rs_utf8_clean_name(base, clean, sizeof(clean));
    base = clean;
    base_len = rs_utf8_trim_end(base, rs_utf8_prefix(base, room));
    if (base_len + (suffix_len > 0 ? suffix_len + 1 : 0) + 1 > out_size) {
        out[0] = '\0';
        return;
    }
    memcpy(out, base, base_len);
    if (suffix_len > 0) {
        out[base_len] = '-';
        memcpy(out + base_len + 1, suffix, suffix_len);
        out[base_len + 1 + suffix_len] = '\0';
    } else {
        out[base_len] = '\0';
    }
}

void
sync_dp_email_local(const char *email, char *out, size_t out_size)
{
    const char *at = strchr(email, '@');
    size_t n;

    if (out_size == 0)
        return;
    n = at != NULL ? (size_t)(at - email) : 0;
    if (n >= out_size)
        n = out_size - 1;
    memcpy(out, email, n);
    out[n] = '\0';
}

size_t
sync_dp_nicknames(const struct sync_dp_apply *a, const struct sync_dp_member *m,
                  char out[][SYNC_DP_NICK_BYTES], size_t max)
{
    char local[128];
    const char *rule = NULL;
    size_t n = 0;
    int i;

    sync_dp_nickname(m->name, NULL, out[n++], SYNC_DP_NICK_BYTES);
    switch (a->src.nickname_suffix) {
    case ROSTER__SYNC__V1__NICKNAME_SUFFIX__NICKNAME_SUFFIX_JOB_NUMBER:
        rule = m->job_number;
        break;
    case ROSTER__SYNC__V1__NICKNAME_SUFFIX__NICKNAME_SUFFIX_MOBILE:
        rule = m->mobile;
        break;
    case ROSTER__SYNC__V1__NICKNAME_SUFFIX__NICKNAME_SUFFIX_EMAIL:
        sync_dp_email_local(m->email, local, sizeof(local));
        rule = local;
        break;
    default:
        break;
    }
    if (rule != NULL && rule[0] != '\0' && n < max)
        sync_dp_nickname(m->name, rule, out[n++], SYNC_DP_NICK_BYTES);
    for (i = 0; i < SYNC_DP_RANDOM_SUFFIXES && n < max; i++) {
        unsigned char r[2];
        char digits[8];

        if (RAND_bytes(r, sizeof(r)) != 1)
            r[0] = r[1] = (unsigned char)(i * 37);
        snprintf(digits, sizeof(digits), "%04u", ((unsigned)r[0] << 8 | r[1]) % 10000u);
        sync_dp_nickname(m->name, digits, out[n++], SYNC_DP_NICK_BYTES);
    }
    return n;
}

void
sync_dp_entry_error(struct rs_error *e, const Roster__Identity__V1__EntryError *in)
{
    size_t k;

    if (in == NULL) {
        rs_error_set(e, RS_EINTERNAL, "INTERNAL", "identity returned an empty result");
        return;
    }
    rs_error_set(e, rs_status_from_grpc(in->code), in->reason, "%s", in->message);
    for (k = 0; k < in->n_metadata; k++)
        rs_error_meta(e, in->metadata[k]->key, in->metadata[k]->value);
}
