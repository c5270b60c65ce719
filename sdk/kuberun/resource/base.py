"""Base model: Kubernetes camelCase on the wire, snake_case in Python, unknown fields refused."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    """A model whose YAML form uses Kubernetes camelCase and whose Python form uses snake_case."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        # Build validators on first use, not at import: keeps `import kuberun as kr; kr.Experiment` cheap.
        defer_build=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The Kubernetes (camelCase) form, without fields left at their defaults.

        Defaults live in the models (the operator parses with them), so `nodes: 1` or `env: {}`
        would only restate them; fields a reader must see have no default.
        """
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")
