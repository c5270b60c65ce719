"""The Lepton bridge: ``client`` speaks Lepton's HTTP API, ``backend`` maps attempts onto jobs."""

from kuberun_operator.backends.lepton.backend import LeptonBackend, build_job

__all__ = ["LeptonBackend", "build_job"]
