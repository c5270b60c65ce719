"""In-cluster dashboard overhead: a user's page through ``--in-cluster`` vs the personal ``kuberun ui``.

In-cluster, each request is authenticated (a TokenReview, cached 10 s by the token's digest) and read
with a client carrying the user's token; the personal dashboard reads with the kubeconfig directly.
Same sandbox, same user (alice, edit in team-a), same experiments. Prints medians of --runs and the
ratios that matter: warm in-cluster / personal (the cached review's cost), and a request with a
token not seen before (the review made) / warm.

    python bench/ui_incluster.py [--runs N] [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parents[1]


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    if not 1 <= args.runs <= 200 or not 1 <= args.count <= 20_000:
        raise SystemExit("--runs must be 1..200 and --count 1..20000")
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="kuberun-bench-incluster-") as tmp:
        return run(Path(tmp), args)


def run(work: Path, args: argparse.Namespace) -> int:
    from kubernetes import config, utils

    from bench.cli import populate
    from kuberun.api import connect
    from kuberun.ui import data, incluster, server
    from kuberun_sandbox import Sandbox
    from kuberun_sandbox.apiserver.auth.authn import service_account
    from kuberun_sandbox.kubeconfig import write_kubeconfig
    from tests.ui.helpers import Client

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    pool = urllib3.PoolManager(retries=False)
    # (no submitter policy: the populated experiments are all submitted by one name, not by alice)
    with Sandbox(data_dir=work / "sandbox", operator=False, record_server=False, submitter_policy=False) as sb:
        user, groups = service_account("kuberun-system", "bench-dashboard")
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        for obj in ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "bench-tr"},
                     "rules": [{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}]},
                    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "bench-tr"},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bench-tr"},
                     "subjects": [{"kind": "ServiceAccount", "name": "bench-dashboard", "namespace": "kuberun-system"}]}):
            utils.create_from_dict(api, obj)
        api.close()
        own = write_kubeconfig(work / "own.kubeconfig", sb.url, user=user, token=sb.server.auth.mint(user, groups),
                               ca_pem=sb.server.auth.ca_pem)
        alice = sb.mint_user("alice", namespace="team-a")
        populate(connect(str(alice)), "team-a", args.count)
        token = connect(str(alice)).bearer_token()
        personal = asyncio.run_coroutine_threadsafe(server.start(data.Record(str(alice)), 0), loop).result(30)
        shared = asyncio.run_coroutine_threadsafe(
            incluster.start(data.connect(str(own)), incluster.Scope("team-a"), "127.0.0.1", 0), loop).result(30)

        class Dashboard:
            base, url = personal.base_url, personal.url

        mine = Client(Dashboard())

        def personal_page() -> None:
            status, _, body = mine.get("/?limit=50")
            assert status == 200 and body.count("<tr data-name=") == 50, status

        def shared_page(with_token: str) -> None:
            resp = pool.request("GET", shared.base_url + "/?limit=50", headers={"Authorization": f"Bearer {with_token}"},
                                timeout=30.0)
            assert resp.status == 200 and resp.data.count(b"<tr data-name=") == 50, resp.status

        personal_page()
        shared_page(token)
        warm_personal = median_ms(personal_page, args.runs)
        warm_shared = median_ms(lambda: shared_page(token), args.runs)
        fresh = []  # a token not seen before each time: the TokenReview is made, and a client built
        for n in range(args.runs):
            other = connect(str(sb.mint_user(f"reader{n}", namespace="team-a"))).bearer_token()
            start = time.perf_counter()
            shared_page(other)
            fresh.append((time.perf_counter() - start) * 1000)
        first_seen = statistics.median(fresh)
        for running in (personal, shared):
            asyncio.run_coroutine_threadsafe(running.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    print(f"median of {args.runs}, {args.count} experiments in team-a, pages of 50")
    print(f"  personal dashboard (kubeconfig)          {warm_personal:7.1f} ms")
    print(f"  in-cluster, token seen before (cached)   {warm_shared:7.1f} ms")
    print(f"  in-cluster, token not seen before        {first_seen:7.1f} ms")
    print(f"  in-cluster warm / personal:              {warm_shared / warm_personal:5.2f}x")
    print(f"  in-cluster first request / warm:         {first_seen / warm_shared:5.2f}x (one TokenReview + a new client)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
