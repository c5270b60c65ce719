#!/bin/sh
# needs: root
# Install what tests/slurm needs: a real single-node Slurm (slurm-wlm 22.05 on
# Debian 12), munge for its authentication, sshd for the SSH transport, and
# iproute2 for the loopback-only network namespace (tests/slurm/netns-run).
#
# Idempotent and fast when everything is present: dpkg is asked first, and
# `apt-get update` runs at most once, only when something must be installed.
# Runs as root. The packages' own service start-up is suppressed (policy-rc.d)
# because the harness starts its own daemons inside a private namespace and
# nothing may listen on a non-loopback interface.
set -eu

PACKAGES="slurm-wlm munge openssh-server iproute2"

if [ "$(id -u)" != 0 ]; then
    echo "install-slurm.sh: must run as root" >&2
    exit 1
fi

missing=""
for pkg in $PACKAGES; do
    # "install ok installed" is the only state in which the package is usable.
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
    echo "install-slurm.sh: already installed:$(printf ' %s' $PACKAGES)"
    exit 0
fi

echo "install-slurm.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive

# Keep maintainer scripts from starting munged/slurmd/sshd on the host network
# (exit 101 = "action forbidden"); restore whatever policy was there before.
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
    saved=$(mktemp)
    cp -p "$policy" "$saved"
fi
restore_policy() {
    if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"

# Package lists are absent on fresh images; refresh only then, or when a first
# install attempt fails because they are stale.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    apt-get update -q
    updated=1
else
    updated=0
fi
# shellcheck disable=SC2086  # word splitting of the package list is intended
if ! apt-get install -y -q --no-install-recommends $missing; then
    [ "$updated" = 1 ] && exit 1
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi
echo "install-slurm.sh: done"
