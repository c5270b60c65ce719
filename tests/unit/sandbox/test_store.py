"""The emulator's store keeps each object with its stored JSON and an index by resource: reads stay
private copies, lists stay ordered and complete, and a failed commit takes the index back too."""

from __future__ import annotations

import json
import pathlib

from kuberun_sandbox.apiserver.errors import ApiError
from kuberun_sandbox.apiserver.store import Store


def job(name: str, namespace: str = "ns") -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace},
            "spec": {"parallelism": 1, "template": {"spec": {"containers": [{"name": "c"}]}}}}


def key(name: str, namespace: str = "ns") -> tuple[str, str, str, str]:
    return "batch", "jobs", namespace, name


def test_a_read_is_a_private_copy_and_the_stored_json_is_what_was_stored():
    store = Store()
    returned = store.put(key("a"), job("a"), "ADDED")
    returned["spec"]["parallelism"] = 9  # the caller's copy
    read = store.get(key("a"))
    assert read is not None and read["spec"]["parallelism"] == 1
    read["spec"]["template"]["spec"]["containers"].append({"name": "x"})  # the reader's copy
    stored = store.get_ref(key("a"))
    assert stored is not None and len(stored["spec"]["template"]["spec"]["containers"]) == 1
    assert json.loads(store.stored_json(key("a"), stored)) == stored
    stale = stored
    store.put(key("a"), {**job("a"), "spec": {"parallelism": 2}}, "MODIFIED")
    assert json.loads(store.stored_json(key("a"), stale))["spec"]["parallelism"] == 1  # an old snapshot: its own JSON


def test_lists_by_resource_and_namespace_follow_puts_and_removes_in_name_order():
    store = Store()
    for name, namespace in (("b", "ns"), ("a", "ns"), ("c", "other")):
        store.put(key(name, namespace), job(name, namespace), "ADDED")
    store.put(("", "pods", "ns", "p"), {"kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}}, "ADDED")
    names = [o["metadata"]["name"] for o in store.list_refs("batch", "jobs", None)]
    assert names == ["a", "b", "c"]
    assert [o["metadata"]["name"] for o in store.list("batch", "jobs", "ns")] == ["a", "b"]
    store.remove(key("a"))
    assert [o["metadata"]["name"] for o in store.list_refs("batch", "jobs", "ns")] == ["b"]
    assert store.get(key("a")) is None and store.get_ref(key("a")) is None


def test_a_failed_commit_takes_back_objects_bodies_and_the_index(tmp_path: pathlib.Path):
    store = Store(data_dir=tmp_path)
    store.load()
    store.put(key("kept"), job("kept"), "ADDED")
    store.flush()
    assert store._durable is not None
    commit = store._durable.commit

    def failing() -> None:
        raise ApiError(500, "InternalError", "disk full")

    store._durable.commit = failing  # type: ignore[method-assign]
    store.put(key("lost"), job("lost"), "ADDED")
    store.put(key("kept"), {**job("kept"), "spec": {"parallelism": 5}}, "MODIFIED")
    store.flush()
    store._durable.commit = commit  # type: ignore[method-assign]
    assert [o["metadata"]["name"] for o in store.list_refs("batch", "jobs", "ns")] == ["kept"]
    kept = store.get_ref(key("kept"))
    assert kept is not None and kept["spec"]["parallelism"] == 1
    assert json.loads(store.stored_json(key("kept"), kept)) == kept
    store.close()


def test_a_restart_reads_back_every_object_with_its_json(tmp_path: pathlib.Path):
    store = Store(data_dir=tmp_path)
    store.load()
    store.put(key("a"), job("a"), "ADDED")
    store.close()
    again = Store(data_dir=tmp_path)
    again.load()
    (obj,) = again.list_refs("batch", "jobs", "ns")
    assert json.loads(again.stored_json(key("a"), obj)) == obj == again.get(key("a"))
    again.close()


def test_a_listed_copy_is_the_callers_own():
    store = Store()
    store.put(key("a"), job("a"), "ADDED")
    store.list("batch", "jobs", "ns")[0]["metadata"]["name"] = "changed"
    assert store.get_ref(key("a"))["metadata"]["name"] == "a"  # type: ignore[index]
