#!/bin/sh
# Install Debian packages idempotently, for the .ci/install-*.sh scripts that need them (as root).
#   usage: apt-install.sh NAME PACKAGE...      (NAME prefixes every line it prints)
#
# Fast when everything is present: dpkg is asked first, and `apt-get update` runs only when the
# package lists are absent or a first install attempt fails because they are stale. The packages'
# own service start-up is suppressed (policy-rc.d, exit 101 = "action forbidden"), because the test
# harnesses start their own daemons on loopback only; whatever policy was there is restored.
set -eu
NAME=$1
shift

if [ "$(id -u)" != 0 ]; then
    echo "$NAME: must run as root" >&2
    exit 1
fi

missing=""
for pkg in "$@"; do
    # "install ok installed" is the only state in which the package is usable.
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
if [ -z "$missing" ]; then
    echo "$NAME: already installed: $*"
    exit 0
fi

echo "$NAME: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
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
echo "$NAME: done"
