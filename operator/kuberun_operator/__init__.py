"""kuberun operator: kopf handlers over a pure reconcile."""
