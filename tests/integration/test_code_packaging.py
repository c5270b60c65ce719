"""A two-module project shipped from a git checkout runs in the sandbox, and is reproduced elsewhere as data.

The project (a task function in one module, its config from a factory in a sibling module) is
importable only in this test process, through ``sys.path``: the sandbox's pods get a PYTHONPATH
without it, so a Succeeded task proves the code arrived in the package (GitArchivePackager →
content-addressed ConfigMaps → mounted chunks → verified, unpacked, on ``sys.path``). A teammate then
reproduces the run from an empty directory, with the project gone from ``sys.path`` and
``sys.modules``, and an override; the project's modules log every process that imports them, so
the test can tell that the reproducer imported nothing, while the new run ran the same code.
"""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
from kubernetes import config

import kuberun as kr
from kuberun.packaging import GitArchivePackager
from kuberun_sandbox import Sandbox
from tests.helpers.gitrepo import make_repo
from tests.helpers.operator import get_experiment, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]

TASKS = '''\
"""The task function: a sibling module of the factory, as in a real project."""
import os
import pathlib

with open(os.environ["NR_IMPORT_LOG"], "a") as log:
    log.write(f"{os.getpid()}\\n")


def train(depth: int, steps: int = 1) -> str:
    motto = pathlib.Path("motto.txt").read_text().strip()  # the package is the working directory
    return f"trained depth={depth} steps={steps} motto={motto}"
'''

CONFIGS = '''\
"""The factory: returns the task's config (a NeMo 2.0 recipe's shape)."""
import fiddle as fdl

import tasks


def recipe(depth: int = 2) -> fdl.Partial:
    return fdl.Partial(tasks.train, depth=depth, steps=3)
'''


def _project(path: pathlib.Path) -> pathlib.Path:
    return make_repo(path, {"tasks.py": TASKS, "configs.py": CONFIGS, "motto.txt": "shipped\n"})


def _finished(api: object, name: str) -> str | None:
    phase = (get_experiment(api, "default", name).get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def _returned(exp: kr.RemoteExperiment, task: str) -> str:
    return "\n".join(line for line in exp.logs(task) if "task returned" in line)


def test_two_module_project_runs_from_a_git_checkout_and_reproduces_as_data(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, control_plane: str) -> None:
    project = _project(tmp_path / "project")
    import_log = tmp_path / "imports.log"
    monkeypatch.setenv("NR_IMPORT_LOG", str(import_log))
    # Pods see kuberun and the tests, never the project: only the package can bring it.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    import configs  # the submitter's own code, imported on purpose

    with Sandbox(data_dir=tmp_path / "sandbox", operator=True, control_plane=control_plane) as sb:
        assert sb.operator_running, sb.operator_error
        packager = GitArchivePackager()
        exp = kr.Experiment("two-modules", executor=kr.KubernetesExecutor(packager=packager))
        exp.add(configs.recipe(depth=4), name="train")
        exp.add(configs.recipe(depth=1), name="again")  # same packager: one package, stored once
        created = exp.run(kubeconfig=str(sb.kubeconfig))
        name = created["metadata"]["name"]
        codes = [t["code"] for t in created["spec"]["tasks"]]
        assert codes[0] == codes[1] and codes[0]["git"]["revision"], codes
        with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api:
            assert wait_for(lambda: _finished(api, name), timeout=90, what="the packaged run") == "Succeeded", \
                get_experiment(api, "default", name).get("status")
        original = kr.Experiment.get(name, namespace="default", kubeconfig=str(sb.kubeconfig))
        assert "trained depth=4 steps=3 motto=shipped" in _returned(original, "train")

        # A teammate, elsewhere: no checkout, the project not importable, its modules not loaded.
        elsewhere = tmp_path / "teammate"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        sys.path.remove(str(project))
        for module in ("tasks", "configs"):
            sys.modules.pop(module, None)
        imports_before = import_log.read_text()
        child = original.reproduce(**{"train.depth": 7})
        assert import_log.read_text() == imports_before, "reproduce imported the project's code"
        assert "tasks" not in sys.modules and "configs" not in sys.modules
        spec = child.raw["spec"]
        assert [t["code"] for t in spec["tasks"]] == codes  # the same code, by digest
        with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api:
            assert wait_for(lambda: _finished(api, child.name), timeout=90, what="the reproduction") == "Succeeded", \
                get_experiment(api, "default", child.name).get("status")
            chunk = codes[0]["storage"]["configMaps"][0]
            from kubernetes import client

            owners = {o["name"] for o in client.CoreV1Api(api).read_namespaced_config_map(chunk, "default").metadata.to_dict()
                      .get("owner_references") or []}
        assert "trained depth=7 steps=3 motto=shipped" in _returned(child, "train")
        assert "trained depth=1 steps=3 motto=shipped" in _returned(child, "again")
        assert owners == {name, child.name}, owners  # stored once, kept while either experiment exists
    pids = set(import_log.read_text().split())
    assert str(os.getpid()) in pids and len(pids) >= 4  # the submitter, and each task's pod process


def test_a_checkout_with_uncommitted_changes_is_refused_before_anything_is_created(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kuberun.packaging import UncommittedChangesError

    project = _project(tmp_path / "project")
    (project / "tasks.py").write_text(TASKS + "\n# edited\n")
    monkeypatch.chdir(project)
    exp = kr.Experiment("dirty", executor=kr.KubernetesExecutor(packager=GitArchivePackager()))
    exp.add(kr.Script(inline="true"), name="t")
    with pytest.raises(UncommittedChangesError, match=r"tasks\.py"):
        exp.build()
