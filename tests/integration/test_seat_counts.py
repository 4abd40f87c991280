"""Seat counts: identity.seat_counts, which triggers keep per organisation,
checked against a real count of identity.users after API calls, bulk SQL,
the migration's backfill and TRUNCATE, and the seat caps that read it."""

import uuid

import grpc
from google.protobuf import field_mask_pb2

import rosterlib as rl

from roster.identity.v1 import identity_pb2 as pb

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
DEVELOPER = pb.USER_TYPE_DEVELOPER
VISITOR = pb.USER_TYPE_VISITOR
ANALYST = pb.USER_TYPE_ANALYST

# Organisations whose counter row differs from a count of their users, or
# that have users but no counter row: "id|developers|visitors|analysts"
# with the counter's values, empty when every row is right.
MISMATCHES_SQL = """
SELECT coalesce(c.organization_id, u.organization_id) || '|' ||
       coalesce(c.developers::text, '-') || '|' || coalesce(c.visitors::text, '-') ||
       '|' || coalesce(c.analysts::text, '-')
  FROM identity.seat_counts c
  FULL JOIN (SELECT organization_id,
                    count(*) FILTER (WHERE user_type = 1) AS developers,
                    count(*) FILTER (WHERE user_type = 2) AS visitors,
                    count(*) FILTER (WHERE user_type = 3) AS analysts
               FROM identity.users GROUP BY organization_id) u
    ON u.organization_id = c.organization_id
 WHERE (c.developers, c.visitors, c.analysts)
       IS DISTINCT FROM (coalesce(u.developers, 0), coalesce(u.visitors, 0),
                         coalesce(u.analysts, 0))
 ORDER BY 1
"""


def mismatches(conninfo):
    out = rl.psql(conninfo, MISMATCHES_SQL)
    return out.splitlines() if out else []


def counter_row(conninfo, org_id):
    """Returns (developers, visitors, analysts) of org_id's counter row, or None."""
    out = rl.psql(conninfo, "SELECT developers, visitors, analysts FROM identity.seat_counts "
                  "WHERE organization_id = '%s'" % org_id)
    return tuple(int(x) for x in out.split("|")) if out else None


def counter_version(conninfo, org_id):
    """Returns the ctid and xmin of org_id's counter row, which change on every write."""
    return rl.psql(conninfo, "SELECT ctid::text || '/' || xmin::text "
                   "FROM identity.seat_counts WHERE organization_id = '%s'" % org_id)


def seat_usage(ctx, org, owner):
    """Returns GetOrganization's (total, developers, analysts, visitors)."""
    got = ctx.call("GetOrganization", pb.GetOrganizationRequest(
        organization_id=org.organization_id), actor=owner.user_id)
    u = got.seat_usage
    return (u.total, u.developers, u.analysts, u.visitors)


def set_type(ctx, org, owner, user_id, user_type):
    return ctx.call("UpdateUser", pb.UpdateUserRequest(
        organization_id=org.organization_id, user_id=user_id,
        update_mask=field_mask_pb2.FieldMask(paths=["user_type"]),
        user_type=user_type), actor=owner.user_id)


def delete_user(ctx, org, owner, user_id):
    ctx.call("DeleteUser", pb.DeleteUserRequest(
        organization_id=org.organization_id, user_id=user_id), actor=owner.user_id)


def assert_create_rejected(ctx, org, owner, user_type, reason):
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=org.organization_id, nickname="refused-" + uuid.uuid4().hex[:8],
        user_type=user_type), RESOURCE_EXHAUSTED, reason, actor=owner.user_id)


def create_batch(ctx, org, owner, types):
    """Sends one CreateUsers call and returns each entry's error reason, or "created"."""
    resp = ctx.call("CreateUsers", pb.CreateUsersRequest(
        organization_id=org.organization_id,
        users=[pb.NewUser(nickname="batch-" + uuid.uuid4().hex[:10], user_type=t)
               for t in types]), actor=owner.user_id, timeout=30)
    assert len(resp.results) == len(types)
    return [r.error.reason if r.HasField("error") else "created" for r in resp.results]


def test_new_org_has_counter_row(ctx):
    o, _owner = ctx.new_org(total=3)
    # The owner is a Developer.
    assert counter_row(ctx.conninfo, o.organization_id) == (1, 0, 0)


def test_missing_counter_row_rejected(ctx):
    o, owner = ctx.new_org(total=3)
    rl.psql(ctx.conninfo, "DELETE FROM identity.seat_counts WHERE organization_id = '%s'"
            % o.organization_id)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="no-count-" + uuid.uuid4().hex[:8],
        user_type=ANALYST), grpc.StatusCode.INTERNAL, "SEAT_COUNTS_MISSING",
        actor=owner.user_id)
    ctx.refused("CreateUsers", pb.CreateUsersRequest(
        organization_id=o.organization_id,
        users=[pb.NewUser(nickname="no-count-" + uuid.uuid4().hex[:8], user_type=ANALYST)]),
        grpc.StatusCode.INTERNAL, "SEAT_COUNTS_MISSING", actor=owner.user_id)
    assert rl.psql(ctx.conninfo, "SELECT count(*) FROM identity.users "
                   "WHERE organization_id = '%s'" % o.organization_id) == "1"

    # Restored as the migration's backfill would, for the tests that follow.
    rl.psql(ctx.conninfo, "INSERT INTO identity.seat_counts (organization_id, developers) "
            "VALUES ('%s', 1)" % o.organization_id)
    ctx.new_user(o, owner, user_type=ANALYST)
    assert mismatches(ctx.conninfo) == []


def test_cap_freed_by_delete(ctx):
    o, owner = ctx.new_org(total=3, developers=2)
    dev = ctx.new_user(o, owner, user_type=DEVELOPER)
    assert_create_rejected(ctx, o, owner, DEVELOPER, "SEAT_LIMIT_REACHED")
    delete_user(ctx, o, owner, dev.user_id)
    ctx.new_user(o, owner, user_type=DEVELOPER)

    ctx.new_user(o, owner, user_type=ANALYST)
    assert_create_rejected(ctx, o, owner, ANALYST, "TOTAL_SEAT_LIMIT_REACHED")
    assert seat_usage(ctx, o, owner) == (3, 2, 1, 0)
    assert mismatches(ctx.conninfo) == []


def test_cap_follows_type_change(ctx):
    o, owner = ctx.new_org(total=5, developers=2, visitors=1)
    dev = ctx.new_user(o, owner, user_type=DEVELOPER)
    assert_create_rejected(ctx, o, owner, DEVELOPER, "SEAT_LIMIT_REACHED")

    # Developer to Analyst frees a Developer seat and keeps the total.
    set_type(ctx, o, owner, dev.user_id, ANALYST)
    assert seat_usage(ctx, o, owner) == (2, 1, 1, 0)
    ctx.new_user(o, owner, user_type=DEVELOPER)
    assert_create_rejected(ctx, o, owner, DEVELOPER, "SEAT_LIMIT_REACHED")

    # Analyst to Visitor takes the only Visitor seat.
    set_type(ctx, o, owner, dev.user_id, VISITOR)
    assert_create_rejected(ctx, o, owner, VISITOR, "SEAT_LIMIT_REACHED")
    ctx.refused("UpdateUser", pb.UpdateUserRequest(
        organization_id=o.organization_id, user_id=dev.user_id,
        update_mask=field_mask_pb2.FieldMask(paths=["user_type"]),
        user_type=DEVELOPER), RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
        actor=owner.user_id)
    assert seat_usage(ctx, o, owner) == (3, 2, 0, 1)
    assert counter_row(ctx.conninfo, o.organization_id) == (2, 1, 0)


def test_batch_fills_cap_exactly(ctx):
    o, owner = ctx.new_org(total=6, developers=3)
    # The owner takes 1 seat, so 5 are free, 2 of them a Developer's.
    assert create_batch(ctx, o, owner, [DEVELOPER, ANALYST, DEVELOPER]) == ["created"] * 3
    assert create_batch(ctx, o, owner, [DEVELOPER, VISITOR, ANALYST]) == [
        "SEAT_LIMIT_REACHED", "created", "created"]
    assert seat_usage(ctx, o, owner) == (6, 3, 2, 1)
    assert counter_row(ctx.conninfo, o.organization_id) == (3, 1, 2)

    assert create_batch(ctx, o, owner, [ANALYST]) == ["TOTAL_SEAT_LIMIT_REACHED"]
    assert_create_rejected(ctx, o, owner, VISITOR, "TOTAL_SEAT_LIMIT_REACHED")
    assert mismatches(ctx.conninfo) == []


def test_counts_after_mixed_writes(ctx):
    o, owner = ctx.new_org(total=40, developers=10, visitors=10, analysts=20)
    users = [ctx.new_user(o, owner, user_type=t)
             for t in (DEVELOPER, VISITOR, ANALYST, ANALYST, VISITOR)]
    assert create_batch(ctx, o, owner, [ANALYST] * 6 + [VISITOR] * 3 + [DEVELOPER] * 2) \
        == ["created"] * 11
    set_type(ctx, o, owner, users[0].user_id, VISITOR)
    set_type(ctx, o, owner, users[1].user_id, ANALYST)
    set_type(ctx, o, owner, users[2].user_id, ANALYST)  # unchanged type
    delete_user(ctx, o, owner, users[3].user_id)
    delete_user(ctx, o, owner, users[4].user_id)
    ctx.call("DisableUser", pb.SetUserEnabledRequest(
        organization_id=o.organization_id, user_id=users[2].user_id), actor=owner.user_id)

    # Developers: the owner and 2 of the batch. Visitors: 3 of the batch and
    # users[0]. Analysts: 6 of the batch, users[1] and users[2].
    assert counter_row(ctx.conninfo, o.organization_id) == (3, 4, 8)
    assert seat_usage(ctx, o, owner) == (15, 3, 8, 4)
    assert mismatches(ctx.conninfo) == []


def test_unchanged_type_writes_no_counter(ctx):
    o, owner = ctx.new_org(total=5)
    u = ctx.new_user(o, owner, user_type=ANALYST)
    before = counter_version(ctx.conninfo, o.organization_id)
    assert before

    ctx.call("UpdateUser", pb.UpdateUserRequest(
        organization_id=o.organization_id, user_id=u.user_id,
        update_mask=field_mask_pb2.FieldMask(paths=["nickname", "user_type"]),
        nickname="renamed-" + uuid.uuid4().hex[:8], user_type=ANALYST),
        actor=owner.user_id)
    ctx.call("DisableUser", pb.SetUserEnabledRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    ctx.call("EnableUser", pb.SetUserEnabledRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert counter_version(ctx.conninfo, o.organization_id) == before

    # Two type changes in one statement that cancel out.
    v = ctx.new_user(o, owner, user_type=VISITOR)
    before = counter_version(ctx.conninfo, o.organization_id)
    rl.psql(ctx.conninfo, "UPDATE identity.users SET user_type = CASE user_type "
            "WHEN 2 THEN 3 ELSE 2 END WHERE id IN ('%s', '%s')" % (u.user_id, v.user_id))
    assert counter_version(ctx.conninfo, o.organization_id) == before
    assert counter_row(ctx.conninfo, o.organization_id) == (1, 1, 1)

    set_type(ctx, o, owner, u.user_id, DEVELOPER)
    assert counter_version(ctx.conninfo, o.organization_id) != before
    assert counter_row(ctx.conninfo, o.organization_id) == (2, 0, 1)


def test_user_moved_between_orgs(ctx):
    # The API cannot move a user, so SQL does, as an operator could.
    a, a_owner = ctx.new_org(total=2)
    b, b_owner = ctx.new_org(total=3, analysts=1)
    moved = ctx.new_user(a, a_owner, user_type=ANALYST)
    assert_create_rejected(ctx, a, a_owner, ANALYST, "TOTAL_SEAT_LIMIT_REACHED")

    rl.psql(ctx.conninfo, "UPDATE identity.users SET organization_id = '%s' WHERE id = '%s'"
            % (b.organization_id, moved.user_id))
    assert counter_row(ctx.conninfo, a.organization_id) == (1, 0, 0)
    assert counter_row(ctx.conninfo, b.organization_id) == (1, 0, 1)
    ctx.new_user(a, a_owner, user_type=ANALYST)
    assert_create_rejected(ctx, b, b_owner, ANALYST, "SEAT_LIMIT_REACHED")
    ctx.new_user(b, b_owner, user_type=VISITOR)
    assert_create_rejected(ctx, b, b_owner, VISITOR, "TOTAL_SEAT_LIMIT_REACHED")
    assert mismatches(ctx.conninfo) == []


def test_bulk_sql_writes_counted(ctx):
    o, owner = ctx.new_org(total=1000)
    org_id = o.organization_id
    rl.psql(ctx.conninfo, "INSERT INTO identity.users (id, organization_id, nickname, user_type) "
            "SELECT md5(random()::text || i), '%s', 'bulk-' || i, 1 + i %% 3 "
            "FROM generate_series(1, 300) i" % org_id)
    assert counter_row(ctx.conninfo, org_id) == (101, 100, 100)
    rl.psql(ctx.conninfo, "UPDATE identity.users SET user_type = 3 WHERE organization_id = '%s' "
            "AND nickname LIKE 'bulk-%%' AND user_type = 2" % org_id)
    assert counter_row(ctx.conninfo, org_id) == (101, 0, 200)
    rl.psql(ctx.conninfo, "DELETE FROM identity.users WHERE organization_id = '%s' "
            "AND nickname LIKE 'bulk-%%' AND user_type = 1" % org_id)
    assert counter_row(ctx.conninfo, org_id) == (1, 0, 200)
    assert seat_usage(ctx, o, owner) == (201, 1, 200, 0)
    assert mismatches(ctx.conninfo) == []


# --- migration and TRUNCATE, each on its own database ------------------------

def insert_org(conninfo, org_id, owner_id, types, owner_org=None):
    """Inserts an organisation and users of the given types with SQL. Its
    owner is a Developer of owner_org (of this organisation by default)."""
    sql = ["BEGIN;",
           "INSERT INTO identity.organizations (id, name, edition, seat_total, owner_user_id) "
           "VALUES ('%s', 'org', 1, 100, '%s');" % (org_id, owner_id)]
    if owner_org is None:
        sql.append("INSERT INTO identity.users (id, organization_id, nickname, user_type) "
                   "VALUES ('%s', '%s', 'owner', 1);" % (owner_id, org_id))
    for i, t in enumerate(types):
        sql.append("INSERT INTO identity.users (id, organization_id, nickname, user_type) "
                   "VALUES ('%s', '%s', 'u%d', %d);" % (uuid.uuid4().hex, org_id, i, t))
    sql.append("COMMIT;")
    rl.psql(conninfo, "\n".join(sql))


DROP_0004_SQL = """
DROP TABLE identity.seat_counts;
DROP FUNCTION identity.seat_counts_add_orgs() CASCADE;
DROP FUNCTION identity.seat_counts_apply() CASCADE;
DROP FUNCTION identity.seat_counts_clear() CASCADE;
DELETE FROM identity.schema_migrations WHERE version = 4;
"""


def test_migration_backfills_counts(base_env):
    base, binary = base_env
    conninfo = rl.create_database(base)
    assert rl.migrate(binary, conninfo).returncode == 0
    a, b, c = (uuid.uuid4().hex for _ in range(3))
    a_owner = uuid.uuid4().hex
    insert_org(conninfo, a, a_owner, [1, 2, 2, 3, 3, 3])

    # Back to the schema before 0004, then writes that no trigger counts.
    rl.psql(conninfo, DROP_0004_SQL)
    assert rl.psql(conninfo, "SELECT to_regclass('identity.seat_counts') IS NULL") == "t"
    insert_org(conninfo, b, uuid.uuid4().hex, [3, 3])
    # c's owner belongs to a, so c has no user at all.
    insert_org(conninfo, c, a_owner, [], owner_org=a)
    rl.psql(conninfo, "UPDATE identity.users SET user_type = 1 "
            "WHERE organization_id = '%s' AND user_type = 2" % a)

    assert rl.migrate(binary, conninfo).returncode == 0
    assert counter_row(conninfo, a) == (4, 0, 3)
    assert counter_row(conninfo, b) == (1, 0, 2)
    assert counter_row(conninfo, c) == (0, 0, 0)
    assert mismatches(conninfo) == []

    # The triggers count from there on.
    rl.psql(conninfo, "DELETE FROM identity.users WHERE organization_id = '%s' "
            "AND user_type = 3" % b)
    assert counter_row(conninfo, b) == (1, 0, 0)
    assert mismatches(conninfo) == []


def test_truncate_clears_counts(base_env):
    base, binary = base_env
    conninfo = rl.create_database(base)
    assert rl.migrate(binary, conninfo).returncode == 0
    org_id = uuid.uuid4().hex
    insert_org(conninfo, org_id, uuid.uuid4().hex, [1, 2, 3])
    assert counter_row(conninfo, org_id) == (2, 1, 1)

    # With the owner reference, TRUNCATE identity.users CASCADE takes the
    # organisations and their counter rows too.
    rl.psql(conninfo, "TRUNCATE identity.users CASCADE")
    assert rl.psql(conninfo, "SELECT count(*) FROM identity.seat_counts") == "0"

    # Without it the organisation stays, and its counts drop to zero.
    rl.psql(conninfo, "ALTER TABLE identity.organizations DROP CONSTRAINT "
            "organizations_owner_fkey")
    insert_org(conninfo, org_id, uuid.uuid4().hex, [1, 2, 3])
    assert counter_row(conninfo, org_id) == (2, 1, 1)
    rl.psql(conninfo, "TRUNCATE identity.users CASCADE")
    assert counter_row(conninfo, org_id) == (0, 0, 0)
    assert mismatches(conninfo) == []
