"""The sandbox node as a process of its own: ``python -m kuberun_sandbox.nodeproc``.

Why: a node inside the test's (or the sandbox's) interpreter can only be stopped politely; crash
safety is only shown by a node that is SIGKILLed mid-run and started again on the same data
directory. This runs one ``SandboxNode`` against an API server URL until SIGTERM/SIGINT (a clean
stop) or SIGKILL (a crash), and prints ``READY`` once its watches have listed, so a harness knows
when it runs (``tests/helpers/sandbox_node.py``). The token is read from a file, never taken from
the command line (argv is visible to every user of the machine).

    python -m kuberun_sandbox.nodeproc --server https://127.0.0.1:PORT --token-file T --ca-file CA \\
        --data-dir DIR [--gc-period SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import ssl

READY = "READY"


async def _run(args: argparse.Namespace) -> None:
    from .node import SandboxNode

    token = pathlib.Path(args.token_file).read_text().strip() if args.token_file else None
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    node = SandboxNode(args.server, args.data_dir, token=token, ssl_context=context, gc_period=args.gc_period)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await node.start(wait_synced=60)
    print(READY, flush=True)
    try:
        await stop.wait()
    finally:
        await node.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the API server's URL")
    parser.add_argument("--token-file", help="a file holding the node's bearer token")
    parser.add_argument("--ca-file", help="the API server's CA certificate (PEM)")
    parser.add_argument("--data-dir", type=pathlib.Path, required=True, help="logs, pod directories and records")
    parser.add_argument("--gc-period", type=float, default=30.0, help="seconds between garbage collections")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
