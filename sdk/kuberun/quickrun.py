"""``kr.run(task, executor=...)``: NeMo Run's one-task ``run.run``.

Apart from ``kuberun.nemorun`` (the conversions ``kr.Experiment`` uses) because this builds a
``kr.Experiment``: keeping it above the experiment keeps the SDK's import graph one-way.
"""

from __future__ import annotations

from typing import Any

from kuberun.nemorun import convert_executor, convert_task


def run(task: Any, executor: Any = None, plugins: Any = None, name: str = "", dryrun: bool = False, direct: bool = False,
        detach: bool = False, tail_logs: bool = True, **kwargs: Any) -> Any:
    """NeMo Run's ``run.run``: one task as a one-task experiment; waits for it unless ``detach``.

    Example::

        kr.run(kr.Partial(train, lr=3e-4), executor=kr.KubernetesExecutor(gpus=1))
    """
    import fiddle as fdl

    from kuberun.experiment import Experiment

    converted = convert_task(task)
    title = name or (getattr(fdl.get_callable(converted), "__name__", "task") if isinstance(converted, fdl.Buildable) else "script")
    exp = Experiment(title.replace("_", "-"), executor=convert_executor(executor))
    exp.add(converted, name=None, plugins=plugins, tail_logs=tail_logs)
    return exp.run(dryrun=dryrun, direct=direct, wait=not detach, **kwargs)
