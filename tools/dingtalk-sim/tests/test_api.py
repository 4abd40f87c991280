"""Tokens, endpoint shapes, paging and scope of roster-dingtalk-sim."""
import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import SMALL, Sim, code_of, generate, load  # noqa: E402


class TokenTest(unittest.TestCase):
    def test_token_lifecycle(self):
        with Sim(SMALL, "--token-ttl", "2", "--rate-limit", "0") as sim:
            first = sim.get_token()
            self.assertEqual(first["errcode"], 0)
            self.assertEqual(first["expires_in"], 2)
            self.assertEqual(set(first), {"errcode", "errmsg", "access_token", "expires_in"})
            again = sim.get_token()
            self.assertEqual(again["access_token"], first["access_token"])

            self.assertEqual(sim.get_token(secret="wrong")["errcode"], 40096)
            self.assertEqual(json.loads(sim.raw("gettoken")[2])["errcode"], 40035)
            # Credentials in a body are not read, as on DingTalk.
            body = json.dumps({"appkey": sim.doc["app"]["key"],
                               "appsecret": sim.doc["app"]["secret"]}).encode()
            r = json.loads(sim.raw("gettoken", "POST", body, "application/json")[2])
            self.assertEqual(r["errcode"], 40035)

            tok_a = first["access_token"]
            r = sim.call("topapi/user/count", {"only_active": False}, token=tok_a)
            self.assertEqual(r["errcode"], 0)
            r = sim.call("topapi/user/count", {"only_active": False}, token="")
            self.assertEqual(code_of(r), 40000)

            time.sleep(2.2)
            r = sim.call("topapi/user/count", {"only_active": False}, token=tok_a)
            self.assertEqual(r["errcode"], 88)
            self.assertEqual(r["sub_code"], "42001")
            self.assertIn("subcode=42001", r["errmsg"])

            tok_b = sim.get_token()["access_token"]
            self.assertNotEqual(tok_b, tok_a)
            r = sim.call("topapi/user/count", {"only_active": False}, token=tok_a)
            self.assertEqual(code_of(r), 42001)
            self.assertEqual(sim.call("auth/scopes", method="GET", token=tok_b)["errcode"], 0)

            status, _ = sim.control("token.invalidate")
            self.assertEqual(status, 200)
            r = sim.call("auth/scopes", method="GET", token=tok_b)
            self.assertEqual(code_of(r), 40014)
            tok_c = sim.get_token()["access_token"]
            self.assertNotEqual(tok_c, tok_b)
            self.assertEqual(sim.call("auth/scopes", method="GET", token=tok_c)["errcode"], 0)
            r = sim.call("auth/scopes", method="GET", token="not-a-token")
            self.assertEqual(code_of(r), 40014)

            sim.control("config", envelope="bare")
            r = sim.call("auth/scopes", method="GET", token="not-a-token")
            self.assertEqual(r["errcode"], 40014)
            self.assertNotIn("sub_code", r)
            self.assertEqual(sim.stop(), 0)


class ShapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(SMALL, "--rate-limit", "0")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def ok(self, body):
        self.assertEqual(body["errcode"], 0, body)
        self.assertEqual(body["errmsg"], "ok")
        return body

    def test_scopes_shape(self):
        r = self.ok(self.sim.call("auth/scopes", method="GET"))
        self.assertEqual(r["auth_org_scopes"], {"authed_dept": [1], "authed_user": []})
        self.assertIsInstance(r["auth_user_field"], list)
        self.assertEqual(r["condition_field"], [])

    def test_listsub_shape(self):
        r = self.ok(self.sim.call("topapi/v2/department/listsub", {"dept_id": 1}))
        self.assertIn("request_id", r)
        ids = [d["dept_id"] for d in r["result"]]
        self.assertEqual(ids, [300, 100, 200])  # by "order", then id
        for d in r["result"]:
            self.assertEqual(set(d), {"dept_id", "name", "parent_id",
                                      "create_dept_group", "auto_add_user"})
            self.assertEqual(d["parent_id"], 1)
        # One level only: grandchildren are not listed.
        self.assertNotIn(110, ids)
        en = self.ok(self.sim.call("topapi/v2/department/listsub",
                                   {"dept_id": 1, "language": "en_US"}))
        self.assertIn("R&D", [d["name"] for d in en["result"]])

    def test_listsubid_shape(self):
        r = self.ok(self.sim.call("topapi/v2/department/listsubid", {"dept_id": 110}))
        self.assertEqual(r["result"], {"dept_id_list": [111]})

    def test_department_get_shape(self):
        r = self.ok(self.sim.call("topapi/v2/department/get", {"dept_id": 100}))
        res = r["result"]
        self.assertEqual(res["dept_id"], 100)
        self.assertEqual(res["name"], "研发中心")
        self.assertEqual(res["parent_id"], 1)
        self.assertEqual(res["dept_manager_userid_list"], ["lei.li"])
        self.assertIs(res["hide_dept"], False)
        self.assertEqual(res["member_count"], 5)
        hidden = self.ok(self.sim.call("topapi/v2/department/get", {"dept_id": 200}))
        self.assertIs(hidden["result"]["hide_dept"], True)
        root = self.ok(self.sim.call("topapi/v2/department/get", {"dept_id": 1}))
        self.assertNotIn("parent_id", root["result"])
        r = self.sim.call("topapi/v2/department/get", {"dept_id": 999})
        self.assertEqual(r["errcode"], 60003)

    def test_user_list_shape(self):
        r = self.ok(self.sim.call("topapi/v2/user/list",
                                  {"dept_id": 300, "cursor": 0, "size": 10}))
        res = r["result"]
        self.assertIs(res["has_more"], False)
        self.assertNotIn("next_cursor", res)
        by_id = {u["userid"]: u for u in res["list"]}
        self.assertEqual(set(by_id), {"lei.li", "ana.wang"})
        lei = by_id["lei.li"]
        self.assertEqual(lei["dept_id_list"], [100, 300])
        self.assertIs(lei["leader"], False)
        self.assertEqual(lei["email"], "lilei@example.org")
        self.assertNotIn("mobile", lei)  # absent, never empty
        for key in ("active", "admin", "boss", "hide_mobile", "exclusive_account"):
            self.assertIsInstance(lei[key], bool)
        self.assertIsInstance(lei["dept_order"], int)
        lead = self.ok(self.sim.call("topapi/v2/user/list",
                                     {"dept_id": 100, "cursor": 0, "size": 10}))
        self.assertIs(lead["result"]["list"][0]["leader"], True)

    def test_user_list_errors(self):
        call = self.sim.call
        api = "topapi/v2/user/list"
        self.assertEqual(call(api, {"dept_id": 1, "cursor": 0, "size": 101})["errcode"], 40069)
        self.assertEqual(call(api, {"dept_id": 1, "cursor": 0, "size": 0})["errcode"], 40069)
        self.assertEqual(call(api, {"dept_id": 1, "cursor": -1, "size": 10})["errcode"], 40068)
        self.assertEqual(call(api, {"dept_id": 1, "cursor": "x", "size": 10})["errcode"], 40068)
        self.assertEqual(call(api, {"cursor": 0, "size": 10})["errcode"], 40035)
        self.assertEqual(call(api, {"dept_id": 1, "size": 10})["errcode"], 40035)
        self.assertEqual(call(api, {"dept_id": 4242, "cursor": 0, "size": 10})["errcode"], 60003)
        self.assertEqual(call(api, {"dept_id": 1}, method="GET")["errcode"], 43002)

    def test_form_and_numeric_strings(self):
        form = self.ok(self.sim.call("topapi/v2/user/list",
                                     {"dept_id": "1111", "cursor": "0", "size": "5"},
                                     form=True))
        js = self.ok(self.sim.call("topapi/v2/user/list",
                                   {"dept_id": 1111, "cursor": 0, "size": 5}))
        self.assertEqual(form["result"], js["result"])

    def test_user_get_shape(self):
        r = self.ok(self.sim.call("topapi/v2/user/get", {"userid": "ji.ouyang"}))
        res = r["result"]
        self.assertEqual(res["name"], "欧阳𠮷")
        self.assertEqual(res["unionid"], "uJiOuyang01iE")
        self.assertEqual(res["manager_userid"], "mei.han")
        self.assertEqual(res["dept_order_list"][0]["dept_id"], 1111)
        self.assertEqual(res["leader_in_dept"], [{"dept_id": 1111, "leader": False}])
        self.assertEqual(self.sim.call("topapi/v2/user/get", {"userid": "ghost"})["errcode"], 60121)
        self.assertEqual(self.sim.call("topapi/v2/user/get", {"userid": ""})["errcode"], 33012)
        self.assertEqual(self.sim.call("topapi/v2/user/get", {})["errcode"], 40035)

    def test_getbyunionid_and_count(self):
        r = self.ok(self.sim.call("topapi/user/getbyunionid", {"unionid": "uLeiLi01iE"}))
        self.assertEqual(r["result"], {"contact_type": 0, "userid": "lei.li"})
        r = self.sim.call("topapi/user/getbyunionid", {"unionid": "nobody"})
        self.assertEqual(r["errcode"], 60121)
        r = self.ok(self.sim.call("topapi/user/count", {"only_active": False}))
        self.assertEqual(r["result"], {"count": 7})
        r = self.ok(self.sim.call("topapi/user/count", {"only_active": True}))
        self.assertEqual(r["result"], {"count": 6})
        self.assertEqual(self.sim.call("topapi/user/count", {})["errcode"], 40035)

    def test_listid_and_listsimple(self):
        r = self.ok(self.sim.call("topapi/user/listid", {"dept_id": 1111}))
        self.assertEqual(r["result"], {"userid_list": ["ji.ouyang", "ana.wang"]})
        r = self.ok(self.sim.call("topapi/user/listsimple",
                                  {"dept_id": 1111, "cursor": 0, "size": 1}))
        self.assertEqual(r["result"]["list"], [{"userid": "ji.ouyang", "name": "欧阳𠮷"}])
        self.assertEqual(r["result"]["next_cursor"], 1)

    def test_unknown_api(self):
        r = self.sim.call("topapi/v2/user/nonsense", {})
        self.assertEqual(r["errcode"], 22)
        self.assertIn("不合法ApiName", r["errmsg"])


def _fixture_with_big_dept(tmpdir, n):
    doc = load(SMALL)
    for i in range(n):
        doc["users"].append({"userid": "bulk%04d" % i, "unionid": "uBulk%04d" % i,
                             "name": "批量用户%d" % i, "dept_id_list": [111]})
    path = os.path.join(tmpdir, "big.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    return path


class PagingTest(unittest.TestCase):
    def test_cursor_paging_each_once(self):
        with tempfile.TemporaryDirectory() as tmp, \
                Sim(_fixture_with_big_dept(tmp, 250), "--rate-limit", "0") as sim:
            users, pages = sim.list_all(111, size=100)
            ids = [u["userid"] for u in users]
            self.assertEqual(pages, 3)
            self.assertEqual(len(ids), 251)
            self.assertEqual(len(set(ids)), 251)
            users, pages = sim.list_all(111, size=7)
            self.assertEqual(sorted(u["userid"] for u in users), sorted(ids))
            self.assertEqual(pages, 36)
            desc = sim.call("topapi/v2/user/list", {"dept_id": 111, "cursor": 0, "size": 1,
                                                    "order_field": "entry_desc"})
            self.assertEqual(desc["result"]["list"][0]["userid"], "bulk0249")


def crawl(sim):
    """A correct client: from every scope root, one level at a time."""
    scopes = sim.call("auth/scopes", method="GET")["auth_org_scopes"]
    seen_depts, users, depth = set(), {}, {}
    todo = [(d, 0) for d in scopes["authed_dept"]]
    while todo:
        dept, level = todo.pop()
        if dept in seen_depts:
            continue
        seen_depts.add(dept)
        depth[dept] = level
        for u in sim.list_all(dept)[0]:
            users[u["userid"]] = u
        r = sim.call("topapi/v2/department/listsub", {"dept_id": dept})
        assert r["errcode"] == 0, r
        todo += [(d["dept_id"], level + 1) for d in r["result"]]
    for userid in scopes["authed_user"]:
        r = sim.call("topapi/v2/user/get", {"userid": userid})
        assert r["errcode"] == 0, r
        users[userid] = r["result"]
    return seen_depts, users, max(depth.values())


class ScopeTest(unittest.TestCase):
    def test_recursion_finds_everyone(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = generate(tmp, 300, 5)
            with Sim(path, "--rate-limit", "0") as sim:
                depts, users, depth = crawl(sim)
                self.assertGreaterEqual(depth, 4)
                self.assertEqual(set(users), {u["userid"] for u in sim.doc["users"]})
                self.assertEqual(len(depts), len(sim.doc["departments"]))

    def test_shrunk_scope(self):
        with Sim(SMALL, "--rate-limit", "0") as sim:
            status, body = sim.control("scope.set", dept_ids=[110], user_ids=["na.zhang"])
            self.assertEqual(status, 200, body)
            depts, users, depth = crawl(sim)
            self.assertEqual(depts, {110, 111, 1111})
            self.assertEqual(set(users), {"mei.han", "jie.zhou", "ji.ouyang",
                                          "ana.wang", "na.zhang"})
            self.assertEqual(depth, 2)
            call = sim.call
            self.assertEqual(call("topapi/v2/department/listsub", {"dept_id": 1})["errcode"], 50004)
            self.assertEqual(call("topapi/v2/user/list",
                                  {"dept_id": 300, "cursor": 0, "size": 10})["errcode"], 50004)
            self.assertEqual(call("topapi/v2/department/get", {"dept_id": 100})["errcode"], 50004)
            self.assertEqual(call("topapi/v2/user/get", {"userid": "boss01"})["errcode"], 50002)
            # listsubid and count are not scope-restricted.
            self.assertEqual(call("topapi/v2/department/listsubid", {"dept_id": 1})["errcode"], 0)
            self.assertEqual(call("topapi/user/count", {"only_active": False})["result"]["count"], 7)


if __name__ == "__main__":
    unittest.main()
