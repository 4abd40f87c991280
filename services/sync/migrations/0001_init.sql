-- services/sync/migrations/0001_init.sql
--    Authorised enterprises (sources), the stored directory structure with
--    its flags, sync runs with per-item records, and the per-source lease.
--
-- sync owns every table here. It reads identity's and authz's tables (to
-- find what a run would change and what a deletion invalidates) but writes
-- them only through those services' RPCs.

CREATE TABLE sync.sources (
    id                 text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    organization_id    text        NOT NULL REFERENCES identity.organizations (id),
    platform           smallint    NOT NULL CHECK (platform IN (1, 2, 3)),
    corp_id            text        NOT NULL CHECK (char_length(corp_id) BETWEEN 1 AND 64),
    name               text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    app_key            text        NOT NULL CHECK (char_length(app_key) BETWEEN 1 AND 128),
    -- AES-256-GCM: 12-byte nonce || ciphertext || 16-byte tag, under the key
    -- whose id (first 16 hex digits of its SHA-256) is secret_key_id.
    secret_sealed      bytea       NOT NULL,
    secret_key_id      text        NOT NULL,
    endpoint           text        NOT NULL,
    nickname_suffix    smallint    NOT NULL DEFAULT 1 CHECK (nickname_suffix BETWEEN 1 AND 4),
    structure_at       timestamptz,
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sources_corp_key UNIQUE (organization_id, platform, corp_id)
);

-- The stored structure. flag: 0 none, 1 NAME_CHANGED, 2 TO_BE_DELETED.
-- parent_id is NULL for a scope root whose parent is not visible.
CREATE TABLE sync.departments (
    source_id      text        NOT NULL REFERENCES sync.sources (id) ON DELETE CASCADE,
    dept_id        bigint      NOT NULL,
    parent_id      bigint,
    name           text        NOT NULL,
    previous_name  text        NOT NULL DEFAULT '',
    flag           smallint    NOT NULL DEFAULT 0 CHECK (flag IN (0, 1, 2)),
    dept_order     bigint      NOT NULL DEFAULT 0,
    -- The synced identity group, once Start Sync has mirrored the department.
    group_id       text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, dept_id)
);

CREATE INDEX departments_parent_idx ON sync.departments (source_id, parent_id, dept_id);

CREATE TABLE sync.members (
    source_id      text        NOT NULL REFERENCES sync.sources (id) ON DELETE CASCADE,
    userid         text        NOT NULL,
    unionid        text        NOT NULL DEFAULT '',
    name           text        NOT NULL,
    previous_name  text        NOT NULL DEFAULT '',
    flag           smallint    NOT NULL DEFAULT 0 CHECK (flag IN (0, 1, 2)),
    title          text        NOT NULL DEFAULT '',
    job_number     text        NOT NULL DEFAULT '',
    email          text        NOT NULL DEFAULT '',
    mobile         text        NOT NULL DEFAULT '',
    active         boolean     NOT NULL DEFAULT true,
    -- The identity user, once Start Sync has created or matched it.
    user_id        text,
    -- The nickname Start Sync is about to create a user with, and when: a
    -- run that dies between CreateUser and BindExternalIdentity leaves a
    -- user without binding, which the next holder adopts instead of
    -- creating a second one.
    pending_nickname  text     NOT NULL DEFAULT '',
    pending_at     timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, userid)
);

CREATE INDEX members_union_idx ON sync.members (unionid) WHERE unionid <> '';
CREATE INDEX members_user_idx ON sync.members (user_id) WHERE user_id IS NOT NULL;

-- A member's departments: the union of every dept_id_list seen.
CREATE TABLE sync.member_departments (
    source_id  text    NOT NULL,
    userid     text    NOT NULL,
    dept_id    bigint  NOT NULL,
    PRIMARY KEY (source_id, userid, dept_id),
    FOREIGN KEY (source_id, userid) REFERENCES sync.members (source_id, userid)
        ON DELETE CASCADE
);

CREATE INDEX member_departments_dept_idx ON sync.member_departments (source_id, dept_id);

-- kind: 1 UPDATE_STRUCTURE, 2 SYNC, 3 DELETE_NODE, 4 CLEAR_STRUCTURE.
-- status: 1 PENDING, 2 RUNNING, 3 SUCCEEDED, 4 PARTIAL, 5 FAILED, 6 ABANDONED.
CREATE TABLE sync.runs (
    id                text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    organization_id   text        NOT NULL,
    -- No foreign key: the records of a deleted source's runs stay, as the
    -- users and groups they made do.
    source_id         text        NOT NULL,
    kind              smallint    NOT NULL CHECK (kind BETWEEN 1 AND 4),
    status            smallint    NOT NULL CHECK (status BETWEEN 1 AND 6),
    trigger           smallint    NOT NULL DEFAULT 1,
    operator_user_id  text        NOT NULL,
    -- The run's parameters as JSON: StartSync's selection, user type and
    -- roles; UpdateStructure's force.
    request           jsonb       NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    total_items       integer     NOT NULL DEFAULT 0,
    done_items        integer     NOT NULL DEFAULT 0,
    n_created         integer     NOT NULL DEFAULT 0,
    n_updated         integer     NOT NULL DEFAULT 0,
    n_unchanged       integer     NOT NULL DEFAULT 0,
    n_failed          integer     NOT NULL DEFAULT 0,
    n_flagged         integer     NOT NULL DEFAULT 0,
    n_deleted         integer     NOT NULL DEFAULT 0,
    error_reason      text        NOT NULL DEFAULT '',
    error_message     text        NOT NULL DEFAULT '',
    warnings          text[]      NOT NULL DEFAULT '{}',
    attempts          integer     NOT NULL DEFAULT 0,
    fencing_token     bigint      NOT NULL DEFAULT 0,
    -- Resume point of a SYNC run: items before it are recorded.
    checkpoint        integer     NOT NULL DEFAULT 0
);

-- At most one pending or running run per source, across every replica.
CREATE UNIQUE INDEX runs_one_active_key ON sync.runs (source_id) WHERE status IN (1, 2);
CREATE INDEX runs_org_created_idx ON sync.runs (organization_id, created_at DESC, id);
CREATE INDEX runs_pending_idx ON sync.runs (created_at) WHERE status IN (1, 2);

-- outcome: 1 CREATED, 2 UPDATED, 3 FAILED, 4 FLAGGED, 5 DELETED.
-- node_kind: 1 MEMBER, 2 DEPARTMENT.
CREATE TABLE sync.run_items (
    run_id       text      NOT NULL REFERENCES sync.runs (id) ON DELETE CASCADE,
    seq          integer   NOT NULL,
    node_kind    smallint  NOT NULL CHECK (node_kind IN (1, 2)),
    external_id  text      NOT NULL,
    name         text      NOT NULL DEFAULT '',
    outcome      smallint  NOT NULL CHECK (outcome BETWEEN 1 AND 5),
    user_id      text      NOT NULL DEFAULT '',
    group_id     text      NOT NULL DEFAULT '',
    reason       text      NOT NULL DEFAULT '',
    message      text      NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);

CREATE INDEX run_items_outcome_idx ON sync.run_items (run_id, outcome, seq);

-- One holder per source. fencing_token grows on every take-over; a holder
-- whose token is no longer the row's has lost the lease and must stop.
CREATE TABLE sync.leases (
    source_id      text        PRIMARY KEY REFERENCES sync.sources (id) ON DELETE CASCADE,
    run_id         text        NOT NULL,
    holder         text        NOT NULL,
    fencing_token  bigint      NOT NULL,
    expires_at     timestamptz NOT NULL
);
