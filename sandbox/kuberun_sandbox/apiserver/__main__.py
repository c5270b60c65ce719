"""``python -m kuberun_sandbox.apiserver``: the API server emulator alone, in its own process.

Why a separate entry point: the crash test and the write benchmark must be able to ``kill -9`` the
server, and measure it without a client sharing its interpreter (and its GIL). ``kuberun sandbox``
runs the same server together with the node and the operator.

Prints one line, ``listening on https://127.0.0.1:PORT``, once the server accepts connections
(``--port 0`` picks a free port); SIGTERM/SIGINT stop it cleanly. The server authenticates every
request, so a client in another process needs a token and the server's CA: ``--kubeconfig PATH``
writes an administrator's kubeconfig (0600, a token minted for ``kuberun-sandbox`` in
``system:masters``, the CA as ``certificate-authority-data``) before that line is printed. That
administrator can also inject faults over HTTP (``/_sandbox/faults``, see ``faultroute.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import sys

from .durable import SYNC_MODES
from .server import ApiServer, ServerStartError


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kuberun_sandbox.apiserver",
                                     description="Run the Kubernetes API server emulator on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None,
                        help="where the state lives (default: memory only, lost on exit)")
    parser.add_argument("--sync", choices=SYNC_MODES, default=None,
                        help="'normal' survives a process crash, 'full' also a power loss (slower); "
                             "default: $KUBERUN_APISERVER_SYNC or normal")
    parser.add_argument("--kubeconfig", type=pathlib.Path, default=None,
                        help="write an administrator's kubeconfig (token and CA) for this server here")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> int:
    try:
        server = ApiServer(data_dir=args.data_dir, sync=args.sync)
        await server.start(port=args.port)
    except (ServerStartError, ValueError) as e:  # ValueError: a bad $KUBERUN_APISERVER_SYNC
        print(f"error: {e}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.kubeconfig is not None:
        from ..kubeconfig import write_kubeconfig

        write_kubeconfig(args.kubeconfig, server.url)  # an in-process server: an admin token and its CA
    print(f"listening on {server.url}", flush=True)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_serve(_parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
