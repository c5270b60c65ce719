"""Which Kubernetes client should the SDK use? Start-up of ``kuberun --help`` and ``kuberun list``.

Issue 11 asked to prefer lightkube (a well-kept typed client with kubeconfig/exec support) over
kuberun's own urllib3 client if it keeps ``kuberun --help`` and ``kuberun list`` within ~1.2x of
today. This harness measures exactly that, in fresh processes against the API emulator holding 100
Experiments: the real CLI as shipped, and the same CLI with its one ``connect()`` replaced by a
lightkube-backed client (``lightkube.Client`` listing a generic namespaced resource, one page,
rendered by the same table code). It also prints the import cost of each library alone.

    python bench/client_choice.py [--runs N]

Needs ``pip install lightkube`` (not a kuberun dependency); prints a reason and exits 0 without it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# The CLI with list_page served by lightkube: same command, same rendering, other client.
LIGHTKUBE_CLI = """
import sys
import kuberun.manage.reads as reads
import kuberun.manage.query as query

def connect(kubeconfig, context, namespace):
    from lightkube import Client, KubeConfig
    config = KubeConfig.from_file(kubeconfig)
    return Client(config=config, namespace=namespace)

def list_page(client, flt, *, namespace=None, all_namespaces=False, limit=50, continue_token=None):
    from lightkube.generic_resource import create_namespaced_resource
    Exp = create_namespaced_resource("kuberun.dev", "v1alpha1", "Experiment", "experiments")
    items = []
    for obj in client.list(Exp, namespace=None if all_namespaces else (namespace or client.namespace), chunk_size=limit):
        items.append(obj.to_dict())
        if len(items) >= limit:
            break
    return query.Page(query.newest_first(items), None)

reads.connect = connect
query.list_page = list_page
from kuberun.commandline import main
sys.argv = ["kuberun", *sys.argv[1:]]
main()
"""


def timed(argv: list[str], runs: int) -> float:
    """Median wall time of ``argv`` in fresh processes; fails loudly if the command fails."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=60)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def populate(kube: Any, namespace: str, count: int) -> None:
    import kuberun as kr
    from kuberun.manage.submit import create
    from tests.fixtures import tasks

    for i in range(count):
        exp = kr.Experiment("bench", namespace=namespace, name=f"bench-{i:05d}")
        exp.add(kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=8), lr=0.1), name="train")
        create(kube, exp.to_resource(), [])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    try:
        import lightkube  # noqa: F401
    except ImportError:
        print("lightkube is not installed (pip install lightkube): nothing to compare")
        return 0
    sys.path.insert(0, str(ROOT))
    from kuberun.api import Op, connect
    from kuberun.resource.crd import build_crd
    from kuberun_sandbox.apiserver import run_in_thread
    from kuberun_sandbox.kubeconfig import write_kubeconfig

    python = sys.executable
    imports = {lib: timed([python, "-c", f"import {lib}"], args.runs) for lib in ("urllib3", "lightkube", "kubernetes.client")}
    bare = timed([python, "-c", "pass"], args.runs)
    work = Path(tempfile.mkdtemp(prefix="kuberun-bench-"))
    with run_in_thread() as server:
        kc = write_kubeconfig(work / "kubeconfig", server.url)
        kube = connect(str(kc))
        kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                     Op("create", "customresourcedefinitions"), body=build_crd())
        populate(kube, "default", 100)
        kr = [str(BIN / "kuberun")]
        help_ = timed([*kr, "--help"], args.runs)
        ours = timed([*kr, "list", "--kubeconfig", str(kc)], args.runs)
        theirs = timed([python, "-c", LIGHTKUBE_CLI, "list", "--kubeconfig", str(kc)], args.runs)
        ours_wrapped = timed([python, "-c", LIGHTKUBE_CLI.split("reads.connect = connect")[0] + "\nfrom kuberun.commandline import main\n"
                              "sys.argv = ['kuberun', *sys.argv[1:]]\nmain()\n", "list", "--kubeconfig", str(kc)], args.runs)
    print(f"median wall time of {args.runs} fresh processes (python -c pass: {bare * 1000:.0f} ms)")
    for lib, seconds in imports.items():
        print(f"  import {lib:20s} {seconds * 1000:6.0f} ms  ({(seconds - bare) * 1000:.0f} ms over a bare interpreter)")
    print(f"  kuberun --help              {help_ * 1000:6.0f} ms  (imports no client in either design)")
    print(f"  kuberun list (urllib3)      {ours * 1000:6.0f} ms  (same wrapper as lightkube's: {ours_wrapped * 1000:.0f} ms)")
    print(f"  kuberun list (lightkube)    {theirs * 1000:6.0f} ms")
    print(f"  lightkube / urllib3 for list: {theirs / ours_wrapped:.2f}x (target: within 1.2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
