"""Hello, kuberun: three tasks, two in parallel and a third that waits for both.

    python examples/hello.py --dryrun   # print the Experiment (and any ConfigMaps) as YAML
    python examples/hello.py --local    # run the tasks here with the runner, no cluster
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dryrun", action="store_true", help="print the resources as YAML")
    mode.add_argument("--local", action="store_true", help="run the tasks on this machine")
    args = parser.parse_args()
    exp = build()
    if args.dryrun:
        exp.dryrun(print_=True)
        return 0
    if args.local:
        from kuberun.local import run_locally

        resource, _ = exp.build()
        phases = run_locally(resource)
        return 0 if all(p.value == "Succeeded" for p in phases.values()) else 1
    created = exp.run()
    if created is not None:
        print(f"created experiment {created['metadata']['namespace']}/{created['metadata']['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
