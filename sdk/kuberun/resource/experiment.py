"""The whole resource: apiVersion, kind, metadata, spec, status."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kuberun.resource.base import KubeModel
from kuberun.resource.constants import API_VERSION, KIND
from kuberun.resource.spec import ExperimentSpec
from kuberun.resource.status import ExperimentStatus


class ObjectMeta(BaseModel):
    """The parts of metav1.ObjectMeta kuberun reads; the rest passes through untouched."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str | None = None
    generate_name: str | None = Field(None, alias="generateName")
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = Field(None, alias="resourceVersion")
    creation_timestamp: str | None = Field(None, alias="creationTimestamp")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ExperimentResource(KubeModel):
    """An Experiment object as stored in the cluster."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["kuberun.dev/v1alpha1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["Experiment"] = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ExperimentSpec
    status: ExperimentStatus | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any] | str) -> ExperimentResource:
        """From a dict or a YAML/JSON document."""
        if isinstance(obj, str):
            import yaml

            obj = yaml.safe_load(obj)
        return cls.model_validate(obj)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["apiVersion"], out["kind"] = self.api_version, self.kind
        # Metadata passes through as given (ownerReferences, finalizers...), minus empty maps.
        meta = self.metadata.model_dump(by_alias=True, exclude_none=True, mode="json")
        out["metadata"] = {k: v for k, v in meta.items() if v != {}}
        return {"apiVersion": out.pop("apiVersion"), "kind": out.pop("kind"), **out}
