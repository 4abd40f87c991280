"""authz questions: Check reasons, the effective level as the minimum of
type ceiling, role and grant, BatchCheck, Explain, ListAllowedResources
and who may ask about another user."""

import grpc

import authzlib as al
from roster.authz.v1 import authz_pb2 as apb

ORG = apb.SUBJECT_TYPE_ORGANIZATION


def test_check_reasons_and_effective_level(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    visitor = w.user(al.VISITOR)
    outsider = w.user(al.DEV)
    member = w.user(al.DEV)
    w.member(ws, member, 30)
    res = w.resource(ws)
    w.register(res)
    assert w.check(member, "view", res) == (False, "DENIED_NO_GRANT")
    assert w.check(w.owner_id, "edit", res) == (True, "GRANTED_BY_ORG_ADMIN")

    w.grant(res, "", al.EDIT, subject_type=ORG)
    # Visitor: ceiling export on dashboards.
    assert w.check(visitor, "export", res) == (True, "GRANTED_BY_GRANT")
    assert w.check(visitor, "edit", res) == (False, "DENIED_TYPE_CEILING")
    # Non-member: at most view and export.
    assert w.check(outsider, "export", res) == (True, "GRANTED_BY_GRANT")
    assert w.check(outsider, "edit", res) == (False, "DENIED_NOT_MEMBER")
    assert w.check(member, "edit", res) == (True, "GRANTED_BY_GRANT")

    # Analyst, datasource: type ceiling none, whatever the grants.
    analyst = w.user(al.ANALYST)
    w.member(ws, analyst, 27)
    src = w.resource(ws, "datasource")
    w.grant(src, "", al.EDIT, subject_type=ORG)
    assert w.check(analyst, "view", src) == (False, "DENIED_TYPE_CEILING")

    # Org roles on the organisation.
    org = apb.Resource(type="organization", id=w.org_id)
    assert w.check(member, "subscription", org) == (True, "GRANTED_BY_ORG_ROLE")
    assert w.check(member, "workspace.create", org) == (False, "DENIED_NO_ORG_ROLE")
    # Workspace permissions.
    wsr = apb.Resource(type="workspace", id=ws)
    assert w.check(member, "dashboard_create.list", wsr)[0] is True
    assert w.check(member, "members.manage", wsr) == (False, "DENIED_NO_WORKSPACE_ROLE")

    w.refused("Check", w.check_req(member, "fly", res), grpc.StatusCode.INVALID_ARGUMENT,
              "PERMISSION_INVALID")


def test_batch_check(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    u = w.user(al.ANALYST)
    res = [w.resource(ws) for _ in range(5)]
    for r in res[:2]:
        w.grant(r, u, al.VIEW)
    items = [w.check_req(u, "view", res[i % 5], correlation_id="c%03d" % i)
             for i in range(100)]
    out = w.call("BatchCheck", apb.BatchCheckRequest(items=items)).results
    assert [r.correlation_id for r in out] == ["c%03d" % i for i in range(100)]
    assert [r.allowed for r in out] == [i % 5 < 2 for i in range(100)]
    items.append(w.check_req(u, "view", res[0]))
    w.refused("BatchCheck", apb.BatchCheckRequest(items=items),
              grpc.StatusCode.INVALID_ARGUMENT, "BATCH_SIZE_INVALID")
    w.refused("BatchCheck", apb.BatchCheckRequest(),
              grpc.StatusCode.INVALID_ARGUMENT, "BATCH_SIZE_INVALID")


def test_explain_names_sources(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    parent = w.group()
    child = w.group(parent=parent)
    u = w.user(al.ANALYST)
    w.add_to_group(child, u)
    res = w.resource(ws)
    g = w.grant(res, parent, al.EXPORT, subject_type=apb.SUBJECT_TYPE_GROUP).grant
    ex = w.call("Explain", w.check_req(u, "export", res))
    assert ex.result.allowed and ex.result.reason == "GRANTED_BY_GRANT"
    assert ex.effective_level == "export"
    grants = [c for c in ex.contributions if c.kind == "GRANT"]
    assert [(c.id, c.via_group_id) for c in grants] == [(g.grant_id, parent)]
    assert "TYPE_CEILING" in [c.kind for c in ex.contributions]

    admin = w.user(al.DEV)
    w.assign(admin, al.ORG_ADMIN)
    ex = w.call("Explain", w.check_req(admin, "edit", res))
    assert ex.result.reason == "GRANTED_BY_ORG_ADMIN"
    assert ("ORG_ROLE", "111111111") in [(c.kind, c.id) for c in ex.contributions]


def test_list_allowed_resources_paged(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    u = w.user(al.ANALYST)
    res = [w.resource(ws, rid="dash-%02d" % i) for i in range(30)]
    for r in res:
        w.register(r)
    want = set()
    for i, r in enumerate(res):
        if i % 3 != 0:
            w.grant(r, u, al.VIEW)
            want.add(r.id)
    got, token, pages, first_token = [], "", 0, ""
    while True:
        page = w.call("ListAllowedResources", apb.ListAllowedResourcesRequest(
            organization_id=w.org_id, user_id=u, resource_type="dashboard",
            permission="view", page_size=7, page_token=token, consistency=al.FRESH))
        assert len(page.resources) <= 7
        got.extend(r.id for r in page.resources)
        pages += 1
        token = page.next_page_token
        if not token:
            break
        first_token = first_token or token
    assert len(got) == len(set(got)), "duplicates"
    # An edited token is refused, not read from another position.
    for edited in (first_token[:-1], first_token + "A",
                   first_token[:-2] + ("B" if first_token[-2] != "B" else "C") + first_token[-1]):
        w.refused("ListAllowedResources", apb.ListAllowedResourcesRequest(
            organization_id=w.org_id, user_id=u, resource_type="dashboard",
            permission="view", page_size=7, page_token=edited, consistency=al.FRESH),
            grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID")
    assert set(got) == want
    assert pages >= 3
    export = w.call("ListAllowedResources", apb.ListAllowedResourcesRequest(
        organization_id=w.org_id, user_id=u, resource_type="dashboard",
        permission="export", consistency=al.FRESH))
    assert list(export.resources) == []


def test_allowed_resources_fit_limit(ctx, az, az_small_messages):
    # Each work's id is 43 CJK characters (126 bytes), so a page of 1,000
    # works cannot fit in the replica's 4096-byte limit. Pages end early,
    # and the tokens still give every work exactly once.
    w = al.World(ctx, az)
    ws = w.workspace()
    ids = ["看板%03d" % i + "数" * 40 for i in range(120)]
    for rid in ids:
        w.register(w.resource(ws, rid=rid))
    got, sizes, token = [], [], ""
    while True:
        page = w.call("ListAllowedResources", apb.ListAllowedResourcesRequest(
            organization_id=w.org_id, user_id=w.owner_id, resource_type="dashboard",
            permission="edit", page_size=1000, page_token=token, consistency=al.FRESH),
            az=az_small_messages)
        assert page.ByteSize() <= 4096, page.ByteSize()
        assert page.resources, "page %d is empty" % len(sizes)
        got.extend(r.id for r in page.resources)
        sizes.append(len(page.resources))
        token = page.next_page_token
        if not token:
            break
    assert len(sizes) >= 4, sizes
    assert got == sorted(ids), "works repeated, missing or out of order"


def test_allowed_resources_longest_ids_page(ctx, az):
    # Page tokens carry the last work's id, which may be 128 code points:
    # 512 bytes of emoji.
    w = al.World(ctx, az)
    ws = w.workspace()
    ids = sorted(["甲" * 128, "乙" * 128, "😀" * 128, "a😀" * 64])
    for rid in ids:
        w.register(w.resource(ws, rid=rid))
    got, token = [], ""
    while True:
        page = w.call("ListAllowedResources", apb.ListAllowedResourcesRequest(
            organization_id=w.org_id, user_id=w.owner_id, resource_type="dashboard",
            permission="edit", page_size=1, page_token=token, consistency=al.FRESH))
        assert len(page.resources) == 1, len(got)
        got.append(page.resources[0].id)
        token = page.next_page_token
        if not token:
            break
    assert got == ids


def test_unpaged_reply_over_limit_refused(ctx, az, az_small_messages):
    # ListOrgRoles has no pages. 30 custom roles of 47 CJK characters make
    # its reply about 5 KB, above the replica's 4096 bytes, so the replica
    # rejects the reply with a reason instead of gRPC's bare send error.
    w = al.World(ctx, az)
    for i in range(30):
        w.call("CreateOrgRole", apb.CreateOrgRoleRequest(
            organization_id=w.org_id, name="角色%02d" % i + "名" * 45,
            auth_keys=["quick_monitor"]))
    req = apb.ListOrgRolesRequest(organization_id=w.org_id)
    full = w.call("ListOrgRoles", req)
    assert full.ByteSize() > 4096, full.ByteSize()
    err = az_small_messages.refused("ListOrgRoles", req, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    "RESPONSE_TOO_LARGE", actor=w.owner_id)
    assert "ROSTER_MAX_MESSAGE_BYTES" in err.details(), err.details()
    assert "4096" in err.details(), err.details()


def test_checking_others(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    u = w.user(al.DEV)
    other = w.user(al.DEV)
    res = w.resource(ws)
    w.grant(res, other, al.VIEW)
    w.refused("Check", w.check_req(other, "view", res), grpc.StatusCode.PERMISSION_DENIED,
              "NOT_ALLOWED_TO_CHECK_OTHERS", actor=u)
    # Asking about oneself is always allowed.
    assert w.check("", "view", res, actor=other) == (True, "GRANTED_BY_GRANT")
    assert w.check(u, "view", res, actor=u)[0] is False
    # A token with scope "check" may ask about anyone.
    assert w.check(other, "view", res, actor=u, token=ctx.check_token) == \
        (True, "GRANTED_BY_GRANT")
    # So may a permission administrator.
    w.assign(u, al.PERM_ADMIN)
    assert w.check(other, "view", res, actor=u)[0] is True
