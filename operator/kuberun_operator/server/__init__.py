"""The record server: task logs and the archive over HTTP, for callers RBAC allows — argo-server style.

Logs of attempts that ran outside Kubernetes (Slurm, Lepton, SkyPilot, the local executor) can only
be read with the operator's backend credentials, and archived experiments live in the operator's
database; neither should be handed to users. So the operator serves them itself, authenticating
each caller's own Kubernetes bearer token (TokenReview) and authorizing it against the Experiment
(SubjectAccessReview), and the CLI and dashboard call it with the user's kubeconfig token.
Modules: ``auth`` (reviews and their caches), ``records`` (live object or archive), ``logs``
(archived or live log of one attempt), ``routes`` (HTTP, and the verb each route needs), ``code``
(code packages over the ConfigMap limit, uploaded by their submitter), ``app`` (assembly, TLS,
``RecordServer``); for callers that are task pods, ``podauth`` (a pod-bound token followed to the
attempt its pod runs: reuse it for any route that serves pods) and ``uploads`` (the pods' series and
artifacts into the store). See docs/record-server.md.
"""

from kuberun_operator.server.app import RecordServer, ServerConfig, build_app
from kuberun_operator.server.auth import Identity, KubeReviews, Reviewer
from kuberun_operator.server.podauth import PodAttempt, PodAuthenticator

__all__ = ["Identity", "KubeReviews", "PodAttempt", "PodAuthenticator", "RecordServer", "Reviewer", "ServerConfig",
           "build_app"]
