"""Bounds on what one archive row may hold, so a runaway record cannot grow the database unboundedly.

The documents (spec, status) come from objects the API server accepted, and etcd refuses any
request over 1.5 MiB by default, so ``MAX_DOCUMENT_BYTES`` (2 MiB of JSON) admits every real
object while still refusing garbage with a clear error instead of a multi-gigabyte row. Events
are auxiliary and numerous, so they are trimmed (newest kept, the number dropped recorded)
rather than refused. Metric series and locations are bounded per call; callers page larger
uploads.
"""

from __future__ import annotations

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024   # spec or status, as compact UTF-8 JSON
MAX_EVENTS = 1000                      # Events kept per experiment (newest win)
MAX_EVENTS_BYTES = 1024 * 1024         # their compact UTF-8 JSON, all together
MAX_LABELS_BYTES = 64 * 1024           # metadata.labels; Kubernetes allows 256 KiB for all annotations

MAX_NAME = 253                         # names of tasks, metrics, namespaces; a DNS subdomain's length
MAX_POINTS_PER_CALL = 100_000          # metric points accepted by one record_metrics call
MAX_LOCATIONS_PER_CALL = 10_000        # locations accepted by one record_locations call
MAX_ATTEMPTS_PER_CALL = 20_000         # attempts accepted by one record_attempts call (1,000 tasks x 11 fit)
MAX_ATTEMPT_BYTES = 256 * 1024         # one attempt's status entry; the models bound it far lower (~40 KiB)
MAX_CONFIG_MAPS_PER_CALL = 64         # ConfigMaps accepted by one record_config_maps call
MAX_CONFIG_MAP_BYTES = 3 * 1024 * 1024 // 2  # one ConfigMap's content (the API server refuses over 1 MiB)
MAX_URL = 2048                         # a log or artifact location
LOCATION_KINDS = frozenset({"log", "artifact"})

DEFAULT_LIMIT = 100                    # query page size when none is given
MAX_LIMIT = 1000                       # the largest page a query may ask for
