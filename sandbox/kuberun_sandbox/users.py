"""Identities of a sandbox: its administrator, its components, and users minted on request.

A sandbox keeps bearer tokens only as digests in ``<data>/api/auth/tokens.json`` (0600); a token
appears in clear only in the kubeconfig written for its user (0600, one user per file). Minting
works in-process (``Sandbox.mint_user``) and from another process (``kuberun sandbox user``):
both append to the token file under a lock, and the running server reads it again when it meets a
token it does not know. A user minted with ``namespace`` gets the ``edit`` ClusterRole there (a
RoleBinding, created through the API as an administrator would) and that namespace as its
kubeconfig's default; groups are recorded with the token (``system:masters`` makes an admin).
"""

from __future__ import annotations

import asyncio
import base64
import pathlib
import re
import ssl

import yaml

from .apiserver.auth.authn import TokenAuthenticator
from .kubeconfig import CLUSTER, write_kubeconfig
from .rest import KubeError, Rest, path

ADMIN_GROUPS = ("system:masters",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,252}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class UserError(ValueError):
    """A user name, group or namespace that cannot be minted (the message says which)."""


def tokens_file(data_dir: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(data_dir) / "api" / "auth" / "tokens.json"


def kubeconfig_token(kubeconfig: pathlib.Path) -> str | None:
    """The token of a kubeconfig this module wrote, or None."""
    try:
        config = yaml.safe_load(kubeconfig.read_text())
        return str(config["users"][0]["user"]["token"])
    except (OSError, ValueError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None


def kubeconfig_ca(kubeconfig: pathlib.Path) -> str | None:
    """The CA (PEM) a kubeconfig this module wrote pins, or None."""
    try:
        data = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"].get("certificate-authority-data")
        return base64.b64decode(data).decode() if data else None
    except (OSError, ValueError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None


def admin_token(data_dir: pathlib.Path, kubeconfig: pathlib.Path) -> str:
    """The administrator's token: the one in ``kubeconfig`` while it is still valid, else a new one."""
    tokens = TokenAuthenticator(tokens_file(data_dir))
    token = kubeconfig_token(kubeconfig) if kubeconfig.exists() else None
    user = tokens.authenticate(token) if token else None
    if user is not None and user.username == CLUSTER and "system:masters" in user.groups:
        return str(token)
    return tokens.mint(CLUSTER, ADMIN_GROUPS)


def check_names(name: str, groups: tuple[str, ...], namespace: str | None) -> None:
    if not _NAME.match(name) or name.startswith("system:"):
        raise UserError(f"invalid user name {name!r}: letters, digits and @._:- only, not starting with 'system:'")
    for group in groups:
        if not _NAME.match(group) or group in ("system:authenticated", "system:unauthenticated"):
            raise UserError(f"invalid group {group!r}")
    if namespace is not None and not _DNS_LABEL.match(namespace):
        raise UserError(f"invalid namespace {namespace!r}: must be a DNS-1123 label")


async def grant_edit(server_url: str, admin: str | None, name: str, namespace: str, ca_pem: str | None = None, *,
                     ssl_context: ssl.SSLContext | None = None) -> None:
    """Create ``namespace`` if missing and bind ``name`` to the ``edit`` ClusterRole in it (as ``admin``'s token,
    or the client certificate in ``ssl_context``)."""
    async with Rest(server_url, admin, ca_pem, ssl_context=ssl_context) as rest:
        if await rest.get_or_none(path("", "v1", "namespaces", None, namespace)) is None:
            try:
                await rest.request("POST", path("", "v1", "namespaces"), {"metadata": {"name": namespace}})
            except KubeError as e:
                if e.code != 409:
                    raise
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": f"kuberun-user-{name}".replace(":", "-").replace("@", "-").lower()[:253]},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}]}
        try:
            await rest.request("POST", path("rbac.authorization.k8s.io", "v1", "rolebindings", namespace), binding)
        except KubeError as e:
            if e.code != 409:
                raise


def mint_user(data_dir: pathlib.Path, server_url: str, admin: str, name: str, groups: tuple[str, ...] = (),
              namespace: str | None = None, out: pathlib.Path | None = None, ca_pem: str | None = None) -> pathlib.Path:
    """Mint a token for ``name`` and write its kubeconfig (default ``<data>/users/<name>.kubeconfig``)."""
    check_names(name, tuple(groups), namespace)
    token = TokenAuthenticator(tokens_file(data_dir)).mint(name, groups)
    if namespace is not None:
        asyncio.run(grant_edit(server_url, admin, name, namespace, ca_pem))
    target = out or pathlib.Path(data_dir) / "users" / f"{name}.kubeconfig"
    return write_kubeconfig(target, server_url, namespace or "default", user=name, token=token, ca_pem=ca_pem)
