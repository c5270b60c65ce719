"""The ``kuberun`` command line. Heavy imports happen inside commands so ``--help`` is instant."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    name="kuberun",
    help="Configure, execute and manage ML experiments on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print kuberun's version."""
    from kuberun import __version__

    typer.echo(__version__)


@app.command()
def crd(output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")) -> None:  # noqa: UP045 - typer needs Optional on 3.10
    """Print the Experiment CustomResourceDefinition generated from the SDK's models."""
    from kuberun.resource.crd import crd_yaml

    text = crd_yaml()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)


@app.command("dry-run")
def dry_run(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A Python file that builds and runs an experiment.")) -> None:
    """Run FILE with exp.run() printing the resources as YAML instead of creating them."""
    from kuberun.errors import KuberunError

    os.environ["KUBERUN_DRYRUN"] = "1"
    sys.argv = [str(file)]
    sys.path.insert(0, str(file.resolve().parent))
    try:
        runpy.run_path(str(file), run_name="__main__")
    except KuberunError as exc:
        _fail(str(exc))


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def run_command(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="MODULE:ENTRYPOINT", help="e.g. recipes.llm:pretrain or train.py:train"),
    kubeconfig: Optional[str] = typer.Option(None, "--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG)."),  # noqa: UP045
    context: Optional[str] = typer.Option(None, "--context", help="Kube context."),  # noqa: UP045
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Namespace (default: the context's)."),  # noqa: UP045
) -> None:
    """Submit an entrypoint (NeMo Run's `nemo llm pretrain ...`): MODULE:ENTRYPOINT [overrides] [--dryrun] [--yaml F] [--executor E] [-y].

    Everything after the target is the entrypoint's own command line (NeMo Run's override grammar:
    model=large_model model.depth=5 lr=3e-4 steps*=2); `kuberun run MODULE:ENTRYPOINT --help` lists
    its parameters and factories.
    """
    if target in ("--help", "-h"):
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from kuberun.entrypoints import CLIError, run_entrypoint
    from kuberun.entrypoints.target import load_target

    try:
        fn = load_target(target)
    except CLIError as exc:
        _fail(str(exc), 2)
    raise typer.Exit(run_entrypoint(list(ctx.args), fn, kubeconfig=kubeconfig, context=context, namespace=namespace))


def _plugin_command(name: str, summary: str) -> None:
    """``kuberun NAME ...``: the command another kuberun package registered (``kuberun.plugins``), its
    arguments and ``--help`` passed through untouched."""

    def run(ctx: typer.Context) -> None:
        from kuberun.errors import KuberunError
        from kuberun.plugins import load_command

        try:
            command = load_command(name)
        except KuberunError as exc:
            _fail(str(exc))
        raise typer.Exit(command(list(ctx.args)))

    run.__doc__ = summary
    app.command(name, context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                add_help_option=False)(run)


_plugin_command("sandbox", "Run the embedded control plane on this machine (API server, sandbox node, operator) until "
                "Ctrl-C. From the kuberun_sandbox package (kuberun's sandbox extra); `kuberun sandbox --help` lists options.")
_plugin_command("ui", "Serve a web dashboard of the experiments on 127.0.0.1. From kuberun.ui "
                "(kuberun's ui extra); `kuberun ui --help` lists its options.")


def _register_manage_commands() -> None:
    from kuberun.manage import results_commands  # compare, artifacts
    from kuberun.manage.commands import register  # typer only at import; each command imports its own needs

    register(app)
    results_commands.register(app)


_register_manage_commands()


def main() -> None:
    """The console script: any KuberunError that reaches here (e.g. from a user's script) is one line, exit 1."""
    from kuberun.errors import KuberunError

    try:
        app()
    except KuberunError as exc:  # outside typer's app: typer.Exit would be a traceback here
        typer.echo(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
