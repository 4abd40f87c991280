-- services/identity/migrations/0004_seat_counts.sql
--    Per-organisation user counts by type, kept by triggers, so the seat
--    check of CreateUser and CreateUsers reads one row. Counting the users
--    on every check cost time linear in the organisation's size, which made
--    a Start Sync of many members quadratic.
--
--    One row per organisation, not per type: a writer locks one counter row,
--    so concurrent writers cannot deadlock on the order of counter rows.

-- Old replicas keep writing during a rolling upgrade. These locks hold
-- their writes back until commit, so the backfill below counts every user
-- that exists when the triggers start counting. The order matches
-- CreateOrganization, which writes the organisation before its owner.
LOCK TABLE identity.organizations, identity.users IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE identity.seat_counts (
    organization_id  text    PRIMARY KEY
                             REFERENCES identity.organizations (id) ON DELETE CASCADE,
    developers       bigint  NOT NULL DEFAULT 0 CHECK (developers >= 0),
    visitors         bigint  NOT NULL DEFAULT 0 CHECK (visitors >= 0),
    analysts         bigint  NOT NULL DEFAULT 0 CHECK (analysts >= 0)
);

CREATE FUNCTION identity.seat_counts_add_orgs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO identity.seat_counts (organization_id) SELECT id FROM new_rows;
    RETURN NULL;
END
$$;

-- Applies the statement's change to the users' (organisation, type) pairs.
-- A user row adds 1 to the count of its new pair and takes 1 from that of
-- its old pair, and only organisations with a non-zero change are written:
-- an UPDATE that keeps every user's type and organisation, such as a
-- repeated directory sync, writes no counter row. An UPDATE, not an
-- INSERT, applies the change, so a user deleted together with its
-- organisation, whose counter row is already gone, changes nothing.
CREATE FUNCTION identity.seat_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE identity.seat_counts c
           SET developers = c.developers + d.developers,
               visitors = c.visitors + d.visitors,
               analysts = c.analysts + d.analysts
          FROM (SELECT organization_id,
                       count(*) FILTER (WHERE user_type = 1) AS developers,
                       count(*) FILTER (WHERE user_type = 2) AS visitors,
                       count(*) FILTER (WHERE user_type = 3) AS analysts
                  FROM new_rows GROUP BY organization_id) d
         WHERE c.organization_id = d.organization_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE identity.seat_counts c
           SET developers = c.developers - d.developers,
               visitors = c.visitors - d.visitors,
               analysts = c.analysts - d.analysts
          FROM (SELECT organization_id,
                       count(*) FILTER (WHERE user_type = 1) AS developers,
                       count(*) FILTER (WHERE user_type = 2) AS visitors,
                       count(*) FILTER (WHERE user_type = 3) AS analysts
                  FROM old_rows GROUP BY organization_id) d
         WHERE c.organization_id = d.organization_id;
    ELSE
        -- The user's id may change too, so the change is the sum over both
        -- row sets rather than a join of old and new rows by id.
        UPDATE identity.seat_counts c
           SET developers = c.developers + d.developers,
               visitors = c.visitors + d.visitors,
               analysts = c.analysts + d.analysts
          FROM (SELECT organization_id,
                       coalesce(sum(n) FILTER (WHERE user_type = 1), 0) AS developers,
                       coalesce(sum(n) FILTER (WHERE user_type = 2), 0) AS visitors,
                       coalesce(sum(n) FILTER (WHERE user_type = 3), 0) AS analysts
                  FROM (SELECT organization_id, user_type, 1 AS n FROM new_rows
                        UNION ALL
                        SELECT organization_id, user_type, -1 AS n FROM old_rows) x
                 GROUP BY organization_id) d
         WHERE c.organization_id = d.organization_id
           AND (d.developers, d.visitors, d.analysts) <> (0, 0, 0);
    END IF;
    RETURN NULL;
END
$$;

-- TRUNCATE identity.users fails unless it also truncates organizations,
-- whose owner_user_id references users, and with them seat_counts. This
-- keeps the counts right should that reference go.
CREATE FUNCTION identity.seat_counts_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity.seat_counts
       SET developers = 0, visitors = 0, analysts = 0
     WHERE (developers, visitors, analysts) <> (0, 0, 0);
    RETURN NULL;
END
$$;

-- PostgreSQL allows transition tables only on a trigger for one event and
-- with no column list (CREATE TRIGGER, PostgreSQL 15), so there is one
-- trigger per event, and the UPDATE trigger fires on every UPDATE.
--
-- Triggers of one event fire in the order of their names. These are named
-- after authz's authz_users_* triggers, which lock the organisation's
-- revision row, so every statement that writes users locks the revision
-- row before the counter row. DeleteUser does not take the organisation
-- row lock that CreateUser and UpdateUser hold, and it needs this order:
-- with the counter row first, a DeleteUser holding it could wait for the
-- revision row held by a CreateUser that waits for the counter row. An
-- UPDATE that moved a user to another organisation would break this order:
-- authz bumps only the new organisation's revision, while this trigger
-- writes both counter rows. No identity call changes organization_id.
CREATE TRIGGER identity_organizations_inserted_seats AFTER INSERT ON identity.organizations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.seat_counts_add_orgs();
CREATE TRIGGER identity_users_inserted_seats AFTER INSERT ON identity.users
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.seat_counts_apply();
CREATE TRIGGER identity_users_updated_seats AFTER UPDATE ON identity.users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.seat_counts_apply();
CREATE TRIGGER identity_users_deleted_seats AFTER DELETE ON identity.users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.seat_counts_apply();
CREATE TRIGGER identity_users_truncated_seats AFTER TRUNCATE ON identity.users
    FOR EACH STATEMENT EXECUTE FUNCTION identity.seat_counts_clear();

INSERT INTO identity.seat_counts (organization_id, developers, visitors, analysts)
SELECT o.id,
       count(u.id) FILTER (WHERE u.user_type = 1),
       count(u.id) FILTER (WHERE u.user_type = 2),
       count(u.id) FILTER (WHERE u.user_type = 3)
  FROM identity.organizations o LEFT JOIN identity.users u ON u.organization_id = o.id
 GROUP BY o.id;
