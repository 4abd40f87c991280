-- services/identity/migrations/0001_init.sql
--    Organisations, users, user groups, group members and external
--    identities. rs_db_migrate creates the schema and runs this file in one
--    transaction; every name is schema-qualified so search_path does not
--    matter.

CREATE TABLE identity.organizations (
    id               text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    name             text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    edition          smallint    NOT NULL CHECK (edition IN (1, 2)),
    seat_total       integer     NOT NULL CHECK (seat_total >= 1),
    seat_developers  integer     CHECK (seat_developers BETWEEN 0 AND seat_total),
    seat_analysts    integer     CHECK (seat_analysts BETWEEN 0 AND seat_total),
    seat_visitors    integer     CHECK (seat_visitors BETWEEN 0 AND seat_total),
    owner_user_id    text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE identity.users (
    id               text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    organization_id  text        NOT NULL REFERENCES identity.organizations (id),
    nickname         text        NOT NULL,
    user_type        smallint    NOT NULL CHECK (user_type IN (1, 2, 3)),
    email            text        NOT NULL DEFAULT '',
    phone            text        NOT NULL DEFAULT '',
    account_id       text        NOT NULL DEFAULT '',
    enabled          boolean     NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_nickname_key UNIQUE (organization_id, nickname)
);

CREATE UNIQUE INDEX users_account_id_key
    ON identity.users (organization_id, account_id) WHERE account_id <> '';
-- ListUsers pages through an organisation in (created_at, id) order.
CREATE INDEX users_org_created_idx ON identity.users (organization_id, created_at, id);

-- The owner row is inserted after the organisation in the same transaction.
ALTER TABLE identity.organizations
    ADD CONSTRAINT organizations_owner_fkey FOREIGN KEY (owner_user_id)
    REFERENCES identity.users (id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE identity.user_groups (
    id                  text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    organization_id     text        NOT NULL REFERENCES identity.organizations (id),
    parent_id           text        REFERENCES identity.user_groups (id),
    name                text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    description         text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 255),
    depth               smallint    NOT NULL CHECK (depth BETWEEN 1 AND 5),
    sync_platform       smallint    CHECK (sync_platform IN (1, 2, 3)),
    sync_corp_id        text,
    sync_department_id  text,
    -- No foreign key: a group outlives the user who created it.
    creator_user_id     text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((sync_platform IS NULL) = (sync_corp_id IS NULL)
           AND (sync_platform IS NULL) = (sync_department_id IS NULL)),
    CHECK (parent_id IS DISTINCT FROM id)
);

CREATE UNIQUE INDEX user_groups_sibling_name_key
    ON identity.user_groups (organization_id, coalesce(parent_id, ''), name);
-- ListUserGroups pages through the children of one parent.
CREATE INDEX user_groups_parent_created_idx
    ON identity.user_groups (organization_id, coalesce(parent_id, ''), created_at, id);
CREATE INDEX user_groups_parent_idx ON identity.user_groups (parent_id);

CREATE TABLE identity.user_group_members (
    group_id    text        NOT NULL REFERENCES identity.user_groups (id) ON DELETE CASCADE,
    user_id     text        NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);

-- ListGroupsOfUser and the cascade from users.
CREATE INDEX user_group_members_user_idx ON identity.user_group_members (user_id);

CREATE TABLE identity.external_identities (
    organization_id   text        NOT NULL REFERENCES identity.organizations (id),
    user_id           text        NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
    platform          smallint    NOT NULL CHECK (platform IN (1, 2, 3)),
    corp_id           text        NOT NULL CHECK (char_length(corp_id) BETWEEN 1 AND 64),
    platform_user_id  text        NOT NULL CHECK (char_length(platform_user_id) BETWEEN 1 AND 64),
    union_id          text        NOT NULL DEFAULT '' CHECK (char_length(union_id) <= 64),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, platform, corp_id, platform_user_id)
);

CREATE INDEX external_identities_user_idx ON identity.external_identities (user_id);
-- Lookup by union id; one union id may map to several rows of the same user.
CREATE INDEX external_identities_union_idx
    ON identity.external_identities (organization_id, platform, union_id)
    WHERE union_id <> '';

-- Names from the root down to the group, joined by '/'. The depth limit of 5
-- bounds the recursion; the level guard only stops a corrupt cycle.
CREATE FUNCTION identity.group_path(p_group_id text) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up (id, parent_id, name, lvl) AS (
        SELECT g.id, g.parent_id, g.name, 0
          FROM identity.user_groups g WHERE g.id = p_group_id
        UNION ALL
        SELECT g.id, g.parent_id, g.name, up.lvl + 1
          FROM identity.user_groups g JOIN up ON g.id = up.parent_id
         WHERE up.lvl < 16
    )
    SELECT string_agg(name, '/' ORDER BY lvl DESC) FROM up
$$;
