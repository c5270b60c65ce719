"""kr.cli-style entrypoints: NeMo Run's override grammar, factories, --yaml/--factory/--executor, help, dry run.

Table-driven over a NeMo 2.0 recipe-shaped entrypoint (tests/unit/sdk/recipe.py): ``train(model: Model,
optim: Optim, steps: int = 10, ...)`` with factories small_model/large_model/gpt_tiny and adam (the default).
"""

from __future__ import annotations

import inspect
import io
import textwrap

import fiddle as fdl
import pytest
import yaml

from kuberun import entrypoints as cli
from kuberun.entrypoints.grammar import Attr, Index, literal, parse_override
from kuberun.resource.executors import KubernetesExecutor, LocalExecutor
from tests.unit.sdk import recipe
from tests.unit.sdk.recipe import GPT, Model, Optim, finetune, misconfigured, plain, train


def built(argv: list[str], fn=train) -> dict:
    """The resolved task's arguments, built (so defaults filled and configs made into objects)."""
    task = cli.resolve(argv, fn).task
    bound = inspect.signature(fn).bind_partial(**fdl.build(task).keywords)
    bound.apply_defaults()
    return dict(bound.arguments)


# -- grammar -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "path", "op", "raw"), [
    pytest.param("steps=20", (Attr("steps"),), "=", "20", id="assign"),
    pytest.param("model.depth=5", (Attr("model"), Attr("depth")), "=", "5", id="nested"),
    pytest.param("a.b[0]=1", (Attr("a"), Attr("b"), Index(0)), "=", "1", id="list-index"),
    pytest.param("opts['k']=v", (Attr("opts"), Index("k")), "=", "v", id="dict-key"),
    pytest.param("steps*=2", (Attr("steps"),), "*=", "2", id="multiply"),
    pytest.param("steps+=1", (Attr("steps"),), "+=", "1", id="add"),
    pytest.param("warmup-=1", (Attr("warmup"),), "-=", "1", id="subtract"),
    pytest.param("lr/=10", (Attr("lr"),), "/=", "10", id="divide"),
    pytest.param("tags|={'a': 1}", (Attr("tags"),), "|=", "{'a': 1}", id="merge"),
    pytest.param("x=a=b", (Attr("x"),), "=", "a=b", id="value-with-equals"),
    pytest.param("lrs=[1e-3, 3e-4]", (Attr("lrs"),), "=", "[1e-3, 3e-4]", id="list-literal"),
    pytest.param("model=large_model(depth=3)", (Attr("model"),), "=", "large_model(depth=3)", id="factory-call"),
])
def test_override_parses_into_path_op_and_raw_value(text, path, op, raw):
    override = parse_override(text)
    assert (override.path, override.op, override.raw) == (path, op, raw)


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("=5", "expected path=value", id="no-key"),
    pytest.param("steps", "expected path=value", id="no-operator"),
    pytest.param("steps=", "expected a value after '='", id="empty-value"),
    pytest.param("a..b=1", "expected path=value", id="empty-element"),
    pytest.param("a[x y]=1", "is not a literal", id="index-not-literal"),
    pytest.param("1a=2", "expected path=value", id="starts-with-digit"),
    pytest.param("[0]=2", "expected path=value", id="starts-with-index"),
])
def test_malformed_override_is_refused_naming_it(text, message):
    with pytest.raises(cli.CLIError) as info:
        parse_override(text)
    assert str(info.value).startswith(f"{text}: ") and message in str(info.value)


@pytest.mark.parametrize(("raw", "value"), [
    pytest.param("3e-4", 3e-4, id="float"), pytest.param("20", 20, id="int"),
    pytest.param("true", True, id="true"), pytest.param("False", False, id="false"),
    pytest.param("None", None, id="none"), pytest.param("null", None, id="null"),
    pytest.param("[1, 2]", [1, 2], id="list"), pytest.param("{'a': 1}", {"a": 1}, id="dict"),
    pytest.param("'x y'", "x y", id="quoted"), pytest.param("abc", "abc", id="bare-string"),
    pytest.param("__import__('os')", "__import__('os')", id="code-is-a-string-never-evaluated"),
])
def test_values_are_literals_else_strings(raw, value):
    assert literal(raw) == value


# -- resolving onto the recipe -------------------------------------------------------------------

def test_the_recipe_example_resolves_to_a_partial_of_train():
    task = cli.resolve(["model=large_model", "model.depth=5", "optim.lr=3e-4", "steps*=2"], train).task
    assert isinstance(task, fdl.Partial) and fdl.get_callable(task) is train
    kwargs = dict(fdl.build(task).keywords)
    assert kwargs["model"] == Model(depth=5, width=1024)
    assert kwargs["optim"] == Optim(lr=3e-4)
    assert kwargs["steps"] == 20
    assert fdl.build(task)() == pytest.approx(5 * 20 * 3e-4)


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param(["model=small_model"], {"model": Model(depth=2, width=64), "optim": Optim(), "steps": 10}, id="default-factory-fills-optim"),
    pytest.param(["model=large_model(depth=3)"], {"model": Model(depth=3, width=1024)}, id="factory-with-arguments"),
    pytest.param(["model=gpt_tiny"], {"model": GPT(depth=1, heads=2)}, id="subclass-factory-for-base-annotation"),
    pytest.param(["model.depth=5"], {"model": Model(depth=5)}, id="nested-creates-config-of-the-class"),
    pytest.param(["model=small_model", "steps+=1"], {"steps": 11}, id="add-to-default"),
    pytest.param(["model=small_model", "steps-=1"], {"steps": 9}, id="subtract-from-default"),
    pytest.param(["model=small_model", "steps/=2"], {"steps": 5}, id="integral-division-stays-int"),
    pytest.param(["model=small_model", "optim.lr/=10"], {"optim": Optim(lr=1e-4)}, id="divide-nested"),
    pytest.param(["model=small_model", "optim.lr=1"], {"optim": Optim(lr=1.0)}, id="int-is-a-fine-float"),
    pytest.param(["model=small_model", "name=123"], {"name": "123"}, id="str-keeps-the-text"),
    pytest.param(["model=small_model", "tags=['a', 'b']"], {"tags": ["a", "b"]}, id="list-literal"),
    pytest.param(["model=small_model", "tags=None"], {"tags": None}, id="optional-none"),
    pytest.param(["model=small_model", "model.layers[0]=8"], {"model": Model(depth=2, width=64, layers=[8, 64])}, id="list-index"),
    pytest.param(["model=small_model", "model.layers+=[1]"], {"model": Model(depth=2, width=64, layers=[64, 64, 1])}, id="list-append"),
    pytest.param(["model=small_model", "optim.schedule['warm']=0.1"], {"optim": Optim(schedule={"warm": 0.1})}, id="dict-key"),
    pytest.param(["model=small_model", "optim.schedule|={'a': 1}"], {"optim": Optim(schedule={"a": 1.0})}, id="dict-merge"),
    pytest.param(["model=small_model", "optim.betas=[0.8, 0.9]"], {"optim": Optim(betas=(0.8, 0.9))}, id="tuple-from-list"),
    pytest.param(["small_model", "adam", "3"], {"model": Model(), "steps": 3}, id="positional"),
    pytest.param(["--factory", "quick"], {"model": Model(), "steps": 1}, id="entrypoint-factory"),
    pytest.param(["-f", "big(steps=3)", "model.depth=1"], {"model": Model(depth=1, width=1024), "steps": 3}, id="entrypoint-factory-with-args-then-override"),
    pytest.param(["model=small_model", "steps=1", "steps*=4"], {"steps": 4}, id="applied-in-order"),
])
def test_overrides_resolve_to_the_expected_arguments(argv, expected):
    kwargs = built(argv)
    for key, value in expected.items():
        assert kwargs[key] == value, key


def test_default_factory_of_an_entrypoint_is_its_starting_point():
    assert built([], finetune) == {"model": Model(depth=3, width=1024), "optim": Optim(), "steps": 7}
    assert built(["steps*=2"], finetune)["steps"] == 14


def test_plain_function_works_without_the_decorator():
    task = cli.resolve(["x=4", "label=b"], plain).task
    assert fdl.build(task)() == 2.0 and task.label == "b"


def test_resolving_never_edits_defaults_or_earlier_results():
    first = cli.resolve(["model=small_model", "model.layers[0]=8", "optim.schedule['w']=1"], train).task
    second = cli.resolve(["model=small_model"], train).task
    assert Model().layers == [64, 64] and Optim().schedule == {}
    assert fdl.build(second).keywords["model"].layers == [64, 64]
    assert fdl.build(first).keywords["model"].layers == [8, 64]


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["lr=abc"], "lr=abc: train has no parameter 'lr' (parameters: model, optim, steps, name, tags)", id="unknown-parameter"),
    pytest.param(["model=small_model", "optim.lr=abc"], "optim.lr=abc: expected float, got 'abc'", id="not-a-float"),
    pytest.param(["model=small_model", "steps=2.5"], "steps=2.5: expected int, got '2.5'", id="not-an-int"),
    pytest.param(["model=small_model", "steps/=3"], "steps/=3: expected int", id="non-integral-division"),
    pytest.param(["model=nope"], "model=nope: no factory 'nope' for Model (factories: gpt_tiny, large_model, small_model)", id="unknown-factory"),
    pytest.param(["model=large_model(width=3)"], "factory large_model has no parameter 'width'", id="factory-unknown-argument"),
    pytest.param(["model=large_model(depth='x')"], "large_model(depth=...): expected int", id="factory-argument-type"),
    pytest.param(["model=large_model(3)"], "pass arguments by name", id="factory-positional-argument"),
    pytest.param(["model=small_model", "model.bogus=1"], "model.bogus=1: Model has no parameter 'bogus'", id="nested-unknown"),
    pytest.param(["model=small_model", "model.layers[9]=1"], "index [9] out of range", id="index-out-of-range"),
    pytest.param(["model=small_model", "name+=1"], "name+=1: cannot apply '+='", id="operation-type-error"),
    pytest.param(["model=small_model", "tags*=2"], "tags*=2: cannot apply '*='", id="operation-on-none"),
    pytest.param(["model=small_model", "steps=2", "3"], "a positional value after key=value", id="positional-after-keyword"),
    pytest.param(["a", "b", "c", "d", "e", "f"], "too many positional values", id="too-many-positionals"),
    pytest.param([], "train: missing required argument(s): model (Model; factories: gpt_tiny, large_model, small_model)", id="missing-required"),
    pytest.param(["--bogus"], "--bogus: unknown option", id="unknown-option"),
    pytest.param(["--factory", "nope"], "--factory nope: no factory 'nope' (factories: big, quick)", id="unknown-entrypoint-factory"),
    pytest.param(["model=small_model", "--executor", "nope"], "--executor nope: no factory 'nope' (factories: gpu, local)", id="unknown-executor"),
    pytest.param(["model=small_model", "executor.gpus=abc"], "executor.gpus=abc: expected int", id="executor-field-type"),
    pytest.param(["model=small_model", "executor.bogus=1"], "KubernetesExecutor has no field 'bogus'", id="executor-unknown-field"),
])
def test_bad_arguments_are_refused_naming_the_argument_and_path(argv, message):
    with pytest.raises(cli.CLIError) as info:
        cli.resolve(argv, train)
    assert message in str(info.value)


def test_a_default_factory_for_another_function_is_refused():
    with pytest.raises(cli.CLIError, match="default factory quick: returned train, not a config of misconfigured"):
        cli.resolve([], misconfigured)


# -- --yaml -----------------------------------------------------------------------------------------

def write(tmp_path, text: str):
    path = tmp_path / "overrides.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_yaml_overrides_use_nemo_runs_layout_and_the_command_line_wins(tmp_path):
    path = write(tmp_path, """
        model:
          _factory_: large_model
          depth: 5
        optim:
          lr: 3.0e-4
        steps*=: 2
        tags: [a, b]
    """)
    kwargs = built(["--yaml", path])
    assert kwargs["model"] == Model(depth=5, width=1024) and kwargs["optim"] == Optim(lr=3e-4)
    assert kwargs["steps"] == 20 and kwargs["tags"] == ["a", "b"]
    assert built(["--yaml", path, "steps=3", "model.depth=1"])["steps"] == 3
    assert built(["--yaml", path, "model.depth=1"])["model"].depth == 1


def test_yaml_names_the_entrypoint_factory(tmp_path):
    kwargs = built(["--yaml", write(tmp_path, "run: {factory: big}\nsteps: 4\n")])
    assert (kwargs["model"], kwargs["optim"], kwargs["steps"]) == (Model(depth=24, width=1024), Optim(), 4)


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("- a\n- b\n", "expected a mapping of overrides, got list", id="not-a-mapping"),
    pytest.param("model: [unclosed\n", "not valid YAML", id="invalid-yaml"),
    pytest.param("model: {_target_: os.system}\n", "_target_ is not supported", id="target-refused"),
    pytest.param("model: {_factory_: small_model}\noptim: {lr: fast}\n", "optim.lr: expected float, got 'fast'", id="typed-value"),
])
def test_bad_yaml_is_refused_naming_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(cli.CLIError) as info:
        cli.resolve(["--yaml", path], train)
    assert path in str(info.value) and message in str(info.value)


def test_missing_yaml_file_is_a_clear_error(tmp_path):
    with pytest.raises(cli.CLIError, match="cannot read"):
        cli.resolve(["--yaml", str(tmp_path / "absent.yaml")], train)


# -- executors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param(["--executor", "gpu(gpus=2)", "executor.cpu=4"], KubernetesExecutor(gpus=2, cpu="4"), id="flag-with-args-and-fields"),
    pytest.param(["executor=gpu", "executor.gpus=3"], KubernetesExecutor(gpus=3), id="override-form"),
    pytest.param(["executor=local", "executor.env={'A': '1'}"], LocalExecutor(env={"A": "1"}), id="config-factory-built"),
    pytest.param(["executor.gpus=1"], KubernetesExecutor(gpus=1), id="fields-on-the-default-backend"),
    pytest.param([], None, id="none-chosen"),
])
def test_executor_factories_and_fields(argv, expected):
    assert cli.resolve(["model=small_model", *argv], train).executor == expected


def test_default_executor_is_copied_before_overrides():
    default = KubernetesExecutor(gpus=1)
    resolved = cli.resolve(["model=small_model", "executor.gpus=4"], train, default_executor=default)
    assert resolved.executor == KubernetesExecutor(gpus=4) and default.gpus == 1


# -- help, dry run, confirmation, main --------------------------------------------------------------

def test_help_lists_parameters_types_defaults_and_factories_even_with_bad_overrides():
    out = io.StringIO()
    assert cli.run_entrypoint(["lr=abc", "--help"], train, out=out) == 0
    text = out.getvalue()
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    assert "Model" in lines["model"] and "required" in lines["model"] and "gpt_tiny, large_model, small_model" in lines["model"]
    assert "default factory adam" in lines["optim"]
    assert "int" in lines["steps"] and "default 10" in lines["steps"]
    assert "list[str] | None" in lines["tags"]
    assert "Entrypoint factories (--factory): big, quick" in text
    assert "Executor factories (--executor): gpu, local" in text
    assert "Train a model (recipe-shaped)." in text


def test_dryrun_prints_the_config_and_an_experiment_that_round_trips(monkeypatch):
    from kuberun.experiment import Experiment

    out, err = io.StringIO(), io.StringIO()
    code = cli.run_entrypoint(["model=large_model", "model.depth=5", "optim.lr=3e-4", "steps*=2", "--executor", "gpu", "--dryrun", "-n", "nightly"],
                              train, out=out, err=err)
    assert (code, err.getvalue()) == (0, "")
    text = out.getvalue()
    assert "model.depth: int = 5" in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    experiment = next(d for d in docs if d["kind"] == "Experiment")
    assert experiment["spec"]["title"] == "nightly"
    assert experiment["spec"]["tasks"][0]["executor"] == {"kubernetes": {"gpus": 1}}
    task = Experiment.from_resource(experiment).tasks["train"].config
    assert fdl.build(task)() == pytest.approx(5 * 20 * 3e-4)


@pytest.mark.parametrize(("argv", "code", "message"), [
    pytest.param(["optim.lr=abc", "model=small_model", "--dryrun"], 2, "error: optim.lr=abc: expected float, got 'abc'", id="usage-error"),
    pytest.param(["model=small_model"], 2, "pass -y", id="no-terminal-no-prompt"),
])
def test_run_entrypoint_exit_codes_and_messages(argv, code, message, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    err = io.StringIO()
    assert cli.run_entrypoint(argv, train, out=io.StringIO(), err=err) == code
    assert message in err.getvalue()


def test_declining_the_confirmation_submits_nothing():
    asked: list[str] = []
    err = io.StringIO()
    code = cli.run_entrypoint(["model=small_model"], train, out=io.StringIO(), err=err,
                              confirm=lambda prompt: asked.append(prompt) or False)
    assert code == 1 and "not submitted" in err.getvalue() and asked == ["Submit experiment 'train' (train)?"]


def test_main_exits_with_the_status(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(train, argv=["model=small_model", "--dryrun"])
    assert info.value.code == 0 and "kind: Experiment" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main(train, argv=["steps=x"])
    assert info.value.code == 2


def test_factories_need_a_return_type_or_a_target():
    def untyped():
        return fdl.Config(Model)

    with pytest.raises(cli.CLIError, match="annotate what it returns"):
        cli.factory(untyped)
    assert cli.resolve_factory(Model, "large_model") is recipe.large_model
    assert cli.resolve_factory(train, "big") is recipe.big_recipe
    assert {f.__name__ for f in cli.list_factories(Model)} == {"small_model", "large_model", "gpt_tiny"}
