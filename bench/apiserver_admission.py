"""What built-in admission (schema decode + defaulting + validation) costs per create, as a ratio (best of three interleaved rounds).

Starts the API emulator on 127.0.0.1, creates N Jobs (kuberun's shape: one container, env,
resources, a config volume) over HTTP, once with admission as shipped and once with
``builtin.admit`` replaced by a pass-through, and prints the time per create of each and their
ratio (best of three interleaved rounds). The schemas load lazily on the first built-in create; that one-off cost is printed apart.

    python bench/apiserver_admission.py [--count 300]
"""

from __future__ import annotations

import argparse
import json
import ssl
import time
import urllib.request
from typing import Any

from kuberun_sandbox.apiserver import builtin, builtin_schema, run_in_thread


def job(name: str) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": ["python", "-m", "kuberun.runner"],
                 "env": [{"name": f"VAR_{i}", "value": str(i)} for i in range(8)],
                 "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}},
                 "volumeMounts": [{"name": "config", "mountPath": "/etc/kuberun/config"}]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "containers": [container],
                "volumes": [{"name": "config", "configMap": {"name": "cfg"}}]}}}}


def create_all(server: Any, prefix: str, count: int) -> float:
    """Seconds per Job create over HTTPS as an administrator (a token minted in-process, the server's CA)."""
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {server.auth.mint('bench-admin', ('system:masters',))}"}
    context = ssl.create_default_context(cadata=server.auth.ca_pem) if server.auth.ca_pem else None
    start = time.perf_counter()
    for i in range(count):
        body = json.dumps(job(f"{prefix}-{i}")).encode()
        req = urllib.request.Request(f"{server.url}/apis/batch/v1/namespaces/default/jobs", body, method="POST",
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            assert resp.status == 201
    return (time.perf_counter() - start) / count


def _admit_alone(count: int) -> float:
    from kuberun_sandbox.apiserver import versioning
    from kuberun_sandbox.apiserver.resources import Registry

    rt = Registry().get("batch", "v1", "jobs")
    assert rt is not None
    objs = [versioning.prepare_create(rt, job(f"a-{i}"), "default") for i in range(count + 1)]
    builtin.admit(rt, objs.pop(), None, "Warn", list)  # compiles the Job validator
    start = time.perf_counter()
    for obj in objs:
        builtin.admit(rt, obj, None, "Warn", list)
    return (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    t = time.perf_counter()
    builtin_schema._definitions()
    load = time.perf_counter() - t
    with run_in_thread() as server:
        create_all(server, "warm", 20)
        real_admit = builtin.admit
        strict_times, plain_times = [], []
        for round_ in range(3):  # interleaved, best of three: the machine is shared
            strict_times.append(create_all(server, f"strict{round_}", args.count))
            builtin.admit = lambda rt, obj, old, fv, ips: (obj, [])  # type: ignore[assignment]
            try:
                plain_times.append(create_all(server, f"plain{round_}", args.count))
            finally:
                builtin.admit = real_admit  # type: ignore[assignment]
        strict, plain = min(strict_times), min(plain_times)
    print(f"schema load (once): {load * 1000:.1f} ms")
    print(f"admission alone, in process: {_admit_alone(args.count) * 1000:.3f} ms per Job")
    print(f"Job create with admission: {strict * 1000:.2f} ms; without: {plain * 1000:.2f} ms; "
          f"ratio {strict / plain:.2f}x")


if __name__ == "__main__":
    main()
