#!/bin/sh
# needs: root
# Install Debian's Chromium for the dashboard's browser tests (tests/ui/), which drive it with
# Playwright's Python package pointed at /usr/bin/chromium (no browser download at run time).
# Idempotent, fast when installed; service start-up suppressed (see apt-install.sh).
set -eu
exec sh "$(dirname "$0")/apt-install.sh" install-chromium.sh chromium
