"""Installing for real use (issue 19 §4): a wheel built from the sources, installed into a
fresh venv that sees only the runtime dependencies pyproject.toml declares (no dev extras:
no pytest, no pymap, no test servers' helpers), gives a working `mailferry`.

Offline: the wheel is built without build isolation (setuptools is a dev dependency), and
the fresh venv gets the declared runtime dependencies, and only those, from the dev venv's
installed copies through a .pth file, so `pip install --no-index` needs nothing from
the network. `pipx install .` does the same with its own venv.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import Distribution, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow  # the wheel into fresh venvs: `make test-slow`

REPO = Path(__file__).resolve().parents[2]
# psycopg is not here: the PostgreSQL store ([sync] store) is a runtime feature (issue 15)
DEV_ONLY = ("pytest", "pymap", "mutmut", "playwright", "mypy", "ruff")


def runtime_closure(name: str) -> dict[str, Distribution]:
    """Every distribution `name` needs at run time, following requirements without extras."""
    seen: dict[str, Distribution] = {}
    todo = [Requirement(name)]
    while todo:
        requirement = todo.pop()
        key = canonicalize_name(requirement.name)
        if key in seen:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        dist = distribution(requirement.name)
        seen[key] = dist
        todo.extend(Requirement(r) for r in dist.requires or ())
    return seen


def overlay(dists: dict[str, Distribution], directory: Path) -> None:
    """A site directory holding exactly these distributions (links to their files)."""
    directory.mkdir()
    for key, dist in dists.items():
        if key == "mailferry":
            continue  # the wheel brings it
        base = Path(str(dist.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}:
            link = directory / top
            if not link.exists() and (base / top).exists():
                link.symlink_to(base / top)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `mailferry` console script of a fresh venv with the wheel installed."""
    work = tmp_path_factory.mktemp("install")
    tree = work / "source"  # a copy of the tracked files: the build writes nothing in the repo
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_bytes((REPO / name).read_bytes())
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "--no-index", "-w", str(work / "dist"),
                            str(tree)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel, = (work / "dist").glob("mailferry-*.whl")
    venv = work / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv",
                    str(venv)], check=True, timeout=300)
    site, = (venv / "lib").glob("python3*/site-packages")
    dists = runtime_closure("mailferry")
    overlay(dists, work / "runtime")
    (site / "runtime-dependencies.pth").write_text(f"{work / 'runtime'}\n")
    done = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--no-index",
                           "--no-deps", str(wheel)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin/mailferry"


def run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed.parent}:/usr/bin:/bin"
    return subprocess.run([str(installed), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**env, "COLUMNS": "120"})


def test_the_runtime_dependencies_leave_out_the_dev_tools() -> None:
    names = set(runtime_closure("mailferry"))
    assert not names & {canonicalize_name(n) for n in DEV_ONLY}, names


def test_the_wheel_installs_a_working_mailferry(installed: Path, tmp_path: Path) -> None:
    python = installed.with_name("python")
    # the installed package, not the sources, and no dev tool within reach
    where = subprocess.run([str(python), "-c", "import mailferry, importlib.util as u; "
                            "print(mailferry.__file__); "
                            f"print([n for n in {DEV_ONLY!r} if u.find_spec(n)])"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    path, missing = where.stdout.splitlines()
    assert str(installed.parents[1]) in path and missing == "[]", where.stdout
    # every module imports with the runtime dependencies alone (but the schema migrations:
    # Alembic runs those scripts inside its own context, they are not imported)
    every = subprocess.run([str(python), "-c", (
        "import importlib, pkgutil, mailferry\n"
        "for m in pkgutil.walk_packages(mailferry.__path__, 'mailferry.'):\n"
        "    if not m.name.endswith('__main__') and '.store.migrations' not in m.name:\n"
        "        importlib.import_module(m.name)\n")], cwd=tmp_path, capture_output=True,
        text=True, timeout=300)
    assert every.returncode == 0, every.stderr
    version = run(installed, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("mailferry, version "), \
        version.stderr
    assert run(installed, tmp_path, "init").returncode == 0
    for args in (["check", "--only", "plan"], ["plan", "--no-check"], ["waves"], ["status"]):
        done = run(installed, tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
    assert "_mailferry_completion" in run(installed, tmp_path, "completion", "bash").stdout


NOBODY = "nobody"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user (setpriv); "
                    "run as a user, the tests above already prove it needs no root")
def test_an_unprivileged_user_installs_and_runs_it(installed: Path) -> None:
    """The whole install, not only the run, as `nobody`: Debian's python3 makes the venv,
    pip installs the wheel into it, and the commands that need no server run, with a HOME
    of its own; nothing of root's (the dev venv's interpreter lives under /root) is used."""
    wheel, = installed.parents[2].glob("dist/mailferry-*.whl")
    home = Path(tempfile.mkdtemp(prefix="mailferry-nobody-"))
    try:
        (home / wheel.name).write_bytes(wheel.read_bytes())
        runtime = home / "runtime"
        overlay(runtime_closure("mailferry"), runtime)  # links to the dev venv's copies
        subprocess.run(["chown", "-R", f"{NOBODY}:", str(home)], check=True)
        user = pwd.getpwnam(NOBODY)
        as_nobody = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                     "--clear-groups",
                     "env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]

        def nobody(*args: str, cwd: Path = home) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*as_nobody, *args], cwd=cwd, capture_output=True,
                                  text=True, timeout=600)

        made = nobody("/usr/bin/python3", "-m", "venv", str(home / "venv"))
        assert made.returncode == 0, made.stderr
        site, = (home / "venv/lib").glob("python3*/site-packages")
        written = nobody("/bin/sh", "-c", f"echo {runtime} > {site}/runtime.pth")
        assert written.returncode == 0, written.stderr
        done = nobody(str(home / "venv/bin/pip"), "install", "--no-index", "--no-deps",
                      str(home / wheel.name))
        assert done.returncode == 0, done.stdout + done.stderr
        mailferry = str(home / "venv/bin/mailferry")
        assert nobody("id", "-u").stdout.strip() != "0"
        version = nobody(mailferry, "--version")
        assert version.returncode == 0 and version.stdout.startswith("mailferry, version "), \
            version.stderr
        assert nobody(mailferry, "init", "acme").returncode == 0
        project = home / "acme"
        assert project.stat().st_uid != 0  # the user's own files
        for args in (["check", "--only", "plan"], ["plan", "--no-check"], ["waves"],
                     ["status"], ["report"]):
            ran = nobody(mailferry, *args, cwd=project)
            assert ran.returncode == 0, (args, ran.stderr)
        assert list((project / "logs").iterdir())  # its per-run logs, written as nobody
    finally:
        shutil.rmtree(home, ignore_errors=True)
