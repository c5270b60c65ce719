"""Code packages from executor to runner: the spec records a CodeRef, the Job mounts its chunks, the runner
unpacks them — and a submitting script imported by the runner cannot submit its experiment again.
(The Job's volumes for the chunks: tests/unit/operator/test_code_volumes.py.)"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from fiddle.experimental import serialization as fdl_serialization

import kuberun as kr
from kuberun.packaging import PatternPackager, to_config_maps
from kuberun.runner import task_document
from kuberun.serialization import digest

ROOT = Path(__file__).resolve().parents[3]


def _project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "lib.py").write_text("def double(x):\n    return 2 * x\n")
    (proj / "data.txt").write_text("42\n")
    (proj / "notes.md").write_text("left out\n")
    return proj


def _packager(proj: Path) -> PatternPackager:
    return PatternPackager(include_pattern=["*.py", "*.txt"], relative_path=str(proj))


def test_the_spec_records_one_code_ref_per_package_and_the_chunks_are_created_once(tmp_path):
    proj = _project(tmp_path)
    shared = _packager(proj)
    exp = kr.Experiment("pkg", executor=kr.KubernetesExecutor(packager=shared))
    exp.add(kr.Script(inline="true"), name="a")
    exp.add(kr.Script(inline="true"), name="b")
    exp.add(kr.Script(inline="true"), name="c", executor=kr.KubernetesExecutor(packager=_packager(proj)))  # same bytes
    exp.add(kr.Script(inline="true"), name="plain", executor=kr.KubernetesExecutor())
    resource, maps = exp.build()
    refs = {t.name: t.code for t in resource.spec.tasks}
    assert refs["plain"] is None and refs["a"] == refs["b"] == refs["c"] and refs["a"].files == 2
    code_maps = [m for m in maps if "binaryData" in m]
    assert [m["metadata"]["name"] for m in code_maps] == refs["a"].storage.config_maps  # identical content: one set
    assert "packager" not in json.dumps(resource.to_dict())  # client-side only, never in the resource


def _chunk_files(tmp_path: Path, maps: list[dict]) -> list[str]:
    files = []
    for i, cm in enumerate(maps):
        path = tmp_path / f"chunk-{i}"
        path.write_bytes(base64.b64decode(cm["binaryData"]["chunk"]))
        files.append(str(path))
    return files


def _run(doc: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "task.json"
    path.write_text(json.dumps(doc))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # the project itself is not importable
    return subprocess.run([sys.executable, "-m", "kuberun.runner", "--config", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)


def test_the_runner_unpacks_the_package_as_working_directory_and_import_path(tmp_path):
    package = _packager(_project(tmp_path)).package()
    maps, ref = to_config_maps(package)
    script = "import lib, pathlib; print('result', lib.double(int(pathlib.Path('data.txt').read_text())))"
    exp = kr.Experiment("pkg")
    exp.add(kr.Script(inline=script, entrypoint="python"), name="t")
    resource, _ = exp.build()
    task = resource.spec.tasks[0].model_copy(update={"code": ref})
    done = _run(task_document(task, code_files=_chunk_files(tmp_path, maps)), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "result 84" in done.stdout


def test_the_runner_refuses_chunks_that_do_not_match_the_digest(tmp_path):
    package = _packager(_project(tmp_path)).package()
    maps, ref = to_config_maps(package)
    files = _chunk_files(tmp_path, maps)
    data = bytearray(Path(files[0]).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    Path(files[0]).write_bytes(bytes(data))
    exp = kr.Experiment("pkg")
    exp.add(kr.Script(inline="true"), name="t")
    task = exp.build()[0].spec.tasks[0].model_copy(update={"code": ref})
    done = _run(task_document(task, code_files=files), tmp_path)
    assert done.returncode == 2 and "digest mismatch" in done.stderr, done.stderr


UNGUARDED = '''\
import kuberun as kr


def hello(n: int = 1) -> str:
    return "hello " * n


def flag() -> str:
    import os

    return f"in-task flag while called: {os.environ.get('KUBERUN_IN_TASK')}"


exp = kr.Experiment("unguarded")
exp.add(kr.Partial(hello, n=2), name="hello")
exp.run(kubeconfig="/nonexistent/kubeconfig")   # no __main__ guard, as in many scripts
'''


def test_a_shipped_script_without_a_main_guard_does_not_submit_again_inside_the_task(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "nr_script.py").write_text(UNGUARDED)
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setenv("KUBERUN_IN_TASK", "1")  # importing it here to build the config must not submit either
    with pytest.warns(UserWarning):
        import nr_script
    config = json.loads(fdl_serialization.dump_json(kr.Partial(nr_script.hello, n=2)))
    sys.modules.pop("nr_script")
    envelope = {"config": config, "modules": {"nr_script": UNGUARDED}}  # as the SDK ships a __main__ script
    data = base64.b64encode(zlib.compress(json.dumps(envelope, sort_keys=True).encode())).decode()
    done = _run({"name": "hello", "fiddle": {"sha256": digest(data), "data": data}}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "exp.run() of 'unguarded' ignored inside a running kuberun task" in done.stderr
    assert "task returned 'hello hello '" in done.stderr


def test_the_in_task_guard_holds_only_while_the_config_is_imported(tmp_path, monkeypatch):
    # A task that submits experiments on purpose (a sweep driver) must still be able to.
    src = tmp_path / "src"
    src.mkdir()
    (src / "nr_script.py").write_text(UNGUARDED)
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setenv("KUBERUN_IN_TASK", "1")
    with pytest.warns(UserWarning):
        import nr_script
    config = json.loads(fdl_serialization.dump_json(kr.Partial(nr_script.flag)))
    sys.modules.pop("nr_script")
    data = base64.b64encode(zlib.compress(json.dumps({"config": config, "modules": {"nr_script": UNGUARDED}}).encode())).decode()
    done = _run({"name": "flag", "fiddle": {"sha256": digest(data), "data": data}}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "in-task flag while called: None" in done.stderr


def test_experiment_run_is_a_no_op_with_a_warning_inside_a_task(monkeypatch):
    monkeypatch.setenv("KUBERUN_IN_TASK", "1")
    exp = kr.Experiment("inside")
    exp.add(kr.Script(inline="true"), name="t")
    with pytest.warns(UserWarning, match="ignored inside a running kuberun task"):
        assert exp.run(kubeconfig="/nonexistent") is None
