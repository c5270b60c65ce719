"""What the operator's watches saw of its children: Jobs and pods, kept newest-first by resourceVersion.

kopf's handlers feed these (``handlers.py``); the Kubernetes backend reads them when it observes,
so a reconcile costs no API list call. Each ``put``/``remove`` returns the (namespace, experiment)
key whose reconcile the change concerns.

Each keeps only what its readers use (``slim.py``), packed as compact JSON (``packed.py``) and
decoded when read: at 10,000 live Experiments the full objects, then their slim copies as Python
dicts, were most of the operator's memory.

Jobs are filed under their owning Experiment's UID, and the key names the Experiment by its full
name, both read from the Job's owner reference. The experiment *label* cannot serve: label values
hold 63 characters, names 253, so a long name's label is shortened with a hash and matches no
Experiment (an Experiment named with 64+ characters then never saw its Jobs finish).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kuberun.resource.constants import KIND
from kuberun_operator import packed, slim
from kuberun_operator.kube import resource_version


def owner(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The Experiment owner reference of a child: the controller reference of kind Experiment, if any."""
    refs = [r for r in obj.get("metadata", {}).get("ownerReferences") or [] if r.get("uid")]
    ours = [r for r in refs if r.get("kind", KIND) == KIND]
    return next((r for r in ours if r.get("controller")), ours[0] if ours else None)


class JobCache:
    """Jobs by (namespace, owner Experiment UID), fed by the operator's watch on kuberun-labelled Jobs."""

    def __init__(self) -> None:
        # (namespace, owner uid) -> Job name -> (resourceVersion, Job uid, packed slim Job)
        self._jobs: dict[tuple[str, str], dict[str, tuple[int, str, bytes]]] = defaultdict(dict)
        self._owners: dict[tuple[str, str], tuple[str, str]] = {}  # (namespace, job) -> experiment key
        # A succeeded Job's run summary, by Job UID: read from its pods once, not on every reconcile
        # of a multi-task Experiment (its pods may be gone by then: one list call each time).
        self._summaries: dict[str, Any] = {}

    @staticmethod
    def _slot(job: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]] | None:
        """((namespace, owner uid), (namespace, owner name)), or None for a Job no Experiment owns."""
        ref = owner(job)
        if ref is None or not ref.get("name"):
            return None
        namespace = job.get("metadata", {}).get("namespace", "")
        return (namespace, ref["uid"]), (namespace, ref["name"])

    def put(self, job: dict[str, Any]) -> tuple[str, str] | None:
        slot = self._slot(job)
        if slot is None:
            return None
        by_uid, key = slot
        name = job["metadata"]["name"]
        old = self._jobs[by_uid].get(name)
        version = resource_version(job)
        if old is None or version >= old[0]:
            self._jobs[by_uid][name] = (version, str(job["metadata"].get("uid") or ""), packed.pack(slim.job(job)))
        self._owners[(key[0], name)] = key
        return key

    def remove(self, job: dict[str, Any]) -> tuple[str, str] | None:
        slot = self._slot(job)
        if slot is None:
            return None
        by_uid, key = slot
        name = job["metadata"]["name"]
        gone = self._jobs[by_uid].pop(name, None)
        if gone is not None:
            self._summaries.pop(gone[1], None)
        if not self._jobs[by_uid]:
            del self._jobs[by_uid]
        self._owners.pop((key[0], name), None)
        return key

    def jobs(self, namespace: str, experiment_uid: str) -> list[dict[str, Any]]:
        return [packed.unpack(blob) for _, _, blob in self._jobs.get((namespace, experiment_uid), {}).values()]

    def summary(self, job_uid: str) -> tuple[bool, Any]:
        """(known, summary) for a succeeded Job: known once its pods were read (the summary may be None)."""
        return (job_uid in self._summaries), self._summaries.get(job_uid)

    def remember_summary(self, job_uid: str, summary: Any) -> None:
        """Remember a succeeded Job's summary, None included (a Job whose pods had none is not listed again)."""
        if job_uid:
            self._summaries[job_uid] = summary

    def experiment_of(self, namespace: str, job: str) -> tuple[str, str] | None:
        """The (namespace, experiment name) key of a cached Job, for events about its pods."""
        return self._owners.get((namespace, job))


class PodCache:
    """Pods of kuberun Jobs by (namespace, job name), fed by the operator's watch on labelled pods.

    ``put`` returns the (namespace, Job name) the pod belongs to; ``JobCache.experiment_of``
    turns that into the Experiment's key.
    """

    def __init__(self) -> None:
        self._pods: dict[tuple[str, str], dict[str, bytes]] = defaultdict(dict)  # packed slim pods

    def put(self, pod: dict[str, Any], deleted: bool = False) -> tuple[str, str] | None:
        meta = pod.get("metadata", {})
        job = meta.get("labels", {}).get("job-name")
        if not job:
            return None
        slot = (meta.get("namespace", ""), job)
        pods = self._pods[slot]
        if deleted:
            pods.pop(meta["name"], None)
            if not pods:
                del self._pods[slot]
        else:
            pods[meta["name"]] = packed.pack(slim.pod(pod))
        return slot

    def pods(self, namespace: str, job: str) -> list[dict[str, Any]]:
        return [packed.unpack(blob) for blob in self._pods.get((namespace, job), {}).values()]
