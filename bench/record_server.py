"""What the record server's reviews cost, and what its cache saves, as ratios.

On one sandbox (emulated API server, TLS), median of --runs GETs of one archived experiment as a
tenant over a kept-alive connection:

- review cache off (every request a TokenReview + SubjectAccessReview) vs on (warm: no reviews);
- an archived-record GET vs a plain GET of the same tenant's ConfigMap list from the API server
  (what one authenticated API round trip costs here);
- sandbox start with the record server vs without (archive migration, TLS, RBAC, ConfigMap).

    python bench/record_server.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kuberun.api import connect
from kuberun.api.kubeconfig import data_file
from kuberun.manage.records import discover
from kuberun.resource import recordserver as contract
from tests.helpers import records


def _median(pool: urllib3.PoolManager, url: str, headers: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        resp = pool.request("GET", url, headers=headers, timeout=30.0)
        assert resp.status == 200, resp.data[:200]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _start(data_dir: Path, record_server: bool) -> tuple[float, object]:
    from kuberun_sandbox import Sandbox

    start = time.perf_counter()
    sb = Sandbox(data_dir=data_dir, operator=False, record_server=record_server).start()
    return time.perf_counter() - start, sb


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=200)
    runs = min(max(p.parse_args().runs, 10), 5000)
    with tempfile.TemporaryDirectory() as tmp:
        for warmup in (False, True):  # imports and first-use costs out of the comparison
            _start(Path(tmp) / f"warm-{warmup}", warmup)[1].stop()  # type: ignore[attr-defined]
        bare_s, bare = _start(Path(tmp) / "bare", False)
        bare.stop()  # type: ignore[attr-defined]
        with_s, sb = _start(Path(tmp) / "rs", True)
        try:
            alice = sb.mint_user("alice", namespace="team-a")  # type: ignore[attr-defined]
            obj = records.experiment("team-a", "bench")
            records.archive(sb.archive_url, sb.log_store_dir, obj)  # type: ignore[attr-defined]
            kube = connect(str(alice))
            url, ca = discover(kube)
            headers = {"Authorization": f"Bearer {kube.bearer_token()}"}
            pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=data_file(ca.encode(), ".crt"), retries=False)
            record_url = url + contract.archived_path("team-a", obj["metadata"]["name"])
            warm = _median(pool, record_url, headers, runs)
            from kuberun_operator.server import routes

            app = sb.record_server._runner.app  # type: ignore[attr-defined]
            reviewer = app[routes.REVIEWER]
            reviewer._identities.clear()
            ttl0 = type(reviewer._identities)(maxsize=1, ttl=1e-9)
            reviewer._identities, reviewer._decisions = ttl0, type(reviewer._decisions)(maxsize=1, ttl=1e-9)
            cold = _median(pool, record_url, headers, runs)
            api_pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=kube.creds.ca_file, retries=False)
            api = _median(api_pool, kube.creds.server + "/api/v1/namespaces/team-a/configmaps", headers, runs)
        finally:
            sb.stop()  # type: ignore[attr-defined]
    print(f"runs={runs}")
    print(f"reviews on every request / cached:            {cold / warm:5.2f}x")
    print(f"archived GET (cached reviews) / API GET:      {warm / api:5.2f}x")
    print(f"archived GET (no cache) / API GET:            {cold / api:5.2f}x")
    print(f"sandbox start with record server / without:   {with_s / bare_s:5.2f}x")


if __name__ == "__main__":
    main()
