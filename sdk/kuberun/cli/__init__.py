"""``kr.cli``: NeMo Run's ``run.cli`` namespace — ``entrypoint``, ``factory``, ``main`` and the rest.

NeMo Run users write ``@run.cli.entrypoint`` and ``run.cli.main(fn)``; with ``import kuberun as run``
the same lines must work, so ``kuberun.cli`` is this namespace and the ``kuberun`` command line (the
typer app) lives in ``kuberun.commandline``. ``python -m kuberun.cli`` still runs the command line
(``__main__.py``), so scripts written against the old module path keep working.

Names resolve lazily (PEP 562): importing ``kuberun.cli`` loads neither Fiddle nor pydantic until
an entrypoint is used, which keeps ``kuberun --help`` instant.

Example::

    import kuberun as run

    @run.cli.factory
    def small_model() -> run.Config[Model]:
        return run.Config(Model, depth=2)

    @run.cli.entrypoint
    def train(model: Model, lr: float = 1e-3): ...

    if __name__ == "__main__":
        run.cli.main(train)
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULE = "kuberun.entrypoints"  # its ``__all__`` is this namespace's: one list, read when first needed


def __getattr__(name: str) -> Any:
    module = importlib.import_module(_MODULE)
    if name == "__all__":  # ``from kuberun.cli import *``
        return list(module.__all__)
    if name not in module.__all__:
        raise AttributeError(f"module 'kuberun.cli' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *importlib.import_module(_MODULE).__all__})
