"""The CRD is generated from the models, is structural, and its CEL rules mean what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml

from kuberun.resource.crd import build_crd, crd_yaml

ROOT = Path(__file__).resolve().parents[4]


def _schema() -> dict[str, Any]:
    return build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_crds_folder_matches_the_models():
    on_disk = (ROOT / "crds" / "kuberun.dev_experiments.yaml").read_text()
    assert on_disk == crd_yaml(), "crds/ drifted from the SDK models: run `make crds`"


def _walk(node: dict[str, Any], path: str = ""):
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural():
    for path, node in _walk(_schema()):
        assert "type" in node, f"{path} has no type"
        assert "$ref" not in node and "anyOf" not in node and "allOf" not in node, path


def test_every_list_under_a_cel_rule_is_bounded():
    # The API server refuses CEL rules whose cost it cannot bound.
    spec = _schema()["properties"]["spec"]
    assert spec["properties"]["tasks"]["maxItems"] == 1000
    task = spec["properties"]["tasks"]["items"]
    assert task["properties"]["dependsOn"]["maxItems"] == 1000
    assert task["properties"]["name"]["maxLength"] == 63


def test_printer_columns_short_names_and_category():
    crd = build_crd()
    version = crd["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Title", "Phase", "Tasks", "Submitter", "Age"]
    assert "krexp" in crd["spec"]["names"]["shortNames"]
    assert crd["spec"]["names"]["categories"] == ["kuberun"]
    assert version["subresources"] == {"status": {}}


def _rules_at(pointer: list[str]) -> list[dict[str, str]]:
    node = _schema()
    for key in pointer:
        node = node[key]
    return node["x-kubernetes-validations"]


def _eval(rule: str, new: Any, old: Any = None) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    activation = {"self": celpy.json_to_cel(new)}
    if old is not None:
        activation["oldSelf"] = celpy.json_to_cel(old)
    return bool(program.evaluate(activation))


def _spec(*names_deps: tuple[str, list[str]], **extra: Any) -> dict[str, Any]:
    tasks = [{"name": n, **({"dependsOn": d} if d else {})} for n, d in names_deps]
    return {"title": "t", "tasks": tasks, **extra}


def _spec_rule(message_part: str) -> str:
    return next(r["rule"] for r in _rules_at(["properties", "spec"]) if message_part in r["message"])


def test_task_names_are_unique_by_list_type_not_by_a_quadratic_cel_rule():
    tasks = _schema()["properties"]["spec"]["properties"]["tasks"]
    assert tasks["x-kubernetes-list-type"] == "map" and tasks["x-kubernetes-list-map-keys"] == ["name"]
    assert tasks["items"]["properties"]["dependsOn"]["x-kubernetes-list-type"] == "set"
    assert tasks["maxItems"] >= 1000 and tasks["items"]["properties"]["dependsOn"]["maxItems"] >= 1000


def test_no_cel_rule_iterates_over_the_task_graph():
    # Over 1,000 tasks of 1,000 dependencies such a rule is cubic: a real API server refuses the
    # CRD for its estimated cost. The graph is checked by the SDK and the operator's decode instead.
    rules = [r["rule"] for r in _rules_at(["properties", "spec"])]
    rules += [r["rule"] for r in _rules_at(["properties", "spec", "properties", "tasks", "items"])]
    assert not [r for r in rules if "dependsOn" in r or ".all(" in r or ".exists" in r]


def test_cel_spec_is_immutable_except_shutdown_and_suspend():
    rules = [r["rule"] for r in _rules_at(["properties", "spec"]) if "immutable" in r["message"]]
    old = _spec(("a", []))

    def allowed(new: dict[str, Any]) -> bool:
        return all(_eval(rule, new, old) for rule in rules)

    assert allowed({**old, "shutdown": "Stop", "suspend": True})
    assert not allowed({**old, "title": "other"})
    assert not allowed({**old, "description": "added later"})
    assert not allowed(_spec(("b", [])))


@pytest.mark.parametrize(("old", "new", "ok"), [
    (None, "Stop", True), ("Stop", "Terminate", True), ("Terminate", "Stop", False), ("Stop", None, False),
])
def test_cel_shutdown_only_escalates(old, new, ok):
    rule = _spec_rule("withdrawn")
    before = _spec(("a", []), **({"shutdown": old} if old else {}))
    after = _spec(("a", []), **({"shutdown": new} if new else {}))
    assert _eval(rule, after, before) is ok


def test_cel_exactly_one_executor_and_payload():
    task = ["properties", "spec", "properties", "tasks", "items"]
    payload = _rules_at(task)[0]["rule"]
    executor = _rules_at([*task, "properties", "executor"])[0]["rule"]
    assert _eval(payload, {"script": {}}) and not _eval(payload, {}) and not _eval(payload, {"script": {}, "fiddle": {}})
    assert _eval(executor, {"slurm": {}}) and not _eval(executor, {}) and not _eval(executor, {"slurm": {}, "local": {}})


def test_dryrun_output_passes_the_crd_schema():
    from examples.hello import build

    docs = list(yaml.safe_load_all(build().dryrun()))
    experiment = next(d for d in docs if d["kind"] == "Experiment")
    jsonschema.validate(experiment, _schema())
