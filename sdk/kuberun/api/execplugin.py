"""Exec credential plugins: how EKS (``aws eks get-token``), GKE (``gke-gcloud-auth-plugin``) and OIDC
(``kubelogin``) users authenticate, following client-go's protocol.

The kubeconfig names a command; kuberun runs it (argv as given, never through a shell) with
``KUBERNETES_EXEC_INFO`` describing the request, and reads an ``ExecCredential`` from its stdout: a
bearer token, or a client certificate and key, with an optional expiry. The credential is reused
until it expires or the server answers 401, then the plugin runs again. Its stderr passes through
(plugins print login prompts there); stdin is the terminal only when the plugin may be interactive.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kuberun.errors import UnreachableError
from kuberun.resource.times import parse_time, utcnow

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1",
                "client.authentication.k8s.io/v1alpha1")
TIMEOUT = 120.0  # seconds a plugin may take (an interactive login included) before kuberun gives up
EXPIRY_MARGIN = timedelta(seconds=10)


@dataclass
class ExecCredential:
    """What a plugin returned: a token, or a client certificate and key (PEM), and when it expires."""

    token: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    expires: datetime | None = None

    def expired(self) -> bool:
        return self.expires is not None and utcnow() + EXPIRY_MARGIN >= self.expires


@dataclass
class ExecPlugin:
    """A kubeconfig ``users[].user.exec`` stanza, ready to run."""

    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    api_version: str = API_VERSIONS[0]
    interactive_mode: str = "IfAvailable"
    install_hint: str | None = None
    cluster: dict[str, Any] | None = None  # given to the plugin when provideClusterInfo is set
    _cached: ExecCredential | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_kubeconfig(cls, stanza: dict[str, Any], base: Path, cluster: dict[str, Any] | None) -> ExecPlugin:
        command = str(stanza.get("command") or "")
        if not command:
            raise UnreachableError("the kubeconfig's exec credential plugin names no command")
        if os.sep in command and not os.path.isabs(command):  # relative to the kubeconfig, as in client-go
            command = str((base / command).resolve())
        version = str(stanza.get("apiVersion") or "")
        if version not in API_VERSIONS:
            raise UnreachableError(f"exec credential plugin {command!r}: unsupported apiVersion {version!r} "
                                   f"(kuberun speaks {', '.join(API_VERSIONS)})")
        env = {str(e.get("name")): str(e.get("value", "")) for e in stanza.get("env") or []}
        return cls(command=command, args=[str(a) for a in stanza.get("args") or []], env=env, api_version=version,
                   interactive_mode=str(stanza.get("interactiveMode") or "IfAvailable"),
                   install_hint=stanza.get("installHint"), cluster=cluster)

    def credential(self, refresh: bool = False) -> ExecCredential:
        """The cached credential, or a fresh one if it expired, was refused (``refresh``) or never ran."""
        if refresh or self._cached is None or self._cached.expired():
            self._cached = self._run()
        return self._cached

    def _interactive(self) -> bool:
        if self.interactive_mode == "Never":
            return False
        return sys.stdin is not None and sys.stdin.isatty()

    def _exec_info(self, interactive: bool) -> str:
        spec: dict[str, Any] = {"interactive": interactive}
        if self.cluster is not None:
            spec["cluster"] = {k: v for k, v in {
                "server": self.cluster.get("server"),
                "tls-server-name": self.cluster.get("tls-server-name"),
                "insecure-skip-tls-verify": self.cluster.get("insecure-skip-tls-verify"),
                "certificate-authority-data": self.cluster.get("certificate-authority-data"),
                "proxy-url": self.cluster.get("proxy-url"),
                "config": (self.cluster.get("extensions") or [{}])[0].get("extension")
                if self.cluster.get("extensions") else None,
            }.items() if v is not None}
        return json.dumps({"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})

    def _run(self) -> ExecCredential:
        interactive = self._interactive()
        if self.interactive_mode == "Always" and not interactive:
            raise UnreachableError(f"exec credential plugin {self.command!r} needs a terminal (interactiveMode: Always)")
        import subprocess  # only when a plugin runs: not on every kubeconfig read

        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": self._exec_info(interactive)}
        try:
            done = subprocess.run([self.command, *self.args], env=env, stdout=subprocess.PIPE, timeout=TIMEOUT,
                                  stdin=None if interactive else subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            hint = f" ({self.install_hint.strip()})" if self.install_hint else ""
            raise UnreachableError(f"exec credential plugin {self.command!r} is not installed{hint}") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UnreachableError(f"exec credential plugin {self.command!r} failed: {exc}") from None
        if done.returncode != 0:
            raise UnreachableError(f"exec credential plugin {self.command!r} exited with {done.returncode}")
        return parse_credential(done.stdout, self.command)


def parse_credential(output: bytes, command: str = "plugin") -> ExecCredential:
    """An ExecCredential from a plugin's stdout. Raises UnreachableError naming what is missing."""
    try:
        doc = json.loads(output)
        status = doc.get("status") or {}
    except (ValueError, AttributeError):
        raise UnreachableError(f"exec credential plugin {command!r} printed no ExecCredential JSON") from None
    expires = None
    if status.get("expirationTimestamp"):
        try:
            expires = parse_time(status["expirationTimestamp"])
        except ValueError:
            raise UnreachableError(f"exec credential plugin {command!r}: bad expirationTimestamp") from None
    cred = ExecCredential(token=status.get("token") or None, client_certificate=status.get("clientCertificateData") or None,
                          client_key=status.get("clientKeyData") or None, expires=expires)
    if not cred.token and not (cred.client_certificate and cred.client_key):
        raise UnreachableError(f"exec credential plugin {command!r} returned neither a token nor a client certificate and key")
    return cred
