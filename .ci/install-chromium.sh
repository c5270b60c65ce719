#!/bin/sh
# needs: root
# Install Debian's Chromium for the dashboard's browser tests (tests/ui/), which drive it with
# Playwright's Python package pointed at /usr/bin/chromium (no browser download at run time).
#
# Idempotent and fast when present: dpkg is asked first, and `apt-get update` runs only when the
# package lists are absent or a first install attempt fails because they are stale. Fonts come
# with the package's dependencies, so screenshots render text.
set -eu

PACKAGES="chromium"

if [ "$(id -u)" != 0 ]; then
    echo "install-chromium.sh: must run as root" >&2
    exit 1
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
    echo "install-chromium.sh: already installed:$(printf ' %s' $PACKAGES)"
    exit 0
fi

echo "install-chromium.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
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
echo "install-chromium.sh: done"
