"""Runs one integration test file under pytest for ctest.

Exits 77 (ctest's skip code here) when ROSTER_TEST_DATABASE_URL is unset, so
a build without PostgreSQL reports the tests as skipped, not passed."""

import os
import sys


def main():
    if not os.environ.get("ROSTER_TEST_DATABASE_URL"):
        print("ROSTER_TEST_DATABASE_URL is not set; skipping (scripts/test sets it)")
        return 77
    test_dir = os.path.dirname(os.path.abspath(__file__))
    stubs = os.environ.get("ROSTER_PYSTUBS")
    if not stubs or not os.path.isdir(stubs):
        print("ROSTER_PYSTUBS does not name the generated stubs: %r" % stubs)
        return 1
    sys.path.insert(0, stubs)
    sys.dont_write_bytecode = True
    import pytest
    args = ["-q", "-rfEs", "-p", "no:cacheprovider", "--rootdir", test_dir]
    args += [os.path.join(test_dir, a) if a.endswith(".py") else a
             for a in sys.argv[1:]]
    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main())
