"""Real git repositories in temporary directories, for the packaging tests (no global git config needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

_CONFIG = ["-c", "user.name=kuberun-test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false",
           "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", "-c", "core.hooksPath=/dev/null"]

TASKS = '''\
from helpers import double


def run(x):
    return double(x) + 1
'''
HELPERS = '''\
def double(x):
    return 2 * x
'''


def require_git() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the git packaging tests need it")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *_CONFIG, "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository holding ``files`` (default: a two-module project), committed."""
    require_git()
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for name, text in (files or {"src/tasks.py": TASKS, "src/helpers.py": HELPERS, "README.md": "# demo\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    commit(path, "initial")
    return path


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()
