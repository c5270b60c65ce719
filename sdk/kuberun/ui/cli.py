"""``kuberun ui [--port N] [--kubeconfig F] [--context C] [-n NS | -A] [--in-cluster --host H]``: serve the dashboard.

``--in-cluster`` is what the chart's Deployment runs: shared, on each ``--host`` (the pod's address,
and 127.0.0.1 for ``kubectl port-forward``, which connects to the pod's loopback),
every user signed in with their own bearer token and every read and action made with it
(``incluster``); the kubeconfig (in a pod: the ServiceAccount) is used for TokenReviews only.

Registered in the ``kuberun.commands`` entry-point group (``main(argv) -> exit code``), so the
SDK's CLI loads aiohttp and Jinja2 only when this command runs. Bad flags and an unreadable
kubeconfig end as one line on stderr and exit code 2/1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kuberun ui", description="Serve a web dashboard of the cluster's experiments on 127.0.0.1.")
    p.add_argument("--port", type=int, default=8642, help="TCP port on 127.0.0.1 (default 8642; 0 picks a free one)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--context", default=None, help="kubeconfig context to use")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-n", "--namespace", default=None, help="namespace to show (default: the context's)")
    where.add_argument("-A", "--all-namespaces", action="store_true", help="show experiments in every namespace")
    p.add_argument("--in-cluster", action="store_true",
                   help="serve many users, each signed in with their own bearer token (the chart's Deployment)")
    p.add_argument("--host", action="append", default=None,
                   help="address to listen on with --in-cluster, repeatable (default 127.0.0.1)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be between 0 and 65535, got {args.port}", file=sys.stderr)
        return 2
    if args.in_cluster:
        return _in_cluster(args)
    if args.host is not None and args.host != ["127.0.0.1"]:
        print("error: --host is for --in-cluster; the personal dashboard listens on 127.0.0.1 only", file=sys.stderr)
        return 2
    from kuberun.ui import data

    try:
        record = data.Record(args.kubeconfig, args.context, args.namespace, args.all_namespaces)
    except data.KuberunError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    from kuberun.ui import server

    try:
        server.serve(record, args.port, announce=lambda line: print(line, flush=True))
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _in_cluster(args: argparse.Namespace) -> int:
    from kuberun.errors import KuberunError
    from kuberun.ui import data, incluster, server

    try:
        own = data.connect(args.kubeconfig, args.context)
    except KuberunError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    scope = incluster.Scope(args.namespace or own.namespace, args.all_namespaces)

    async def begin() -> server.Running:
        running = await incluster.start(own, scope, args.host or ["127.0.0.1"], args.port)
        print(f"kuberun ui (in-cluster): {running.base_url}; users sign in with their own tokens", flush=True)
        return running

    try:
        server.run_until_stopped(begin)
    except OSError as exc:
        print(f"error: cannot listen on {', '.join(args.host or ['127.0.0.1'])} port {args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
