"""An in-memory Lease API with the server's one rule that matters here: a stale resourceVersion is a 409."""

from __future__ import annotations

import copy
from typing import Any

from kuberun_operator.kube import ApiError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeLeases:
    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.rv = 0
        self.down = False  # every call fails as if the server were unreachable

    def _check(self) -> None:
        if self.down:
            raise ApiError(0, "Unreachable", "partitioned")

    def _store(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.leases[(namespace, body["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        found = self.leases.get((namespace, name))
        return copy.deepcopy(found) if found else None

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if (namespace, body["metadata"]["name"]) in self.leases:
            raise ApiError(409, "AlreadyExists", "exists")
        return self._store(namespace, body)

    async def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        current = self.leases.get((namespace, name))
        if current is None or current["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            raise ApiError(409, "Conflict", "the object has been modified")
        return self._store(namespace, body)

    def holder(self, name: str, namespace: str = "ns") -> str:
        return self.leases[(namespace, name)]["spec"]["holderIdentity"]
