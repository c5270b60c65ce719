"""Each backend declares its optional capabilities as protocols; traits read them, never names."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuberun_operator.backend_config import LeptonConfig, SkypilotConfig, SlurmConfig
from kuberun_operator.backends.base import (
    REMOTE_FINALIZER,
    Backend,
    CancelOnDelete,
    DeclaresUnretryable,
    Lifecycle,
    LogSource,
    OwnsSuspend,
    Polled,
    QueuesDependencies,
    Suspendable,
)
from kuberun_operator.backends.kubernetes import JobCache, KubernetesBackend, PodCache
from kuberun_operator.backends.kubernetes.status import STUCK_REASONS
from kuberun_operator.backends.lepton import LeptonBackend
from kuberun_operator.backends.local import LocalBackend
from kuberun_operator.backends.skypilot import SkypilotBackend
from kuberun_operator.backends.slurm import SlurmBackend
from kuberun_operator.settings import Settings
from kuberun_operator.traits import BackendTraits, backend_traits, traits_for
from tests.helpers.builders import make_resource

OPTIONAL = (Lifecycle, Polled, Suspendable, OwnsSuspend, CancelOnDelete, DeclaresUnretryable, LogSource, QueuesDependencies)


def backends(tmp_path: Path) -> dict[str, object]:
    settings = Settings(local_workdir=tmp_path)
    return {
        "kubernetes": KubernetesBackend(None, JobCache(), settings, PodCache()),  # type: ignore[arg-type]
        "local": LocalBackend(settings),
        "slurm": SlurmBackend(SlurmConfig.model_validate({"clusters": [{"name": "c", "host": "h", "user": "u",
                                                                        "workdir": "/w"}]}), settings),
        "lepton": LeptonBackend(LeptonConfig.model_validate({"workspaces": [{"name": "w", "url": "http://l.invalid"}]}),
                                settings),
        "skypilot": SkypilotBackend(SkypilotConfig(endpoint="http://127.0.0.1:9"), settings),
    }


# backend -> the optional protocols it implements (and no others)
DECLARED = {
    "kubernetes": {Suspendable, OwnsSuspend, DeclaresUnretryable},
    "local": {Polled},
    "slurm": {Lifecycle, Polled, CancelOnDelete, DeclaresUnretryable, LogSource, QueuesDependencies},
    "lepton": {Lifecycle, Polled, CancelOnDelete, DeclaresUnretryable, LogSource},
    "skypilot": {Lifecycle, Polled, CancelOnDelete, DeclaresUnretryable, LogSource},
}


@pytest.mark.parametrize(("name", "declared"), DECLARED.items(), ids=DECLARED.keys())
def test_each_backend_implements_the_required_protocol_and_exactly_its_optional_ones(tmp_path, name, declared):
    backend = backends(tmp_path)[name]
    assert isinstance(backend, Backend) and backend.name == name
    assert {p for p in OPTIONAL if isinstance(backend, p)} == declared


def test_the_kubernetes_backend_s_traits_are_what_the_reconcile_tests_assume(tmp_path):
    assert backend_traits(backends(tmp_path)["kubernetes"]) == BackendTraits(
        suspendable=True, unretryable=STUCK_REASONS | {"NameConflict", "FailedCreate"})


def test_bridges_need_the_finalizer_and_the_two_phase_submit(tmp_path):
    for name in ("slurm", "lepton", "skypilot"):
        backend = backends(tmp_path)[name]
        assert isinstance(backend, CancelOnDelete) and backend.finalizer == REMOTE_FINALIZER
        # A refused grant is final: no retry can change the admin's config.
        assert backend_traits(backend) == BackendTraits(record_before_submit=True, unretryable=frozenset({"BackendNotAllowed"}))


def test_traits_for_an_experiment_cover_its_backends_and_name_kueue_as_owner_of_queued_jobs(tmp_path):
    exp = make_resource().task("a").task("q", queue="team").task("s", backend="slurm", cluster="c") \
        .task("x", backend="lepton", resourceShape="gpu.a10").obj()
    available = backends(tmp_path)
    del available["lepton"]  # not configured in this operator
    traits = traits_for(exp, available)
    assert set(traits.backends) == {"kubernetes", "slurm"}
    assert dict(traits.suspend_owners) == {"q": "Kueue"}
    assert traits.of("lepton") == BackendTraits()  # unknown: nothing declared


def test_slurm_tasks_share_a_dependency_scope_per_cluster_and_login_only(tmp_path):
    config = SlurmConfig.model_validate({"clusters": [
        {"name": "c", "host": "h", "user": "u", "workdir": "/w",
         "identities": {"team-b": {"user": "b", "sshKeyFile": "/k"}}},
        {"name": "d", "host": "h2", "user": "u", "workdir": "/w"}]})
    available = {**backends(tmp_path), "slurm": SlurmBackend(config, Settings(local_workdir=tmp_path))}
    exp = make_resource().task("a", backend="slurm", cluster="c").task("b", backend="slurm", cluster="c") \
        .task("other", backend="slurm", cluster="d").task("gone", backend="slurm", cluster="nope").task("k").obj()
    scopes = traits_for(exp, available).dependency_scopes
    assert scopes["a"] == scopes["b"] != scopes["other"]
    assert "gone" not in scopes and "k" not in scopes  # an unknown cluster, and Kubernetes, queue nothing
    exp.metadata.namespace = "team-b"  # its own login on cluster c: its own squeue --me, its own scope
    assert traits_for(exp, available).dependency_scopes["a"] != scopes["a"]
