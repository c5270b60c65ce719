"""Turn pydantic's validation errors into one message that names the field, Kubernetes-style."""

from __future__ import annotations

from pydantic import ValidationError

from kuberun.resource.base import KubeModel

_NOISE = {"function-after", "function-before", "function-plain"}


def _path(loc: tuple[int | str, ...], task_names: list[str]) -> str:
    out = ""
    parts = list(loc)
    for i, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
            if i > 0 and parts[i - 1] == "tasks" and part < len(task_names):
                out += f"({task_names[part]})"
        elif isinstance(part, str) and part not in _NOISE and not part.startswith(tuple(_NOISE)):
            out += ("." if out else "") + part
    return out


def format_validation_error(exc: ValidationError, task_names: list[str], what: str = "experiment") -> str:
    """'invalid experiment: tasks[0](Bad_Name).name: String should match pattern ...' — problems joined by '; '."""
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        path = _path(tuple(error["loc"]), task_names) or ("spec" if what == "experiment" else "")
        lines.append(f"{path}: {message}" if path else message)
    return f"invalid {what}: " + "; ".join(lines)


__all__ = ["KubeModel", "format_validation_error"]
