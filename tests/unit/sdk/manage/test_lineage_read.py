"""``kuberun describe`` reads reproductions from the original's ``status.lineage`` with no request, and
falls back to the reproduced-from label query only for originals made before that field."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from kuberun.manage import query
from kuberun.manage.render import describe


class Lists:
    """Answers every list with ``items`` and records each request."""

    namespace = "ns"

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items, self.requests = items, []

    def get(self, path: str, op: Any, **params: Any) -> Any:
        self.requests.append((path, params))
        return {"metadata": {}, "items": self.items}


def _original(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "orig", "namespace": "ns", "uid": "u0", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"title": "orig", "tasks": []}, "status": {"phase": "Succeeded", **status}}


def _page(obj: dict[str, Any], children: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    describe(Console(file=out, width=160), obj, children, [], {})
    return "\n".join(" ".join(line.split()) for line in out.getvalue().splitlines())  # fields padded to one column


def test_reproductions_come_from_status_lineage_without_a_request():
    kube = Lists([{"metadata": {"name": "not-asked"}}])
    recent = [{"name": f"orig-r{i}", "uid": f"u{i}", "created": "2026-01-02T00:00:00Z"} for i in range(1, 4)]
    obj = _original({"lineage": {"count": 53, "recent": recent}})
    children, total = query.lineage(kube, obj)  # type: ignore[arg-type]
    assert [c["metadata"]["name"] for c in children] == ["orig-r1", "orig-r2", "orig-r3"] and total == 53
    assert kube.requests == []
    assert "Reproductions: orig-r1, orig-r2, orig-r3 (and 50 earlier)" in _page(obj, children)


def test_an_empty_lineage_means_none_and_asks_nobody():
    kube = Lists([{"metadata": {"name": "not-asked"}}])
    children, total = query.lineage(kube, _original({"lineage": {"count": 0}}))  # type: ignore[arg-type]
    assert (children, total, kube.requests) == ([], 0, [])


def test_an_original_from_before_the_field_falls_back_to_the_label_query():
    child = {"metadata": {"name": "orig-old", "namespace": "ns", "labels": {"kuberun.dev/reproduced-from": "orig"}}}
    kube = Lists([child])
    obj = _original({})
    children, total = query.lineage(kube, obj)  # type: ignore[arg-type]
    assert [c["metadata"]["name"] for c in children] == ["orig-old"] and total == 1
    [(path, params)] = kube.requests
    assert path.endswith("/namespaces/ns/experiments") and "kuberun.dev/reproduced-from=orig" in params["labelSelector"]
    assert "Reproductions: orig-old\nLabels:" in _page(obj, children)
