"""``kuberun sandbox [--port N] [--data-dir DIR] [--no-operator] [--control-plane emulator|real|auto]``
(also ``python -m kuberun_sandbox``)."""

from __future__ import annotations

import argparse
import pathlib
import sys

from .realmode import CHOICES
from .run import DEFAULT_DATA_DIR, DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kuberun sandbox", description="Run a local Kubernetes control plane.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API server port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA_DIR, help="state, logs, kubeconfig")
    parser.add_argument("--no-operator", action="store_true", help="do not run the kuberun operator in-process")
    parser.add_argument("--control-plane", choices=CHOICES, default="emulator",
                        help="emulator: kuberun's API server (no dependencies); real: etcd, kube-apiserver and "
                             "kube-controller-manager built by `make kube-tools`; auto: real when installed")
    args = parser.parse_args(argv)
    return serve(port=args.port, data_dir=args.data_dir, operator=not args.no_operator,
                 control_plane=args.control_plane)


if __name__ == "__main__":
    sys.exit(main())
