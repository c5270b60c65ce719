"""``RemoteExperiment``: an Experiment already in the cluster, found by name or title, and listing them.

Example::

    import kuberun as kr

    exp = kr.Experiment.get("mnist-x7k2p")          # or kr.Experiment.from_title("mnist")
    print(exp.status().phase, exp.status().progress)
    for line in exp.logs("train", follow=True):
        print(line)
    child = exp.reproduce(**{"train.lr": 1e-3})
    exp.cancel()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kuberun.api import Kube, connect
from kuberun.manage import lifecycle, query
from kuberun.resource import ExperimentResource, ExperimentStatus


class RemoteExperiment:
    """An Experiment in the cluster, read and changed through the API (the shared record).

    Example::

        exp = kr.Experiment.get("mnist-x7k2p", namespace="team-a")
        exp.status().task("train").attempts[-1].exit_code
    """

    def __init__(self, kube: Kube, obj: dict[str, Any]) -> None:
        self._kube = kube
        self._obj = obj

    def __repr__(self) -> str:
        return f"RemoteExperiment({self.name!r}, namespace={self.namespace!r}, phase={query.phase_of(self._obj)!r})"

    @property
    def name(self) -> str:
        return str(self._obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self._obj["metadata"]["namespace"])

    @property
    def title(self) -> str:
        return str(self._obj["spec"]["title"])

    @property
    def raw(self) -> dict[str, Any]:
        """The object as last read (a dict)."""
        return self._obj

    def refresh(self) -> RemoteExperiment:
        """Read the object again."""
        self._obj = query.get_experiment(self._kube, self.name, self.namespace)
        return self

    def resource(self) -> ExperimentResource:
        """The typed resource (spec and status), freshly read."""
        return ExperimentResource.parse(self.refresh()._obj)

    def status(self) -> ExperimentStatus:
        """The current status, typed (``Pending`` with no tasks before the operator's first write).

        Example::

            st = exp.status()
            st.phase, st.progress, st.task("train").exit_code
        """
        raw = self.refresh()._obj.get("status") or {"phase": "Pending"}
        return ExperimentStatus.model_validate(raw)

    def logs(self, task: str | None = None, *, attempt: int | None = None, follow: bool = False,
             tail: int | None = None, backend_config: str | None = None, component: int | None = None) -> Iterator[str]:
        """Lines of a task's log (the latest attempt unless ``attempt``), streamed; ``follow`` waits for more.

        A heterogeneous Slurm job's lines are every component's, each labelled ``[het-<i>] ``
        (``kuberun.resource.slurmhet.split_label`` reads it back); ``component`` picks one's.

        Example::

            for line in exp.logs("train", follow=True):
                print(line)
        """
        from kuberun.manage.logs import lines, stream_logs

        chunks = stream_logs(self._kube, self.refresh()._obj, task, attempt, follow=follow, tail=tail,
                             backend_config=backend_config, component=component)
        return lines(chunks)

    def cancel(self, stop: bool = False, task: str | None = None) -> None:
        """Terminate running tasks; ``stop=True`` lets them finish and starts nothing new.
        With ``task``, cancel only that task (its dependents are skipped, the others go on).

        Example::

            exp.cancel(stop=True)
            exp.cancel(task="train")
        """
        if task is not None:
            if stop:
                from kuberun.errors import UsageError

                raise UsageError("cancel(task=..., stop=True): a single task is cancelled, not stopped")
            self._obj = lifecycle.cancel_task(self._kube, self.name, task, self.namespace)
            return
        self._obj = lifecycle.cancel(self._kube, self.name, self.namespace, stop=stop)

    def suspend(self) -> None:
        """Suspend running Jobs and start nothing new until ``resume()``."""
        self._obj = lifecycle.suspend(self._kube, self.name, self.namespace)

    def resume(self) -> None:
        """Undo ``suspend()``."""
        self._obj = lifecycle.resume(self._kube, self.name, self.namespace)

    def delete(self) -> None:
        """Delete the Experiment and what it owns."""
        lifecycle.delete(self._kube, self.name, self.namespace)

    def reproduce(self, name: str | None = None, image: str | None = None, *, allow_import: bool = False,
                  **overrides: Any) -> RemoteExperiment:
        """A new run of this experiment with dotted overrides, linked by ``kuberun.dev/reproduced-from``.

        The record is data: the overrides are applied without importing the tasks' code, unless
        ``allow_import=True`` (which runs it here, to check values against the real signatures). Example::

            child = exp.reproduce(**{"train.lr": 3e-4, "train.model.width": 16})
        """
        from kuberun.manage.reproduce import reproduce

        created = reproduce(self._kube, self.refresh()._obj, overrides, name=name, image=image, allow_import=allow_import)
        return RemoteExperiment(self._kube, created)

    def reproductions(self) -> list[RemoteExperiment]:
        """Experiments reproduced from this one."""
        return [RemoteExperiment(self._kube, o) for o in query.reproductions(self._kube, self.name, self.namespace)]


def get(name: str, namespace: str | None = None, kubeconfig: str | None = None, context: str | None = None) -> RemoteExperiment:
    """The Experiment ``name`` (NotFoundError if absent). Same as ``kr.Experiment.get``."""
    kube = connect(kubeconfig, context, namespace)
    return RemoteExperiment(kube, query.get_experiment(kube, name))


def from_title(title: str, namespace: str | None = None, kubeconfig: str | None = None, context: str | None = None) -> RemoteExperiment:
    """The latest Experiment (by creation time) with this title. Same as ``kr.Experiment.from_title``."""
    from kuberun.errors import NotFoundError

    kube = connect(kubeconfig, context, namespace)
    obj = query.latest_by_title(kube, title)
    if obj is None:
        raise NotFoundError(f'no experiment titled "{title}" in namespace "{kube.namespace}"')
    return RemoteExperiment(kube, obj)


def list_experiments(title: str | None = None, user: str | None = None, phase: str | None = None,
                     selector: str | None = None, limit: int | None = None, *, since: str | None = None,
                     namespace: str | None = None, all_namespaces: bool = False,
                     kubeconfig: str | None = None, context: str | None = None) -> list[RemoteExperiment]:
    """Experiments matching the filters, newest first; ``limit`` caps how many (None: all, paged 500 at a time).

    Example::

        for exp in kr.list_experiments(title="mnist", phase="Failed", limit=20):
            print(exp.name, exp.status().progress)
    """
    kube = connect(kubeconfig, context, namespace)
    flt = query.ListFilter(title=title, user=user, phase=phase, selector=selector,
                           since=query.parse_duration(since) if since else None)
    found: list[dict[str, Any]] = []
    for obj in query.iter_experiments(kube, flt, all_namespaces=all_namespaces, limit=min(limit or 500, 500)):
        found.append(obj)
        if limit and len(found) >= limit:
            break
    return [RemoteExperiment(kube, o) for o in query.newest_first(found)]
