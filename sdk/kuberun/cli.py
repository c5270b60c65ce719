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


@app.command()
def sandbox(
    port: int = typer.Option(6443, "--port", help="API server port on 127.0.0.1 (0: any free port)."),
    data_dir: Path = typer.Option(Path.home() / ".kuberun" / "sandbox", "--data-dir",
                                  help="Where state, pod logs and the kubeconfig live (kept across restarts)."),
    no_operator: bool = typer.Option(False, "--no-operator", help="Do not run the kuberun operator in-process."),
) -> None:
    """Run a local Kubernetes control plane (API server, sandbox node, operator) until Ctrl-C."""
    from kuberun.sandbox.run import serve

    raise typer.Exit(serve(port=port, data_dir=data_dir, operator=not no_operator))


def _register_manage_commands() -> None:
    from kuberun.manage.commands import register  # typer only at import; each command imports its own needs

    register(app)


_register_manage_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
