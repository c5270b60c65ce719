"""``ControlPlane``: etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, started and stopped as one.

What a default cluster has, so that what passes here passes there: TLS from a generated CA, users
as client certificates, ``Node,RBAC`` authorization, the default admission plugins (Pod Security and
ValidatingAdmissionPolicy included), a service-account issuer and signing key, and the controllers
a Job's life depends on (job, garbage collector, namespace, service accounts and their tokens,
ttl-after-finished, root CA publisher, resource quota, pod GC, ClusterRole aggregation). The
controller manager runs each controller under its own service account
(``--use-service-account-credentials``), as kubeadm sets it up.

Left out on purpose: scheduler and kubelet (the sandbox node plays both), Deployment/ReplicaSet
controllers (their pods would run as local processes, e.g. a second operator from the Helm chart),
cloud and node-lifecycle controllers (no heartbeats needed from the sandbox node).

etcd listens on loopback without TLS: only this machine's processes reach it, inside the test's
network namespace only the test does, and TLS there would buy nothing the API server's TLS does not.
"""

from __future__ import annotations

import json
import pathlib
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any

from . import pki
from .binaries import Binaries, find_binaries
from .daemons import Daemon, DaemonExited, free_port, wait_until
from .kubeconfigs import write_kubeconfig

CONTROLLERS = ("job-controller", "garbage-collector-controller", "namespace-controller", "serviceaccount-controller",
               "serviceaccount-token-controller", "ttl-after-finished-controller",
               "root-ca-certificate-publisher-controller", "resourcequota-controller",
               "pod-garbage-collector-controller", "clusterrole-aggregation-controller")
ADMISSION = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "TaintNodesByCondition", "PodSecurity", "Priority",
             "DefaultTolerationSeconds", "DefaultStorageClass", "StorageObjectInUseProtection",
             "PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval", "CertificateSigning",
             "ClusterTrustBundleAttest", "CertificateSubjectRestriction", "DefaultIngressClass", "NodeRestriction",
             "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
             "ValidatingAdmissionWebhook", "ResourceQuota")
SERVICE_CIDR = "10.96.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN = "kuberun-admin"
START_TIMEOUT = 90.0
# Every request with its user and user agent, for tests that compare what a client did with what
# RBAC grants (the audit log is the real server's counterpart of the emulator's request log).
AUDIT_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
                "rules": [{"level": "Metadata"}]}


class ControlPlaneError(RuntimeError):
    """The control plane could not start; the message has the failing daemon's last log lines."""


class ControlPlane:
    """A real control plane in ``workdir`` (a temporary directory when None); ``with`` starts and stops it.

    ``port`` 0 picks a free one. ``durable=False`` (tests) runs etcd without fsync; ``audit=True``
    writes the API server's audit log to ``audit_log``.
    """

    def __init__(self, binaries: Binaries | None = None, workdir: pathlib.Path | str | None = None, *,
                 port: int = 0, host: str = "127.0.0.1", durable: bool = False, audit: bool = False) -> None:
        self.binaries = binaries or find_binaries()
        self._tmp = tempfile.TemporaryDirectory(prefix="kuberun-realcp-") if workdir is None else None
        self.workdir = pathlib.Path(self._tmp.name if self._tmp else workdir)  # type: ignore[arg-type]
        self.host, self.port, self.durable, self.audit = host, port, durable, audit
        self.pki_dir = self.workdir / "pki"
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.audit_log = self.workdir / "logs" / "audit.log"
        self.daemons: list[Daemon] = []
        self.timings: dict[str, float] = {}
        self.ca: pki.CertificateAuthority | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_path(self) -> pathlib.Path:
        return self.pki_dir / "ca.crt"

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- start/stop ------------------------------------------------------------------------
    def start(self) -> ControlPlane:
        """Start etcd, the API server and the controller manager; returns once a namespace is usable."""
        started = time.monotonic()
        try:
            self._start()
        except (DaemonExited, TimeoutError) as e:
            self.stop()
            raise ControlPlaneError(str(e)) from None
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every daemon (controller manager first, etcd last) and wait for each."""
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons = []
        if self._tmp is not None:
            self._tmp.cleanup()

    def _start(self) -> None:
        t = time.monotonic()
        self.ca = pki.CertificateAuthority(self.pki_dir)
        serving = self.ca.issue("apiserver", "kube-apiserver", server=True,
                               hosts=(self.host, "localhost", "kubernetes", "kubernetes.default",
                                      "kubernetes.default.svc", "10.96.0.1"))
        kubelet_client = self.ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", client=True)
        sa = pki.service_account_key(self.pki_dir)
        self.port = self.port or free_port(self.host)
        self.user_kubeconfig(ADMIN, ("system:masters",), path=self.admin_kubeconfig)
        kcm_config = self.user_kubeconfig("system:kube-controller-manager", (),
                                          path=self.workdir / "controller-manager.kubeconfig")
        self.timings["pki"] = time.monotonic() - t

        etcd_url = self._start_etcd()
        self._start_apiserver(etcd_url, serving, kubelet_client, sa)
        self._start_controller_manager(kcm_config, sa)

    def _start_etcd(self) -> str:
        client_port, peer_port = free_port(self.host), free_port(self.host)
        client, peer = f"http://{self.host}:{client_port}", f"http://{self.host}:{peer_port}"
        argv = [str(self.binaries.etcd), "--name", "kuberun", "--data-dir", str(self.workdir / "etcd"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"kuberun={peer}", "--log-level", "warn"]
        if not self.durable:
            argv.append("--unsafe-no-fsync")  # a test's data lives in a temporary directory anyway
        etcd = self._daemon("etcd", argv)
        self.timings["etcd"] = wait_until(lambda: _http_ok(f"{client}/health"), START_TIMEOUT, "etcd", [etcd])
        return client

    def _start_apiserver(self, etcd_url: str, serving: pki.KeyPair, kubelet_client: pki.KeyPair,
                         sa: pki.KeyPair) -> None:
        argv = [str(self.binaries.kube_apiserver), f"--etcd-servers={etcd_url}",
                f"--bind-address={self.host}", f"--advertise-address={self.host}", f"--secure-port={self.port}",
                f"--cert-dir={self.pki_dir}", f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}", f"--client-ca-file={self.ca_path}",
                f"--service-account-issuer={ISSUER}", f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}", f"--api-audiences={ISSUER}",
                "--authorization-mode=Node,RBAC", f"--enable-admission-plugins={','.join(ADMISSION)}",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
                # Logs and exec go to the sandbox node's kubelet endpoint, whose certificate this CA
                # signed: verified like a kubelet serving certificate, never insecure TLS.
                f"--kubelet-certificate-authority={self.ca_path}", f"--kubelet-client-certificate={kubelet_client.cert}",
                f"--kubelet-client-key={kubelet_client.key}", "--kubelet-preferred-address-types=InternalIP",
                # The `kubernetes` Service's endpoints cannot hold a loopback address (validation refuses it).
                "--endpoint-reconciler-type=none", "--profiling=false", "--v=1"]
        if self.audit:
            policy = self.workdir / "audit-policy.json"
            policy.write_text(json.dumps(AUDIT_POLICY))
            argv += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
                     "--audit-log-format=json", "--audit-log-mode=blocking"]
        self._daemon("kube-apiserver", argv)
        context = self.ssl_context(ADMIN)
        self.timings["kube-apiserver"] = wait_until(lambda: _http_ok(f"{self.url}/readyz", context),
                                                    START_TIMEOUT, "kube-apiserver", self.daemons)

    def _start_controller_manager(self, kubeconfig: pathlib.Path, sa: pki.KeyPair) -> None:
        argv = [str(self.binaries.kube_controller_manager), f"--kubeconfig={kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}", "--use-service-account-credentials=true",
                f"--service-account-private-key-file={sa.key}", f"--root-ca-file={self.ca_path}",
                "--leader-elect=false", "--secure-port=0", "--kube-api-qps=100", "--kube-api-burst=200",
                "--v=1"]
        self._daemon("kube-controller-manager", argv)
        # Ready for pods once the serviceaccount controller made `default`'s account (pods need it).
        context = self.ssl_context(ADMIN)
        self.timings["kube-controller-manager"] = wait_until(
            lambda: _http_ok(f"{self.url}/api/v1/namespaces/default/serviceaccounts/default", context),
            START_TIMEOUT, "kube-controller-manager", self.daemons)

    def _daemon(self, name: str, argv: list[str]) -> Daemon:
        daemon = Daemon(name, argv, self.workdir / "logs" / f"{name}.log").start()
        self.daemons.append(daemon)
        return daemon

    # --- users -----------------------------------------------------------------------------
    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = (), *, path: pathlib.Path | None = None,
                        namespace: str = "default") -> pathlib.Path:
        """A kubeconfig (mode 0600) for a client certificate of ``user`` in ``groups``."""
        if self.ca is None:
            raise ControlPlaneError("the control plane has not been started")
        pair = self.ca.issue(f"user-{_file_safe(user)}", user, groups=groups, client=True)
        path = path or self.workdir / "users" / f"{_file_safe(user)}.kubeconfig"
        return write_kubeconfig(path, self.url, self.ca_path, pair, user=user, namespace=namespace)

    def issue_serving_cert(self, name: str, hosts: tuple[str, ...]) -> pki.KeyPair:
        """A serving certificate the API server trusts (for the sandbox node's kubelet endpoint)."""
        if self.ca is None:
            raise ControlPlaneError("the control plane has not been started")
        return self.ca.issue(name, name, server=True, hosts=hosts)

    def ssl_context(self, user: str = ADMIN) -> ssl.SSLContext:
        """A client TLS context for ``user`` (whose certificate ``user_kubeconfig`` issued)."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        name = _file_safe(user)
        context.load_cert_chain(self.pki_dir / f"user-{name}.crt", self.pki_dir / f"user-{name}.key")
        return context

    def audit_events(self) -> list[dict[str, Any]]:
        """The audit log's events so far (``audit=True`` only)."""
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]


def _file_safe(user: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in user)


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    # No proxy handler: a proxy in the environment must not capture loopback requests.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False

