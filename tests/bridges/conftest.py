"""Bridge fixtures: the integration suite's CRD and namespace fixtures, and the bridges' SDK venvs."""

from __future__ import annotations

from tests.integration.conftest import crd, namespace

__all__ = ["crd", "namespace"]
