"""The operator process does not load the ``kubernetes`` package, and caps glibc's malloc arenas.

Structural guards, not timings (docs/scale.md: the package's model classes were ~50 MB of the
operator's RSS after imports). Each check runs in a fresh interpreter, as ``kuberun-operator`` starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Everything the operator's entry point imports, then every module of the package (a lazy import
# inside a function would not show here, so the source check below covers those).
OPERATOR_PROCESS = """
import json, pkgutil, importlib, sys
from kuberun_operator.footprint import prepare
prepare()
import kuberun_operator, kuberun_operator.__main__, kuberun_operator.app, kuberun_operator.handlers
for info in pkgutil.walk_packages(kuberun_operator.__path__, "kuberun_operator."):
    if not info.name.endswith(".migrations.env"):  # alembic's script, run only inside alembic
        importlib.import_module(info.name)
import kopf
print(json.dumps({"modules": sorted(m for m in sys.modules if m == "kubernetes" or m.startswith("kubernetes.")),
                  "kopf_sees_kubernetes": kopf._cogs.helpers.thirdparty.V1ObjectMetaSync is not None}))
"""


def _run(code: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_operator_process_loads_no_kubernetes_package() -> None:
    found = _run(OPERATOR_PROCESS)
    assert found["modules"] == [], f"the operator imported {found['modules'][:5]}: route the call through kuberun.api"
    assert not found["kopf_sees_kubernetes"], "kopf imported the kubernetes package's models"


def test_no_operator_source_imports_the_kubernetes_package() -> None:
    from tests.unit.operator.test_layering import ROOT, imports

    for path in sorted(ROOT.rglob("*.py")):
        for line, module, _ in imports(path):
            assert module.split(".")[0] not in ("kubernetes", "kubernetes_asyncio"), \
                f"{path.relative_to(ROOT)}:{line}: {module} (the operator's client is kuberun.api)"


def test_the_package_still_loads_for_whoever_needs_it_after_kopf() -> None:
    found = _run("import json, sys\nfrom kuberun_operator.footprint import prepare\nprepare()\nimport kubernetes\n"
                 "print(json.dumps({'ok': 'kubernetes' in sys.modules and sys.modules['kubernetes'] is not None}))")
    assert found["ok"], "hiding the package from kopf must not break a later import of it"


def test_malloc_arenas_are_capped_unless_the_environment_says() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    code = "import json\nfrom kuberun_operator.footprint import cap_malloc_arenas\nprint(json.dumps({'set': cap_malloc_arenas()}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, env=env)
    assert json.loads(out.stdout)["set"] is True, "mallopt(M_ARENA_MAX) failed on glibc"
    assert _run(code, {"MALLOC_ARENA_MAX": "4"})["set"] is False, "the environment's value is left as glibc read it"
