#!/bin/sh
# Fill .tools/wheelhouse with wheels of kuberun[operator,ui]'s dependencies and of its build
# backend, for tests/helm/test_dockerfile.py. `make test` runs as root inside a loopback-only
# network namespace (tests/slurm/netns-run), where no registry is reachable; the test then replays
# the Dockerfile's pip commands against this wheelhouse instead of the index.
#
# Idempotent: a stamp holds the hash of pyproject.toml, so a second run is a no-op until the
# dependencies change. The project's own wheel is removed: the replay must build it from source.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HOUSE="${KUBERUN_TOOLS:-$ROOT/.tools}/wheelhouse"
STAMP="$HOUSE/.pyproject.sha256"
# The project's venv has a current pip (make setup upgrades it); an older pip's resolver gives up on
# s3fs/aiobotocore/botocore's narrow pins. Outside make, python3.
if [ -z "${PYTHON:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=${PYTHON:-python3}; fi
want=$(cat "$ROOT/pyproject.toml" "$0" | sha256sum | cut -d' ' -f1)  # the dependencies and this recipe

if [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    echo "install-wheelhouse.sh: up to date ($(ls "$HOUSE" | wc -l) wheels)"
    exit 0
fi

echo "install-wheelhouse.sh: collecting wheels for kuberun[operator,ui]"
rm -rf "$HOUSE"
mkdir -p "$HOUSE"
# Build in a scratch copy: an in-tree build would leave build/ and *.egg-info in the checkout.
SRC=$(mktemp -d)
trap 'rm -rf "$SRC"' EXIT
cp -r "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/sdk" "$ROOT/operator" "$SRC/"
"$PY" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$HOUSE" "$SRC[operator,ui]"
# pip itself: the Dockerfile's builder upgrades pip before it resolves.
"$PY" -m pip download --quiet --disable-pip-version-check --dest "$HOUSE" "setuptools>=68" wheel "pip>=25.0"
rm -f "$HOUSE"/kuberun-*.whl
echo "$want" >"$STAMP"
echo "install-wheelhouse.sh: done ($(ls "$HOUSE" | wc -l) wheels)"
