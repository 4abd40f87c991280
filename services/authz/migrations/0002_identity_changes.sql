-- services/authz/migrations/0002_identity_changes.sql
--    Bump the organisation's revision when identity changes a row that a
--    decision reads: a user added, removed, disabled or given another
--    type, a group added, removed or moved, a group membership, or the
--    organisation's owner.
--
-- authz answers from per-organisation snapshots that are reloaded when the
-- revision moves, so an identity write that does not bump it would go
-- unseen, even by FULLY_CONSISTENT checks. The triggers run in identity's
-- own transaction, so the bump and its notification commit with the
-- change. They are statement-level with transition tables, so a bulk
-- statement (a directory sync) bumps each organisation once. PostgreSQL
-- allows transition tables only on single-event triggers, hence one
-- trigger per event.

CREATE FUNCTION authz.bump_revisions(p_orgs text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    o text;
BEGIN
    -- Sorted, so two statements touching the same organisations lock
    -- their revision rows in one order.
    FOR o IN SELECT DISTINCT x FROM unnest(p_orgs) AS x WHERE x IS NOT NULL ORDER BY x LOOP
        -- An organisation row deleted in this transaction has no revision to bump.
        IF EXISTS (SELECT 1 FROM identity.organizations WHERE id = o) THEN
            PERFORM authz.bump_revision(o);
        END IF;
    END LOOP;
END
$$;

-- users: inserts, deletes, and updates of the fields decisions read.
CREATE FUNCTION authz.on_users_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(SELECT organization_id FROM new_rows));
    RETURN NULL;
END
$$;

CREATE FUNCTION authz.on_users_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(SELECT organization_id FROM old_rows));
    RETURN NULL;
END
$$;

CREATE FUNCTION authz.on_users_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(
        SELECT n.organization_id FROM new_rows n JOIN old_rows p ON p.id = n.id
         WHERE (n.user_type, n.enabled, n.organization_id)
               IS DISTINCT FROM (p.user_type, p.enabled, p.organization_id)));
    RETURN NULL;
END
$$;

CREATE TRIGGER authz_users_inserted AFTER INSERT ON identity.users
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_users_inserted();
CREATE TRIGGER authz_users_deleted AFTER DELETE ON identity.users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_users_deleted();
CREATE TRIGGER authz_users_updated AFTER UPDATE ON identity.users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_users_updated();

-- user_groups: the group tree.
CREATE FUNCTION authz.on_groups_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(SELECT organization_id FROM new_rows));
    RETURN NULL;
END
$$;

CREATE FUNCTION authz.on_groups_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(SELECT organization_id FROM old_rows));
    RETURN NULL;
END
$$;

CREATE FUNCTION authz.on_groups_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(
        SELECT n.organization_id FROM new_rows n JOIN old_rows p ON p.id = n.id
         WHERE (n.parent_id, n.organization_id) IS DISTINCT FROM (p.parent_id, p.organization_id)));
    RETURN NULL;
END
$$;

CREATE TRIGGER authz_groups_inserted AFTER INSERT ON identity.user_groups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_groups_inserted();
CREATE TRIGGER authz_groups_deleted AFTER DELETE ON identity.user_groups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_groups_deleted();
CREATE TRIGGER authz_groups_updated AFTER UPDATE ON identity.user_groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_groups_updated();

-- user_group_members: the organisation comes from the group, or from the
-- user when the group went in the same statement's cascade.
CREATE FUNCTION authz.member_orgs(p_group_ids text[], p_user_ids text[]) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(
        SELECT g.organization_id FROM identity.user_groups g WHERE g.id = ANY (p_group_ids)
        UNION
        SELECT u.organization_id FROM identity.users u WHERE u.id = ANY (p_user_ids))
$$;

CREATE FUNCTION authz.on_group_members_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(authz.member_orgs(
        ARRAY(SELECT group_id FROM new_rows), ARRAY(SELECT user_id FROM new_rows)));
    RETURN NULL;
END
$$;

CREATE FUNCTION authz.on_group_members_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(authz.member_orgs(
        ARRAY(SELECT group_id FROM old_rows), ARRAY(SELECT user_id FROM old_rows)));
    RETURN NULL;
END
$$;

CREATE TRIGGER authz_group_members_inserted AFTER INSERT ON identity.user_group_members
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_group_members_inserted();
CREATE TRIGGER authz_group_members_deleted AFTER DELETE ON identity.user_group_members
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_group_members_deleted();

-- organizations: the owner holds Organization Administrator.
CREATE FUNCTION authz.on_organizations_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(
        SELECT n.id FROM new_rows n JOIN old_rows p ON p.id = n.id
         WHERE n.owner_user_id IS DISTINCT FROM p.owner_user_id));
    RETURN NULL;
END
$$;

CREATE TRIGGER authz_organizations_updated AFTER UPDATE ON identity.organizations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION authz.on_organizations_updated();
