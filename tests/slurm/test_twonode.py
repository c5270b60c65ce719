"""The two-node harness's slurm.conf, rendered without starting anything (it runs in test_hetjob.py)."""

from __future__ import annotations

from pathlib import Path

from .configs import SlurmLayout, SlurmSettings, render_slurm_conf
from .twonode import CPUS_PER_NODE, two_node_conf


def test_the_second_node_gets_its_own_address_port_and_paths_and_both_two_cpus_whatever_the_machine_has():
    settings = SlurmSettings(hostname="vm", cpus=8, real_memory_mb=4096, ctld_port=1, slurmd_port=2)
    conf = two_node_conf(render_slurm_conf(SlurmLayout(Path("/h")), settings), settings, 4242).splitlines()
    nodes = [line for line in conf if line.startswith("NodeName=")]
    assert CPUS_PER_NODE == 2 and nodes[0].startswith("NodeName=vm NodeAddr=127.0.0.1 CPUs=2 ")
    assert nodes[1].startswith("NodeName=vm2 NodeHostname=vm NodeAddr=127.0.0.2 Port=4242 CPUs=2 ")
    assert "SlurmdSpoolDir=/h/spool-%n" in conf and "SlurmdPidFile=/h/slurmd-%n.pid" in conf
    assert "SlurmdLogFile=/h/log/slurmd-%n.log" in conf
    assert all("Nodes=vm,vm2 " in line for line in conf if line.startswith("PartitionName="))
    assert "SchedulerParameters=batch_sched_delay=0,bf_interval=1" in conf
