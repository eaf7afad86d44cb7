"""What the interop tests share: the vernier CLI and a pass/fail tally."""
import os
import subprocess

CLI = os.environ["VERNIER_CLI"]
SHARED = os.environ.get("VERNIER_SHARED_DIR", "")


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def vernier(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"vernier {' '.join(args)} failed: {r.stderr}")
    return r.stdout
