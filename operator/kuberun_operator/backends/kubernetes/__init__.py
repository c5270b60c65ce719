"""The Kubernetes backend: an attempt is a ``batch/v1`` Job.

``manifests`` builds the objects (pure), ``status`` reads Jobs and pods back (pure), ``caches``
holds what the operator's watches saw, ``backend`` performs the calls.
"""

from kuberun_operator.backends.kubernetes.backend import KubernetesBackend
from kuberun_operator.backends.kubernetes.caches import JobCache, PodCache

__all__ = ["JobCache", "KubernetesBackend", "PodCache"]
