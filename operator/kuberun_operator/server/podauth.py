"""Which pod is calling, and which attempt it runs: pod-bound ServiceAccount tokens, followed to their Experiment.

A task pod holds no credentials of its own: the kubelet mints it a token bound to the pod, for the
audience ``kuberun.resource.upload.AUDIENCE`` only (a projected ``serviceAccountToken`` volume). To
know who sends one, the server asks the API server (TokenReview *with that audience*, so a user's
own token or one minted for another service is refused) and reads the pod's name and UID from the
review's ``user.extra`` — never from anything the caller says. Then, with the operator's
credentials, it follows what only the operator created: the pod (its UID must be the token's), its
controlling Job (UID-checked), the Job's controlling Experiment (UID-checked against the live
object), and the Job's task and attempt labels and deterministic name. Only an attempt reached that
way is the caller's; anything else is 403, so a pod of experiment A can never write into B. The pod's
completion index (its node in a multi-node attempt) is read from the pod object too, so a pod can
write only its own node's files (``uploads``: ``nodes/<k>/``).

``PodAuthenticator.attempt`` is the one call; other routes that serve pods (the code download,
``podcode``) reuse it. Answers are cached briefly (``cachetools.TTLCache``, by token digest and by pod UID +
target), so a deleted pod's token stops working within ``ttl`` seconds; a review or lookup the API
server cannot answer is ``ReviewUnavailable`` (503), never an answer.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import TTLCache

from kuberun.resource.constants import API_VERSION, GROUP, KIND, LABEL_ATTEMPT, LABEL_TASK, PLURAL, VERSION
from kuberun.resource.upload import AUDIENCE, POD_NAME_EXTRA, POD_UID_EXTRA
from kuberun_operator.backends.kubernetes.manifests import COMPLETION_INDEX_ANNOTATION
from kuberun_operator.backends.kubernetes.objectnames import ExperimentRef, job_name
from kuberun_operator.server.auth import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_TTL,
    MAX_TOKEN_BYTES,
    Forbidden,
    ReviewCall,
    ReviewUnavailable,
    Unauthorized,
)

SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class PodIdentity:
    """The pod a bound token was minted for, as the TokenReview named it."""

    namespace: str
    account: str
    pod: str
    pod_uid: str


@dataclass(frozen=True)
class PodAttempt:
    """An attempt a verified pod runs: where its uploads may go."""

    namespace: str
    experiment: str
    uid: str      # the Experiment's
    task: str
    attempt: int
    pod: str
    node: int = 0  # the pod's completion index in its Indexed Job (0 for a one-pod Job): set by the Job controller


class PodLookups(Protocol):
    """The reads the check needs, with the operator's credentials; None when the object is gone."""

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def experiment(self, namespace: str, name: str) -> dict[str, Any] | None: ...


class KubeLookups:
    """``PodLookups`` over the operator's API client (``kuberun.api.Kube``). Pods are read with a
    field-selected list (the operator's RBAC has ``list`` on pods, not ``get``)."""

    def __init__(self, api_client: Any) -> None:
        self._api = api_client

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        answer = await self._call(f"/api/v1/namespaces/{namespace}/pods", fieldSelector=f"metadata.name={name}")
        items = (answer or {}).get("items") or []
        return items[0] if items else None

    async def job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._call(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")

    async def experiment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._call(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}")

    async def _call(self, path: str, **query: Any) -> dict[str, Any] | None:
        import json

        try:
            answer = await asyncio.to_thread(self._api.send, "GET", path, query=query or None)
        except Exception as exc:
            raise ReviewUnavailable(f"the API server could not be asked: {type(exc).__name__}") from None
        if answer.status == 404:
            return None
        if answer.status >= 400:
            raise ReviewUnavailable(f"the API server refused a lookup: {answer.status} {answer.reason}")
        return json.loads(answer.data or b"null")


class PodAuthenticator:
    def __init__(self, token_review: ReviewCall, lookups: PodLookups, *, ttl: float = DEFAULT_TTL,
                 size: int = DEFAULT_CACHE_SIZE, timer: Callable[[], float] | None = None) -> None:
        self._token_review, self._lookups = token_review, lookups
        kwargs: dict[str, Any] = {"timer": timer} if timer is not None else {}
        self._identities: TTLCache[str, PodIdentity | None] = TTLCache(size, ttl, **kwargs)
        self._attempts: TTLCache[tuple[Any, ...], PodAttempt] = TTLCache(size, ttl, **kwargs)

    async def identify(self, authorization: str | None) -> PodIdentity:
        """The pod behind ``Authorization: Bearer <bound token>``. Raises Unauthorized (401)."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_BYTES or not token.isprintable():
            raise Unauthorized("Unauthorized")
        key = hashlib.sha256(token.encode()).hexdigest()
        if key in self._identities:
            found = self._identities[key]
        else:
            answer = await self._token_review({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                               "spec": {"token": token, "audiences": [AUDIENCE]}})
            found = _pod_identity(answer.get("status") or {})
            self._identities[key] = found
        if found is None:
            raise Unauthorized("Unauthorized")
        return found

    async def attempt(self, authorization: str | None, namespace: str, experiment: str, task: str,
                      attempt: int) -> PodAttempt:
        """The attempt ``namespace/experiment`` ``task`` ``attempt`` if the calling pod runs it; else
        Unauthorized (no valid pod token) or Forbidden (a pod, but not of this attempt)."""
        who = await self.identify(authorization)
        key = (who, namespace, experiment, task, attempt)
        if key in self._attempts:
            return self._attempts[key]
        refused = Forbidden(f'pod "{who.pod}" in namespace "{who.namespace}" does not run experiment '
                            f'"{experiment}" task "{task}" attempt {attempt} in namespace "{namespace}": '
                            "it may upload only into its own attempt")
        if who.namespace != namespace:
            raise refused
        pod = await self._lookups.pod(namespace, who.pod)
        if pod is None or (pod.get("metadata") or {}).get("uid") != who.pod_uid:
            raise Unauthorized("Unauthorized")  # the token's pod is gone (or was replaced): the token is dead
        job_ref = _controller(pod, "batch/v1", "Job")
        job = await self._lookups.job(namespace, job_ref["name"]) if job_ref else None
        if job is None or job_ref is None or job["metadata"].get("uid") != job_ref.get("uid"):
            raise refused
        exp_ref = _controller(job, API_VERSION, KIND)
        if exp_ref is None or exp_ref.get("name") != experiment:
            raise refused
        exp = await self._lookups.experiment(namespace, experiment)
        if exp is None or exp["metadata"].get("uid") != exp_ref.get("uid"):
            raise refused
        labels = job["metadata"].get("labels") or {}
        ref = ExperimentRef(name=experiment, namespace=namespace, uid=str(exp["metadata"]["uid"]),
                            title=str((exp.get("spec") or {}).get("title") or ""))
        if (labels.get(LABEL_TASK) != task or labels.get(LABEL_ATTEMPT) != str(attempt)
                or job["metadata"].get("name") != job_name(ref, task, attempt)):
            raise refused
        index = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION, "0")
        if not isinstance(index, str) or not index.isdigit() or len(index) > 5:
            raise refused  # the Job controller writes a small number; anything else is not its pod
        found = PodAttempt(namespace, experiment, str(exp["metadata"]["uid"]), task, attempt, who.pod, int(index))
        self._attempts[key] = found
        return found


    async def experiment(self, found: PodAttempt) -> dict[str, Any] | None:
        """The live Experiment of a verified attempt, read now (None when it is gone or was replaced):
        for routes that must check what its spec says, such as the code download."""
        exp = await self._lookups.experiment(found.namespace, found.experiment)
        return exp if exp is not None and (exp.get("metadata") or {}).get("uid") == found.uid else None


def _controller(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("apiVersion") == api_version and ref.get("kind") == kind:
            return dict(ref)
    return None


def _pod_identity(status: dict[str, Any]) -> PodIdentity | None:
    if not status.get("authenticated") or AUDIENCE not in (status.get("audiences") or []):
        return None  # a review that ignored our audience proves nothing about it
    user = status.get("user") or {}
    name = str(user.get("username") or "")
    if not name.startswith(SA_PREFIX) or name.count(":") != 3:
        return None
    namespace, account = name[len(SA_PREFIX):].split(":")
    extra = user.get("extra") or {}
    pods, uids = extra.get(POD_NAME_EXTRA) or [], extra.get(POD_UID_EXTRA) or []
    if len(pods) != 1 or len(uids) != 1 or not pods[0] or not uids[0]:
        return None  # a ServiceAccount token not bound to a pod: not a task's
    return PodIdentity(namespace, account, str(pods[0]), str(uids[0]))
