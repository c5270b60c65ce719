"""REST paths of the Kubernetes API, shared by kuberun's small HTTP clients (CLI, sandbox node)."""

from __future__ import annotations

from urllib.parse import quote


def api_path(group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
    """The path of a collection or object: ``/apis/batch/v1/namespaces/ns/jobs/x/status``, ``/api/v1/pods``."""
    parts = ["/api", version] if not group else ["/apis", group, version]
    if namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)
