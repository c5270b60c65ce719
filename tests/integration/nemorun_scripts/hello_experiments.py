"""NeMo Run's hello experiments: a configured model, a factory, tasks added with positional executor/name."""

from dataclasses import dataclass

import kuberun as run


@dataclass
class Model:
    hidden: int = 8
    layers: int = 2


def train(model: Model, lr: float = 0.1, epochs: int = 1) -> str:
    print(f"training hidden={model.hidden} layers={model.layers} lr={lr} epochs={epochs}")
    return "done"


def configure(hidden: int) -> run.Partial:
    return run.Partial(train, model=run.Config(Model, hidden=hidden), lr=0.01)


if __name__ == "__main__":
    with run.Experiment("hello_experiments", executor=run.LocalExecutor()) as exp:
        exp.add(configure(16), name="first", tail_logs=True)
        exp.add(configure(32), run.LocalExecutor(), "second")
        exp.run(sequential=True)
