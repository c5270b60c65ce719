"""Reproduce treats a stored record as data: hostile records are refused or stay inert; code carries over.

The record here ships a module whose import writes a marker file (a stand-in for anything harmful):
reproducing it with an override must change the config, keep the shipped source for the runner, and
never create the marker, unless the user passes ``allow_import`` — the explicit flag.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
import zlib
from pathlib import Path
from typing import Any

import fiddle as fdl
import pytest
from fiddle.experimental import serialization

from kuberun.errors import ConfigIntegrityError, InvalidOverrideError
from kuberun.manage.reproduce import build_reproduction
from kuberun.serialization import decode_envelope, digest

SOURCE = '''\
import pathlib
import os
pathlib.Path(os.environ["KR_MARKER"]).write_text("imported")


def fit(x: int = 1, tag: str = "a") -> int:
    return x
'''
CODE = {"encoding": "tar+gzip", "sha256": "a" * 64, "size": 10, "files": 1,
        "git": {"revision": "b" * 40}, "storage": {"configMaps": ["kuberun-code-" + "a" * 64 + "-0"]}}


class _Kube:
    """All build_reproduction asks of a client when every config is inline."""

    user = "teammate"

    def get(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("no ConfigMap should be read for inline configs")


def _record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: dict[str, str] | None = None,
            rename: dict[str, str] | None = None) -> dict[str, Any]:
    """An Experiment whose one task is ``shipped.fit`` with the module's source in the envelope."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "shipped.py").write_text(SOURCE)
    monkeypatch.setenv("KR_MARKER", str(tmp_path / "made-while-recording"))
    sys.path.insert(0, str(src))
    try:
        shipped = importlib.import_module("shipped")
        config = json.loads(serialization.dump_json(fdl.Partial(shipped.fit, x=2)))
    finally:
        sys.path.remove(str(src))
        sys.modules.pop("shipped", None)
    text = json.dumps(config)
    for old, new in (rename or {}).items():
        text = text.replace(f'"module": "{old}"', f'"module": "{new}"')
    envelope = {"config": json.loads(text), "modules": {"shipped": SOURCE} if modules is None else modules}
    data = base64.b64encode(zlib.compress(json.dumps(envelope, sort_keys=True).encode())).decode()
    monkeypatch.setenv("KR_MARKER", str(tmp_path / "marker"))
    return {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"name": "old-x1", "namespace": "team", "uid": "u-1", "labels": {"kuberun.dev/title": "old"}},
            "spec": {"title": "old", "submittedBy": "alice",
                     "tasks": [{"name": "fit", "executor": {"kubernetes": {"image": "img:1"}}, "code": CODE,
                                "fiddle": {"encoding": "fiddle-json+zlib+base64", "sha256": digest(data), "size": len(data),
                                           "data": data}}]}}


def _envelope(resource: dict[str, Any]) -> dict[str, Any]:
    fiddle = resource["spec"]["tasks"][0]["fiddle"]
    return decode_envelope(fiddle["data"], fiddle["sha256"])


def _leaf(envelope: dict[str, Any], attr: str) -> Any:
    for obj in envelope["config"]["objects"].values():
        for key, value in obj.get("items") or []:
            if key == f"Attr(name='{attr}')" and isinstance(value, dict) and value.get("type") == "leaf":
                return value["value"]
    return None


def test_an_override_changes_the_recorded_config_without_importing_it(tmp_path, monkeypatch):
    old = _record(tmp_path, monkeypatch)
    new, maps = build_reproduction(_Kube(), old, {"x": 5, "fit.tag": "b"}, name="old-y2")
    assert not (tmp_path / "marker").exists(), "reproduce imported the record's shipped module"
    assert "shipped" not in sys.modules
    envelope = _envelope(new)
    assert (_leaf(envelope, "x"), _leaf(envelope, "tag")) == (5, "b")
    assert envelope["modules"] == {"shipped": SOURCE}  # the runner still gets the script
    task = new["spec"]["tasks"][0]
    assert task["code"] == CODE and task["executor"] == {"kubernetes": {"image": "img:1"}}
    assert new["metadata"]["labels"]["kuberun.dev/reproduced-from"] == "old-x1"
    assert new["spec"]["submittedBy"] == "teammate" and maps == []


def test_with_the_explicit_flag_the_code_is_imported_and_checked(tmp_path, monkeypatch):
    old = _record(tmp_path, monkeypatch)
    with pytest.raises(InvalidOverrideError, match="no attribute 'nope'"):
        build_reproduction(_Kube(), old, {"nope": 1}, allow_import=True)
    assert (tmp_path / "marker").read_text() == "imported"
    sys.modules.pop("shipped", None)


def test_unknown_arguments_without_import_are_left_for_the_runner(tmp_path, monkeypatch):
    old = _record(tmp_path, monkeypatch)
    new, _ = build_reproduction(_Kube(), old, {"nope": 1})  # no signature here: the runner's build reports it
    assert _leaf(_envelope(new), "nope") == 1
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("modules", [{"../../escape": "x = 1"}, {"a/b": ""}, {"os.path": ""}, {"class": ""}])
def test_shipped_module_names_that_could_escape_are_refused(tmp_path, monkeypatch, modules):
    old = _record(tmp_path, monkeypatch, modules=modules)
    with pytest.raises(ConfigIntegrityError, match="not a Python identifier"):
        build_reproduction(_Kube(), old, {"x": 3})
    assert not list(tmp_path.rglob("escape*"))


@pytest.mark.parametrize("module", ["../evil", "os;rm -rf", "a..b"])
def test_config_naming_a_module_that_is_not_a_dotted_name_is_refused(tmp_path, monkeypatch, module):
    old = _record(tmp_path, monkeypatch, rename={"shipped": module})
    with pytest.raises(ConfigIntegrityError, match="not a dotted Python name"):
        build_reproduction(_Kube(), old, {"x": 3})


def test_a_record_naming_a_builtin_as_its_callable_is_refused_with_the_reason(tmp_path, monkeypatch):
    # 'os:system' as the task's callable: Fiddle's reference policy refuses it; reproduce says so in one line.
    old = _record(tmp_path, monkeypatch, rename={"shipped": "os"})
    text = json.dumps(_envelope(old)).replace('"name": "fit"', '"name": "system"')
    data = base64.b64encode(zlib.compress(text.encode())).decode()
    old["spec"]["tasks"][0]["fiddle"].update(data=data, sha256=digest(data), size=len(data))
    with pytest.raises(ConfigIntegrityError, match="does not load as data: PyrefPolicyError"):
        build_reproduction(_Kube(), old, {"x": 9})


def test_a_tampered_config_is_refused_by_its_digest(tmp_path, monkeypatch):
    old = _record(tmp_path, monkeypatch)
    old["spec"]["tasks"][0]["fiddle"]["sha256"] = "0" * 64
    with pytest.raises(ConfigIntegrityError, match="digest mismatch"):
        build_reproduction(_Kube(), old, {})


def test_from_resource_then_build_keeps_the_shipped_script_and_the_code_package(tmp_path, monkeypatch):
    # The other way to reproduce (kr.Experiment.from_resource -> edit -> run) imports, as it must to give
    # live buildables, but what the config shipped must travel again.
    import kuberun as kr

    old = _record(tmp_path, monkeypatch)
    exp = kr.Experiment.from_resource(old)
    exp.tasks["fit"].config.x = 11
    resource, _ = exp.build()
    task = resource.to_dict()["spec"]["tasks"][0]
    envelope = decode_envelope(task["fiddle"]["data"], task["fiddle"]["sha256"])
    assert envelope["modules"] == {"shipped": SOURCE} and _leaf(envelope, "x") == 11
    assert task["code"] == CODE
    sys.modules.pop("shipped", None)
