"""``metav1.LabelSelector`` as a predicate on labels, for aggregated ClusterRoles and admission
policies' namespace/object selectors; the query-string form lives in ``..selection``.

The matcher itself is the SDK's (``kuberun.resource.labelselector``), the one the operator's
namespace grants use too: an empty selector matches everything, a malformed one nothing (the
real server refuses it at write time).
"""

from __future__ import annotations

from kuberun.resource.labelselector import matches

__all__ = ["matches"]
