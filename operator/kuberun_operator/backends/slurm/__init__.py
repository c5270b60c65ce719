"""The Slurm bridge: sbatch over SSH.

``script`` renders the batch script and remote commands (pure), ``state`` maps squeue/sacct
output to attempt states (pure), ``transport`` reaches the cluster, ``backend`` drives them.
"""

from kuberun_operator.backends.slurm.backend import SlurmBackend

__all__ = ["SlurmBackend"]
