"""The record outlives the object and its pods, end to end in the sandbox: the operator archives a
finished experiment (spec, status, Events) into the sandbox's SQLite archive, copies each ended
attempt's log (a Kubernetes pod's and a local process's) into its directory log store and names the
copy in the attempt's status; once the Job and its pods are gone the copy is still there, and once
the Experiment is deleted the archive still has it, marked deleted."""

from __future__ import annotations

import hashlib
import pathlib
import urllib.parse
from typing import Any

from kubernetes import client, config

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from kuberun_operator.archive import Archive
from kuberun_sandbox import Sandbox
from tests.helpers.operator import get_experiment, wait_for

NS = "default"


def _archived_logs(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t["attempts"][-1]["archivedLog"] for t in (obj.get("status") or {}).get("tasks") or []
            if t.get("attempts") and t["attempts"][-1].get("archivedLog")}


def _archived(url: str, uid: str, deleted: bool = False) -> Any:
    with Archive.open(url) as archive:
        row = archive.get_uid(uid)
    if row is None or (deleted and row.deleted is None):
        return None
    return row


def test_finish_pod_collection_and_deletion_leave_the_record_and_the_logs(tmp_path: pathlib.Path) -> None:
    with Sandbox(data_dir=tmp_path, operator=True) as sb:
        assert sb.operator_running, sb.operator_error
        exp = kr.Experiment("recorded")
        exp.add(kr.Script(command=["sh", "-c", "for i in 1 2 3; do echo pod-line-$i; done"]), name="pod")
        exp.add(kr.Script(command=["sh", "-c", "echo local-line; echo to-stderr >&2"]), name="here",
                executor=kr.LocalExecutor())
        created = exp.run(kubeconfig=str(sb.kubeconfig))
        name, uid = created["metadata"]["name"], created["metadata"]["uid"]
        with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api:
            wait_for(lambda: (get_experiment(api, NS, name).get("status") or {}).get("phase") in ("Succeeded", "Failed"),
                     timeout=90, what="the experiment to finish")
            def both_logs_archived() -> dict[str, Any] | None:
                o = get_experiment(api, NS, name)
                return o if len(_archived_logs(o)) == 2 else None

            obj = wait_for(both_logs_archived, timeout=60, what="both attempts' logs to be archived")
            assert obj["status"]["phase"] == "Succeeded", obj["status"]
            logs = _archived_logs(obj)
            for task, marker in (("pod", b"pod-line-3\n"), ("here", b"local-line\n")):
                path = pathlib.Path(urllib.parse.urlsplit(logs[task]["url"]).path)
                assert path.is_relative_to(sb.log_store_dir), logs[task]
                data = path.read_bytes()
                assert marker in data and len(data) == logs[task]["size"]
                assert hashlib.sha256(data).hexdigest() == logs[task]["sha256"]

            # The finished record, with the status that names the archived logs.
            def final_row() -> Any:
                r = _archived(sb.archive_url, uid)
                return r if r is not None and _archived_logs({"status": r.status}) == logs else None

            row = wait_for(final_row, timeout=30, what="the archive row with the final status")
            assert row.phase == "Succeeded" and row.name == name and row.namespace == NS
            assert row.spec == obj["spec"]
            assert row.events and all(e["involvedObject"]["uid"] == uid for e in row.events)

            # The pods are garbage-collected: the archived copy does not depend on them.
            core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
            for job in batch.list_namespaced_job(NS, label_selector=f"kuberun.dev/experiment={name}").items:
                batch.delete_namespaced_job(job.metadata.name, NS, propagation_policy="Background")
            for pod in core.list_namespaced_pod(NS, label_selector=f"kuberun.dev/experiment={name}").items:
                core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)
            wait_for(lambda: not core.list_namespaced_pod(NS, label_selector=f"kuberun.dev/experiment={name}").items,
                     timeout=30, what="the pods to be gone")
            path = pathlib.Path(urllib.parse.urlsplit(logs["pod"]["url"]).path)
            assert b"pod-line-1\npod-line-2\npod-line-3\n" in path.read_bytes()

            # Deleted: the object is gone, the archive keeps it, marked deleted.
            client.CustomObjectsApi(api).delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
            gone = wait_for(lambda: _archived(sb.archive_url, uid, deleted=True), timeout=30,
                            what="the archive row to be marked deleted")
            assert gone.phase == "Succeeded" and gone.spec == obj["spec"]
            assert _archived_logs({"status": gone.status}) == logs


def test_an_experiment_deleted_by_its_ttl_is_in_the_archive_marked_deleted(tmp_path: pathlib.Path) -> None:
    with Sandbox(data_dir=tmp_path, operator=True) as sb:
        assert sb.operator_running, sb.operator_error
        exp = kr.Experiment("expiring", ttl_seconds_after_finished=0)
        exp.add(kr.Script(command=["sh", "-c", "echo short-lived"]), name="t")
        created = exp.run(kubeconfig=str(sb.kubeconfig))
        uid = created["metadata"]["uid"]
        row = wait_for(lambda: _archived(sb.archive_url, uid, deleted=True), timeout=90,
                       what="the expired experiment's archive row, marked deleted")
        assert row.phase == "Succeeded" and row.status["tasks"][0]["phase"] == "Succeeded"
        with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api:
            items = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"]
            assert [o for o in items if o["metadata"]["uid"] == uid] == []
