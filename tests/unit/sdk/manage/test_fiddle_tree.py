"""describe renders a serialized config from its JSON alone, without importing user code."""

from __future__ import annotations

import kuberun as kr
from kuberun.manage.fiddle_tree import render_fiddle
from kuberun.serialization import decode_envelope, encode_config
from tests.fixtures import tasks


def test_fiddle_tree_renders_nested_configs_from_json_alone():
    config = kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=8), lr=3e-4)
    doc = decode_envelope(encode_config(config, "t").data)["config"]
    assert render_fiddle(doc) == [
        "Partial[tests.fixtures.tasks:train]",
        "  model = Config[tests.fixtures.tasks:Model]",
        "    width = 8",
        "  lr = 0.0003",
    ]
