"""The record beyond the object: archive rows and archived logs, written when attempts and experiments end.

``Recorder`` (``recorder.py``) is what the controller calls; ``attempt_end.on_attempt_ended`` is the
one function run when an attempt ends (add artifact sync there); ``sources`` reads a log from where
the attempt ran; ``retry`` keeps failed writes until the archive or the store is back; ``config``
builds it all from the operator's settings. See docs/archive.md and docs/logstore.md.
"""

from kuberun_operator.recording.attempt_end import AttemptEnded, on_attempt_ended
from kuberun_operator.recording.config import build_recorder
from kuberun_operator.recording.recorder import Recorder
from kuberun_operator.recording.retry import Permanent, RetryQueue

__all__ = ["AttemptEnded", "Permanent", "Recorder", "RetryQueue", "build_recorder", "on_attempt_ended"]
