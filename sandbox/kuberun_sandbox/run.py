"""``Sandbox``: API server + sandbox node (+ the operator when installed), and ``kuberun sandbox``.

Example::

    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp, operator=True) as sb:
        print(sb.url, sb.kubeconfig)      # point kubectl / the SDK at sb.kubeconfig (the administrator)
        alice = sb.mint_user("alice", namespace="team-a")   # a kubeconfig for alice, edit in team-a

Every component has its own identity, as on a cluster: the administrator ``kuberun-sandbox``
(``system:masters``), the node ``system:node:<name>`` (``system:nodes``, bound to the node's role)
and the operator, the ServiceAccount ``kuberun-system/kuberun`` bound to the chart's RBAC rules —
so a rule the chart lacks fails the operator's request here too.

``control_plane="real"`` runs a real etcd, kube-apiserver and kube-controller-manager instead of the
emulator (``realmode.py``); ``"auto"`` does so when their binaries are installed. There, users are
client certificates from the control plane's CA, and the node and operator run as administrators.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from . import realmode, recordserver, users
from .kubeconfig import write_kubeconfig

T = TypeVar("T")

log = logging.getLogger("kuberun_sandbox")

DEFAULT_PORT = 6443
DEFAULT_DATA_DIR = pathlib.Path.home() / ".kuberun" / "sandbox"
CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class Sandbox:
    """A local control plane on 127.0.0.1, run on background threads; ``with`` starts and stops it."""

    def __init__(self, data_dir: pathlib.Path | str | None = None, port: int = 0, *, operator: bool = True,
                 complete_immediately: bool = False, host: str = "127.0.0.1", control_plane: str = "emulator",
                 durable: bool = False, audit: bool = False, submitter_policy: bool = True,
                 record_server: bool | None = None, node_process: bool = False) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="kuberun-sandbox-") if data_dir is None else None
        self.data_dir = pathlib.Path(self._tmp.name if self._tmp else data_dir).expanduser()  # type: ignore[arg-type]
        self.port, self.host = port, host
        self.want_operator, self.complete_immediately = operator, complete_immediately
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.operator_kubeconfig = self.data_dir / "operator.kubeconfig"
        self.archive_url = f"sqlite:///{self.data_dir / 'records' / 'archive.db'}"  # what the operator records into
        self.log_store_dir = self.data_dir / "records" / "logs"
        self.submitter_policy = submitter_policy
        self._admin_token = ""
        self._component_tokens: list[str] = []  # the node's and the operator's: revoked on stop
        self.operator_error: str | None = None   # why the operator is not running, if it is not
        self.control_plane_kind = realmode.resolve(control_plane)
        self.durable = durable             # real control plane: fsync etcd (the CLI); tests need not
        self.audit = audit                 # real control plane: keep the API server's audit log
        self.server: Any = None            # the emulator (control_plane "emulator")
        self.control_plane: Any = None     # realcp.ControlPlane (control_plane "real")
        self.node: Any = None              # the in-process SandboxNode, or (node_process) a nodeproc.NodeChild
        # The node in a process of its own (the CLI's choice): the API server and the node each get a
        # core, and the node can be killed and restarted alone (kill_node/start_node).
        self.node_process = node_process and self.control_plane_kind != "real"
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._operator_thread: threading.Thread | None = None
        self._operator_stop = threading.Event()
        # The operator's record server (logs, archive; recordserver.py): with the operator unless told.
        self.want_record_server = operator if record_server is None else record_server
        self.record_server: Any = None
        self.record_server_error: str | None = None

    @property
    def url(self) -> str:
        return str(self.control_plane.url if self.control_plane is not None else self.server.url)

    @property
    def operator_running(self) -> bool:
        return self._operator_thread is not None and self._operator_thread.is_alive()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- start/stop ------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start everything; raises ``ServerStartError`` (e.g. port busy) with nothing left running."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop.run_forever, name="kuberun-sandbox", daemon=True)
        self._thread.start()
        try:
            if self.control_plane_kind == "real":
                self.control_plane = realmode.start_control_plane(self.data_dir, self.host, self.port, self.durable,
                                                                 self.audit)
            asyncio.run_coroutine_threadsafe(self._start_async(), self._loop).result(timeout=60)
            if self.want_record_server:
                asyncio.run_coroutine_threadsafe(self._start_record_server(), self._loop).result(timeout=60)
        except BaseException:
            self.stop()
            raise
        if self.want_operator:
            self._start_operator()
        return self

    def stop(self) -> None:
        """Stop the operator, kill the node's processes, save the API server's state."""
        self._operator_stop.set()
        if self._operator_thread is not None:
            self._operator_thread.join(timeout=15)
        if self._thread is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._stop_async(), self._loop)
            try:
                future.result(timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
        if self.control_plane is not None:
            self.control_plane.stop()
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """``fn()`` run on the control plane's own thread, between its requests (the emulator's state is
        read there without a request's cost: benchmarks poll it so)."""
        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=timeout)

    def kill_node(self) -> None:
        """SIGKILL the node process (``node_process=True``): a crash; its task processes live on."""
        asyncio.run_coroutine_threadsafe(self.node.crash(), self._loop).result(timeout=30)

    def start_node(self) -> None:
        """Start the node process again (after ``kill_node``): it adopts what still runs."""
        asyncio.run_coroutine_threadsafe(self.node.start(), self._loop).result(timeout=90)

    def mint_user(self, name: str, groups: tuple[str, ...] | list[str] = (), namespace: str | None = None) -> pathlib.Path:
        """A kubeconfig (0600, one user) for a new identity ``name`` in ``groups``.

        With ``namespace``: the namespace exists, ``name`` may edit in it (ClusterRole ``edit``),
        and it is the kubeconfig's default namespace. Raises ``users.UserError`` for a bad name.
        """
        if self.control_plane is not None:
            return realmode.mint_user(self.control_plane, self.data_dir, name, tuple(groups), namespace)
        return users.mint_user(self.data_dir, self.url, self._admin_token, name, tuple(groups), namespace,
                               ca_pem=self.server.auth.ca_pem)

    async def _start_async(self) -> None:
        from .apiserver import ApiServer
        from .apiserver.auth import bootstrap, service_account
        from .node import NODE_NAME, SandboxNode
        from .rest import Rest

        if self.control_plane is not None:
            realmode.write_admin_kubeconfig(self.control_plane, self.kubeconfig)
            realmode.write_admin_kubeconfig(self.control_plane, self.operator_kubeconfig)
            self.node = realmode.node_for(self.control_plane, self.data_dir)
            await _install_crd(self.node.rest)
            await self.node.start()
            return
        self.server = ApiServer(data_dir=self.data_dir / "api")
        await self.server.start(self.host, self.port)
        auth = self.server.auth
        bootstrap.install_operator_rbac(self.server.store, self.server.registry)
        if self.submitter_policy:
            bootstrap.install_submitter_policy(self.server.store, self.server.registry)
        self._admin_token = users.admin_token(self.data_dir, self.kubeconfig)
        write_kubeconfig(self.kubeconfig, self.server.url, token=self._admin_token)
        operator_user, operator_groups = service_account(bootstrap.OPERATOR_NAMESPACE, bootstrap.OPERATOR_ACCOUNT)
        operator_token = auth.mint(operator_user, operator_groups)
        write_kubeconfig(self.operator_kubeconfig, self.server.url, user=operator_user, token=operator_token)
        node_token = auth.mint(f"system:node:{NODE_NAME}", ("system:nodes",))
        self._component_tokens = [operator_token, node_token]
        if self.node_process and not self.complete_immediately:
            from .nodelogs import FileLogs
            from .nodeproc import NodeChild

            self.node = NodeChild(self.server.url, node_token, auth.ca_pem, self.data_dir)
            self.server.set_log_provider(FileLogs(self.data_dir).logs)
            await self.node.spawn()  # its interpreter starts while the CRD is installed
        else:
            self.node = SandboxNode(self.server.url, self.data_dir, complete_immediately=self.complete_immediately,
                                    token=node_token)
            self.server.set_log_provider(self.node.logs)
        async with Rest(self.server.url, self._admin_token) as admin:
            await _install_crd(admin)
        await (self.node.ready() if self.node_process and not self.complete_immediately else self.node.start())

    async def _start_record_server(self) -> None:
        from .apiserver.auth import bootstrap
        from .rest import Rest

        try:
            import kuberun_operator.server  # noqa: F401
        except ImportError as e:
            self.record_server_error = f"the kuberun operator is not importable ({e}); no record server"
            log.warning("sandbox: %s", self.record_server_error)
            return
        admin = self.node.rest if self.control_plane is not None else Rest(self.server.url, self._admin_token)
        try:
            self.record_server = await recordserver.start(
                admin, self.operator_kubeconfig, self.data_dir, self.host, self.data_dir / "local",
                bootstrap.OPERATOR_NAMESPACE, bootstrap.OPERATOR_ACCOUNT, self.archive_url, self.log_store_dir)
        finally:
            if admin is not getattr(self.node, "rest", None):
                await admin.close()

    async def _stop_async(self) -> None:
        if self.record_server is not None:
            await self.record_server.stop()
            self.record_server = None
        if self.node is not None:
            await self.node.stop()
        if self.server is not None and self.server.port:
            for token in self._component_tokens:
                self.server.auth.tokens.revoke(token)
            await self.server.stop()

    def _start_operator(self) -> None:
        try:
            from kuberun_operator.app import run
            from kuberun_operator.settings import Settings
        except ImportError as e:
            self.operator_error = f"the kuberun operator is not importable ({e}); running without it"
            log.warning("sandbox: %s", self.operator_error)
            return
        records = self.data_dir / "records"  # the archive and archived logs: outlive objects, pods, the API server
        records.mkdir(parents=True, exist_ok=True)
        settings = Settings(kubeconfig=self.operator_kubeconfig, enable_local_executor=True, metrics_port=0,
                            default_image="sandbox/local", local_workdir=self.data_dir / "local",
                            archive_url=self.archive_url, log_store_url=str(self.log_store_dir))

        def main() -> None:
            try:
                asyncio.run(run(settings, stop_flag=self._operator_stop))
            except Exception:
                log.exception("sandbox: the operator stopped with an error")

        self._operator_thread = threading.Thread(target=main, name="kuberun-operator", daemon=True)
        self._operator_thread.start()


async def _install_crd(rest: Any) -> None:
    """Create the Experiment CRD unless it is there (a restarted sandbox keeps its own)."""
    from kuberun.resource.crd import build_crd

    crd = build_crd()
    crd_path = f"{CRDS_PATH}/{crd['metadata']['name']}"
    if await rest.get_or_none(crd_path) is None:
        await rest.request("POST", CRDS_PATH, crd)
    await realmode.wait_established(rest, crd_path)


# --- the command line ----------------------------------------------------------------------
def serve(port: int = DEFAULT_PORT, data_dir: pathlib.Path | str = DEFAULT_DATA_DIR, operator: bool = True,
          control_plane: str = "emulator") -> int:
    """``kuberun sandbox``: run until SIGINT/SIGTERM; 1 when the sandbox cannot start."""
    from .apiserver import ServerStartError
    from .realcp import BinariesMissing, ControlPlaneError

    _configure_logging()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sandbox = Sandbox(data_dir=data_dir, port=port, operator=operator, control_plane=control_plane, durable=True,
                          node_process=True)
        sandbox.start()
    except (ServerStartError, ControlPlaneError, BinariesMissing) as e:
        print(f"error: kuberun sandbox: {e}", file=sys.stderr)
        return 1
    _print_hint(sandbox)
    while not stop.wait(0.5):
        pass
    print("kuberun sandbox: stopping", flush=True)
    sandbox.stop()
    print("kuberun sandbox: stopped", flush=True)
    return 0


def _print_hint(sandbox: Sandbox) -> None:
    operator = "not running" if not sandbox.want_operator else ("running" if sandbox.operator_running else
                                                                  f"not running ({sandbox.operator_error})")
    kind = ("a real kube-apiserver, etcd and kube-controller-manager" if sandbox.control_plane is not None
            else "the kuberun API emulator")
    print(f"kuberun sandbox: API server at {sandbox.url} ({kind}; state in {sandbox.data_dir}); operator {operator}.\n"
          f"Point kubectl and the kuberun SDK at it with:\n\n"
          f"    export KUBECONFIG={sandbox.kubeconfig}\n\n"
          f"then e.g. `kubectl get experiments`. Ctrl-C stops the sandbox.", flush=True)
    if sandbox.record_server is not None:
        print(f"kuberun sandbox: record server (logs, archive) at {sandbox.record_server.url}, published in "
              f"ConfigMap kuberun-system/kuberun-endpoints.", flush=True)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kuberun").setLevel(logging.INFO)
