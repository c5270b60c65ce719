"""Pure parts of the manage surface: override parsing, config rendering, log tails, kubeconfig reading."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

import kuberun as kr
from kuberun.api import load_credentials
from kuberun.errors import InvalidOverrideError, UnreachableError
from kuberun.manage.fiddle_tree import render_fiddle
from kuberun.manage.logs import _tail_offset, lines
from kuberun.manage.query import ListFilter, parse_duration
from kuberun.manage.reproduce import apply_overrides, parse_overrides, parse_path, parse_value
from kuberun.serialization import decode_envelope, encode_config
from tests.fixtures import tasks
from tests.helpers.manage import train_experiment


def test_override_values_are_python_literals_else_strings():
    assert [parse_value(v) for v in ("3e-4", "[1, 2]", "None", "'x'", "adam", "True")] == [3e-4, [1, 2], None, "x", "adam", True]
    assert parse_overrides(["train.lr=3e-4", "opt = adam"]) == {"train.lr": 3e-4, "opt": "adam"}


def test_override_paths_take_attributes_indices_and_keys():
    assert parse_path("model.layers[0].size") == ["model", "layers", 0, "size"]
    assert parse_path("data['split'].n") == ["data", "split", "n"]
    for bad in ("a..b", ".a", "a.", "a[x]", "1a"):
        with pytest.raises(InvalidOverrideError, match="invalid override path"):
            parse_path(bad)


def test_task_name_may_be_omitted_only_with_a_single_fiddle_task():
    exp = train_experiment()
    apply_overrides(exp.tasks, {"model.width": 3, "train.lr": 0.5})
    assert (exp.tasks["train"].config.model.width, exp.tasks["train"].config.lr) == (3, 0.5)
    exp.add(kr.Partial(tasks.add), name="other")
    with pytest.raises(InvalidOverrideError, match="start with a task name"):
        apply_overrides(exp.tasks, {"model.width": 4})


def test_overrides_set_list_items_but_refuse_unknown_parameters():
    exp = kr.Experiment("x")
    exp.add(kr.Partial(tasks.add, a=[1, 2]), name="t")
    apply_overrides(exp.tasks, {"t.a[1]": 9, "t.b": 5})
    assert (exp.tasks["t"].config.a, exp.tasks["t"].config.b) == ([1, 9], 5)
    with pytest.raises(InvalidOverrideError, match=r"add has no attribute 'c' \(has: a, b\)"):
        apply_overrides(exp.tasks, {"t.c": 1})
    with pytest.raises(InvalidOverrideError, match="list has no index 5"):
        apply_overrides(exp.tasks, {"t.a[5]": 1})


def test_fiddle_tree_renders_nested_configs_from_json_alone():
    config = kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=8), lr=3e-4)
    doc = decode_envelope(encode_config(config, "t").data)["config"]
    assert render_fiddle(doc) == [
        "Partial[tests.fixtures.tasks:train]",
        "  model = Config[tests.fixtures.tasks:Model]",
        "    width = 8",
        "  lr = 0.0003",
    ]


def test_log_tail_reads_backwards_and_lines_hold_only_a_partial_line(tmp_path: Path):
    log = tmp_path / "out.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(50_000)))
    offset = _tail_offset(log, 2)
    assert log.read_bytes()[offset:] == b"line 49998\nline 49999\n"
    assert list(lines(iter([b"a\nb", b"c\n\xc3", b"\xa9"]))) == ["a", "bc", "é"]


def test_durations_and_label_selectors():
    assert parse_duration("2h") == timedelta(hours=2) and parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("soon")
    selector = ListFilter(title="My Run", user="Alice", selector="team=a").label_selector()
    assert selector == "team=a,kuberun.dev/title=my-run,kuberun.dev/submitted-by=alice"


def test_kubeconfig_with_token_and_client_certificate_data(tmp_path: Path):
    cert = base64.b64encode(b"CERT").decode()
    config = {
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://k:6443/", "certificate-authority-data": cert}}],
        "users": [{"name": "u", "user": {"client-certificate-data": cert, "client-key-data": cert, "token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}}],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    creds = load_credentials(str(path))
    assert (creds.server, creds.namespace, creds.user, creds.headers) == ("https://k:6443", "team", "u", {"Authorization": "Bearer t"})
    assert Path(creds.cert_file or "").read_bytes() == b"CERT" and creds.ca_file and creds.verify
    with pytest.raises(UnreachableError, match="context 'other' not found"):
        load_credentials(str(path), "other")
