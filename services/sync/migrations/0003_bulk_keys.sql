-- services/sync/migrations/0003_bulk_keys.sql
--    Drops the foreign keys of the three tables that Update Structure
--    fills in bulk: sync.members, sync.member_departments and
--    sync.run_items. PostgreSQL checks a foreign key with one locking
--    query per inserted row. For 100,000 members that cost about half of
--    each of these inserts.
--
-- The sync service is the only writer of these tables, and it keeps the
-- references itself:
--   * members and their department rows are inserted from one fetched
--     organisation in the same transaction;
--   * a member deleted with Delete Nodes takes its department rows with it
--     in the same statement;
--   * Delete Source deletes the source's department rows, members and
--     departments before the source;
--   * runs are never deleted, and a run's items are written only by the
--     replica that holds the run.
-- sync.departments keeps its key to sync.sources: it gets one row per
-- department, not per member.

ALTER TABLE sync.members DROP CONSTRAINT members_source_id_fkey;
ALTER TABLE sync.member_departments DROP CONSTRAINT member_departments_source_id_userid_fkey;
ALTER TABLE sync.run_items DROP CONSTRAINT run_items_run_id_fkey;
