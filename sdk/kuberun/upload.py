"""The runner's side of pod uploads: the task's series and artifacts sent to the record server as they grow.

On Kubernetes the operator cannot reach a pod's files, so the runner sends them (the contract and
why it needs no credentials in the pod: ``kuberun.resource.upload``). ``Uploader`` runs beside the
task: every ``period`` seconds while it runs (so a checkpoint survives a lost node) and once more
when it ends. It is incremental: a file whose size and mtime are unchanged is not read; one whose
sha256 matches what was last sent is not sent again. Each request is retried a bounded number of
times with backoff; the final round has a deadline. A failed upload never fails the task — it is
reported on stderr (the task's log) and tried again next round.

On a multi-node attempt every pod uploads (its processes' local rank 0): node 0 to the attempt's
own route, as a one-pod attempt does; node k its artifacts under ``nodes/<k>/`` (``upload.node_base``).

The token file is re-read before every request: the kubelet replaces it before it expires.
Only regular files are sent; a symlink is skipped with a line in the log (an artifact is a file
the task wrote, and a link could name anything on the node). Stdlib only: it ships in the runner bundle.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from kuberun.resource import upload

RETRIES = 3
BACKOFF = 1.0          # seconds, doubled per retry
TIMEOUT = 60.0         # one request's socket timeout
FINAL_DEADLINE = 300.0  # the last round gives up after this long: a dead server must not hold the pod
CHUNK = 1 << 20


class Uploader:
    def __init__(self, base_url: str, token_file: Path, ca_pem: str | None, metrics_file: Path | None,
                 artifacts_dir: Path | None, period: float = upload.DEFAULT_PERIOD) -> None:
        self.base, self.token_file, self.period = base_url.rstrip("/"), token_file, period
        self.metrics_file, self.artifacts_dir = metrics_file, artifacts_dir
        self._ssl = ssl.create_default_context(cadata=ca_pem) if ca_pem else None
        self._sent: dict[str, tuple[int, int, str]] = {}   # key -> (size, mtime_ns, sha256) last sent
        self._reported: set[str] = set()
        self._refused: set[str] = set()  # keys the server refused for what they are (too large, bad name)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.failures = 0

    @classmethod
    def from_env(cls) -> Uploader | None:
        """The uploader the pod's environment asks for (None when uploads are not set up)."""
        url, token = os.environ.get(upload.URL_ENV), os.environ.get(upload.TOKEN_ENV)
        node = os.environ.get("NODE_RANK", "0")
        if not url or not token or os.environ.get("LOCAL_RANK", "0") != "0" or not node.isdigit():
            return None  # under torchrun every process runs the runner: one per pod (local rank 0) uploads its files
        from kuberun.resource.summary import METRICS_ENV

        metrics, artifacts = os.environ.get(METRICS_ENV), os.environ.get("KUBERUN_ARTIFACTS_DIR")
        if int(node) > 0:  # another node of a multi-node attempt: its own artifacts, under nodes/<k>/ (node 0 keeps the series)
            url, metrics = upload.node_base(url, int(node)), None
        try:
            period = max(1.0, float(os.environ.get(upload.PERIOD_ENV) or upload.DEFAULT_PERIOD))
        except ValueError:
            period = upload.DEFAULT_PERIOD
        try:
            return cls(url, Path(token), os.environ.get(upload.CA_ENV) or None, Path(metrics) if metrics else None,
                       Path(artifacts) if artifacts else None, period)
        except (ssl.SSLError, ValueError) as exc:
            _say(f"uploads are off: the record server's CA is not usable ({exc})")
            return None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kuberun-upload", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Stop the periodic rounds and send what is new, within ``FINAL_DEADLINE``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=FINAL_DEADLINE)
        self.round(time.monotonic() + FINAL_DEADLINE)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.round(time.monotonic() + self.period * 4)

    def round(self, deadline: float) -> None:
        """Send the series and every new or changed artifact once (one round at a time)."""
        with self._lock:
            if self.metrics_file is not None and self.metrics_file.is_file():
                self._send_if_changed("metrics", self.metrics_file, f"{self.base}/{upload.METRICS}", deadline)
            for relative, path in self._artifacts():
                if time.monotonic() > deadline:
                    _say("upload round stopped at its deadline; the rest goes next round")
                    return
                self._send_if_changed(f"artifacts/{relative}", path, upload.artifact_path(self.base, relative), deadline)

    def _artifacts(self) -> list[tuple[str, Path]]:
        root = self.artifacts_dir
        if root is None or not root.is_dir():
            return []
        found = []
        for directory, dirs, files in os.walk(root):  # os.walk does not follow directory symlinks
            dirs.sort()
            for name in sorted(files):
                path = Path(directory) / name
                relative = path.relative_to(root).as_posix()
                if path.is_symlink() or not path.is_file():
                    if relative not in self._reported:
                        self._reported.add(relative)
                        _say(f"artifact {relative!r} is not a regular file (a symlink?): not uploaded")
                    continue
                found.append((relative, path))
        return found

    def _send_if_changed(self, key: str, path: Path, url: str, deadline: float) -> None:
        try:
            st = path.stat()
            before = self._sent.get(key)
            if before is not None and before[:2] == (st.st_size, st.st_mtime_ns):
                return
            digest = _sha256(path)
            if before is not None and (before[0], before[2]) == (st.st_size, digest):
                self._sent[key] = (st.st_size, st.st_mtime_ns, digest)
                return
        except OSError as exc:
            _say(f"upload of {key!r}: cannot read it ({exc.strerror})")
            return
        if self._put(url, path, st.st_size, key, deadline) or key in self._refused:
            self._sent[key] = (st.st_size, st.st_mtime_ns, digest)  # sent, or refused for good: not until it changes

    def _put(self, url: str, path: Path, size: int, key: str, deadline: float) -> bool:
        self._refused.discard(key)
        delay = BACKOFF
        for attempt in range(1, RETRIES + 1):
            try:
                token = self.token_file.read_text().strip()
                with open(path, "rb") as body:
                    request = urllib.request.Request(url, data=body, method="PUT", headers={
                        "Authorization": f"Bearer {token}", "Content-Length": str(size),
                        "Content-Type": "application/octet-stream"})
                    with urllib.request.urlopen(request, timeout=TIMEOUT, context=self._ssl) as answer:
                        answer.read()
                return True
            except urllib.error.HTTPError as exc:
                detail = f"HTTP {exc.code}: {upload.answer_message(exc)}"
                if exc.code in (400, 411, 413):  # this file as it is cannot succeed: not again until it changes
                    self._refused.add(key)
                    attempt = RETRIES
                elif exc.code in (401, 403):  # the same token will not do better now; next round may
                    attempt = RETRIES
            except (OSError, ValueError) as exc:
                detail = f"{type(exc).__name__}: {exc}"
            if attempt >= RETRIES or time.monotonic() + delay > deadline:
                self.failures += 1
                _say(f"upload of {key!r} failed ({detail}); the task goes on, and it is tried again next round")
                return False
            time.sleep(delay)
            delay *= 2
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()



def _say(message: str) -> None:
    print(f"kuberun: {message}", file=sys.stderr, flush=True)
