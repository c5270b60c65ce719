"""A NeMo 2.0 recipe-shaped entrypoint for the entrypoint tests: models and optimizers from factories.

It lives in an importable module (not a test file) because the task it yields is serialized by
reference to ``train``, as a real recipe module's would be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import fiddle as fdl

from kuberun import entrypoints as cli
from kuberun.resource.executors import KubernetesExecutor, LocalExecutor


@dataclass
class Model:
    depth: int = 2
    width: int = 64
    layers: list[int] = field(default_factory=lambda: [64, 64])


@dataclass
class GPT(Model):
    heads: int = 4


@dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: dict[str, float] = field(default_factory=dict)


@cli.factory
def small_model() -> fdl.Config[Model]:
    return fdl.Config(Model, depth=2, width=64)


@cli.factory
def large_model(depth: int = 24) -> fdl.Config[Model]:
    return fdl.Config(Model, depth=depth, width=1024)


@cli.factory
def gpt_tiny() -> fdl.Config[GPT]:
    return fdl.Config(GPT, depth=1, heads=2)


@cli.factory(is_target_default=True)
def adam() -> fdl.Config[Optim]:
    return fdl.Config(Optim, lr=1e-3)


@cli.factory(namespace=cli.EXECUTOR_NAMESPACE)
def gpu(gpus: int = 1) -> KubernetesExecutor:
    return KubernetesExecutor(gpus=gpus)


@cli.factory(namespace=cli.EXECUTOR_NAMESPACE)
def local() -> fdl.Config[LocalExecutor]:
    return fdl.Config(LocalExecutor)


@cli.entrypoint(help="Train a model (recipe-shaped).")
def train(model: Model, optim: Optim, steps: int = 10, name: str = "run", tags: list[str] | None = None) -> float:
    return model.depth * steps * optim.lr


@cli.factory(target=train)
def quick() -> fdl.Partial:
    return fdl.Partial(train, model=small_model(), optim=adam(), steps=1)


@cli.factory(target=train, name="big")
def big_recipe(steps: int = 100) -> fdl.Config:
    return fdl.Config(train, model=large_model(), optim=adam(), steps=steps)


def finetune_default() -> fdl.Partial:
    return fdl.Partial(finetune, model=large_model(depth=3), optim=adam(), steps=7)


@cli.entrypoint(default_factory=finetune_default)
def finetune(model: Model, optim: Optim, steps: int = 10) -> float:
    return float(model.depth * steps)


@cli.entrypoint(default_factory=quick)
def misconfigured(model: Model, steps: int = 10) -> float:
    """Its default factory makes a config of ``train``: resolving it is an error."""
    return float(steps)


def plain(x: int, y: float = 0.5, *, label: str = "a") -> float:
    return x * y
