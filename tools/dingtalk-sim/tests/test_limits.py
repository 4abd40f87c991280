"""Permissions, rate limits, IP bans and injected faults of roster-dingtalk-sim."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import SMALL, Sim, code_of  # noqa: E402

LIST = "topapi/v2/user/list"
PAGE = {"dept_id": 1, "cursor": 0, "size": 10}


class PermissionTest(unittest.TestCase):
    def test_missing_permission_60011(self):
        with Sim(SMALL, "--rate-limit", "0") as sim:
            status, body = sim.control("config", denied_apis=[LIST])
            self.assertEqual(status, 200, body)
            r = sim.call(LIST, PAGE)
            self.assertEqual(r["errcode"], 88)
            self.assertEqual(r["sub_code"], "60011")
            # Other APIs keep working.
            self.assertEqual(sim.call("topapi/v2/user/get", {"userid": "lei.li"})["errcode"], 0)
            sim.control("config", api_envelope={LIST: "bare"})
            r = sim.call(LIST, PAGE)
            self.assertEqual(r["errcode"], 60011)
            self.assertNotIn("sub_code", r)
            sim.control("config", denied_apis=[])
            self.assertEqual(sim.call(LIST, PAGE)["errcode"], 0)

    def test_deny_api_option(self):
        with Sim(SMALL, "--rate-limit", "0", "--deny-api", "topapi/v2/department/listsub") as sim:
            r = sim.call("topapi/v2/department/listsub", {"dept_id": 1})
            self.assertEqual(r["sub_code"], "60011")
            self.assertEqual(sim.call(LIST, PAGE)["errcode"], 0)

    def test_hidden_fields_absent(self):
        with Sim(SMALL, "--rate-limit", "0") as sim:
            sim.control("config", hidden_fields=["email", "mobile"])
            r = sim.call("topapi/v2/user/get", {"userid": "lei.li"})
            self.assertNotIn("email", r["result"])
            self.assertEqual(r["result"]["name"], "李雷")


class RateLimitTest(unittest.TestCase):
    def test_rate_limit_90018(self):
        with Sim(SMALL, "--rate-limit", "5") as sim:
            sim.ensure_token()
            time.sleep(1.0 - time.time() % 1.0 + 0.05)  # start of a second
            codes = [code_of(sim.call(LIST, PAGE)) for _ in range(8)]
            self.assertEqual(codes[:5], [0] * 5)
            self.assertIn(90018, codes[5:])
            r = sim.call(LIST, PAGE)
            if code_of(r) == 90018:
                self.assertEqual(r["errcode"], 88)
                self.assertEqual(r["sub_code"], "90018")
            # The limit is per API: another API is unaffected.
            self.assertEqual(sim.call("topapi/v2/user/get", {"userid": "lei.li"})["errcode"], 0)
            time.sleep(1.1)
            self.assertEqual(sim.call(LIST, PAGE)["errcode"], 0)

    def test_default_rate_is_20(self):
        with Sim(SMALL) as sim:
            sim.ensure_token()
            time.sleep(1.0 - time.time() % 1.0 + 0.05)
            codes = [code_of(sim.call(LIST, PAGE)) for _ in range(25)]
            self.assertEqual(codes[:20], [0] * 20)
            self.assertIn(90018, codes[20:])


class BanTest(unittest.TestCase):
    def test_ip_ban_html(self):
        with Sim(SMALL, "--rate-limit", "0") as sim:
            sim.ensure_token()
            status, body = sim.control("ip.ban", ip="127.0.0.1", seconds=60)
            self.assertEqual(status, 200, body)
            _, ctype, raw = sim.raw("auth/scopes?access_token=" + sim.token)
            self.assertTrue(ctype.startswith("text/html"), ctype)
            self.assertIn("<html>", raw.decode())
            with self.assertRaises(ValueError):
                json.loads(raw)
            # The control API stays reachable during a ban.
            sim.control("ip.unban", ip="127.0.0.1")
            self.assertEqual(sim.call("auth/scopes", method="GET")["errcode"], 0)

    def test_ip_limit_bans(self):
        with Sim(SMALL, "--rate-limit", "0", "--ip-limit", "3") as sim:
            sim.ensure_token()  # call 1
            for _ in range(2):
                self.assertEqual(sim.call("auth/scopes", method="GET")["errcode"], 0)
            _, _, raw = sim.raw("auth/scopes?access_token=" + sim.token)
            self.assertTrue(raw.lstrip().startswith(b"<!DOCTYPE html>"))
            sim.control("config", ban_body="json")
            _, _, raw = sim.raw("auth/scopes?access_token=" + sim.token)
            punish = json.loads(raw)
            self.assertEqual(punish["status"], 1111)
            self.assertEqual(punish["punish"], "deny")


class FaultTest(unittest.TestCase):
    def test_error_at_nth_call(self):
        with Sim(SMALL, "--rate-limit", "0") as sim:
            sim.ensure_token()
            status, body = sim.control("fault.add", api=LIST, at=2, kind="error",
                                       errcode=90002, errmsg="请求总次数超过了 300 次")
            self.assertEqual(status, 200, body)
            codes = [code_of(sim.call(LIST, PAGE)) for _ in range(3)]
            self.assertEqual(codes, [0, 90002, 0])
            sim.control("fault.add", api=LIST, at=1, count=2, kind="error",
                        errcode=-1, envelope="bare")
            codes = [sim.call(LIST, PAGE)["errcode"] for _ in range(3)]
            self.assertEqual(codes, [-1, -1, 0])

    def test_html_truncated_delay(self):
        with Sim(SMALL, "--rate-limit", "0") as sim:
            sim.ensure_token()
            path = LIST + "?access_token=" + sim.token
            body = json.dumps(PAGE).encode()
            sim.control("fault.add", api=LIST, kind="html", http_status=503)
            status, ctype, raw = sim.raw(path, "POST", body, "application/json")
            self.assertEqual(status, 503)
            self.assertTrue(ctype.startswith("text/html"))
            sim.control("fault.add", api=LIST, kind="truncated")
            status, _, raw = sim.raw(path, "POST", body, "application/json")
            self.assertEqual(status, 200)
            with self.assertRaises(ValueError):
                json.loads(raw)
            sim.control("fault.add", api=LIST, kind="delay", delay_ms=300)
            start = time.time()
            self.assertEqual(sim.call(LIST, PAGE)["errcode"], 0)
            self.assertGreaterEqual(time.time() - start, 0.29)
            start = time.time()
            sim.call(LIST, PAGE)
            self.assertLess(time.time() - start, 0.25)

    def test_latency_option(self):
        with Sim(SMALL, "--rate-limit", "0", "--latency-ms", "150") as sim:
            sim.ensure_token()
            start = time.time()
            self.assertEqual(sim.call(LIST, PAGE)["errcode"], 0)
            self.assertGreaterEqual(time.time() - start, 0.14)

    def test_bad_control_requests(self):
        with Sim(SMALL) as sim:
            self.assertEqual(sim.control("fault.add", api=LIST, kind="bogus")[0], 400)
            self.assertEqual(sim.control("no.such.op")[0], 400)
            self.assertEqual(sim.raw("_sim/control", "POST", b"not json", "application/json")[0], 400)
            self.assertEqual(sim.raw("_sim/elsewhere")[0], 404)


if __name__ == "__main__":
    unittest.main()
