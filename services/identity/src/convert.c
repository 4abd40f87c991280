/*
 * services/identity/src/convert.c
 *    Result rows to protobuf-c messages, and page tokens from result sets.
 *    Column positions follow the IDENTITY_*_COLS lists in identity_int.h.
 */
#include "identity_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

int64_t
identity_col_int64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

char *
identity_int_param(rs_arena *arena, long long v)
{
    return rs_arena_printf(arena, "%lld", v);
}

/* Strings point into the PGresult, which the arena keeps alive. */
static char *
col_str(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col);
}

static bool
col_bool(const PGresult *res, int row, int col)
{
    return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

static Google__Protobuf__Timestamp *
timestamp_from_us(rs_arena *arena, int64_t us)
{
    Google__Protobuf__Timestamp *ts = rs_arena_alloc(arena, sizeof(*ts));
    int64_t sec;
    int64_t rem;

    if (ts == NULL)
        return NULL;
    google__protobuf__timestamp__init(ts);
    sec = us / 1000000;
    rem = us % 1000000;
    if (rem < 0) {
        sec--;
        rem += 1000000;
    }
    ts->seconds = sec;
    ts->nanos = (int32_t)(rem * 1000);
    return ts;
}

Roster__Identity__V1__User *
identity_user_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Identity__V1__User *u = rs_arena_alloc(arena, sizeof(*u));

    if (u == NULL)
        return NULL;
    roster__identity__v1__user__init(u);
    u->user_id = col_str(res, row, 0);
    u->organization_id = col_str(res, row, 1);
    u->nickname = col_str(res, row, 2);
    u->user_type = (Roster__Identity__V1__UserType)identity_col_int64(res, row, 3);
    u->email = col_str(res, row, 4);
    u->phone = col_str(res, row, 5);
    u->account_id = col_str(res, row, 6);
    u->enabled = col_bool(res, row, 7);
    u->is_owner = col_bool(res, row, 8);
    u->create_time = timestamp_from_us(arena, identity_col_int64(res, row, 9));
    u->update_time = timestamp_from_us(arena, identity_col_int64(res, row, 10));
    if (u->create_time == NULL || u->update_time == NULL)
        return NULL;
    return u;
}

Roster__Identity__V1__Organization *
identity_org_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Identity__V1__Organization *o = rs_arena_alloc(arena, sizeof(*o));
    Roster__Identity__V1__SeatCaps *caps = rs_arena_alloc(arena, sizeof(*caps));
    Roster__Identity__V1__SeatUsage *usage = rs_arena_alloc(arena, sizeof(*usage));

    if (o == NULL || caps == NULL || usage == NULL)
        return NULL;
    roster__identity__v1__organization__init(o);
    roster__identity__v1__seat_caps__init(caps);
    roster__identity__v1__seat_usage__init(usage);
    o->organization_id = col_str(res, row, 0);
    o->name = col_str(res, row, 1);
    o->edition = (Roster__Identity__V1__Edition)identity_col_int64(res, row, 2);
    caps->total = (int32_t)identity_col_int64(res, row, 3);
    if (!PQgetisnull(res, row, 4)) {
        caps->developers_cap_case = ROSTER__IDENTITY__V1__SEAT_CAPS__DEVELOPERS_CAP_DEVELOPERS;
        caps->developers = (int32_t)identity_col_int64(res, row, 4);
    }
    if (!PQgetisnull(res, row, 5)) {
        caps->analysts_cap_case = ROSTER__IDENTITY__V1__SEAT_CAPS__ANALYSTS_CAP_ANALYSTS;
        caps->analysts = (int32_t)identity_col_int64(res, row, 5);
    }
    if (!PQgetisnull(res, row, 6)) {
        caps->visitors_cap_case = ROSTER__IDENTITY__V1__SEAT_CAPS__VISITORS_CAP_VISITORS;
        caps->visitors = (int32_t)identity_col_int64(res, row, 6);
    }
    o->seat_caps = caps;
    o->owner_user_id = col_str(res, row, 7);
    o->create_time = timestamp_from_us(arena, identity_col_int64(res, row, 8));
    o->update_time = timestamp_from_us(arena, identity_col_int64(res, row, 9));
    usage->total = (int32_t)identity_col_int64(res, row, 10);
    usage->developers = (int32_t)identity_col_int64(res, row, 11);
    usage->analysts = (int32_t)identity_col_int64(res, row, 12);
    usage->visitors = (int32_t)identity_col_int64(res, row, 13);
    o->seat_usage = usage;
    if (o->create_time == NULL || o->update_time == NULL)
        return NULL;
    return o;
}

Roster__Identity__V1__UserGroup *
identity_group_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Identity__V1__UserGroup *g = rs_arena_alloc(arena, sizeof(*g));

    if (g == NULL)
        return NULL;
    roster__identity__v1__user_group__init(g);
    g->group_id = col_str(res, row, 0);
    g->organization_id = col_str(res, row, 1);
    g->parent_group_id = col_str(res, row, 2);
    g->name = col_str(res, row, 3);
    g->description = col_str(res, row, 4);
    g->depth = (int32_t)identity_col_int64(res, row, 5);
    g->path = col_str(res, row, 6);
    if (!PQgetisnull(res, row, 7)) {
        Roster__Identity__V1__SyncSource *src = rs_arena_alloc(arena, sizeof(*src));

        if (src == NULL)
            return NULL;
        roster__identity__v1__sync_source__init(src);
        src->platform = (Roster__Identity__V1__Platform)identity_col_int64(res, row, 7);
        src->corp_id = col_str(res, row, 8);
        src->department_id = col_str(res, row, 9);
        g->sync_source = src;
    }
    g->member_count = (int32_t)identity_col_int64(res, row, 10);
    g->creator_user_id = col_str(res, row, 11);
    g->create_time = timestamp_from_us(arena, identity_col_int64(res, row, 12));
    if (g->create_time == NULL)
        return NULL;
    return g;
}

Roster__Identity__V1__ExternalIdentity *
identity_external_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Identity__V1__ExternalIdentity *e = rs_arena_alloc(arena, sizeof(*e));

    if (e == NULL)
        return NULL;
    roster__identity__v1__external_identity__init(e);
    e->organization_id = col_str(res, row, 0);
    e->user_id = col_str(res, row, 1);
    e->platform = (Roster__Identity__V1__Platform)identity_col_int64(res, row, 2);
    e->corp_id = col_str(res, row, 3);
    e->platform_user_id = col_str(res, row, 4);
    e->union_id = col_str(res, row, 5);
    e->create_time = timestamp_from_us(arena, identity_col_int64(res, row, 6));
    if (e->create_time == NULL)
        return NULL;
    return e;
}

void *
identity_user_row(rs_arena *arena, const PGresult *res, int row)
{
    return identity_user_from_row(arena, res, row);
}

void *
identity_group_row(rs_arena *arena, const PGresult *res, int row)
{
    return identity_group_from_row(arena, res, row);
}

Roster__Identity__V1__ExternalIdentity **
identity_externals_from_rows(rs_arena *arena, const PGresult *res, int n)
{
    Roster__Identity__V1__ExternalIdentity **items;
    int i;

    items = rs_arena_alloc(arena, sizeof(*items) * (size_t)(n > 0 ? n : 1));
    if (items == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        items[i] = identity_external_from_row(arena, res, i);
        if (items[i] == NULL)
            return NULL;
    }
    return items;
}
