"""Commands that other kuberun packages add to the ``kuberun`` CLI, found through entry points.

The SDK must not import the sandbox or the operator (they import it), yet ``kuberun sandbox`` is a
command users expect beside ``kuberun list``. The sandbox package therefore registers its command in
the ``kuberun.commands`` entry-point group, and the CLI resolves it only when that command runs — so
``kuberun --help`` pays nothing, and a missing extra is one clear sentence instead of an ImportError.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from kuberun.errors import KuberunError

GROUP = "kuberun.commands"
# Which extra provides each known command, for the error message when it is missing.
PROVIDERS = {"sandbox": "kuberun[sandbox]", "ui": "kuberun[ui]"}


def load_command(name: str) -> Callable[[list[str]], int]:
    """The ``main(argv) -> exit code`` registered for ``kuberun NAME``."""
    found = entry_points(group=GROUP, name=name)
    if not found:
        raise KuberunError(f"'kuberun {name}' is not installed: pip install '{PROVIDERS.get(name, 'kuberun')}'")
    (entry,) = tuple(found)[:1]
    try:
        return entry.load()
    except ImportError as e:
        raise KuberunError(f"'kuberun {name}' cannot start: {e} (pip install '{PROVIDERS.get(name, 'kuberun')}')") from e
