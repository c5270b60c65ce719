#!/bin/sh
# needs: root
# Install what tests/archive needs: a real PostgreSQL server (Debian 12's `postgresql`, 15).
#
# Idempotent and fast when present: dpkg is asked first, and `apt-get update` runs at most once,
# only when something must be installed. Runs as root. The package's own cluster start is
# suppressed (policy-rc.d) and its default cluster is not used: the test harness
# (tests/harness/postgres.py) runs `initdb` into a temporary directory as the `postgres` user the
# package creates, and starts the server itself on 127.0.0.1 only.
set -eu

PACKAGES="postgresql"

if [ "$(id -u)" != 0 ]; then
    echo "install-postgres.sh: must run as root" >&2
    exit 1
fi

missing=""
for pkg in $PACKAGES; do
    # "install ok installed" is the only state in which the package is usable.
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
    echo "install-postgres.sh: already installed:$(printf ' %s' $PACKAGES)"
    exit 0
fi

echo "install-postgres.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive

# Keep maintainer scripts from starting the packaged cluster on the host network
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
echo "install-postgres.sh: done"
