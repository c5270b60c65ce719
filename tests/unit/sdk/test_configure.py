"""Configure: any Fiddle buildable (a nemo_run.Config included) is accepted as plain Fiddle."""

from __future__ import annotations

import fiddle as fdl
import pytest

from kuberun.serialization import decode_config, encode_config
from tests.fixtures import tasks


def test_nemo_run_buildables_work_unchanged():
    run = pytest.importorskip("nemo_run")
    cfg = run.Partial(tasks.train, model=run.Config(tasks.Model, width=3), lr=1.0)
    enc = encode_config(cfg)
    again = decode_config(enc.data, enc.sha256)
    assert type(again) is fdl.Partial and type(again.model) is fdl.Config  # plain Fiddle: no nemo_run needed to run
    assert fdl.build(again)() == fdl.build(cfg)()
