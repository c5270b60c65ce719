"""Server-side ``meta.k8s.io/v1 Table`` rendering, which ``kubectl get`` asks for.

Custom resources get Name + the CRD's ``additionalPrinterColumns`` (or Name + Age when it
declares none), evaluated with ``jsonpath-ng``; ``date`` columns are rendered as ages, as the
real table convertor does. Built-ins with a printer (``printers``: pods, jobs, events, services,
configmaps, secrets, namespaces) get the real server's columns; others get Name + Age.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aiohttp import web
from jsonpath_ng.ext import parse as jsonpath_parse

from . import printers
from .resources import ResourceType
from .timefmt import age

_NAME = {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "priority": 0,
        "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}
def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


@lru_cache(maxsize=256)
def _compiled(path: str) -> Any:
    return jsonpath_parse(path.strip("{}").lstrip("."))


def columns(rt: ResourceType) -> list[dict[str, Any]]:
    if rt.crd is not None:
        declared = rt.crd_version.get("additionalPrinterColumns")
        return [_NAME, *(declared if declared else [_AGE])]
    return [_NAME, _AGE]


def _cell(obj: dict[str, Any], column: dict[str, Any]) -> Any:
    if column.get("format") == "name":
        return obj["metadata"]["name"]
    values = [m.value for m in _compiled(column["jsonPath"]).find(obj)]
    if not values or values[0] is None:
        return None
    value = values[0] if len(values) == 1 else ",".join(str(v) for v in values)
    if column["type"] == "date":
        return age(str(value))
    if column["type"] == "integer" and isinstance(value, (int, float, str)):
        return int(value) if str(value).lstrip("-").isdigit() else value
    return value


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def render(rt: ResourceType, objs: list[dict[str, Any]], request: web.Request,
           list_meta: dict[str, Any], with_columns: bool = True) -> dict[str, Any]:
    include = request.query.get("includeObject", "Metadata")
    printer = printers.PRINTERS.get((rt.group, rt.kind)) if rt.crd is None else None
    if printer is not None:
        definitions = [{"name": name, "type": "integer" if name == "Count" else "string",
                        "format": "name" if name == "Name" else "", "description": "", "priority": priority}
                       for name, priority in printer.columns]
        rows = [{"cells": printer.cells(o), "object": _row_object(o, include)} for o in objs]
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
                "columnDefinitions": definitions if with_columns else [], "rows": rows}
    cols = columns(rt)
    definitions = [{"name": c["name"], "type": "string" if c["type"] == "date" else c["type"],
                    "format": c.get("format", ""), "description": c.get("description", ""),
                    "priority": c.get("priority", 0)} for c in cols]
    rows = [{"cells": [_cell(o, c) for c in cols], "object": _row_object(o, include)} for o in objs]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": definitions if with_columns else [], "rows": rows}
