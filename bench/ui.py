"""Dashboard list latency: the first page of 10,000 experiments, against `kuberun list` on the same server.

Starts the API emulator (no operator: reading does not need status), creates Experiments through
the API from parallel threads (bench/cli.py's `populate`), starts the dashboard in-process and
times, as medians of --runs:

- the dashboard's first list page (the whole HTML response, access cookie already set), warm;
- `kuberun list` (first page, a fresh process: what a user waits for at the terminal);
- the SDK's `list_page` in-process (the same API reads without process start-up);
- the API server's own answer to one `limit=50` list (the floor both stand on);
- the dashboard's second page (through the continue token) and the first page with 100 vs
  10,000 experiments in the namespace: flat when paging happens on the server.

Issue 17's target: the first page of 10,000 in under 1 s on 2 cores. Ratios are what to compare
between machines; the milliseconds are printed for the record.

    python bench/ui.py [--runs N] [--count 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import BIN, ROOT, api_emulator, median_seconds  # a sibling; it puts the checkout on sys.path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    from bench.cli import populate, server_time
    from kuberun.api import Op, connect
    from kuberun.ui import data, server
    from tests.ui.helpers import Client

    work = Path(tempfile.mkdtemp(prefix="kuberun-bench-ui-"))
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()
    with api_emulator(work) as emulator:
        kc = emulator.kubeconfig
        kube = connect(str(kc))
        kube.request("POST", "/api/v1/namespaces", Op("create", "namespaces"), body={"metadata": {"name": "small"}})
        populate(kube, "small", 100)
        start = time.perf_counter()
        populate(kube, "default", args.count)
        print(f"created {args.count} Experiments in {time.perf_counter() - start:.1f} s")

        dashboards = {}
        for namespace in ("small", "default"):
            running = asyncio.run_coroutine_threadsafe(server.start(data.Record(str(kc), namespace=namespace), 0), loop).result(30)
            dashboards[namespace] = running

        class Dashboard:  # what tests.ui.helpers.Client needs of a DashboardThread
            def __init__(self, running: server.Running) -> None:
                self.base, self.url = running.base_url, running.url

        clients = {ns: Client(Dashboard(r)) for ns, r in dashboards.items()}
        large = clients["default"]

        def first_page(client: Client) -> str:
            status, _, body = client.get("/?limit=50")
            if status != 200 or body.count("<tr data-name=") != 50:
                raise SystemExit(f"dashboard first page failed: HTTP {status}")
            return body

        cold_start = time.perf_counter()
        body = first_page(large)
        cold = time.perf_counter() - cold_start
        token = re.search(r'href="([^"]+)" id="next-page"', body).group(1).replace("&amp;", "&")
        ui_first = median_seconds(lambda: first_page(large), args.runs)
        ui_small = median_seconds(lambda: first_page(clients["small"]), args.runs)
        ui_second = median_seconds(lambda: large.get(token), args.runs)
        record = data.Record(str(kc))
        sdk_page = median_seconds(lambda: record.list_page(limit=50), args.runs)
        api_page = server_time(kube, "default", args.runs, limit=50)
        api_small = server_time(kube, "small", args.runs, limit=50)

        def cli_list() -> None:
            done = subprocess.run([str(BIN / "kuberun"), "list", "--kubeconfig", str(kc)], capture_output=True, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"kuberun list failed: {done.stderr.decode()[-300:]}")

        cli = median_seconds(cli_list, args.runs)
        for running in dashboards.values():
            asyncio.run_coroutine_threadsafe(running.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    loop_thread.join(10)

    print(f"median of {args.runs} runs, {args.count} Experiments in the namespace, pages of 50")
    rows = {
        "dashboard first page (warm)": ui_first,
        "dashboard first page (first request)": cold,
        "dashboard second page (continue)": ui_second,
        "kuberun list (fresh process)": cli,
        "SDK list_page in-process": sdk_page,
        "API server: one limit=50 list": api_page,
    }
    for name, seconds in rows.items():
        print(f"  {name:40s} {seconds * 1000:7.1f} ms")
    print(f"  kuberun list / dashboard first page:      {cli / ui_first:5.2f}x")
    print(f"  dashboard first page / SDK list_page:     {ui_first / sdk_page:5.2f}x (rendering and HTTP on top of the read)")
    print(f"  dashboard first page, {args.count} vs 100 experiments: {ui_first / ui_small:5.2f}x; "
          f"the API server's own list, {args.count} vs 100: {api_page / api_small:5.2f}x")
    print(f"  dashboard time above the API server's answer, {args.count} vs 100: "
          f"{(ui_first - api_page) * 1000:.1f} ms vs {(ui_small - api_small) * 1000:.1f} ms (flat = the dashboard reads one page)")
    print(f"  target: first page under 1 s: {'met' if max(ui_first, cold) < 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
