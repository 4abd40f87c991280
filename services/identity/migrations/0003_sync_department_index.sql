-- services/identity/migrations/0003_sync_department_index.sql
--    The directory sync finds the group of each department it mirrors by
--    (organisation, platform, corp, department). Without this index every
--    lookup reads all groups of the organisation, so a Start Sync of
--    thousands of departments grew with the square of their number.

CREATE INDEX user_groups_sync_department_idx
    ON identity.user_groups (organization_id, sync_platform, sync_corp_id, sync_department_id)
    WHERE sync_platform IS NOT NULL;
