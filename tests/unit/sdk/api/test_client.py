"""The one error vocabulary: each API answer becomes its own error class, all under KuberunError."""

from __future__ import annotations

import json

import pytest

from kuberun.api.client import Op, error_for
from kuberun.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    KuberunError,
    NotFoundError,
    ObjectNotFoundError,
    UnauthorizedError,
)

OP = Op("patch", "experiments.kuberun.dev", "team", "mnist-1")
RBAC = ('experiments.kuberun.dev "mnist-1" is forbidden: User "bob" cannot patch resource "experiments" '
        'in API group "kuberun.dev" in the namespace "team"')


@pytest.mark.parametrize(("code", "body", "cls", "reason", "needle"), [
    (401, {}, UnauthorizedError, "Unauthorized", "did not accept your credentials"),
    (403, {"message": RBAC}, ForbiddenError, "Forbidden", 'user "bob" may not patch experiments.kuberun.dev in namespace "team"'),
    (404, {"reason": "NotFound"}, ObjectNotFoundError, "NotFound", 'experiment "mnist-1" not found in namespace "team"'),
    (409, {"reason": "AlreadyExists", "message": "already exists"}, AlreadyExistsError, "AlreadyExists", "patch experiments.kuberun.dev: already exists"),
    (409, {"reason": "Conflict", "message": "the object has been modified"}, ConflictError, "Conflict", "has been modified"),
    (422, {"reason": "Invalid", "message": "spec: Invalid value: immutable\nmore"}, InvalidError, "Invalid", "spec: Invalid value: immutable"),
    (500, {"reason": "InternalError", "message": "boom"}, ApiError, "InternalError", "boom"),
])
def test_each_answer_has_its_own_error_class(code, body, cls, reason, needle):
    err = error_for(code, json.dumps(body).encode(), OP)
    assert type(err) is cls and isinstance(err, ApiError) and isinstance(err, KuberunError)
    assert (err.code, err.reason) == (code, reason) and needle in str(err) and "\n" not in str(err)


def test_not_found_is_one_concept_for_objects_and_lookups():
    err = error_for(404, b"", OP)
    assert isinstance(err, NotFoundError) and isinstance(err, LookupError)
    assert isinstance(error_for(403, b"not json", Op("list", "pods", None)), PermissionError)
    assert "cluster-wide" in str(error_for(403, b"", Op("list", "pods", None)))
