"""A sampling profiler for the benchmarks: where each thread of a process spends its time.

py-spy is not available here, and cProfile sees only the thread that enabled it (and slows what it
sees several-fold, which on two shared cores changes who wins the CPU). This samples every thread's
stack from a daemon thread (``sys._current_frames``) every few milliseconds and counts, per thread
name, each function's own samples (top of the stack) and inclusive samples (anywhere on it). Idle
threads are counted too — a thread waiting in ``select`` shows as such — so read the busy ones.

    from bench import sampler; s = sampler.start(); ...; s.stop(Path("out.txt"))   # in a process
    python bench/sampler.py OUT.txt -m kuberun_operator --kubeconfig ...            # around a module
"""

from __future__ import annotations

import atexit
import runpy
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from types import FrameType

IDLE = ("select", "poll", "epoll", "wait", "_worker", "acquire", "sleep", "run_forever", "_run_once")


def _where(frame: FrameType) -> str:
    code = frame.f_code
    parts = Path(code.co_filename).parts
    return f"{'/'.join(parts[-2:])}:{code.co_name}"


class Sampler:
    """Counts stacks of every other thread, ``interval`` seconds apart, until ``stop``."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.own: dict[str, Counter[str]] = {}
        self.inclusive: dict[str, Counter[str]] = {}
        self.samples: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                name = names.get(ident, "?").split("_")[0].split("(")[0].strip()
                self.samples[name] += 1
                self.own.setdefault(name, Counter())[_where(frame)] += 1
                seen: set[str] = set()
                depth = 0
                f: FrameType | None = frame
                while f is not None and depth < 200:  # bounded: recursion cannot hang the sampler
                    seen.add(_where(f))
                    f, depth = f.f_back, depth + 1
                self.inclusive.setdefault(name, Counter()).update(seen)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self, out: Path, top: int = 40) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        lines = [f"# {self.interval * 1000:.0f} ms samples; per thread: own (top of stack), then inclusive"]
        for name, total in self.samples.most_common():
            lines.append(f"\n## thread {name}: {total} samples")
            for label, counter in (("own", self.own[name]), ("inclusive", self.inclusive[name])):
                lines.append(f"### {label}")
                lines += [f"{n:7d} {n / total:6.1%}  {where}" for where, n in counter.most_common(top)]
        out.write_text("\n".join(lines) + "\n")


def start(interval: float = 0.005) -> Sampler:
    return Sampler(interval).start()


def main() -> None:
    out, flag, module, *rest = sys.argv[1:]
    if flag != "-m":
        raise SystemExit("usage: sampler.py OUT -m MODULE [ARGS...]")
    sampler = start()
    atexit.register(sampler.stop, Path(out))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the benchmark terminates it: still write the profile
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
