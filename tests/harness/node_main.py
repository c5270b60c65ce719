"""``python -m tests.harness.node_main KUBECONFIG DATA_DIR``: the sandbox node alone, in its own process.

Why: the chaos suite SIGKILLs the node, which only a process of its own allows (``kuberun
sandbox`` runs it on a thread beside the API server). It logs in with the kubeconfig's token and
trusts its CA; prints ``node ready`` once both watches have listed; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import signal
import ssl
import sys
from pathlib import Path

import yaml

from kuberun_sandbox.node import SandboxNode


async def _main(kubeconfig: Path, data_dir: Path) -> int:
    config = yaml.safe_load(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    node = SandboxNode(cluster["server"], data_dir, token=user["token"], ssl_context=ssl.create_default_context(cadata=ca))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await node.start(wait_synced=60)
    print("node ready", flush=True)
    await stop.wait()
    await node.stop()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(_main(Path(sys.argv[1]), Path(sys.argv[2]))))
