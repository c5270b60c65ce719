"""``module:entrypoint`` to a function: what ``kuberun run`` imports (the user's own code, on purpose).

The target is the user's own project, named on their command line, so importing it is what they
asked for (unlike a stored record, which reproduce never imports). ``pkg.mod:fn`` is imported with
the working directory first on ``sys.path``; ``path/to/file.py:fn`` with the file's directory and
the file's stem as the module name, so the task a run submits names an importable module (as a
packager ships it). Without ``:fn`` the module must hold exactly one ``@entrypoint``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kuberun.entrypoints.entrypoint import list_entrypoints
from kuberun.entrypoints.errors import CLIError


def load_target(target: str) -> Callable[..., Any]:
    """The function ``target`` names. Raises CLIError naming what is wrong."""
    module_part, sep, fn_name = target.partition(":")
    if not module_part:
        raise CLIError("expected MODULE:ENTRYPOINT (e.g. recipes.train:train or train.py:train)", target)
    if module_part.endswith(".py"):
        path = Path(module_part).resolve()
        if not path.is_file():
            raise CLIError(f"no such file {module_part}", target)
        if not path.stem.isidentifier():
            raise CLIError(f"{path.name}: a file name must be a Python identifier to be importable", target)
        directory, module_name = str(path.parent), path.stem
    else:
        directory, module_name = str(Path.cwd()), module_part
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CLIError(f"cannot import {module_name}: {exc}", target) from None
    if sep:
        fn = getattr(module, fn_name, None)
        if not callable(fn):
            raise CLIError(f"{module_name} has no function {fn_name!r}", target)
        return fn
    found = list_entrypoints(module.__name__).get(module.__name__, {})
    if len(found) != 1:
        names = ", ".join(sorted(found)) or "none"
        raise CLIError(f"{module_name} has {len(found)} @entrypoint functions ({names}): name one as {module_part}:NAME", target)
    return next(iter(found.values())).fn
