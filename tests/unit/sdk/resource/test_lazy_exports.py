"""``kuberun.resource`` resolves its names lazily: every exported name resolves, and importing it loads no model."""

from __future__ import annotations

import importlib
import subprocess
import sys

import kuberun.resource as resource


def test_every_exported_name_resolves_to_its_modules_object():
    assert set(resource.__all__) == set(resource._EXPORTS)
    for name, module in resource._EXPORTS.items():
        assert getattr(resource, name) is getattr(importlib.import_module(module), name), name


def test_importing_the_package_or_its_times_loads_no_pydantic():
    code = ("import sys, kuberun.resource, kuberun.resource.times, kuberun.resource.phases; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic' or m == 'kuberun.resource.status'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
