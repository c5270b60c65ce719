"""Who is asking: static bearer tokens minted per sandbox, kept only as SHA-256 digests.

A real cluster's token authenticators map a bearer token to a user name, a uid and groups, add
``system:authenticated`` to everyone they recognise, and call a token-less request
``system:anonymous`` in ``system:unauthenticated``. The sandbox does the same with tokens it mints
itself (``secrets.token_urlsafe``): the server keeps only their digests (in a 0600 file when it has
a data directory), so reading its state does not hand out credentials — the kubeconfig (also 0600)
is the one place a token is written in clear. A token the server does not know is refused (401),
never downgraded to anonymous, as kube-apiserver does.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

AUTHENTICATED, UNAUTHENTICATED = "system:authenticated", "system:unauthenticated"
MASTERS = "system:masters"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) identity, as ``request.userInfo`` shows it."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out

    @property
    def anonymous(self) -> bool:
        return self.username == ANONYMOUS.username


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


def service_account(namespace: str, name: str) -> tuple[str, tuple[str, ...]]:
    """The user name and groups Kubernetes gives a ServiceAccount's tokens."""
    return f"{SA_PREFIX}{namespace}:{name}", ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenAuthenticator:
    """Bearer tokens → users. Tokens are random, minted here; only their digests are kept."""

    def __init__(self, path: pathlib.Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._users: dict[str, UserInfo] = {}
        self._seen: tuple[int, int] | None = None
        self._reload()

    @contextlib.contextmanager
    def _file_lock(self) -> Any:
        # Another process (``kuberun sandbox user``) may mint into the same file: lock read-modify-write.
        if self._path is None:
            yield
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _reload(self) -> None:
        """Read the token file if it changed since last read (a token minted by another process)."""
        if self._path is None or not self._path.exists():
            return
        st = self._path.stat()
        if self._seen == (st.st_mtime_ns, st.st_size):
            return
        users = {digest: UserInfo(e["username"], tuple(e.get("groups") or ()), e.get("uid", ""))
                 for digest, e in json.loads(self._path.read_text()).items()}
        self._users = users
        self._seen = (st.st_mtime_ns, st.st_size)

    def mint(self, username: str, groups: tuple[str, ...] | list[str] = ()) -> str:
        """A new token for ``username`` (in ``groups``); returned once, stored only as a digest."""
        if not username or username.startswith("system:anonymous") or username == AUTHENTICATED:
            raise ValueError(f"cannot mint a token for {username!r}")
        token = secrets.token_urlsafe(32)
        user = UserInfo(username, tuple(dict.fromkeys(groups)), str(uuid.uuid4()))
        with self._lock, self._file_lock():
            self._reload()
            self._users[_digest(token)] = user
            self._save()
        return token

    def revoke(self, token: str) -> bool:
        with self._lock, self._file_lock():
            self._reload()
            found = self._users.pop(_digest(token), None) is not None
            self._save()
        return found

    def authenticate(self, token: str) -> UserInfo | None:
        """The user of a known token, with ``system:authenticated`` added; None for an unknown one."""
        user = self._users.get(_digest(token))
        if user is None and self._path is not None:
            with self._lock:
                self._reload()
            user = self._users.get(_digest(token))
        if user is None:
            return None
        groups = user.groups if AUTHENTICATED in user.groups else (*user.groups, AUTHENTICATED)
        return UserInfo(user.username, groups, user.uid)

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        data = {d: {"username": u.username, "groups": list(u.groups), "uid": u.uid} for d, u in self._users.items()}
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self._path)
        st = self._path.stat()
        self._seen = (st.st_mtime_ns, st.st_size)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header ('' for a malformed header)."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
