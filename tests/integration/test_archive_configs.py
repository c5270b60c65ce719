"""A deleted experiment whose config and code lived in ConfigMaps is still described and reproduced —
from the archive's copies — end to end in the sandbox, read with a user's own kubeconfig.

The task's Fiddle config carries a 200 KiB value (over the inline limit: it is spilled to ConfigMaps)
and its code is a packaged git project (ConfigMap chunks); the pods see neither otherwise. Deleting
the Experiment takes all of them (owner references); `kuberun describe` still renders the config
tree and `kuberun reproduce` creates a run that uses the same config and code, and succeeds.
"""

from __future__ import annotations

import json
import pathlib
import random
import string
import sys
from typing import Any

import pytest

import kuberun as kr
from kuberun.api import Op, connect
from kuberun.errors import ObjectNotFoundError
from kuberun_operator.archive import Archive
from tests.helpers.gitrepo import make_repo
from tests.helpers.manage import cli
from tests.helpers.operator import wait_for

pytest.importorskip("kuberun_operator.recording", reason="the operator's recorder is part of the operator extra")

ROOT = pathlib.Path(__file__).resolve().parents[2]
NS = "team-a"
BASE = f"/apis/kuberun.dev/v1alpha1/namespaces/{NS}/experiments"

TRAIN = '''\
import hashlib
import pathlib


def train(blob: str, width: int = 2) -> str:
    motto = pathlib.Path("motto.txt").read_text().strip()  # the package is the working directory
    return f"blob={hashlib.sha256(blob.encode()).hexdigest()[:16]} width={width} motto={motto}"
'''


def _project(path: pathlib.Path) -> pathlib.Path:
    return make_repo(path, {"bigtrain.py": TRAIN, "motto.txt": "kept\n"})


def _get(kube: Any, kind: str, name: str) -> dict[str, Any] | None:
    path = f"{BASE}/{name}" if kind == "experiments" else f"/api/v1/namespaces/{NS}/configmaps/{name}"
    try:
        return kube.get(path, Op("get", kind, NS, name))
    except ObjectNotFoundError:
        return None


def _phase(kube: Any, name: str) -> str | None:
    obj = _get(kube, "experiments", name)
    phase = ((obj or {}).get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def _returned(user: pathlib.Path, name: str) -> str:
    out = cli("logs", name, "train", kubeconfig=user)
    assert out.code == 0, out.stderr
    return "\n".join(line for line in out.stdout.splitlines() if "task returned" in line)


def test_a_deleted_experiment_with_spilled_config_and_packaged_code_is_described_and_reproduced_from_the_archive(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kuberun.packaging import GitArchivePackager
    from kuberun_sandbox import Sandbox

    project = _project(tmp_path / "project")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # pods see kuberun and the tests; only the package brings the project
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    import bigtrain

    rng = random.Random(11)
    blob = "".join(rng.choice(string.ascii_letters) for _ in range(200 * 1024))
    with Sandbox(data_dir=tmp_path / "sb", operator=True) as sb:
        assert sb.record_server is not None and sb.operator_running, (sb.record_server_error, sb.operator_error)
        user = sb.mint_user("alice", namespace=NS)
        kube = connect(str(user))
        exp = kr.Experiment("big-config", namespace=NS, executor=kr.KubernetesExecutor(packager=GitArchivePackager()))
        exp.add(kr.Partial(bigtrain.train, blob=blob, width=3), name="train")
        created = exp.run(kubeconfig=str(user))
        name, uid = created["metadata"]["name"], created["metadata"]["uid"]
        task = created["spec"]["tasks"][0]
        refs = [r["name"] for r in task["fiddle"].get("configMapRefs") or []]
        chunks = task["code"]["storage"]["configMaps"]
        assert refs and chunks, "config and code were meant to live in ConfigMaps: this test would prove nothing"
        assert wait_for(lambda: _phase(kube, name), 90, "the run to finish", interval=0.3) == "Succeeded"
        first = _returned(user, name)
        assert "width=3 motto=kept" in first, first

        def kept() -> set[str] | None:
            with Archive.open(sb.archive_url) as archive:
                names = archive.config_map_names(uid)
            return names if names >= {*refs, *chunks} else None

        wait_for(kept, 60, "the ConfigMaps in the archive", interval=0.3)
        assert cli("delete", name, kubeconfig=user).code == 0
        wait_for(lambda: all(_get(kube, "configmaps", n) is None for n in [*refs, *chunks])
                 and _get(kube, "experiments", name) is None, 60, "the experiment and its ConfigMaps gone", interval=0.3)

        # A teammate, elsewhere: no checkout, the project not importable.
        elsewhere = tmp_path / "teammate"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        sys.path.remove(str(project))
        sys.modules.pop("bigtrain", None)

        shown = cli("describe", name, kubeconfig=user)
        assert shown.code == 0 and "ARCHIVED" in shown.stderr, shown.stderr
        assert "cannot render" not in shown.stdout and "width" in shown.stdout, shown.stdout

        again = cli("reproduce", name, "train.width=5", kubeconfig=user)
        assert again.code == 0, again.stderr
        child = again.stdout.split()[1]
        assert wait_for(lambda: _phase(kube, child), 90, "the reproduction to finish", interval=0.3) == "Succeeded", \
            _get(kube, "experiments", child)
        second = _returned(user, child)
        assert first.split("blob=")[1].split()[0] in second and "width=5 motto=kept" in second, second
        spec = (_get(kube, "experiments", child) or {})["spec"]["tasks"][0]
        assert spec["code"]["storage"]["configMaps"] == chunks  # the same code, by digest, created again

        # compare reads the deleted one's config from the archive's copies too: a diff by path, not "gone"
        compared = cli("compare", name, child, "-o", "json", kubeconfig=user)
        assert compared.code == 0, compared.stderr
        assert json.loads(compared.stdout)["config"] == [{"path": "train.width", "values": ["3", "5"]}]
