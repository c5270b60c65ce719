"""Manage: list, inspect, follow, cancel and reproduce Experiments through the cluster's record.

Everything here reads and writes only the Kubernetes API (and, for logs, the backends). It talks
to the API with a small urllib3 client (``kube.py``) instead of the ``kubernetes`` package, whose
import alone costs ~0.6 s: ``kuberun list`` must answer faster than that.
"""
