"""``kuberun sandbox [--port N] [--data-dir DIR] [--no-operator] [--control-plane emulator|real|auto]``
(also ``python -m kuberun_sandbox``), and ``kuberun sandbox user NAME [--group G]... [--namespace NS]``:
a kubeconfig for a new user."""

from __future__ import annotations

import argparse
import pathlib
import sys

from .realmode import CHOICES
from .run import DEFAULT_DATA_DIR, DEFAULT_PORT, serve


def _user(argv: list[str]) -> int:
    from . import users

    parser = argparse.ArgumentParser(prog="kuberun sandbox user", description="Mint a user and write its kubeconfig.")
    parser.add_argument("name")
    parser.add_argument("--group", action="append", default=[], help="a group of the user (repeatable)")
    parser.add_argument("--namespace", help="grant the user `edit` there (created if missing); its default namespace")
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA_DIR, help="the running sandbox's state")
    parser.add_argument("-o", "--output", type=pathlib.Path, help="kubeconfig path (default: DATA/users/NAME.kubeconfig)")
    args = parser.parse_args(argv)
    admin = args.data_dir.expanduser() / "kubeconfig"
    token = users.kubeconfig_token(admin)
    if token is None:
        why = ("it has no token (a --control-plane real sandbox uses client certificates: mint its users with "
               "Sandbox.mint_user)" if admin.exists() else "start `kuberun sandbox` first")
        print(f"error: no emulator sandbox kubeconfig at {admin}: {why}", file=sys.stderr)
        return 1
    import yaml

    server = yaml.safe_load(admin.read_text())["clusters"][0]["cluster"]["server"]
    try:
        path = users.mint_user(args.data_dir.expanduser(), server, token, args.name, tuple(args.group),
                               args.namespace, args.output, users.kubeconfig_ca(admin))
    except users.UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, users.KubeError) as e:
        print(f"error: cannot reach the sandbox at {server} ({e}); is `kuberun sandbox` running?", file=sys.stderr)
        return 1
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["user"]:
        return _user(argv[1:])
    parser = argparse.ArgumentParser(prog="kuberun sandbox", description="Run a local Kubernetes control plane.",
                                     epilog="`kuberun sandbox user NAME [--group G] [--namespace NS]` mints a user.")
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
