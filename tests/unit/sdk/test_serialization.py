"""Serialization: configs round-trip with a digest, tampering and unserializable values fail clearly."""

from __future__ import annotations

import os
import random
import string

import fiddle as fdl
import pytest

import kuberun as kr
from kuberun.errors import (
    ConfigIntegrityError,
    ConfigSerializationError,
    ConfigTooLargeError,
)
from kuberun.serialization import decode_config, encode_config
from tests.fixtures import tasks


def _noise(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters) for _ in range(n))


def test_partial_round_trips_with_digest():
    cfg = kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=8), lr=0.5)
    enc = encode_config(cfg)
    again = decode_config(enc.data, enc.sha256)
    assert again == cfg
    assert fdl.build(again)() == 8 * 2 * 0.5 * 2
    assert enc.target == "Partial[tests.fixtures.tasks:train]"


def test_tampered_config_is_refused():
    enc = encode_config(kr.Partial(tasks.add, a=1))
    with pytest.raises(ConfigIntegrityError, match="digest mismatch"):
        decode_config(enc.data[:-4] + "AAAA", enc.sha256)


@pytest.mark.parametrize(("value", "needle"), [
    (lambda x: x, "lambdas"),
    (open(os.devnull), "Unserializable value"),  # noqa: SIM115
])
def test_unserializable_config_names_task_and_cause(value, needle):
    with pytest.raises(ConfigSerializationError) as info:
        encode_config(kr.Partial(tasks.add, a=value), task="train")
    assert "task 'train'" in str(info.value) and needle in str(info.value)


def test_config_over_the_hard_limit_is_refused_with_advice():
    with pytest.raises(ConfigTooLargeError, match="over the 4 MiB limit; keep large data"):
        encode_config(kr.Partial(tasks.take_blob, blob=_noise(6_000_000, seed=2)), task="huge")
