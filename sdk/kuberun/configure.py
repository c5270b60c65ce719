"""Configure: Fiddle buildables and scripts, as in NeMo Run.

``kr.Config`` and ``kr.Partial`` *are* Fiddle's ``fdl.Config`` and ``fdl.Partial``, so a config
serialized by kuberun names only Fiddle and the user's own callables, and any ``fdl.Buildable`` —
a ``nemo_run.Config`` included — is accepted (converted to plain Fiddle before serialization, so
the task image needs neither NeMo Run nor kuberun's SDK beyond the runner).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fiddle as fdl
from fiddle import daglish

from kuberun.resource.spec import ScriptSource

Config = fdl.Config
Partial = fdl.Partial
Buildable = fdl.Buildable

_ENTRYPOINTS = {".sh": "bash", ".bash": "bash", ".py": "python"}


def _fiddle_base(buildable: fdl.Buildable) -> type:
    """The first class in the MRO that belongs to Fiddle itself (Config, Partial, ArgFactory...)."""
    for cls in type(buildable).__mro__:
        if cls.__module__.startswith("fiddle."):
            return cls
    raise TypeError(f"{type(buildable).__name__} is not a Fiddle buildable")


def to_plain_fiddle(value: Any) -> Any:
    """Deep-convert subclasses of Fiddle buildables (e.g. ``nemo_run.Config``) to Fiddle's own types."""

    def traverse(node: Any, state: daglish.State) -> Any:
        # Cast first, shallowly: subclasses may not rebuild through Fiddle's traverser metadata.
        # (Not fdl.cast, which logs a warning for every conversion it was not told about.)
        if isinstance(node, fdl.Buildable) and type(node) is not _fiddle_base(node):
            node = _fiddle_base(node).__unflatten__(*node.__flatten__())
        return state.map_children(node) if state.is_traversable(node) else node

    return daglish.MemoizedTraversal.run(traverse, value)


@dataclass
class Script:
    """A command or an inline script to run as a task, like NeMo Run's ``run.Script``.

    Examples::

        kr.Script(command=["python", "train.py", "--lr", "3e-4"])
        kr.Script(inline="echo hello from $KUBERUN_TASK")
        kr.Script(path="scripts/prepare.sh", args=["--fast"])   # the file's text is shipped inline
        kr.Script("scripts/prepare.sh")                          # NeMo Run's order: path, then inline
        kr.Script("trainer.main", m=True)                        # python -m trainer.main

    Positional arguments follow NeMo Run's ``run.Script(path, inline, ...)``, so NeMo Run scripts
    work unchanged; ``command`` (an argv, no shell) is kuberun's own and is keyword-only in practice.
    """

    path: str | None = None
    inline: str | None = None
    command: list[str] | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: str | None = None
    #: NeMo Run's ``m``: run ``path`` as a module, ``python -m path`` (the module must be importable in the task).
    m: bool = False

    def __post_init__(self) -> None:
        """Check now, with one line naming the field (``InvalidScriptError``, a ValueError), not at ``exp.run()``."""
        from pydantic import ValidationError

        from kuberun.errors import InvalidScriptError
        from kuberun.resource.errors_format import format_validation_error

        if self.m:
            if not self.path or self.command is not None or self.inline is not None:
                raise InvalidScriptError("kr.Script(m=True) runs `python -m PATH`: give path (a module name) alone")
            self.command, self.path, self.m = ["python", "-m", self.path], None, False
        given = [n for n in ("command", "inline", "path") if getattr(self, n) is not None]
        if len(given) != 1:
            raise InvalidScriptError(f"kr.Script takes exactly one of command, inline or path (got {given or 'none'})")
        if isinstance(self.command, str):
            self.command = shlex.split(self.command)
        if self.path is not None:
            source = Path(self.path)
            try:
                self.inline = source.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidScriptError(f"invalid script: path: cannot read {self.path}: {exc.strerror or exc}") from None
            self.entrypoint = self.entrypoint or _ENTRYPOINTS.get(source.suffix, "bash")
            self.path = None
        try:
            self.to_source()
        except ValidationError as exc:
            raise InvalidScriptError(format_validation_error(exc, [], what="script")) from None

    def to_source(self) -> ScriptSource:
        return ScriptSource(
            command=self.command,
            inline=self.inline,
            entrypoint=self.entrypoint or "bash",
            args=list(self.args),
            env=dict(self.env),
        )

    @classmethod
    def from_source(cls, source: ScriptSource) -> Script:
        return cls(
            command=list(source.command) if source.command is not None else None,
            inline=source.inline,
            args=list(source.args),
            env=dict(source.env),
            entrypoint=source.entrypoint if source.inline is not None else None,
        )
