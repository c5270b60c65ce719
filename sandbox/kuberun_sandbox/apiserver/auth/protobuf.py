"""Decode the protobuf bodies client-go sends for the review APIs (``kubectl auth can-i``/``whoami``).

kubectl posts SelfSubjectAccessReview, SelfSubjectRulesReview and SelfSubjectReview as
``application/vnd.kubernetes.protobuf`` (accepting JSON back): the ``k8s\\x00`` magic, then a
``runtime.Unknown`` whose ``raw`` is the object. Only the fields the reviews read are declared
here (field numbers from ``k8s.io/api/authorization/v1`` and ``authentication/v1``
``generated.proto``); the protobuf runtime skips the others (metadata, selectors). Other kinds
stay JSON-only (415), as before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_STRING, _BYTES, _MESSAGE = (descriptor_pb2.FieldDescriptorProto.TYPE_STRING, descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                             descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE)
_MESSAGES: dict[str, list[tuple[str, int, int, str]]] = {  # name -> (field, number, type, message type | "+" repeated)
    "TypeMeta": [("apiVersion", 1, _STRING, ""), ("kind", 2, _STRING, "")],
    "Unknown": [("typeMeta", 1, _MESSAGE, "TypeMeta"), ("raw", 2, _BYTES, ""), ("contentEncoding", 3, _STRING, ""),
                ("contentType", 4, _STRING, "")],
    "ResourceAttributes": [(n, i, _STRING, "") for i, n in enumerate(
        ["namespace", "verb", "group", "version", "resource", "subresource", "name"], start=1)],
    "NonResourceAttributes": [("path", 1, _STRING, ""), ("verb", 2, _STRING, "")],
    "AccessSpec": [("resourceAttributes", 1, _MESSAGE, "ResourceAttributes"),
                   ("nonResourceAttributes", 2, _MESSAGE, "NonResourceAttributes"),
                   ("user", 3, _STRING, ""), ("groups", 4, _STRING, "+"), ("uid", 6, _STRING, "")],
    "AccessReview": [("spec", 2, _MESSAGE, "AccessSpec")],
    "RulesSpec": [("namespace", 1, _STRING, "")],
    "RulesReview": [("spec", 2, _MESSAGE, "RulesSpec")],
    "TokenSpec": [("token", 1, _STRING, ""), ("audiences", 2, _STRING, "+")],
    "TokenReview": [("spec", 2, _MESSAGE, "TokenSpec")],
    "SelfReview": [],
}
_BY_KIND = {"SelfSubjectAccessReview": "AccessReview", "SubjectAccessReview": "AccessReview",
            "LocalSubjectAccessReview": "AccessReview", "SelfSubjectRulesReview": "RulesReview",
            "TokenReview": "TokenReview", "SelfSubjectReview": "SelfReview"}


@lru_cache(maxsize=1)
def _classes() -> dict[str, Any]:
    f = descriptor_pb2.FileDescriptorProto(name="kuberun_sandbox_reviews.proto", package="kuberun.sandbox", syntax="proto2")
    for name, fields in _MESSAGES.items():
        m = f.message_type.add(name=name)
        for field, number, kind, ref in fields:
            label = (descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED if ref == "+" else
                     descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
            fd = m.field.add(name=field, number=number, type=kind, label=label, json_name=field)
            if kind == _MESSAGE:
                fd.type_name = f".kuberun.sandbox.{ref}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"kuberun.sandbox.{name}")) for name in _MESSAGES}


def decode(raw: bytes, kind: str) -> dict[str, Any]:
    """The review object of a protobuf body, as the JSON dict the JSON path would have parsed."""
    if not raw.startswith(MAGIC):
        raise ValueError("protobuf body without the k8s envelope")
    classes = _classes()
    unknown = classes["Unknown"].FromString(raw[len(MAGIC):])
    if unknown.typeMeta.kind and unknown.typeMeta.kind != kind:
        raise ValueError(f"expected a {kind}, got {unknown.typeMeta.kind}")
    message = classes[_BY_KIND[kind]].FromString(unknown.raw)
    out: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return out
