"""Log store memory under growing logs: the write/read peak must not grow with the log.

Streams logs of 16, 64 and 256 MiB through the directory store and through S3 (moto on loopback,
started by the test harness) and prints each traced-memory peak as a ratio to the part size (S3) or
chunk size (directory), and the ratio of the largest log's peak to the smallest's (flat means ~1.0).
Also the S3/directory time ratio, for orientation only (moto is not a real S3).

    python bench/logstore.py [--sizes 16,64,256]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kuberun_operator.logstore import LogStore, StoreOptions
from tests.harness import s3

MiB = 1 << 20
PART = 5 * MiB
BLOCK = 64 << 10


async def blocks(count: int):
    for i in range(count):
        yield hashlib.sha256(str(i).encode()).digest() * (BLOCK // 32)


async def measure(store: LogStore, mib: int) -> tuple[int, int, float]:
    await store.put_bytes("warm/up", b"x" * (PART + 1))  # the S3 client loads its model once
    tracemalloc.start()
    start = time.perf_counter()
    await store.put_log(f"bench/{mib}/log", blocks(mib * MiB // BLOCK))
    _, write_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    async for _ in await store.open_log(f"bench/{mib}/log"):
        pass
    _, read_peak = tracemalloc.get_traced_memory()
    elapsed = time.perf_counter() - start
    tracemalloc.stop()
    return write_peak, read_peak, elapsed


async def main(sizes: list[int]) -> None:
    reason = s3.available()
    with tempfile.TemporaryDirectory() as tmp:
        stores = {"dir": LogStore.from_url(tmp, StoreOptions(part_size=PART))}
        server = None
        if reason:
            print(f"S3 skipped: {reason}")
        else:
            server = s3.S3Server.start()
            server.create_bucket("bench")
            stores["s3"] = LogStore.from_url("s3://bench/x", StoreOptions(environ=server.environ(), part_size=PART))
        try:
            times: dict[str, float] = {}
            for kind, store in stores.items():
                unit = PART if kind == "s3" else store.options.chunk_size
                peaks = []
                for mib in sizes:
                    write_peak, read_peak, elapsed = await measure(store, mib)
                    peaks.append(write_peak)
                    times[kind] = times.get(kind, 0.0) + elapsed
                    print(f"{kind:>3} {mib:>4} MiB: write peak {write_peak / unit:.2f}x {'part' if kind == 's3' else 'chunk'}, "
                          f"read peak {read_peak / store.options.chunk_size:.2f}x chunk")
                print(f"{kind:>3} peak at {sizes[-1]} MiB / peak at {sizes[0]} MiB: {peaks[-1] / peaks[0]:.2f}")
            if "s3" in times:
                print(f"time s3 (moto) / dir: {times['s3'] / times['dir']:.1f}")
        finally:
            if server:
                server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="16,64,256")
    args = parser.parse_args()
    asyncio.run(main([int(x) for x in args.sizes.split(",")]))
