"""``kr.Experiment``: collect tasks, emit an Experiment resource, run it on a cluster, find it again.

Example::

    import kuberun as kr

    with kr.Experiment("mnist", executor=kr.KubernetesExecutor(gpus=1)) as exp:
        prep = exp.add(kr.Script(inline="echo preparing"), name="prep")
        exp.add(kr.Partial(train, lr=3e-4), name="train", dependencies=[prep])
        print(exp.dryrun())
        exp.run()

The definition (tasks, ``build``, ``dryrun``, ``from_resource``) lives in ``kuberun.definition``;
this module adds what needs the cluster, through the manage layer, which it sits above: nothing
below imports it, so there is no import circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kuberun.definition import ExperimentDefinition, ExperimentTask

if TYPE_CHECKING:
    from kuberun.manage.remote import RemoteExperiment

__all__ = ["Experiment", "ExperimentTask"]


class Experiment(ExperimentDefinition):
    """A set of tasks with dependencies, emitted as one ``Experiment`` resource and run in a cluster."""

    # -- managing (experiments already in the cluster) -----------------------------------

    @staticmethod
    def get(name: str, namespace: str | None = None, kubeconfig: str | None = None, context: str | None = None) -> RemoteExperiment:
        """The Experiment ``name`` in the cluster: ``.status()``, ``.logs()``, ``.cancel()``, ``.reproduce()``.

        Example::

            exp = kr.Experiment.get("mnist-x7k2p")
            print(exp.status().phase)
        """
        from kuberun.manage.remote import get

        return get(name, namespace, kubeconfig, context)

    @staticmethod
    def from_title(title: str, namespace: str | None = None, kubeconfig: str | None = None, context: str | None = None) -> RemoteExperiment:
        """The latest run (by creation time) of the experiment titled ``title``.

        Example::

            kr.Experiment.from_title("mnist").reproduce(**{"train.lr": 1e-3})
        """
        from kuberun.manage.remote import from_title

        return from_title(title, namespace, kubeconfig, context)

    @staticmethod
    def from_id(exp_id: str, namespace: str | None = None, kubeconfig: str | None = None, context: str | None = None) -> RemoteExperiment:
        """NeMo Run's ``Experiment.from_id``: an experiment's id is its resource name (``kubectl get exp``)."""
        return Experiment.get(exp_id, namespace, kubeconfig, context)

    @staticmethod
    def catalog(title: str | None = None, namespace: str | None = None, kubeconfig: str | None = None,
                context: str | None = None) -> list[str]:
        """NeMo Run's ``Experiment.catalog``: the ids (names) of the experiments titled ``title`` (all if None), newest first."""
        from kuberun.manage.remote import list_experiments

        return [e.name for e in list_experiments(title=title, namespace=namespace, kubeconfig=kubeconfig, context=context)]

    # -- after run(): the handle NeMo Run users expect on the experiment itself ------------

    def _handle(self) -> RemoteExperiment:
        remote = getattr(self, "_remote", None)
        if remote is None:
            from kuberun.errors import UsageError

            raise UsageError(f"experiment {self.name!r} has not run yet: call exp.run() first (or kr.Experiment.get(name))")
        return remote

    def status(self, return_dict: bool = False) -> Any:
        """The experiment's status as the cluster records it (``return_dict``: plain per-task phases, as NeMo Run's)."""
        status = self._handle().status()
        if return_dict:
            return {t.name: {"status": t.phase, "exit_code": t.exit_code} for t in status.tasks}
        return status

    def logs(self, task: str | None = None, *, regex: str | None = None, attempt: int | None = None,
             follow: bool = False, tail: int | None = None, component: int | None = None) -> list[str]:
        """A task's log lines (``regex``: only the lines it matches, ``re.search``); a heterogeneous Slurm
        job's are every component's, labelled ``[het-<i>] ``, or only ``component``'s."""
        import re

        pattern = re.compile(regex) if regex else None
        lines = self._handle().logs(task, attempt=attempt, follow=follow, tail=tail, component=component)
        return [line for line in lines if pattern is None or pattern.search(line)]

    def cancel(self, task: Any = None, stop: bool = False) -> None:
        """Cancel the experiment (``stop=True``: let running tasks finish, start nothing new), or with
        ``task`` (its name, or what ``add`` returned) only that task, as NeMo Run's ``cancel(job_id)``:
        its running attempt is cancelled, its dependents are skipped, the other tasks go on. A job
        group's name cancels each of its members."""
        name = task if task is None or isinstance(task, str) else getattr(task, "name", task)
        handle = self._handle()
        for member in self.groups.get(name, [name]) if name is not None else [None]:
            handle.cancel(stop=stop, task=member)

    def reset(self) -> Experiment:
        """NeMo Run's ``reset``: a fresh run of this experiment, ready for ``run()`` — the same title,
        tasks (job groups included), executors and dependencies under a new name, labelled as
        reproduced from the run it repeats (``kuberun list`` and ``describe`` show the lineage).
        Use it as ``exp = exp.reset()``; before a first run there is nothing to reset: ``self`` is
        returned unchanged, as NeMo Run does."""
        import copy

        remote = getattr(self, "_remote", None)
        if remote is None:
            return self
        from kuberun.manage.reproduce import ANNOTATION_REPRODUCED_FROM_UID
        from kuberun.resource.constants import LABEL_REPRODUCED_FROM

        fresh = Experiment(self.title, executor=self.executor, description=self.description, project=self.project,
                           namespace=self.namespace, ttl_seconds_after_finished=self.ttl_seconds_after_finished)
        fresh.tasks = copy.deepcopy(self.tasks)
        fresh.groups = copy.deepcopy(self.groups)
        fresh.labels = {**self.labels, LABEL_REPRODUCED_FROM: remote.name}
        uid = (remote.raw.get("metadata") or {}).get("uid")
        fresh.annotations = {**self.annotations, **({ANNOTATION_REPRODUCED_FROM_UID: uid} if uid else {})}
        return fresh

    # -- running --------------------------------------------------------------------------

    def run(self, *, kubeconfig: str | None = None, context: str | None = None, wait: bool = False,
            timeout: float | None = None, live: bool = True, sequential: bool = False, detach: bool | None = None,
            tail_logs: bool = False, direct: bool = False, dryrun: bool = False) -> dict[str, Any] | None:
        """Create the Experiment in the current kube context (or print it when ``$KUBERUN_DRYRUN`` is set).

        Returns the created object as the API server stored it; with ``wait=True``, shows live
        per-task progress (on stderr) and returns the finished object (its ``status`` is the record).

        NeMo Run's arguments: ``sequential`` makes each task depend on the one added before it (tasks
        given explicit dependencies keep theirs); ``detach=False`` is ``wait=True``; ``tail_logs``
        (here or on ``add``) prints the tasks' logs once they finish; ``direct`` calls each task's
        config in this process, in order, without a cluster (your own code, on your machine);
        ``dryrun`` prints the resources instead of creating them.
        """
        import os
        import warnings

        if os.environ.get("KUBERUN_IN_TASK"):
            # The runner imported the submitting script for its callables: submitting again from inside
            # a task would start a copy of the experiment each time a task runs.
            warnings.warn(f"exp.run() of {self.title!r} ignored inside a running kuberun task "
                          "(guard the script's run with `if __name__ == \"__main__\":`)", stacklevel=2)
            return None
        if sequential:
            from kuberun.nemorun import chain_sequential

            chain_sequential(self.tasks, self.groups)
        if direct:
            from kuberun.nemorun import run_direct

            run_direct(self.tasks)
            return None
        if dryrun or os.environ.get("KUBERUN_DRYRUN"):
            self.dryrun(print_=True)
            return None
        wait = wait or detach is False
        from kuberun.api import connect
        from kuberun.errors import AlreadyExistsError
        from kuberun.manage.submit import create

        kube = connect(kubeconfig, context, self.namespace)
        self.submitted_by = self.submitted_by or kube.user
        resource, config_maps = self.build()
        try:
            created = create(kube, resource.to_dict(), config_maps)
        except AlreadyExistsError as exc:
            raise AlreadyExistsError(exc.code, f"experiment {self.name!r} already exists in namespace {kube.namespace!r}: "
                                     "each kr.Experiment runs once; exp = exp.reset() (or a new one) runs it again",
                                     exc.reason) from None
        self.namespace = created["metadata"]["namespace"]
        from kuberun.manage.remote import RemoteExperiment

        self._remote = RemoteExperiment(kube, created)
        if wait:
            from rich.console import Console

            from kuberun.manage.progress import follow
            from kuberun.manage.tailing import Tailer

            tailed = [t.name for t in self.tasks.values() if tail_logs or t.tail_logs]
            tailer = Tailer(kube, created, tailed)  # NeMo Run's tail_logs: each log followed as its task runs
            tailer.start()
            done = follow(kube, created["metadata"]["name"], self.namespace, interval=0.5, timeout=timeout,
                          live=live, console=Console(stderr=True))
            tailer.finish()
            return done
        return created
