"""A Kubernetes API server emulator over real HTTP on 127.0.0.1, for the sandbox and the tests.

Example::

    from kuberun_sandbox.apiserver import run_in_thread

    with run_in_thread() as server:
        print(server.url)          # http://127.0.0.1:PORT — point kubectl or the kubernetes client here
"""

from __future__ import annotations

from .faults import Fault, RequestRecord
from .server import ApiServer, LogProvider, ServerStartError
from .threaded import run_in_thread

__all__ = ["ApiServer", "Fault", "LogProvider", "RequestRecord", "ServerStartError", "run_in_thread"]
