-- services/authz/migrations/0003_member_insert_orgs.sql
--    Inserted group memberships bump the revision of their groups'
--    organisations, found once per distinct group.
--
-- identity adds a membership only when its group and its user belong to
-- one organisation (AddUserGroupMembers checks the users, CreateUsers
-- creates them there), so the users' rows add no organisation. The
-- function of 0002 looked up the group and the user of every inserted
-- row: about 236 index probes for a chunk of 100 members in Start Sync,
-- run inside identity's transaction under its organisation lock. Deletes
-- keep 0002's function, because a cascade from a deleted group leaves
-- only the user to name the organisation.

CREATE OR REPLACE FUNCTION authz.on_group_members_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM authz.bump_revisions(ARRAY(
        SELECT g.organization_id FROM identity.user_groups g
         WHERE g.id IN (SELECT DISTINCT group_id FROM new_rows)));
    RETURN NULL;
END
$$;
