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

    # -- running --------------------------------------------------------------------------

    def run(self, *, kubeconfig: str | None = None, context: str | None = None, wait: bool = False,
            timeout: float | None = None, live: bool = True) -> dict[str, Any] | None:
        """Create the Experiment in the current kube context (or print it when ``$KUBERUN_DRYRUN`` is set).

        Returns the created object as the API server stored it; with ``wait=True``, shows live
        per-task progress (on stderr) and returns the finished object (its ``status`` is the record).
        """
        import os

        if os.environ.get("KUBERUN_DRYRUN"):
            self.dryrun(print_=True)
            return None
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
                                     "each kr.Experiment runs once; build a new one (or reproduce it) to run again",
                                     exc.reason) from None
        self.namespace = created["metadata"]["namespace"]
        if wait:
            from rich.console import Console

            from kuberun.manage.progress import follow

            return follow(kube, created["metadata"]["name"], self.namespace, interval=0.5, timeout=timeout,
                          live=live, console=Console(stderr=True))
        return created
