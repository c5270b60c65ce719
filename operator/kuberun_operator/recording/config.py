"""Build the recorder from the operator's settings: which archive, which log store, if any.

The archive's URL may hold a password, so on clusters it comes from a file (the chart mounts the
connection Secret) and is read only when the archive is opened — it is never in ``Settings``, a
flag, a log line or an Event. A bad log store URL is a configuration error at start-up (the
operator refuses to start), not a surprise at the first attempt's end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kuberun_operator.backends.base import Backend
from kuberun_operator.kube import Kube
from kuberun_operator.logstore import LogStore, StoreOptions
from kuberun_operator.recording.recorder import Key, Recorder
from kuberun_operator.settings import Settings


def archive_url(settings: Settings) -> Callable[[], str] | None:
    if settings.archive_url_file is not None:
        path: Path = settings.archive_url_file
        return lambda: path.read_text().strip()
    if settings.archive_url:
        url = settings.archive_url
        return lambda: url
    return None


def build_recorder(settings: Settings, kube: Kube, backends: Mapping[str, Backend], *, wake: Callable[[Key], None],
                   warn: Callable[[dict[str, Any], Any], None], metrics: Any = None) -> Recorder | None:
    """The recorder, or None when neither an archive nor a log store is configured."""
    url = archive_url(settings)
    store = (LogStore.from_url(settings.log_store_url, StoreOptions(secret_dir=settings.log_store_secret_dir))
             if settings.log_store_url else None)
    if url is None and store is None:
        return None
    return Recorder(kube, backends, archive_url=url, store=store, wake=wake, warn=warn, metrics=metrics)
