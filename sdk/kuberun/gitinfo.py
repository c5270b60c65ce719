"""Capture where the submitting code came from: git remote, commit, branch, dirty flag."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kuberun.resource.spec import SourceInfo


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def capture_source(cwd: Path | str | None = None) -> SourceInfo | None:
    """The git state of ``cwd`` (default: the current directory), or None outside a checkout."""
    where = Path(cwd or Path.cwd())
    commit = _git(where, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    return SourceInfo(
        remote=_git(where, "config", "--get", "remote.origin.url"),
        commit=commit,
        branch=_git(where, "rev-parse", "--abbrev-ref", "HEAD"),
        dirty=bool(status) if status is not None else None,
    )
