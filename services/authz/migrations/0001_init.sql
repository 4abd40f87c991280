-- services/authz/migrations/0001_init.sql
--    Organisation roles, workspaces, workspace members, resources, grants
--    and the per-organisation revision counter.
--
-- authz owns every table here. It reads identity.users, identity.user_groups
-- and identity.user_group_members but never writes them. The foreign keys to
-- identity.users cascade: removing a user removes the user's roles,
-- memberships and grants, a rule this schema declares for its own tables.
-- Groups have no foreign key on purpose: a grant or membership given to a
-- deleted group stays, is reported as invalidated and no longer counts.

-- One row per organisation; bumped in the same transaction as every write
-- that changes a decision, so a revision names a committed state.
CREATE TABLE authz.org_revisions (
    organization_id  text    PRIMARY KEY REFERENCES identity.organizations (id),
    revision         bigint  NOT NULL DEFAULT 0
);

-- Custom organisation roles; the three presets are built into the service.
CREATE SEQUENCE authz.org_role_id_seq START 1000;
CREATE TABLE authz.org_roles (
    id               bigint      PRIMARY KEY DEFAULT nextval('authz.org_role_id_seq'),
    organization_id  text        NOT NULL REFERENCES identity.organizations (id),
    name             text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    auth_keys        text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT org_roles_name_key UNIQUE (organization_id, name)
);

-- A user's organisation roles; no row means Regular User (111111113). The
-- owner holds Organization Administrator whether or not a row says so.
CREATE TABLE authz.user_org_roles (
    organization_id  text        NOT NULL REFERENCES identity.organizations (id),
    user_id          text        NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
    role_id          bigint      NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_org_roles_org_idx ON authz.user_org_roles (organization_id, role_id);

CREATE TABLE authz.workspaces (
    id                            text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    organization_id               text        NOT NULL REFERENCES identity.organizations (id),
    name                          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    description                   text        NOT NULL DEFAULT '',
    owner_user_id                 text        NOT NULL REFERENCES identity.users (id),
    mode                          smallint    NOT NULL CHECK (mode IN (1, 2)),
    allow_publish                 boolean     NOT NULL DEFAULT true,
    allow_share                   boolean     NOT NULL DEFAULT true,
    default_share_to_all          boolean     NOT NULL DEFAULT false,
    only_admin_create_datasource  boolean     NOT NULL DEFAULT false,
    use_comment                   boolean     NOT NULL DEFAULT true,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspaces_name_key UNIQUE (organization_id, name)
);
CREATE INDEX workspaces_org_created_idx ON authz.workspaces (organization_id, created_at, id);
CREATE INDEX workspaces_owner_idx ON authz.workspaces (owner_user_id);

-- Custom workspace roles; the presets 25, 26, 27 and 30 are built in.
-- permissions maps a module key to a subset of {"edit","use","list"}.
CREATE SEQUENCE authz.workspace_role_id_seq START 1000;
CREATE TABLE authz.workspace_roles (
    id               bigint      PRIMARY KEY DEFAULT nextval('authz.workspace_role_id_seq'),
    organization_id  text        NOT NULL REFERENCES identity.organizations (id),
    name             text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    permissions      jsonb       NOT NULL DEFAULT '{}',
    -- Computed by the service when the role is created: every permission
    -- is within preset role 27 (Workspace Analyst).
    within_analyst_ceiling  boolean  NOT NULL,
    manages_members  boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspace_roles_name_key UNIQUE (organization_id, name)
);

-- A member is a user or a group (principal_type 1 or 2) with its roles.
CREATE TABLE authz.workspace_members (
    workspace_id     text        NOT NULL REFERENCES authz.workspaces (id) ON DELETE CASCADE,
    organization_id  text        NOT NULL REFERENCES identity.organizations (id),
    principal_type   smallint    NOT NULL CHECK (principal_type IN (1, 2)),
    principal_id     text        NOT NULL CHECK (principal_id ~ '^[0-9a-f]{32}$'),
    -- Set for user members only, so removing the user removes the membership.
    principal_user_id  text      REFERENCES identity.users (id) ON DELETE CASCADE,
    role_ids         bigint[]    NOT NULL CHECK (cardinality(role_ids) >= 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, principal_type, principal_id),
    CHECK ((principal_type = 1) = (principal_user_id IS NOT NULL)),
    CHECK (principal_type <> 1 OR principal_user_id = principal_id)
);
CREATE INDEX workspace_members_principal_idx
    ON authz.workspace_members (organization_id, principal_type, principal_id);

-- Works known to authz. A grant on an unknown work registers it.
CREATE TABLE authz.resources (
    organization_id  text        NOT NULL REFERENCES identity.organizations (id),
    resource_type    text        NOT NULL,
    resource_id      text        NOT NULL CHECK (char_length(resource_id) BETWEEN 1 AND 128),
    workspace_id     text        NOT NULL REFERENCES authz.workspaces (id) ON DELETE CASCADE,
    owner_user_id    text        REFERENCES identity.users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, resource_type, resource_id)
);
CREATE INDEX resources_workspace_idx ON authz.resources (workspace_id, resource_type, resource_id);

-- Work authorisations. subject_type 1 user, 2 group, 3 organisation,
-- 4 workspace; level 1 view, 3 view+export, 11 edit (permanent).
CREATE TABLE authz.grants (
    id               text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    organization_id  text        NOT NULL REFERENCES identity.organizations (id),
    resource_type    text        NOT NULL,
    resource_id      text        NOT NULL,
    subject_type     smallint    NOT NULL CHECK (subject_type IN (1, 2, 3, 4)),
    subject_id       text        NOT NULL DEFAULT '',
    -- Set for user subjects only, so removing the user removes the grant.
    subject_user_id  text        REFERENCES identity.users (id) ON DELETE CASCADE,
    level            smallint    NOT NULL CHECK (level IN (1, 3, 11)),
    expires_at       timestamptz,
    granted_by       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, resource_type, resource_id)
        REFERENCES authz.resources (organization_id, resource_type, resource_id)
        ON DELETE CASCADE,
    CHECK ((level = 11) = (expires_at IS NULL)),
    CHECK ((subject_type = 1) = (subject_user_id IS NOT NULL)),
    CHECK (subject_type <> 1 OR subject_user_id = subject_id),
    -- One grant per resource and subject: granting again replaces it.
    CONSTRAINT grants_resource_subject_key
        UNIQUE (organization_id, resource_type, resource_id, subject_type, subject_id)
);
CREATE INDEX grants_subject_idx ON authz.grants (organization_id, subject_type, subject_id);

-- Bumps the organisation's revision and notifies every authz replica, all
-- inside the caller's transaction: the notification is sent at commit.
-- Returns the new revision.
CREATE FUNCTION authz.bump_revision(p_org text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    INSERT INTO authz.org_revisions AS r (organization_id, revision)
    VALUES (p_org, 1)
    ON CONFLICT (organization_id) DO UPDATE SET revision = r.revision + 1
    RETURNING revision INTO v;
    PERFORM pg_notify('roster_authz_changes', p_org || ':' || v);
    RETURN v;
END
$$;

-- Identity asks this before administrator-only writes.
CREATE FUNCTION authz.is_org_admin(p_org text, p_user text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM identity.organizations o
                    WHERE o.id = p_org AND o.owner_user_id = p_user)
        OR EXISTS (SELECT 1 FROM authz.user_org_roles r
                    WHERE r.organization_id = p_org AND r.user_id = p_user
                      AND r.role_id = 111111111)
$$;

-- The highest grant level each user type may hold on each kind of work
-- (0 = none). Quick BI's table: Visitors at most view+export on works and
-- submit (view) on forms, nothing on datasets and data sources; Analysts
-- edit works and forms, use (view) datasets, nothing on data sources.
CREATE TABLE authz.type_ceilings (
    user_type      smallint  NOT NULL CHECK (user_type IN (1, 2, 3)),
    resource_type  text      NOT NULL,
    max_level      smallint  NOT NULL CHECK (max_level IN (0, 1, 3, 11)),
    PRIMARY KEY (user_type, resource_type)
);
INSERT INTO authz.type_ceilings (user_type, resource_type, max_level)
SELECT t.user_type, r.resource_type,
       CASE
           WHEN t.user_type = 1 THEN 11
           WHEN r.resource_type IN ('dashboard', 'report', 'dashboardOfflineQuery', 'screen',
                                    'ANALYSIS')
               THEN CASE t.user_type WHEN 3 THEN 11 ELSE 3 END
           WHEN r.resource_type = 'dataForm' THEN CASE t.user_type WHEN 3 THEN 11 ELSE 1 END
           WHEN r.resource_type = 'cube' THEN CASE t.user_type WHEN 3 THEN 1 ELSE 0 END
           ELSE 0
       END
  FROM (VALUES (1), (2), (3)) AS t (user_type)
 CROSS JOIN (VALUES ('dashboard'), ('report'), ('dashboardOfflineQuery'), ('cube'),
                    ('datasource'), ('screen'), ('ANALYSIS'), ('dataForm'))
       AS r (resource_type);

-- Organization and Permission Administrator need a Developer (1) or an
-- Analyst (3); Visitors (2) may hold Regular User and custom roles.
CREATE FUNCTION authz.org_role_allowed(p_role bigint, p_user_type smallint) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT (p_role IN (111111111, 111111112) AND p_user_type = 2)
$$;

-- Visitors are no workspace members; Analysts hold only 27, 30 or custom
-- roles within the analyst ceiling; Developers hold any role.
CREATE FUNCTION authz.workspace_roles_allowed(p_roles bigint[], p_user_type smallint)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE p_user_type
        WHEN 1 THEN true
        WHEN 2 THEN false
        ELSE NOT EXISTS (
            SELECT 1 FROM unnest(p_roles) AS r (id)
             WHERE r.id NOT IN (27, 30)
               AND NOT EXISTS (SELECT 1 FROM authz.workspace_roles w
                                WHERE w.id = r.id AND w.within_analyst_ceiling))
    END
$$;

-- What a change of p_user's type to p_new_type would break: organisation
-- roles, workspace memberships, workspace ownership and user grants above
-- the new type's caps. kind is ORG_ROLE, WORKSPACE_MEMBER, WORKSPACE_OWNER
-- or GRANT; id names the role, workspace or grant.
CREATE FUNCTION authz.type_change_conflicts(p_org text, p_user text, p_new_type smallint)
RETURNS TABLE (kind text, id text, detail text)
LANGUAGE sql STABLE AS $$
    SELECT 'ORG_ROLE', r.role_id::text, 'organization role ' || r.role_id
      FROM authz.user_org_roles r
     WHERE r.organization_id = p_org AND r.user_id = p_user
       AND NOT authz.org_role_allowed(r.role_id, p_new_type)
    UNION ALL
    SELECT 'WORKSPACE_OWNER', w.id, 'owner of workspace "' || w.name || '"'
      FROM authz.workspaces w
     WHERE w.organization_id = p_org AND w.owner_user_id = p_user AND p_new_type <> 1
    UNION ALL
    SELECT 'WORKSPACE_MEMBER', m.workspace_id,
           'workspace roles ' || array_to_string(m.role_ids, ',')
      FROM authz.workspace_members m
     WHERE m.organization_id = p_org AND m.principal_type = 1 AND m.principal_id = p_user
       AND NOT authz.workspace_roles_allowed(m.role_ids, p_new_type)
    UNION ALL
    SELECT 'GRANT', g.id, g.resource_type || ' ' || g.resource_id || ' level ' || g.level
      FROM authz.grants g
      JOIN authz.type_ceilings c
        ON c.user_type = p_new_type AND c.resource_type = g.resource_type
     WHERE g.organization_id = p_org AND g.subject_type = 1 AND g.subject_user_id = p_user
       AND g.level > c.max_level
$$;

-- Removes what type_change_conflicts reports, except workspace ownership,
-- which must be transferred first: conflicting organisation roles, the
-- workspace roles above the new type's cap (the membership goes when none
-- is left) and grants above the cap. Returns how many rows changed and
-- bumps the revision when any did.
CREATE FUNCTION authz.demote_for_type_change(p_org text, p_user text, p_new_type smallint)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    k integer;
BEGIN
    DELETE FROM authz.user_org_roles r
     WHERE r.organization_id = p_org AND r.user_id = p_user
       AND NOT authz.org_role_allowed(r.role_id, p_new_type);
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;

    UPDATE authz.workspace_members m
       SET role_ids = ARRAY(SELECT x FROM unnest(m.role_ids) AS x
                             WHERE authz.workspace_roles_allowed(ARRAY[x], p_new_type))
     WHERE m.organization_id = p_org AND m.principal_type = 1 AND m.principal_id = p_user
       AND NOT authz.workspace_roles_allowed(m.role_ids, p_new_type)
       AND p_new_type <> 2
       AND EXISTS (SELECT 1 FROM unnest(m.role_ids) AS x
                    WHERE authz.workspace_roles_allowed(ARRAY[x], p_new_type));
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    DELETE FROM authz.workspace_members m
     WHERE m.organization_id = p_org AND m.principal_type = 1 AND m.principal_id = p_user
       AND NOT authz.workspace_roles_allowed(m.role_ids, p_new_type);
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;

    DELETE FROM authz.grants g
     USING authz.type_ceilings c
     WHERE c.user_type = p_new_type AND c.resource_type = g.resource_type
       AND g.organization_id = p_org AND g.subject_type = 1 AND g.subject_user_id = p_user
       AND g.level > c.max_level;
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;

    IF n > 0 THEN
        PERFORM authz.bump_revision(p_org);
    END IF;
    RETURN n;
END
$$;
