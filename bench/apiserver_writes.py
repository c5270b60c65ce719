"""API server write throughput per durability level, and restart time with many objects. Prints ratios.

Each level runs the emulator as its own process (``python -m kuberun_sandbox.apiserver``) on
127.0.0.1, so the client here never shares its interpreter. The load is ConfigMap creates and
updates (half each) from a few concurrent HTTPS clients, bounded in count and in time, as an
administrator (the server writes its kubeconfig, token and CA, with ``--kubeconfig``).

    python bench/apiserver_writes.py [--n 4000] [--repeat 3] [--concurrency 8] [--restart-objects 10000]

Levels: ``memory`` (no data directory: nothing on disk — the floor, and what the old debounced
JSON snapshot cost per write for a small store), ``normal`` (SQLite WAL, synchronous=NORMAL: each
write reaches the OS before the answer, survives kill -9) and ``full`` (synchronous=FULL: each
write is fsync'd, survives a power loss too). Then the restart: ``--restart-objects`` ConfigMaps
written at level normal, the server stopped, and the time until a new one on that data directory
answers its first list (which holds them all), against an empty server's.

The machine is shared, so the levels run interleaved ``--repeat`` times and each keeps its best run;
the server's CPU time per write (from /proc, so other processes' load hardly moves it) is printed
too — FULL's extra cost is waiting for fsync, which shows in writes/s, not in CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import pathlib
import ssl
import subprocess
import sys
import tempfile
import time

import aiohttp
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CMS = "/api/v1/namespaces/default/configmaps"
DEADLINE_S = 300  # the whole bench stops by itself after this


class Server:
    """One emulator process; ``url`` once it listens."""

    def __init__(self, data_dir: pathlib.Path | None, sync: str | None) -> None:
        self._config_dir = tempfile.TemporaryDirectory(prefix="kuberun-bench-kubeconfig-")
        kubeconfig = pathlib.Path(self._config_dir.name) / "kubeconfig"
        cmd = [sys.executable, "-m", "kuberun_sandbox.apiserver", "--port", "0", "--kubeconfig", str(kubeconfig)]
        if data_dir is not None:
            cmd += ["--data-dir", str(data_dir)]
        if sync is not None:
            cmd += ["--sync", sync]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("listening on "):
            self.proc.kill()
            raise SystemExit(f"the API server did not start: {line!r}")
        self.url = line.split()[-1]
        config = yaml.safe_load(kubeconfig.read_text())
        self.headers = {"Authorization": f"Bearer {config['users'][0]['user']['token']}"}
        ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        self.ssl = ssl.create_default_context(cadata=ca)

    def session(self, concurrency: int = 1) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.url, headers=self.headers,
                                     connector=aiohttp.TCPConnector(limit=concurrency, ssl=self.ssl))

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self._config_dir.cleanup()


async def _load(server: Server, n: int, concurrency: int, prefix: str, deadline: float) -> tuple[int, float]:
    """``n`` writes (create then update of n/2 ConfigMaps); returns (writes answered 2xx, seconds)."""
    names = [f"{prefix}-{i}" for i in range(n // 2)]
    done = 0

    async def worker(http: aiohttp.ClientSession, mine: list[str]) -> None:
        nonlocal done
        for name in mine:
            if time.monotonic() > deadline:
                return
            resp = await http.post(CMS, json={"metadata": {"name": name}, "data": {"v": "0" * 200}})
            created = await resp.json()
            done += resp.status == 201
            created["data"] = {"v": "1" * 200}
            resp = await http.put(f"{CMS}/{name}", json=created)
            await resp.read()
            done += resp.status == 200

    async with server.session(concurrency) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http, names[i::concurrency]) for i in range(concurrency)))
        return done, time.perf_counter() - start


async def _creates(server: Server, n: int, concurrency: int, deadline: float) -> int:
    async with server.session(concurrency) as http:
        async def one(i: int) -> int:
            if time.monotonic() > deadline:
                return 0
            resp = await http.post(CMS, json={"metadata": {"name": f"restart-{i}"}, "data": {"v": "x" * 200}})
            await resp.read()
            return int(resp.status == 201)
        total = 0
        for batch in range(0, n, 500):
            total += sum(await asyncio.gather(*(one(i) for i in range(batch, min(n, batch + 500)))))
        return total


async def _first_list(server: Server) -> int:
    async with server.session() as http:
        body = await (await http.get(CMS)).json()
        return len(body["items"])


def _measure(level: str, tmp: pathlib.Path, args: argparse.Namespace, deadline: float,
             run: int) -> tuple[float, float]:
    """(writes/s, server CPU microseconds per write) of one run."""
    data_dir = None if level == "memory" else tmp / f"{level}-{run}"
    server = Server(data_dir, None if level == "memory" else level)
    try:
        cpu0 = server.cpu_seconds()
        done, secs = asyncio.run(_load(server, args.n, args.concurrency, level, deadline))
        cpu_us = (server.cpu_seconds() - cpu0) / max(done, 1) * 1e6
    finally:
        server.stop()
    rate = done / secs
    print(f"{level:>7} (run {run + 1}): {done} writes answered in {secs:.2f} s = {rate:,.0f} writes/s; "
          f"server CPU {cpu_us:.0f} us/write")
    return rate, cpu_us


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000, help="writes per level and run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per level (the best counts)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--restart-objects", type=int, default=10_000)
    parser.add_argument("--levels", default="memory,normal,full")
    args = parser.parse_args()
    deadline = time.monotonic() + DEADLINE_S
    with tempfile.TemporaryDirectory(prefix="kuberun-bench-") as tmp:
        levels = args.levels.split(",")
        rates = dict.fromkeys(levels, 0.0)
        cpus = dict.fromkeys(levels, float("inf"))
        for run in range(args.repeat):
            for level in levels:
                rate, cpu = _measure(level, pathlib.Path(tmp), args, deadline, run)
                rates[level], cpus[level] = max(rates[level], rate), min(cpus[level], cpu)
        print("best: " + ", ".join(f"{level} {rates[level]:,.0f} writes/s ({cpus[level]:.0f} us CPU)"
                                   for level in levels))
        floor = rates.get("memory")
        for level, rate in rates.items():
            if floor and level != "memory":
                print(f"ratio {level}/memory: {rate / floor:.2f} writes/s, {cpus[level] / cpus['memory']:.2f} CPU per write")
        if "normal" in rates and "full" in rates:
            print(f"ratio full/normal: {rates['full'] / rates['normal']:.2f}")
        if args.restart_objects:
            data_dir = pathlib.Path(tmp) / "restart"
            server = Server(data_dir, "normal")
            try:
                made = asyncio.run(_creates(server, args.restart_objects, args.concurrency, deadline))
            finally:
                server.stop()
            server = Server(data_dir, "normal")
            try:
                listed = asyncio.run(_first_list(server))
                secs = time.perf_counter() - server.started
            finally:
                server.stop()
            empty = Server(None, None)
            asyncio.run(_first_list(empty))
            base = time.perf_counter() - empty.started
            empty.stop()
            print(f"restart with {made} objects: first list ({listed} items) after {secs:.2f} s; "
                  f"empty server: {base:.2f} s; ratio {secs / base:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
