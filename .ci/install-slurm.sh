#!/bin/sh
# needs: root
# Install what tests/slurm needs: a real single-node Slurm (slurm-wlm 22.05 on
# Debian 12), munge for its authentication, sshd for the SSH transport, and
# iproute2 for the loopback-only network namespace (tests/slurm/netns-run).
# Idempotent, fast when installed; service start-up suppressed (see apt-install.sh).
set -eu
exec sh "$(dirname "$0")/apt-install.sh" install-slurm.sh slurm-wlm munge openssh-server iproute2
