"""Helpers of the data-plane tests of roster-sync (structure, Start Sync,
deletion): fixtures, runs and their items, and row-write counters.

    import syncdp as dp
    doc = dp.org_doc("dingcorpA")          # a 7-level organisation
    run = dp.update_structure(st, org, owner, src)
    items = dp.items(st, org, owner, run)
"""

import copy
import time

import grpc

import synclib
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

OK = grpc.StatusCode

BASE_DEPTS = [
    {"dept_id": 1, "name": "示例公司"},
    {"dept_id": 100, "name": "研发中心", "parent_id": 1, "order": 10},
    {"dept_id": 110, "name": "平台部", "parent_id": 100, "order": 1},
    {"dept_id": 111, "name": "数据组", "parent_id": 110},
    {"dept_id": 1111, "name": "实时计算小组", "parent_id": 111},
    {"dept_id": 11111, "name": "第六层", "parent_id": 1111},
    {"dept_id": 111111, "name": "第七层", "parent_id": 11111},
    {"dept_id": 200, "name": "市场部", "parent_id": 1, "order": 20},
    {"dept_id": 300, "name": "Data Platform", "parent_id": 1, "order": 30},
]

BASE_USERS = [
    {"userid": "boss01", "unionid": "uBoss01", "name": "王总", "dept_id_list": [1],
     "mobile": "13800000001", "job_number": "E0000"},
    {"userid": "lei.li", "unionid": "uLeiLi01", "name": "李雷", "dept_id_list": [100, 300],
     "email": "lilei@example.org", "job_number": "E0001", "title": "BI engineer"},
    {"userid": "mei.han", "unionid": "uMeiHan01", "name": "韩梅梅", "dept_id_list": [110],
     "email": "meimei@example.org"},
    {"userid": "jie.zhou", "unionid": "uJieZhou01", "name": "周杰", "dept_id_list": [111]},
    {"userid": "ji.ouyang", "unionid": "uJiOuyang01", "name": "欧阳𠮷",
     "dept_id_list": [1111]},
    {"userid": "deep.one", "unionid": "uDeepOne01", "name": "深层 🚀 员工",
     "dept_id_list": [111111]},
    {"userid": "na.zhang", "unionid": "uNaZhang01", "name": "张娜", "dept_id_list": [200]},
    {"userid": "ana.wang", "unionid": "uAnaWang01", "name": "Ana Wang",
     "dept_id_list": [300, 1111]},
]


def org_doc(corp_id, depts=None, users=None, scope=None):
    doc = {
        "corp_id": corp_id,
        "app": {"key": corp_id + "key", "secret": corp_id + "-secret-0123456789"},
        "departments": copy.deepcopy(depts if depts is not None else BASE_DEPTS),
        "users": copy.deepcopy(users if users is not None else BASE_USERS),
    }
    if scope is not None:
        doc["scope"] = scope
    return doc


def stack(tmp_path_factory, name, corp_id):
    """Returns a synclib.Stack with one simulator serving org_doc(corp_id)."""
    work = str(tmp_path_factory.mktemp(name))
    fixture = synclib.write_fixture(work, org_doc(corp_id))
    return synclib.Stack(work, sims=[fixture])


def new_source(st, synced=True):
    """Creates an organisation, its owner and a source on the first simulator.

    With synced, also runs Update Structure and a Start Sync of department 1."""
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    if synced:
        run = update_structure(st, org, owner, src)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        run = start_sync(st, org, owner, src, department_ids=[1])
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    return org, owner, src


def update_structure(st, org, owner, src, force=False, timeout=60):
    resp = st.call("UpdateStructure", spb.UpdateStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, force=force),
        owner.user_id)
    return st.wait_run(org.organization_id, resp.run.run_id, owner.user_id, timeout=timeout)


def start_sync(st, org, owner, src, userids=(), department_ids=(),
               user_type=pb.USER_TYPE_ANALYST, roles=(), timeout=60):
    resp = st.call("StartSync", spb.StartSyncRequest(
        organization_id=org.organization_id, source_id=src.source_id,
        userids=list(userids), department_ids=list(department_ids), user_type=user_type,
        org_role_ids=list(roles)), owner.user_id)
    return st.wait_run(org.organization_id, resp.run.run_id, owner.user_id, timeout=timeout)


def items(st, org, owner, run, outcome=spb.ITEM_OUTCOME_UNSPECIFIED):
    out = []
    token = ""
    while True:
        resp = st.call("ListRunItems", spb.ListRunItemsRequest(
            organization_id=org.organization_id, run_id=run.run_id, outcome=outcome,
            page_size=1000, page_token=token), owner.user_id)
        out += list(resp.items)
        token = resp.next_page_token
        if not token:
            return out


def check_counts(st, org, owner, run):
    """Every count but unchanged equals the rows ListRunItems returns."""
    rows = items(st, org, owner, run)
    by = {}
    for it in rows:
        by[it.outcome] = by.get(it.outcome, 0) + 1
    c = run.counts
    assert (c.created, c.updated, c.failed, c.flagged, c.deleted) == (
        by.get(spb.ITEM_OUTCOME_CREATED, 0), by.get(spb.ITEM_OUTCOME_UPDATED, 0),
        by.get(spb.ITEM_OUTCOME_FAILED, 0), by.get(spb.ITEM_OUTCOME_FLAGGED, 0),
        by.get(spb.ITEM_OUTCOME_DELETED, 0)), (c, by)
    assert len({it.seq for it in rows}) == len(rows)
    return rows


def by_ext(rows):
    return {it.external_id: it for it in rows}


def members(st, org, owner, src, dept=0, recursive=True, flag=spb.NODE_FLAG_NONE):
    out = []
    token = ""
    while True:
        resp = st.call("ListMembers", spb.ListMembersRequest(
            organization_id=org.organization_id, source_id=src.source_id,
            department_id=dept, recursive=recursive, flag=flag, page_size=2,
            page_token=token), owner.user_id)
        out += list(resp.members)
        token = resp.next_page_token
        if not token:
            return {m.userid: m for m in out}


def departments(st, org, owner, src, parent=0, flag=spb.NODE_FLAG_NONE):
    out = []
    token = ""
    while True:
        resp = st.call("ListDepartments", spb.ListDepartmentsRequest(
            organization_id=org.organization_id, source_id=src.source_id,
            parent_department_id=parent, flag=flag, page_size=2, page_token=token),
            owner.user_id)
        out += list(resp.departments)
        token = resp.next_page_token
        if not token:
            return {d.department_id: d for d in out}


# Tables whose writes a repeated run must not change: every table of
# identity, authz and sync except sync.runs, the run record itself (its
# counters, checkpoint and lease).
BOOKKEEPING = ("runs",)


def _tables(st):
    text = st.sql("SELECT schemaname || '.' || tablename FROM pg_tables "
                  "WHERE schemaname IN ('identity', 'authz', 'sync') ORDER BY 1")
    return [t for t in text.split()
            if not (t.startswith("sync.") and t.split(".", 1)[1] in BOOKKEEPING)]


def _row_versions(st, table):
    """The (ctid, xmin) of every row of table. An INSERT or UPDATE makes a
    row version with a new ctid and xmin, and a DELETE removes one. So two
    equal sets mean that no committed write touched the table, not even an
    UPDATE that left every value as it was."""
    text = st.sql("SELECT ctid::text || ' ' || xmin::text FROM %s" % table)
    return set(text.splitlines()) if text else set()


def row_writes(st):
    """A mark to compare with: the row versions of every watched table.
    Unlike the pg_stat counters, these need no wait for statistics to be
    flushed."""
    return {t: _row_versions(st, t) for t in _tables(st)}


def diff_writes(before, st):
    """{table: counts} of the tables with rows written or removed since the
    mark before; {} when none. A table created since the mark counts as
    written."""
    out = {}
    for t in _tables(st):
        old = before.get(t, set())
        now = _row_versions(st, t)
        written = len(now - old)
        removed = len(old - now)
        if written or removed or t not in before:
            out[t] = {"rows_before": len(old), "rows_after": len(now), "written": written,
                      "removed": removed}
    return out


def users_of(st, org_id):
    """{nickname: (user_id, type)} of every user of the organisation."""
    text = st.sql("SELECT nickname || chr(9) || id || chr(9) || user_type FROM identity.users "
                  "WHERE organization_id = '%s'" % org_id)
    out = {}
    for line in text.splitlines():
        nick, uid, t = line.split("\t")
        out[nick] = (uid, int(t))
    return out


def bindings(st, org_id):
    """{(corp_id, userid): (user_id, union_id)}."""
    text = st.sql("SELECT corp_id || chr(9) || platform_user_id || chr(9) || user_id || "
                  "chr(9) || union_id FROM identity.external_identities "
                  "WHERE organization_id = '%s'" % org_id)
    out = {}
    for line in text.splitlines():
        corp, puid, uid, union = line.split("\t")
        out[(corp, puid)] = (uid, union)
    return out


def synced_groups(st, org_id, corp_id):
    """{department_id: (group_id, name, parent_group_id or '', depth)}."""
    text = st.sql("SELECT sync_department_id || chr(9) || id || chr(9) || name || chr(9) || "
                  "coalesce(parent_id, '') || chr(9) || depth FROM identity.user_groups "
                  "WHERE organization_id = '%s' AND sync_corp_id = '%s'" % (org_id, corp_id))
    out = {}
    for line in text.splitlines():
        dept, gid, name, parent, depth = line.split("\t")
        out[int(dept)] = (gid, name, parent, int(depth))
    return out


def group_members(st, group_id):
    text = st.sql("SELECT user_id FROM identity.user_group_members WHERE group_id = '%s'"
                  % group_id)
    return set(text.split()) if text else set()


def org_roles(st, user_id):
    text = st.sql("SELECT role_id FROM authz.user_org_roles WHERE user_id = '%s'" % user_id)
    return {int(x) for x in text.split()} if text else set()


__all__ = ["synclib"]
