"""Command-line entrypoints with NeMo Run's grammar: what ``kr.cli`` will be.

``@entrypoint`` marks a task function, ``@factory`` registers config makers per type or
parameter, ``main(fn)`` runs one from ``sys.argv``. Overrides (``model=large_model model.depth=5
optim.lr=3e-4 steps*=2``), ``--yaml``, ``--factory`` and ``--executor`` resolve to a
``fdl.Partial(fn, ...)`` that ``--dryrun`` prints and a plain run submits as a ``kr.Experiment``.

Example::

    from kuberun import entrypoints as cli

    @cli.factory
    def large_model() -> kr.Config[Model]:
        return kr.Config(Model, depth=24)

    @cli.entrypoint
    def train(model: Model, steps: int = 10): ...

    if __name__ == "__main__":
        cli.main(train)
"""

from kuberun.entrypoints.argv import Invocation, parse_argv
from kuberun.entrypoints.entrypoint import Entrypoint, entrypoint, entrypoint_of, list_entrypoints
from kuberun.entrypoints.errors import CLIError
from kuberun.entrypoints.grammar import Override, parse_override
from kuberun.entrypoints.help import help_text
from kuberun.entrypoints.registry import EXECUTOR_NAMESPACE, factory, list_factories, resolve_factory
from kuberun.entrypoints.run import Resolved, build_experiment, main, resolve, run_entrypoint

__all__ = [
    "EXECUTOR_NAMESPACE",
    "CLIError",
    "Entrypoint",
    "Invocation",
    "Override",
    "Resolved",
    "build_experiment",
    "entrypoint",
    "entrypoint_of",
    "factory",
    "help_text",
    "list_entrypoints",
    "list_factories",
    "main",
    "parse_argv",
    "parse_override",
    "resolve",
    "resolve_factory",
    "run_entrypoint",
]
