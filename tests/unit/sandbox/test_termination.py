"""The sandbox kubelet's termination message: the path mapped for a process, the file read as a kubelet does."""

from __future__ import annotations

import pathlib

from kuberun_sandbox import termination
from kuberun_sandbox.podspec import Launch


def _launch(tmp_path: pathlib.Path, path: str = "/dev/termination-log") -> Launch:
    return Launch(argv=["sh", "-c", f"echo hi > {path}"], env={"SUMMARY": path, "OTHER": "/dev/null"}, cwd=tmp_path)


def test_the_default_path_is_mapped_to_a_fresh_file_in_env_and_argv(tmp_path):
    local = termination.local_file(tmp_path)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text("left over from a pod of the same name")
    bound = termination.bind(_launch(tmp_path), {}, tmp_path)
    assert bound.env["SUMMARY"] == str(local) and bound.env["OTHER"] == "/dev/null"
    assert bound.argv[-1] == f"echo hi > {local}" and local.read_bytes() == b""


def test_a_custom_path_is_honoured(tmp_path):
    bound = termination.bind(_launch(tmp_path, "/tmp/msg"), {"terminationMessagePath": "/tmp/msg"}, tmp_path)
    assert bound.env["SUMMARY"] == str(termination.local_file(tmp_path))


def test_the_message_is_at_most_4096_bytes(tmp_path):
    termination.bind(_launch(tmp_path), {}, tmp_path)
    termination.local_file(tmp_path).write_bytes(b"x" * 10_000)
    assert termination.read({}, tmp_path, tmp_path / "log", 0) == "x" * 4096


def test_fallback_to_logs_on_error_uses_the_log_tail_only_for_an_empty_file_of_a_failed_container(tmp_path):
    termination.bind(_launch(tmp_path), {}, tmp_path)
    log = tmp_path / "log"
    log.write_text("".join(f"line {i}\n" for i in range(200)))
    policy = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    tail = termination.read(policy, tmp_path, log, 1)
    assert tail.splitlines()[-1] == "line 199" and len(tail.splitlines()) == 80
    assert termination.read(policy, tmp_path, log, 0) == ""        # succeeded: no fallback
    assert termination.read({}, tmp_path, log, 1) == ""            # policy File: no fallback
