"""Hello, kuberun: three tasks, two in parallel and a third that waits for both.

    python examples/hello.py --sandbox  # start the embedded sandbox and run it there to the end
    python examples/hello.py --dryrun   # print the Experiment (and any ConfigMaps) as YAML
    python examples/hello.py --offline  # run the tasks here with the runner, no cluster at all
    python examples/hello.py            # create it in the current kube context (e.g. `kuberun sandbox`)
"""

from __future__ import annotations

import argparse
import random


def estimate_pi(samples: int = 100_000, seed: int = 0) -> float:
    """Monte Carlo estimate of pi."""
    rng = random.Random(seed)
    inside = sum(1 for _ in range(samples) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)
    pi = 4 * inside / samples
    print(f"pi ~= {pi:.4f} from {samples} samples")
    return pi


def count_primes(limit: int = 50_000) -> int:
    """Count primes below ``limit`` with a sieve."""
    sieve = bytearray([1]) * limit
    sieve[:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
    count = sum(sieve)
    print(f"{count} primes below {limit}")
    return count


def build(executor: object | None = None):
    import kuberun as kr

    with kr.Experiment("hello", description="Two independent tasks, then a report.", executor=executor) as exp:
        pi = exp.add(kr.Partial(estimate_pi, samples=200_000, seed=42), name="pi")
        primes = exp.add(kr.Partial(count_primes, limit=100_000), name="primes")
        exp.add(
            kr.Script(inline='echo "report: pi and primes finished for $KUBERUN_EXPERIMENT"'),
            name="report",
            dependencies=[pi, primes],
        )
    return exp


def run_in_sandbox(exp, data_dir: str | None) -> int:
    """Start the sandbox, run the experiment to its end with live progress, print each task's log."""
    import tempfile

    from kubernetes import client, config

    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=data_dir or tempfile.mkdtemp(prefix="kuberun-demo-"), operator=True) as sandbox:
        print(f"sandbox API at {sandbox.url}; KUBECONFIG={sandbox.kubeconfig}")
        done = exp.run(kubeconfig=str(sandbox.kubeconfig), wait=True, timeout=300)
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(sandbox.kubeconfig)))
        for task in done["status"]["tasks"]:
            pods = core.list_namespaced_pod(exp.namespace, label_selector=f"job-name={task['attempts'][-1]['backendRef']['id']}")
            for pod in pods.items:
                # Raw bytes: some client versions render a str log as "b'...'".
                log = core.read_namespaced_pod_log(pod.metadata.name, exp.namespace, _preload_content=False).data.decode().strip()
                print(f"--- {task['name']} ({pod.metadata.name}) ---\n{log}")
        print(f"experiment {done['metadata']['name']}: {done['status']['phase']}")
        return 0 if done["status"]["phase"] == "Succeeded" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dryrun", action="store_true", help="print the resources as YAML")
    mode.add_argument("--offline", "--local", action="store_true", help="run the tasks on this machine, no cluster")
    mode.add_argument("--sandbox", action="store_true", help="run it in an embedded sandbox (API server, node, operator)")
    parser.add_argument("--data-dir", default=None, help="sandbox state directory (default: a fresh temporary one)")
    args = parser.parse_args()
    exp = build()
    if args.dryrun:
        exp.dryrun(print_=True)
        return 0
    if args.offline:
        from kuberun.offline import run_offline

        resource, _ = exp.build()
        phases = run_offline(resource)
        return 0 if all(p.value == "Succeeded" for p in phases.values()) else 1
    if args.sandbox:
        return run_in_sandbox(exp, args.data_dir)
    created = exp.run()
    if created is not None:
        print(f"created experiment {created['metadata']['namespace']}/{created['metadata']['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
