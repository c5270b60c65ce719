"""Run an ``ApiServer`` on its own event loop thread (for synchronous tests and the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
from collections.abc import Iterator

from .server import ApiServer


@contextlib.contextmanager
def run_in_thread(data_dir: pathlib.Path | None = None, host: str = "127.0.0.1", port: int = 0,
                  tls_dir: pathlib.Path | None = None) -> Iterator[ApiServer]:
    """Start an ``ApiServer`` in a background thread (its CA kept in ``tls_dir`` if given); stop it (and its loop)
    on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="kuberun-apiserver", daemon=True)
    thread.start()
    server = ApiServer(data_dir=data_dir, tls_dir=tls_dir)
    try:
        asyncio.run_coroutine_threadsafe(server.start(host=host, port=port), loop).result(timeout=30)
        server.loop = loop  # type: ignore[attr-defined]  # lets tests schedule work on the server's loop
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
