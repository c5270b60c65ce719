"""Pod uploads: what an incremental round costs against a first one, through the real route.

A sandbox (emulator) runs one Kubernetes task held running; a token is minted bound to its pod, as
the kubelet mints it; the runner's ``Uploader`` sends N artifacts of SIZE bytes to the sandbox's
record server (TLS, TokenReview, the pod → Job → Experiment check, the directory store). Prints the
median of ROUNDS rounds each of: the first round (everything new; a fresh uploader and attempt
prefix each time is not possible, so the first round is timed once per fresh uploader over the same
files: the server rewrites them), a round with nothing changed (size+mtime: no read), and a round
after every file was touched but not changed (mtime differs: hashed, not sent) — as ratios to the first.

    python bench/pod_uploads.py [--files 64] [--size 262144] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import kuberun as kr
from kuberun.resource import recordserver, upload
from kuberun.upload import Uploader
from kuberun_sandbox import Sandbox
from tests.fixtures import tasks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--size", type=int, default=256 << 10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from kubernetes import client, config

    root = Path(__file__).resolve().parent.parent
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp, Sandbox(data_dir=Path(tmp) / "sb", operator=True) as sb:
        release = Path(tmp) / "release"
        exp = kr.Experiment("bench-uploads")
        exp.add(kr.Partial(tasks.checkpoint_every_step, steps=1, release=str(release)), name="train")
        name = exp.run(kubeconfig=str(sb.kubeconfig))["metadata"]["name"]
        api = config.new_client_from_config(config_file=str(sb.kubeconfig))
        core = client.CoreV1Api(api)
        deadline = time.monotonic() + 60
        while True:
            pods = [p for p in core.list_namespaced_pod("default").items
                    if p.metadata.labels.get("kuberun.dev/experiment") == name and p.status.phase == "Running"]
            if pods:
                break
            assert time.monotonic() < deadline, "no running pod"
            time.sleep(0.2)
        pod = pods[0]
        attempt = int(pod.metadata.labels["kuberun.dev/attempt"])
        token = core.create_namespaced_service_account_token("default", "default", {"spec": {
            "audiences": [upload.AUDIENCE], "expirationSeconds": 3600,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}}}).status.token
        published = core.read_namespaced_config_map(recordserver.ENDPOINTS_CONFIGMAP, recordserver.ENDPOINTS_NAMESPACE).data
        base = published[recordserver.KEY_URL] + upload.attempt_path("default", name, "train", attempt)
        token_file, outputs = Path(tmp) / "token", Path(tmp) / "out" / "artifacts"
        token_file.write_text(token)
        outputs.mkdir(parents=True)
        for i in range(args.files):
            (outputs / f"f{i:04d}.bin").write_bytes(os.urandom(args.size))

        def timed(up: Uploader) -> float:
            start = time.perf_counter()
            up.round(time.monotonic() + 600)
            return time.perf_counter() - start

        first, unchanged, touched = [], [], []
        for _ in range(args.rounds):
            up = Uploader(base, token_file, published[recordserver.KEY_CA], None, outputs)
            first.append(timed(up))
            unchanged.append(timed(up))
            for path in outputs.iterdir():
                os.utime(path, ns=(time.time_ns(), time.time_ns()))
            touched.append(timed(up))
            assert up.failures == 0
        release.write_text("go")
        api.close()
    f, u, t = statistics.median(first), statistics.median(unchanged), statistics.median(touched)
    print(f"{args.files} files x {args.size} B, median of {args.rounds} rounds")
    print(f"first round (all sent)       {f * 1000:8.1f} ms   1.00x")
    print(f"nothing changed (no read)    {u * 1000:8.1f} ms   {u / f:.3f}x")
    print(f"touched, same bytes (hashed) {t * 1000:8.1f} ms   {t / f:.3f}x")


if __name__ == "__main__":
    main()
