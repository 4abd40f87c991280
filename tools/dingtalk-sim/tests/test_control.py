"""Organisation changes through /_sim/control, fixture errors and CJK text."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import BIN, SMALL, Sim, load  # noqa: E402


class ControlTest(unittest.TestCase):
    def setUp(self):
        self.sim = Sim(SMALL, "--rate-limit", "0")

    def tearDown(self):
        self.assertEqual(self.sim.stop(), 0)

    def names(self, dept_id):
        r = self.sim.call("topapi/v2/department/listsub", {"dept_id": dept_id})
        return {d["dept_id"]: d["name"] for d in r["result"]}

    def test_rename_and_move_department(self):
        status, body = self.sim.control("dept.upsert", dept={"dept_id": 110, "name": "平台工程部"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.names(100)[110], "平台工程部")
        get = self.sim.call("topapi/v2/department/get", {"dept_id": 110})
        self.assertEqual(get["result"]["name"], "平台工程部")
        self.sim.control("dept.upsert", dept={"dept_id": 110, "parent_id": 300})
        self.assertNotIn(110, self.names(100))
        self.assertIn(110, self.names(300))
        # A move under its own subtree is rejected and changes nothing.
        status, body = self.sim.control("dept.upsert", dept={"dept_id": 110, "parent_id": 1111})
        self.assertEqual(status, 400)
        self.assertIn("ancestor", body["error"])
        self.assertIn(110, self.names(300))

    def test_add_and_remove(self):
        self.sim.control("dept.upsert", dept={"dept_id": 400, "name": "新部门", "parent_id": 1})
        self.assertIn(400, self.names(1))
        status, body = self.sim.control("user.upsert", user={
            "userid": "xin.ren", "unionid": "uXinRen01iE", "name": "任新",
            "dept_id_list": [400]})
        self.assertEqual(status, 200, body)
        members = self.sim.list_all(400)[0]
        self.assertEqual([u["userid"] for u in members], ["xin.ren"])
        status, body = self.sim.control("dept.remove", dept_id=400)
        self.assertEqual(status, 400)
        self.assertIn("members", body["error"])

        self.assertEqual(self.sim.control("user.remove", userid="xin.ren")[0], 200)
        r = self.sim.call("topapi/v2/user/get", {"userid": "xin.ren"})
        self.assertEqual(r["errcode"], 60121)
        self.assertEqual(self.sim.list_all(400)[0], [])
        self.assertEqual(self.sim.control("dept.remove", dept_id=400)[0], 200)
        self.assertEqual(self.sim.call("topapi/v2/department/get", {"dept_id": 400})["errcode"], 60003)

    def test_rename_user_and_move(self):
        self.sim.control("user.upsert", user={"userid": "mei.han", "name": "韩梅", "dept_id_list": [300]})
        r = self.sim.call("topapi/v2/user/get", {"userid": "mei.han"})
        self.assertEqual(r["result"]["name"], "韩梅")
        self.assertEqual(r["result"]["dept_id_list"], [300])
        self.assertNotIn("mei.han", [u["userid"] for u in self.sim.list_all(110)[0]])

    def test_invalid_change_keeps_org(self):
        status, body = self.sim.control("user.upsert", user={
            "userid": "bad", "unionid": "uLeiLi01iE", "name": "重复", "dept_id_list": [1]})
        self.assertEqual(status, 400)
        self.assertIn("unionid", body["error"])
        self.assertEqual(self.sim.call("topapi/v2/user/get", {"userid": "bad"})["errcode"], 60121)

    def test_cjk_round_trip(self):
        name = "欧阳𠮷喆·Zoë 🙂"
        self.sim.control("user.upsert", user={"userid": "cjk.user", "unionid": "uCjk01iE",
                                              "name": name, "title": "数据工程师",
                                              "dept_id_list": [1]})
        r = self.sim.call("topapi/v2/user/get", {"userid": "cjk.user"})
        self.assertEqual(r["result"]["name"], name)
        self.assertEqual(r["result"]["title"], "数据工程师")
        # Raw UTF-8 on the wire, as DingTalk sends it, not \\u escapes.
        path = "topapi/v2/user/get?" + urllib.parse.urlencode({"access_token": self.sim.token})
        raw = self.sim.raw(path, "POST", b'{"userid":"cjk.user"}', "application/json")[2]
        self.assertIn(name.encode(), raw)
        form = self.sim.call("topapi/user/getbyunionid", {"unionid": "uCjk01iE"}, form=True)
        self.assertEqual(form["result"]["userid"], "cjk.user")

    def test_changes_during_reads(self):
        errors = []

        def reader():
            try:
                for _ in range(40):
                    r = self.sim.call("topapi/v2/user/list",
                                      {"dept_id": 1111, "cursor": 0, "size": 10})
                    if r["errcode"] != 0:
                        errors.append(r)
            except Exception as e:  # noqa: BLE001 - reported by the assert below
                errors.append(repr(e))

        self.sim.ensure_token()
        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(20):
            status, body = self.sim.control("dept.upsert",
                                            dept={"dept_id": 1111, "name": "小组%d" % i})
            self.assertEqual(status, 200, body)
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        get = self.sim.call("topapi/v2/department/get", {"dept_id": 1111})
        self.assertEqual(get["result"]["name"], "小组19")

    def test_fixture_dump_and_stats(self):
        self.sim.call("auth/scopes", method="GET")
        stats = json.loads(self.sim.raw("_sim/stats")[2])
        self.assertGreaterEqual(stats["apis"]["auth/scopes"], 1)
        doc = json.loads(self.sim.raw("_sim/fixture")[2])
        self.assertEqual(doc["corp_id"], "dingsmallcorp0001")


class FixtureErrorTest(unittest.TestCase):
    def start_fails(self, mutate, expected):
        doc = load(SMALL)
        mutate(doc)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(doc, f, ensure_ascii=False)
        try:
            p = subprocess.run([BIN, "serve", "--fixture", f.name, "--addr", "127.0.0.1:0"],
                               capture_output=True, text=True, timeout=10)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 1)
        self.assertIn(expected, p.stderr)

    def test_rejects_bad_fixtures(self):
        self.start_fails(lambda d: d["users"].append(dict(d["users"][0], unionid="x")),
                         "duplicate userid")
        self.start_fails(lambda d: d["departments"][1].update(parent_id=77), "unknown parent_id 77")
        self.start_fails(lambda d: d["departments"][1].update(parent_id=1111), "own ancestor")
        self.start_fails(lambda d: d["users"][0].update(dept_id_list=[]), "dept_id_list")
        self.start_fails(lambda d: d["users"][0].update(active="yes"), "must be a boolean")
        self.start_fails(lambda d: d.pop("app"), "app.key")
        self.start_fails(lambda d: d["scope"].update(dept_ids=[5]), "unknown department")

    def test_missing_file(self):
        p = subprocess.run([BIN, "serve", "--fixture", "/nonexistent.json", "--addr", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("could not load fixture", p.stderr)

    def test_bad_cli(self):
        p = subprocess.run([BIN, "serve", "--fixture", SMALL, "--addr", "nohost"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn("HOST:PORT", p.stderr)


if __name__ == "__main__":
    unittest.main()
