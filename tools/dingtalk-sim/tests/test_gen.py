"""The fixture generator: determinism, tree shape and the shared person."""
import filecmp
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import BIN, Sim, generate, load  # noqa: E402


def depth_of(doc):
    parent = {d["dept_id"]: d.get("parent_id", 0) for d in doc["departments"]}

    def depth(i):
        return 0 if i == 1 else 1 + depth(parent[i])
    return max(depth(i) for i in parent)


class GeneratorTest(unittest.TestCase):
    def test_same_seed_same_bytes(self):
        with tempfile.TemporaryDirectory() as tmp:
            a = generate(tmp, 500, 42)
            b = os.path.join(tmp, "b.json")
            subprocess.run([BIN, "generate", "--users", "500", "--seed", "42", "--out", b],
                           check=True)
            self.assertTrue(filecmp.cmp(a, b, shallow=False))
            c = generate(tmp, 500, 43)
            self.assertFalse(filecmp.cmp(a, c, shallow=False))

    def test_realistic_shape(self):
        with tempfile.TemporaryDirectory() as tmp:
            doc = load(generate(tmp, 2000, 9))
            users = doc["users"]
            self.assertEqual(len(users), 2000)
            self.assertGreaterEqual(depth_of(doc), 4)
            self.assertTrue(any(d.get("hidden") for d in doc["departments"]))
            self.assertGreater(sum(len(u["dept_id_list"]) > 1 for u in users), 100)
            self.assertEqual(len({u["unionid"] for u in users}), 2000)
            self.assertEqual(len({u["mobile"] for u in users}), 2000)
            cjk = [u["name"] for u in users if "\u4e00" <= u["name"][0] <= "\u9fff"]
            self.assertEqual(len(cjk), 2000)
            self.assertTrue(any(not u["active"] for u in users))
            self.assertTrue(any("email" not in u for u in users))

    def test_smallest_fixture_serves(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = generate(tmp, 20, 1)
            doc = load(path)
            self.assertGreaterEqual(depth_of(doc), 4)
            with Sim(path) as sim:
                r = sim.call("topapi/user/count", {"only_active": False})
                self.assertEqual(r["result"]["count"], 20)

    def test_second_enterprise_shares_unionid(self):
        with tempfile.TemporaryDirectory() as tmp:
            second = os.path.join(tmp, "second.json")
            first = generate(tmp, 300, 3, "--corp", "dingfirstcorp", "--second", second,
                             "--shared", "2")
            a, b = load(first), load(second)
            self.assertEqual(a["corp_id"], "dingfirstcorp")
            self.assertEqual(b["corp_id"], "dingfirstcorp-b")
            self.assertNotEqual(a["app"]["key"], b["app"]["key"])
            ua = {u["unionid"]: u for u in a["users"]}
            shared = [u for u in b["users"] if u["unionid"] in ua]
            self.assertEqual(len(shared), 2)
            for u in shared:
                self.assertNotEqual(u["userid"], ua[u["unionid"]]["userid"])
                self.assertEqual(u["name"], ua[u["unionid"]]["name"])
            with Sim(second) as sim:
                r = sim.call("topapi/user/getbyunionid", {"unionid": shared[0]["unionid"]})
                self.assertEqual(r["result"]["userid"], shared[0]["userid"])

    def test_bad_arguments(self):
        p = subprocess.run([BIN, "generate", "--users", "5", "--seed", "1"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--users", p.stderr)


if __name__ == "__main__":
    unittest.main()
