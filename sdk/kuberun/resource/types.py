"""Constrained value types the Experiment's fields share, each checked where Kubernetes would check it.

Without them a bad value passed the SDK and the CRD and failed only in the pod: an env name such as
``A=B`` left the pod Pending forever and the experiment Running with no reason. The patterns are
Kubernetes' own, so what the SDK accepts the API server accepts:

- environment variable names: ``[-._a-zA-Z][-._a-zA-Z0-9]*`` (apimachinery's ``IsEnvVarName``);
- resource quantities: the ``resource.Quantity`` grammar (``500m``, ``2``, ``16Gi``, ``1e3``).

Maps of env vars are bounded (``MAX_ENV``), as every list and map of the resource is.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
MAX_ENV = 256
MAX_ENV_NAME = 256

EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME, min_length=1, max_length=MAX_ENV_NAME)]
EnvVars = Annotated[dict[EnvName, str], Field(max_length=MAX_ENV)]
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY, max_length=64)]
