"""The runner's download of a code package over the ConfigMap limit, on Kubernetes.

Such a package is in the operator's log store, and the pod holds no store credentials. It does hold
what its uploads use (``kuberun.resource.upload``): the attempt's base URL on the record server, a
pod-bound token the kubelet keeps fresh, and the server's CA. So the runner asks
``GET <base>/code/<sha256>`` with that token; the server answers only for the digest the pod's own
attempt's task names. Nothing in the pod spec is secret, and no URL from the Experiment is fetched.

Nothing the server sends is trusted: the body is read up to the recorded size plus one byte (a
longer one is refused, so a hostile store cannot fill the pod's memory), and its size and sha256
must match the record before anything is unpacked. Failures a retry may cure (connection errors, 5xx,
429, a body that ends early) are retried a bounded number of times with backoff inside a deadline;
the server's refusals (401, 403, 404) and wrong bytes are final. Each failure is a line on stderr
(the task's log); the last raises ``CodeFetchError`` or ``PackageIntegrityError`` and the runner
exits 2. Stdlib only, like the rest of the runner.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from kuberun.packaging.errors import PackageIntegrityError, PackagingError
from kuberun.resource import upload

ATTEMPTS = 5
BACKOFF = 1.0        # seconds before the second try, doubled after each
DEADLINE = 300.0     # no new try starts after this many seconds
TIMEOUT = 60.0       # one request's socket timeout
CHUNK = 1 << 20
FINAL = (400, 401, 403, 404, 409)  # the server's considered answers: trying again gets the same one


class CodeFetchError(PackagingError):
    """The package could not be downloaded: no server to ask, a refusal, or every try failed."""


class _Retry(Exception):
    pass


def download(sha256: str, size: int, env: Mapping[str, str] | None = None, *,
             sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> bytes:
    """The package recorded as ``sha256`` of ``size`` bytes, from the record server the environment names."""
    env = os.environ if env is None else env
    base, token_file = env.get(upload.URL_ENV), env.get(upload.TOKEN_ENV)
    if not base or not token_file:
        raise CodeFetchError(f"the code package {sha256[:12]} ({size} bytes) is in the operator's store, and this pod "
                             f"has no record server to download it from (${upload.URL_ENV} or ${upload.TOKEN_ENV} unset)")
    if not base.startswith("https://"):
        raise CodeFetchError(f"refusing to send the pod's token to {base!r:.200}: the record server must be https")
    try:
        context = ssl.create_default_context(cadata=env.get(upload.CA_ENV) or None)
    except (ssl.SSLError, ValueError) as exc:
        raise CodeFetchError(f"the record server's CA (${upload.CA_ENV}) is not usable: {exc}") from None
    url = upload.code_download_url(base, sha256)
    start, delay = clock(), BACKOFF
    for attempt in range(1, ATTEMPTS + 1):
        try:
            data = _get(url, Path(token_file), context, size)
        except _Retry as exc:
            if attempt == ATTEMPTS or clock() + delay - start > DEADLINE:
                raise CodeFetchError(f"downloading code package {sha256[:12]} from {url} failed {attempt} time(s); "
                                     f"last: {exc}") from None
            _say(f"downloading code package {sha256[:12]}: try {attempt} of {ATTEMPTS} failed ({exc}); "
                 f"trying again in {delay:g} s")
            sleep(delay)
            delay *= 2
            continue
        _check(data, sha256, size)
        return data
    raise AssertionError("unreachable")  # pragma: no cover


def _get(url: str, token_file: Path, context: ssl.SSLContext, size: int) -> bytes:
    try:
        token = token_file.read_text().strip()  # re-read each try: the kubelet rotates it
    except OSError as exc:
        raise _Retry(f"cannot read the pod's token {token_file}: {exc.strerror}") from None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as answer:
            parts, got = [], 0
            while chunk := answer.read(min(CHUNK, size + 1 - got)):
                parts.append(chunk)
                got += len(chunk)
                if got > size:
                    break
    except urllib.error.HTTPError as exc:
        detail = f"HTTP {exc.code}: {upload.answer_message(exc)}"
        if exc.code in FINAL:
            raise CodeFetchError(f"the record server refused the code package at {url}: {detail}") from None
        raise _Retry(detail) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, TLS failures, a short body (IncompleteRead)
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    data = b"".join(parts)
    if len(data) < size:
        raise _Retry(f"the body ended after {len(data)} of {size} bytes")
    return data


def _check(data: bytes, sha256: str, size: int) -> None:
    if len(data) > size:
        raise PackageIntegrityError(f"code package digest mismatch: recorded sha256 {sha256} ({size} bytes), the record "
                                    f"server sent more than {size} bytes: refused, nothing unpacked")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise PackageIntegrityError(f"code package digest mismatch: recorded sha256 {sha256} ({size} bytes), the record "
                                    f"server sent bytes with sha256 {actual}: the store holds other bytes; refused, "
                                    "nothing unpacked")



def _say(message: str) -> None:
    print(f"kuberun: {message}", file=sys.stderr, flush=True)
