"""Archive cost on SQLite and a real PostgreSQL: recording, paging depth, metric series.

Records --count experiments (one transaction each, as the operator does), then times the first
and the last page of a newest-first query: with keyset paging the last page should cost about
what the first does (ratio near 1), where OFFSET paging would grow with depth. Also times a
100,000-point metric series upload and read. Planner statistics are refreshed (ANALYZE) after
loading, as autovacuum would; without them PostgreSQL picks a poor plan for label filters. Prints
ratios; the PostgreSQL column needs the
server binaries (.ci/install-postgres.sh) and is skipped otherwise.

    python bench/archive.py [--count 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import timedelta

from common import median_seconds  # a sibling; it puts the checkout on sys.path

from kuberun_operator.archive import Archive
from tests.archive.builders import T0, experiment
from tests.harness import postgres

RUNS = 21  # each page query's median is of this many


def measure(url: str, count: int) -> dict[str, float]:
    with Archive.open(url) as archive:
        objs = [experiment(f"e{i}", created=T0 + timedelta(seconds=i), labels={"team": "ab"[i % 2]})
                for i in range(count)]
        start = time.perf_counter()
        for obj in objs:
            archive.record(obj)
        record_s = (time.perf_counter() - start) / count
        # Planner statistics, as PostgreSQL's autovacuum (or a periodic ANALYZE on SQLite) keeps them.
        with archive._engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        _, token = archive.query(limit=50)
        tokens = [token]
        while token is not None:
            _, token = archive.query(limit=50, continue_token=token)
            tokens.append(token)
        last = tokens[-2]
        first_page = median_seconds(lambda: archive.query(limit=50), RUNS)
        last_page = median_seconds(lambda: archive.query(limit=50, continue_token=last), RUNS)
        labelled = median_seconds(lambda: archive.query(limit=50, labels={"team": "b"}), RUNS)
        uid = objs[0]["metadata"]["uid"]
        points = [{"name": "loss", "step": s, "value": 1.0 / (s + 1)} for s in range(100_000)]
        start = time.perf_counter()
        archive.record_metrics(uid, "train", 0, points)
        metrics_write = time.perf_counter() - start
        metrics_read = median_seconds(lambda: archive.metrics(uid), 3)
    return {"record_ms": record_s * 1e3, "first_page_ms": first_page * 1e3, "last_page_ms": last_page * 1e3,
            "label_page_ms": labelled * 1e3, "metrics_write_s": metrics_write, "metrics_read_s": metrics_read}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/archive.db", args.count)
    problem = postgres.environment_problem()
    if problem:
        print(f"postgresql: skipped ({problem})")
    else:
        with postgres.PostgresServer() as server:
            results["postgresql"] = measure(server.create_schema(f"bench_{uuid.uuid4().hex[:8]}"), args.count)
    print(f"{args.count} experiments archived; 100,000 metric points")
    for name, r in results.items():
        print(f"{name:>10}: record {r['record_ms']:.2f} ms/experiment; page of 50: first {r['first_page_ms']:.2f} ms, "
              f"last {r['last_page_ms']:.2f} ms (last/first {r['last_page_ms'] / r['first_page_ms']:.2f}x), "
              f"by label {r['label_page_ms']:.2f} ms; metrics write {r['metrics_write_s']:.2f} s, "
              f"read {r['metrics_read_s']:.2f} s")
    if len(results) == 2:
        pg, lite = results["postgresql"], results["sqlite"]
        print(f"postgresql/sqlite: record {pg['record_ms'] / lite['record_ms']:.2f}x, "
              f"first page {pg['first_page_ms'] / lite['first_page_ms']:.2f}x")


if __name__ == "__main__":
    main()
