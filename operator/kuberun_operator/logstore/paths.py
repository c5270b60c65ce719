"""Where things live in a log store, and the one check every relative path passes.

Layout (relative to the store's root URL)::

    <namespace>/<experiment-name>-<uid8>/<task>/<attempt>/log                 the attempt's log
    <namespace>/<experiment-name>-<uid8>/<task>/<attempt>/artifacts/<path>    its artifacts
    <namespace>/<experiment-name>-<uid8>/<task>/<attempt>/artifacts.manifest.json
    <namespace>/code/<sha256>.tar.gz                                          a code package over 8 MiB

A code package is stored once per namespace and digest (``code`` cannot be an experiment's directory:
those always end in ``-<uid8>``); only bytes that match the digest are ever committed under it.

``uid8`` (the first 8 hex digits of the Experiment's UID) keeps two experiments that reused a name
apart — names are recycled, the archive is forever — while the name keeps a bucket listing readable.
Attempts are numbered as in the status (0, 1, ...), so a retry never overwrites an earlier log.

Keys and manifest paths come from object names (validated by the CRD) and from file names a task
chose (not validated by anyone), so :func:`parts` refuses anything that could leave its prefix or
confuse a backend: absolute paths, ``.``/``..``/empty components, backslashes, control characters,
names that are not UTF-8, and keys past S3's 1024-byte limit.
"""

from __future__ import annotations

import re

from kuberun.resource import constants
from kuberun_operator.logstore import errors

MAX_KEY_BYTES = 1024  # S3's limit for a whole key; directories allow more, but one rule for both
LOG_NAME = "log"
ARTIFACTS_DIR = "artifacts"
MANIFEST_SUFFIX = ".manifest.json"
CODE_DIR = "code"

_LABEL = re.compile(constants.DNS1123_LABEL)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parts(path: str, what: str = "key") -> tuple[str, ...]:
    """The components of a safe relative path, or :class:`UnsafePathError` naming the problem.

    The message quotes the path with ``repr`` (so a hostile name cannot forge log lines) and cut short.
    """
    shown = repr(path)[:200]
    if not isinstance(path, str) or not path:
        raise errors.UnsafePathError(f"{what} {shown}: must be a non-empty relative path")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise errors.UnsafePathError(f"{what} {shown}: not valid UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise errors.UnsafePathError(f"{what} {shown}: {size} bytes, more than {MAX_KEY_BYTES}")
    if path.startswith("/"):
        raise errors.UnsafePathError(f"{what} {shown}: absolute paths are refused")
    if "\\" in path:
        raise errors.UnsafePathError(f"{what} {shown}: backslashes are refused")
    if _CONTROL.search(path):
        raise errors.UnsafePathError(f"{what} {shown}: control characters are refused")
    items = tuple(path.split("/"))
    for item in items:
        if item in ("", ".", ".."):
            raise errors.UnsafePathError(f"{what} {shown}: empty, '.' and '..' components are refused")
    return items


def join(prefix: str, path: str, what: str = "path") -> str:
    """``prefix/path`` after checking both; the result is checked against the key limit too."""
    key = "/".join((*parts(prefix, "prefix"), *parts(path, what)))
    parts(key, what)
    return key


def uid8(uid: str) -> str:
    digits = uid.replace("-", "").lower()
    if len(digits) < 8 or not re.fullmatch(r"[0-9a-f]+", digits):
        raise errors.UnsafePathError(f"uid {uid!r:.80}: expected a Kubernetes UID (hex digits and dashes)")
    return digits[:8]


def attempt_prefix(namespace: str, experiment: str, uid: str, task: str, attempt: int) -> str:
    """``<namespace>/<experiment>-<uid8>/<task>/<attempt>``: everything one attempt leaves behind."""
    if not _LABEL.match(namespace) or len(namespace) > constants.MAX_NAME:
        raise errors.UnsafePathError(f"namespace {namespace!r:.80}: not a DNS-1123 label")
    if not _SUBDOMAIN.match(experiment) or len(experiment) > 253:
        raise errors.UnsafePathError(f"experiment name {experiment!r:.80}: not a DNS-1123 subdomain")
    if not _LABEL.match(task) or len(task) > constants.MAX_NAME:
        raise errors.UnsafePathError(f"task name {task!r:.80}: not a DNS-1123 label")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise errors.UnsafePathError(f"attempt {attempt!r:.40}: must be an integer >= 0")
    return f"{namespace}/{experiment}-{uid8(uid)}/{task}/{attempt}"


def log_key(namespace: str, experiment: str, uid: str, task: str, attempt: int) -> str:
    """The key of one attempt's log."""
    return f"{attempt_prefix(namespace, experiment, uid, task, attempt)}/{LOG_NAME}"


def artifacts_prefix(namespace: str, experiment: str, uid: str, task: str, attempt: int) -> str:
    """The prefix one attempt's artifacts are synced under (pass it to ``LogStore.sync_dir``)."""
    return f"{attempt_prefix(namespace, experiment, uid, task, attempt)}/{ARTIFACTS_DIR}"


def manifest_key(prefix: str) -> str:
    """Where ``sync_dir`` keeps the manifest of ``prefix``: beside it, so no artifact name can clash."""
    return "/".join(parts(prefix, "prefix")) + MANIFEST_SUFFIX


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def code_key(namespace: str, sha256: str) -> str:
    """Where a code package over the ConfigMap limit is stored: per namespace, named by its digest."""
    if not _LABEL.match(namespace) or len(namespace) > constants.MAX_NAME:
        raise errors.UnsafePathError(f"namespace {namespace!r:.80}: not a DNS-1123 label")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise errors.UnsafePathError(f"code digest {sha256!r:.80}: expected 64 lowercase hex digits")
    return f"{namespace}/{CODE_DIR}/{sha256}.tar.gz"
