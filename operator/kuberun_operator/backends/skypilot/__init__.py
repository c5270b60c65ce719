"""The SkyPilot bridge: ``client`` speaks to a SkyPilot API server, ``backend`` maps attempts onto jobs."""

from kuberun_operator.backends.skypilot.backend import SkypilotBackend, build_task

__all__ = ["SkypilotBackend", "build_task"]
