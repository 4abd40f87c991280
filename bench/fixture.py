"""The organisation of bench/run's authz measures: users, groups,
workspaces, works and grants with skewed popularity. It is loaded with COPY
straight into identity.* and authz.*, and docs/performance.md lists the
invariants that its rows keep."""

import os
import time


def zipf_cum(n, s):
    """Cumulative weights 1/k**s of ranks 1..n, for random.choices."""
    cum, acc = [], 0.0
    for k in range(1, n + 1):
        acc += 1.0 / k ** s
        cum.append(acc)
    return cum


def hexid(rnd):
    return "%032x" % rnd.getrandbits(128)


def load_org_fixture(db, workdir, org_id, owner_id, size, rnd):
    """COPY users, groups, members, workspaces, works and grants of one
    organisation straight into identity.* and authz.*, then bump its
    revision. The rows keep the invariants that the services enforce
    (docs/performance.md lists them). The caller restarts authz. Returns
    what the request bodies need: users and works with their Zipf ranks."""
    t0 = time.monotonic()
    n_users = size["users"]
    users = [owner_id] + [hexid(rnd) for _ in range(n_users - 1)]
    # The owner is a Developer. Of the others, 30% are Developers, 50%
    # Analysts and 20% Visitors.
    types = [1] + [rnd.choices((1, 3, 2), weights=(30, 50, 20))[0] for _ in users[1:]]
    path = os.path.join(workdir, "users.tsv")
    with open(path, "w") as f:
        for i, u in enumerate(users[1:], 1):
            f.write("%s\t%s\tbench-user-%05d\t%d\tuser%d@example.org\n"
                    % (u, org_id, i, types[i], i))
    db.copy_in("identity.users", ["id", "organization_id", "nickname", "user_type", "email"],
               path)
    # Popularity: a shuffled Zipf ranking of users and of works.
    user_rank = list(range(n_users))
    rnd.shuffle(user_rank)
    user_cum = zipf_cum(n_users, 1.0)

    def pick_user():
        return user_rank[rnd.choices(range(n_users), cum_weights=user_cum)[0]]

    # Groups: a 5-level tree (1%, 4%, 15%, 30%, 50% of them per level).
    n_groups = size["groups"]
    per_level = [max(1, n_groups * p // 100) for p in (1, 4, 15, 30)]
    per_level.append(n_groups - sum(per_level))
    groups, levels = [], []
    path = os.path.join(workdir, "groups.tsv")
    with open(path, "w") as f:
        for depth, count in enumerate(per_level, 1):
            level = []
            for i in range(count):
                gid = hexid(rnd)
                parent = rnd.choice(levels[-1]) if levels else None
                f.write("%s\t%s\t%s\tgroup-%d-%d\t%d\t%s\n"
                        % (gid, org_id, parent or "\\N", depth, i, depth, owner_id))
                level.append(gid)
                groups.append(gid)
            levels.append(level)
    db.copy_in("identity.user_groups",
               ["id", "organization_id", "parent_id", "name", "depth", "creator_user_id"],
               path)
    group_cum = zipf_cum(len(groups), 1.0)
    path = os.path.join(workdir, "members.tsv")
    with open(path, "w") as f:
        for u in users:
            for g in set(rnd.choices(groups, cum_weights=group_cum,
                                     k=rnd.choice((1, 1, 2, 3)))):
                f.write("%s\t%s\n" % (g, u))
    db.copy_in("identity.user_group_members", ["group_id", "user_id"], path)

    # Permission administrators: 1% of the developers.
    devs = [u for u, t in zip(users, types) if t == 1]
    path = os.path.join(workdir, "roles.tsv")
    with open(path, "w") as f:
        for u in rnd.sample(devs[1:], max(1, len(devs) // 100)):
            f.write("%s\t%s\t111111112\n" % (org_id, u))
    db.copy_in("authz.user_org_roles", ["organization_id", "user_id", "role_id"], path)

    # Workspaces owned by developers, each with its owner (25) and members:
    # developers 25/26/27/30, analysts 27/30, groups 26/30, no visitors.
    workspaces = []
    wpath = os.path.join(workdir, "workspaces.tsv")
    mpath = os.path.join(workdir, "ws_members.tsv")
    with open(wpath, "w") as wf, open(mpath, "w") as mf:
        for i in range(size["workspaces"]):
            wid = hexid(rnd)
            owner = rnd.choice(devs)
            workspaces.append(wid)
            wf.write("%s\t%s\tworkspace %d\t%s\t%d\n"
                     % (wid, org_id, i, owner, rnd.choice((1, 2))))
            mf.write("%s\t%s\t1\t%s\t%s\t{25}\n" % (wid, org_id, owner, owner))
            seen = {owner}
            for _ in range(20):
                ui = pick_user()
                u = users[ui]
                if u in seen or types[ui] == 2:
                    continue
                seen.add(u)
                role = rnd.choice((25, 26, 27, 30)) if types[ui] == 1 else rnd.choice((27, 30))
                mf.write("%s\t%s\t1\t%s\t%s\t{%d}\n" % (wid, org_id, u, u, role))
            for g in set(rnd.sample(groups, min(3, len(groups)))):
                mf.write("%s\t%s\t2\t%s\t\\N\t{%d}\n" % (wid, org_id, g, rnd.choice((26, 30))))
    db.copy_in("authz.workspaces", ["id", "organization_id", "name", "owner_user_id", "mode"],
               wpath)
    db.copy_in("authz.workspace_members", ["workspace_id", "organization_id", "principal_type",
                                           "principal_id", "principal_user_id", "role_ids"],
               mpath)

    # Works are mostly dashboards, each in a workspace picked by popularity.
    n_res = size["resources"]
    ws_cum = zipf_cum(len(workspaces), 1.0)
    kinds = rnd.choices(("dashboard", "report", "screen", "dataForm"), weights=(60, 20, 10, 10),
                        k=n_res)
    works = []
    path = os.path.join(workdir, "resources.tsv")
    with open(path, "w") as f:
        for i in range(n_res):
            w = rnd.choices(workspaces, cum_weights=ws_cum)[0]
            works.append((kinds[i], "w%07d" % i, w))
            f.write("%s\t%s\tw%07d\t%s\t\\N\n" % (org_id, kinds[i], i, w))
    db.copy_in("authz.resources", ["organization_id", "resource_type", "resource_id",
                                   "workspace_id", "owner_user_id"], path)

    # A work gets a number of grants that falls with its popularity rank,
    # at most `cap` because a work has one grant per subject. Grantees are
    # 93% users picked by popularity, 6% groups and 1% workspaces. Grants
    # are view (1) or view and export (3), expiring 2099-01-01. A Visitor's
    # grant on a dataForm is view only, its type ceiling.
    want = size["grants"]
    cap = size["grant_cap"]
    weights = [1.0 / k ** 0.9 for k in range(1, n_res + 1)]
    lo, hi = 0.0, float(want)
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(min(cap, mid * w) for w in weights) < want:
            lo = mid
        else:
            hi = mid
    counts = [max(1, int(round(min(cap, hi * w)))) for w in weights]
    res_rank = list(range(n_res))
    rnd.shuffle(res_rank)
    path = os.path.join(workdir, "grants.tsv")
    n_written = 0
    with open(path, "w") as f:
        for rank, n in enumerate(counts):
            if n_written >= want:
                break
            kind, rid, ws = works[res_rank[rank]]
            n = min(n, want - n_written)
            subjects = set()
            draws = 0
            while len(subjects) < n and draws < 4 * n + 20:
                draws += 1
                r = rnd.random()
                if r < 0.06:
                    subjects.add((2, rnd.choices(groups, cum_weights=group_cum)[0]))
                elif r < 0.07:
                    subjects.add((4, rnd.choices(workspaces, cum_weights=ws_cum)[0]))
                else:
                    subjects.add((1, pick_user()))
            for st, sid in subjects:
                if st == 1:
                    uid = users[sid]
                    level = 1 if (types[sid] == 2 and kind == "dataForm") else rnd.choice((1, 3))
                    f.write("%s\t%s\t%s\t%s\t1\t%s\t%s\t%d\t%s\n" % (
                        hexid(rnd), org_id, kind, rid, uid, uid, level, "2099-01-01 00:00:00+00"))
                else:
                    f.write("%s\t%s\t%s\t%s\t%d\t%s\t\\N\t%d\t%s\n" % (
                        hexid(rnd), org_id, kind, rid, st, sid, rnd.choice((1, 3)),
                        "2099-01-01 00:00:00+00"))
                n_written += 1
    # The owner granted everything: granted_by is appended as the last column.
    with open(path) as src, open(path + ".2", "w") as dst:
        for line in src:
            dst.write(line.rstrip("\n") + "\t" + owner_id + "\n")
    db.copy_in("authz.grants", ["id", "organization_id", "resource_type", "resource_id",
                                "subject_type", "subject_id", "subject_user_id", "level",
                                "expires_at", "granted_by"], path + ".2")
    db.sql("SELECT authz.bump_revision('%s')" % org_id)
    db.sql("ANALYZE")
    res_cum = zipf_cum(n_res, 0.9)
    return dict(users=users, user_rank=user_rank, user_cum=user_cum, works=works,
                res_rank=res_rank, res_cum=res_cum, grants=n_written, groups=len(groups),
                workspaces=len(workspaces), seconds=time.monotonic() - t0)
