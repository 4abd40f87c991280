-- services/identity/migrations/0002_change_notify.sql
--    Every change to a user or an organisation row notifies the channel
--    roster_identity_changes with the organisation's id, sent at commit.
--    identity replicas serve GetUser and the actor check from memory and
--    drop an organisation's cached rows when its id arrives. The payload
--    '*' (TRUNCATE) drops every organisation's rows.
--
--    PostgreSQL folds identical notifications of one transaction into one,
--    so a statement touching many users of one organisation sends one.

CREATE FUNCTION identity.notify_user_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('roster_identity_changes', d.organization_id)
           FROM (SELECT DISTINCT organization_id FROM old_rows) d;
    ELSIF TG_OP = 'UPDATE' THEN
        -- A changed organization_id moves the user out of one organisation
        -- and into another, and replicas hold the row under the old one.
        PERFORM pg_notify('roster_identity_changes', d.organization_id)
           FROM (SELECT organization_id FROM old_rows
                 UNION SELECT organization_id FROM new_rows) d;
    ELSE
        PERFORM pg_notify('roster_identity_changes', d.organization_id)
           FROM (SELECT DISTINCT organization_id FROM new_rows) d;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION identity.notify_org_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('roster_identity_changes', d.id) FROM old_rows d;
    ELSE
        PERFORM pg_notify('roster_identity_changes', d.id) FROM new_rows d;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION identity.notify_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roster_identity_changes', '*');
    RETURN NULL;
END
$$;

-- A trigger with transition tables serves one event, hence one per event.
CREATE TRIGGER identity_users_inserted_notify AFTER INSERT ON identity.users
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_user_changes();
CREATE TRIGGER identity_users_updated_notify AFTER UPDATE ON identity.users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_user_changes();
CREATE TRIGGER identity_users_deleted_notify AFTER DELETE ON identity.users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_user_changes();
CREATE TRIGGER identity_organizations_updated_notify AFTER UPDATE ON identity.organizations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_org_changes();
CREATE TRIGGER identity_organizations_deleted_notify AFTER DELETE ON identity.organizations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_org_changes();
CREATE TRIGGER identity_users_truncated_notify AFTER TRUNCATE ON identity.users
    FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_truncate();
CREATE TRIGGER identity_organizations_truncated_notify AFTER TRUNCATE ON identity.organizations
    FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_truncate();
