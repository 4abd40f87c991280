/*
 * services/sync/src/tree.c
 *    Reads of the stored structure: departments of a parent, members of a
 *    department, and the search by name. Any enabled user of the
 *    organisation may read. Departments page by id. Members page by the MD5
 *    of their userid, because the page token's key is 32 hex digits and
 *    userids are free text. That order is stable but not alphabetical.
 */
#include "dataplane.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/str.h"

#define SEARCH_QUERY_MAX 50
#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 100
#define ZERO_ID "00000000000000000000000000000000"

#define DEPT_COLS                                                                         \
    "d.dept_id, coalesce(d.parent_id, 0), d.name, d.flag, d.previous_name, "              \
    "(SELECT count(*) FROM sync.departments c WHERE c.source_id = d.source_id "          \
    " AND c.parent_id = d.dept_id), "                                                    \
    "(SELECT count(*) FROM sync.member_departments x WHERE x.source_id = d.source_id "   \
    " AND x.dept_id = d.dept_id), coalesce(d.group_id, ''), d.dept_id, '" ZERO_ID "'"
#define DEPT_KEY_COL 8
#define DEPT_ID_COL 9

#define MEMBER_COLS                                                                       \
    "m.userid, m.unionid, m.name, m.flag, m.previous_name, "                             \
    "coalesce((SELECT array_agg(x.dept_id ORDER BY x.dept_id) FROM "                      \
    " sync.member_departments x WHERE x.source_id = m.source_id AND x.userid = m.userid)" \
    " ::text, '{}'), m.title, m.job_number, m.active, coalesce(m.user_id, ''), 0, "      \
    "md5(m.userid)"
#define MEMBER_KEY_COL 10
#define MEMBER_ID_COL 11

static rs_status
check_flag(int flag, struct rs_error *err)
{
    if (flag >= SYNC_FLAG_NONE && flag <= SYNC_FLAG_TO_BE_DELETED)
        return RS_OK;
    return sync_field_invalid(err, "flag", "expected NONE, NAME_CHANGED or TO_BE_DELETED");
}

/* Authorises a read and loads the source; *conn is lent from the pool. */
static rs_status
open_read(struct rs_call *call, const char *org_id, const char *source_id, rs_db_conn **conn,
          struct sync_dp_source *src, struct rs_error *err)
{
    struct sync_service *svc = rs_call_user_data(call);
    struct sync_actor actor;
    rs_status rc;

    rc = sync_dp_acquire(svc, conn, err);
    if (rc != RS_OK)
        return rc;
    rc = sync_authorize(*conn, call, org_id, 0, &actor, err);
    if (rc == RS_OK)
        rc = sync_dp_load_source(*conn, org_id, source_id, false, src, err);
    return rc;
}

static char *
col(rs_arena *arena, const PGresult *res, int row, int c)
{
    return rs_arena_strdup(arena, PQgetvalue(res, row, c));
}

static void *
dept_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Sync__V1__Department *d = rs_arena_alloc(arena, sizeof(*d));

    if (d == NULL)
        return NULL;
    roster__sync__v1__department__init(d);
    d->department_id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    d->parent_department_id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
    d->name = col(arena, res, row, 2);
    d->flag = (Roster__Sync__V1__NodeFlag)atoi(PQgetvalue(res, row, 3));
    d->previous_name = col(arena, res, row, 4);
    d->child_count = atoi(PQgetvalue(res, row, 5));
    d->member_count = atoi(PQgetvalue(res, row, 6));
    d->group_id = col(arena, res, row, 7);
    if (d->name == NULL || d->previous_name == NULL || d->group_id == NULL)
        return NULL;
    return d;
}

static void *
member_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Sync__V1__Member *m = rs_arena_alloc(arena, sizeof(*m));

    if (m == NULL)
        return NULL;
    roster__sync__v1__member__init(m);
    m->userid = col(arena, res, row, 0);
    m->unionid = col(arena, res, row, 1);
    m->name = col(arena, res, row, 2);
    m->flag = (Roster__Sync__V1__NodeFlag)atoi(PQgetvalue(res, row, 3));
    m->previous_name = col(arena, res, row, 4);
    if (!sync_dp_parse_ids(arena, PQgetvalue(res, row, 5), &m->department_ids,
                           &m->n_department_ids))
        return NULL;
    m->title = col(arena, res, row, 6);
    m->job_number = col(arena, res, row, 7);
    m->active = PQgetvalue(res, row, 8)[0] == 't';
    m->roster_user_id = col(arena, res, row, 9);
    if (m->userid == NULL || m->unionid == NULL || m->name == NULL ||
        m->previous_name == NULL || m->title == NULL || m->job_number == NULL ||
        m->roster_user_id == NULL)
        return NULL;
    return m;
}

static rs_status
check_department(rs_db_conn *conn, const char *source_id, int64_t dept_id,
                 struct rs_error *err)
{
    char id[24];
    const char *params[2] = { source_id, id };
    PGresult *res = NULL;
    bool found;
    rs_status rc;

    snprintf(id, sizeof(id), "%" PRId64, dept_id);
    rc = rs_db_query(conn, "sync.tree_dept_exists",
                     "SELECT 1 FROM sync.departments WHERE source_id = $1 AND dept_id = $2",
                     2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    found = PQntuples(res) > 0;
    PQclear(res);
    if (found)
        return RS_OK;
    rs_error_set(err, RS_ENOTFOUND, "DEPARTMENT_NOT_FOUND",
                 "department %s not found in the stored structure of source \"%s\"", id,
                 source_id);
    rs_error_meta(err, "department_id", id);
    return RS_ENOTFOUND;
}

rs_status
sync_list_departments(struct rs_call *call, const ProtobufCMessage *msg,
                      ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Sync__V1__ListDepartmentsRequest *req = (const void *)msg;
    struct sync_service *svc = rs_call_user_data(call);
    rs_arena *arena = rs_call_arena(call);
    Roster__Sync__V1__ListDepartmentsResponse *out;
    struct sync_dp_source src;
    struct rs_page_key key;
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    const char *parts[4];
    const char *params[5];
    char *parent = NULL;
    uint64_t filter;
    int page_size = 0;
    rs_status rc;

    rc = check_flag((int)req->flag, err);
    if (rc == RS_OK)
        rc = rs_page_size(req->page_size, &page_size, err);
    if (rc == RS_OK && req->parent_department_id < 0)
        rc = sync_field_invalid(err, "parent_department_id", "expected 0 or a department id");
    if (rc != RS_OK)
        return rc;
    parent = sync_dp_int(arena, req->parent_department_id);
    parts[0] = req->organization_id;
    parts[1] = req->source_id;
    parts[2] = parent;
    parts[3] = sync_dp_int(arena, req->flag);
    filter = rs_page_filter_hash("sync.departments", parts, 4);
    key.created_us = INT64_MIN;
    if (req->page_token[0] != '\0') {
        rc = rs_page_token_decode(req->page_token, filter, &key, err);
        if (rc != RS_OK)
            return rc;
    }
    rc = open_read(call, req->organization_id, req->source_id, &conn, &src, err);
    if (rc == RS_OK && req->parent_department_id != 0)
        rc = check_department(conn, src.source_id, req->parent_department_id, err);
    if (rc != RS_OK)
        goto out;
    params[0] = src.source_id;
    params[1] = req->parent_department_id != 0 ? parent : NULL;
    params[2] = sync_dp_int(arena, key.created_us);
    params[3] = sync_dp_int(arena, page_size + 1);
    params[4] = parts[3];
    if ((int)req->flag == SYNC_FLAG_NONE)
        rc = rs_db_query_arena(conn, arena, "sync.tree_departments",
                               "SELECT " DEPT_COLS " FROM sync.departments d "
                               "WHERE d.source_id = $1 AND (($2::bigint IS NULL AND "
                               "d.parent_id IS NULL) OR d.parent_id = $2::bigint) "
                               "AND d.dept_id > $3::bigint AND $5::int = 0 "
                               "ORDER BY d.dept_id LIMIT $4::int",
                               5, params, &res, err);
    else
        rc = rs_db_query_arena(conn, arena, "sync.tree_departments_flagged",
                               "WITH RECURSIVE t (dept_id) AS ("
                               " SELECT dept_id FROM sync.departments WHERE source_id = $1 "
                               " AND parent_id = $2::bigint "
                               " UNION SELECT c.dept_id FROM sync.departments c "
                               " JOIN t ON c.parent_id = t.dept_id WHERE c.source_id = $1) "
                               "SELECT " DEPT_COLS " FROM sync.departments d "
                               "WHERE d.source_id = $1 AND d.flag = $5::smallint "
                               "AND ($2::bigint IS NULL OR d.dept_id IN "
                               "(SELECT dept_id FROM t)) AND d.dept_id > $3::bigint "
                               "ORDER BY d.dept_id LIMIT $4::int",
                               5, params, &res, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        goto nomem;
    roster__sync__v1__list_departments_response__init(out);
    rc = rs_page_rows(arena, res, page_size, rs_call_max_message_bytes(call), dept_from_row,
                      DEPT_ID_COL, DEPT_KEY_COL, filter, (void ***) &out->departments,
                      &out->n_departments, &out->next_page_token, err);
    if (rc == RS_OK)
        *resp = &out->base;
    goto out;
nomem:
    rc = sync_nomem(err);
out:
    rs_db_release(svc->pool, conn);
    return rc;
}

rs_status
sync_list_members(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                  struct rs_error *err)
{
    const Roster__Sync__V1__ListMembersRequest *req = (const void *)msg;
    struct sync_service *svc = rs_call_user_data(call);
    rs_arena *arena = rs_call_arena(call);
    Roster__Sync__V1__ListMembersResponse *out;
    struct sync_dp_source src;
    struct rs_page_key key;
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    const char *parts[5];
    const char *params[6];
    uint64_t filter;
    int page_size = 0;
    rs_status rc;

    rc = check_flag((int)req->flag, err);
    if (rc == RS_OK)
        rc = rs_page_size(req->page_size, &page_size, err);
    if (rc == RS_OK && req->department_id < 0)
        rc = sync_field_invalid(err, "department_id", "expected 0 or a department id");
    if (rc != RS_OK)
        return rc;
    parts[0] = req->organization_id;
    parts[1] = req->source_id;
    parts[2] = sync_dp_int(arena, req->department_id);
    parts[3] = req->recursive ? "r" : "d";
    parts[4] = sync_dp_int(arena, req->flag);
    filter = rs_page_filter_hash("sync.members", parts, 5);
    memset(&key, 0, sizeof(key));
    if (req->page_token[0] != '\0') {
        rc = rs_page_token_decode(req->page_token, filter, &key, err);
        if (rc != RS_OK)
            return rc;
    }
    rc = open_read(call, req->organization_id, req->source_id, &conn, &src, err);
    if (rc == RS_OK && req->department_id != 0)
        rc = check_department(conn, src.source_id, req->department_id, err);
    if (rc != RS_OK)
        goto out;
    params[0] = src.source_id;
    params[1] = req->department_id != 0 ? parts[2] : NULL;
    params[2] = req->recursive ? "t" : "f";
    params[3] = parts[4];
    params[4] = key.id;
    params[5] = sync_dp_int(arena, page_size + 1);
    rc = rs_db_query_arena(conn, arena, "sync.tree_members",
                           "WITH RECURSIVE t (dept_id) AS ("
                           " SELECT $2::bigint WHERE $2::bigint IS NOT NULL "
                           " UNION SELECT c.dept_id FROM sync.departments c "
                           " JOIN t ON c.parent_id = t.dept_id "
                           " WHERE c.source_id = $1 AND $3::boolean) "
                           "SELECT " MEMBER_COLS " FROM sync.members m "
                           "WHERE m.source_id = $1 AND ($4::int = 0 OR m.flag = $4::smallint) "
                           "AND ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM "
                           " sync.member_departments x JOIN t ON t.dept_id = x.dept_id "
                           " WHERE x.source_id = $1 AND x.userid = m.userid)) "
                           "AND md5(m.userid) > $5 ORDER BY md5(m.userid) LIMIT $6::int",
                           6, params, &res, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        goto nomem;
    roster__sync__v1__list_members_response__init(out);
    rc = rs_page_rows(arena, res, page_size, rs_call_max_message_bytes(call), member_from_row,
                      MEMBER_ID_COL, MEMBER_KEY_COL, filter, (void ***) &out->members,
                      &out->n_members, &out->next_page_token, err);
    if (rc == RS_OK)
        *resp = &out->base;
    goto out;
nomem:
    rc = sync_nomem(err);
out:
    rs_db_release(svc->pool, conn);
    return rc;
}

/* The query as an ILIKE pattern: %, _ and \ match themselves. */
static char *
like_pattern(rs_arena *arena, const char *q)
{
    size_t len = strlen(q);
    char *out = rs_arena_alloc(arena, len * 2 + 3);
    char *p = out;

    if (out == NULL)
        return NULL;
    *p++ = '%';
    for (; *q != '\0'; q++) {
        if (*q == '%' || *q == '_' || *q == '\\')
            *p++ = '\\';
        *p++ = *q;
    }
    *p++ = '%';
    *p = '\0';
    return out;
}

rs_status
sync_search_structure(struct rs_call *call, const ProtobufCMessage *msg,
                      ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Sync__V1__SearchStructureRequest *req = (const void *)msg;
    struct sync_service *svc = rs_call_user_data(call);
    rs_arena *arena = rs_call_arena(call);
    Roster__Sync__V1__SearchStructureResponse *out;
    struct sync_dp_source src;
    rs_db_conn *conn = NULL;
    PGresult *dres = NULL;
    PGresult *mres = NULL;
    const char *params[3];
    size_t qlen = strlen(req->query);
    int limit = req->limit == 0 ? SEARCH_LIMIT_DEFAULT : req->limit;
    int i;
    rs_status rc;

    if (qlen == 0 || rs_utf8_length(req->query, qlen) > SEARCH_QUERY_MAX)
        return sync_field_invalid(err, "query", "expected 1 to 50 characters");
    if (req->limit < 0 || req->limit > SEARCH_LIMIT_MAX)
        return sync_field_invalid(err, "limit", "expected 0 to 100");
    rc = open_read(call, req->organization_id, req->source_id, &conn, &src, err);
    if (rc != RS_OK)
        goto out;
    params[0] = src.source_id;
    params[1] = like_pattern(arena, req->query);
    params[2] = sync_dp_int(arena, limit);
    if (params[1] == NULL || params[2] == NULL)
        goto nomem;
    rc = rs_db_query_arena(conn, arena, "sync.tree_search_departments",
                           "SELECT " DEPT_COLS " FROM sync.departments d "
                           "WHERE d.source_id = $1 AND d.name ILIKE $2 "
                           "ORDER BY d.name, d.dept_id LIMIT $3::int",
                           3, params, &dres, err);
    if (rc == RS_OK)
        rc = rs_db_query_arena(conn, arena, "sync.tree_search_members",
                               "SELECT " MEMBER_COLS " FROM sync.members m "
                               "WHERE m.source_id = $1 AND m.name ILIKE $2 "
                               "ORDER BY m.name, m.userid LIMIT $3::int",
                               3, params, &mres, err);
    if (rc != RS_OK)
        goto out;
    out = rs_arena_alloc(arena, sizeof(*out));
    if (out == NULL)
        goto nomem;
    roster__sync__v1__search_structure_response__init(out);
    out->departments = rs_arena_alloc(arena, sizeof(*out->departments) *
                                                 (size_t)(PQntuples(dres) + 1));
    out->members = rs_arena_alloc(arena, sizeof(*out->members) * (size_t)(PQntuples(mres) + 1));
    if (out->departments == NULL || out->members == NULL)
        goto nomem;
    for (i = 0; i < PQntuples(dres); i++) {
        out->departments[i] = dept_from_row(arena, dres, i);
        if (out->departments[i] == NULL)
            goto nomem;
    }
    out->n_departments = (size_t)PQntuples(dres);
    for (i = 0; i < PQntuples(mres); i++) {
        out->members[i] = member_from_row(arena, mres, i);
        if (out->members[i] == NULL)
            goto nomem;
    }
    out->n_members = (size_t)PQntuples(mres);
    *resp = &out->base;
    goto out;
nomem:
    rc = sync_nomem(err);
out:
    rs_db_release(svc->pool, conn);
    return rc;
}
