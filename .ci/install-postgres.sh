#!/bin/sh
# needs: root
# Install what tests/archive needs: a real PostgreSQL server (Debian 12's `postgresql`, 15). Its
# packaged cluster is not used: tests/harness/postgres.py runs `initdb` into a temporary directory as
# the `postgres` user the package creates and starts the server itself, on 127.0.0.1 only.
# Idempotent, fast when installed; service start-up suppressed (see apt-install.sh).
set -eu
exec sh "$(dirname "$0")/apt-install.sh" install-postgres.sh postgresql
