"""Capture where the submitting code came from: git remote, commit, branch, dirty flag."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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
        # A remote URL can carry a token (https://TOKEN@host/repo): the record keeps only where the code lives.
        remote=strip_credentials(remote) if (remote := _git(where, "config", "--get", "remote.origin.url")) else None,
        commit=commit,
        branch=_git(where, "rev-parse", "--abbrev-ref", "HEAD"),
        dirty=bool(status) if status is not None else None,
    )


def strip_credentials(url: str) -> str:
    """A remote URL without user, password or token (``https://tok@host/x`` -> ``https://host/x``)."""
    if "://" in url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        # ssh://git@host keeps its user name: it is an account name, never a secret.
        if parts.scheme == "ssh" and parts.username and not parts.password:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    user, at, rest = url.partition("@")
    if at and ":" in user and "/" not in user:  # scp-like user:secret@host:path
        return rest
    return url
