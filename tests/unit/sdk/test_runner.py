"""The task runner: builds and calls configs, runs scripts, and exits with codes a backend can use.

These run `python -m kuberun.runner` as a real subprocess, as a Job's container does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import kuberun as kr
from kuberun.resource import ExperimentResource
from kuberun.runner import task_document
from tests.fixtures import tasks

ROOT = Path(__file__).resolve().parents[3]


def _run(doc: dict, tmp_path: Path, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "task.json"
    path.write_text(json.dumps(doc))
    return subprocess.run([sys.executable, "-m", "kuberun.runner", "--config", str(path), "--result", str(tmp_path / "r.json")],
                          cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def _doc(task, name="t") -> dict:
    exp = kr.Experiment("r")
    exp.add(task, name=name, executor=kr.LocalExecutor())
    resource, _ = exp.build()
    return task_document(resource.spec.tasks[0])


def test_partial_is_built_and_called(tmp_path):
    marker = tmp_path / "marker"
    done = _run(_doc(kr.Partial(tasks.write_marker, path=str(marker), text="hello")), tmp_path)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "hello"
    assert json.loads((tmp_path / "r.json").read_text()) == {"result": "'hello'"}


def test_config_is_built(tmp_path):
    done = _run(_doc(kr.Config(tasks.Model, width=3)), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Model object" in json.loads((tmp_path / "r.json").read_text())["result"]


def test_failing_task_exits_1_with_traceback(tmp_path):
    done = _run(_doc(kr.Partial(tasks.fail, message="kaput")), tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: kaput" in done.stderr


def test_tampered_task_exits_2(tmp_path):
    doc = _doc(kr.Partial(tasks.add, a=1))
    doc["fiddle"]["sha256"] = "0" * 64
    done = _run(doc, tmp_path)
    assert done.returncode == 2 and "digest mismatch" in done.stderr


def test_unreadable_task_file_exits_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "kuberun.runner", "--config", str(tmp_path / "missing.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot read task file" in done.stderr


def test_config_split_over_files_is_reassembled(tmp_path):
    doc = _doc(kr.Partial(tasks.take_blob, blob="x" * 1000))
    data = doc["fiddle"].pop("data")
    parts = [tmp_path / "c0", tmp_path / "c1"]
    parts[0].write_text(data[:100])
    parts[1].write_text(data[100:])
    doc["fiddle"]["dataFiles"] = [str(p) for p in parts]
    done = _run(doc, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text()) == {"result": "1000"}


def test_script_command_exit_code_is_propagated(tmp_path):
    done = _run(_doc(kr.Script(command=[sys.executable, "-c", "import sys; sys.exit(7)"])), tmp_path)
    assert done.returncode == 7


def test_inline_script_gets_args_and_env_unquoted_by_any_shell(tmp_path):
    hostile = "$(touch pwned); `touch pwned2`"
    script = kr.Script(inline='printf "%s|%s" "$1" "$GREETING" > out.txt', args=[hostile], env={"GREETING": "hi; rm -rf /"})
    done = _run(_doc(script), tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt").read_text() == f"{hostile}|hi; rm -rf /"
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_callables_from_a_main_script_run_anywhere(tmp_path):
    # As in NeMo Run, users define task functions in the script that builds the experiment.
    script = tmp_path / "myexp.py"
    script.write_text(textwrap.dedent('''
        import kuberun as kr

        def shout(word: str) -> str:
            print(word.upper())
            return word.upper()

        if __name__ == "__main__":
            with kr.Experiment("main") as exp:
                exp.add(kr.Partial(shout, word="hey"), name="shout")
                print(exp.dryrun())
    '''))
    made = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    resource = ExperimentResource.parse(made.stdout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script.unlink()  # the runner must not need the file: its source travels with the config
    done = _run(task_document(resource.spec.tasks[0]), elsewhere, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert "HEY" in done.stdout
    assert resource.spec.tasks[0].fiddle.target == "Partial[myexp:shout]"


def test_config_env_carries_the_task_document_where_no_file_can_be_mounted(tmp_path):
    from kuberun.runner import encode_task_env

    marker = tmp_path / "marker"
    doc = _doc(kr.Partial(tasks.write_marker, path=str(marker), text="from-env"))
    env = {**os.environ, "KUBERUN_TASK_B64": encode_task_env(doc)}
    done = subprocess.run([sys.executable, "-m", "kuberun.runner", "--config-env", "KUBERUN_TASK_B64"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "from-env"


def test_config_env_that_is_missing_or_not_base64_exits_2(tmp_path):
    env = {**os.environ, "KUBERUN_TASK_B64": "not base64!"}
    for name in ("KUBERUN_TASK_B64", "KUBERUN_UNSET_VARIABLE"):
        done = subprocess.run([sys.executable, "-m", "kuberun.runner", "--config-env", name],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 2 and name in done.stderr
