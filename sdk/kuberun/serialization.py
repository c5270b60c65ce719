"""Task configs on the wire: Fiddle JSON, zlib-compressed, base64, with a sha256 digest.

The encoded payload is a small JSON envelope: ``{"config": <Fiddle JSON>, "modules": {...}}``.
``modules`` carries the source of the user's ``__main__`` script when the config references
callables defined there (as NeMo Run examples do), so the runner can import them anywhere
without the script being baked into the task image. The SDK checks the round trip before
emitting; the runner verifies the digest before building.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import keyword
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from kuberun.errors import ConfigIntegrityError, ConfigSerializationError, ConfigTooLargeError
from kuberun.resource.constants import CHUNK_SIZE, HARD_LIMIT

MAIN_SOURCE_LIMIT = 256 * 1024


class EncodedConfig(NamedTuple):
    """A serialized buildable: the encoded text, its digest, and what it builds.

    A NamedTuple: ``kuberun describe`` decodes configs with this module, and ``dataclasses`` would
    load ``inspect`` (start-up time)."""

    data: str
    sha256: str
    target: str | None

    @property
    def size(self) -> int:
        return len(self.data)

    def chunks(self, size: int = CHUNK_SIZE) -> list[str]:
        return [self.data[i : i + size] for i in range(0, len(self.data), size)] or [""]


def digest(data: str) -> str:
    return hashlib.sha256(data.encode("ascii")).hexdigest()


def describe_target(buildable: Any, main_name: str | None = None) -> str | None:
    import fiddle as fdl

    fn = fdl.get_callable(buildable)
    module = getattr(fn, "__module__", None)
    if module == "__main__" and main_name:
        module = main_name
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"{type(buildable).__name__}[{module}:{name}]" if module and name else None


def _main_module() -> tuple[str, str] | None:
    """(import name, source) of the running ``__main__`` script, if it is a file."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path or not Path(path).is_file() or not Path(path).stem.isidentifier():
        return None
    return Path(path).stem, Path(path).read_text()


def _rewrite_main(node: Any, name: str) -> bool:
    """Point pyrefs at ``__main__`` to ``name``, in place; True if any was found."""
    found = False
    if isinstance(node, dict):
        if node.get("type") == "pyref" and node.get("module") == "__main__":
            node["module"] = name
            found = True
        for value in node.values():
            found = _rewrite_main(value, name) or found
    elif isinstance(node, list):
        for value in node:
            found = _rewrite_main(value, name) or found
    return found


@contextlib.contextmanager
def _alias_main(name: str) -> Iterator[None]:
    # The round-trip check must resolve `name` to the already-running script, not execute it again.
    added = name not in sys.modules
    if added:
        sys.modules[name] = sys.modules["__main__"]
    try:
        yield
    finally:
        if added:
            del sys.modules[name]


def encode_config(buildable: Any, task: str = "?", shipped: dict[str, str] | None = None) -> EncodedConfig:
    """Serialize a Fiddle buildable; refuse what would not come back identical or is too large.

    ``shipped``: script sources that already travel with this config (read back from a stored
    Experiment), kept in the new envelope so the runner can still import them.
    """
    from fiddle.experimental import serialization

    from kuberun.configure import to_plain_fiddle

    plain = to_plain_fiddle(buildable)
    try:
        config = json.loads(serialization.dump_json(plain))
    except Exception as exc:  # fiddle raises several unrelated types for unserializable values
        raise ConfigSerializationError(task, f"config cannot be serialized: {_explain(exc)}") from exc
    modules: dict[str, str] = dict(shipped or {})
    main = _main_module()
    if main and _rewrite_main(config, main[0]):
        if len(main[1]) > MAIN_SOURCE_LIMIT:
            raise ConfigSerializationError(task, "config uses callables from a script over 256 KiB; move them into an importable module")
        modules[main[0]] = main[1]
    text = json.dumps(config, sort_keys=True)
    with _alias_main(main[0]) if modules and main else contextlib.nullcontext():
        try:
            reloaded = json.loads(serialization.dump_json(serialization.load_json(text)))
            if modules and main:
                _rewrite_main(reloaded, main[0])
            again = json.dumps(reloaded, sort_keys=True)
        except Exception as exc:
            raise ConfigSerializationError(task, f"config does not load back after serialization: {_explain(exc)}") from exc
    if again != text:
        raise ConfigSerializationError(task, "config changes in a serialization round trip; use plain values and importable callables")
    envelope = json.dumps({"config": config, "modules": modules}, sort_keys=True)
    data = base64.b64encode(zlib.compress(envelope.encode("utf-8"), 9)).decode("ascii")
    if len(data) > HARD_LIMIT:
        raise ConfigTooLargeError(
            task,
            f"serialized config is {len(data) / 2**20:.1f} MiB (compressed), over the {HARD_LIMIT // 2**20} MiB limit; "
            "keep large data (weights, datasets, tables) in storage and pass its path in the config",
        )
    return EncodedConfig(data=data, sha256=digest(data), target=describe_target(plain, main[0] if main else None))


def decode_envelope(data: str, sha256: str | None = None) -> dict[str, Any]:
    """The ``{"config", "modules"}`` envelope inside encoded data, after checking its digest."""
    if sha256 is not None and digest(data) != sha256:
        raise ConfigIntegrityError(f"config digest mismatch: expected {sha256}, got {digest(data)}")
    try:
        envelope = json.loads(zlib.decompress(base64.b64decode(data, validate=True)).decode("utf-8"))
    except (ValueError, zlib.error) as exc:
        raise ConfigIntegrityError(f"config is not valid fiddle-json+zlib+base64: {exc}") from exc
    if not isinstance(envelope, dict) or "config" not in envelope:
        raise ConfigIntegrityError("config envelope has no 'config'")
    return envelope


def load_modules(modules: dict[str, str], into: Path) -> None:
    """Write shipped script modules under ``into`` and make them importable.

    The names come from a stored record that anyone allowed to write it may have crafted: each must be
    a plain Python identifier (no dots, separators or ``..``), so nothing is written outside ``into``.
    """
    for name in modules:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ConfigIntegrityError(f"shipped module name {name!r} is not a Python identifier; the record is corrupt")
    into.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (into / f"{name}.py").write_text(source)
    if str(into) not in sys.path:
        sys.path.insert(0, str(into))


def decode_config(data: str, sha256: str | None = None, modules_dir: Path | None = None) -> Any:
    """The Fiddle buildable inside encoded data.

    Shipped modules are written to and imported from ``modules_dir``, which the caller owns (and removes
    when done); a config that ships modules without one is refused rather than leaving a directory behind.
    """
    from fiddle.experimental import serialization

    envelope = decode_envelope(data, sha256)
    if envelope.get("modules"):
        if modules_dir is None:
            raise ConfigIntegrityError(f"config ships modules ({', '.join(envelope['modules'])}): give a modules_dir")
        load_modules(envelope["modules"], modules_dir)
    return serialization.load_json(json.dumps(envelope["config"]))


def _explain(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "lambda" in text or "<locals>" in text:
        text += " (lambdas and functions defined inside functions cannot be imported by the runner; define them at module level)"
    return f"{type(exc).__name__}: {text}"
