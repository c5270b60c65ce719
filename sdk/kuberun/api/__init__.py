"""The SDK's one way to the Kubernetes API: ``connect()`` gives a ``Kube`` for a kubeconfig context.

``kubeconfig.py`` reads kubeconfigs (JSON by ``json``, YAML by PyYAML's C loader;
``execplugin.py`` runs credential plugins); ``client.py`` sends requests and turns failures into the
typed errors of ``kuberun.errors``, over urllib3's pool or, for the CLI's read commands, one
standard-library connection (``lean.py``: ``http.client`` and ``ssl``). urllib3 is imported only when
a pooled client is made, so importing this package costs nothing for ``kuberun --help``.
"""

from kuberun.api.client import JSON_PATCH, MERGE_PATCH, Kube, Op, connect
from kuberun.api.kubeconfig import Credentials, load_credentials

__all__ = ["JSON_PATCH", "MERGE_PATCH", "Credentials", "Kube", "Op", "connect", "load_credentials"]
