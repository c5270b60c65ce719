"""The kuberun sandbox: a local control plane (Kubernetes API emulator, sandbox node, operator).

Nothing heavy is imported here: ``Sandbox`` and ``SandboxNode`` load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .node import SandboxNode
    from .run import Sandbox

__all__ = ["Sandbox", "SandboxNode"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from .run import Sandbox

        return Sandbox
    if name == "SandboxNode":
        from .node import SandboxNode

        return SandboxNode
    raise AttributeError(name)
