"""What an Experiment records about the code shipped with its tasks: a content-addressed package.

The record is the digest, not the bytes: ``sha256`` names the package (a deterministic tar.gz),
``git`` says where it came from, and ``storage`` says where a backend fetches it — ConfigMap
chunks in the Experiment's namespace (up to ``CONFIGMAP_CODE_LIMIT``) or a URL in an object store
beyond that. Months later, reproduce finds the same bytes by the same digest, and the runner
refuses anything else. ``TaskSpec.code`` holds it (``kuberun.packaging.ship`` fills it in).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from kuberun.resource.base import KubeModel
from kuberun.resource.constants import CHUNK_SIZE, LABEL_PREFIX

CODE_ENCODING = "tar+gzip"
# Packages up to this size are stored as ConfigMaps of at most CHUNK_SIZE bytes each; beyond it,
# a URL store is needed (the archive/log store). 8 MiB is eleven chunks: enough for a source tree,
# small enough not to load etcd with data that belongs in an object store.
CONFIGMAP_CODE_LIMIT = 8 * 1024 * 1024
MAX_CODE_CHUNKS = -(-CONFIGMAP_CODE_LIMIT // CHUNK_SIZE)
LABEL_CODE_DIGEST = f"{LABEL_PREFIX}/code-digest"
ANNOTATION_CODE_SHA256 = f"{LABEL_PREFIX}/code-sha256"
ANNOTATION_CHUNK = f"{LABEL_PREFIX}/code-chunk"
CHUNK_KEY = "chunk"
# Set by the operator's collector (``kuberun_operator/codegc``) on a chunk no Experiment references,
# with the time it saw that; a submit that reuses the chunk removes it (``manage/submit``).
ANNOTATION_CODE_UNREFERENCED = f"{LABEL_PREFIX}/code-unreferenced-since"
# Beyond CONFIGMAP_CODE_LIMIT a package is uploaded through the record server into the operator's log
# store, once per namespace and digest; ``storage.url`` then says so. The URL names the digest only:
# the operator derives the key from the Experiment's own namespace, so a spec cannot point at another
# namespace's package.
STORE_URL_PREFIX = "kuberun-store:code/"


def store_url(sha256: str) -> str:
    """``storage.url`` of a package kept in the operator's store."""
    return f"{STORE_URL_PREFIX}{sha256}.tar.gz"


def in_store(storage: CodeStorage, sha256: str) -> bool:
    """Whether ``storage`` is the operator's store, for this digest (any other URL is not ours to read)."""
    return storage.url == store_url(sha256)


class GitRef(KubeModel):
    """The commit a package was made from; ``dirty``: the package differs from that commit."""

    revision: str | None = Field(None, pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    remote: str | None = Field(None, max_length=1024, description="Without credentials.")
    dirty: bool | None = None


class CodeStorage(KubeModel):
    """Where the package's bytes are: ConfigMap chunks (in order) or a URL, exactly one."""

    # Bounded items: a real API server estimates CEL rule cost from the longest possible string.
    config_maps: list[Annotated[str, StringConstraints(max_length=253)]] | None = Field(None, min_length=1, max_length=MAX_CODE_CHUNKS,
                                          description="ConfigMap names, in order; each holds one chunk under binaryData.chunk.")
    url: str | None = Field(None, max_length=2048, description="An object-store URL, without credentials.")

    @model_validator(mode="after")
    def _exactly_one(self) -> CodeStorage:
        if (self.config_maps is None) == (self.url is None):
            raise ValueError("code storage is either configMaps or url, exactly one")
        return self


class CodeRef(KubeModel):
    """A code package shipped with a task: unpacked into the working directory and put on ``sys.path``."""

    encoding: Literal["tar+gzip"]
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    size: int = Field(..., ge=0, description="Bytes of the compressed package.")
    files: int = Field(..., ge=0)
    git: GitRef | None = None
    storage: CodeStorage
