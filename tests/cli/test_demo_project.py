"""The demo's project file (scripts/demo_project.py, run by `make demo`) is a whole
project too: `check` and `plan` accept it and find the plan feasible (issue 19 §1)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from testbed import DovecotUser

REPO = Path(__file__).resolve().parents[2]
MAILFERRY = Path(sys.executable).with_name("mailferry")
# the script is loaded from its file (scripts/ is no package of the tests)
_SPEC = importlib.util.spec_from_file_location("demo_project", REPO / "scripts" / "demo_project.py")
assert _SPEC is not None and _SPEC.loader is not None
demo_project = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(demo_project)


def test_check_and_plan_accept_the_demos_project(tmp_path: Path) -> None:
    users = [DovecotUser(name, "pw") for name in ("ana", "bo", "chloe", "dmitri")]
    # write_project reads only the servers' ports: nothing needs to run for the planner
    toml = demo_project.write_project(tmp_path, SimpleNamespace(port=1),  # type: ignore[arg-type]
                                      SimpleNamespace(port=2), users, 3)  # type: ignore[arg-type]
    env = {**os.environ, "COLUMNS": "200"}
    for args in (["check", "--only", "plan"], ["plan", "--no-check", "-o", "runbook.md"]):
        done = subprocess.run([str(MAILFERRY), *args, "-p", str(toml)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert "Example Org" in (tmp_path / "runbook.md").read_text()
