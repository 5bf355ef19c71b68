#!/usr/bin/env python3
"""Runs the operator console's browser tests (tests/console/README.md): builds the debug
binary, then drives headless Chromium against it. Needs Debian's `chromium` and the Python
package `playwright` (`.ci/run` installs both when missing; never `playwright install`).

    python3 tests/console/run.py              # every test
    python3 tests/console/run.py -k weights   # the tests whose name holds "weights"
"""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    subprocess.run(["cargo", "build", "--locked", "--bin", "smartlink"], cwd=root, check=True)
    import harness
    if not os.access(harness.CHROMIUM, os.X_OK):
        sys.exit(f"{harness.CHROMIUM} is missing: apt-get install chromium")
    argv = [sys.argv[0], "-v"] + sys.argv[1:]
    program = unittest.main(module="test_console", argv=argv, exit=False)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
