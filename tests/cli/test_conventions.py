"""What every command has in common (issue 19 §3, §4): one way to name the project
(`-p/--project FILE`, default ./migration.toml, the old positional still accepted), a bare
`report` that reports, `--help` in the order of a migration, `--version`, and shell
completion that works in a real bash."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from mailferry.cli import COMMANDS, STAGES

MAILFERRY = Path(sys.executable).with_name("mailferry")  # the console script pyproject installs
BIN = MAILFERRY.parent


def mailferry(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MAILFERRY), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "80"})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("project")
    done = mailferry(directory, "init")
    assert done.returncode == 0, done.stderr
    return directory / "migration.toml"


def test_help_lists_every_command_once_in_the_order_of_a_migration(tmp_path: Path) -> None:
    done = mailferry(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    listed = [m.group(1) for m in re.finditer(r"^  ([a-z]+)  +\S", done.stdout, re.M)]
    assert sorted(listed) == sorted(COMMANDS)  # each once, none forgotten
    order = ["init", "check", "plan", "waves", "relay", "sync", "status", "verify", "report",
             "monitor"]
    assert [c for c in listed if c in order] == order, listed
    assert sorted(c for stage in STAGES.values() for c in stage) == sorted(COMMANDS)
    for line in done.stdout.splitlines():  # one line each, within 80 columns
        assert len(line) <= 80, line
    assert "Prepare:" in done.stdout and "After the cutover:" in done.stdout


def test_version(tmp_path: Path) -> None:
    done = mailferry(tmp_path, "--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"mailferry, version {version('mailferry')}"


@pytest.mark.parametrize("args", [["waves"], ["status"], ["report"], ["plan", "--no-check"],
                                  ["check", "--only", "plan"], ["relay", "status"],
                                  ["notify", "--list"]])
def test_one_way_to_name_the_project(project: Path, tmp_path: Path, args: list[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # -p FILE from anywhere, and --project FILE
    named = mailferry(elsewhere, *args, "-p", str(project))
    assert named.returncode == 0, named.stderr
    assert mailferry(elsewhere, *args, "--project", str(project)).stdout == named.stdout
    # ./migration.toml by default, in the project's directory
    here = mailferry(project.parent, *args)
    assert here.returncode == 0, here.stderr
    # the old spelling, the file as an argument, still works
    legacy = mailferry(elsewhere, *args, str(project))
    assert legacy.returncode == 0, legacy.stderr
    # no project at all: one line saying what to do, exit 2
    missing = mailferry(elsewhere, *args)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("mailferry: error: migration.toml: no project here"), \
        missing.stderr
    assert "-p FILE" in missing.stderr and "mailferry init" in missing.stderr


def test_verify_backup_and_dmarc_take_the_same_option(project: Path, tmp_path: Path) -> None:
    for args in (["verify"], ["backup"], ["dmarc"], ["autoconfig"]):
        done = mailferry(tmp_path, *args, "--help")
        assert "-p, --project FILE" in done.stdout, (args, done.stdout)
    done = mailferry(tmp_path, "dmarc", "-p", str(project))
    assert done.returncode == 0, done.stderr


def test_a_bare_report_reports_the_project_here(project: Path) -> None:
    done = mailferry(project.parent, "report")
    assert done.returncode == 0, done.stderr
    for user in ("alice", "bob", "carol"):  # the sample users.csv, every one pending
        assert re.search(rf"^.*{user}.*pending", done.stdout, re.M), done.stdout
    assert "--html report.html" in " ".join(done.stdout.split())


def test_bash_completes_commands_and_options(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash, "bash is needed"
    script = mailferry(tmp_path, "completion", "bash")
    assert script.returncode == 0, script.stderr
    (tmp_path / "completion.bash").write_text(script.stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        program = (f"source {tmp_path / 'completion.bash'}\n"
                   f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
                   f"_mailferry_completion mailferry '{words[-1]}' '{words[-2]}'\n"
                   'printf "%s\\n" "${COMPREPLY[@]}"\n')
        done = subprocess.run([bash, "--norc", "-c", program], capture_output=True, text=True,
                              timeout=60, env={**os.environ,
                                               "PATH": f"{BIN}:{os.environ['PATH']}"})
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("mailferry", "sy") == ["sync"]
    assert set(complete("mailferry", "re")) == {"relay", "report", "restore"}
    assert "--wave" in complete("mailferry", "sync", "--wa")


def test_zsh_gets_a_script_for_its_completion_system(tmp_path: Path) -> None:
    done = mailferry(tmp_path, "completion", "zsh")
    assert done.returncode == 0 and done.stdout.startswith("#compdef mailferry")
    assert "_MAILFERRY_COMPLETE=zsh_complete" in done.stdout
    zsh = shutil.which("zsh")
    if zsh:  # parses in a real zsh where there is one
        (tmp_path / "_mailferry").write_text(done.stdout)
        check = subprocess.run([zsh, "-n", str(tmp_path / "_mailferry")], capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stderr
    bad = mailferry(tmp_path, "completion", "fish")
    assert bad.returncode == 2 and bad.stderr.startswith("mailferry: error: completion:")
