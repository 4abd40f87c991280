-- services/sync/migrations/0002_run_lease.sql
--    The lease moves into the run row, and a source's structure time is
--    read from its runs. Neither sync.leases nor sync.sources.structure_at
--    is written any more, so a run that finds nothing to change upstream
--    writes no row outside sync.runs.
--
-- runs_one_active_key allows one PENDING or RUNNING run per source, so the
-- holder of that run is the holder of the source. fencing_token already
-- lives in sync.runs and now grows by one on every take of the run: the
-- first claim makes it 1, each take-over adds 1.

-- The replica (host:pid:random) that holds the run, or held it last.
ALTER TABLE sync.runs ADD COLUMN lease_holder text NOT NULL DEFAULT '';
-- Until when lease_holder holds the run; NULL once the run is handed back
-- or finished. A PENDING run, or a RUNNING run whose lease has expired, is
-- free to claim.
ALTER TABLE sync.runs ADD COLUMN lease_expires_at timestamptz;

-- Carry each live lease over to its run. A run that a replica of the old
-- version holds during the upgrade stays its own until the lease expires
-- and is then taken over with a higher token, as after a kill -9.
UPDATE sync.runs r
   SET lease_holder = l.holder,
       lease_expires_at = l.expires_at,
       fencing_token = greatest(r.fencing_token, l.fencing_token)
  FROM sync.leases l
 WHERE l.run_id = r.id AND r.status IN (1, 2);

-- Dropping the table is safe for a run in progress: the old replica's
-- heartbeat and fenced writes fail once the table is gone, so it records
-- nothing more and its run is taken over when the lease copied above
-- expires. An old replica also cannot claim runs any more, which is why
-- every replica of the old version is stopped before this migration.
DROP TABLE sync.leases;

-- structure_time of a source is the finish time of its latest Update
-- Structure that ended without a failure (SUCCEEDED or PARTIAL), or NULL
-- when a Clear Structure ended without a failure after it. This index
-- serves that lookup (SYNC_STRUCTURE_AT in services/sync/src/sync_int.h).
-- kind 1 UPDATE_STRUCTURE, 4 CLEAR_STRUCTURE; status 3 SUCCEEDED, 4 PARTIAL.
CREATE INDEX runs_structure_idx ON sync.runs (source_id, finished_at DESC)
    WHERE kind IN (1, 4) AND status IN (3, 4);

-- roster-sync of schema version 1 set structure_at to now() in the
-- transaction that set the run's finished_at to now(), so both are equal.
-- Runs are never deleted, so the value read from the runs is the value
-- dropped here.
ALTER TABLE sync.sources DROP COLUMN structure_at;
