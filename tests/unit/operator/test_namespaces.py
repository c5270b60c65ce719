"""A namespace's labels for selector grants: read at most once per TTL, errors as the controller needs them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kuberun_operator.backends.base import BackendError
from kuberun_operator.kube import ApiError
from kuberun_operator.namespaces import CachedNamespaceLabels


class Namespaces:
    """Stands in for Kube.get_namespace: the objects, the calls, and an error to raise."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {"team-a": {"metadata": {"name": "team-a", "labels": {"gpu": "yes"}}}}
        self.calls: list[str] = []
        self.error: ApiError | None = None

    async def get_namespace(self, name: str) -> dict[str, Any]:
        self.calls.append(name)
        if self.error is not None:
            raise self.error
        if name not in self.objects:
            raise ApiError(404, "NotFound", f"namespaces {name!r} not found")
        return self.objects[name]


def test_labels_are_read_once_per_ttl_and_a_change_is_seen_after_it():
    api, now = Namespaces(), [0.0]
    labels = CachedNamespaceLabels(api, ttl=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert asyncio.run(labels("team-a")) == {"gpu": "yes"}
    api.objects["team-a"]["metadata"]["labels"] = {}
    now[0] = 4.9
    assert asyncio.run(labels("team-a")) == {"gpu": "yes"} and api.calls == ["team-a"]
    now[0] = 5.0
    assert asyncio.run(labels("team-a")) == {} and api.calls == ["team-a", "team-a"]


def test_a_missing_namespace_has_no_labels():
    assert asyncio.run(CachedNamespaceLabels(Namespaces())("gone")) == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "permanent"), [(403, True), (503, False), (0, False)])
def test_a_refused_read_is_permanent_and_names_the_missing_grant_an_unreachable_api_is_retried(status, permanent):
    api = Namespaces()
    api.error = ApiError(status, "Forbidden" if status == 403 else "Unavailable", "no")
    with pytest.raises(BackendError) as caught:
        asyncio.run(CachedNamespaceLabels(api)("team-a"))  # type: ignore[arg-type]
    assert caught.value.reason == "NamespaceUnreadable" and caught.value.permanent is permanent
    assert "need `get` on namespaces" in caught.value.message


def test_the_backend_config_sets_how_long_labels_are_trusted():
    from kuberun_operator.app import remote_backends
    from kuberun_operator.backend_config import BackendConfig
    from kuberun_operator.settings import Settings

    cluster = {"name": "dgx", "host": "login", "user": "svc", "workdir": "/w", "sshKeyFile": "/k", "knownHostsFile": "/h",
               "allowedNamespaceSelector": {"matchLabels": {"gpu": "yes"}}}
    for given, ttl in (({}, 5.0), ({"namespaceLabelCacheSeconds": 0}, 0.0), ({"namespaceLabelCacheSeconds": 42}, 42.0)):
        config = BackendConfig.model_validate({"slurm": {"clusters": [cluster]}, **given})
        labels = remote_backends(config, Settings(), kube=Namespaces())["slurm"].namespace_labels  # type: ignore[arg-type,attr-defined]
        assert isinstance(labels, CachedNamespaceLabels) and labels.ttl == ttl
    with pytest.raises(ValueError, match="less than or equal to 300"):
        BackendConfig.model_validate({"namespaceLabelCacheSeconds": 301})


def test_a_zero_ttl_reads_the_labels_every_time():
    api = Namespaces()
    labels = CachedNamespaceLabels(api, ttl=0.0)  # type: ignore[arg-type]
    asyncio.run(labels("team-a"))
    asyncio.run(labels("team-a"))
    assert api.calls == ["team-a", "team-a"]
