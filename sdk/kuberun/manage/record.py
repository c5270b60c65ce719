"""A recorded task config as data: load it, change it, encode it again, without importing its code.

A stored Experiment is written by whoever may create Experiments in the namespace, so its configs
name modules that may not exist here, or exist and do harm when imported (the source it ships
runs at import). Reproduce therefore never imports from a record unless the user passes an
explicit flag: every callable the config names whose module is not already loaded in this
process is replaced, for the duration of the load, by an inert stand-in — a function that accepts
any arguments and raises if called — in a synthetic module of the same name. Fiddle then builds
the usual live buildables (so the override grammar and the path errors are the same as for a live
config), and serializing them writes the same pyrefs back. Nothing is ever built here.

What the stand-ins cannot do is check a value against the real signature: an unknown argument is
accepted and the runner reports it when it builds the task (the task fails with the callable's own
``TypeError``). With ``allow_import=True`` (``kuberun reproduce --import-code``) the real modules
are imported instead and arguments are checked here; the shipped script sources are then written
to a temporary directory and imported as the runner would.

The shipped sources (the envelope's ``modules``) are carried to the new config unchanged, after
their names are checked (``serialization.load_modules``' rule: a plain identifier).
"""

from __future__ import annotations

import contextlib
import json
import keyword
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kuberun.errors import ConfigIntegrityError

_LOCK = threading.RLock()  # sys.modules is process-wide: one stand-in load at a time


def _pyrefs(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if node.get("type") == "pyref" and isinstance(node.get("module"), str) and isinstance(node.get("name"), str):
            yield node["module"], node["name"]
        for value in node.values():
            yield from _pyrefs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pyrefs(value)


def _valid_module(name: str) -> bool:
    return bool(name) and all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def check_module_names(envelope: dict[str, Any]) -> None:
    """Refuse shipped module names that are not plain identifiers (``../x``, ``a/b``, ``os.path``)."""
    for name in envelope.get("modules") or {}:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ConfigIntegrityError(f"shipped module name {name!r} is not a Python identifier; the record is corrupt or hostile")
    for module, _ in _pyrefs(envelope.get("config")):
        if not _valid_module(module):
            raise ConfigIntegrityError(f"config names module {module!r}, which is not a dotted Python name; the record is corrupt or hostile")


def _stand_in(module: str, qualname: str) -> Any:
    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{module}:{qualname} is a stand-in for code in a record; it is never called here")

    stand_in.__module__, stand_in.__qualname__, stand_in.__name__ = module, qualname, qualname.rsplit(".", 1)[-1]
    return stand_in


@contextlib.contextmanager
def stand_ins(config: Any) -> Iterator[list[str]]:
    """Synthetic modules for every pyref'd module not loaded yet; yields their names, removes them after."""
    added: dict[str, types.ModuleType] = {}
    for module, name in _pyrefs(config):
        if module in sys.modules and module not in added:
            continue
        if "." in name:
            raise ConfigIntegrityError(f"config names {module}:{name}, a nested callable; reproduce it with --import-code")
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # parents too: fiddle's import_module walks them
            prefix = ".".join(parts[:i])
            if prefix not in sys.modules and prefix not in added:
                added[prefix] = types.ModuleType(prefix, "kuberun: stand-in for a module named by a record")
        target = added.get(module)
        if target is not None and not hasattr(target, name):
            setattr(target, name, _stand_in(module, name))
    with _LOCK:
        for name, mod in added.items():
            sys.modules[name] = mod
        try:
            yield sorted(added)
        finally:
            for name in added:
                if sys.modules.get(name) is added[name]:
                    del sys.modules[name]


@contextlib.contextmanager
def loaded(envelopes: list[dict[str, Any]], *, allow_import: bool = False) -> Iterator[list[Any]]:
    """The live buildables of decoded envelopes (``serialization.decode_envelope``), importing nothing unless allowed.

    Change them and call ``dump`` inside the ``with``: the stand-ins they refer to exist only there.
    """
    from fiddle.experimental import serialization as fdl_serialization

    for envelope in envelopes:
        check_module_names(envelope)
    if allow_import:
        from kuberun.serialization import load_modules

        with tempfile.TemporaryDirectory(prefix="kuberun-modules-") as tmp:
            for envelope in envelopes:
                if envelope.get("modules"):
                    load_modules(envelope["modules"], Path(tmp))
            yield [fdl_serialization.load_json(json.dumps(e["config"])) for e in envelopes]
        return
    with stand_ins([e["config"] for e in envelopes]):
        try:
            buildables = [fdl_serialization.load_json(json.dumps(e["config"])) for e in envelopes]
        except ConfigIntegrityError:
            raise
        except Exception as exc:
            raise ConfigIntegrityError(f"the recorded config does not load as data: {type(exc).__name__}: {exc}") from None
        yield buildables


def dump(buildable: Any, envelope: dict[str, Any]) -> dict[str, Any]:
    """A new envelope: ``buildable`` serialized, the shipped modules of ``envelope`` carried over."""
    from fiddle.experimental import serialization as fdl_serialization

    config = json.loads(fdl_serialization.dump_json(buildable))
    return {"config": config, "modules": dict(envelope.get("modules") or {})}
