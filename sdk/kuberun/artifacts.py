"""Where a task writes the files it wants kept: ``kr.artifacts_dir()``.

The runner of every backend points ``KUBERUN_ARTIFACTS_DIR`` at the attempt's output directory, and
the operator syncs what is there to the log store when the attempt ends (and periodically while it
runs, so checkpoints survive a lost node). Scripts read the variable; Python tasks call this. Outside
kuberun (a task function run by hand) there is no such variable and the files go to ``./artifacts``,
so the same code runs anywhere. Pure and cheap: no kuberun state, no I/O beyond creating the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from kuberun.errors import KuberunError

ENV = "KUBERUN_ARTIFACTS_DIR"
DEFAULT = "artifacts"


def artifacts_dir() -> Path:
    """The task's artifacts directory (created if missing), as an absolute path."""
    path = Path(os.environ.get(ENV) or DEFAULT).expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise KuberunError(f"{ENV}={path}: exists and is not a directory") from None
    except OSError as exc:
        raise KuberunError(f"{ENV}={path}: cannot create the artifacts directory ({exc.strerror})") from None
    return path
